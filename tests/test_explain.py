"""simcache explain: a window of accesses, one at a time, read from the kernels' state.

What must hold (docs/model.md, "explain: step-through"):
- the window's counters (the sum of every access's change) equal those of the same
  accesses in a full run: the engine over [0, start + steps) less the engine over
  [0, start), for layers and traces, on LRU, FIFO, random, write-through,
  no-write-allocate and register levels, with the window deep inside the input;
- every access's change, its victims and the touched set afterwards equal the plain-Python
  reference's (tests/naive.py) over the same prefix;
- the loop indices behind any access are found by counting (padding-skipped taps and a
  tiled loop's short last tile make no access) and give back the trace's addresses;
- bad input is one line per problem, exit 2.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from test_guards import split

import naive
from helpers import cli_output, hierarchy
from simcache import api, engine
from simcache import explain as ex
from simcache import kernels as K
from simcache.errors import SimcacheError
from simcache.layers import build_layer
from simcache.loopnest import (
    Plan,
    _conditions,
    _nth_inbounds,
    inbounds_before,
    loop_indices,
    plan,
    trace_chunks,
    trace_length,
    window_loops,
)
from simcache.traces import write_trace


def level(size, line, ways, policy="lru", write_back=True, write_allocate=True):
    return dict(size=size, line=line, ways=ways, policy=policy, write_back=write_back,
                write_allocate=write_allocate)


# hierarchies small enough that a few hundred accesses evict, conflict and write back
CONFIGS = {
    "lru": [level(256, 16, 2), level(1024, 32, 4)],
    "fifo": [level(256, 16, 4, "fifo"), level(1024, 16, 2, "fifo")],
    "random": [level(256, 16, 4, "random"), level(2048, 32, 2, "random")],
    "write-through": [level(256, 16, 2, write_back=False), level(1024, 32, 4)],
    "no-write-allocate": [level(256, 16, 2, write_allocate=False),
                          level(1024, 32, 4, write_back=False, write_allocate=False)],
    "registers": [level(64, 4, 16), level(256, 16, 2), level(1024, 32, 4, "fifo")],
    "hashed": [level(128, 4, 32), level(512, 16, 32, "fifo"), level(2048, 32, 4)],
    "hashed-random": [level(128, 4, 32, "random"), level(1024, 16, 4)],
}
LAYER = dict(type="spatial", F=5, M=2, N=3, K=3)  # padding skip: the corners are skipped


def layer_trace(**kw) -> tuple[list[np.ndarray], object]:
    kw = {**LAYER, **kw}
    lay = build_layer(kw.pop("type"), None, **kw)
    chunks = list(trace_chunks(plan(lay)))
    return [np.concatenate([c[k] for c in chunks]) for k in range(4)], lay


def engine_counters(specs, arrays, stop, seed=1):
    """The engine over accesses [0, stop), in one chunk, without the flush: (counters,
    3C counters)."""
    h = hierarchy(specs, seed)
    state = engine.State(h.geometry(4), h.seed, None, 8, ccc=True)
    state.replay(*(a[:stop] for a in arrays))
    return state.counters.copy(), state.three_c.copy()


def window_counters(specs, arrays, start, stop, seed=1):
    """The engine's counters and 3C counters over [start, stop): two runs subtracted."""
    (c1, k1), (c0, k0) = (engine_counters(specs, arrays, n, seed) for n in (stop, start))
    return c1 - c0, k1 - k0


def assert_window(r, want):
    counters, three_c = want
    np.testing.assert_array_equal(r.counters, counters)
    np.testing.assert_array_equal(r.three_c, three_c)
    got = [[lv["three_c"][k] for k in ex.KINDS] for lv in r.summary[:-1]]
    assert got == three_c[0].sum(axis=1)[:-1][:, list(ex.KIND_INDEX)].tolist()


def per_level(c) -> np.ndarray:
    """[level, kind] summed over the tensors, run phase."""
    return c[0].sum(axis=1)


