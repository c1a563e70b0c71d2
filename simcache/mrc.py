"""Miss-ratio curves (`simcache mrc`): LRU stack distances over one level's request stream.

In the model of docs/model.md (non-inclusive, no prefetch) what reaches level L depends
only on the levels above it. So the hierarchy is cut above L: the levels above L, then a
main memory whose requests the kernels record (kernels.RUN_NEST_TAP, RUN_TRACE_TAP,
`_tap`). Those are L's requests before they are split at L's line; each single-line
request then goes through two stacks, in one pass (`_feed`):

- one LRU stack over all lines (line = L's line): a request's distance d is the number of
  other lines used since its line was last used; a fully associative LRU cache of C lines
  hits it exactly when d < C. A Fenwick tree over time marks each tracked line's last use,
  a hash table maps lines to it: O(log n) per request. Only the `max_lines` most recent
  lines are tracked (memory bounded); a line pushed deeper is forgotten, and its next
  request counts as "beyond", with first uses.
- one LRU stack per set of L (L's number of sets): the distance within the set, so an
  a-way cache of L's sets and line hits exactly when it is below a. Each set keeps its
  `max_ways` most recent lines, most recent first: O(max_ways) per request.

Every request L would look up moves its line to the top of both stacks. That is LRU's
rule for hits, read misses and write-allocate misses (fetched, or installed without a
fetch when they cover the whole line) alike; a no-allocate write miss installs nothing,
which one pass cannot follow at every size, so such a level is refused (docs/model.md,
Miss-ratio curves).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from . import engine
from . import kernels as K
from .config import Geometry, Hierarchy
from .errors import SimcacheError
from .kernels import njit
from .layers import Layer, LayerError
from .loopnest import limit_problems, plan

Progress = Callable[[int, int], None]

# scalars of the stacks (`_feed`): the clock, the lines tracked, the clock's end, the
# lines tracked at most, then the requests, reads and writes seen
C_NOW, C_LIVE, C_END, C_MAXL, C_REQ, C_READS, C_WRITES = range(7)
NSCALARS = 7
MAX_LINES = 1 << 26  # the largest `max_lines`: about 3.5 GiB of stack state
MAX_WAYS = 1 << 12
TAP_RECORDS = 1 << 18  # records the tap's buffer holds at least (more for large accesses)


# ---------------------------------------------------------------- the stack-distance kernel


@njit(inline="always")
def _h(line, hbits):
    return np.int64((np.uint64(line) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - hbits))


@njit(inline="always")
def _hfind(hkey, hbits, line):
    """The table index holding `line`, or −1."""
    mask = (np.int64(1) << hbits) - 1
    i = _h(line, hbits)
    while True:
        k = hkey[i]
        if k == line:
            return i
        if k < 0:
            return np.int64(-1)
        i = (i + 1) & mask


@njit(inline="always")
def _hput(hkey, hval, hbits, line, value):
    mask = (np.int64(1) << hbits) - 1
    i = _h(line, hbits)
    while hkey[i] >= 0:
        i = (i + 1) & mask
    hkey[i] = line
    hval[i] = value


@njit(inline="always")
def _hdel(hkey, hval, hbits, i):
    """Delete the entry at index `i` (linear probing, backward shift: no tombstones)."""
    mask = (np.int64(1) << hbits) - 1
    j = i
    while True:
        j = (j + 1) & mask
        k = hkey[j]
        if k < 0:
            break
        home = _h(k, hbits)
        if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
            hkey[i] = k
            hval[i] = hval[j]
            i = j
    hkey[i] = -1


@njit(inline="always")
def _fen_add(fen, pos, v):
    n = fen.shape[0] - 1
    i = pos + 1
    while i <= n:
        fen[i] += v
        i += i & -i


@njit(inline="always")
def _fen_prefix(fen, pos):
    """Marks at positions 0 .. pos."""
    s = np.int64(0)
    i = pos + 1
    while i > 0:
        s += fen[i]
        i -= i & -i
    return s


@njit(inline="always")
def _fen_first(fen):
    """The lowest marked position (one must be marked)."""
    n = fen.shape[0] - 1
    step = np.int64(1) << np.int64(math.floor(math.log2(n)))
    pos, k = np.int64(0), np.int64(1)
    while step > 0:
        nxt = pos + step
        if nxt <= n and fen[nxt] < k:
            pos = nxt
            k -= fen[nxt]
        step >>= 1
    return pos


@njit
def _compact(sc, fen, who, hkey, hval, hbits):
    """The clock reached its end: renumber the tracked lines' last uses 0, 1, ... in
    order and rebuild the tree (every C_END − C_MAXL requests, O(C_END) each)."""
    end = sc[C_END]
    new = np.int64(0)
    for pos in range(end):
        x = who[pos]
        if x >= 0:
            who[new] = x
            hval[_hfind(hkey, hbits, x)] = new
            new += 1
    for pos in range(new, end):
        who[pos] = -1
    for i in range(1, end + 1):  # a tree of ones at 0 .. new − 1
        low = i & -i
        fen[i] = max(np.int64(0), min(np.int64(i), new) - (i - low))
    sc[C_NOW] = new


@njit
def _feed(recs, n, lbits, sets, smask, sc, fen, who, hkey, hval, hbits, hist,
          st, sn, ways, shist):
    """Put `n` records (address, size, flags | tensor << 8) through both stacks, each split
    into one request per line of 2**lbits bytes touched. hist[d]: requests at distance d in
    the stack of all lines (d < sc[C_MAXL]), hist[C_MAXL]: beyond; shist likewise within
    the set (`sets` sets, `ways` kept each; sets = 0: no per-set stack)."""
    maxl = sc[C_MAXL]
    for r in range(n):
        addr, size, fl = recs[3 * r], recs[3 * r + 1], recs[3 * r + 2]
        first, last = addr >> lbits, (addr + size - 1) >> lbits
        write = (fl & K.F_WRITE) != 0
        for line in range(first, last + 1):
            sc[C_REQ] += 1
            if write:
                sc[C_WRITES] += 1
            else:
                sc[C_READS] += 1
            # the stack of all lines
            now = sc[C_NOW]
            i = _hfind(hkey, hbits, line)
            if i >= 0:
                p = hval[i]
                hist[sc[C_LIVE] - _fen_prefix(fen, p)] += 1
                _fen_add(fen, p, -1)
                who[p] = -1
                hval[i] = now
            else:
                hist[maxl] += 1
                _hput(hkey, hval, hbits, line, now)
                sc[C_LIVE] += 1
            _fen_add(fen, now, 1)
            who[now] = line
            sc[C_NOW] = now + 1
            if sc[C_LIVE] > maxl:  # forget the least recent line
                q = _fen_first(fen)
                _fen_add(fen, q, -1)
                _hdel(hkey, hval, hbits, _hfind(hkey, hbits, who[q]))
                who[q] = -1
                sc[C_LIVE] -= 1
            if sc[C_NOW] == sc[C_END]:
                _compact(sc, fen, who, hkey, hval, hbits)
            if sets == 0:
                continue
            # the stack of the line's set, most recent first
            s = (line & smask) if smask >= 0 else (line % sets)
            b = s * ways
            m = sn[s]
            k = 0
            while k < m and st[b + k] != line:
                k += 1
            if k < m:
                shist[k] += 1
            else:
                shist[ways] += 1
                if m < ways:
                    sn[s] = m + 1
                    k = m
                else:
                    k = ways - 1
            while k > 0:
                st[b + k] = st[b + k - 1]
                k -= 1
            st[b] = line


class Stacks:
    """The state of both stacks of one level (plain arrays; `feed` runs the kernel)."""

    def __init__(self, g: Geometry, max_lines: int, max_ways: int):
        self.lbits = g.line.bit_length() - 1
        self.max_lines, self.max_ways = max_lines, max_ways
        end = 2 * max_lines + 2
        self.sc = np.zeros(NSCALARS, dtype=np.int64)
        self.sc[C_END], self.sc[C_MAXL] = end, max_lines
        self.fen = np.zeros(end + 1, dtype=np.int64)
        self.who = np.full(end, -1, dtype=np.int64)
        self.hbits = max(4, math.ceil(math.log2(2 * (max_lines + 1))))
        self.hkey = np.full(1 << self.hbits, -1, dtype=np.int64)
        self.hval = np.zeros(1 << self.hbits, dtype=np.int64)
        self.hist = np.zeros(max_lines + 1, dtype=np.int64)
        # a fully associative level's ways are its lines: the stack of all lines says all
        self.sets = g.sets if g.sets > 1 else 0
        self.smask = g.sets - 1 if g.sets & (g.sets - 1) == 0 else -1
        self.st = np.full(max(self.sets, 1) * max_ways, -1, dtype=np.int64)
        self.sn = np.zeros(max(self.sets, 1), dtype=np.int64)
        self.shist = np.zeros(max_ways + 1, dtype=np.int64)

    @staticmethod
    def words(g: Geometry, max_lines: int, max_ways: int) -> int:
        """int64 words of the state (what __init__ allocates)."""
        hb = max(4, math.ceil(math.log2(2 * (max_lines + 1))))
        sets = g.sets if g.sets > 1 else 1
        return (NSCALARS + (2 * max_lines + 3) + (2 * max_lines + 2) + 2 * (1 << hb)
                + (max_lines + 1) + sets * max_ways + sets + max_ways + 1)

    def feed(self, recs: np.ndarray, n: int) -> None:
        _feed(*self.feed_args(recs, n))

    def feed_args(self, recs: np.ndarray, n: int) -> tuple:
        return (recs, np.int64(n), np.int64(self.lbits), np.int64(self.sets),
                np.int64(self.smask), self.sc, self.fen, self.who, self.hkey, self.hval,
                np.int64(self.hbits), self.hist, self.st, self.sn, np.int64(self.max_ways),
                self.shist)


# ---------------------------------------------------------------- the level's requests


def records_per_access(above: list[Geometry], largest: int) -> int:
    """At most how many requests one trace access of `largest` bytes sends below the levels
    `above`: a single-line request sends at most two below (a fetch and a victim's
    write-back, or a fetch and a write-through, or one write), each inside one line of its
    level, so that one splits into at most line / next line pieces below."""
    pieces = -(-largest // above[0].line) + 1 if above else 1
    for g, h in zip(above, above[1:], strict=False):
        pieces = 2 * pieces * max(1, g.line // h.line)
    return 2 * pieces if above else 1


class TapState(engine.State):
    """engine.State of the levels above L, whose main memory records every request that
    reaches it (kernels._tap) in a buffer after the state: L's requests."""

    def __init__(self, above: list[Geometry], seed: int, window, max_access: int,
                 reserve: int):
        super().__init__(above, seed, window, max_access)
        self._row = K.HDR + len(above) * K.NGEO
        self._grow(max(TAP_RECORDS, 4 * reserve), reserve)

    def _grow(self, cap: int, reserve: int) -> None:
        self._tap_at = len(self.S)
        self.S = np.concatenate([self.S, np.zeros(3 * cap, dtype=np.int64)])
        g = self._row
        self.S[g + K.G_TAG], self.S[g + K.G_WAYS] = self._tap_at, cap
        self.S[g + K.G_FILL], self.S[g + K.G_SETS] = 0, cap - reserve
        self._cap = cap

    def room(self, reserve: int) -> None:
        """Make sure `reserve` records fit after the stop mark (the buffer empty)."""
        if 4 * reserve > self._cap:
            self.S = self.S[:self._tap_at].copy()
            self._grow(4 * reserve, reserve)
        self.S[self._row + K.G_SETS] = self._cap - reserve

    def reserve(self, max_access: int) -> None:  # the stack is made deep enough at first
        raise RuntimeError("TapState: the request stack must not grow (it would drop the "
                           "tap's buffer)")

    def drain(self, stacks: Stacks) -> int:
        """Feed the records to the stacks and empty the buffer; how many there were."""
        n = int(self.S[self._row + K.G_FILL])
        if n:
            stacks.feed(self.S[self._tap_at:self._tap_at + 3 * n], n)
        self.S[self._row + K.G_FILL] = 0
        self.S[K.H_GROW] = 0
        return n


