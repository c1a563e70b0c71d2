"""Guarded loop nests (loopnest.Nest.limits): the kernel performs an iteration only while
every guard form is below its limit, as a tiled loop's shorter last tile needs.

Here a loop of a layer's nest is split by hand into a tile loop and a loop within the
tile, with a guard whenever the tile does not divide the extent; the expected trace is
enumerated in plain Python from the untiled nest's coefficients, and the counters must
equal the plain-Python reference simulator's on that trace (first levels of wide lines,
so that the kernel's repeated-hit shortcut runs into the guard)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from test_differential import assert_same

import naive
from helpers import hierarchy
from simcache import engine
from simcache.layers import make_layer
from simcache.loopnest import CCOL, CROW, Plan, plan, trace_chunks


def split(nest, d: int, tile: int, at: int):
    """Split loop `d` of `nest` into a tile loop (placed at position `at`) and the loop
    within the tile (where loop d was)."""
    e = int(nest.ext[d])
    tiles = -(-e // tile)
    nd = len(nest.dims)
    cols = [nest.coef[:, k].copy() for k in range(nd)]
    ext = list(nest.ext)
    guard = [0] * nd
    ext[d] = tile
    guard[d] = 1
    outer_col = cols[d] * tile
    order = list(range(nd))
    order.insert(at, nd)
    cols.append(outer_col)
    ext.append(tiles)
    guard.append(tile)
    coef = np.array([cols[k] for k in order]).T
    limits = nest.limits
    if e % tile:
        coef = np.vstack([coef, np.array([[guard[k] for k in order]])])
        limits = nest.limits + (e,)
    base = np.concatenate([nest.base, np.zeros(len(limits) - len(nest.limits), np.int64)])
    dims = tuple(nest.dims[k] if k < nd else nest.dims[d].upper() for k in order)
    return replace(nest, dims=dims, ext=np.array([ext[k] for k in order], np.int64),
                   coef=coef.astype(np.int64), base=base, limits=limits)


def expected_trace(nest) -> list[tuple]:
    """Every access of the nest, by enumerating its index space in Python."""
    out = []
    for digits in itertools.product(*(range(int(e)) for e in nest.ext)):
        f = nest.base + nest.coef @ np.array(digits, np.int64)
        if nest.bounds is not None:
            rows, cols = nest.bounds
            if not (0 <= f[CROW] < rows and 0 <= f[CCOL] < cols):
                continue
        if any(f[CCOL + 1 + k] >= lim for k, lim in enumerate(nest.limits)):
            continue
        x, w, y = (int(v) for v in f[:3])
        tx, tw, ty = nest.tensors
        d = nest.dtype_bytes
        out += [(x, d, 0, tx), (w, d, 0, tw), (y, d, 0, ty), (y, d, 1, ty)]
    return out


FIRST = dict(size=256, line=32, ways=4, policy="lru", write_back=True, write_allocate=True)
SECOND = dict(size=1024, line=64, ways=4, policy="lru", write_back=True, write_allocate=True)


@pytest.mark.parametrize("kind,dims,loop,tile,at", [
    ("spatial", dict(M=3, N=5, F=5, K=3), "n", 2, 0),
    ("spatial", dict(M=3, N=5, F=5, K=3), "j", 2, 2),
    ("spatial", dict(M=5, N=2, F=4, K=3), "m", 3, 1),
    ("depthwise", dict(M=3, N=3, F=7, K=3), "j", 3, 0),
    ("fc", dict(M=11, N=3, F=1, K=1), "m", 4, 0),
    ("pointwise", dict(M=5, N=3, F=3, K=1), "m", 2, 4),
])
def test_a_guarded_nest_runs_as_its_trace(monkeypatch, kind, dims, loop, tile, at):
    layer = make_layer(type=kind, **dims)
    p = plan(layer)
    nest = p.nests[0]
    d = nest.dims.index(loop)
    tiled = split(nest, d, tile, at)
    assert tiled.limits, "the tile must not divide the extent"
    want_trace = expected_trace(tiled)
    got_trace = [tuple(int(v) for v in row) for c in trace_chunks(Plan(p.tensors, (tiled,)), 37)
                 for row in zip(*c, strict=True)]
    assert got_trace == want_trace
    assert len(want_trace) == len(expected_trace(nest))  # the same iterations, reordered
    monkeypatch.setattr(engine, "plan", lambda _layer: Plan(p.tensors, (tiled,)))
    specs = [FIRST, SECOND]
    result = engine.simulate(hierarchy(specs), layer)
    want, _ = naive.simulate(specs, want_trace)
    assert_same(result.counters, want)
    assert result.macs == len(want_trace) // 4