def summed_events(result) -> np.ndarray:
    """The per-access level events of an unfiltered explain, summed: [level, field]."""
    fields = ("reads", "writes", "read_hits", "write_hits", "writebacks", "bytes_read",
              "bytes_written")
    return np.array([[sum(s["levels"][lv][f] for s in result.steps) for f in fields]
                     for lv in range(len(result.steps[0]["levels"]))])


def summed_kinds(result) -> np.ndarray:
    """The per-access 3C kinds of an unfiltered explain, summed: [cache level, kind]."""
    out = np.zeros((len(result.steps[0]["levels"]) - 1, 3), np.int64)
    for s in result.steps:
        for lv, ev in enumerate(s["levels"][:-1]):
            for k, i in zip(ex.KINDS, ex.KIND_INDEX, strict=True):
                out[lv, i] += ev["three_c"][k]
    return out


def as_events(c) -> np.ndarray:
    lv = per_level(c)
    return lv[:, [K.READS, K.WRITES, K.READ_HITS, K.WRITE_HITS, K.WRITEBACKS, K.BYTES_READ,
                  K.BYTES_WRITTEN]]


# ---------------------------------------------------------------- the window's counters


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("start,steps", [(0, 20), (137, 41), (333, 7)])
def test_layer_window_counts_as_a_full_run(name, start, steps):
    specs = CONFIGS[name]
    arrays, lay = layer_trace()
    r = api.explain(hierarchy(specs), lay, start=start, steps=steps)
    want = window_counters(specs, arrays, start, start + steps)
    assert r.window == {**r.window, "start": start, "end": start + steps, "shown": steps}
    assert_window(r, want)
    np.testing.assert_array_equal(summed_events(r), as_events(want[0]))
    np.testing.assert_array_equal(summed_kinds(r), want[1][0].sum(axis=1)[:-1])
    summary = np.array([[lv["reads"], lv["writes"], lv["hits"], lv["writebacks"]]
                        for lv in r.summary])
    lv = per_level(want[0])
    np.testing.assert_array_equal(summary, np.stack(
        [lv[:, K.READS], lv[:, K.WRITES], lv[:, K.READ_HITS] + lv[:, K.WRITE_HITS],
         lv[:, K.WRITEBACKS]], axis=1))


@pytest.mark.parametrize("name", ["lru", "random", "no-write-allocate", "registers"])
def test_trace_window_counts_as_a_full_run(name, tmp_path):
    specs = CONFIGS[name]
    arrays, lay = layer_trace(type="depthwise", F=6, M=3)
    path = tmp_path / "t.npz"
    write_trace(plan(lay), path)
    start, steps = 201, 33
    r = api.explain(hierarchy(specs), trace=path, start=start, steps=steps)
    want = window_counters(specs, arrays, start, start + steps)
    assert_window(r, want)
    np.testing.assert_array_equal(summed_events(r), as_events(want[0]))
    np.testing.assert_array_equal(summed_kinds(r), want[1][0].sum(axis=1)[:-1])
    assert r.to_dict()["trace"]["format"] == "npz" and r.steps[0]["loops"] is None


