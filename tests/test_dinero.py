"""simcache's counts against Dinero IV d4-7's, level by level: demand fetches and misses
(reads and writes), the 3C classification (-lN-Tccc), and the bytes each level moves.

Dinero IV is built outside the project (docs/model.md §8); these tests run when DINEROIV
names the binary (or dineroIV is on the path) and skip, saying why, when it does not.
Each layer's trace goes to Dinero as a din file. Dinero writes the dirty lines back at the
end of its run and counts what that causes with the rest, so simcache's run and flush
phases are summed. Random replacement is left out: the two draw from different generators."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from test_dinero_rules import DINERO as HAND
from test_dinero_rules import EXAMPLES
from test_traces import DINERO
from test_warm import NETS, _entries

import naive
from helpers import hierarchy, run_engine
from simcache import kernels as K
from simcache.chain import build_chain
from simcache.engine import simulate, simulate_chain, simulate_trace
from simcache.layers import make_layer
from simcache.loopnest import plan, trace_chunks
from simcache.network import load_network
from simcache.traces import TraceReader

pytestmark = pytest.mark.skipif(not DINERO, reason="Dinero IV not found (set DINEROIV)")

# Dinero's rows per level: demand fetches and misses (read and write columns), the 3C
# (totals), and the bytes it moved from and to the level below
ROWS = ("Demand Fetches", "Demand Misses", "Compulsory misses", "Capacity misses",
        "Conflict misses", "Bytes From Memory", "Bytes To Memory")


def dinero(specs: list[dict], din: str, ccc: bool = True) -> list[list[int]]:
    """Per level, Dinero's totals (its run with its final flush): reads, writes (demand
    fetches), read misses, write misses, then (ccc) compulsory, capacity and conflict
    misses, then bytes from and to the level below."""
    args = [DINERO, "-informat", "d"]
    for k, sp in enumerate(specs, 1):
        t = "d" if k == 1 else "u"  # a data first level, unified below
        ways = sp["size"] // sp["line"] if sp["ways"] == "full" else sp["ways"]
        args += [f"-l{k}-{t}size", str(sp["size"]), f"-l{k}-{t}bsize", str(sp["line"]),
                 f"-l{k}-{t}assoc", str(ways), f"-l{k}-{t}repl", sp["policy"][0],
                 f"-l{k}-{t}wback", "a" if sp["write_back"] else "n",
                 f"-l{k}-{t}walloc", "a" if sp["write_allocate"] else "n"]
        args += [f"-l{k}-{t}ccc"] if ccc else []
    out = subprocess.run(args, input=din, capture_output=True, text=True, check=True).stdout
    levels = []
    for block in re.split(r"^l\d+-[du]cache$", out, flags=re.M)[1:]:
        row = {}
        for line in block.splitlines():
            name = next((n for n in ROWS if line.strip().startswith(n)), None)
            if name is not None:
                row[name] = [int(float(x)) for x in line.split()[len(name.split()):]]
        got = [*row["Demand Fetches"][3:5], *row["Demand Misses"][3:5]]
        if ccc:
            got += [row[n][0] for n in ROWS[2:5]]
        levels.append(got + [row["Bytes From Memory"][0], row["Bytes To Memory"][0]])
    return levels


def counted(counters: np.ndarray, three_c: np.ndarray | None = None) -> list[list[int]]:
    """The same from simcache's counters[phase, level, tensor, kind] (and 3C), run and
    flush phases summed, as Dinero flushes at the end of its run."""
    c = counters.sum(axis=(0, 2))
    t = None if three_c is None else three_c.sum(axis=(0, 2))
    out = []
    for lv in range(c.shape[0] - 1):
        row = [c[lv, K.READS], c[lv, K.WRITES], c[lv, K.READS] - c[lv, K.READ_HITS],
               c[lv, K.WRITES] - c[lv, K.WRITE_HITS]]
        row += [] if t is None else list(t[lv])
        out.append([int(x) for x in row + [c[lv + 1, K.BYTES_READ], c[lv + 1, K.BYTES_WRITTEN]]])
    return out


def ours(specs: list[dict], layer) -> list[list[int]]:
    r = simulate(hierarchy(specs), layer, ccc=True)
    return counted(r.counters, r.three_c)


def din(layer) -> str:
    return "".join(f"{int(w)} {int(a):x}\n" for addr, _, is_write, _ in trace_chunks(plan(layer))
                   for a, w in zip(addr, is_write, strict=True))


def level(size, line, ways, policy="lru", wb=True, wa=True):
    return dict(size=size, line=line, ways=ways, policy=policy, write_back=wb, write_allocate=wa)


HIERARCHIES = {
    "direct-mapped": [level(512, 32, 1)],
    "two levels": [level(1024, 32, 2), level(8192, 64, 4)],
    "three FIFO levels": [level(256, 16, 2, "fifo"), level(2048, 32, 4, "fifo"),
                          level(16384, 64, 8, "fifo")],
    "registers first": [level(64, 4, "full"), level(1024, 32, 2), level(8192, 64, 8)],
    "fully associative": [level(512, 32, "full"), level(4096, 64, 1)],
    "write-through, no allocate": [level(1024, 32, 2, wb=False, wa=False), level(8192, 64, 4)],
    "write-through, allocate": [level(1024, 32, 2, wb=False, wa=True), level(8192, 64, 4)],
    "write-back, no allocate": [level(1024, 32, 2, wa=False), level(8192, 64, 4)],
    "no allocate below": [level(1024, 32, 2), level(8192, 64, 4, wa=False)],
    "write-through below": [level(1024, 32, 2), level(8192, 64, 4, wb=False, wa=False)],
    # the corners of docs/model.md §2 where simcache once departed from Dinero
    "no allocate below, same line": [level(1024, 32, 2), level(4096, 32, 1, wa=False)],
    "fewer sets below": [level(1024, 32, 1), level(2048, 64, 8), level(4096, 64, "full")],
    "registers over a one-line L1": [level(128, 4, "full"), level(32, 32, 1),
                                     level(1024, 64, 2)],
    "registers over write-through": [level(32, 4, "full"), level(512, 32, 2, wb=False),
                                     level(4096, 32, 2, wa=False)],
}
LAYERS = {
    "spatial": dict(type="spatial", M=4, N=4, F=8, K=3),
    "separable": dict(type="separable", M=4, N=4, F=8, K=3),
    "pointwise": dict(type="pointwise", M=8, N=8, F=6, K=1),
    "group": dict(type="group", M=8, N=8, F=6, K=3, G=2),
    "depthwise": dict(type="depthwise", M=8, N=8, F=8, K=3),
    "fc": dict(type="fc", M=64, N=32, F=1, K=1, B=2),
}


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("name", HIERARCHIES)
def test_3c_equal_dinero_iv(name, kind):
    specs, layer = HIERARCHIES[name], make_layer(**LAYERS[kind])
    assert ours(specs, layer) == dinero(specs, din(layer))


def test_a_random_trace_replayed_equals_dinero_iv(tmp_path):
    """The trace kernels (replay) too, on 20,000 random reads and writes."""
    rng = np.random.default_rng(1)
    text = "".join(f"{w} {a * 4:x}\n" for a, w in zip(rng.integers(0, 4000, 20000),
                                                     rng.integers(0, 2, 20000), strict=True))
    p = tmp_path / "t.din"
    p.write_text(text)
    specs = [level(1024, 32, 2), level(4096, 64, 4)]
    r = simulate_trace(hierarchy(specs), TraceReader(p), ccc=True)
    assert counted(r.counters, r.three_c) == dinero(specs, text)


# ---------------------------------------------------------------- warm networks

# networks whose operators (pool, add, concat, softmax) write outputs they never read
WARM = {
    "registers over caches": [level(64, 4, "full"), level(256, 16, 2), level(2048, 32, 4)],
    "hashed registers over caches": [level(128, 4, "full"), level(512, 32, 2, "fifo"),
                                     level(4096, 64, 4)],
    "no allocate below, same line": [level(256, 16, 2), level(1024, 16, 1, wa=False)],
    "fewer sets below": [level(512, 16, 1), level(1024, 32, 8)],
    "registers over a one-line L1": [level(32, 4, "full"), level(16, 16, 1),
                                     level(1024, 32, 2)],
}


@pytest.mark.parametrize("net", ["a", "b"])
@pytest.mark.parametrize("name", WARM)
def test_warm_network_equals_dinero_iv(tmp_path, net, name):
    """One warm inference (simcache network): the chain's run and flush against Dinero on
    the network's whole access stream (tests/naive.network_trace, which test_warm checks
    against the chain's) as din."""
    specs = WARM[name]
    p = tmp_path / "net.yaml"
    p.write_text(NETS[net])
    chain = build_chain(load_network(p))
    results, flush = simulate_chain(hierarchy(specs), chain.steps, 4, chain.window, ccc=True)
    counters = sum(r.counters for r in results) + flush.counters
    three_c = sum(r.three_c for r in results) + flush.three_c
    # the plain kernels (their fast paths: the outbox of a many-way first level, the
    # demand chain) count the same as the classifying ones
    plain, plain_flush = simulate_chain(hierarchy(specs), chain.steps, 4, chain.window)
    assert np.array_equal(sum(r.counters for r in plain) + plain_flush.counters, counters)
    entries, c, size = _entries(NETS[net])
    trace, _, _ = naive.network_trace(entries, c, size)
    assert all(n == 4 for _, n, _, _ in trace)  # din accesses are 4 bytes
    text = "".join(f"{int(w)} {a:x}\n" for a, _, w, _ in trace)
    assert counted(counters, three_c) == dinero(specs, text)


