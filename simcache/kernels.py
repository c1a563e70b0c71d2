"""Numba kernels: arrays and integers in, counters out.

The state of all cache levels lives in flat arrays (one slot per way of every set of every
level), described row by row in `geo`. Every set keeps its slots in a doubly linked list,
most recent (LRU) or newest (FIFO) first, so hits and evictions are O(1). Sets with many
ways (register files, fully associative caches) find a line through an open-addressing
hash table per level; sets with few ways are scanned.

Requests below the first level (fetches, write-backs, forwards) go through an explicit
stack, so that each request is handled completely, with everything it causes below,
before the next one: the order that docs/model.md fixes.
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

# geo columns
G_SETS, G_WAYS, G_LBITS, G_WB, G_WA, G_POLICY, G_SLOT0, G_SET0, G_HASH0, G_HBITS, G_MASK = range(11)
NGEO = 11
LRU, FIFO, RANDOM = 0, 1, 2
# counters: ctr[phase, level, tensor, kind]
READS, WRITES, READ_HITS, WRITE_HITS, WRITEBACKS, BYTES_READ, BYTES_WRITTEN, SERVED = range(8)
NKINDS = 8
NTENSORS = 5
# request flags; F_INSTALL marks a stack entry that installs a fetched line (F_DIRTY: dirty)
F_WRITE, F_DEMAND, F_WB, F_INSTALL, F_DIRTY = 1, 2, 4, 8, 16
# stack columns
S_LEVEL, S_ADDR, S_SIZE, S_FLAGS, S_TENSOR = range(5)
SCAN_WAYS = 16  # sets with more ways than this use the hash table

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit
def _hash(line, hbits):
    return np.int64((np.uint64(line) * _GOLDEN) >> np.uint64(64 - hbits))


@njit
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


@njit
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


@njit
def _push_front(nxt, prv, head, tail, s, slot):
    h = head[s]
    prv[slot] = -1
    nxt[slot] = h
    if h >= 0:
        prv[h] = slot
    else:
        tail[s] = slot
    head[s] = slot


@njit
def _find(geo, tag, nxt, head, hkey, hslot, lv, s, line):
    """Slot holding `line` in global set `s` of level `lv`, or -1."""
    h = head[s]
    if h < 0:
        return np.int64(-1)
    if tag[h] == line:
        return np.int64(h)
    hbits = geo[lv, G_HBITS]
    if hbits > 0:
        return _hash_find(hkey, hslot, geo[lv, G_HASH0], hbits, line)
    slot = nxt[h]
    while slot >= 0:
        if tag[slot] == line:
            return np.int64(slot)
        slot = nxt[slot]
    return np.int64(-1)


@njit
def _xorshift(rng):
    x = rng[0]
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    rng[0] = x
    return x


@njit
def _push(stack, sp, lv, addr, size, flags, tensor):
    if sp >= stack.shape[0]:
        raise RuntimeError("simcache: request stack overflow")
    stack[sp, S_LEVEL] = lv
    stack[sp, S_ADDR] = addr
    stack[sp, S_SIZE] = size
    stack[sp, S_FLAGS] = flags
    stack[sp, S_TENSOR] = tensor
    return sp + 1


@njit
def _install(geo, st, ctr, phase, stack, sp, lv, s, line, tensor):
    """Place `line` into global set `s` of level `lv`; push a dirty victim's write-back.

    Returns (slot, sp)."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, rng = st
    ways = geo[lv, G_WAYS]
    first = geo[lv, G_SLOT0] + (s - geo[lv, G_SET0]) * ways
    hbits = geo[lv, G_HBITS]
    if fill[s] < ways:
        slot = first + fill[s]
        fill[s] += 1
    else:
        if geo[lv, G_POLICY] == RANDOM:
            slot = first + np.int64(_xorshift(rng) % np.uint64(ways))
        else:
            slot = np.int64(tail[s])
        if dirty[slot]:
            lbits = geo[lv, G_LBITS]
            ctr[phase, lv, owner[slot], WRITEBACKS] += 1
            sp = _push(stack, sp, lv + 1, tag[slot] << lbits, np.int64(1) << lbits,
                       F_WRITE | F_WB, owner[slot])
        if hbits > 0:
            _hash_delete(hkey, hslot, geo[lv, G_HASH0], hbits, tag[slot])
        _unlink(nxt, prv, head, tail, s, slot)
    tag[slot] = line
    dirty[slot] = 0
    owner[slot] = tensor
    _push_front(nxt, prv, head, tail, s, slot)
    if hbits > 0:
        _hash_insert(hkey, hslot, geo[lv, G_HASH0], hbits, line, slot)
    return slot, sp


@njit
def _memory(ctr, phase, mem, size, flags, tensor):
    if flags & F_WRITE:
        ctr[phase, mem, tensor, WRITES] += 1
        ctr[phase, mem, tensor, WRITE_HITS] += 1
        ctr[phase, mem, tensor, BYTES_WRITTEN] += size
    else:
        ctr[phase, mem, tensor, READS] += 1
        ctr[phase, mem, tensor, READ_HITS] += 1
        ctr[phase, mem, tensor, BYTES_READ] += size
    if flags & F_DEMAND:
        ctr[phase, mem, tensor, SERVED] += 1


