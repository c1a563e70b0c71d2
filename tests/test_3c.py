"""3C classification (compulsory, capacity, conflict) against the plain-Python reference.

The kernels that classify (kernels.RUN_NEST_CCC, RUN_TRACE_CCC, request_ccc) must give
the reference's 3C counts, and must leave every other counter exactly as the plain
kernels do: classifying observes, it never changes what happens."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_differential import SETTINGS, assert_same, level_spec, trace
from test_shortcut import SECOND, _cases, state_cases

import naive
from helpers import hierarchy
from simcache import engine
from simcache import kernels as K
from simcache.engine import State, simulate
from simcache.layers import make_layer


def replay(specs, tr, seed=1, ccc=True, cuts=()):
    h = hierarchy(specs, seed)
    state = State(h.geometry(4), h.seed, ccc=ccc)
    arr = np.array(tr, dtype=np.int64)
    for c in np.split(arr, sorted(cuts)):
        state.replay(c[:, 0], c[:, 1], c[:, 2].astype(np.uint8), c[:, 3].astype(np.int8))
    state.flush()
    return state.counters.copy(), None if state.three_c is None else state.three_c.copy()


def reference(specs, tr, seed=1):
    ccc = np.zeros((2, len(specs) + 1, 5, 3), dtype=np.int64)
    counters, _ = naive.simulate(specs, tr, seed=seed, three_c=ccc)
    return counters, ccc


def assert_classified(counters, ccc):
    """Every miss of every cache level is of exactly one kind; memory has none."""
    misses = (counters[..., K.READS] + counters[..., K.WRITES]
              - counters[..., K.READ_HITS] - counters[..., K.WRITE_HITS])
    assert np.array_equal(ccc[:, :-1].sum(axis=-1), misses[:, :-1])
    assert not ccc[:, -1].any()


def assert_same_3c(got, want):
    if not np.array_equal(got, want):
        diff = np.argwhere(got != want)
        names = ("compulsory", "capacity", "conflict")
        raise AssertionError("3C counts differ:\n" + "\n".join(
            f"phase {p} level {lv} tensor {t} {names[k]}: engine {got[p, lv, t, k]} "
            f"reference {want[p, lv, t, k]}" for p, lv, t, k in diff[:12]))


@SETTINGS
@given(st.lists(level_spec(), min_size=1, max_size=3), trace(), st.integers(1, 2**32),
       st.lists(st.integers(0, 400), max_size=3))
def test_random_hierarchy_random_trace(specs, tr, seed, cuts):
    want, want_ccc = reference(specs, tr, seed)
    got, got_ccc = replay(specs, tr, seed, cuts=cuts)
    assert_same(got, want)
    assert_same_3c(got_ccc, want_ccc)
    assert_classified(got, got_ccc)
    plain, none = replay(specs, tr, seed, ccc=False)
    assert none is None
    assert_same(plain, got)  # classifying changes nothing else


def test_the_tables_of_lines_seen_grow_and_keep_what_they_hold(monkeypatch):
    """Tables of 16 lines to start with: a trace of 3000 distinct lines makes them grow
    many times, in the middle of a chunk; the counts stay the reference's."""
    monkeypatch.setitem(engine.SEEN_BITS, "trace", 4)
    rng = np.random.default_rng(3)
    tr = [(int(a) * 16, 4, int(w), 4) for a, w in zip(rng.integers(0, 3000, 6000),
                                                       rng.integers(0, 2, 6000), strict=True)]
    specs = [dict(size=256, line=16, ways=2, policy="lru", write_back=True,
                  write_allocate=True),
             dict(size=2048, line=32, ways=4, policy="fifo", write_back=True,
                  write_allocate=False)]
    want, want_ccc = reference(specs, tr)
    got, got_ccc = replay(specs, tr, cuts=[2500])
    assert_same(got, want)
    assert_same_3c(got_ccc, want_ccc)
    assert want_ccc[0, 0, 4, naive.COMPULSORY] > 1000


def test_a_known_conflict():
    """Two lines that share the only set of a direct-mapped cache of two sets' capacity,
    used in turn: after the first two (compulsory) misses, every miss is a conflict miss,
    since a fully associative cache of two lines would hold both."""
    spec = dict(size=64, line=32, ways=1, policy="lru", write_back=True, write_allocate=True)
    tr = [(a, 4, 0, 0) for a in [0, 64] * 5]
    counters, ccc = replay([spec], tr)
    assert ccc[0, 0, 0].tolist() == [2, 0, 8]
    tr = [(a, 4, 0, 0) for a in [0, 32, 64] * 3]  # three lines, two fit: capacity
    _, ccc = replay([dict(spec, ways=2)], tr)
    assert ccc[0, 0, 0].tolist() == [3, 6, 0]


@pytest.mark.parametrize("case, spec", _cases() + state_cases())
def test_layers(case, spec):
    """Every case of tests/test_shortcut.py (each layer type and innermost loop, strides,
    paddings, first levels of wide lines whose policy and write flags rotate), with the
    second level's policy the first's: the nest's repeated-hit shortcut runs while
    classifying, and must leave the shadows as walking would."""
    specs = [spec, dict(SECOND, policy=spec["policy"])]
    layer = make_layer(**case)
    kw = {k: v for k, v in case.items() if k != "type"}
    tr, _ = naive.layer_trace(case["type"], **kw)
    want, want_ccc = reference(specs, tr)
    result = simulate(hierarchy(specs), layer, ccc=True)
    assert_same(result.counters, want)
    assert_same_3c(result.three_c, want_ccc)
    assert_classified(result.counters, result.three_c)


def test_registers_first():
    """A register file (fully associative, one-element lines) has no conflict misses."""
    specs = [dict(size=64, line=4, ways="full", policy="lru", write_back=True,
                  write_allocate=True),
             dict(size=512, line=32, ways=2, policy="lru", write_back=True,
                  write_allocate=True)]
    dims = dict(B=1, M=2, N=2, F=5, K=3, G=1, stride=1, padding="skip", order="bijnmpq",
                dtype_bytes=4)
    layer = make_layer(type="spatial", **dims)
    tr, _ = naive.layer_trace("spatial", **dims)
    want, want_ccc = reference(specs, tr)
    result = simulate(hierarchy(specs), layer, ccc=True)
    assert_same(result.counters, want)
    assert_same_3c(result.three_c, want_ccc)
    assert result.three_c[:, 0, :, naive.CONFLICT].sum() == 0
    assert result.three_c[:, 1, :, naive.CONFLICT].sum() > 0


def test_write_backs_into_a_level_without_write_allocate():
    """A whole dirty line from above is installed even where writes do not allocate
    (docs/model.md §2), and so it is in the shadow (found by a search over small traces:
    the shadow that does not install it classifies differently)."""
    lines = [5, 0, 4, 1, 3, 5, 1, 4, 0, 1, 5, 2, 3, 1, 0, 2, 3, 2, 4, 2, 3, 4, 5, 2, 0, 4, 3,
             5, 2, 2, 0, 2, 3, 4, 5, 1, 3, 4, 1]
    writes = "011111110011011110110000011111001010110"
    tr = [(n * 32, 4, int(w), 0) for n, w in zip(lines, writes, strict=True)]
    specs = [dict(size=64, line=32, ways=2, policy="lru", write_back=True,
                  write_allocate=True),
             dict(size=128, line=32, ways=1, policy="lru", write_back=True,
                  write_allocate=False)]
    want, want_ccc = reference(specs, tr)
    got, got_ccc = replay(specs, tr)
    assert_same(got, want)
    assert_same_3c(got_ccc, want_ccc)