def test_din_trace_with_straddling_accesses(tmp_path):
    """A din trace of odd sizes: accesses that straddle two lines are one access here too."""
    rng = np.random.default_rng(5)
    n = 300
    addr = rng.integers(0, 600, n)
    size = rng.choice([1, 4, 8, 24], n)
    write = rng.integers(0, 2, n)
    path = tmp_path / "t.din"
    path.write_text("".join(f"{w} {a:x} {s}\n" for a, s, w in zip(addr, size, write,
                                                                     strict=True)))
    arrays = [addr.astype(np.int64), size.astype(np.int64), write.astype(np.uint8),
              np.full(n, 4, np.int8)]
    specs = CONFIGS["write-through"]
    r = api.explain(hierarchy(specs), trace=path, start=250, steps=60)
    assert_window(r, window_counters(specs, arrays, 250, 300))
    assert any(s["addr"] // 16 != (s["addr"] + s["size"] - 1) // 16 for s in r.steps)
    assert r.to_dict()["accesses"] == 300 and r.window["steps"] == 50  # it ended in the window


def test_window_from_the_loop_nest_kernel():
    """The window also equals the difference of two walks of the nest kernel (what `run`
    does), cut at the flat iteration behind the window's first and last access."""
    specs = CONFIGS["lru"]
    lay = build_layer("spatial", None, F=5, M=2, N=3, K=3)
    p = plan(lay)
    nest = p.nests[0]

    def walked(r):  # the first r performed iterations
        h = hierarchy(specs)
        state = engine.State(h.geometry(4), h.seed, None, 4, ccc=True)
        state.walk(np.zeros(len(nest.ext), np.int64), nest.ext, nest.coef, nest.base,
                   np.array(nest.tensors, np.int64), nest.dtype_bytes, *nest.bounds,
                   np.zeros(0, np.int64), 0, _nth_inbounds(nest, r))
        return state.counters.copy(), state.three_c.copy()

    r = api.explain(hierarchy(specs), lay, start=4 * 30, steps=4 * 25)
    (c1, k1), (c0, k0) = walked(55), walked(30)
    assert_window(r, (c1 - c0, k1 - k0))


def test_window_ends_with_the_layer():
    arrays, lay = layer_trace()
    n = len(arrays[0])
    r = api.explain(hierarchy(CONFIGS["lru"]), lay, start=n - 5, steps=20)
    assert r.window["end"] == n and r.window["steps"] == 5 and r.to_dict()["accesses"] == n


# ---------------------------------------------------------------- against the reference


NAIVE_CACHE = naive.Cache


def naive_state(specs, trace, monkeypatch, seed=1):
    """The reference after `trace`: (run counters, per level per set its lines as
    (way, line, dirty, tensor) in the order explain shows them, run 3C counters)."""
    made = []

    class Recorded(NAIVE_CACHE):
        def __init__(self, spec):
            super().__init__(spec)
            made.append(self)

        def contents(self):  # called once, after the trace and before the flush (whose
            # write-backs reorder the levels below)
            self.order_then = [list(o) for o in self.order_of]
            self.lines_then = [[None if x is None else (x.number, x.dirty, x.tensor)
                                for x in ways] for ways in self.ways_of]
            return super().contents()

    monkeypatch.setattr(naive, "Cache", Recorded)
    three_c = np.zeros((2, len(specs) + 1, 5, 3), np.int64)
    counters, _ = naive.simulate(specs, trace, seed=seed, three_c=three_c)
    sets = []
    for cache in made[:len(specs)]:  # then come the 3C shadows
        out = []
        for s in range(cache.sets):
            ways = (range(cache.ways) if cache.policy == "random"
                    else reversed(cache.order_then[s]))  # most recent (newest) first
            out.append([(w, *cache.lines_then[s][w]) for w in ways
                        if cache.lines_then[s][w] is not None])
        sets.append(out)
    return counters[0], sets, three_c[0]


def busy_trace(tmp_path, n=260, seed=3):
    """A din trace of a few hot regions, reads and writes of every tensor (evictions,
    conflicts and write-backs are frequent), and the same as records."""
    rng = np.random.default_rng(seed)
    bases = rng.integers(0, 1 << 12, 4)
    addr = (bases[rng.integers(0, 4, n)] + rng.integers(0, 256, n)) & ~3
    write, tensor = rng.integers(0, 2, n), rng.integers(0, 4, n)
    path = tmp_path / "busy.din"
    path.write_text("".join(f"{w} {a:x} 4 {'xwyt'[t]}\n"
                            for a, w, t in zip(addr, write, tensor, strict=True)))
    return path, [(int(a), 4, int(w), int(t)) for a, w, t in zip(addr, write, tensor,
                                                                   strict=True)]


def assert_steps_as_reference(r, specs, trace, start, shown, monkeypatch):
    """Each step's change, the lines it evicted (and whether dirty) at every level, and the
    set shown after it, against the reference run to just before and just after it.
    Returns the victims seen (dirty, clean)."""
    before, sets_before, kinds_before = naive_state(specs, trace[:start], monkeypatch)
    seen = [0, 0]
    for k, step in enumerate(r.steps):
        assert step["index"] == start + k
        after, sets_after, kinds_after = naive_state(specs, trace[:start + k + 1], monkeypatch)
        d = (after - before).sum(axis=1)  # [level, counter]
        d3 = (kinds_after - kinds_before).sum(axis=1)
        for lv, ev in enumerate(step["levels"]):
            assert [ev["reads"], ev["writes"], ev["read_hits"], ev["write_hits"],
                    ev["writebacks"], ev["bytes_read"], ev["bytes_written"]] == [
                d[lv, naive.READS], d[lv, naive.WRITES], d[lv, naive.READ_HITS],
                d[lv, naive.WRITE_HITS], d[lv, naive.WRITEBACKS],
                d[lv, naive.BYTES_READ], d[lv, naive.BYTES_WRITTEN]], (k, lv)
            if lv < len(specs):
                assert [ev["three_c"][k] for k in ex.KINDS] == [
                    d3[lv, naive.COMPULSORY], d3[lv, naive.CAPACITY], d3[lv, naive.CONFLICT]]
                old = {(line, dirty) for st in sets_before[lv] for _, line, dirty, _ in st}
                new = {line for st in sets_after[lv] for _, line, _, _ in st}
                gone = {(line, dirty) for line, dirty in old if line not in new}
                assert {(v["line"], v["dirty"]) for v in ev["victims"]
                        if not v["again"]} == gone, (k, lv)
                assert all(v["line"] in new for v in ev["victims"] if v["again"])
                assert ev["writebacks"] == sum(v["dirty"] for v in ev["victims"])
                for v in ev["victims"]:
                    seen[not v["dirty"]] += 1
        for s in step["sets"]:
            want = sets_after[shown][s["set"]]
            assert [(w["way"], w["line"], w["dirty"], naive.TENSOR_NAMES.index(w["tensor"]))
                    for w in s["ways"]] == want, (shown, k, s["set"])
        before, sets_before, kinds_before = after, sets_after, kinds_after
    return seen


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_step_as_the_reference(name, monkeypatch, tmp_path):
    specs = CONFIGS[name]
    path, trace = busy_trace(tmp_path)
    start, steps = 180, 60
    for shown in range(len(specs)):
        r = api.explain(hierarchy(specs), trace=path, start=start, steps=steps,
                        level=f"L{shown + 1}")
        dirty, clean = assert_steps_as_reference(r, specs, trace, start, shown, monkeypatch)
        assert clean > 0 and (dirty > 0 or name == "write-through"), (dirty, clean)
    kinds = r.summary[0]["three_c"]  # every kind is met (the per-step check can fail)
    assert kinds["compulsory"] and kinds["capacity"]
    assert kinds["conflict"] or specs[0]["size"] == specs[0]["line"] * specs[0]["ways"]


def test_layer_steps_as_the_reference(monkeypatch):
    specs = CONFIGS["registers"]
    arrays, lay = layer_trace()
    trace = list(zip(*(a.tolist() for a in arrays), strict=True))
    r = api.explain(hierarchy(specs), lay, start=100, steps=40, level="L2")
    dirty, clean = assert_steps_as_reference(r, specs, trace, 100, 1, monkeypatch)
    assert dirty > 0 and clean > 0


@pytest.mark.parametrize("policy", ["lru", "fifo", "random"])
@pytest.mark.parametrize("ways,sets", [(1, 4), (3, 2), (4, 4), (16, 2), (17, 1), (40, 2)])
def test_set_ways_as_the_reference(policy, ways, sets, monkeypatch):
    """State.set_ways against the reference's order after a random trace: scanned sets (an
    order word, 16 ways fill it) and hashed ones (a ring), with a direct window or not."""
    rng = np.random.default_rng(ways * 7 + sets)
    specs = [level(8 * ways * sets, 8, ways, policy), level(4096, 16, 4)]
    n = 400
    trace = [(int(a), 4, int(w), int(t)) for a, w, t in
             zip(rng.integers(0, 8 * ways * sets * 3, n) & ~3, rng.integers(0, 2, n),
                 rng.integers(0, 4, n), strict=True)]
    _, want, _ = naive_state(specs, trace, monkeypatch, seed=9)
    h = hierarchy(specs, seed=9)
    for window in (None, (0, 8 * ways * sets * 3)):
        state = engine.State(h.geometry(4), h.seed, window)
        arr = np.array(trace, np.int64)
        state.replay(arr[:, 0], arr[:, 1], arr[:, 2].astype(np.uint8), arr[:, 3].astype(np.int8))
        for lv in range(2):
            for s in range(len(want[lv])):
                assert state.set_ways(lv, s) == want[lv][s], (lv, s)
    with pytest.raises(ValueError):
        state.set_ways(0, sets)


# ---------------------------------------------------------------- loop indices


def _performed(nest) -> np.ndarray:
    digits = np.array(np.unravel_index(np.arange(nest.iterations), tuple(nest.ext)))
    ok = np.ones(nest.iterations, bool)
    for row, low, end in _conditions(nest):
        form = nest.base[row] + nest.coef[row] @ digits
        ok &= (form >= low) & (form < end)
    return ok


def _tiled(p: Plan) -> Plan:
    """Each nest with its first two loops longer than 2 split into tiles of 2 (a short
    last tile where 2 does not divide them), the tile loops outermost."""
    nests = []
    for nest in p.nests:
        for d in [k for k in range(len(nest.dims)) if nest.ext[k] > 2][:2]:
            nest = split(nest, nest.dims.index(p.nests[len(nests)].dims[d]), 2, 0)
        nests.append(nest)
    return Plan(p.tensors, tuple(nests))


@pytest.mark.parametrize("tiled", [False, True])
@pytest.mark.parametrize("kind,dims", [
    ("spatial", dict(F=5, M=2, N=3, K=3)),
    ("depthwise", dict(F=6, M=3, K=5, stride=2)),
    ("separable", dict(F=5, M=2, N=2, K=3)),
    ("group", dict(F=4, M=4, N=4, G=2, K=3, order="pqnmbij")),
    ("fc", dict(M=5, N=3)),
    ("spatial", dict(F=5, M=2, N=2, K=3, padding="explicit")),
])
def test_window_loops_give_back_the_trace(kind, dims, tiled):
    p = plan(build_layer(kind, None, **dims))
    if tiled:
        p = _tiled(p)
        assert all(n.limits for n in p.nests)  # some tiles are short
    addr = np.concatenate([c[0] for c in trace_chunks(p)])
    assert trace_length(p) == len(addr)
    for nest in p.nests:
        ok = _performed(nest)
        counted = np.concatenate([[0], np.cumsum(ok)])
        flats = [*range(0, nest.iterations, 5), nest.iterations - 1, nest.iterations]
        assert [inbounds_before(nest, f) for f in flats] == counted[flats].tolist()
        ranks = [*range(0, int(ok.sum()), 3), int(ok.sum()) - 1]
        assert [_nth_inbounds(nest, r) for r in ranks] == np.flatnonzero(ok)[ranks].tolist()
    for start in range(0, len(addr), 23):
        stop = min(start + 17, len(addr))
        got = {}
        for k, first, digits in window_loops(p, start, stop):
            nest = p.nests[k]
            f = nest.base[:, None] + nest.coef @ digits
            for j in range(digits.shape[1]):
                for role, row in enumerate((0, 1, 2, 2)):
                    got[first + 4 * j + role] = int(f[row, j])
        assert [got[a] for a in range(start, stop)] == addr[start:stop].tolist()


def test_loop_indices_name_the_layer_loops():
    p = plan(build_layer("group", None, F=4, M=4, N=4, G=2, K=3, order="nbijmpq"))
    nest = p.nests[0]
    assert nest.dims[:2] == ("g", "n")  # the group split
    # g = 1, n = 1 within the group of N/G = 2 filters: filter 3
    digits = [1, 1] + [0] * (len(nest.dims) - 2)
    assert loop_indices(nest, "nbijmpq", digits) == dict(n=3, b=0, i=0, j=0, m=0, p=0, q=0)
    tiled = split(p.nests[0], nest.dims.index("i"), 3, 0)
    got = loop_indices(tiled, "nbijmpq", [1] + digits)
    assert list(got)[-1] == "I" and got["I"] == 1


def test_deep_start_in_a_large_layer():
    """A window 100,000 accesses into a layer of 1.7 million: the loop indices come from
    counting, and the addresses match the trace's."""
    lay = build_layer("spatial", None, F=28, M=8, N=8, K=3)
    p = plan(lay)
    # a tap row is in the input for 27 + 28 + 27 of the output rows (K = 3, pad 1); so
    # are the columns
    assert trace_length(p) == 4 * 8 * 8 * 82 * 82
    h = hierarchy(CONFIGS["lru"])
    r = api.explain(h, lay, start=100_003, steps=6)
    arrays = [np.concatenate([c[k] for c in trace_chunks(p)])[:100_009] for k in range(4)]
    assert [s["addr"] for s in r.steps] == arrays[0][100_003:].tolist()
    assert [s["op"] for s in r.steps] == ["write", "read", "read", "read", "write", "read"]
    assert_window(r, window_counters(CONFIGS["lru"], arrays, 100_003, 100_009))


# ---------------------------------------------------------------- filters and the document


def test_filters_choose_what_is_shown():
    specs = CONFIGS["lru"]
    _, lay = layer_trace()
    h = hierarchy(specs)
    every = api.explain(h, lay, start=40, steps=120)
    for kw, keep in [
        (dict(tensor="w"), lambda s: s["tensor"] == "w"),
        (dict(set_index=3), lambda s: s["split"]["set"] == 3),
        (dict(misses_only=True), lambda s: s["levels"][0]["misses"] > 0),
        (dict(level="L2", misses_only=True), lambda s: s["levels"][1]["misses"] > 0),
    ]:
        r = api.explain(h, lay, start=40, steps=120, **kw)
        shown = {s["index"] for s in r.steps}
        if "level" in kw:
            every_l2 = api.explain(h, lay, start=40, steps=120, level="L2")
            assert shown == {s["index"] for s in every_l2.steps if keep(s)}
        else:
            assert shown == {s["index"] for s in every.steps if keep(s)}
        assert 0 < len(shown) < 120, kw
        assert r.window["shown"] == len(shown)
        np.testing.assert_array_equal(r.counters, every.counters)  # the whole window


def test_split_at_the_level_shown():
    specs = [level(256, 16, 2), level(3 * 32 * 4, 32, 4)]  # three sets: not a power of two
    _, lay = layer_trace()
    r = api.explain(hierarchy(specs), lay, steps=8, level="L2")
    for s in r.steps:
        line = s["addr"] // 32
        assert s["split"] == {"level": "L2", "tag": line // 3, "set": line % 3,
                              "offset": s["addr"] % 32}
        assert s["sets"][0]["set"] == line % 3


def test_json_document(capsys):
    code, out, err = cli_output(capsys, "explain", "thesis", "--layer", "depthwise", "-F", "4",
                                "-M", "2", "--steps", "5", "-f", "json", "--no-progress")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"simcache", "config", "layer", "trace", "accesses", "window",
                        "filters", "level", "levels", "three_c", "steps", "summary"}
    assert doc["levels"] == ["registers", "L1", "L2", "L3", "DRAM"]
    assert doc["level"]["name"] == "registers" and doc["window"]["shown"] == 5
    step = doc["steps"][0]
    assert set(step) == {"index", "nest", "loops", "tensor", "op", "addr", "size", "split",
                         "levels", "sets"}
    assert step["loops"] == dict(b=0, i=0, j=0, n=0, m=0, p=1, q=1)  # (0, 0) is skipped
    assert set(step["levels"][0]) >= {"name", "reads", "writes", "hits", "misses", "served",
                                      "writebacks", "three_c", "victims"}
    assert [ev["served"] for ev in step["levels"]] == [False] * 4 + [True]