# ---------------------------------------------------------------- the three corners

@pytest.mark.parametrize("name", ["whole-line write", "no-allocate write-back",
                                  "flush order"])
def test_corner_examples_equal_dinero_iv(name):
    """The small examples of tests/test_dinero_rules.py, whose counts are hand-checked
    there: Dinero gives the same."""

    specs, trace = EXAMPLES[name]
    text = "".join(f"{w} {a:x}\n" for a, _, w, _ in trace)
    got = dinero(specs, text, ccc=False)
    assert [(r[2] + r[3], r[4], r[5]) for r in got] == HAND[name]
    c, _ = naive.simulate(specs, trace)
    e, _ = run_engine(specs, trace)
    assert counted(c) == got
    assert counted(e) == got


# ---------------------------------------------------------------- prefetch (-lN-Tfetch)

FETCH = {"always": "a", "miss": "m", "tagged": "t"}
PF_ROWS = ("Demand Fetches", "Demand Misses", "Prefetch Fetches", "Prefetch Misses")


def dinero_pf(specs: list[dict], din: str) -> list[list[int]]:
    """Per level: Dinero's demand fetches, demand misses, prefetch fetches and prefetch
    misses (0 where a level does not prefetch: Dinero prints no prefetch rows there), and
    its bytes from and to the level below."""
    args = [DINERO, "-informat", "d"]
    for k, sp in enumerate(specs, 1):
        t = "d" if k == 1 else "u"
        ways = sp["size"] // sp["line"] if sp["ways"] == "full" else sp["ways"]
        args += [f"-l{k}-{t}size", str(sp["size"]), f"-l{k}-{t}bsize", str(sp["line"]),
                 f"-l{k}-{t}assoc", str(ways), f"-l{k}-{t}repl", sp["policy"][0],
                 f"-l{k}-{t}wback", "a" if sp["write_back"] else "n",
                 f"-l{k}-{t}walloc", "a" if sp["write_allocate"] else "n"]
        if sp.get("prefetch", "none") != "none":
            args += [f"-l{k}-{t}fetch", FETCH[sp["prefetch"]],
                     f"-l{k}-{t}pfdist", str(sp["prefetch_distance"])]
    out = subprocess.run(args, input=din, capture_output=True, text=True, check=True).stdout
    levels = []
    for block in re.split(r"^l\d+-[du]cache$", out, flags=re.M)[1:]:
        row = dict.fromkeys(PF_ROWS, 0)
        for line in block.splitlines():
            for name in PF_ROWS:
                if line.strip().startswith(name):
                    row[name] = int(float(line.split()[2]))
            if line.strip().startswith(("Bytes From Memory", "Bytes To Memory")):
                row[line.split()[0] + line.split()[1]] = int(line.split()[-1])
        levels.append([*(row[n] for n in PF_ROWS), row["BytesFrom"], row["BytesTo"]])
    return levels