@dataclass
class Curves:
    """The stack distances of one level's run-phase requests.

    hist[d]: requests whose line had d other lines used since its last use (d < max_lines),
    hist[max_lines]: the rest (first uses, and lines beyond max_lines); set_hist likewise
    within L's set (None when L is fully associative: then the ways are lines)."""

    level: Geometry
    index: int
    requests: int
    reads: int
    writes: int
    accesses: int
    max_lines: int
    max_ways: int
    hist: np.ndarray
    set_hist: np.ndarray | None
    seconds: float

    def fa_misses(self, lines: int) -> int:
        """Misses of a fully associative LRU cache of `lines` lines (1 to max_lines)."""
        if not 1 <= lines <= self.max_lines:
            raise ValueError(f"{lines} lines is outside 1 .. {self.max_lines}")
        return int(self.hist[lines:].sum())

    def set_misses(self, ways: int) -> int:
        """Misses of an LRU cache of L's sets and line with `ways` ways (1 to max_ways)."""
        if self.set_hist is None:
            return self.fa_misses(ways)
        if not 1 <= ways <= self.max_ways:
            raise ValueError(f"{ways} ways is outside 1 .. {self.max_ways}")
        return int(self.set_hist[ways:].sum())


def level_index(hierarchy: Hierarchy, name: str | None, flag: str = "--level") -> int:
    """The cache level named `name`, or a SimcacheError saying why it cannot have a curve."""
    names = [lv.name for lv in hierarchy.levels]
    if name is None:
        raise SimcacheError([f"{flag}: name the cache level ({', '.join(names) or 'none'})"])
    if name == hierarchy.memory.name:
        raise SimcacheError([f"{flag}: {name} is main memory, which always hits; name a "
                             f"cache level ({', '.join(names)})"])
    if name not in names:
        raise SimcacheError([f"{flag}: no cache level {name!r} in {hierarchy.name}; choose "
                             f"from {', '.join(names) or 'none (the config has no caches)'}"])
    k = names.index(name)
    lv = hierarchy.levels[k]
    problems = []
    if not lv.write_allocate:
        problems.append(f"{flag}: {name} does not allocate on a write miss "
                        "(write_allocate: false): such a miss installs nothing, so one pass "
                        "cannot give every size; the curve is exact only for allocating levels")
    draws = [x.policy in ("random", "brrip") for x in hierarchy.levels]  # one generator
    if any(draws[:k]) and any(draws[k:]):
        problems.append(f"{flag}: {name}: levels above it and at or below it use random "
                        "or brrip replacement, which draw from one generator, so what "
                        f"reaches {name} depends on its size")
    fetching = [x.name for x in hierarchy.levels[:k + 1] if x.prefetch != "none"]
    if fetching:
        problems.append(f"{flag}: {name}: {', '.join(fetching)} prefetch"
                        f"{'es' if len(fetching) == 1 else ''}; prefetches add requests "
                        "that depend on the level's contents, so one pass of stack distances "
                        "is not exact: give a config whose levels down to it prefetch none")
    including = [x.name for x in hierarchy.levels if x.inclusion != "nine"]
    if including:
        problems.append(f"{flag}: {name}: {', '.join(including)} "
                        f"{'is' if len(including) == 1 else 'are'} inclusive or exclusive; "
                        "back-invalidations and victim fills change what reaches a level "
                        "with the sizes of the others, so one pass of stack distances is not "
                        "exact: give a config whose levels are all nine")
    if problems:
        raise SimcacheError(problems)
    return k


