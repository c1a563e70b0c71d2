"""Numba kernels: arrays and integers in, counters out.

The state of all cache levels lives in flat arrays (one slot per way of every set of every
level), described level by level in `geo`. Every set keeps its slots in a doubly linked
list, most recent (LRU) or newest (FIFO) first, so hits and evictions are O(1). Sets with
many ways (register files, fully associative caches) find a line through an
open-addressing hash table per level; sets with few ways are scanned.

A hashed level can also have a direct lookup window, `where[line - first]`, over a range of
lines known in advance (a layer's tensors): inside it, finding, adding and removing a line
is one array access, with none of the hash table's data-dependent probing.

Requests below the first level (fetches, write-backs, forwards) go through an explicit
stack, so that each request is handled completely, with everything it causes below,
before the next one: the order that docs/model.md fixes. The common trace access takes a
shorter path with the same effect (see `access`).

`geo` and the counters are flat: geo[lv * NGEO + G_*] and
ctr[((phase * levels + lv) * NTENSORS + tensor) * NKINDS + kind], where `levels` counts
main memory (the last level). Flat indices keep the hot path short.
"""

from __future__ import annotations

import numpy as np
from numba import njit as _njit


def njit(*args, **kw):
    """Cached, free of the GIL, and compiled without Numba's reference counting: the kernels
    never allocate, and counting references to every array at every call costs more than
    the simulation itself (about 10x on the request path)."""
    kw.setdefault("cache", True)
    kw.setdefault("_nrt", False)
    kw.setdefault("nogil", True)  # independent runs share the cores on threads
    return _njit(*args, **kw)


# geo fields, per level
G_SETS, G_WAYS, G_LBITS, G_WB, G_WA, G_POLICY, G_SLOT0, G_SET0, G_HASH0, G_HBITS, G_MASK = range(11)
G_CHAIN = 11  # level 0 only: 1 if no level's line is larger than the next one's (`access`)
G_WLO, G_WSIZE, G_W0 = 12, 13, 14  # direct lookup window: first line, lines (0: none), offset
NGEO = 15
LRU, FIFO, RANDOM = 0, 1, 2
# counter kinds
READS, WRITES, READ_HITS, WRITE_HITS, WRITEBACKS, BYTES_READ, BYTES_WRITTEN, SERVED = range(8)
NKINDS = 8
NTENSORS = 5
# request flags; F_INSTALL marks a stack entry that installs a fetched line (F_DIRTY: dirty)
F_WRITE, F_DEMAND, F_WB, F_INSTALL, F_DIRTY = 1, 2, 4, 8, 16
# stack columns
S_LEVEL, S_ADDR, S_SIZE, S_FLAGS, S_TENSOR = range(5)
SCAN_WAYS = 16  # sets with more ways than this use the hash table

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(inline="always")
def _cix(levels, phase, lv, tensor):
    """Index of the first counter of (phase, level, tensor)."""
    return ((phase * levels + lv) * NTENSORS + tensor) * NKINDS


@njit(inline="always")
def _set(geo, lv, line):
    """Global index of the set of `line` at level `lv`."""
    g = lv * NGEO
    mask = geo[g + G_MASK]
    return geo[g + G_SET0] + ((line & mask) if mask >= 0 else (line % geo[g + G_SETS]))


# ---------------------------------------------------------------- hash tables


@njit(inline="always")
def _hash(line, hbits):
    return np.int64((np.uint64(line) * _GOLDEN) >> np.uint64(64 - hbits))


@njit(inline="always")
def _hash_find(hkey, hslot, h0, hbits, line):
    mask = (np.int64(1) << hbits) - 1
    i = _hash(line, hbits)
    while True:
        k = hkey[h0 + i]
        if k == line:
            return np.int64(hslot[h0 + i])
        if k < 0:
            return np.int64(-1)
        i = (i + 1) & mask


@njit(inline="always")
def _index_set(geo, hkey, hslot, where, g, line, slot):
    """Record (slot >= 0) or forget (slot = -1) where a hashed level holds `line`."""
    k = line - geo[g + G_WLO]
    if k >= 0 and k < geo[g + G_WSIZE]:
        where[geo[g + G_W0] + k] = slot
    elif slot >= 0:
        _hash_insert(hkey, hslot, geo[g + G_HASH0], geo[g + G_HBITS], line, slot)
    else:
        _hash_delete(hkey, hslot, geo[g + G_HASH0], geo[g + G_HBITS], line)


