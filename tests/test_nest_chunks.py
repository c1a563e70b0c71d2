"""Layers whose loop nests are split into kernel calls of a few iterations, against the
plain-Python reference, every counter (MACs included).

engine.simulate and engine.simulate_chain walk a nest in calls of engine.NEST_CHUNK
iterations (4M by default: only layers larger than that are split). The nest's
repeated-hit shortcut (kernels.run_nest, docs/model.md §7) must stop at the end of a call
as it stops at the end of the innermost loop: a call that counted iterations past its end
would have them counted again by the next. Here the chunk is small and prime (7, 13, 101),
so calls end anywhere in the innermost loop, on layers where the shortcut fires (a
write-back first level of wide lines, tests/test_shortcut.py's cases), through every
family of nest kernels: plain, classifying (--3c), with guard forms (tiles that do not
divide their loop), with prefetchers and inclusion, and through a warm network.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_3c import assert_classified, assert_same_3c
from test_differential import assert_same
from test_inclusion import ZEN_LIKE, assert_same_inc, valid
from test_prefetch import assert_same_pf
from test_shortcut import SECOND, _cases, first_level
from test_tiling import case_for
from test_warm import EXCLUDING, L1_L2, NET_A, NET_B, _entries, _file

import naive
from helpers import hierarchy
from simcache import engine, mrc
from simcache.chain import build_chain
from simcache.layers import make_layer
from simcache.loopnest import plan
from simcache.network import load_network

CHUNKS = [7, 13, 101]


@pytest.fixture
def chunked(monkeypatch):
    """Set engine.NEST_CHUNK (read at every call) for this test."""
    def set_chunk(n: int) -> int:
        monkeypatch.setattr(engine, "NEST_CHUNK", n)
        return n
    return set_chunk


def _rotated(cases):
    """Each case with the next chunk size of CHUNKS that splits its layer's nests."""
    sizes = itertools.cycle(CHUNKS)
    out = []
    for p in cases:
        case, spec = p.values
        n = next(sizes)
        if n >= plan(make_layer(**case)).iterations:
            n = CHUNKS[0]
        out.append(pytest.param(case, spec, n, id=f"{p.id}-chunk{n}"))
    return out


# the cases whose first level is write-back, where the shortcut can fire
WRITE_BACK = [p for p in _cases() if p.values[1]["write_back"]]


def check(case, specs, chunk, ccc=False, tiled=False):
    """simulate() in chunks of `chunk` iterations against the reference: counters, MACs,
    accesses, and the 3C, prefetch and inclusion counts where they are kept."""
    layer = make_layer(**case)
    assert max(n.iterations for n in plan(layer).nests) > chunk  # the nest is split
    kw = {k: v for k, v in case.items() if k != "type"}
    tr, info = (naive.tiled_layer_trace if tiled else naive.layer_trace)(case["type"], **kw)
    n = len(specs) + 1
    ccc_want = np.zeros((2, n, 5, 3), dtype=np.int64) if ccc else None
    pf_want = np.zeros((2, n, 5, 4), dtype=np.int64)
    left_want = np.zeros((n, 5), dtype=np.int64)
    inc_want = np.zeros((2, n, 5, 3), dtype=np.int64)
    want, _ = naive.simulate(specs, tr, three_c=ccc_want, prefetch=pf_want,
                             prefetch_left=left_want, inclusion=inc_want)
    result = engine.simulate(hierarchy(specs), layer, ccc=ccc)
    assert_same(result.counters, want)
    assert result.macs == info["macs"] and result.accesses == len(tr)
    if ccc:
        assert_same_3c(result.three_c, ccc_want)
        assert_classified(result.counters, result.three_c)
    if result.prefetch is not None:
        assert_same_pf(result.prefetch, pf_want)
        assert np.array_equal(result.prefetch_left, left_want)
    else:
        assert not pf_want.any()
    if result.inclusion is not None:
        assert_same_inc(result.inclusion, inc_want)
    else:
        assert not inc_want.any()
    return result


@pytest.mark.parametrize("case, spec, chunk", _rotated(WRITE_BACK))
def test_layers_in_chunks(case, spec, chunk, chunked):
    """Every write-back case of tests/test_shortcut.py (scanned and hashed first levels)."""
    check(case, [spec, SECOND], chunked(chunk))


@pytest.mark.parametrize("case, spec, chunk", _rotated(WRITE_BACK[1::4]))
def test_3c_layers_in_chunks(case, spec, chunk, chunked):
    """A quarter of them, classifying (the kernels of --3c have a nest loop of their own)."""
    check(case, [spec, dict(SECOND, policy=spec["policy"])], chunked(chunk), ccc=True)


@pytest.mark.parametrize("case, spec, chunk", _rotated(WRITE_BACK[2::4]))
def test_prefetch_and_inclusion_layers_in_chunks(case, spec, chunk, chunked):
    """Another quarter through the prefetch and inclusion kernels: the first level
    prefetching (`miss` or `tagged`, whose hits on used lines take the shortcut), over an
    inclusive, prefetching L2 and an exclusive L3."""
    policy = "miss" if len(case["order"]) % 2 else "tagged"
    specs = valid([dict(spec, prefetch=policy, prefetch_distance=1 + (chunk % 2)),
                   dict(SECOND, prefetch="always"), ZEN_LIKE[2]],
                  ["nine", "inclusive", "exclusive"])
    check(case, specs, chunked(chunk))