def default_bounds(hierarchy: Hierarchy, g: Geometry, geometry: list[Geometry]) -> tuple[int, int]:
    """max_lines: 4 × the level's lines, or the largest cache of the config if larger;
    max_ways: 4 × its ways (at least 16)."""
    largest = max(x.size for x in geometry)
    lines = max(4 * g.size, largest) // g.line
    return min(lines, MAX_LINES), min(max(4 * g.ways, 16), MAX_WAYS)


def measure(hierarchy: Hierarchy, k: int, element_bytes: int, max_lines: int, max_ways: int,
            layer: Layer | None = None,
            chunks: Iterable[tuple[np.ndarray, ...]] | None = None,
            progress: Progress | None = None, total: int = 0) -> Curves:
    """One pass over level k's run-phase requests for a layer (its loop nest through the
    levels above, in the kernels) or for trace chunks."""
    import time
    t0 = time.perf_counter()
    geometry = hierarchy.geometry(element_bytes)
    g, above = geometry[k], geometry[:k]
    words = Stacks.words(g, max_lines, max_ways)
    if 8 * words > engine.memory_limit():
        raise SimcacheError([f"--max-size: {max_lines:,} lines need {8 * words / 2**30:.1f} "
                             "GiB of stack state; the limit is "
                             f"{engine.memory_limit() / 2**30:.1f} GiB"])
    stacks = Stacks(g, max_lines, max_ways)
    hashed = engine.hashed_first_level(above)
    accesses = 0
    if layer is not None:
        problems = layer.problems() + limit_problems(layer)
        if problems:
            raise LayerError(problems)
        p = plan(layer)
        reserve = 4 * records_per_access(above, layer.dtype_bytes)
        state = TapState(above, hierarchy.seed, engine.window_of(p), layer.dtype_bytes,
                         reserve)
        done_all = 0
        for nest in p.nests:
            rows, cols = nest.bounds if nest.bounds is not None else (-1, -1)
            limits = np.array(nest.limits, dtype=np.int64)
            idx = np.zeros(len(nest.ext) + len(limits), dtype=np.int64)
            kernel = K.RUN_NEST_TAP[hashed][len(limits) > 0]
            tens = np.array(nest.tensors, np.int64)
            for start in range(0, nest.iterations, engine.NEST_CHUNK):
                count = min(engine.NEST_CHUNK, nest.iterations - start)
                done = 0
                while done < count:
                    done += int(kernel(state.S, idx, nest.ext, nest.coef, nest.base, tens,
                                       nest.dtype_bytes, rows, cols, limits, start + done,
                                       count - done))
                    state.drain(stacks)
                done_all += count
                if progress is not None:
                    progress(done_all, p.iterations)
        accesses = int(state.counters[0, 0][:, [K.READS, K.WRITES]].sum())
    else:
        state = TapState(above, hierarchy.seed, None, K.MAX_ACCESS,
                         records_per_access(above, 8))
        kernel = K.RUN_TRACE_TAP[hashed]
        for addr, size, is_write, tensor in chunks or ():
            engine.check_chunk(addr, size, is_write, tensor)
            if len(addr) == 0:
                continue
            arrays = (np.ascontiguousarray(addr, dtype=np.int64),
                      np.ascontiguousarray(size, dtype=np.int64),
                      np.ascontiguousarray(is_write, dtype=np.uint8),
                      np.ascontiguousarray(tensor, dtype=np.int8))
            state.room(records_per_access(above, int(arrays[1].max())))
            while (r := int(kernel(state.S, *arrays))) != 0:
                state.drain(stacks)
                arrays = tuple(a[-r:] for a in arrays)
            state.drain(stacks)
            accesses += len(addr)
            if progress is not None:
                progress(accesses, total)
    sc = stacks.sc
    return Curves(g, k, int(sc[C_REQ]), int(sc[C_READS]), int(sc[C_WRITES]), accesses,
                  max_lines, max_ways, stacks.hist.copy(),
                  None if stacks.sets == 0 else stacks.shist.copy(),
                  time.perf_counter() - t0)


