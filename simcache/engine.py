"""simulate(hierarchy, layer | trace) → Result: owns the state arrays and the chunking."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from . import kernels as K
from .config import Geometry, Hierarchy
from .layers import Layer
from .loopnest import Plan, plan

Progress = Callable[[int, int], None]  # (done, total) in trace accesses

_POLICIES = {"lru": K.LRU, "fifo": K.FIFO, "random": K.RANDOM}
NEST_CHUNK = 1 << 22  # loop iterations per kernel call: progress granularity


@dataclass
class Result:
    """Raw counts of one simulation. counters[phase, level, tensor, kind] (kernels.py)."""

    level_names: list[str]
    counters: np.ndarray
    accesses: int
    macs: int
    seconds: float
    layer: Layer | None = None
    plan: Plan | None = None
    geometry: list[Geometry] = field(default_factory=list)


WINDOW_LIMIT = 1 << 25  # entries (int32) of a level's direct lookup window: 128 MiB at most


class State:
    """Cache contents of a hierarchy, as flat arrays the kernels update in place.

    `window` = (first, end) byte addresses that most accesses fall in (a layer's tensors):
    levels with many ways then find lines there through a direct table (kernels.py)."""

    def __init__(self, geometry: list[Geometry], seed: int = 1,
                 window: tuple[int, int] | None = None):
        rows, slot0, set0, hash0, w0 = [], 0, 0, 0, 0
        for g in geometry:
            hbits, wlo, wsize = 0, 0, 0
            if g.ways > K.SCAN_WAYS:
                hbits = max(4, math.ceil(math.log2(2 * g.sets * g.ways)))
                if window is not None:
                    lbits = g.line.bit_length() - 1
                    wlo = window[0] >> lbits
                    wsize = ((window[1] - 1) >> lbits) - wlo + 1
                    if wsize > WINDOW_LIMIT:
                        wlo, wsize = 0, 0
            mask = g.sets - 1 if g.sets & (g.sets - 1) == 0 else -1
            row = [0] * K.NGEO
            row[K.G_SETS], row[K.G_WAYS] = g.sets, g.ways
            row[K.G_LBITS] = g.line.bit_length() - 1
            row[K.G_WB], row[K.G_WA] = int(g.write_back), int(g.write_allocate)
            row[K.G_POLICY] = _POLICIES[g.policy]
            row[K.G_SLOT0], row[K.G_SET0], row[K.G_HASH0] = slot0, set0, hash0
            row[K.G_HBITS], row[K.G_MASK] = hbits, mask
            row[K.G_WLO], row[K.G_WSIZE], row[K.G_W0] = wlo, wsize, w0
            rows.append(row)
            slot0 += g.sets * g.ways
            set0 += g.sets
            hash0 += (1 << hbits) if hbits else 0
            w0 += wsize
        rows.append([0] * K.NGEO)  # main memory
        if rows[:-1]:
            lines = [g.line for g in geometry]
            rows[0][K.G_CHAIN] = int(all(a <= b for a, b in zip(lines, lines[1:], strict=False)))
        self.geometry = geometry
        self.geo = np.array(rows, dtype=np.int64)
        nslot, nset, nhash, nwhere = max(slot0, 1), max(set0, 1), max(hash0, 1), max(w0, 1)
        self.arrays = (
            np.full(nslot, -1, dtype=np.int64),  # tag: line number held by the slot
            np.zeros(nslot, dtype=np.uint8),  # dirty
            np.zeros(nslot, dtype=np.int8),  # owner: tensor of the line
            np.full(nslot, -1, dtype=np.int32),  # nxt: next slot, less recent
            np.full(nslot, -1, dtype=np.int32),  # prv
            np.full(nset, -1, dtype=np.int32),  # head: most recent slot of the set
            np.full(nset, -1, dtype=np.int32),  # tail: least recent slot
            np.zeros(nset, dtype=np.int32),  # fill: ways that ever held a line
            np.full(nhash, -1, dtype=np.int64),  # hkey: hashed line numbers
            np.full(nhash, -1, dtype=np.int32),  # hslot
            np.full(nwhere, -1, dtype=np.int32),  # where: slot of each line in the window
            np.array([seed], dtype=np.uint64),  # rng: xorshift64 state
        )
        self.counters = np.zeros((2, len(geometry) + 1, K.NTENSORS, K.NKINDS), dtype=np.int64)
        # the kernels take flat views of the same memory
        self.kgeo = self.geo.reshape(-1)
        self.kctr = self.counters.reshape(-1)
        self.quick = np.zeros(4 * K.NTENSORS, dtype=np.int64)  # scratch, see kernels._fold
        self._stack = np.zeros((0, 5), dtype=np.int64)
        self._stack_for = 0

    def stack(self, max_access: int) -> np.ndarray:
        """A request stack deep enough for accesses of up to `max_access` bytes."""
        if max_access > self._stack_for:
            depth, size = 8, max_access
            for g in self.geometry:
                pieces = -(-size // g.line) + 1
                depth += pieces + 4  # fetch, install, forward, victim write-back
                size = max(size, g.line)
            self._stack = np.zeros((depth, 5), dtype=np.int64)
            self._stack_for = max_access
        return self._stack

    def replay(self, addr, size, is_write, tensor) -> None:
        """Run one chunk of trace arrays (run phase)."""
        if len(addr) == 0:
            return
        stack = self.stack(int(np.max(size)))
        K.run_trace(self.kgeo, self.arrays, self.kctr, self.quick, stack,
                    np.ascontiguousarray(addr, dtype=np.int64),
                    np.ascontiguousarray(size, dtype=np.int64),
                    np.ascontiguousarray(is_write, dtype=np.uint8),
                    np.ascontiguousarray(tensor, dtype=np.int8))

    def flush(self) -> None:
        """Write every dirty line down, level by level, each in ascending line order."""
        tag, dirty = self.arrays[0], self.arrays[1]
        stack = self.stack(self._stack_for or 8)
        for lv, g in enumerate(self.geometry):
            first = int(self.geo[lv, K.G_SLOT0])
            slots = np.arange(first, first + g.sets * g.ways, dtype=np.int64)
            slots = slots[(dirty[slots] != 0) & (tag[slots] >= 0)]
            order = slots[np.argsort(tag[slots], kind="stable")]
            K.flush_level(self.kgeo, self.arrays, self.kctr, stack, lv, order)

    def contents(self) -> list[list[list[tuple[int, bool] | None]]]:
        """Per level, per set, per way: (line number, dirty) or None — for small tests."""
        tag, dirty = self.arrays[0], self.arrays[1]
        out = []
        for lv, g in enumerate(self.geometry):
            first = int(self.geo[lv, K.G_SLOT0])
            sets = []
            for s in range(g.sets):
                ways = []
                for w in range(g.ways):
                    slot = first + s * g.ways + w
                    ways.append(None if tag[slot] < 0 else (int(tag[slot]), bool(dirty[slot])))
                sets.append(ways)
            out.append(sets)
        return out


def warm_up() -> tuple[float, bool]:
    """Compile or load the kernels on a tiny problem. Returns (seconds, compiled now)."""
    kernels = (K.run_nest, K.run_trace, K.flush_level)

    def misses() -> int:  # Numba's count of compilations that found no cache, per process
        return sum(sum(k.stats.cache_misses.values()) for k in kernels)

    before = misses()
    t0 = time.perf_counter()
    state = State([Geometry("warm-up", 64, 16, 2, 2, "lru", True, True)])
    ext = np.ones(8, dtype=np.int64)
    K.run_nest(state.kgeo, state.arrays, state.kctr, state.quick, state.stack(4),
               np.zeros(8, np.int64),
               ext, np.zeros((5, 8), np.int64), np.zeros(5, np.int64), np.zeros(3, np.int64),
               4, -1, -1, 0, 1)
    one = np.ones(1, dtype=np.int64)
    state.replay(one, one, one.astype(np.uint8), one.astype(np.int8))
    state.flush()
    return time.perf_counter() - t0, misses() > before


def simulate(hierarchy: Hierarchy, layer: Layer, progress: Progress | None = None) -> Result:
    """Run a layer's loop nest through the hierarchy, flush, and return the counts."""
    t0 = time.perf_counter()
    p = plan(layer)
    geometry = hierarchy.geometry(layer.dtype_bytes)
    window = (min(t.base for t in p.tensors), max(t.base + t.nbytes for t in p.tensors))
    state = State(geometry, hierarchy.seed, window)
    stack = state.stack(layer.dtype_bytes)
    total, done, macs = p.iterations, 0, 0
    idx = np.zeros(8, dtype=np.int64)  # odometer scratch: at most 8 loops
    for nest in p.nests:
        rows, cols = nest.bounds if nest.bounds is not None else (-1, -1)
        for start in range(0, nest.iterations, NEST_CHUNK):
            count = min(NEST_CHUNK, nest.iterations - start)
            macs += int(K.run_nest(state.kgeo, state.arrays, state.kctr, state.quick, stack,
                                   idx[:len(nest.ext)], nest.ext, nest.coef, nest.base,
                                   np.array(nest.tensors, np.int64), nest.dtype_bytes,
                                   rows, cols, start, count))
            done += count
            if progress is not None:
                progress(done, total)
    state.flush()
    return Result(hierarchy.level_names, state.counters, 4 * macs, macs,
                  time.perf_counter() - t0, layer, p, geometry)


def simulate_trace(hierarchy: Hierarchy, chunks: Iterable[tuple[np.ndarray, ...]],
                   element_bytes: int = 4, progress: Progress | None = None,
                   total: int = 0) -> Result:
    """Replay (addr, size, is_write, tensor) chunks through the hierarchy, then flush."""
    t0 = time.perf_counter()
    geometry = hierarchy.geometry(element_bytes)
    state = State(geometry, hierarchy.seed)
    n = 0
    for addr, size, is_write, tensor in chunks:
        state.replay(addr, size, is_write, tensor)
        n += len(addr)
        if progress is not None:
            progress(n, total)
    state.flush()
    return Result(hierarchy.level_names, state.counters, n, 0, time.perf_counter() - t0,
                  geometry=geometry)