# tilings whose last tile is shorter (guard forms), the shortcut running into the guard
TILED = [("spatial", {"j": 3}, "bJinmpqj"), ("spatial", {"j": "E-1"}, "bijnmpqJ"),
         ("fc", {"m": 2}, "bijnpqMm"), ("group", {"n": 4}, "bijnmpqN"),
         ("depthwise", {"i": 3, "j": 2}, "bIJijnmpq")]


@pytest.mark.parametrize("kind, tiles, order", TILED)
@pytest.mark.parametrize("family", ["plain", "3c", "prefetch"])
@pytest.mark.parametrize("hashed", [False, True])
def test_tiled_layers_in_chunks(kind, tiles, order, family, hashed, chunked):
    case = case_for(kind, tiles, order, 1, "skip", dtype_bytes=4)
    assert engine.guarded(make_layer(**case))
    first = first_level(32, "lru", True, True, hashed)
    specs = [first, SECOND]
    if family == "prefetch":
        specs = valid([dict(first, prefetch="tagged"), dict(SECOND, prefetch="miss"),
                       ZEN_LIKE[2]], ["nine", "inclusive", "exclusive"])
    chunk = chunked(CHUNKS[len(order) % 2])
    check(case, specs, chunk, ccc=family == "3c", tiled=True)


def test_a_layer_of_4096_macs_in_chunks_of_7(chunked):
    """The case that showed it: a pointwise layer of 4,096 MACs whose innermost loop (j,
    16 iterations) stays in one 64-byte line of x and of y; calls of 7 end inside it."""
    case = dict(type="pointwise", B=1, M=4, N=4, F=16, K=1, stride=1, padding="skip",
                order="bnmijpq", dtype_bytes=4)
    result = check(case, [first_level(64, "lru", True, True, False), SECOND], chunked(7))
    assert result.macs == 4096


# ---------------------------------------------------------------- warm networks

HASHED_L1 = [first_level(32, "lru", True, True, True),
             dict(size=2048, line=64, ways=4, policy="fifo", write_back=True,
                  write_allocate=True)]
WARM = {"scanned": L1_L2, "hashed": HASHED_L1, "including": EXCLUDING}


@pytest.mark.parametrize("net", ["a", "b"])
@pytest.mark.parametrize("name", sorted(WARM))
@pytest.mark.parametrize("ccc", [False, True])
def test_warm_network_in_chunks(tmp_path, net, name, ccc, chunked):
    """Every step's counters, accesses and MACs of one inference (engine.simulate_chain)
    in chunks of 13 (a) or 7 (b), against the reference's trace of the whole inference;
    the 3C counts, where classified, add up to the reference's."""
    if ccc and name == "including":
        pytest.skip("--3c does not combine with inclusion")
    text = {"a": NET_A, "b": NET_B}[net]
    chunked(13 if net == "a" else 7)
    specs = WARM[name]
    chain = build_chain(load_network(_file(tmp_path, text)))
    results, flush = engine.simulate_chain(hierarchy(specs, seed=3), chain.steps, 4,
                                           chain.window, ccc=ccc)
    entries, c, s = _entries(text)
    trace, spans, _ = naive.network_trace(entries, c, s)
    marks = [lo for _, lo, _ in spans] + [len(trace)]
    ccc_want = np.zeros((2, len(specs) + 1, 5, 3), dtype=np.int64) if ccc else None
    total, _, snaps = naive.simulate(specs, trace, seed=3, marks=marks, three_c=ccc_want)
    split = False
    for step, r, (entry, lo, hi), a, b in zip(chain.steps, results, spans, snaps[:-1], snaps[1:],
                                             strict=True):
        assert step.entry.name == entry
        assert_same(r.counters, b - a)
        assert r.accesses == hi - lo
        if step.plan is not None:
            assert 4 * r.macs == hi - lo
            split = split or max(n.iterations for n in step.plan.nests) > engine.NEST_CHUNK
    assert split
    assert_same(flush.counters, total - snaps[-1])
    if ccc:
        assert_same_3c(sum(r.three_c for r in results) + flush.three_c, ccc_want)


# ---------------------------------------------------------------- miss-ratio curves

def test_curves_in_chunks(chunked):
    """`simcache mrc` walks a layer in the same chunks: the level below a wide first level
    sees the same requests, and the accesses are the layer's (4 per MAC)."""
    specs = [first_level(32, "lru", True, True, False), SECOND]
    case = dict(type="depthwise", B=1, M=3, N=3, F=6, K=3, stride=1, padding="skip",
                order="bijnmpq", dtype_bytes=4)
    layer = make_layer(**case)
    tr, _ = naive.layer_trace("depthwise", **{k: v for k, v in case.items() if k != "type"})
    h = hierarchy(specs)
    whole = mrc.measure(h, 1, 4, 24, 4, layer=layer)
    chunked(7)
    small = mrc.measure(h, 1, 4, 24, 4, layer=layer)
    assert small.accesses == whole.accesses == len(tr)
    assert np.array_equal(small.hist, whole.hist) and small.requests == whole.requests > 0
    assert np.array_equal(small.set_hist, whole.set_hist)