@njit
def _hash_insert(hkey, hslot, h0, hbits, line, slot):
    mask = (np.int64(1) << hbits) - 1
    i = _hash(line, hbits)
    while hkey[h0 + i] >= 0:
        i = (i + 1) & mask
    hkey[h0 + i] = line
    hslot[h0 + i] = slot


@njit
def _hash_delete(hkey, hslot, h0, hbits, line):
    # linear probing with backward-shift deletion: no tombstones
    mask = (np.int64(1) << hbits) - 1
    i = _hash(line, hbits)
    while hkey[h0 + i] != line:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        k = hkey[h0 + j]
        if k < 0:
            break
        home = _hash(k, hbits)
        # move k back to the hole at i if its home is not cyclically in (i, j]
        if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
            hkey[h0 + i] = k
            hslot[h0 + i] = hslot[h0 + j]
            i = j
    hkey[h0 + i] = -1


# ---------------------------------------------------------------- sets


@njit(inline="always")
def _unlink(nxt, prv, head, tail, s, slot):
    p = prv[slot]
    n = nxt[slot]
    if p >= 0:
        nxt[p] = n
    else:
        head[s] = n
    if n >= 0:
        prv[n] = p
    else:
        tail[s] = p


@njit(inline="always")
def _push_front(nxt, prv, head, tail, s, slot):
    h = head[s]
    prv[slot] = -1
    nxt[slot] = h
    if h >= 0:
        prv[h] = slot
    else:
        tail[s] = slot
    head[s] = slot


@njit(inline="always")
def _touch(geo, nxt, prv, head, tail, lv, s, slot):
    """A hit: the line becomes most recent under LRU (FIFO and random keep their order)."""
    if geo[lv * NGEO + G_POLICY] == LRU and head[s] != slot:
        _unlink(nxt, prv, head, tail, s, slot)
        _push_front(nxt, prv, head, tail, s, slot)


@njit(inline="always")
def _find(geo, tag, nxt, head, hkey, hslot, where, lv, s, line):
    """Slot holding `line` in global set `s` of level `lv`, or -1."""
    h = head[s]
    if h < 0:
        return np.int64(-1)
    if tag[h] == line:
        return np.int64(h)
    g = lv * NGEO
    hbits = geo[g + G_HBITS]
    if hbits > 0:
        k = line - geo[g + G_WLO]
        if k >= 0 and k < geo[g + G_WSIZE]:
            return np.int64(where[geo[g + G_W0] + k])
        return _hash_find(hkey, hslot, geo[g + G_HASH0], hbits, line)
    # few ways: the second most recent line is common (two streams in one set); past it,
    # compare every way without branching (a way never filled holds -1, no line number)
    second = nxt[h]
    if second >= 0 and tag[second] == line:
        return np.int64(second)
    ways = geo[g + G_WAYS]
    first = geo[g + G_SLOT0] + (s - geo[g + G_SET0]) * ways
    found = np.int64(-1)
    for slot in range(first, first + ways):
        found = slot if tag[slot] == line else found
    return found


@njit(inline="always")
def _xorshift(rng):
    x = rng[0]
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    rng[0] = x
    return x


@njit(inline="always")
def _push(stack, sp, lv, addr, size, flags, tensor):
    if sp >= stack.shape[0]:
        raise RuntimeError("simcache: request stack overflow")
    stack[sp, S_LEVEL] = lv
    stack[sp, S_ADDR] = addr
    stack[sp, S_SIZE] = size
    stack[sp, S_FLAGS] = flags
    stack[sp, S_TENSOR] = tensor
    return sp + 1


