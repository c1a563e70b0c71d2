"""simulate(hierarchy, layer | trace) → Result: owns the state array and the chunking."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from . import kernels as K
from .config import ConfigError, Geometry, Hierarchy
from .errors import SimcacheError
from .layers import Layer, LayerError
from .loopnest import Plan, limit_problems, plan

Progress = Callable[[int, int], None]  # (done, total) in trace accesses

_POLICIES = {"lru": K.LRU, "fifo": K.FIFO, "random": K.RANDOM, "plru": K.PLRU,
             "bitplru": K.BITPLRU, "srrip": K.SRRIP, "brrip": K.BRRIP}
# the policies of real chips (docs/model.md §2): a state of their own, scanned sets only
STATE_POLICIES = ("plru", "bitplru", "srrip", "brrip")
# policies that keep no recency order: flushed and listed by way (docs/model.md, End of run)
BY_WAY = ("random", *STATE_POLICIES)
# loop iterations per kernel call: progress granularity. Read at every call (here and in
# mrc), so that tests can set it small (tests/test_nest_chunks.py)
NEST_CHUNK = 1 << 22


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
    # three_c[phase, level, tensor, kind] (kernels.COMPULSORY...), when misses were classified
    three_c: np.ndarray | None = None
    # prefetch[phase, level, tensor, kind] (kernels.PF_ISSUED...), when a level prefetches;
    # prefetch_left[level, tensor]: prefetched lines still unused at the end (after the flush)
    prefetch: np.ndarray | None = None
    prefetch_left: np.ndarray | None = None
    # inclusion[phase, level, tensor, kind] (kernels.X_INVALIDATED - NPF...), when a level is
    # inclusive or exclusive: lines back-invalidated, victims filled, lines moved up
    inclusion: np.ndarray | None = None
    # dram.DramCounts: the DRAM model's counts (docs/model.md, "DRAM"), when memory is DRAM
    dram: object | None = None


WINDOW_LIMIT = 1 << 24  # entries (int64) of a level's direct lookup window: 128 MiB at most
BOX = 1024  # entries of the outbox of a first level with many ways (kernels._defer)


MAX_ACCESS, MAX_ADDRESS = K.MAX_ACCESS, K.MAX_ADDRESS


def memory_limit() -> int:
    """Bytes the simulator state may take: half the machine's physical memory (or 4 GiB
    where the system does not say). SIMCACHE_STATE_LIMIT (bytes) overrides it."""
    given = os.environ.get("SIMCACHE_STATE_LIMIT", "")
    if given.isascii() and given.isdigit():
        return int(given)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _level_words(g: Geometry, window: tuple[int, int] | None) -> int:
    """int64 words of one level's state (State's layout)."""
    nslot = g.sets * g.ways
    words = 2 * nslot  # line numbers and meta words
    if g.ways <= K.SCAN_WAYS:
        return words + 2 * g.sets  # set words
    hbits = max(4, math.ceil(math.log2(2 * nslot)))
    words += 2 * nslot + 2 * g.sets + 2 * (1 << hbits)  # rings, heads, fills, hash table
    if window is not None:
        lbits = g.line.bit_length() - 1
        wsize = ((window[1] - 1) >> lbits) - (window[0] >> lbits) + 1
        if wsize <= WINDOW_LIMIT:
            words += wsize
    return words


SEEN_BITS = {"window": 8, "trace": 16}  # first log2 size of a hash set of lines seen


def _shadow_words(g: Geometry, window: tuple[int, int] | None) -> int:
    """int64 words of a level's 3C shadow (State's layout), its hash set of lines seen
    as first allocated included."""
    lines = g.sets * g.ways
    hbits = max(4, math.ceil(math.log2(2 * lines)))
    words = 0
    if g.sets > 1:  # a fully associative level is its own shadow
        words = 4 * lines + 2 + 2 * (1 << hbits)  # lines, meta, rings, head, fill, hashes
    seen = SEEN_BITS["trace"]
    if window is not None:
        lbits = g.line.bit_length() - 1
        wsize = ((window[1] - 1) >> lbits) - (window[0] >> lbits) + 1
        if wsize <= WINDOW_LIMIT and g.sets > 1:
            words += wsize
        words += -(-wsize // 64)  # the bitmap of lines seen
        seen = SEEN_BITS["window"]
    return words + (1 << seen) + K.NGEO


def prefetches(geometry: list[Geometry]) -> bool:
    """Whether a level of the hierarchy prefetches."""
    return any(g.prefetch != "none" for g in geometry)


def includes(geometry: list[Geometry]) -> bool:
    """Whether a level of the hierarchy is inclusive or exclusive."""
    return any(g.inclusion != "nine" for g in geometry)


def extended(geometry: list[Geometry]) -> bool:
    """Whether the kernels with prefetchers and inclusion run (kernels: `pf`)."""
    return prefetches(geometry) or includes(geometry)


def stateful(geometry: list[Geometry]) -> bool:
    """Whether a level uses plru, bitplru, srrip or brrip, whose hits the plain kernels'
    first-level loop does not handle (kernels._access): such a hierarchy runs the `pf`
    kernels, unless its misses are classified (the `3c` kernels handle them too)."""
    return any(g.policy in STATE_POLICIES for g in geometry)


def general(geometry: list[Geometry], ccc: bool = False) -> bool:
    """Whether a hierarchy's runs take the `pf` kernels (`variant_of`)."""
    return extended(geometry) or (stateful(geometry) and not ccc)


def emptied(geometry: list[Geometry]) -> list[int]:
    """Levels whose ways inclusion can empty: the cache levels above an inclusive level
    (back-invalidation), and exclusive levels (a line that moves up leaves)."""
    out = set()
    for k, g in enumerate(geometry):
        if g.inclusion == "inclusive":
            out.update(j for j in range(k) if not geometry[j].register)
        elif g.inclusion == "exclusive":
            out.add(k)
    return sorted(out)