# ---------------------------------------------------------------- the command line


def test_text_view_piped_is_plain(capsys):
    code, out, _ = cli_output(capsys, "explain", "mobile_soc", "--layer", "pointwise", "-F",
                              "4", "-M", "4", "-N", "4", "--steps", "30", "--no-progress")
    assert code == 0
    assert "\x1b" not in out and out.isascii()
    assert out.splitlines()[0].startswith("simcache") and "explain" in out.splitlines()[0]
    assert re.search(r"^#0  read x  0x10000", out, re.M)
    assert re.search(r"tag 0x[0-9a-f]+ \| set \d+ \| offset \d+", out)
    assert "set 0 after, most recent first:" in out
    assert out.rstrip().splitlines()[-1].startswith("window: 30 accesses, 30 shown | ")


def test_text_view_on_a_terminal_has_colour():
    from rich.console import Console

    from simcache import explain_view

    doc = api.explain("thesis", "depthwise", F=4, M=2, steps=4).to_dict()
    c = Console(force_terminal=True, color_system="standard", width=100)
    with c.capture() as cap:
        explain_view.show(c, doc)
    assert "\x1b[" in cap.get()
    assert explain_view.text(doc).isascii() and "\x1b" not in explain_view.text(doc)


def test_text_view_shows_victims_and_write_backs():
    specs = [level(64, 16, 1), level(1024, 32, 4)]  # direct mapped: y's lines collide
    _, lay = layer_trace()
    from simcache import explain_view
    doc = api.explain(hierarchy(specs), lay, start=0, steps=200).to_dict()
    text = explain_view.text(doc)
    assert re.search(r"evicts 0x[0-9a-f]+ \(tag 0x[0-9a-f]+, \w, dirty: written back\)", text)
    assert re.search(r"evicts 0x[0-9a-f]+ \(tag 0x[0-9a-f]+, \w, clean\)", text)
    for kind in ex.KINDS:  # a miss's kind, and the window's in the summary
        assert re.search(rf"^    L1 +(read|write) miss \({kind}\)", text, re.M), kind
    summary = text.rstrip().splitlines()[-1]
    assert re.search(r"\| L1 \d+ hits, \d+ misses \(\d+ compulsory, \d+ capacity, \d+ "
                     r"conflict\) \|", summary), summary


