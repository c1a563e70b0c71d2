"""Plain-Python reference simulator for simcache.

This module is the slow, obvious reading of ``docs/model.md``. It is written
independently of ``simcache/`` (it imports nothing from it) so that the two can be
compared count for count. Clarity is everything here; speed does not matter.

Public functions
----------------
``simulate(levels, trace, seed=1, memory_name="memory") -> (counters, contents)``
    Run a trace through a cache hierarchy (model.md §2) and count (model.md §3).
``layer_trace(kind, B, M, N, F, K, G=1, stride=1, padding="skip", pad=None,
              order="bijnmpq", dtype_bytes=4) -> (trace, info)``
    The address stream of one layer (model.md §1).
``tiled_layer_trace(kind, B, M, N, F, K, tiles, order, ...) -> (trace, info)``
    The same with the loops tiled (model.md §1, "Tiling").
"""

from __future__ import annotations

import copy
import itertools

import numpy as np

# ---------------------------------------------------------------------------
# Index constants of the counters array
# ---------------------------------------------------------------------------

# axis 0: phase
RUN = 0
FLUSH = 1

# axis 2: tensor
X = 0
W = 1
Y = 2
T = 3
NONE = 4
TENSOR_NAMES = ("x", "w", "y", "t", "-")

# axis 3: counter
READS = 0
WRITES = 1
READ_HITS = 2
WRITE_HITS = 3
WRITEBACKS = 4
BYTES_READ = 5
BYTES_WRITTEN = 6
SERVED = 7
COUNTER_NAMES = (
    "reads",
    "writes",
    "read_hits",
    "write_hits",
    "writebacks",
    "bytes_read",
    "bytes_written",
    "served",
)

MASK64 = (1 << 64) - 1
POLICIES = ("lru", "fifo", "random", "plru", "bitplru", "srrip", "brrip")
NEW_POLICIES = ("plru", "bitplru", "srrip", "brrip")  # kept by state of their own
RRPV_MAX = 3  # 2-bit RRPVs (Jaleel et al., ISCA 2010: M = 2)
BRRIP_EPSILON = 32  # brrip inserts near (RRPV_MAX - 1) when a draw is 0 mod 32


# ---------------------------------------------------------------------------
# The random generator
# ---------------------------------------------------------------------------


class XorShift64:
    """xorshift64 exactly as in model.md: x ^= x << 13; x ^= x >> 7; x ^= x << 17.

    ``next()`` advances the state and returns the new state.
    """

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        x = self.state
        x = x ^ ((x << 13) & MASK64)
        x = x ^ (x >> 7)
        x = x ^ ((x << 17) & MASK64)
        self.state = x
        return x


# ---------------------------------------------------------------------------
# A cache level
# ---------------------------------------------------------------------------


class Line:
    """One cache line held in a way."""

    def __init__(self, number, dirty, tensor, prefetched=False):
        self.number = number  # line_number = address // line size
        self.dirty = dirty
        self.tensor = tensor  # tensor of the request that installed it
        # installed by a prefetch and not yet hit by any other request
        self.prefetched = prefetched


class Cache:
    """One cache level.

    ``self.ways_of[s]`` is the list of physical ways of set ``s``; each entry is a
    ``Line`` or ``None`` (an empty way: it never held a line, or inclusion removed it).

    ``self.order_of[s]`` lists the occupied way indices of set ``s``: for LRU from
    least to most recently used, for FIFO from earliest to latest installed. It is
    kept for every policy but only consulted by ``lru`` and ``fifo``.

    The policies of docs/model.md §2 "Replacement policies chips use" keep their own state
    per set: ``plru`` a binary tree of bits (``self.tree[s][node]``, nodes 1 to ways - 1,
    node n's children 2n and 2n + 1, a bit 0 pointing to the lower half of its ways);
    ``bitplru`` one MRU bit per way (``self.mru[s]``, a set of ways); ``srrip`` and
    ``brrip`` a re-reference prediction value per way (``self.rrpv[s][way]``, 0 to 3).
    """

    def __init__(self, spec):
        self.size = int(spec["size"])
        self.line = int(spec["line"])
        ways = spec["ways"]
        if ways == "full":
            ways = self.size // self.line
        self.ways = int(ways)
        self.policy = spec["policy"]
        self.write_back = bool(spec["write_back"])
        self.write_allocate = bool(spec["write_allocate"])
        self.prefetch = spec.get("prefetch", "none")
        self.prefetch_distance = int(spec.get("prefetch_distance", 1))
        if self.prefetch not in ("none", "always", "miss", "tagged"):
            raise ValueError(f"unknown prefetch policy {self.prefetch!r}")
        self.inclusion = spec.get("inclusion", "nine")
        if self.inclusion not in ("nine", "inclusive", "exclusive"):
            raise ValueError(f"unknown inclusion {self.inclusion!r}")
        self.register = bool(spec.get("register", False))  # outside inclusion

        if self.line <= 0 or (self.line & (self.line - 1)) != 0:
            raise ValueError(f"line size {self.line} is not a power of two")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}")
        if self.ways <= 0 or self.size % (self.line * self.ways) != 0:
            raise ValueError("size / (line * ways) is not an integer")
        self.sets = self.size // (self.line * self.ways)
        if self.sets <= 0:
            raise ValueError("size / (line * ways) is not positive")

        self.ways_of = [[None] * self.ways for _ in range(self.sets)]
        self.order_of = [[] for _ in range(self.sets)]
        if self.policy == "plru" and self.ways & (self.ways - 1):
            raise ValueError("plru needs a power-of-two number of ways")
        self.tree = [[0] * self.ways for _ in range(self.sets)]  # index 0 unused
        self.mru = [set() for _ in range(self.sets)]
        self.rrpv = [[RRPV_MAX] * self.ways for _ in range(self.sets)]

    # -- the replacement state of the policies of real chips ------------------

    def touched(self, s, way):
        """A lookup hit ``way`` of set ``s``: LRU makes it the most recent, plru points the
        tree away from it, bitplru sets its MRU bit, srrip and brrip predict a near
        re-reference (RRPV 0: the paper's Hit Priority). FIFO and random change nothing."""
        if self.policy == "lru":
            self.order_of[s].remove(way)
            self.order_of[s].append(way)
        elif self.policy == "plru":
            self._point_away(s, way)
        elif self.policy == "bitplru":
            self._mark(s, way)
        elif self.policy in ("srrip", "brrip"):
            self.rrpv[s][way] = 0

    def _point_away(self, s, way):
        bits, node, lo, hi = self.tree[s], 1, 0, self.ways
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if way < mid:  # in the lower half: point to the upper one
                bits[node] = 1
                node, hi = 2 * node, mid
            else:
                bits[node] = 0
                node, lo = 2 * node + 1, mid

    def _mark(self, s, way):
        marked = self.mru[s]
        marked.add(way)
        if len(marked) == self.ways:  # every bit would be set: only this one stays
            marked.clear()
            marked.add(way)

    def victim(self, s, rng):
        """The way a full set ``s`` evicts under plru, bitplru, srrip or brrip."""
        if self.policy == "plru":
            bits, node, lo, hi = self.tree[s], 1, 0, self.ways
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if bits[node] == 0:
                    node, hi = 2 * node, mid
                else:
                    node, lo = 2 * node + 1, mid
            return lo
        if self.policy == "bitplru":
            for way in range(self.ways):
                if way not in self.mru[s]:
                    return way
            return 0  # (one way: its bit is always set)
        values = self.rrpv[s]  # srrip, brrip: the first distant line, after ageing
        while True:
            for way in range(self.ways):
                if values[way] == RRPV_MAX:
                    return way
            for way in range(self.ways):
                values[way] += 1

    def filled(self, s, way, rng):
        """A line was installed in ``way``: its state as the policy inserts it. brrip draws
        from the shared generator on every insertion."""
        if self.policy in ("plru", "bitplru"):
            self.touched(s, way)
        elif self.policy == "srrip":
            self.rrpv[s][way] = RRPV_MAX - 1
        elif self.policy == "brrip":
            near = rng.next() % BRRIP_EPSILON == 0
            self.rrpv[s][way] = RRPV_MAX - 1 if near else RRPV_MAX

    def emptied(self, s, way):
        """Inclusion took the line out of ``way``: bitplru clears its bit; the tree bits and
        the RRPVs stay (an empty way is filled before any victim is chosen)."""
        self.mru[s].discard(way)

    def find(self, s, line_number):
        """Physical way of set ``s`` holding ``line_number``, or None."""
        for way, line in enumerate(self.ways_of[s]):
            if line is not None and line.number == line_number:
                return way
        return None

    def contents(self):
        """Per set, the list of (line_number, dirty) in physical way order."""
        result = []
        for s in range(self.sets):
            row = []
            for line in self.ways_of[s]:
                if line is None:
                    row.append(None)
                else:
                    row.append((line.number, line.dirty))
            result.append(row)
        return result