def stack_depth(geometry: list[Geometry], max_access: int) -> int:
    """Request stack entries that an access of `max_access` bytes can need at once."""
    depth, size = 8, max_access
    for g in geometry:
        pieces = -(-size // g.line) + 1
        depth += pieces + 4  # fetch, install, forward, victim write-back
        if g.prefetch != "none":
            depth += 2  # the prefetch waiting, and its own install
        if g.inclusion != "nine":
            depth += 2  # a victim fill, a fetch passing through
        size = max(size, g.line)
    return depth


def state_bytes(geometry: list[Geometry], window: tuple[int, int] | None = None,
                max_access: int = 8, ccc: bool = False) -> int:
    """Bytes of the State of a hierarchy (computed from the geometry, nothing allocated);
    with `ccc`, its 3C shadows as first allocated too."""
    levels = len(geometry) + 1
    words = K.HDR + levels * K.NGEO + 2 * levels * K.NTENSORS * K.NKINDS + 4 * K.NTENSORS
    if general(geometry, ccc):
        words += 2 * levels * K.NTENSORS * K.NX
    words += sum(_level_words(g, window) for g in geometry)
    words += 2 * BOX + stack_depth(geometry, max_access) * K.NSTACK
    if ccc:
        words += 2 * levels * K.NTENSORS * K.NCCC
        words += sum(_shadow_words(g, window) for g in geometry)
    return 8 * words


def too_big(k: int, g: Geometry, need: int, ccc: bool = False) -> str:
    what = " with its 3C shadow (--3c)" if ccc else ""
    return (f"levels.{k} ({g.name}).size: {g.size:,} B in lines of {g.line} B needs "
            f"{need / 2**30:.1f} GiB of simulator state{what}; the limit is "
            f"{memory_limit() / 2**30:.1f} GiB (half the physical memory, or "
            "SIMCACHE_STATE_LIMIT)")


def check_state(geometry: list[Geometry], window: tuple[int, int] | None = None,
                max_access: int = 8, ccc: bool = False) -> None:
    """ConfigError naming the level when the state would exceed memory_limit()."""
    limit = memory_limit()
    if state_bytes(geometry, window, max_access, ccc) <= limit:
        return
    problems = [too_big(k, g, need, ccc) for k, g in enumerate(geometry)
                if (need := state_bytes([g], window, max_access, ccc)) > limit // 2]
    if not problems:
        what = " with their 3C shadows (--3c)" if ccc else ""
        problems = [f"levels: the levels together need "
                    f"{state_bytes(geometry, window, max_access, ccc) / 2**30:.1f} GiB of "
                    f"simulator state{what}; the limit is {limit / 2**30:.1f} GiB"]
    raise ConfigError(problems)


def check_chunk(addr, size, is_write, tensor) -> None:
    """The invariants the kernels rely on, for one chunk of trace arrays (a few NumPy
    reductions): SimcacheError naming the first bad record otherwise."""
    arrays = {"addr": addr, "size": size, "is_write": is_write, "tensor": tensor}
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise SimcacheError([f"trace: {name} is not an array"])  # a caller's bug
        if a.ndim != 1:
            raise SimcacheError([f"trace: {name} has {a.ndim} dimensions, not 1"])
        if a.dtype.kind not in "biu":
            raise SimcacheError([f"trace: {name} holds {a.dtype}, not integers"])
    n = len(addr)
    if any(len(a) != n for a in arrays.values()):
        lengths = ", ".join(f"{k} {len(v)}" for k, v in arrays.items())
        raise SimcacheError([f"trace: arrays of different lengths ({lengths})"])

    if n == 0:
        return

    def bad(what: str, mask: np.ndarray) -> SimcacheError:
        from .traces import TraceError  # not at the top: traces may come to import engine

        k = int(np.argmax(mask))
        return TraceError([f"trace: access {k}: {what} (addr {int(addr[k])}, size "
                              f"{int(size[k])}, is_write {int(is_write[k])}, tensor "
                              f"{int(tensor[k])})"])

    if addr.dtype.kind == "u" and addr.max() > MAX_ADDRESS:
        raise bad(f"address above {MAX_ADDRESS:#x}", addr > MAX_ADDRESS)
    if addr.dtype.kind == "i" and addr.min() < 0:
        raise bad("negative address", addr < 0)
    lo, hi = int(size.min()), int(size.max())
    if lo < 1 or hi > MAX_ACCESS:
        raise bad(f"size must be 1 to {MAX_ACCESS} bytes", (size < 1) | (size > MAX_ACCESS))
    if int(addr.max()) > MAX_ADDRESS - hi + 1:
        a64 = addr.astype(np.int64)
        over = a64 > MAX_ADDRESS - size.astype(np.int64) + 1
        if over.any():
            raise bad(f"the access ends past {MAX_ADDRESS:#x}", over)
    if is_write.dtype.kind != "b" and (int(is_write.min()) < 0 or int(is_write.max()) > 1):
        raise bad("is_write must be 0 or 1", (is_write < 0) | (is_write > 1))
    if int(tensor.min()) < 0 or int(tensor.max()) >= K.NTENSORS:
        raise bad(f"tensor id must be 0 to {K.NTENSORS - 1}",
                  (tensor < 0) | (tensor >= K.NTENSORS))


class State:
    """Cache contents of a hierarchy, as one flat int64 array the kernels update in place
    (its layout: kernels.py).

    `window` = (first, end) byte addresses that most accesses fall in (a layer's tensors):
    levels with many ways then find lines there through a direct table (kernels.py).
    `max_access`: the largest access expected, in bytes (the request stack grows if a
    larger one comes, at the cost of copying the state).
    `box`: entries of the outbox where a first level with many ways (a register file) puts
    what it sends below, if its policy draws no random numbers (kernels._defer); default
    `BOX`.
    `ccc`: classify every cache level's misses (3C): each level gets a fully associative
    shadow and a record of the lines seen (kernels._shadow); the kernels that classify run."""

    def __init__(self, geometry: list[Geometry], seed: int = 1,
                 window: tuple[int, int] | None = None, max_access: int = 8,
                 box: int | None = None, ccc: bool = False):
        levels = len(geometry) + 1  # main memory is the last
        self.ccc = ccc
        nrows = levels + (len(geometry) if ccc else 0)  # then one shadow row per cache
        off = K.HDR + nrows * K.NGEO
        ctr, off = off, off + 2 * levels * K.NTENSORS * K.NKINDS
        quick, off = off, off + 4 * K.NTENSORS  # scratch, see kernels._fold
        ccc_at = 0
        if ccc:
            ccc_at, off = off, off + 2 * levels * K.NTENSORS * K.NCCC
        self.prefetching, self.including = prefetches(geometry), includes(geometry)
        # the kernels with both run; and for plru, bitplru, srrip, brrip (unless classifying)
        self.pf = general(geometry, ccc)
        if self.prefetching and ccc:
            raise ConfigError(["prefetch: does not combine with the 3C classification (--3c)"])
        if self.including and ccc:
            raise ConfigError(["inclusion: does not combine with the 3C classification (--3c)"])
        for g in geometry:  # (the config refuses these shapes: config.policy_problems)
            if g.policy in STATE_POLICIES and (g.ways > K.SCAN_WAYS or (
                    g.policy == "plru" and g.ways & (g.ways - 1))):
                raise ConfigError([f"{g.name}: {g.policy} with {g.ways} ways: needs at most "
                                   f"{K.SCAN_WAYS} ways (a power of two for plru)"])
        for k in emptied(geometry):
            if geometry[k].policy == "random":
                raise ConfigError([f"{geometry[k].name}: inclusion can empty its ways, and a "
                                   f"random level is not simulated with empty ways; use lru "
                                   f"or fifo (docs/model.md, Inclusion)"])
        pf_at = 0
        if self.pf:
            pf_at, off = off, off + 2 * levels * K.NTENSORS * K.NX
        rows, fill = [], []  # fill: (start, end) of regions that start at 0, not -1
        orders = []  # (start, end, value): every other word, the order words of sets

        def hashed_sets(row: list[int], sets: int, ways: int, lbits: int) -> None:
            """Lay out the rings, heads, fills, hash table and window of hashed sets."""
            nonlocal off
            nslot = sets * ways
            hbits = max(4, math.ceil(math.log2(2 * nslot)))
            row[K.G_HBITS] = hbits
            row[K.G_NXT], off = off, off + nslot
            row[K.G_PRV], off = off, off + nslot
            row[K.G_HEAD], off = off, off + sets
            row[K.G_FILL], off = off, off + sets
            fill.append((row[K.G_FILL], off))  # ways filled: 0
            row[K.G_HKEY], off = off, off + (1 << hbits)
            row[K.G_HSLOT], off = off, off + (1 << hbits)
            if window is not None:
                wlo = window[0] >> lbits
                wsize = ((window[1] - 1) >> lbits) - wlo + 1
                if wsize <= WINDOW_LIMIT:
                    row[K.G_WLO], row[K.G_WSIZE] = wlo, wsize
                    row[K.G_WHERE], off = off, off + wsize

        def records(row: list[int], nslot: int) -> None:
            nonlocal off
            row[K.G_TAG], off = off, off + nslot
            row[K.G_META], off = off, off + nslot
            fill.append((row[K.G_META], off))  # meta words: 0

        for g in geometry:
            row = [0] * K.NGEO
            row[K.G_SETS], row[K.G_WAYS] = g.sets, g.ways
            row[K.G_LBITS] = g.line.bit_length() - 1
            row[K.G_WB], row[K.G_WA] = int(g.write_back), int(g.write_allocate)
            row[K.G_POLICY] = _POLICIES[g.policy]
            row[K.G_MASK] = g.sets - 1 if g.sets & (g.sets - 1) == 0 else -1
            row[K.G_PF], row[K.G_PFDIST] = K.PF_POLICIES[g.prefetch], g.prefetch_distance
            row[K.G_INCL], row[K.G_REG] = K.INCLUSIONS[g.inclusion], int(g.register)
            below = geometry[len(rows) + 1] if len(rows) + 1 < len(geometry) else None
            row[K.G_MARK] = ((K.M_BINV if g.inclusion == "inclusive" else 0)
                             | (K.M_VF if below is not None and below.inclusion == "exclusive"
                                else 0))
            row[K.G_FETCHW] = int(not g.register and any(
                x.inclusion == "inclusive" for x in geometry[len(rows) + 1:]))
            records(row, g.sets * g.ways)
            if g.ways <= K.SCAN_WAYS:
                # set words (the line of the order's first way, then the order word); in
                # the order word the ways never filled come last, the lowest last
                # (kernels._install)
                row[K.G_SW], off = off, off + 2 * g.sets
                orders.append((row[K.G_SW] + 1, off, 0 if g.policy in STATE_POLICIES else
                               sum((g.ways - 1 - k) << (4 * k) for k in range(g.ways))))
                row[K.G_OMASK] = (1 << 4 * g.ways) - 1 if g.ways < 16 else -1
            else:
                hashed_sets(row, g.sets, g.ways, row[K.G_LBITS])
            rows.append(row)
        rows.append([0] * K.NGEO)  # main memory
        # the kernels for a first level of many ways (kernels.RUN_NEST), and its outbox
        self.hashed = hashed_first_level(geometry)
        boxed = box_at = 0
        if geometry:
            lines = [g.line for g in geometry]
            rows[0][K.G_CHAIN] = int(all(a <= b for a, b in zip(lines, lines[1:], strict=False)))
            g = geometry[0]
            if (self.hashed and rows[0][K.G_CHAIN] and g.policy != "random" and not self.pf
                    and g.write_back and g.write_allocate):
                boxed = max(BOX if box is None else box, 2)  # a fetch and a write-back
                box_at, off = off, off + 2 * boxed
        self._seen_hbits: list[int] = []
        if ccc:  # the shadows: one fully associative set each, hashed
            for g in geometry:
                row = [0] * K.NGEO
                lbits = g.line.bit_length() - 1
                nslot = g.sets * g.ways
                row[K.G_SETS], row[K.G_WAYS], row[K.G_LBITS] = 1, nslot, lbits
                # (LRU for the policies of real chips: docs/model.md, 3C)
                row[K.G_POLICY] = K.LRU if g.policy in STATE_POLICIES else _POLICIES[g.policy]
                if g.sets == 1:  # fully associative: its own shadow (kernels._shadow)
                    row[K.G_SETS] = 0
                else:
                    records(row, nslot)
                    hashed_sets(row, 1, nslot, lbits)
                if window is not None:  # a bitmap of the window's lines seen
                    lo = window[0] >> lbits
                    row[K.G_SEENLO], row[K.G_SEENN] = lo, ((window[1] - 1) >> lbits) - lo + 1
                    row[K.G_SEENMAP], off = off, off + -(-row[K.G_SEENN] // 64)
                    fill.append((row[K.G_SEENMAP], off))
                self._seen_hbits.append(SEEN_BITS["window" if window is not None else "trace"])
                rows.append(row)
        self.geometry = geometry
        self._levels = levels
        self._seen_at = off  # the hash sets of lines seen, then the stack: both may grow
        for k, hb in enumerate(self._seen_hbits):
            rows[levels + k][K.G_SEENKEY], rows[levels + k][K.G_SEENHB] = off, hb
            off += 1 << hb
        self._stack_at = off
        check_state(geometry, window, max_access, ccc)
        depth = self._depth(max_access)
        self.S = np.full(off + depth * K.NSTACK, -1, dtype=np.int64)
        S = self.S
        S[:K.HDR] = 0
        S[K.H_LEVELS], S[K.H_CTR], S[K.H_QUICK] = levels, ctr, quick
        S[K.H_STACK], S[K.H_DEPTH] = off, depth
        S[K.H_RNG] = np.array([seed], dtype=np.uint64).view(np.int64)[0]
        # the shadows' generator: another seed (never 0, which xorshift keeps at 0)
        S[K.H_RNG2] = np.array([(seed ^ 0x5DEECE66D) or 1], dtype=np.uint64).view(np.int64)[0]
        S[K.HDR:ctr] = np.array(rows, dtype=np.int64).reshape(-1)
        S[ctr:quick + 4 * K.NTENSORS] = 0  # counters and quick counters
        if ccc:
            S[K.H_CCC] = ccc_at
            S[ccc_at:ccc_at + 2 * levels * K.NTENSORS * K.NCCC] = 0
        if self.pf:
            S[K.H_PF] = pf_at
            S[pf_at:pf_at + 2 * levels * K.NTENSORS * K.NX] = 0
        for start, end in fill:
            S[start:end] = 0
        for start, end, value in orders:
            S[start:end:2] = value
        S[K.H_FITS] = max_access
        if boxed:
            S[K.H_BOX], S[K.H_BOXCAP] = box_at, boxed

    def _shadow_row(self, lv: int) -> int:
        return K.HDR + (self._levels + lv) * K.NGEO

    def _grow_seen(self) -> None:
        """Give every half-full hash set of lines seen four times the room (the stack,
        empty between kernel calls, moves after them)."""
        old = self.S
        keep = []
        for k, hb in enumerate(self._seen_hbits):
            sg = self._shadow_row(k)
            count = int(old[sg + K.G_SEENCOUNT])
            if 2 * count > (1 << hb) - 1:
                self._seen_hbits[k] = hb + 2
            at = int(old[sg + K.G_SEENKEY])
            keys = old[at:at + (1 << hb)]
            keep.append(keys[keys >= 0].copy())
        size = sum(1 << hb for hb in self._seen_hbits)
        depth = int(old[K.H_DEPTH])
        self.S = np.concatenate([old[:self._seen_at], np.full(size, -1, np.int64),
                                 np.zeros(depth * K.NSTACK, np.int64)])
        off = self._seen_at
        for k, hb in enumerate(self._seen_hbits):
            sg = self._shadow_row(k)
            self.S[sg + K.G_SEENKEY], self.S[sg + K.G_SEENHB] = off, hb
            self.S[sg + K.G_SEENCOUNT] = 0
            off += 1 << hb
            K.seen_insert(self.S, sg, keep[k])
        self._stack_at = off
        self.S[K.H_STACK] = off
        self.S[K.H_GROW] = 0

    @property
    def geo(self) -> np.ndarray:
        """Geometry rows, [level, field] (a view)."""
        return self.S[K.HDR:K.HDR + (len(self.geometry) + 1) * K.NGEO].reshape(-1, K.NGEO)

    @property
    def counters(self) -> np.ndarray:
        """counters[phase, level, tensor, kind] (a view; copy it to keep it)."""
        c, n = int(self.S[K.H_CTR]), len(self.geometry) + 1
        return self.S[c:c + 2 * n * K.NTENSORS * K.NKINDS].reshape(2, n, K.NTENSORS, K.NKINDS)

    @property
    def three_c(self) -> np.ndarray | None:
        """three_c[phase, level, tensor, kind] (a view), kinds kernels.COMPULSORY, CAPACITY,
        CONFLICT; None without classification."""
        if not self.ccc:
            return None
        c, n = int(self.S[K.H_CCC]), self._levels
        return self.S[c:c + 2 * n * K.NTENSORS * K.NCCC].reshape(2, n, K.NTENSORS, K.NCCC)

    @property
    def prefetch(self) -> np.ndarray | None:
        """prefetch[phase, level, tensor, kind] (a view), kinds kernels.PF_ISSUED, PF_MISSES,
        PF_USEFUL, PF_UNUSED (evicted unused); None when no level prefetches."""
        return self._extended()[..., :K.NPF] if self.prefetching else None

    @property
    def inclusion(self) -> np.ndarray | None:
        """inclusion[phase, level, tensor, kind] (a view), kinds kernels.X_INVALIDATED,
        X_VICTIMS, X_PROMOTED less NPF; None when every level is non-inclusive non-exclusive."""
        return self._extended()[..., K.NPF:] if self.including else None

    def _extended(self) -> np.ndarray:
        c, n = int(self.S[K.H_PF]), self._levels
        return self.S[c:c + 2 * n * K.NTENSORS * K.NX].reshape(2, n, K.NTENSORS, K.NX)

    def prefetch_left(self) -> np.ndarray | None:
        """[level, tensor]: lines a prefetch installed that are still unused (M_PF) now."""
        if not self.prefetching:
            return None
        out = np.zeros((self._levels, K.NTENSORS), dtype=np.int64)
        for lv in range(len(self.geometry)):
            tag, meta = self._records(lv)
            owners = (meta[(tag >= 0) & ((meta & K.M_PF) != 0)] >> K.M_OWNER) & 7
            out[lv] = np.bincount(owners, minlength=K.NTENSORS)[:K.NTENSORS]
        return out

    def _depth(self, max_access: int) -> int:
        """Stack entries that an access of `max_access` bytes can need at once."""
        return stack_depth(self.geometry, max_access)

    def reserve(self, max_access: int) -> None:
        """Make the request stack deep enough for accesses of up to `max_access` bytes."""
        if max_access > self.S[K.H_FITS]:
            depth = self._depth(max_access)
            if depth > self.S[K.H_DEPTH]:
                self.S = np.concatenate(
                    [self.S[:self._stack_at], np.zeros(depth * K.NSTACK, dtype=np.int64)])
                self.S[K.H_DEPTH] = depth
            self.S[K.H_FITS] = max_access

    def replay(self, addr, size, is_write, tensor) -> None:
        """Run one chunk of trace arrays (run phase)."""
        addr, size, is_write, tensor = (np.asarray(a) for a in (addr, size, is_write, tensor))
        check_chunk(addr, size, is_write, tensor)
        if len(addr) == 0:
            return
        arrays = (np.ascontiguousarray(addr, dtype=np.int64),
                  np.ascontiguousarray(size, dtype=np.int64),
                  np.ascontiguousarray(is_write, dtype=np.uint8),
                  np.ascontiguousarray(tensor, dtype=np.int8))
        # the kernel finds the largest access in a pass it makes anyway; if the stack is
        # too shallow for it, it does nothing and says so. Classifying, it may stop early
        # for a table of lines seen to grow
        kernel = (K.RUN_TRACE_PF if self.pf else K.RUN_TRACE_CCC if self.ccc
                  else K.RUN_TRACE)[self.hashed]
        while (r := int(kernel(self.S, *arrays))) != 0:
            if r > 0:
                self.reserve(r)
            else:
                self._grow_seen()
                arrays = tuple(a[-r:] for a in arrays)

    def walk(self, idx, ext, coef, base, tensors, dtype_bytes, rows, cols, limits, start,
             count) -> int:
        """Walk `count` iterations of a loop nest from `start` (kernels.run_nest). Returns
        the MACs performed."""
        kernel = nest_kernel(self.ccc, len(limits) > 0, self.pf)[self.hashed]
        macs = int(kernel(self.S, idx, ext, coef, base, tensors, dtype_bytes, rows, cols,
                          limits, start, count))
        if self.S[K.H_GROW]:  # lines outside the window's bitmaps (not for a layer's nests)
            self._grow_seen()
        return macs

    def _records(self, lv: int) -> tuple[np.ndarray, np.ndarray]:
        """A level's line numbers and meta words, per slot (set * ways + way)."""
        g = self.geometry[lv]
        n = g.sets * g.ways
        tag, meta = int(self.geo[lv, K.G_TAG]), int(self.geo[lv, K.G_META])
        return self.S[tag:tag + n], self.S[meta:meta + n]

    def flush_order(self, lv: int) -> np.ndarray:
        """The slots of level `lv`'s dirty lines in the order the flush writes them back:
        Dinero IV's (misc.c, d4copyback), which walks the sets from the first, each from its
        most recent line, and stacks every dirty line's write-back (last in, first out). So
        the last set goes first, and within a set the least recent line (under FIFO the
        oldest; under random, which keeps no order, the highest way: `set_ways`)."""
        g = self.geometry[lv]
        tag, meta = self._records(lv)
        geo = self.geo[lv]
        ways = np.arange(g.ways, dtype=np.int64)
        if g.policy in BY_WAY:
            rank = np.broadcast_to(ways, (g.sets, g.ways))  # by way, way 0 first
        elif g.ways <= K.SCAN_WAYS:  # the order words' fields, most recent first
            sw = int(geo[K.G_SW])
            order = self.S[sw + 1:sw + 2 * g.sets:2]
            rank = (order[:, None] >> (4 * ways)[None, :]) & 15
        else:  # each set's ring, from its head (the filled ways only)
            rank = np.full((g.sets, g.ways), -1, dtype=np.int64)
            nxt, head = int(geo[K.G_NXT]), int(geo[K.G_HEAD])
            for s in np.flatnonzero(self.S[head:head + g.sets] >= 0).tolist():
                first = s * g.ways
                ring = (self.S[nxt + first:nxt + first + g.ways] - first).tolist()
                way = h = int(self.S[head + s]) - first
                for k in range(g.ways):
                    rank[s, k] = way
                    way = ring[way]
                    if way == h:
                        break
        slots = rank + (np.arange(g.sets, dtype=np.int64) * g.ways)[:, None]
        slots = slots[::-1, ::-1].reshape(-1)  # the last set first, its least recent first
        slots = slots[rank[::-1, ::-1].reshape(-1) >= 0]
        return slots[((meta[slots] & K.M_DIRTY) != 0) & (tag[slots] >= 0)]

    def flush(self) -> None:
        """Write every dirty line down, level by level, innermost first, each level in
        Dinero IV's order (`flush_order`)."""
        for lv in range(len(self.geometry)):
            order = self.flush_order(lv)
            (K.FLUSH_LEVEL_PF if self.pf else K.FLUSH_LEVEL[self.ccc])(self.S, lv, order)
            if self.S[K.H_GROW]:
                self._grow_seen()

    def contents(self) -> list[list[list[tuple[int, bool] | None]]]:
        """Per level, per set, per physical way: (line number, dirty) or None — for small
        tests."""
        out = []
        for lv, g in enumerate(self.geometry):
            tag, meta = self._records(lv)
            sets = []
            for s in range(g.sets):
                ways: list[tuple[int, bool] | None] = [None] * g.ways
                for k in range(s * g.ways, (s + 1) * g.ways):
                    if tag[k] >= 0:
                        ways[k - s * g.ways] = (int(tag[k]), bool(meta[k] & K.M_DIRTY))
                sets.append(ways)
            out.append(sets)
        return out

    def set_ways(self, lv: int, s: int) -> list[tuple[int, int, bool, int]]:
        """The lines set `s` of level `lv` holds, as (way, line number, dirty, tensor), in
        the kernels' own order: under LRU most recent first, under FIFO newest first (a
        scanned set's order word, lowest field first; a hashed set's ring, from its head);
        under random, plru, bitplru, srrip and brrip, by way. Ways never filled are left
        out. (simcache explain)"""
        g = self.geometry[lv]
        if not 0 <= s < g.sets:
            raise ValueError(f"set {s} of {g.name}: it has sets 0 to {g.sets - 1}")
        first, geo = s * g.ways, self.geo[lv]
        tag, meta = (a[first:first + g.ways].tolist() for a in self._records(lv))
        if g.policy in BY_WAY:
            ways = list(range(g.ways))
        elif g.ways <= K.SCAN_WAYS:
            order = int(self.S[int(geo[K.G_SW]) + 2 * s + 1])
            ways = [(order >> (4 * k)) & 15 for k in range(g.ways)]
        else:
            nxt = int(geo[K.G_NXT]) + first
            ring = (self.S[nxt:nxt + g.ways] - first).tolist()  # ways, not slots
            ways, way = [], int(self.S[int(geo[K.G_HEAD]) + s]) - first
            while way >= 0 and len(ways) < g.ways:
                ways.append(way)
                way = ring[way]
                if way == ways[0]:
                    break
        return [(w, tag[w], bool(meta[w] & K.M_DIRTY), (meta[w] >> K.M_OWNER) & 7)
                for w in ways if tag[w] >= 0]


def nest_kernel(ccc: bool, guarded: bool, pf: bool = False) -> tuple:
    """The nest kernels (indexed by a hashed first level) that classify misses (`ccc`) or
    not, and walk guard forms (`guarded`) or not."""
    if guarded:
        return K.RUN_NEST_GUARDED_PF if pf else K.RUN_NEST_GUARDED[ccc]
    if pf:
        return K.RUN_NEST_PF
    return K.RUN_NEST_CCC if ccc else K.RUN_NEST


def guarded(layer: Layer) -> bool:
    """Whether a layer's nests have guard forms (a tile that does not divide its loop)."""
    return any(n.limits for n in plan(layer).nests)


def hashed_first_level(geometry: list[Geometry]) -> bool:
    """Whether the first level has many ways (hashed sets), which selects the kernels."""
    return bool(geometry) and geometry[0].ways > K.SCAN_WAYS


# ---------------------------------------------------------------- kernel families
#
# A command runs the kernels of a few families, and compiles (on its first run) or loads
# exactly those. A family is a variant of the request path (plain; `3c`, classifying
# misses; `pf`, with prefetchers and inclusion; `mrc`, recording what reaches main memory)
# and one of its loops (`nest`: a layer's loop nest; `guarded`: a nest with guard forms,
# a tile that does not divide its loop; `trace`: trace arrays), each compiled for a first
# level of few ways (scanned sets) and for one of many (hashed): a unit is (family,
# hashed). The variant's request path and end-of-run flush are compiled with its first
# unit; the other units of the variant reuse them (in the process, or from the cache).

VARIANTS = ("plain", "3c", "pf", "mrc", "dram", "drampf")
LOOPS = ("nest", "guarded", "trace")
FAMILIES = tuple(f"{v}-{lp}" for v in VARIANTS for lp in LOOPS)
KIND = {False: "scanned", True: "hashed"}  # the first level's sets

# Seconds of a cold compile on the 2-core machine of BENCHMARKS.md (Compile times, measured
# 2026-12-07 with `python benchmarks/bench.py compile`, CPU time of the compiling process
# on a machine shared with other work): a variant's request path and flush, paid by its
# first unit that compiles, and each unit's own loop, (scanned, hashed).
_PATH_S = {"plain": 28.1, "3c": 46.2, "pf": 35.0, "mrc": 36.2,
           # the DRAM model's tap loops (docs/model.md, DRAM): not measured, assumption:
           # as mrc's, and the prefetch variant's as pf's
           "dram": 36.2, "drampf": 35.0}
_LOOP_S = {"plain-nest": (14.8, 14.8), "plain-guarded": (13.9, 12.9), "plain-trace": (2.2, 1.8),
           "3c-nest": (17.0, 17.0), "3c-guarded": (18.0, 16.4), "3c-trace": (1.8, 1.8),
           "pf-nest": (16.4, 16.4), "pf-guarded": (15.5, 14.5), "pf-trace": (2.1, 1.4),
           "mrc-nest": (15.3, 15.3), "mrc-guarded": (15.6, 14.2), "mrc-trace": (1.4, 2.2),
           "dram-nest": (15.3, 15.3), "dram-guarded": (15.6, 14.2), "dram-trace": (1.4, 2.2),
           "drampf-nest": (16.4, 16.4), "drampf-guarded": (15.5, 14.5),
           "drampf-trace": (2.1, 1.4)}
_LOAD_S = 0.3  # a unit loaded from the cache


def variant_of(geometry: list[Geometry], ccc: bool = False) -> str:
    """The request path a hierarchy's runs take: `pf` when a level prefetches or is
    inclusive or exclusive (whatever `ccc` asks: the two do not combine, State refuses
    it), else `3c` when misses are classified, else `pf` when a level uses plru, bitplru,
    srrip or brrip (`stateful`), else `plain`."""
    return "pf" if general(geometry, ccc) else "3c" if ccc else "plain"


def units_for(geometries: Iterable[list[Geometry]], jobs: Iterable = (),
              needs: Iterable[str] = ("nest",), ccc: bool = False) -> set[tuple[str, bool]]:
    """The units a command runs: for each job (api.Job: a hierarchy and a layer) the nest
    loops its layer's nests take, guarded or not; with "trace" in `needs`, the trace loop
    for each hierarchy of `geometries`; with "nest" and no jobs, the nest loop for each.
    Misses are classified where `ccc` or a job (j.three_c) asks for it."""
    needs, jobs = set(needs), list(jobs)
    ccc = ccc or any(j.three_c for j in jobs)  # a network's operators too, with its layers
    out = set()
    if "nest" in needs:
        for j in jobs:
            g = j.geometry()
            v = variant_of(g, ccc or j.three_c)
            for n in plan(j.layer).nests:
                out.add((f"{v}-{'guarded' if n.limits else 'nest'}", hashed_first_level(g)))
        if not jobs:
            out.update((f"{variant_of(g, ccc)}-nest", hashed_first_level(g))
                       for g in geometries)
    if "trace" in needs:
        out.update((f"{variant_of(g, ccc)}-trace", hashed_first_level(g)) for g in geometries)
    for j in jobs:  # memory as DRAM: its second pass runs the tap loops (docs/model.md, DRAM)
        if getattr(getattr(j, "hierarchy", None), "memory", None) is None or \
                getattr(j.hierarchy.memory, "dram", None) is None:
            continue
        g = j.geometry()
        dv, hashed = "drampf" if general(g) else "dram", hashed_first_level(g)
        if "nest" in needs:
            for n in plan(j.layer).nests:
                out.add((f"{dv}-{'guarded' if n.limits else 'nest'}", hashed))
        if "trace" in needs:
            out.add((f"{dv}-trace", hashed))
    return out


def all_units(families: Iterable[str] = FAMILIES) -> list[tuple[str, bool]]:
    return [(f, h) for f in families for h in (False, True)]


def tiny_nest(guarded: bool) -> tuple:
    """Arguments (after the state) of a nest kernel for one iteration of a nest of 8
    loops, with one guard that always holds if `guarded`."""
    nest = (np.zeros(8, np.int64), np.ones(8, dtype=np.int64), np.zeros((5, 8), np.int64),
            np.zeros(5, np.int64), np.zeros(3, np.int64), 4, -1, -1, np.zeros(0, np.int64),
            0, 1)
    if not guarded:
        return nest
    return (np.zeros(9, np.int64), nest[1], np.zeros((6, 8), np.int64),
            np.zeros(6, np.int64), *nest[4:8], np.ones(1, np.int64), 0, 1)


def tiny_trace() -> tuple:
    """Arguments (after the state) of a trace kernel for one access."""
    one = np.ones(1, dtype=np.int64)
    return (one, one, one.astype(np.uint8), one.astype(np.int8))


def tiny_first(hashed: bool, prefetch: str = "none") -> Geometry:
    """A first level of few ways (scanned) or many (hashed)."""
    if hashed:
        return Geometry("warm-up", 128, 4, 32, 1, "lru", True, True, prefetch)
    return Geometry("warm-up", 64, 16, 2, 2, "lru", True, True, prefetch)


def unit_steps(family: str, hashed: bool) -> tuple[list[tuple], Callable[[], None]]:
    """The (kernel, arguments) a unit compiles, and a call that runs them on a tiny
    problem (which compiles or loads them)."""
    v, _, loop = family.partition("-")
    if v not in VARIANTS or loop not in LOOPS:
        raise ValueError(f"no kernel family {family!r}")
    if v == "mrc":
        from . import mrc  # the stack-distance kernels live there

        return mrc.warm_steps(hashed, loop)
    if v in ("dram", "drampf"):
        from . import dram  # the DRAM post-pass lives there

        return dram.warm_steps(hashed, loop, v == "drampf")
    state = State([tiny_first(hashed, "miss" if v == "pf" else "none")], ccc=v == "3c")
    if loop == "trace":
        kernel = (K.RUN_TRACE_PF if v == "pf" else K.RUN_TRACE_CCC if v == "3c"
                  else K.RUN_TRACE)[hashed]
        args = tiny_trace()
    else:
        kernel = nest_kernel(v == "3c", loop == "guarded", v == "pf")[hashed]
        args = tiny_nest(loop == "guarded")
    flush = K.FLUSH_LEVEL_PF if v == "pf" else K.FLUSH_LEVEL[v == "3c"]
    steps = [(kernel, (state.S, *args)), (flush, (state.S, 0, np.zeros(0, np.int64)))]

    def run() -> None:
        for k, a in steps:
            k(*a)

    return steps, run


def unit_cached(unit: tuple[str, bool]) -> bool:
    """Whether every kernel of a unit will load rather than compile."""
    return all(_cached(k, a) for k, a in unit_steps(*unit)[0])


def describe(units: Iterable[tuple[str, bool]]) -> str:
    """'pf-nest (hashed), pf-trace (scanned and hashed)'."""
    kinds: dict[str, list[bool]] = {}
    for f, h in sorted(units, key=lambda u: (FAMILIES.index(u[0]), u[1])):
        kinds.setdefault(f, []).append(h)
    return ", ".join(f"{f} ({' and '.join(KIND[h] for h in hs)})" for f, hs in kinds.items())


def compile_estimate(missing: Iterable[tuple[str, bool]],
                     have: Iterable[str] = ()) -> float:
    """Seconds a cold compile of the `missing` units takes, roughly (_PATH_S, _LOOP_S):
    each unit's loop, and the request path of each variant not in `have` (variants with a
    unit compiled or cached already)."""
    missing = set(missing)
    paths = {f.partition("-")[0] for f, _ in missing} - set(have)
    return sum(_PATH_S[v] for v in paths) + sum(_LOOP_S[f][h] for f, h in missing)


def _cached(kernel, args) -> bool:
    """Whether `kernel` called with `args` will load rather than compile: it is compiled in
    this process already, or Numba's cache index on disk lists it for these argument types
    (read without loading the code). False when unsure."""
    try:
        sig = tuple(kernel.typeof_pyval(a) for a in args)
        if sig in kernel.overloads:
            return True
        if not K.CACHE:
            return False
        cache = kernel._cache  # Numba's own, as its dispatcher uses it
        key = cache._index_key(sig, kernel.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # Numba's internals changed: say it may compile
        return False


def _misses(steps: list[tuple]) -> int:
    """Numba's count of compilations that found no cache (per process) of these kernels."""
    return sum(sum(k.stats.cache_misses.values()) for k, _ in steps)


def compile_units(units: Iterable[tuple[str, bool]],
                  done: Callable[[tuple[str, bool], float, bool], None] | None = None
                  ) -> list[tuple[tuple[str, bool], float, bool]]:
    """Compile or load each unit, in order (each variant's first unit compiles its
    request path); (unit, seconds, compiled now) each, also passed to `done` as each
    finishes."""
    out = []
    for unit in units:
        steps, run = unit_steps(*unit)
        before = _misses(steps)
        t0 = time.perf_counter()
        run()
        item = (unit, time.perf_counter() - t0, _misses(steps) > before)
        out.append(item)
        if done is not None:
            done(*item)
    return out


def _order(units: Iterable[tuple[str, bool]]) -> list[tuple[str, bool]]:
    return sorted(set(units), key=lambda u: (FAMILIES.index(u[0]), u[1]))


DEFAULT_UNITS = tuple(all_units(("plain-nest", "plain-trace")))


def warm_up(units: Iterable[tuple[str, bool]] = DEFAULT_UNITS,
            announce: Callable[[str], None] | None = None) -> tuple[float, bool]:
    """Compile or load the kernels of these units ((family, hashed first level), see
    FAMILIES and `units_for`) on tiny problems; by default the plain nest and trace loops
    for both kinds of first level.

    When a unit is about to compile rather than load from the cache, `announce` (if given)
    is called once, beforehand, with a line that names the units and says about how long
    they take (_PATH_S, _LOOP_S); and once after, with the time it took. Returns
    (seconds, compiled now)."""
    units = _order(units)
    missing = [u for u in units if not unit_cached(u)]
    said = bool(missing) and announce is not None
    if said:
        have = {f.partition("-")[0] for f, _ in set(units) - set(missing)}
        have |= {v for v in VARIANTS if any(f.startswith(v + "-") for f, _ in missing)
                 and _variant_cached(v)}
        about = max(5, round(compile_estimate(missing, have) / 5) * 5)
        announce(f"simcache: compiling the simulation kernels {describe(missing)} (first run "
                 f"only, about {about} s)…")
    t0 = time.perf_counter()
    results = compile_units(units)
    seconds, compiled = time.perf_counter() - t0, any(c for _, _, c in results)
    if announce is not None and (said or compiled):  # one line after the one before
        what = "compiled" if compiled else "loaded"
        later = " (later runs reuse the cache)" if compiled and K.CACHE else ""
        announce(f"simcache: {what} the simulation kernels in {seconds:.1f} s{later}")
    return seconds, compiled


def _variant_cached(v: str) -> bool:
    """Whether some unit of variant `v` is compiled or cached: its request path is."""
    return any(unit_cached(u) for u in all_units(f"{v}-{lp}" for lp in LOOPS))


def window_of(p: Plan) -> tuple[int, int]:
    """The byte range of a layer's tensors (State's `window`)."""
    return min(t.base for t in p.tensors), max(t.base + t.nbytes for t in p.tensors)


def simulate(hierarchy: Hierarchy, layer: Layer, progress: Progress | None = None,
             ccc: bool = False) -> Result:
    """Run a layer's loop nest through the hierarchy, flush, and return the counts (with
    every cache level's misses classified, if `ccc`)."""
    t0 = time.perf_counter()
    problems = layer.problems() + limit_problems(layer)
    if problems:
        raise LayerError(problems)
    p = plan(layer)
    geometry = hierarchy.geometry(layer.dtype_bytes)
    window = window_of(p)
    state = State(geometry, hierarchy.seed, window, layer.dtype_bytes, ccc=ccc)
    total, done, macs = p.iterations, 0, 0
    for nest in p.nests:
        rows, cols = nest.bounds if nest.bounds is not None else (-1, -1)
        limits = np.array(nest.limits, dtype=np.int64)
        idx = np.zeros(len(nest.ext) + len(limits), dtype=np.int64)  # odometer scratch
        for start in range(0, nest.iterations, NEST_CHUNK):
            count = min(NEST_CHUNK, nest.iterations - start)
            macs += state.walk(idx, nest.ext, nest.coef, nest.base,
                               np.array(nest.tensors, np.int64), nest.dtype_bytes,
                               rows, cols, limits, start, count)
            done += count
            if progress is not None:
                progress(done, total)
    state.flush()
    return Result(hierarchy.level_names, state.counters.copy(), 4 * macs, macs,
                  time.perf_counter() - t0, layer, p, geometry, _copy(state.three_c),
                  _copy(state.prefetch), state.prefetch_left(), _copy(state.inclusion))


def _copy(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else a.copy()


def simulate_chain(hierarchy: Hierarchy, steps: Iterable, element_bytes: int = 4,
                   window: tuple[int, int] | None = None, progress: Progress | None = None,
                   ccc: bool = False) -> tuple[list[Result], Result]:
    """Run the steps of one inference (chain.Step: a layer's `plan` of nests, or an
    operator's `chunks()` of trace arrays) through ONE state of the hierarchy, in order,
    then flush once. Returns a Result per step (the change in the counters while it ran:
    run phase only) and the flush's Result (flush phase only). `window`: the byte range
    of every tensor (chain.Chain.window). Progress: in trace accesses (a layer's nest
    iterations count four)."""
    steps = list(steps)
    geometry = hierarchy.geometry(element_bytes)
    state = State(geometry, hierarchy.seed, window, element_bytes, ccc=ccc)
    total = sum(s.accesses for s in steps)
    done, out = 0, []

    def counts() -> tuple[np.ndarray, np.ndarray | None]:
        return state.counters.copy(), _copy(state.three_c)

    def since(before: np.ndarray | None) -> np.ndarray | None:
        return None if before is None else state.inclusion - before

    def prefetched(before: np.ndarray | None, left: np.ndarray | None = None):
        """The prefetch counts since `before`, and the lines still unused (`left`: given
        for the flush, the end of the inference; none for a step, whose lines may still
        be used by a later one)."""
        if before is None:
            return None, None
        now = state.prefetch
        return now - before, left if left is not None else np.zeros_like(state.prefetch_left())

    try:
        for step in steps:
            t0 = time.perf_counter()
            before, before3 = counts()
            pf0, inc0 = _copy(state.prefetch), _copy(state.inclusion)
            macs = n = 0
            if step.plan is not None:
                for nest in step.plan.nests:
                    rows, cols = nest.bounds if nest.bounds is not None else (-1, -1)
                    limits = np.array(nest.limits, dtype=np.int64)
                    idx = np.zeros(len(nest.ext) + len(limits), dtype=np.int64)
                    for start in range(0, nest.iterations, NEST_CHUNK):
                        count = min(NEST_CHUNK, nest.iterations - start)
                        macs += state.walk(idx, nest.ext, nest.coef, nest.base,
                                           np.array(nest.tensors, np.int64), nest.dtype_bytes,
                                           rows, cols, limits, start, count)
                        done += 4 * count
                        if progress is not None:
                            progress(done, total)
                n = 4 * macs
            else:
                for chunk in step.chunks():
                    state.replay(*chunk)
                    n += len(chunk[0])
                    done += len(chunk[0])
                    if progress is not None:
                        progress(done, total)
            after, after3 = counts()
            pf, left = prefetched(pf0)
            out.append(Result(hierarchy.level_names, after - before, n, macs,
                              time.perf_counter() - t0, step.entry.layer, step.plan, geometry,
                              None if after3 is None else after3 - before3, pf, left,
                              since(inc0)))
    except BaseException as exc:
        # an interrupt, or a stop (study.Cancelled): the steps finished so far go with it,
        # for the caller to report them (api.network: a partial result)
        exc.finished_steps = list(out)
        raise
    t0 = time.perf_counter()
    before, before3 = counts()
    pf0, inc0 = _copy(state.prefetch), _copy(state.inclusion)
    state.flush()
    after, after3 = counts()
    pf, left = prefetched(pf0, state.prefetch_left() if pf0 is not None else None)
    flush = Result(hierarchy.level_names, after - before, 0, 0, time.perf_counter() - t0,
                   geometry=geometry, three_c=None if after3 is None else after3 - before3,
                   prefetch=pf, prefetch_left=left, inclusion=since(inc0))
    return out, flush


def simulate_trace(hierarchy: Hierarchy, chunks: Iterable[tuple[np.ndarray, ...]],
                   element_bytes: int = 4, progress: Progress | None = None,
                   total: int = 0, ccc: bool = False) -> Result:
    """Replay (addr, size, is_write, tensor) chunks through the hierarchy, then flush."""
    t0 = time.perf_counter()
    geometry = hierarchy.geometry(element_bytes)
    state = State(geometry, hierarchy.seed, ccc=ccc)
    n = 0
    for addr, size, is_write, tensor in chunks:
        state.replay(addr, size, is_write, tensor)
        n += len(addr)
        if progress is not None:
            progress(n, total)
    state.flush()
    return Result(hierarchy.level_names, state.counters.copy(), n, 0, time.perf_counter() - t0,
                  geometry=geometry, three_c=_copy(state.three_c),
                  prefetch=_copy(state.prefetch), prefetch_left=state.prefetch_left(),
                  inclusion=_copy(state.inclusion))