@njit(inline="always")
def _install(geo, st, ctr, phase, stack, sp, lv, s, line, tensor):
    """Place `line` into global set `s` of level `lv`; push a dirty victim's write-back.

    Returns (slot, sp)."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, where, rng = st
    g = lv * NGEO
    ways = geo[g + G_WAYS]
    hbits = geo[g + G_HBITS]
    if fill[s] < ways:
        slot = geo[g + G_SLOT0] + (s - geo[g + G_SET0]) * ways + fill[s]
        fill[s] += 1
    else:
        if geo[g + G_POLICY] == RANDOM:
            first = geo[g + G_SLOT0] + (s - geo[g + G_SET0]) * ways
            slot = first + np.int64(_xorshift(rng) % np.uint64(ways))
        else:
            slot = np.int64(tail[s])
        if dirty[slot]:
            lbits = geo[g + G_LBITS]
            victim = np.int64(owner[slot])
            ctr[_cix(geo.shape[0] // NGEO, phase, lv, victim) + WRITEBACKS] += 1
            sp = _push(stack, sp, lv + 1, tag[slot] << lbits, np.int64(1) << lbits,
                       F_WRITE | F_WB, victim)
        if hbits > 0:
            _index_set(geo, hkey, hslot, where, g, tag[slot], -1)
        _unlink(nxt, prv, head, tail, s, slot)
    tag[slot] = line
    dirty[slot] = 0
    owner[slot] = tensor
    _push_front(nxt, prv, head, tail, s, slot)
    if hbits > 0:
        _index_set(geo, hkey, hslot, where, g, line, slot)
    return slot, sp


@njit(inline="always")
def _count(ctr, c, write, size):
    """One request of `size` bytes reaches a level (c: its counter block)."""
    if write:
        ctr[c + WRITES] += 1
        ctr[c + BYTES_WRITTEN] += size
    else:
        ctr[c + READS] += 1
        ctr[c + BYTES_READ] += size


@njit(inline="always")
def _hit(ctr, c, write, demand):
    if write:
        ctr[c + WRITE_HITS] += 1
    else:
        ctr[c + READ_HITS] += 1
    if demand:
        ctr[c + SERVED] += 1


# ---------------------------------------------------------------- requests


@njit
def request(geo, st, ctr, phase, stack, lv, addr, size, flags, tensor):
    """Handle one request at level `lv` and everything it causes below (the general path)."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, where, rng = st
    levels = geo.shape[0] // NGEO
    mem = levels - 1
    sp = _push(stack, 0, lv, addr, size, flags, tensor)
    while sp > 0:
        sp -= 1
        lv = stack[sp, S_LEVEL]
        addr = stack[sp, S_ADDR]
        size = stack[sp, S_SIZE]
        flags = stack[sp, S_FLAGS]
        tensor = stack[sp, S_TENSOR]
        write = flags & F_WRITE
        c = _cix(levels, phase, lv, tensor)
        if lv == mem:  # main memory always hits and has no lines
            _count(ctr, c, write, size)
            _hit(ctr, c, write, flags & F_DEMAND)
            continue
        g = lv * NGEO
        lbits = geo[g + G_LBITS]
        line = addr >> lbits
        s = _set(geo, lv, line)
        if flags & F_INSTALL:
            # a fetched line has arrived: only now is a random victim drawn
            slot, sp = _install(geo, st, ctr, phase, stack, sp, lv, s, line, tensor)
            if flags & F_DIRTY:
                dirty[slot] = 1
            continue
        last = (addr + size - 1) >> lbits
        if last != line:
            # one request per line touched, the first handled first
            for ln in range(last, line - 1, -1):
                lo = max(addr, ln << lbits)
                hi = min(addr + size, (ln + 1) << lbits)
                sp = _push(stack, sp, lv, lo, hi - lo, flags, tensor)
            continue
        _count(ctr, c, write, size)
        slot = _find(geo, tag, nxt, head, hkey, hslot, where, lv, s, line)
        wb = geo[g + G_WB]
        if slot >= 0:
            _hit(ctr, c, write, flags & F_DEMAND)
            _touch(geo, nxt, prv, head, tail, lv, s, slot)
            if write:
                if wb:
                    dirty[slot] = 1
                else:
                    sp = _push(stack, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
            continue
        # a miss; the stack is last-in first-out, so what happens last is pushed first
        line_bytes = np.int64(1) << lbits
        if write and (flags & F_WB) and size == line_bytes:
            # a whole dirty line from above: no fetch, every byte is overwritten
            slot, sp = _install(geo, st, ctr, phase, stack, sp, lv, s, line, tensor)
            if wb:
                dirty[slot] = 1
            else:
                sp = _push(stack, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
        elif write and not geo[g + G_WA]:
            sp = _push(stack, sp, lv + 1, addr, size, flags, tensor)
        else:
            # read miss, or write-allocate: fetch, install, then dirty or forward
            if write and not wb:
                sp = _push(stack, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
            if geo[g + G_POLICY] == RANDOM:
                # the victim is drawn when the line arrives, after the fetch's own draws
                sp = _push(stack, sp, lv, addr, size,
                           F_INSTALL | (F_DIRTY if write and wb else 0), tensor)
            else:
                # an LRU or FIFO victim does not depend on what happens below: install now;
                # its write-back, pushed first, still goes down after the fetch
                slot, sp = _install(geo, st, ctr, phase, stack, sp, lv, s, line, tensor)
                if write and wb:
                    dirty[slot] = 1
            sp = _push(stack, sp, lv + 1, line << lbits, line_bytes, flags & F_DEMAND, tensor)


@njit
def _write_back(geo, st, ctr, stack, lv, addr, size, tensor):
    """A dirty line of `size` bytes arrives at level `lv` (run phase), handled completely.

    The common cases are handled here: memory, or a write-back level with lines of the
    same size, where it hits (now dirty) or is installed without a fetch (whole line).
    A further dirty victim, and every other case, takes the general path."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, where, rng = st
    levels = geo.shape[0] // NGEO
    c = _cix(levels, 0, lv, tensor)
    if lv == levels - 1:
        _count(ctr, c, True, size)
        _hit(ctr, c, True, False)
        return
    g = lv * NGEO
    if not geo[g + G_WB] or (np.int64(1) << geo[g + G_LBITS]) != size:
        request(geo, st, ctr, 0, stack, lv, addr, size, F_WRITE | F_WB, tensor)
        return
    line = addr >> geo[g + G_LBITS]
    s = _set(geo, lv, line)
    _count(ctr, c, True, size)
    slot = _find(geo, tag, nxt, head, hkey, hslot, where, lv, s, line)
    if slot >= 0:
        _hit(ctr, c, True, False)
        _touch(geo, nxt, prv, head, tail, lv, s, slot)
    else:
        slot, sp = _install(geo, st, ctr, 0, stack, 0, lv, s, line, tensor)
        if sp > 0:
            request(geo, st, ctr, 0, stack, stack[0, S_LEVEL], stack[0, S_ADDR],
                    stack[0, S_SIZE], stack[0, S_FLAGS], stack[0, S_TENSOR])
    dirty[slot] = 1


@njit(inline="always")
def _fold(ctr, quick):
    """Add the first level's quick counts (hits on the most recent line: always demand
    hits in the run phase) into the counters, and clear them."""
    for t in range(NTENSORS):
        c = t * NKINDS
        q = t * 4
        ctr[c + READS] += quick[q]
        ctr[c + READ_HITS] += quick[q]
        ctr[c + BYTES_READ] += quick[q + 1]
        ctr[c + WRITES] += quick[q + 2]
        ctr[c + WRITE_HITS] += quick[q + 2]
        ctr[c + BYTES_WRITTEN] += quick[q + 3]
        ctr[c + SERVED] += quick[q] + quick[q + 2]
        for k in range(4):
            quick[q + k] = 0


@njit(inline="always")
def access(geo, st, ctr, quick, stack, top, addr, size, flags, tensor):
    """One trace access (run phase). `top` holds the first level's fields, read once per
    kernel call: (line bits, set mask, sets, write-back, write-allocate, chain); `quick`
    counts the commonest case (see `_fold`). Returns True when the first level served it
    (a hit there, which changed nothing below).

    A hit on the most recent line of its set changes nothing but counters (and dirtiness):
    it is handled first. The next common case also takes a short path: a read, or a write
    to a write-back, write-allocate first level, inside one line of the first level, when
    no level's line is larger than the next one's. The access is then one line at every
    level: it descends until a level hits, and installs on the way back up, deepest first,
    so that each fetch is complete below before the level above chooses its victim
    (docs/model.md). Dirty victims and everything else take the general path."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, where, rng = st
    lbits0, mask0, sets0, wb0, wa0, chain = top
    levels = geo.shape[0] // NGEO
    write = flags & F_WRITE
    line = addr >> lbits0
    if levels == 1 or ((addr + size - 1) >> lbits0) != line:
        request(geo, st, ctr, 0, stack, 0, addr, size, flags | F_DEMAND, tensor)
        return False
    s = (line & mask0) if mask0 >= 0 else (line % sets0)
    h = head[s]
    if h >= 0 and tag[h] == line and (wb0 or not write):
        q = tensor * 4 + (2 if write else 0)  # (count, bytes) of reads, then of writes
        quick[q] += 1
        quick[q + 1] += size
        if write:
            dirty[h] = 1
        return True
    if not chain or (write and not (wb0 and wa0)):
        request(geo, st, ctr, 0, stack, 0, addr, size, flags | F_DEMAND, tensor)
        return False
    # descend until a level hits
    mem = levels - 1
    lv = 0
    nbytes = size
    while True:
        c = _cix(levels, 0, lv, tensor)
        if lv == mem:
            _count(ctr, c, False, nbytes)
            _hit(ctr, c, False, True)
            break
        w = write and lv == 0
        _count(ctr, c, w, nbytes)
        line = addr >> geo[lv * NGEO + G_LBITS]
        s = _set(geo, lv, line)
        slot = _find(geo, tag, nxt, head, hkey, hslot, where, lv, s, line)
        if slot >= 0:
            _hit(ctr, c, w, True)
            if w:
                dirty[slot] = 1
            _touch(geo, nxt, prv, head, tail, lv, s, slot)
            break
        nbytes = np.int64(1) << geo[lv * NGEO + G_LBITS]
        lv += 1
    served_here = lv == 0
    # install where it missed, deepest first
    while lv > 0:
        lv -= 1
        line = addr >> geo[lv * NGEO + G_LBITS]
        s = _set(geo, lv, line)
        slot, sp = _install(geo, st, ctr, 0, stack, 0, lv, s, line, tensor)
        if sp > 0:  # a dirty victim: its write-back goes down completely, now
            _write_back(geo, st, ctr, stack, stack[0, S_LEVEL], stack[0, S_ADDR],
                        stack[0, S_SIZE], stack[0, S_TENSOR])
        if write and lv == 0:
            dirty[slot] = 1
    return served_here


@njit(inline="always")
def _top(geo):
    """The first level's fields for `access`, read once."""
    return (geo[G_LBITS], geo[G_MASK], geo[G_SETS], geo[G_WB], geo[G_WA], geo[G_CHAIN])


# ---------------------------------------------------------------- kernels


@njit
def run_trace(geo, st, ctr, quick, stack, addr, size, is_write, tensor):
    """Replay trace arrays (one chunk) through the hierarchy."""
    top = _top(geo)
    for k in range(addr.shape[0]):
        access(geo, st, ctr, quick, stack, top, addr[k], size[k],
               F_WRITE if is_write[k] else 0, np.int64(tensor[k]))
    _fold(ctr, quick)


@njit(inline="always")
def _steps(offset, step, limit):
    """How many more steps of `step` keep `offset` below `limit` (step >= 0)."""
    if step == 0:
        return np.int64(1) << 62
    return (limit - 1 - offset) // step


@njit
def run_nest(geo, st, ctr, quick, stack, idx, ext, coef, base, tens, dsize, rows, cols, start,
             count):
    """Walk `count` iterations of a linear loop nest from flat iteration `start`.

    Each iteration whose input tap is in bounds (rows < 0: no check) reads x, reads w,
    reads y and writes y. `idx` is scratch of ext's length. Returns the MACs performed.

    Exact shortcut: when the four accesses of an iteration all hit a write-back first
    level, the next iterations of the innermost loop that touch the same first-level
    lines in the same order (and stay in bounds) are all hits too, and leave the state as
    it is (a repeated sequence of hits reproduces its own LRU order; FIFO and random do
    not change on hits; dirtiness is already set). They are counted without being walked.
    """
    top = _top(geo)
    levels = geo.shape[0] // NGEO
    lbits0 = top[0]
    skip_ok = levels > 1 and top[3] != 0  # a write-back first level
    nd = ext.shape[0]
    inner = nd - 1  # the innermost loop that actually loops
    while inner > 0 and ext[inner] == 1:
        inner -= 1
    for k in range(3):  # a tensor that leaves its line at every step leaves nothing to skip
        skip_ok = skip_ok and coef[k, inner] < (np.int64(1) << lbits0)
    rest = start
    for d in range(nd - 1, -1, -1):
        idx[d] = rest % ext[d]
        rest //= ext[d]
    xa, wa, ya, row, col = base[0], base[1], base[2], base[3], base[4]
    for d in range(nd):
        xa += coef[0, d] * idx[d]
        wa += coef[1, d] * idx[d]
        ya += coef[2, d] * idx[d]
        row += coef[3, d] * idx[d]
        col += coef[4, d] * idx[d]
    tx, tw, ty = np.int64(tens[0]), np.int64(tens[1]), np.int64(tens[2])
    check = rows >= 0
    macs = np.int64(0)
    it = np.int64(0)
    while it < count:
        if not check or (row >= 0 and row < rows and col >= 0 and col < cols):
            # read x, read w, read y, write y: one loop, so `access` is inlined once
            hits = 0
            for k in range(4):
                if k == 0:
                    a, t, f = xa, tx, 0
                elif k == 1:
                    a, t, f = wa, tw, 0
                else:
                    a, t, f = ya, ty, F_WRITE if k == 3 else 0
                if access(geo, st, ctr, quick, stack, top, a, dsize, f, t):
                    hits += 1
            macs += 1
            if hits == 4 and skip_ok:
                m = min(ext[inner] - 1 - idx[inner], count - 1 - it,
                        _steps(xa, coef[0, inner], ((xa >> lbits0) + 1) << lbits0),
                        _steps(wa, coef[1, inner], ((wa >> lbits0) + 1) << lbits0),
                        _steps(ya, coef[2, inner], ((ya >> lbits0) + 1) << lbits0))
                if check:
                    m = min(m, _steps(row, coef[3, inner], rows),
                            _steps(col, coef[4, inner], cols))
                if m > 0:
                    for k in range(3):
                        t = tx if k == 0 else (tw if k == 1 else ty)
                        c = t * NKINDS
                        ctr[c + READS] += m
                        ctr[c + READ_HITS] += m
                        ctr[c + BYTES_READ] += m * dsize
                        ctr[c + SERVED] += m
                    c = ty * NKINDS
                    ctr[c + WRITES] += m
                    ctr[c + WRITE_HITS] += m
                    ctr[c + BYTES_WRITTEN] += m * dsize
                    ctr[c + SERVED] += m
                    macs += m
                    it += m
                    idx[inner] += m
                    xa += coef[0, inner] * m
                    wa += coef[1, inner] * m
                    ya += coef[2, inner] * m
                    row += coef[3, inner] * m
                    col += coef[4, inner] * m
        it += 1
        d = nd - 1
        while d >= 0:
            idx[d] += 1
            xa += coef[0, d]
            wa += coef[1, d]
            ya += coef[2, d]
            row += coef[3, d]
            col += coef[4, d]
            if idx[d] < ext[d]:
                break
            e = ext[d]
            idx[d] = 0
            xa -= coef[0, d] * e
            wa -= coef[1, d] * e
            ya -= coef[2, d] * e
            row -= coef[3, d] * e
            col -= coef[4, d] * e
            d -= 1
    _fold(ctr, quick)
    return macs


@njit
def flush_level(geo, st, ctr, stack, lv, order):
    """End of run, one level: write back its dirty lines in the given slot order (flush
    phase). The caller passes the slots sorted by line number."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, where, rng = st
    levels = geo.shape[0] // NGEO
    lbits = geo[lv * NGEO + G_LBITS]
    for k in range(order.shape[0]):
        slot = order[k]
        if tag[slot] >= 0 and dirty[slot]:
            dirty[slot] = 0
            t = np.int64(owner[slot])
            ctr[_cix(levels, 1, lv, t) + WRITEBACKS] += 1
            request(geo, st, ctr, 1, stack, lv + 1, tag[slot] << lbits,
                    np.int64(1) << lbits, F_WRITE | F_WB, t)