def test_trace_on_the_command_line(capsys, tmp_path):
    lay = build_layer("depthwise", None, F=4, M=2)
    path = tmp_path / "d.din"
    write_trace(plan(lay), path)
    code, out, _ = cli_output(capsys, "explain", "thesis", "--trace", str(path), "--start",
                              "11", "--steps", "3", "--tensor", "w", "--no-progress")
    assert code == 0 and "#13  read w" in out and "window: 3 accesses, 1 shown" in out


def test_output_file(capsys, tmp_path):
    dest = tmp_path / "e.json"
    code, _, _ = cli_output(capsys, "explain", "thesis", "--layer", "fc", "-M", "4", "-N", "4",
                            "--steps", "4", "-o", str(dest), "--no-progress")
    assert code == 0 and json.loads(dest.read_text())["window"]["steps"] == 4


@pytest.mark.parametrize("args,expect", [
    (["--start", "800"], "--start: 800 is past the end of the layer, which has 800 "
                         "accesses (0 to 799)"),
    (["--set", "64", "--level", "L1"], "--set: 64 is not a set of L1, which has 64 sets "
                                      "(0 to 63)"),
    (["--set", "1"], "--set: 1 is not a set of registers, which has 1 set (0 to 0)"),
    (["--level", "L4"], "--level: 'L4' is not a cache level of the config; choose from "
                        "registers, L1, L2, L3"),
    (["--level", "DRAM"], "--level: 'DRAM' is not a cache level"),
    (["--steps", "0"], "--steps: must be at least 1, got 0"),
    (["--steps", "20000"], "--steps: 20,000 is more than explain steps through at once (at "
                           "most 10,000)"),
])
def test_bad_input(capsys, args, expect):
    code, out, err = cli_output(capsys, "explain", "thesis", "--layer", "depthwise", "-F",
                                "4", "-M", "2", "--no-progress", *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], err


