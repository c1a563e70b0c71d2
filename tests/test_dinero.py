"""simcache's 3C classification against Dinero IV d4-7's -lN-Tccc, level by level.

Dinero IV is built outside the project (docs/model.md §8); these tests run when DINEROIV
names the binary (or dineroIV is on the path) and skip, saying why, when it does not.
Each layer's trace goes to Dinero as a din file. Dinero writes the dirty lines back at the
end of its run and counts what that causes with the rest, so simcache's run and flush
phases are summed. Random replacement is left out: the two draw from different generators."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from test_traces import DINERO

from helpers import hierarchy
from simcache import kernels as K
from simcache.engine import simulate, simulate_trace
from simcache.layers import make_layer
from simcache.loopnest import plan, trace_chunks
from simcache.traces import TraceReader

pytestmark = pytest.mark.skipif(not DINERO, reason="Dinero IV not found (set DINEROIV)")

ROWS = ("Demand Misses", "Compulsory misses", "Capacity misses", "Conflict misses")


def dinero(specs: list[dict], din: str) -> list[list[int]]:
    """Per level: misses, compulsory, capacity and conflict misses (Dinero's totals)."""
    args = [DINERO, "-informat", "d"]
    for k, sp in enumerate(specs, 1):
        t = "d" if k == 1 else "u"  # a data first level, unified below
        ways = sp["size"] // sp["line"] if sp["ways"] == "full" else sp["ways"]
        args += [f"-l{k}-{t}size", str(sp["size"]), f"-l{k}-{t}bsize", str(sp["line"]),
                 f"-l{k}-{t}assoc", str(ways), f"-l{k}-{t}repl", sp["policy"][0],
                 f"-l{k}-{t}wback", "a" if sp["write_back"] else "n",
                 f"-l{k}-{t}walloc", "a" if sp["write_allocate"] else "n", f"-l{k}-{t}ccc"]
    out = subprocess.run(args, input=din, capture_output=True, text=True, check=True).stdout
    found = [int(float(line.split()[2])) for line in out.splitlines()
             if line.strip().startswith(ROWS)]
    return [found[i:i + 4] for i in range(0, len(found), 4)]


def ours(specs: list[dict], layer) -> list[list[int]]:
    r = simulate(hierarchy(specs), layer, ccc=True)
    c, t = r.counters.sum(axis=(0, 2)), r.three_c.sum(axis=(0, 2))
    miss = c[:, K.READS] + c[:, K.WRITES] - c[:, K.READ_HITS] - c[:, K.WRITE_HITS]
    return [[int(miss[lv]), *(int(x) for x in t[lv])] for lv in range(len(specs))]


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
    c, t = r.counters.sum(axis=(0, 2)), r.three_c.sum(axis=(0, 2))
    miss = c[:, K.READS] + c[:, K.WRITES] - c[:, K.READ_HITS] - c[:, K.WRITE_HITS]
    got = [[int(miss[lv]), *(int(x) for x in t[lv])] for lv in range(2)]
    assert got == dinero(specs, text)