@njit
def request(geo, st, ctr, phase, stack, lv, addr, size, flags, tensor):
    """Handle one request at level `lv` and everything it causes below."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, rng = st
    mem = geo.shape[0] - 1
    sp = _push(stack, 0, lv, addr, size, flags, tensor)
    while sp > 0:
        sp -= 1
        lv = stack[sp, S_LEVEL]
        addr = stack[sp, S_ADDR]
        size = stack[sp, S_SIZE]
        flags = stack[sp, S_FLAGS]
        tensor = stack[sp, S_TENSOR]
        if lv == mem:
            _memory(ctr, phase, mem, size, flags, tensor)
            continue
        lbits = geo[lv, G_LBITS]
        line = addr >> lbits
        mask = geo[lv, G_MASK]
        s = geo[lv, G_SET0] + ((line & mask) if mask >= 0 else (line % geo[lv, G_SETS]))
        if flags & F_INSTALL:
            # the fetched line has arrived: only now is the victim chosen
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
        write = flags & F_WRITE
        if write:
            ctr[phase, lv, tensor, WRITES] += 1
            ctr[phase, lv, tensor, BYTES_WRITTEN] += size
        else:
            ctr[phase, lv, tensor, READS] += 1
            ctr[phase, lv, tensor, BYTES_READ] += size
        slot = _find(geo, tag, nxt, head, hkey, hslot, lv, s, line)
        wb = geo[lv, G_WB]
        if slot >= 0:
            if write:
                ctr[phase, lv, tensor, WRITE_HITS] += 1
            else:
                ctr[phase, lv, tensor, READ_HITS] += 1
            if flags & F_DEMAND:
                ctr[phase, lv, tensor, SERVED] += 1
            if geo[lv, G_POLICY] == LRU and head[s] != slot:
                _unlink(nxt, prv, head, tail, s, slot)
                _push_front(nxt, prv, head, tail, s, slot)
            if write:
                if wb:
                    dirty[slot] = 1
                else:
                    sp = _push(stack, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
            continue
        # a miss; the stack is last-in first-out, so what happens last is pushed first
        if write and (flags & F_WB) and size == (np.int64(1) << lbits):
            # a whole dirty line from above: no fetch, every byte is overwritten
            slot, sp = _install(geo, st, ctr, phase, stack, sp, lv, s, line, tensor)
            if wb:
                dirty[slot] = 1
            else:
                sp = _push(stack, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
        elif write and not geo[lv, G_WA]:
            sp = _push(stack, sp, lv + 1, addr, size, flags, tensor)
        else:
            # read miss, or write-allocate: fetch, install, then dirty or forward
            if write and not wb:
                sp = _push(stack, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
            sp = _push(stack, sp, lv, addr, size,
                       F_INSTALL | (F_DIRTY if write and wb else 0), tensor)
            sp = _push(stack, sp, lv + 1, line << lbits, np.int64(1) << lbits,
                       flags & F_DEMAND, tensor)


@njit
def access(geo, st, ctr, stack, addr, size, flags, tensor):
    """One trace access (run phase). A hit in the first level's most recent line of the
    set needs no recency change: handled here without the request machinery."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, rng = st
    if geo.shape[0] > 1:
        lbits = geo[0, G_LBITS]
        line = addr >> lbits
        if ((addr + size - 1) >> lbits) == line:
            mask = geo[0, G_MASK]
            s = (line & mask) if mask >= 0 else (line % geo[0, G_SETS])
            h = head[s]
            if h >= 0 and tag[h] == line and (geo[0, G_WB] or not flags & F_WRITE):
                if flags & F_WRITE:
                    ctr[0, 0, tensor, WRITES] += 1
                    ctr[0, 0, tensor, WRITE_HITS] += 1
                    ctr[0, 0, tensor, BYTES_WRITTEN] += size
                    dirty[h] = 1
                else:
                    ctr[0, 0, tensor, READS] += 1
                    ctr[0, 0, tensor, READ_HITS] += 1
                    ctr[0, 0, tensor, BYTES_READ] += size
                ctr[0, 0, tensor, SERVED] += 1
                return
    request(geo, st, ctr, 0, stack, 0, addr, size, flags | F_DEMAND, tensor)


@njit
def run_trace(geo, st, ctr, stack, addr, size, is_write, tensor):
    """Replay trace arrays (one chunk) through the hierarchy."""
    for k in range(addr.shape[0]):
        access(geo, st, ctr, stack, addr[k], size[k], F_WRITE if is_write[k] else 0,
               np.int64(tensor[k]))


@njit
def run_nest(geo, st, ctr, stack, idx, ext, coef, base, tens, dsize, rows, cols, start, count):
    """Walk `count` iterations of a linear loop nest from flat iteration `start`.

    Each iteration whose input tap is in bounds (rows < 0: no check) reads x, reads w,
    reads y and writes y. `idx` is scratch of ext's length. Returns the MACs performed."""
    nd = ext.shape[0]
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
    for _ in range(count):
        if not check or (row >= 0 and row < rows and col >= 0 and col < cols):
            access(geo, st, ctr, stack, xa, dsize, 0, tx)
            access(geo, st, ctr, stack, wa, dsize, 0, tw)
            access(geo, st, ctr, stack, ya, dsize, 0, ty)
            access(geo, st, ctr, stack, ya, dsize, F_WRITE, ty)
            macs += 1
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
    return macs


@njit
def flush_level(geo, st, ctr, stack, lv, order):
    """End of run, one level: write back its dirty lines in the given slot order (flush
    phase). The caller passes the slots sorted by line number."""
    tag, dirty, owner, nxt, prv, head, tail, fill, hkey, hslot, rng = st
    lbits = geo[lv, G_LBITS]
    for k in range(order.shape[0]):
        slot = order[k]
        if tag[slot] >= 0 and dirty[slot]:
            dirty[slot] = 0
            t = np.int64(owner[slot])
            ctr[1, lv, t, WRITEBACKS] += 1
            request(geo, st, ctr, 1, stack, lv + 1, tag[slot] << lbits,
                    np.int64(1) << lbits, F_WRITE | F_WB, t)