def test_bad_input_together(capsys):
    code, _, err = cli_output(capsys, "explain", "thesis", "--layer", "depthwise", "-F", "4",
                              "-M", "2", "--level", "L9", "--steps", "0", "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 2


def test_bad_trace_input(capsys, tmp_path):
    path = tmp_path / "s.din"
    path.write_text("0 100\n1 104\n0 108\n")
    code, _, err = cli_output(capsys, "explain", "thesis", "--trace", str(path), "--start",
                              "3", "--no-progress")
    assert code == 2
    assert err.strip() == ("error: --start: 3 is past the end of the trace, which has 3 "
                           "accesses (0 to 2)")
    code, _, err = cli_output(capsys, "explain", "thesis", "--trace", str(path), "-F", "8",
                              "--no-progress")
    assert code == 2 and "-F: a trace has no layer dimensions" in err
    code, _, err = cli_output(capsys, "explain", "thesis", "--no-progress")
    assert code == 2 and "give a layer type or a trace file, not neither" in err


def test_help_teaches():
    from typer.testing import CliRunner

    from simcache.cli import app
    out = CliRunner().invoke(app, ["explain", "--help"], terminal_width=100).output
    assert "simcache explain thesis --layer depthwise" in out and "--misses-only" in out


def test_a_line_evicted_and_installed_again(tmp_path):
    """FIFO L2 of 2 ways: a fetch evicts a dirty line that L1 then writes back (L1's own
    victim), so L2 installs it again, evicting another. Both evictions are shown, and the
    level's two write-backs are both accounted for."""
    from simcache import explain_view
    path, _ = busy_trace(tmp_path)
    r = api.explain(hierarchy(CONFIGS["fifo"]), trace=path, start=209, steps=1)
    ev = r.steps[0]["levels"][1]
    assert ev["writebacks"] == 2 and [v["dirty"] for v in ev["victims"]] == [True, True]
    assert sorted(v["again"] for v in ev["victims"]) == [False, True]
    assert "; installed again)" in explain_view.text(r.to_dict())


def test_separable_second_nest_and_flat_memory():
    lay = build_layer("separable", None, F=4, M=2, N=2, K=3)
    n = trace_length(plan(lay))
    r = api.explain("thesis", lay, start=n - 3, steps=3)
    assert [s["nest"] for s in r.steps] == [1, 1, 1]
    assert r.steps[-1]["tensor"] == "y" and r.steps[-1]["loops"]["p"] == 0  # 1 x K: no p
    flat = hierarchy([])
    r = api.explain(flat, "fc", M=2, N=2, steps=3)
    assert r.level is None and [s["split"] for s in r.steps] == [None] * 3
    assert [s["levels"][0]["reads"] for s in r.steps] == [1, 1, 1]
    with pytest.raises(SimcacheError) as exc:
        api.explain(flat, "fc", M=2, N=2, set_index=0)
    assert exc.value.problems == ["--set: the config has no cache level, so no sets"]


def test_without_room_for_the_3c_shadows(monkeypatch):
    """Where the classification's shadows would not fit in memory, explain still steps
    through the window, without the misses' kinds (three_c: null), and says so in JSON."""
    specs = CONFIGS["lru"]
    geometry = hierarchy(specs).geometry(4)
    plain = engine.state_bytes(geometry, None, 4)
    with_3c = engine.state_bytes(geometry, None, 4, ccc=True)
    assert plain < with_3c
    _, lay = layer_trace()
    window = ex.layer_source(plan(lay), lay.order, 4).window  # the one explain gives State
    limit = (engine.state_bytes(geometry, window, 4) + engine.state_bytes(geometry, window, 4,
                                                                          ccc=True)) // 2
    monkeypatch.setenv("SIMCACHE_STATE_LIMIT", str(limit))
    r = api.explain(hierarchy(specs), lay, start=10, steps=5)
    assert r.three_c is None and r.to_dict()["three_c"] is False
    assert all(ev["three_c"] is None for s in r.steps for ev in s["levels"][:-1])
    monkeypatch.delenv("SIMCACHE_STATE_LIMIT")
    full = api.explain(hierarchy(specs), lay, start=10, steps=5)
    np.testing.assert_array_equal(r.counters, full.counters)