def ours_pf(specs: list[dict], r) -> list[list[int]]:
    """The same from a result: run and flush phases summed, as Dinero flushes."""
    c, pf = r.counters.sum(axis=(0, 2)), r.prefetch.sum(axis=(0, 2))
    out = []
    for lv in range(len(specs)):
        fetches = c[lv, K.READS] + c[lv, K.WRITES]
        miss = fetches - c[lv, K.READ_HITS] - c[lv, K.WRITE_HITS]
        below = c[lv + 1]
        out.append([int(fetches), int(miss), int(pf[lv, K.PF_ISSUED]), int(pf[lv, K.PF_MISSES]),
                    int(below[K.BYTES_READ]), int(below[K.BYTES_WRITTEN])])
    return out


def pf(spec: dict, policy: str, distance: int) -> dict:
    return dict(spec, prefetch=policy, prefetch_distance=distance)


PF_HIERARCHIES = {
    **{f"one level, {p}, distance {d}": [pf(level(1024, 32, 2), p, d)]
       for p in FETCH for d in (1, 2)},
    **{f"two levels, {p} over {q}, distance {d}": [pf(level(1024, 32, 2), p, d),
                                                  pf(level(8192, 64, 4), q, 3 - d)]
       for p, q in (("always", "miss"), ("miss", "tagged"), ("tagged", "always"))
       for d in (1, 2)},
    "only the second level, tagged": [level(1024, 32, 2), pf(level(8192, 64, 4), "tagged", 2)],
    "FIFO, write-through, no allocate, miss": [
        pf(level(512, 16, 2, "fifo", wb=False, wa=False), "miss", 2),
        pf(level(4096, 64, 4, "fifo"), "always", 1)],
    "registers first, tagged below": [level(64, 4, "full"), pf(level(1024, 32, 2), "tagged", 1),
                                      pf(level(8192, 64, 8), "miss", 2)],
    "fully associative, always": [pf(level(512, 32, "full"), "always", 2), level(4096, 64, 1)],
}
PF_LAYERS = ("spatial", "pointwise", "depthwise", "fc")