# ---------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------


# prefetch counters (axis 3 of the ``prefetch`` array)
PF_ISSUED, PF_MISSES, PF_USEFUL, PF_UNUSED = range(4)
# inclusion counters (axis 3 of the ``inclusion`` array)
INVALIDATED, VICTIMS, PROMOTED = range(3)
MAX_ADDRESS = (1 << 63) - 1

SHADOW_SEED = 0x5DEECE66D  # the shadows' generator: seed ^ this (or 1 if that is 0)
COMPULSORY, CAPACITY, CONFLICT = range(3)


def simulate(levels, trace, seed=1, memory_name="memory", three_c=None, marks=None,
             prefetch=None, prefetch_left=None, inclusion=None, extra_snapshots=None):
    """Run ``trace`` through the hierarchy ``levels`` (innermost first) + memory.

    levels: list of dicts with keys ``size``, ``line``, ``ways`` (int, or "full"),
        ``policy`` ('lru' | 'fifo' | 'random'), ``write_back``, ``write_allocate``.
        Main memory is implicit after the last level.
    trace: iterable of ``(addr, size, is_write, tensor)`` with tensor in 0..4
        (x, w, y, t, none).
    seed: seed of the single xorshift64 generator shared by all random levels.
    memory_name: name of the memory level; only informative (not used in counting).

    Returns ``(counters, contents)``:

    counters: int64 array of shape (2, len(levels) + 1, 5, 8) indexed
        [phase (0 run, 1 flush), level (last = memory), tensor, counter] with the
        counters in the order reads, writes, read_hits, write_hits, writebacks,
        bytes_read, bytes_written, served.
    contents: ``contents[L][s]`` is the list of ``(line_number, dirty)`` (or None for a
        way that never held a line) of set ``s`` of level ``L``, in physical way
        order, taken AFTER the trace and BEFORE the end-of-run flush (the flush only
        marks lines clean; it removes none from the level it flushes).

    three_c: if given, an int64 array of shape (2, len(levels) + 1, 5, 3) that receives,
        per [phase, level, tensor], the misses of each cache level classified as
        compulsory, capacity and conflict (Dinero IV's -lN-Tccc): every request a level
        looks up also goes to a fully associative cache of the same size, line and
        policy (its "shadow"; random shadows draw from a generator of their own), which
        installs the line on a miss whenever the level itself would install it; a fully
        associative level is its own shadow. A miss of the level is a conflict miss if
        the shadow held the line; otherwise it is compulsory if the line never missed
        both before, and capacity if it did.
    marks: if given, trace positions (ascending) at which a copy of the counters is
        taken before that access runs (a position equal to the trace's length: after the
        last access, before the flush); then ``(counters, contents, snapshots)`` is
        returned, one copy per mark. extra_snapshots: if given (a list), it receives at
        each mark a copy of ``(prefetch, inclusion)`` as well (None for one not given).

    prefetch: if given, an int64 array of shape (2, len(levels) + 1, 5, 4) that receives,
        per [phase, level, tensor], the prefetches issued, those that missed (and fetched
        the line from below), the prefetched lines later hit by another request (useful),
        and those evicted before that (unused). A level's ``prefetch`` key ('none',
        'always', 'miss', 'tagged') and ``prefetch_distance`` (lines) choose when a read
        that is not itself a prefetch prefetches line + distance (Dinero IV's fetch
        policies; docs/model.md, "Prefetch"). prefetch_left, if given, (len(levels) + 1,
        5): the prefetched lines still unused after the flush.

    inclusion: if given, an int64 array of shape (2, len(levels) + 1, 5, 3) that receives,
        per [phase, level, tensor], the lines removed from the level by back-invalidation,
        the lines written into an exclusive level by the level above (its victims, and its
        flushed lines), and the lines that moved up from an exclusive level. A level's
        ``inclusion`` key ('nine', 'inclusive', 'exclusive'; docs/model.md, "Inclusion"):
        when an inclusive level evicts a line, every cache level above it (``register``
        levels excepted) drops its copies of the line's bytes, and the victim is written
        below if it or one of them was dirty; every line the level above an exclusive
        level evicts, clean or dirty, is written into it; a fetch from above that hits an
        exclusive level takes the line out of it, with its dirty state, and one that
        misses passes through to the level below without installing it there. An empty
        way is filled before any line is evicted (the lowest empty way first).
    """
    del memory_name  # informative only
    caches = [Cache(spec) for spec in levels]
    # a level under one of the new policies gets an LRU shadow (docs/model.md, 3C)
    shadows = [Cache(dict(spec, ways="full", policy="lru" if spec["policy"] in NEW_POLICIES
                          else spec["policy"])) for spec in levels]
    seen = [set() for _ in levels]  # lines that missed level and shadow alike
    shadow_rng = XorShift64((seed ^ SHADOW_SEED) or 1)
    memory = len(caches)  # level index of main memory
    counters = np.zeros((2, len(caches) + 1, 5, 8), dtype=np.int64)
    rng = XorShift64(seed)
    state = {"phase": RUN}

    def count(level, tensor, counter, amount=1):
        counters[state["phase"], level, tensor, counter] += amount

    # -- requests ---------------------------------------------------------

    def request(level, addr, size, is_write, demand, writeback, tensor, clean=False):
        """A request reaching ``level``: split per line, pieces in address order."""
        """Returns whether a line moved up to the fetching level from an exclusive one was
        dirty (a fetch is one line)."""
        if level == memory:
            memory_request(addr, size, is_write, demand, tensor)
            return False
        moved = False
        line_size = caches[level].line
        start = addr
        end = addr + size
        while start < end:
            line_number = start // line_size
            line_end = (line_number + 1) * line_size
            piece_end = min(end, line_end)
            # each piece is handled completely (with everything it causes below)
            # before the next piece starts
            moved = single_line_request(
                level, start, piece_end - start, is_write, demand, writeback, tensor, clean
            )
            start = piece_end
        return moved

    def memory_request(addr, size, is_write, demand, tensor):
        """Main memory: always hits, has no lines (no split)."""
        if is_write:
            count(memory, tensor, WRITES)
            count(memory, tensor, WRITE_HITS)
            count(memory, tensor, BYTES_WRITTEN, size)
        else:
            count(memory, tensor, READS)
            count(memory, tensor, READ_HITS)
            count(memory, tensor, BYTES_READ, size)
        if demand:
            count(memory, tensor, SERVED)

    def pf_count(level, tensor, kind):
        if prefetch is not None:
            prefetch[state["phase"], level, tensor, kind] += 1

    def inc_count(level, tensor, kind):
        if inclusion is not None:
            inclusion[state["phase"], level, tensor, kind] += 1

    # lines fetched for a level and not installed there yet, innermost last: [level, line
    # number, dirty, prefetched, tensor, cancelled]
    pending = []

    def fetch_install(level, s, line_number, dirty, tensor, demand, prefetched=False):
        """Fetch a line from below and install it, dirty if asked or if it moved up dirty;
        unless an inclusive level below evicted it on its way up (back_invalidate)."""
        entry = [level, line_number, dirty, prefetched, tensor, False]
        pending.append(entry)
        moved = fetch(level, line_number, demand, tensor)
        pending.remove(entry)
        if not entry[5]:
            install(level, s, line_number, dirty or moved, tensor, prefetched)

    def remove(level, s, way):
        """Inclusion takes the line out of a way; the way is empty. Returns the line."""
        cache = caches[level]
        line = cache.ways_of[s][way]
        cache.ways_of[s][way] = None
        cache.order_of[s].remove(way)
        cache.emptied(s, way)
        return line

    def back_invalidate(level, line_number):
        """Inclusive ``level`` evicts a line: every copy of its bytes above goes. Returns
        whether one of them was dirty."""
        lo = line_number * caches[level].line
        hi = lo + caches[level].line
        dirty = False
        for entry in pending:
            k, number, was_dirty, prefetched, tensor, cancelled = entry
            if k < level and not caches[k].register and not cancelled \
                    and lo <= number * caches[k].line < hi:
                entry[5] = True
                dirty = dirty or was_dirty
                if prefetched:
                    pf_count(k, tensor, PF_UNUSED)
                inc_count(k, tensor, INVALIDATED)
        for k in range(level):
            upper = caches[k]
            if upper.register:
                continue
            for number in range(lo // upper.line, hi // upper.line):
                s = number % upper.sets
                way = upper.find(s, number)
                if way is None:
                    continue
                line = remove(k, s, way)
                dirty = dirty or line.dirty
                if line.prefetched:
                    pf_count(k, line.tensor, PF_UNUSED)
                inc_count(k, line.tensor, INVALIDATED)
        return dirty

    def single_line_request(level, addr, size, is_write, demand, writeback, tensor, clean):
        """One request inside one line; then the prefetch it triggers, if any. ``clean``:
        a clean victim filling an exclusive level."""
        cache = caches[level]
        line_number = addr // cache.line
        s = line_number % cache.sets
        way = cache.find(s, line_number)
        first_use = way is not None and cache.ways_of[s][way].prefetched
        if first_use:  # the first other request to hit a prefetched line
            cache.ways_of[s][way].prefetched = False
            pf_count(level, cache.ways_of[s][way].tensor, PF_USEFUL)
        moved = line_request(level, addr, size, is_write, demand, writeback, tensor, clean)
        if is_write or cache.prefetch == "none":
            return moved
        if cache.prefetch == "always" or way is None or (cache.prefetch == "tagged"
                                                          and first_use):
            target = line_number + cache.prefetch_distance
            if (target + 1) * cache.line - 1 <= MAX_ADDRESS:
                prefetch_line(level, target, tensor)
        return moved

    def prefetch_line(level, line_number, tensor):
        """A prefetch: looked up like a read (a hit updates LRU order); a miss fetches the
        line with an ordinary read from below, then installs it, marked prefetched."""
        cache = caches[level]
        s = line_number % cache.sets
        pf_count(level, tensor, PF_ISSUED)
        way = cache.find(s, line_number)
        if way is not None:
            cache.touched(s, way)
            return
        pf_count(level, tensor, PF_MISSES)
        fetch_install(level, s, line_number, False, tensor, False, prefetched=True)

    def line_request(level, addr, size, is_write, demand, writeback, tensor, clean):
        cache = caches[level]
        line_number = addr // cache.line
        s = line_number % cache.sets
        covers_whole_line = size == cache.line

        if is_write:
            count(level, tensor, WRITES)
            count(level, tensor, BYTES_WRITTEN, size)
        else:
            count(level, tensor, READS)
            count(level, tensor, BYTES_READ, size)

        way = cache.find(s, line_number)
        if cache.inclusion == "exclusive":
            if writeback:
                inc_count(level, tensor, VICTIMS)
            elif not is_write:  # a fetch from above: the line moves up, or passes through
                if way is None:
                    return request(level + 1, line_number * cache.line, cache.line, False,
                                   demand, False, tensor)
                count(level, tensor, READ_HITS)
                if demand:
                    count(level, tensor, SERVED)
                cache.touched(s, way)  # a lookup that hits, then the line leaves
                line = remove(level, s, way)
                inc_count(level, line.tensor, PROMOTED)
                return line.dirty
        # a write miss installs nothing at a level without write-allocate, except the victims
        # an exclusive level is filled with
        forwards = (is_write and not cache.write_allocate
                    and not (writeback and cache.inclusion == "exclusive"))
        if three_c is not None:
            classify(level, line_number, way is not None, not forwards, tensor)

        # ---- hits ----
        if way is not None:
            if is_write:
                count(level, tensor, WRITE_HITS)
            else:
                count(level, tensor, READ_HITS)
            if demand:
                count(level, tensor, SERVED)
            cache.touched(s, way)  # LRU: most recent last
            if is_write and not clean:
                if cache.write_back:
                    cache.ways_of[s][way].dirty = True
                else:
                    # write-through: forward, same address and size, not demand
                    request(level + 1, addr, size, True, False, writeback, tensor)
            return False

        # ---- read miss ----
        if not is_write:
            fetch_install(level, s, line_number, False, tensor, demand)
            return False

        # ---- write miss, no write-allocate: forwarded unchanged, nothing installed ----
        if forwards:
            request(level + 1, addr, size, True, demand, writeback, tensor)
            return False

        # ---- write miss covering the whole line: installed without a fetch ----
        # (except a write that is not a write-back, at a cache level above an inclusive
        # level: fetched, so that the inclusive level holds the line)
        above_inclusive = not cache.register and any(
            c.inclusion == "inclusive" for c in caches[level + 1:])
        if covers_whole_line and (writeback or not above_inclusive):
            if demand:  # the level that installs a demand write serves it
                count(level, tensor, SERVED)
            below = caches[level + 1] if level + 1 < memory else None
            if below is not None and below.inclusion == "exclusive":
                # installed here without a fetch: the copy below is stale, and goes
                bs = line_number % below.sets
                bway = below.find(bs, line_number)
                if bway is not None:
                    inc_count(level + 1, remove(level + 1, bs, bway).tensor, INVALIDATED)
            if clean:  # a clean victim filling an exclusive level
                install(level, s, line_number, False, tensor)
            elif cache.write_back:
                install(level, s, line_number, True, tensor)
            else:
                install(level, s, line_number, False, tensor)
                request(level + 1, addr, size, True, False, writeback, tensor)
            return False

        # ---- other write miss (write-allocate): fetched, installed, dirty or forwarded ----
        fetch_install(level, s, line_number, cache.write_back, tensor, demand)
        if not cache.write_back:
            request(level + 1, addr, size, True, False, writeback, tensor)
        return False

    def classify(level, line_number, hit, allocates, tensor):
        if caches[level].sets == 1:  # fully associative: the level is its own shadow
            if not hit:
                new_line = line_number not in seen[level]
                seen[level].add(line_number)
                three_c[state["phase"], level, tensor,
                        COMPULSORY if new_line else CAPACITY] += 1
            return
        shadow = shadows[level]
        order = shadow.order_of[0]
        way = shadow.find(0, line_number)
        if way is not None:
            if shadow.policy == "lru":
                order.remove(way)
                order.append(way)
        elif allocates:
            free = [w for w in range(shadow.ways) if shadow.ways_of[0][w] is None]
            if free:
                new = free[0]
            elif shadow.policy in ("lru", "fifo"):
                new = order[0]
            else:
                new = shadow_rng.next() % shadow.ways
            if new in order:
                order.remove(new)
            shadow.ways_of[0][new] = Line(line_number, False, tensor)
            order.append(new)
        if hit:
            return
        if way is not None:
            kind = CONFLICT
        elif line_number not in seen[level]:
            seen[level].add(line_number)
            kind = COMPULSORY
        else:
            kind = CAPACITY
        three_c[state["phase"], level, tensor, kind] += 1

    def fetch(level, line_number, demand, tensor):
        """Read the whole line from the next level (demand if the miss was). Returns whether
        it came dirty (moved up from an exclusive level)."""
        line_size = caches[level].line
        return request(level + 1, line_number * line_size, line_size, False, demand, False,
                       tensor)

    def install(level, s, line_number, dirty, tensor, prefetched=False):
        """Put a line into set ``s`` of ``level``, evicting (and writing back) a victim.

        The new line is in place before the victim goes down: with inclusion, what the
        victim causes below may take the new line out again (an inclusive level below
        evicting it)."""
        cache = caches[level]
        ways = cache.ways_of[s]
        order = cache.order_of[s]

        empty = [w for w in range(cache.ways) if ways[w] is None]
        down = None  # the victim's request to the level below
        if empty:
            way = empty[0]  # the lowest empty way
        else:
            if cache.policy == "lru":
                way = order[0]  # least recently used
            elif cache.policy == "fifo":
                way = order[0]  # installed earliest
            elif cache.policy == "random":
                way = rng.next() % cache.ways
            else:
                way = cache.victim(s, rng)
            victim = ways[way]
            order.remove(way)
            if victim.prefetched:
                pf_count(level, victim.tensor, PF_UNUSED)
            dirty_victim = victim.dirty
            if cache.inclusion == "inclusive" and back_invalidate(level, victim.number):
                dirty_victim = True  # a dirty copy above hands its data to the victim
            fills = level + 1 < memory and caches[level + 1].inclusion == "exclusive"
            if dirty_victim or fills:
                if dirty_victim:
                    count(level, victim.tensor, WRITEBACKS)
                down = victim, not dirty_victim
        ways[way] = Line(line_number, dirty, tensor, prefetched)
        order.append(way)  # an installed line is the most recent / latest
        cache.filled(s, way, rng)
        if down is not None:
            victim, clean = down
            request(
                level + 1,
                victim.number * cache.line,
                cache.line,
                True,  # write
                False,  # not demand
                True,  # write-back (or a victim filling an exclusive level)
                victim.tensor,
                clean=clean,
            )

    # -- the run -----------------------------------------------------------

    marks = list(marks) if marks is not None else None
    snapshots = []

    def snapshot():
        snapshots.append(counters.copy())
        if extra_snapshots is not None:
            extra_snapshots.append(tuple(None if a is None else a.copy()
                                         for a in (prefetch, inclusion)))

    for k, (addr, size, is_write, tensor) in enumerate(trace):
        while marks and len(snapshots) < len(marks) and marks[len(snapshots)] == k:
            snapshot()
        request(0, int(addr), int(size), bool(is_write), True, False, int(tensor))
    while marks and len(snapshots) < len(marks):
        snapshot()

    contents = [copy.deepcopy(cache.contents()) for cache in caches]

    # -- end of run: flush, innermost first, in a separate phase ------------

    # Dinero IV's order: it walks the sets from the first, each from its most recent line,
    # and stacks the dirty lines' write-backs (last in, first out); so the last set goes
    # first, and within a set the least recent line (FIFO: the earliest installed; random,
    # which keeps no order: the highest way first)
    state["phase"] = FLUSH
    for level, cache in enumerate(caches):
        dirty_lines = []
        for s in reversed(range(cache.sets)):
            if cache.policy not in ("lru", "fifo"):  # random and the new ones: by way
                ways = reversed(range(cache.ways))
            else:
                ways = cache.order_of[s]  # least recent (earliest) first
            for way in ways:
                line = cache.ways_of[s][way]
                if line is not None and line.dirty:
                    dirty_lines.append(line)
        for line in dirty_lines:
            s = line.number % cache.sets
            if cache.find(s, line.number) is None or not line.dirty:
                continue  # (inclusion took it out meanwhile)
            line.dirty = False
            count(level, line.tensor, WRITEBACKS)
            request(
                level + 1,
                line.number * cache.line,
                cache.line,
                True,  # write
                False,  # not demand
                True,  # write-back
                line.tensor,
            )

    if prefetch_left is not None:
        for level, cache in enumerate(caches):
            for row in cache.ways_of:
                for line in row:
                    if line is not None and line.prefetched:
                        prefetch_left[level, line.tensor] += 1
    if marks is not None:
        return counters, contents, snapshots
    return counters, contents


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------

KINDS = ("spatial", "pointwise", "group", "depthwise", "fc", "separable")
X_BASE = 0x10000
ALIGN = 4096


def element_address(base, shape, index, dtype_bytes):
    """Address of ``tensor[index]`` for a row-major tensor of ``shape`` at ``base``."""
    assert len(shape) == len(index)
    for i, extent in zip(index, shape, strict=True):
        assert 0 <= i < extent, (index, shape)
    flat = 0
    for i, extent in zip(index, shape, strict=True):
        flat = flat * extent + i
    return base + flat * dtype_bytes


def place_tensors(names_and_shapes, dtype_bytes):
    """x at 0x10000, each next tensor at the next multiple of 4 KiB after the previous ends."""
    bases = {}
    base = X_BASE
    for name, shape in names_and_shapes:
        bases[name] = base
        nbytes = int(np.prod(shape)) * dtype_bytes
        end = base + nbytes  # one past the last byte
        base = ((end + ALIGN - 1) // ALIGN) * ALIGN  # round up to a multiple of 4096
    return bases


def run_nest(trace, order, extents, taps):
    """Iterate the loop nest in ``order`` (outermost first).

    ``extents`` maps each of b, i, j, n, m, p, q to its range; ``taps(idx)`` returns
    ``None`` for a skipped tap or ``((x_addr, x_tensor), (w_addr, w_tensor),
    (y_addr, y_tensor), nbytes)``. Appends read x, read w, read y, write y. Returns the
    number of MACs performed.
    """
    macs = 0
    ranges = [range(extents[d]) for d in order]
    for values in itertools.product(*ranges):
        idx = dict(zip(order, values, strict=True))
        macs += _iteration(trace, taps(idx))
    return macs


def _iteration(trace, tap):
    """Append one iteration's accesses (read x, read w, read y, write y); 1 MAC, or 0 for
    a skipped tap (None)."""
    if tap is None:
        return 0
    (xa, xt), (wa, wt), (ya, yt), nbytes = tap
    trace.append((xa, nbytes, False, xt))
    trace.append((wa, nbytes, False, wt))
    trace.append((ya, nbytes, False, yt))
    trace.append((ya, nbytes, True, yt))
    return 1


def layer_trace(
    kind,
    B,
    M,
    N,
    F,
    K,
    G=1,
    stride=1,
    padding="skip",
    pad=None,
    order="bijnmpq",
    dtype_bytes=4,
    bases=None,
):
    """The address stream of one layer, as in model.md §1.

    ``bases``: name -> base address for every tensor (x, w or w1 and w2, y, t), to place
    them elsewhere than §1's placement (a network's map, model.md §6).

    Returns ``(trace, info)``: ``trace`` is a list of ``(addr, size, is_write, tensor)``
    (tensor 0 x, 1 w (w1 and w2 too), 2 y, 3 t); ``info`` has ``bases`` (name -> base
    address), ``shapes`` (name -> stored shape, pre-padded in 'explicit' mode),
    ``macs`` (performed), ``F_out``, ``pad`` (pad_before, pad_after) and the effective
    dimensions ``dims``.
    """
    given_bases = bases

    def place(names_and_shapes):
        if given_bases is None:
            return place_tensors(names_and_shapes, dtype_bytes)
        return {name: given_bases[name] for name, _ in names_and_shapes}

    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}")
    if padding not in ("skip", "explicit"):
        raise ValueError(f"unknown padding {padding!r}")
    if sorted(order) != sorted("bijnmpq"):
        raise ValueError(f"order {order!r} is not a permutation of bijnmpq")
    S = stride

    if kind == "pointwise":
        K = 1
    if kind == "fc":
        F = 1
        K = 1
        pad = 0  # an fc layer has no spatial extent to pad
    if kind == "depthwise":
        N = M
    if kind != "group":
        G = 1
    if kind == "group" and (M % G != 0 or N % G != 0):
        raise ValueError("M and N must be multiples of G")

    if pad is None:
        pad_before = K // 2
        pad_after = K - 1 - K // 2
    else:
        pad_before = pad
        pad_after = pad
    F_out = (F + pad_before + pad_after - K) // S + 1
    if F_out < 1:
        raise ValueError("K larger than the padded input")
    explicit = padding == "explicit"
    F_padded = F + pad_before + pad_after

    trace = []
    info = {
        "dims": {"B": B, "M": M, "N": N, "F": F, "K": K, "G": G, "stride": S},
        "F_out": F_out,
        "pad": (pad_before, pad_after),
    }

    # ---------------------------------------------------------------- fc --
    if kind == "fc":
        shapes = {"x": (B, M), "w": (N, M), "y": (B, N)}
        bases = place([(k, shapes[k]) for k in ("x", "w", "y")])

        def fc_taps(idx):
            b, n, m = idx["b"], idx["n"], idx["m"]
            xa = element_address(bases["x"], shapes["x"], (b, m), dtype_bytes)
            wa = element_address(bases["w"], shapes["w"], (n, m), dtype_bytes)
            ya = element_address(bases["y"], shapes["y"], (b, n), dtype_bytes)
            return (xa, X), (wa, W), (ya, Y), dtype_bytes

        extents = {"b": B, "i": 1, "j": 1, "n": N, "m": M, "p": 1, "q": 1}
        macs = run_nest(trace, order, extents, fc_taps)
        info.update(bases=bases, shapes=shapes, macs=macs)
        return trace, info

    # --------------------------------------------------------- separable --
    if kind == "separable":
        if explicit:
            x_shape = (B, M, F_padded, F)  # padded vertically only
            t_shape = (B, N, F_out, F_padded)  # padded horizontally only
        else:
            x_shape = (B, M, F, F)
            t_shape = (B, N, F_out, F)
        shapes = {
            "x": x_shape,
            "w1": (N, M, K, 1),
            "w2": (N, N, 1, K),
            "y": (B, N, F_out, F_out),
            "t": t_shape,
        }
        bases = place([(k, shapes[k]) for k in ("x", "w1", "w2", "y", "t")])

        # nest 1: K x 1 convolution x -> t (vertical kernel, stride, padding)
        def nest1_taps(idx):
            b, i, j, n, m, p = idx["b"], idx["i"], idx["j"], idx["n"], idx["m"], idx["p"]
            row = i * S + p - pad_before  # unpadded input row
            col = j
            if explicit:
                x_index = (b, m, row + pad_before, col)
                t_index = (b, n, i, j + pad_before)  # interior of the padded t
            else:
                if row < 0 or row >= F:
                    return None
                x_index = (b, m, row, col)
                t_index = (b, n, i, j)
            xa = element_address(bases["x"], shapes["x"], x_index, dtype_bytes)
            wa = element_address(bases["w1"], shapes["w1"], (n, m, p, 0), dtype_bytes)
            ta = element_address(bases["t"], shapes["t"], t_index, dtype_bytes)
            return (xa, X), (wa, W), (ta, T), dtype_bytes

        # nest 2: 1 x K convolution t -> y (horizontal kernel, stride, padding)
        def nest2_taps(idx):
            b, i, j, n, m, q = idx["b"], idx["i"], idx["j"], idx["n"], idx["m"], idx["q"]
            row = i
            col = j * S + q - pad_before  # unpadded t column
            if explicit:
                t_index = (b, m, row, col + pad_before)
            else:
                if col < 0 or col >= F:
                    return None
                t_index = (b, m, row, col)
            ta = element_address(bases["t"], shapes["t"], t_index, dtype_bytes)
            wa = element_address(bases["w2"], shapes["w2"], (n, m, 0, q), dtype_bytes)
            ya = element_address(bases["y"], shapes["y"], (b, n, i, j), dtype_bytes)
            return (ta, T), (wa, W), (ya, Y), dtype_bytes

        extents1 = {"b": B, "i": F_out, "j": F, "n": N, "m": M, "p": K, "q": 1}
        extents2 = {"b": B, "i": F_out, "j": F_out, "n": N, "m": N, "p": 1, "q": K}
        macs1 = run_nest(trace, order, extents1, nest1_taps)
        macs2 = run_nest(trace, order, extents2, nest2_taps)
        info.update(bases=bases, shapes=shapes, macs=macs1 + macs2, macs_per_nest=(macs1, macs2))
        return trace, info

    # ------------------------------- spatial, pointwise, group, depthwise --
    if explicit:
        x_shape = (B, M, F_padded, F_padded)
    else:
        x_shape = (B, M, F, F)
    if kind == "group":
        w_shape = (N, M // G, K, K)
        m_extent = M // G
    elif kind == "depthwise":
        w_shape = (M, 1, K, K)
        m_extent = 1
    else:  # spatial, pointwise
        w_shape = (N, M, K, K)
        m_extent = M
    shapes = {"x": x_shape, "w": w_shape, "y": (B, N, F_out, F_out)}
    bases = place([(k, shapes[k]) for k in ("x", "w", "y")])

    def channel(n, m):
        """Input channel read by filter n at channel-loop index m."""
        if kind == "group":
            return (n // (N // G)) * (M // G) + m
        if kind == "depthwise":
            return n
        return m

    def conv_taps(idx):
        b, i, j, n, m, p, q = (idx[d] for d in "bijnmpq")
        row = i * S + p - pad_before  # unpadded input row
        col = j * S + q - pad_before  # unpadded input column
        ch = channel(n, m)
        if explicit:
            x_index = (b, ch, row + pad_before, col + pad_before)
        else:
            if row < 0 or row >= F or col < 0 or col >= F:
                return None
            x_index = (b, ch, row, col)
        xa = element_address(bases["x"], shapes["x"], x_index, dtype_bytes)
        wa = element_address(bases["w"], shapes["w"], (n, m, p, q), dtype_bytes)
        ya = element_address(bases["y"], shapes["y"], (b, n, i, j), dtype_bytes)
        return (xa, X), (wa, W), (ya, Y), dtype_bytes

    extents = {"b": B, "i": F_out, "j": F_out, "n": N, "m": m_extent, "p": K, "q": K}
    macs = run_nest(trace, order, extents, conv_taps)
    info.update(bases=bases, shapes=shapes, macs=macs)
    return trace, info


# ---------------------------------------------------------------------------
# Tiled layers (model.md §1, "Tiling")
# ---------------------------------------------------------------------------


def run_tiled_nest(trace, order, tiles, extents, taps):
    """``run_nest`` for an order with tile loops, as plain nested loops.

    ``tiles`` maps a loop to its tile size T (a nest whose loop is shorter than T takes it
    as one tile). An upper-case letter X loops over the starts of x's tiles: 0, T, 2T, ...
    below the extent. The lower-case x then loops over the positions of the current tile,
    from its start up to start + T or the extent, whichever comes first: the last tile is
    shorter. (Should x come before X, x loops over the offsets 0 .. T-1 and X over the
    starts at which start + offset stays below the extent.) Without upper-case letters in
    ``order``, the tile loops go outermost, in the order of their loops in ``order``.
    """
    if not any(ch.isupper() for ch in order):
        order = "".join(ch.upper() for ch in order if ch in tiles) + order
    size = {x: min(t, extents[x]) for x, t in tiles.items()}
    macs = 0

    def visit(depth, idx, start, offset):
        nonlocal macs
        if depth == len(order):
            macs += _iteration(trace, taps(idx))
            return
        ch = order[depth]
        x = ch.lower()
        if x not in tiles:
            for v in range(extents[x]):
                visit(depth + 1, {**idx, x: v}, start, offset)
        elif ch.isupper():
            for s in range(0, extents[x], size[x]):
                if x in offset:  # the position loop came first
                    if s + offset[x] < extents[x]:
                        visit(depth + 1, {**idx, x: s + offset[x]}, {**start, x: s}, offset)
                else:
                    visit(depth + 1, idx, {**start, x: s}, offset)
        elif x in start:
            for v in range(start[x], min(start[x] + size[x], extents[x])):
                visit(depth + 1, {**idx, x: v}, start, offset)
        else:
            for o in range(size[x]):
                visit(depth + 1, idx, start, {**offset, x: o})

    visit(0, {}, {}, {})
    return macs


def tiled_layer_trace(kind, B, M, N, F, K, tiles, order="bijnmpq", **kw):
    """``layer_trace`` with its loops tiled: the same taps and tensors, the nests walked
    by ``run_tiled_nest``. ``order`` may hold upper-case tile loops; the other keywords
    are ``layer_trace``'s."""
    global run_nest
    plain = run_nest  # layer_trace calls run_nest; this stands in for it, unchanged

    def tiled(trace, _plain_order, extents, taps):
        return run_tiled_nest(trace, order, tiles, extents, taps)

    run_nest = tiled
    try:
        untiled = "".join(ch for ch in order if ch.islower())
        return layer_trace(kind, B, M, N, F, K, order=untiled, **kw)
    finally:
        run_nest = plain


# ---------------------------------------------------------------------------
# Text trace readers (traces/README.md): din and lackey, read line by line
# ---------------------------------------------------------------------------

TRACE_MAX_LINE = 4096  # bytes of a line, without its newline
TRACE_MAX_ACCESS = 1 << 16  # bytes of one access
TRACE_MAX_ADDRESS = (1 << 63) - 1
TRACE_SPACE = b" \t\r\v\f"
TRACE_HEX = b"0123456789abcdefABCDEF"


def _trace_fields(line):
    """Fields separated by runs of TRACE_SPACE bytes."""
    fields, current = [], b""
    for byte in line:
        c = bytes([byte])
        if c in TRACE_SPACE:
            if current:
                fields.append(current)
            current = b""
        else:
            current += c
    if current:
        fields.append(current)
    return fields


def _trace_hex(text):
    """int of a hex field (optional 0x), or None if it is not one."""
    if len(text) > 2 and text[:2] in (b"0x", b"0X"):
        text = text[2:]
    if not text or any(c not in TRACE_HEX for c in text):
        return None
    return int(text.decode(), 16)


def _trace_decimal(text):
    if not text or any(c not in b"0123456789" for c in text):
        return None
    return int(text.decode())


def _trace_lines(data):
    """(line number, bytes) of every line; a last line without a newline counts."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return list(enumerate(lines, 1))


def read_text_trace(data, fmt):
    """Read din or lackey bytes. Returns (records, bad, instructions, modifies): records are
    (addr, size, is_write, tensor) tuples, bad the line numbers of bad lines in order."""
    records, bad, counts = [], [], {"instructions": 0, "modifies": 0}
    for number, line in _trace_lines(data):
        if len(line) > TRACE_MAX_LINE:
            bad.append(number)
            continue
        parse = _din_record if fmt == "din" else _lackey_record
        got = parse(line, counts)
        if got is None:
            bad.append(number)
        else:
            records.extend(got)
    return records, bad, counts["instructions"], counts["modifies"]


def _fits(addr, size):
    return 1 <= size <= TRACE_MAX_ACCESS and addr + size - 1 <= TRACE_MAX_ADDRESS


def _din_record(line, counts):
    """The records of one din line (a list, maybe empty), or None if it is bad."""
    fields = _trace_fields(line)
    if not fields or fields[0].startswith(b"#"):
        return []
    if len(fields) < 2:
        return None
    label, addr = _trace_hex(fields[0]), _trace_hex(fields[1])
    if label not in (0, 1, 2) or addr is None or addr > TRACE_MAX_ADDRESS:
        return None
    size = _trace_decimal(fields[2]) if len(fields) > 2 else None
    tensor = NONE
    if size is None:  # Dinero IV's word
        addr, size = addr - addr % 4, 4
    else:
        if not _fits(addr, size):
            return None
        if len(fields) > 3 and fields[3] in (b"x", b"w", b"y", b"t"):
            tensor = b"xwyt".index(fields[3])
    if label == 2:
        counts["instructions"] += 1
        return []
    return [(addr, size, label, tensor)]


def _lackey_record(line, counts):
    """The records of one lackey line, or None if it is bad."""
    if line.startswith(b"=="):
        return []
    fields = _trace_fields(line)
    if not fields:
        return []
    if len(fields) != 2 or b"," not in fields[1]:
        return None
    kind = fields[0]
    text, _, size_text = fields[1].partition(b",")
    addr, size = _trace_hex(text), _trace_decimal(size_text)
    if kind not in (b"I", b"L", b"S", b"M") or addr is None or size is None:
        return None
    if addr > TRACE_MAX_ADDRESS or not _fits(addr, size):
        return None
    if kind == b"I":
        counts["instructions"] += 1
        return []
    if kind == b"M":
        counts["modifies"] += 1
        return [(addr, size, 0, NONE), (addr, size, 1, NONE)]
    return [(addr, size, 1 if kind == b"S" else 0, NONE)]


# ---------------------------------------------------------------------------
# CS:APP Cache Lab's reference simulator, csim-ref (simcache csim)
# ---------------------------------------------------------------------------


def csim_reference(lines, s, E, b):
    """What Cache Lab's csim-ref prints for a valgrind lackey trace (text lines) on a cache
    of 2**s sets of E lines with blocks of 2**b bytes, LRU: (verbose lines, each without
    its newline and each word followed by one space, (hits, misses, evictions)).

    `I` lines, valgrind's `==` lines and blank lines are skipped; `M` is a load then a
    store; a store is placed like a load; only the block of the address is touched. Each
    set is a list of block numbers, least recently used first."""
    sets = [[] for _ in range(2 ** s)]
    hits = misses = evictions = 0
    verbose = []
    for line in lines:
        fields = line.split()
        if line.startswith("==") or not fields or fields[0] == "I":
            continue
        kind = fields[0]
        addr_text, size_text = fields[1].split(",")
        addr = int(addr_text, 16)
        block = addr >> b
        blocks = sets[block % 2 ** s]
        words = []
        for _ in range(2 if kind == "M" else 1):
            if block in blocks:
                hits += 1
                words.append("hit")
                blocks.remove(block)
            else:
                misses += 1
                words.append("miss")
                if len(blocks) == E:
                    evictions += 1
                    words.append("eviction")
                    blocks.pop(0)
            blocks.append(block)
        verbose.append(f"{kind} {addr:x},{int(size_text)} " + "".join(w + " " for w in words))
    return verbose, (hits, misses, evictions)


# ---------------------------------------------------------------------------
# LRU stack distances (simcache mrc)
# ---------------------------------------------------------------------------


def stack_distances(lines):
    """For every request (a line number), the number of other lines used since its line
    was last used, or None on its first use: its depth in an LRU stack, most recent on
    top. A fully associative LRU cache of C lines hits a request exactly when its distance
    is below C."""
    stack = []  # most recent first
    out = []
    for line in lines:
        if line in stack:
            out.append(stack.index(line))
            stack.remove(line)
        else:
            out.append(None)
        stack.insert(0, line)
    return out


def set_stack_distances(lines, sets):
    """The same within each set (line mod sets): an LRU cache of `sets` sets and a ways
    hits a request exactly when its distance in its set is below a."""
    stacks = {}
    out = []
    for line in lines:
        stack = stacks.setdefault(line % sets, [])
        if line in stack:
            out.append(stack.index(line))
            stack.remove(line)
        else:
            out.append(None)
        stack.insert(0, line)
    return out


def split_lines(records, line_bytes):
    """The line numbers of requests (addr, size, ...) split at `line_bytes`, in order."""
    out = []
    for addr, size, *_ in records:
        out.extend(range(addr // line_bytes, (addr + size - 1) // line_bytes + 1))
    return out


# ---------------------------------------------------------------------------
# Networks with warm caches (model.md §6): one inference's trace
# ---------------------------------------------------------------------------

NETWORK_INPUT = "<input>"


def _round_up(addr):
    return ((addr + ALIGN - 1) // ALIGN) * ALIGN


def pool_trace(trace, x_base, y_base, B, C, H, K, S, P, dtype_bytes):
    """maxpool / avgpool (globalavgpool: K = H, S = 1, P = 0): for each output element
    (b, c, i, j), read the taps of its window inside the input, then write it once."""
    Fo = (H + 2 * P - K) // S + 1
    for b in range(B):
        for c in range(C):
            for i in range(Fo):
                for j in range(Fo):
                    for p in range(K):
                        for q in range(K):
                            row, col = i * S + p - P, j * S + q - P
                            if 0 <= row < H and 0 <= col < H:
                                a = element_address(x_base, (B, C, H, H), (b, c, row, col),
                                                    dtype_bytes)
                                trace.append((a, dtype_bytes, False, X))
                    a = element_address(y_base, (B, C, Fo, Fo), (b, c, i, j), dtype_bytes)
                    trace.append((a, dtype_bytes, True, Y))
    return Fo


def add_trace(trace, input_bases, y_base, count, dtype_bytes):
    """Elementwise sum: per element, read every input, then write y."""
    for e in range(count):
        for base in input_bases:
            trace.append((base + e * dtype_bytes, dtype_bytes, False, X))
        trace.append((y_base + e * dtype_bytes, dtype_bytes, True, Y))


def concat_trace(trace, inputs, y_base, B, H, dtype_bytes):
    """Copy each input (base, channels), in turn, into its channels of y."""
    total = sum(ch for _, ch in inputs)
    c0 = 0
    for base, ch in inputs:
        for b in range(B):
            for c in range(ch):
                for h in range(H):
                    for w in range(H):
                        src = element_address(base, (B, ch, H, H), (b, c, h, w), dtype_bytes)
                        dst = element_address(y_base, (B, total, H, H), (b, c0 + c, h, w),
                                              dtype_bytes)
                        trace.append((src, dtype_bytes, False, X))
                        trace.append((dst, dtype_bytes, True, Y))
        c0 += ch


def in_place_trace(trace, base, count, dtype_bytes):
    """relu, relu6, batchnorm: read each element, write it back where it was."""
    for e in range(count):
        a = base + e * dtype_bytes
        trace.append((a, dtype_bytes, False, X))
        trace.append((a, dtype_bytes, True, Y))


def softmax_trace(trace, x_base, y_base, B, N, dtype_bytes):
    """Per row b: read every x (maximum, sum of exponentials); then read x, write y."""
    for b in range(B):
        for n in range(N):
            trace.append((x_base + (b * N + n) * dtype_bytes, dtype_bytes, False, X))
        for n in range(N):
            trace.append((x_base + (b * N + n) * dtype_bytes, dtype_bytes, False, X))
            trace.append((y_base + (b * N + n) * dtype_bytes, dtype_bytes, True, Y))


def network_trace(entries, channels, size, B=1, order="bijnmpq", dtype_bytes=4):
    """The trace of one inference of a network (model.md §6, warm caches).

    entries: dicts as in a network file (name, type, M, N, F, K, G, stride, pad, input).
    Returns ``(trace, spans, regions)``: spans[k] = (name, start, end) of entry k's
    accesses in the trace; regions: name -> (base, shape), in placement order."""
    d = dtype_bytes
    regions = {}
    cursor = [X_BASE]

    def place(name, shape):
        base = cursor[0]
        regions[name] = (base, tuple(shape))
        cursor[0] = _round_up(base + int(np.prod(shape)) * d)
        return base

    outputs = {NETWORK_INPUT: (place("input", (B, channels, size, size)), channels, size)}
    previous = NETWORK_INPUT
    trace, spans = [], []
    for e in entries:
        name, kind = e["name"], e["type"]
        given = e.get("input")
        names = [given] if isinstance(given, str) else (given or [previous])
        ins = [outputs[n] for n in names]
        x_base, C, H = ins[0]
        start = len(trace)
        if kind in KINDS:
            dims = dict(B=B, M=e.get("M"), N=e.get("N", e.get("M")), F=e.get("F", 1),
                        K=e.get("K", 1), G=e.get("G", 1), stride=e.get("stride", 1),
                        pad=e.get("pad"), order=order, dtype_bytes=d)
            _, info = layer_trace(kind, **dims)  # for the shapes only
            bases = {"x": x_base}
            for t in ("w", "w1", "w2", "y", "t"):
                if t in info["shapes"]:
                    bases[t] = place(f"{name}.{t}", info["shapes"][t])
            layer, info = layer_trace(kind, **dims, bases=bases)
            trace += layer
            outputs[name] = (bases["y"], info["dims"]["N"], info["F_out"])
        elif kind in ("maxpool", "avgpool", "globalavgpool"):
            if kind == "globalavgpool":
                K, S, P = H, 1, 0
            else:
                K, S, P = e["K"], e.get("stride", 1), e.get("pad") or 0
            Fo = (H + 2 * P - K) // S + 1
            y = place(f"{name}.y", (B, C, Fo, Fo))
            pool_trace(trace, x_base, y, B, C, H, K, S, P, d)
            outputs[name] = (y, C, Fo)
        elif kind == "add":
            y = place(f"{name}.y", (B, C, H, H))
            add_trace(trace, [b for b, _, _ in ins], y, B * C * H * H, d)
            outputs[name] = (y, C, H)
        elif kind == "concat":
            total = sum(ch for _, ch, _ in ins)
            y = place(f"{name}.y", (B, total, H, H))
            concat_trace(trace, [(b, ch) for b, ch, _ in ins], y, B, H, d)
            outputs[name] = (y, total, H)
        elif kind in ("relu", "relu6", "batchnorm"):
            in_place_trace(trace, x_base, B * C * H * H, d)
            outputs[name] = ins[0]
        elif kind == "flatten":
            outputs[name] = (x_base, C * H * H, 1)
        elif kind == "dropout":
            outputs[name] = ins[0]
        elif kind == "softmax":
            y = place(f"{name}.y", (B, C * H * H))
            softmax_trace(trace, x_base, y, B, C * H * H, d)
            outputs[name] = (y, C, H)
        else:
            raise ValueError(f"unknown entry type {kind!r}")
        spans.append((name, start, len(trace)))
        previous = name
    return trace, spans, regions


# ---------------------------------------------------------------------------
# DRAM (model.md, "DRAM"): the row-buffer model and its energy arithmetic
# ---------------------------------------------------------------------------


def _log2(n):
    return n.bit_length() - 1


def dram_field_widths(d):
    """Bits of each address field of a DRAM described by the plain dict ``d``."""
    burst = d["bus_width"] // 8 * d["burst_length"]
    return {"offset": _log2(burst), "column": _log2(d["columns"]) - _log2(d["burst_length"]),
            "channel": _log2(d["channels"]), "rank": _log2(d["ranks"]),
            "bank_group": _log2(d["bank_groups"]),
            "bank": _log2(d["banks"] // d["bank_groups"]), "row": _log2(d["rows"])}


def dram_decode(d, addr):
    """(channel, rank, bank index within the rank, row) of a byte address: the burst
    number is read as digits from the lowest, in the mapping's order; each field's digit
    has 2**bits values, the channel's ``channels`` values when that is not a power of
    two."""
    widths = dram_field_widths(d)
    binary = d["channels"] & (d["channels"] - 1) == 0
    named = {}
    for entry in d["mapping"]:
        name, _, n = entry.partition(":")
        if n:
            named[name] = named.get(name, 0) + int(n)
    burst = d["bus_width"] // 8 * d["burst_length"]
    rest = addr // burst
    value = {f: 0 for f in widths}
    used = {f: 0 for f in widths}
    for entry in d["mapping"][1:]:
        name, _, n = entry.partition(":")
        if name == "channel" and not binary:
            value[name] = rest % d["channels"]
            rest //= d["channels"]
            continue
        count = int(n) if n else widths[name] - named.get(name, 0)
        value[name] += (rest % 2 ** count) * 2 ** used[name]
        used[name] += count
        rest //= 2 ** count
    bank = value["bank_group"] * (d["banks"] // d["bank_groups"]) + value["bank"]
    xor = d.get("xor_bank", False)
    if xor is True:
        bank ^= value["row"] % d["banks"]
    else:
        for i, p in enumerate(xor or []):
            bank ^= ((addr >> p) & 1) << i
    return value["channel"], value["rank"], bank, value["row"]


def dram_simulate(d, requests):
    """Run ``requests`` (addr, size, is_write, demand, tensor) through the row buffers.

    Returns a dict: ``outcomes[(tensor, is_write, kind)]`` burst counts with kind in
    'hit', 'empty', 'conflict'; ``acts[(channel, rank, bank)]``; ``bursts[channel]``;
    ``demand[tensor]`` = [requests, summed latency in memory cycles before refresh]."""
    burst = d["bus_width"] // 8 * d["burst_length"]
    t = d["cycles"]
    open_rows = {}
    out = {"outcomes": {}, "acts": {}, "bursts": {}, "demand": {}}
    for addr, size, is_write, demand, tensor in requests:
        latency = None
        b = addr // burst
        while b * burst < addr + size:
            ch, rk, bank, row = dram_decode(d, b * burst)
            key = (ch, rk, bank)
            if d["page_policy"] == "closed":
                kind = "empty"
            elif key not in open_rows:
                kind = "empty"
            elif open_rows[key] == row:
                kind = "hit"
            else:
                kind = "conflict"
            open_rows[key] = row
            k = (tensor, bool(is_write), kind)
            out["outcomes"][k] = out["outcomes"].get(k, 0) + 1
            if kind != "hit":
                out["acts"][key] = out["acts"].get(key, 0) + 1
            out["bursts"][ch] = out["bursts"].get(ch, 0) + 1
            this = {"hit": t["tCL"], "empty": t["tRCD"] + t["tCL"],
                    "conflict": t["tRP"] + t["tRCD"] + t["tCL"]}[kind]
            latency = this if latency is None else latency + t["tBurst"]
            b += 1
        if demand:
            got = out["demand"].setdefault(tensor, [0, 0])
            got[0] += 1
            got[1] += latency
    return out


def dram_energy_pj(d, acts, reads, writes, time_ns, active_ns_per_rank):
    """Energy (pJ) by kind from the datasheet currents, Micron TN-41-01's method:
    ``active_ns_per_rank`` lists the time with a row open of each rank charged (the ranks
    the run used)."""
    tck = 2000.0 / d["data_rate"]
    c = d["cycles"]
    tras, trp, tburst, trfc, trefi = (c[k] * tck for k in ("tRAS", "tRP", "tBurst", "tRFC",
                                                           "tREFI"))
    devices = d["bus_width"] // d["device_width"]
    vdd = d["VDD"]
    i = d["currents"]
    per_act = vdd * (i["IDD0"] * (tras + trp) - i["IDD3N"] * tras - i["IDD2N"] * trp)
    background = sum(vdd * (i["IDD3N"] * a + i["IDD2N"] * (time_ns - a))
                     for a in active_ns_per_rank)
    refreshes = len(active_ns_per_rank) * time_ns / trefi
    return {"activate": devices * acts * per_act,
            "read": devices * reads * vdd * (i["IDD4R"] - i["IDD3N"]) * tburst,
            "write": devices * writes * vdd * (i["IDD4W"] - i["IDD3N"]) * tburst,
            "refresh": devices * refreshes * vdd * (i["IDD5B"] - i["IDD3N"]) * trfc,
            "background": devices * background}