# ---------------------------------------------------------------- the result document


LRU_NOTE = ("{name} replaces {policy}: the curve is LRU's (a {policy} cache of these sizes "
            "may miss more or less)")


def capacity_points(max_lines: int, marks: Iterable[int]) -> list[int]:
    """Capacities (lines) of the fully associative curve: 1, 2, 3, 4, 6, 8, 12, ... (two a
    factor of two), max_lines, and the marks that fit."""
    out = {max_lines}
    c = 1
    while c <= max_lines:
        out.add(c)
        if c >= 2 and c + c // 2 <= max_lines:
            out.add(c + c // 2)
        c *= 2
    out.update(m for m in marks if 1 <= m <= max_lines)
    return sorted(out)


def document(curves: Curves, hierarchy: Hierarchy, element_bytes: int,
             sizes: Iterable[int] = ()) -> dict:
    """The mrc part of the JSON document (docs/formats.md): the level, its requests, both
    curves, and the config's cache sizes."""
    g = curves.level
    geometry = hierarchy.geometry(element_bytes)
    sizes = list(sizes)
    marks = [x.size // g.line for x in geometry if x.size % g.line == 0] + \
        [s // g.line for s in sizes]
    req = curves.requests

    def ratio(m: int) -> float | None:
        return m / req if req else None

    fa = [{"size": c * g.line, "lines": c, "misses": (m := curves.fa_misses(c)),
           "miss_ratio": ratio(m)} for c in capacity_points(curves.max_lines, marks)]
    if curves.set_hist is not None:
        top = curves.max_ways
    else:  # fully associative: its ways are its lines
        top = min(curves.max_ways, curves.max_lines)
    sets = g.sets
    sa = [{"size": a * sets * g.line, "ways": a, "sets": sets,
           "misses": (m := curves.set_misses(a)), "miss_ratio": ratio(m)}
          for a in range(1, top + 1)]
    return {
        "level": {"name": g.name, "index": curves.index, "size": g.size, "line": g.line,
                  "ways": g.ways, "sets": g.sets, "policy": g.policy,
                  "write_back": g.write_back, "write_allocate": g.write_allocate},
        "exact": g.policy == "lru",
        "note": None if g.policy == "lru" else LRU_NOTE.format(name=g.name, policy=g.policy),
        "requests": req, "reads": curves.reads, "writes": curves.writes,
        "accesses": curves.accesses,
        "max_lines": curves.max_lines, "max_ways": top,
        "beyond": int(curves.hist[curves.max_lines]),
        "fully_associative": fa,
        "set_associative": sa,
        "cache_sizes": [{"name": x.name, "size": x.size, "line": x.line, "ways": x.ways,
                         "sets": x.sets, "this": k == curves.index}
                        for k, x in enumerate(geometry)],
        "sizes_asked": sizes,
        "seconds": curves.seconds,
    }


def warm_steps(hashed: bool, loop: str) -> tuple[list[tuple], Callable[[], None]]:
    """The unit `mrc-<loop>` of engine.FAMILIES: the (kernel, arguments) it compiles (the
    tap loop for this kind of first level, and the stacks), and a call that runs them on a
    tiny problem."""
    g = engine.tiny_first(hashed)
    state = TapState([g], 1, None, 8, records_per_access([g], 8))
    stacks = Stacks(Geometry("warm-up", 1024, 16, 4, 16, "lru", True, True), 16, 8)
    if loop == "trace":
        kernel, args = K.RUN_TRACE_TAP[hashed], (state.S, *engine.tiny_trace())
    else:
        kernel = K.RUN_NEST_TAP[hashed][loop == "guarded"]
        args = (state.S, *engine.tiny_nest(loop == "guarded"))
    steps = [(kernel, args), (_feed, stacks.feed_args(state.S[:3], 1))]

    def run() -> None:
        kernel(*args)
        state.drain(stacks)

    return steps, run