@pytest.mark.parametrize("kind", PF_LAYERS)
@pytest.mark.parametrize("name", PF_HIERARCHIES)
def test_prefetch_equals_dinero_iv(name, kind):
    specs, layer = PF_HIERARCHIES[name], make_layer(**LAYERS[kind])
    got = ours_pf(specs, simulate(hierarchy(specs), layer))
    assert got == dinero_pf(specs, din(layer))
    assert any(row[2] for row in got)  # something was prefetched


@pytest.mark.parametrize("name", [n for n in PF_HIERARCHIES if n.startswith("two levels")])
def test_prefetch_on_a_random_trace_equals_dinero_iv(tmp_path, name):
    rng = np.random.default_rng(2)
    # mostly ascending runs, so that prefetches are often useful, and random jumps
    addr = (np.cumsum(rng.integers(0, 3, 20000)) + 40 * rng.integers(0, 30, 20000)) % 3000
    writes = rng.integers(0, 4, 20000) == 0
    text = "".join(f"{int(w)} {a * 4:x}\n" for a, w in zip(addr, writes, strict=True))
    p = tmp_path / "t.din"
    p.write_text(text)
    specs = PF_HIERARCHIES[name]
    r = simulate_trace(hierarchy(specs), TraceReader(p))
    assert ours_pf(specs, r) == dinero_pf(specs, text)
