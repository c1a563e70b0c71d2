"""The Numba engine against the plain-Python reference: identical counters, always."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from helpers import examples, hierarchy, policies_for, run_engine
from simcache import engine
from simcache.engine import simulate
from simcache.layers import make_layer
from simcache.loopnest import plan, trace_chunks

SETTINGS = settings(max_examples=examples(150), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def level_spec(draw):
    line = draw(st.sampled_from([4, 8, 16, 32, 64]))
    # few ways (scanned sets; 16 fills their order word), many ways (hashed sets), one
    # set or several, any count
    ways = draw(st.sampled_from([1, 2, 3, 4, 5, 8, 16, 17, 32]))
    sets = draw(st.sampled_from([1, 2, 3, 4, 5, 8]))
    return dict(size=line * ways * sets, line=line, ways=ways,
                policy=draw(st.sampled_from(policies_for(ways))),
                write_back=draw(st.booleans()), write_allocate=draw(st.booleans()))


@st.composite
def trace(draw, span=4096):
    n = draw(st.integers(1, 400))
    # a few hot regions make hits, evictions and write-backs all likely
    bases = draw(st.lists(st.integers(0, span), min_size=1, max_size=4))
    out = []
    for _ in range(n):
        base = draw(st.sampled_from(bases))
        addr = base + draw(st.integers(0, 255))
        size = draw(st.sampled_from([1, 2, 4, 4, 4, 8, 16, 64]))
        out.append((addr, size, int(draw(st.booleans())), draw(st.integers(0, 4))))
    return out


def assert_same(got, want):
    if not np.array_equal(got, want):
        diff = np.argwhere(got != want)
        names = naive.COUNTER_NAMES
        lines = [f"phase {p} level {lv} tensor {t} {names[k]}: engine {got[p, lv, t, k]} "
                 f"reference {want[p, lv, t, k]}" for p, lv, t, k in diff[:12]]
        raise AssertionError("counters differ:\n" + "\n".join(lines))


@SETTINGS
@given(st.lists(level_spec(), min_size=1, max_size=3), trace(), st.integers(1, 2**32))
def test_random_hierarchy_random_trace(specs, tr, seed):
    want, want_contents = naive.simulate(specs, tr, seed=seed)
    got, got_contents = run_engine(specs, tr, seed=seed)
    assert_same(got, want)
    assert got_contents == want_contents


@SETTINGS
@given(st.lists(level_spec(), min_size=1, max_size=3), trace(),
       st.lists(st.integers(0, 400), max_size=4))
def test_trace_in_chunks(specs, tr, cuts):
    """Chunks are one trace: the state carries over, also when a later chunk's larger
    accesses make the engine grow its request stack (and so its state array)."""
    want, want_contents = naive.simulate(specs, tr)
    got, got_contents = run_engine(specs, tr, cuts=cuts)
    assert_same(got, want)
    assert got_contents == want_contents


def test_stack_growth_keeps_the_state():
    """Small accesses first, then one of 300 bytes: the stack grows between the chunks."""
    specs = [dict(size=64, line=16, ways=2, policy="lru", write_back=True,
                  write_allocate=True)]
    tr = [(0, 4, 1, 0), (16, 4, 0, 1), (40, 300, 1, 2), (0, 4, 0, 0)]
    want, want_contents = naive.simulate(specs, tr)
    got, got_contents = run_engine(specs, tr, cuts=[2])
    assert_same(got, want)
    assert got_contents == want_contents


@SETTINGS
@given(st.lists(level_spec(), min_size=1, max_size=3), trace(), st.integers(0, 4096),
       st.integers(1, 4096), st.sampled_from([2, 3, 1024]))
def test_lookup_window_over_part_of_the_trace(specs, tr, first, length, box):
    """Lines inside the window are found through the direct table, the others through the
    hash table; a line may move between the two as sets evict and refill. A first level
    with many ways defers what it sends below to its outbox (kernels._defer), which here
    also fills up."""
    want, want_contents = naive.simulate(specs, tr)
    got, got_contents = run_engine(specs, tr, window=(first, first + length), box=box)
    assert_same(got, want)
    assert got_contents == want_contents


@SETTINGS
@given(trace(span=1 << 20))
def test_register_file_over_three_caches(tr):
    """The shape of the shipped configs: a one-element-line register file, then caches."""
    specs = [
        dict(size=64, line=4, ways=16, policy="lru", write_back=True, write_allocate=True),
        dict(size=512, line=32, ways=4, policy="lru", write_back=True, write_allocate=True),
        dict(size=2048, line=64, ways=8, policy="lru", write_back=True, write_allocate=True),
        dict(size=5 * 64 * 4, line=64, ways=4, policy="lru", write_back=True,
             write_allocate=True),
    ]
    want, _ = naive.simulate(specs, tr)
    got, _ = run_engine(specs, tr)
    assert_same(got, want)


LAYER_DIMS = {
    "spatial": dict(M=2, N=3, F=5, K=3),
    "pointwise": dict(M=3, N=2, F=4, K=1),
    "group": dict(M=4, N=6, F=4, K=3, G=2),
    "depthwise": dict(M=3, N=3, F=5, K=3),
    "fc": dict(M=7, N=5, F=1, K=1),
    "separable": dict(M=2, N=3, F=5, K=3),
}


@st.composite
def layer_case(draw):
    kind = draw(st.sampled_from(sorted(LAYER_DIMS)))
    dims = dict(LAYER_DIMS[kind])
    if kind != "fc":
        dims["K"] = 1 if kind == "pointwise" else draw(st.sampled_from([1, 2, 3]))
        dims["F"] = draw(st.integers(max(dims["K"] - 1, 1), 6))
    order = "".join(draw(st.permutations("bijnmpq")))
    return dict(type=kind, B=draw(st.integers(1, 2)),
                stride=1 if kind == "fc" else draw(st.integers(1, 2)),
                padding=draw(st.sampled_from(["skip", "explicit"])), order=order,
                dtype_bytes=draw(st.sampled_from([2, 4, 8])), **dims)


def naive_layer(case):
    kw = {k: v for k, v in case.items() if k != "type"}
    return naive.layer_trace(case["type"], stride=kw.pop("stride"), **kw)


@settings(max_examples=examples(120), deadline=None)
@given(layer_case())
def test_layer_trace_matches_reference(case):
    layer = make_layer(**case)
    want, info = naive_layer(case)
    p = plan(layer)
    chunks = list(trace_chunks(p, chunk=64))
    got = [tuple(int(v) for v in row) for c in chunks for row in zip(*c, strict=True)]
    want = [(a, s, int(w), t) for a, s, w, t in want]
    assert got == want
    assert {t.name: t.base for t in p.tensors} == info["bases"]


SMALL = [  # the first level is a register file: hashed (more than 16 ways) for dtype 2 and 4
    dict(size=128, line=4, ways="full", policy="lru", write_back=True, write_allocate=True),
    dict(size=256, line=16, ways=2, policy="lru", write_back=True, write_allocate=True),
    dict(size=1024, line=32, ways=4, policy="fifo", write_back=True, write_allocate=True),
]


@settings(max_examples=examples(80), deadline=None)
@given(layer_case(), st.sampled_from(["lru", "fifo", "random", "plru", "bitplru", "srrip",
                                      "brrip"]), st.sampled_from([2, 5, 1024]))
def test_layer_simulation_matches_reference(case, policy, box):
    """Whole layers through a register file and two caches; the register file's outbox
    (kernels._defer) of `box` entries."""
    specs = [dict(s, policy=policy) if k == 1 else s for k, s in enumerate(SMALL)]
    specs[0] = dict(specs[0], line=case["dtype_bytes"])
    layer = make_layer(**case)
    tr, info = naive_layer(case)
    want, _ = naive.simulate(specs, tr)
    with patch.object(engine, "BOX", box):
        result = simulate(hierarchy(specs), layer)
    assert_same(result.counters, want)
    assert result.macs == info["macs"]
    assert result.accesses == len(tr)


@pytest.mark.parametrize("policy", ["lru", "fifo"])
@pytest.mark.parametrize("box, window", [(2, 160), (1024, 80)])
def test_register_file_defers_fetches_and_write_backs(policy, box, window):
    """A 32-register file over a small cache: sweeps of 40 elements, read then written, miss
    every time once the file is full, and each miss evicts a dirty register. The fetches
    and write-backs of the lines in the direct window go through the outbox: one of two
    entries, drained at every miss; or one that is drained only when a line outside the
    window (half of them) misses and takes the general path. The counts are the
    reference's either way."""
    specs = [
        dict(size=128, line=4, ways=32, policy=policy, write_back=True, write_allocate=True),
        dict(size=64, line=16, ways=2, policy="lru", write_back=True, write_allocate=True),
    ]  # the cache holds 4 of the sweep's 10 lines: the order of its requests matters
    tr = [(4 * e, 4, w, e % 3) for _ in range(3) for e in range(40) for w in (0, 1)]
    want, want_contents = naive.simulate(specs, tr)
    got, got_contents = run_engine(specs, tr, window=(0, window), box=box)
    assert_same(got, want)
    assert got_contents == want_contents
    # registers: 120 read misses, as many write hits, and a write-back for every miss
    # after the first 32
    assert want[0, 0, :, naive.COUNTER_NAMES.index("read_hits")].sum() == 0
    assert want[0, 0, :, naive.COUNTER_NAMES.index("write_hits")].sum() == 120
    assert want[0, 0, :, naive.COUNTER_NAMES.index("writebacks")].sum() == 120 - 32
