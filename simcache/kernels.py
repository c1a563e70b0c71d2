"""Numba kernels: one state array and trace arrays in, counters (in the state) out.

The whole simulation state is one flat int64 array `S`, cut into regions whose offsets
the state itself records (engine.State lays it out):

- a header (`H_*`): number of levels (main memory counts as the last one), where the
  counters, the quick counters and the request stack start, the stack's depth, and the
  random generator's state;
- one geometry row of `NGEO` fields per level (`G_*`), from `HDR` on;
- the counters, ctr[((phase * levels + level) * NTENSORS + tensor) * NKINDS + kind];
- per cache level, two words per way of every set: the line number it holds (-1: never
  filled), and a meta word (bit 0 dirty, bits 1-3 the owning tensor), each in a region of
  its own so that scanning a set reads only line numbers; for sets with few ways, two set
  words per set;
- for sets with many ways (register files, fully associative caches), recency rings and a
  line index (an open-addressing hash table, and a direct window over the lines of a
  layer's tensors);
- the outbox of a first level with many ways (`_defer`);
- the request stack.

One array instead of a dozen keeps the generated code small: each array an njit function
takes costs Numba seven values, and with a dozen of them the hot loops spilled to memory.

Sets with few ways (`SCAN_WAYS` or fewer) keep each line in its way, and two set words: an
order word that lists the ways in 4-bit fields, by recency under LRU (most recent first)
and by installation under FIFO (newest first), and the line of its first way. The
commonest case, a hit on that line, is one comparison; a probe then tries the second and
the last way (a set swept in a cycle hits its least recent line), and then compares every
way without branches (`_probe`); a hit or an installation reorders the ways
in a few operations on the order word, and the victim is the last way in it (random sets
use only its lowest field). Sets of the policies of real chips (plru, bitplru, srrip,
brrip; docs/model.md §2) keep their tree or MRU bits in the order word instead, or their
RRPVs in the meta words, and take calls of their own (`_state_lookup`, `_state_install`)
from `_lookup` and `_install`; a hierarchy with one of them runs the `pf` kernels (or the
`3c` ones), whose first-level hits go through `_lookup` too.
Sets with many ways keep their lines in place, linked in a ring in recency order (so that
reusing the least recent slot for a new line only moves the ring's head), and find a line
through the index.

A trace access that hits its first level (where that level hashes its sets: its most
recent line, or a line of its direct window) is handled inline in the kernel loops
(`_access`), and so is a hashed first level's miss on a line of its window (`_defer`): it
installs the line and leaves what it sends below in the outbox, which `_drain` sends on,
in order. Everything else is a call to `_miss`, which handles the commonest remaining case
on a short path, and all others through `request`. That handles each request completely,
with everything it causes below, before the next one (the order docs/model.md fixes),
with an explicit stack. The kernel loops are compiled once for each kind of first level
(`_loops`).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from numba import njit as _njit
from numba.core import config as _numba_config
from numba.cpython.unsafe.numbers import trailing_zeros


def _writable(path: str) -> bool:
    """Whether a file can be created in directory `path` (made if missing), as Numba checks
    it: a real write, since permissions say nothing on a read-only file system or to root."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def cache_place(package_dir: str, env_dir: str, home: str,
                writable=_writable) -> tuple[str | None, str | None]:
    """Where the compiled kernels are cached: (directory, note). The directory is None for
    the package's own __pycache__ (Numba's default), or the one to give Numba
    (NUMBA_CACHE_DIR if set and writable, else ~/.cache/simcache); "" when none is writable,
    and then the note says that the kernels are compiled on every run."""
    if env_dir and writable(env_dir):
        return env_dir, None
    if writable(os.path.join(package_dir, "__pycache__")):
        return None, None
    if home:
        user = os.path.join(home, ".cache", "simcache")
        if writable(user):
            return user, None
    return "", ("simcache: cannot cache the compiled kernels (the package and home "
                "directories are read-only); compiling them on every run")


_where, CACHE_NOTE = cache_place(os.path.dirname(os.path.abspath(__file__)),
                                 os.environ.get("NUMBA_CACHE_DIR", ""), os.path.expanduser("~"))
CACHE = _where != ""  # False: nowhere to cache; compiled on every run (CACHE_NOTE says so)
if _where:  # Numba reads it from the environment again when that changes, so set both
    os.environ["NUMBA_CACHE_DIR"] = _where
    _numba_config.CACHE_DIR = _where


def _inline_once() -> None:
    """Build each of this module's inlined helpers' Numba IR once per process, not once per
    call site. Numba's inliner (InlineWorker.inline_function) runs the untyped pipeline on
    the callee at every call site it inlines, and that pipeline inlines the callee's own
    helpers the same way, again, recursively: most of the first compile went there, and to
    deep copies of the IR it builds (BENCHMARKS.md, Start-up). The inliner copies the IR it
    is given before it changes anything, so handing it the same IR again builds the same
    code. Only the inline path (no SSA), only this module's functions, only without local
    type declarations, and keyed on the compile flags; any other use is Numba's own. If
    Numba's internals differ from what this expects, nothing changes."""
    try:
        from numba.core.inline_closurecall import InlineWorker
    except ImportError:
        return
    real = getattr(InlineWorker, "run_untyped_passes", None)
    if real is None or getattr(real, "simcache_once", False):
        return
    built: dict = {}

    def run_untyped_passes(self, func, enable_ssa=False):
        if enable_ssa or self.locals or getattr(func, "__module__", None) != __name__:
            return real(self, func, enable_ssa)
        try:
            flags = tuple(sorted((k, repr(v)) for k, v in self.flags.values().items()
                                 if k != "enable_ssa"))
        except Exception:
            return real(self, func, enable_ssa)
        key = (func, flags)
        if key not in built:
            built[key] = real(self, func, enable_ssa)
        else:
            self.flags.enable_ssa = enable_ssa  # as the real one leaves it
        return built[key]

    run_untyped_passes.simcache_once = True
    InlineWorker.run_untyped_passes = run_untyped_passes
    _copy_blocks_once()


class _SharedCopy:
    """Stands for the `copy` module inside Numba's inliner. The inliner deep-copies the
    callee's IR block by block, and every variable in a block refers to the function's scope,
    which holds every variable: each block's copy copied the whole scope again (most of the
    first compile's time). While one of this module's helpers is inlined, the blocks are
    copied with one memo, so the scope is copied once and the blocks share it; the inliner
    then moves every block into the caller's scope, as before."""

    memo: dict | None = None

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def deepcopy(self, x, memo=None, _nil=None):
        from numba.core import ir
        if memo is None and self.memo is not None and isinstance(x, ir.Block):
            memo = self.memo
        return self._real.deepcopy(x, memo)


def _copy_blocks_once() -> None:
    import copy

    from numba.core import inline_closurecall as ic
    if getattr(ic, "copy", None) is not copy or not hasattr(ic.InlineWorker, "inline_ir"):
        return
    shared = _SharedCopy(copy)
    real = ic.InlineWorker.inline_ir

    def inline_ir(self, caller_ir, block, i, callee_ir, callee_freevars, arg_typs=None):
        ours = getattr(getattr(callee_ir.func_id, "func", None), "__module__", None) == __name__
        if not ours or shared.memo is not None:
            return real(self, caller_ir, block, i, callee_ir, callee_freevars, arg_typs)
        shared.memo = {}
        try:
            return real(self, caller_ir, block, i, callee_ir, callee_freevars, arg_typs)
        finally:
            shared.memo = None

    ic.copy = shared
    ic.InlineWorker.inline_ir = inline_ir


_inline_once()


def njit(*args, **kw):
    """Cached (where a directory is writable, `cache_place`), free of the GIL, and compiled
    without Numba's reference counting: the kernels never allocate, and counting references
    to every array at every call costs more than the simulation itself (about 10x on the
    request path)."""
    kw.setdefault("cache", CACHE)
    kw.setdefault("_nrt", False)
    kw.setdefault("nogil", True)  # independent runs share the cores on threads
    return _njit(*args, **kw)


# header fields; H_FITS: the largest access (bytes) the request stack is deep enough for;
# H_BOX, H_BOXCAP, H_BOXN: where the outbox starts (0: none), its entries, and how many
# it holds (`_defer`)
# H_CCC: where the 3C counters start (0: no classification); H_RNG2: the generator of the
# shadows of random levels; H_GROW: set when a seen-line table is half full (`_seen_add`)
# H_PF: where the prefetch counters start (0: no level prefetches)
(H_LEVELS, H_CTR, H_QUICK, H_STACK, H_DEPTH, H_RNG, H_FITS, H_BOX, H_BOXCAP, H_BOXN,
 H_CCC, H_RNG2, H_GROW, H_PF) = range(14)
HDR = 14  # the first level's geometry row starts here
# geometry fields, per level. G_TAG, G_META: its slots' line numbers and meta words; G_NXT
# to G_WHERE are used by hashed levels only
(G_SETS, G_WAYS, G_LBITS, G_WB, G_WA, G_POLICY, G_MASK, G_HBITS, G_TAG, G_META, G_NXT,
 G_PRV, G_HEAD, G_FILL, G_HKEY, G_HSLOT, G_WLO, G_WSIZE, G_WHERE, G_CHAIN, G_SW,
 G_OMASK, G_PF, G_PFDIST, G_INCL, G_MARK, G_REG, G_FETCHW) = range(28)
NGEO = 28
# G_FETCHW: 1 for a cache level (not a register file) above an inclusive level, where a
# whole-line write miss that is not a write-back is still fetched, so that the inclusive
# level holds the line (docs/model.md, Inclusion); read only by the `pf` kernels
# G_INCL: the level's inclusion (INC_NINE...); G_MARK: the meta bits its lines carry (M_BINV
# at an inclusive level, M_VF at a level directly above an exclusive one); G_REG: 1 for a
# register file (line: element), which inclusion leaves alone
# G_PF, G_PFDIST: the level's prefetch policy (PF_NONE...) and distance in lines
# G_SW, G_OMASK (scanned levels only): where the set words start (two per set: the line of
# the order word's first way, or -1, then the order word), and the mask of its used bits
# G_CHAIN (first level only): 1 if no level's line is larger than the next one's (`_miss`)
# G_WLO, G_WSIZE, G_WHERE: the direct lookup window's first line, its lines (0: none), and
# where its table starts
# 3C classification (`_shadow`): level lv's fully associative shadow has the geometry row
# of level S[H_LEVELS] + lv (one set, hashed). Fields a shadow does not use hold its record
# of lines seen: a bitmap over the lines [G_SEENLO, G_SEENLO + G_SEENN) starting at
# G_SEENMAP, and for any other line a hash set of 2**G_SEENHB keys at G_SEENKEY holding
# G_SEENCOUNT of them
G_SEENLO, G_SEENN, G_SEENMAP, G_SEENKEY, G_SEENHB, G_SEENCOUNT = (G_WB, G_WA, G_SW, G_OMASK,
                                                                  G_CHAIN, G_MASK)
# 3C counters: ccc[((phase * levels + level) * NTENSORS + tensor) * NCCC + kind]
COMPULSORY, CAPACITY, CONFLICT = range(3)
NCCC = 3
LRU, FIFO, RANDOM = 0, 1, 2
# the policies of real chips (docs/model.md §2), on scanned sets only: their state is the
# set's order word (PLRU: tree bits, node n at bit n; BITPLRU: one MRU bit per way) or
# each line's RRPV in its meta word (SRRIP, BRRIP); `_state_lookup`, `_state_install`
PLRU, BITPLRU, SRRIP, BRRIP = 3, 4, 5, 6
M_RRPV = 8  # the shift of a line's 2-bit RRPV in its meta word (SRRIP, BRRIP)
RRPV_MAX = 3  # 2**M - 1, M = 2 (Jaleel et al., ISCA 2010)
BRRIP_EPSILON = 32  # BRRIP inserts at RRPV_MAX - 1 when its draw is 0 mod 32
# meta word of a record
M_DIRTY, M_OWNER = 1, 1  # the dirty bit; the shift of the owner field
# set on a line a prefetch installed, until a request other than a prefetch hits it (Dinero
# IV's `referenced` bit, inverted); never set on the plain path
M_PF = 16
# prefetch policies (docs/model.md, Prefetch), and prefetch counters:
# pf[((phase * levels + level) * NTENSORS + tensor) * NPF + kind]
PF_NONE, PF_ALWAYS, PF_MISS, PF_TAGGED = range(4)
PF_POLICIES = {"none": PF_NONE, "always": PF_ALWAYS, "miss": PF_MISS, "tagged": PF_TAGGED}
PF_ISSUED, PF_MISSES, PF_USEFUL, PF_UNUSED = range(4)
NPF = 4
# inclusion (docs/model.md, Inclusion): a line of an inclusive level, whose eviction
# back-invalidates the levels above (M_BINV), and a line of a level directly above an
# exclusive one, whose eviction fills that level (M_VF); never set on the plain path
M_BINV, M_VF = 32, 64
M_X = M_PF | M_BINV | M_VF  # an eviction that takes `_evict_x`
INC_NINE, INC_INCLUSIVE, INC_EXCLUSIVE = range(3)
INCLUSIONS = {"nine": INC_NINE, "inclusive": INC_INCLUSIVE, "exclusive": INC_EXCLUSIVE}
# inclusion counters follow the prefetch counters of each (phase, level, tensor): lines
# back-invalidated here, lines filled here from the level above (exclusive), and lines
# moved up from here (exclusive)
X_INVALIDATED, X_VICTIMS, X_PROMOTED = range(NPF, NPF + 3)
NX = NPF + 3  # counters per (phase, level, tensor) in the block at H_PF
# counter kinds
READS, WRITES, READ_HITS, WRITE_HITS, WRITEBACKS, BYTES_READ, BYTES_WRITTEN, SERVED = range(8)
NKINDS = 8
NTENSORS = 5
# request flags; F_INSTALL marks a stack entry that installs a fetched line (F_DIRTY: dirty)
F_WRITE, F_DEMAND, F_WB, F_INSTALL, F_DIRTY = 1, 2, 4, 8, 16
F_PF = 32  # a prefetch's lookup at its own level (F_INSTALL with it: installs a prefetched line)
F_VF = 64  # a clean victim filling an exclusive level (with F_WRITE | F_WB)
F_CANCEL = 128  # an install whose line an inclusive level below evicted on its way up
# phases, and reads and writes, as typed values: a literal argument would compile a
# function once more for that value
RUN, FLUSH = np.int64(0), np.int64(1)
READ, WRITE = np.bool_(False), np.bool_(True)
# what `_access` returns when the first level serves an access (BY_MISS, QUICK), and what
# `_miss` returns when the access needs the general path (GENERAL)
BY_MISS, QUICK, GENERAL = 1, 2, 3
# stack columns
S_LEVEL, S_ADDR, S_SIZE, S_FLAGS, S_TENSOR = range(5)
NSTACK = 5
SCAN_WAYS = 16  # sets with more ways than this are hashed
# what the kernels accept of a trace access (engine.check_chunk and the readers check it)
MAX_ACCESS = 1 << 16  # bytes of one access (Dinero's binary format holds 16 bits)
MAX_ADDRESS = (1 << 63) - 1  # its last byte; addresses are signed 64-bit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NIB1 = np.uint64(0x1111111111111111)  # 1 in every 4-bit field of an order word
_NIB8 = np.uint64(0x8888888888888888)  # the top bit of every field


# S[_u(i)]: an unsigned index, for which Numba skips its check for negative indices (about
# a third of the simulation's time); the cast itself costs nothing
_u = np.uint64


@njit(inline="always")
def _geo(lv):
    """Index of level `lv`'s geometry row."""
    return HDR + lv * NGEO


@njit(inline="always")
def _cix(S, phase, lv, tensor):
    """Index of the first counter of (phase, level, tensor)."""
    return S[H_CTR] + ((phase * S[H_LEVELS] + lv) * NTENSORS + tensor) * NKINDS


@njit(inline="always")
def _set(S, g, line):
    """Set of `line` at the level whose row starts at `g`."""
    mask = S[_u(g + G_MASK)]
    return (line & mask) if mask >= 0 else (line % S[_u(g + G_SETS)])


# ---------------------------------------------------------------- hash tables


@njit(inline="always")
def _hash(line, hbits):
    return np.int64((np.uint64(line) * _GOLDEN) >> np.uint64(64 - hbits))


@njit(inline="always")
def _hash_find(S, g, line):
    hk, hs, hbits = S[_u(g + G_HKEY)], S[_u(g + G_HSLOT)], S[_u(g + G_HBITS)]
    mask = (np.int64(1) << hbits) - 1
    i = _hash(line, hbits)
    while True:
        k = S[_u(hk + i)]
        if k == line:
            return S[_u(hs + i)]
        if k < 0:
            return np.int64(-1)
        i = (i + 1) & mask


@njit
def _hash_insert(S, g, line, slot):
    hk, hs, hbits = S[_u(g + G_HKEY)], S[_u(g + G_HSLOT)], S[_u(g + G_HBITS)]
    mask = (np.int64(1) << hbits) - 1
    i = _hash(line, hbits)
    while S[_u(hk + i)] >= 0:
        i = (i + 1) & mask
    S[_u(hk + i)] = line
    S[_u(hs + i)] = slot


@njit
def _hash_delete(S, g, line):
    # linear probing with backward-shift deletion: no tombstones
    hk, hs, hbits = S[_u(g + G_HKEY)], S[_u(g + G_HSLOT)], S[_u(g + G_HBITS)]
    mask = (np.int64(1) << hbits) - 1
    i = _hash(line, hbits)
    while S[_u(hk + i)] != line:
        i = (i + 1) & mask
    j = i
    while True:
        j = (j + 1) & mask
        k = S[_u(hk + j)]
        if k < 0:
            break
        home = _hash(k, hbits)
        # move k back to the hole at i if its home is not cyclically in (i, j]
        if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
            S[_u(hk + i)] = k
            S[_u(hs + i)] = S[_u(hs + j)]
            i = j
    S[_u(hk + i)] = -1


@njit(inline="always")
def _index_set(S, g, line, slot):
    """Record (slot >= 0) or forget (slot = -1) where a hashed level holds `line`."""
    k = line - S[_u(g + G_WLO)]
    if k >= 0 and k < S[_u(g + G_WSIZE)]:
        S[_u(S[_u(g + G_WHERE)] + k)] = slot
    elif slot >= 0:
        _hash_insert(S, g, line, slot)
    else:
        _hash_delete(S, g, line)


# ---------------------------------------------------------------- recency rings (hashed)


@njit(inline="always")
def _to_front(S, g, s, slot):
    """Make `slot`, already in set `s`'s ring, the most recent.

    A hashed set's filled slots form a ring, linked both ways, most recent first (the set's
    head), so the least recent is the head's predecessor. Making that one the most recent
    (a hit on it, or reusing it for a new line) only moves the head."""
    hd = S[_u(g + G_HEAD)] + s
    h = S[_u(hd)]
    if slot == h:
        return
    nxt, prv = S[_u(g + G_NXT)], S[_u(g + G_PRV)]
    t = S[_u(prv + h)]
    if slot != t:  # take it out, and put it back between the least and the most recent
        p, n = S[_u(prv + slot)], S[_u(nxt + slot)]
        S[_u(nxt + p)] = n
        S[_u(prv + n)] = p
        _link(S, nxt, prv, t, slot, h)
    S[_u(hd)] = slot


@njit(inline="always")
def _add_front(S, g, s, slot):
    """Add `slot`, not yet filled, to set `s`'s ring as the most recent."""
    hd = S[_u(g + G_HEAD)] + s
    h = S[_u(hd)]
    nxt, prv = S[_u(g + G_NXT)], S[_u(g + G_PRV)]
    if h < 0:
        _link(S, nxt, prv, slot, slot, slot)
    else:
        _link(S, nxt, prv, S[_u(prv + h)], slot, h)
    S[_u(hd)] = slot


@njit(inline="always")
def _link(S, nxt, prv, t, slot, h):
    """Link `slot` between `t` and `h` of a ring (all three the same: a ring of one)."""
    S[_u(nxt + slot)] = h
    S[_u(prv + slot)] = t
    S[_u(nxt + t)] = slot
    S[_u(prv + h)] = slot


# ---------------------------------------------------------------- sets


@njit(inline="always")
def _lookup(S, g, s, line):
    """A lookup that hits makes the line the most recent under LRU (FIFO and random keep
    their order). Returns the slot (set * ways + way) holding `line` in set `s`, or -1.

    A scanned set is probed (`_probe`); a hashed set compares its most recent line, then
    looks in the index. Lines stay in their slots."""
    tag = S[_u(g + G_TAG)]
    lru = S[_u(g + G_POLICY)] == LRU
    if S[_u(g + G_HBITS)] > 0:
        h = S[_u(S[_u(g + G_HEAD)] + s)]
        if h >= 0 and S[_u(tag + h)] == line:
            return h
        k = line - S[_u(g + G_WLO)]
        if k >= 0 and k < S[_u(g + G_WSIZE)]:
            slot = S[_u(S[_u(g + G_WHERE)] + k)]
        else:
            slot = _hash_find(S, g, line)
        if slot >= 0 and lru:
            _to_front(S, g, s, slot)
        return slot
    if S[_u(g + G_POLICY)] > RANDOM:  # plru, bitplru, srrip, brrip
        return _state_lookup(S, g, s, line)
    ways = S[_u(g + G_WAYS)]
    return _probe(S, S[_u(g + G_SW)] + 2 * s, s * ways, tag, ways, line, lru,
                  S[_u(g + G_OMASK)])


# ---------------------------------------------------------------- the policies of real chips


@njit(inline="always")
def _tree_touch(bits, ways, way):
    """Tree PLRU: point every node on the path from the root to `way` away from it. Node n
    is bit n (n from 1), its children 2n and 2n + 1; a bit 0 points to the lower half."""
    node = np.int64(1)
    half = ways >> 1
    while half > 0:
        if way & half:  # in the upper half: point to the lower one
            bits &= ~(np.int64(1) << node)
            node = 2 * node + 1
        else:
            bits |= np.int64(1) << node
            node = 2 * node
        half >>= 1
    return bits


@njit(inline="always")
def _mru_touch(bits, ways, way):
    """Bit PLRU: set `way`'s bit; if every bit would be set, keep only that one."""
    bits |= np.int64(1) << way
    if bits == (np.int64(1) << ways) - 1:
        bits = np.int64(1) << way
    return bits


@njit
def _state_touch(S, g, s, slot):
    """A lookup hit `slot` of set `s` of a plru, bitplru, srrip or brrip level."""
    pol = S[_u(g + G_POLICY)]
    ways = S[_u(g + G_WAYS)]
    o = S[_u(g + G_SW)] + 2 * s + 1
    if pol == PLRU:
        S[_u(o)] = _tree_touch(S[_u(o)], ways, slot - s * ways)
    elif pol == BITPLRU:
        S[_u(o)] = _mru_touch(S[_u(o)], ways, slot - s * ways)
    else:  # hit priority: RRPV 0
        S[_u(S[_u(g + G_META)] + slot)] &= ~(np.int64(RRPV_MAX) << M_RRPV)


@njit
def _state_lookup(S, g, s, line):
    """`_lookup` in a scanned set of a plru, bitplru, srrip or brrip level: every way
    compared (its order word holds the policy's bits, no order), and a hit touched."""
    ways = S[_u(g + G_WAYS)]
    slot = _scan(S, S[_u(g + G_TAG)], s * ways, (s + 1) * ways, line)
    if slot >= 0:
        _state_touch(S, g, s, slot)
    return slot


@njit
def _state_install(S, g, lv, phase, sp, s, line, tensor):
    """`_install` in a scanned set of a plru, bitplru, srrip or brrip level
    (docs/model.md §2): the lowest empty way, else the policy's victim (its write-back
    pushed); then the new line's state (a brrip level draws here). Returns (slot, sp)."""
    tag, meta = S[_u(g + G_TAG)], S[_u(g + G_META)]
    ways = S[_u(g + G_WAYS)]
    first = s * ways
    pol = S[_u(g + G_POLICY)]
    o = S[_u(g + G_SW)] + 2 * s + 1
    way = np.int64(-1)
    for w in range(ways):
        if S[_u(tag + first + w)] < 0:
            way = np.int64(w)
            break
    if way < 0:
        if pol == PLRU:  # follow the bits from the root
            node = np.int64(1)
            while node < ways:
                node = 2 * node + ((S[_u(o)] >> node) & 1)
            way = node - ways
        elif pol == BITPLRU:  # the lowest way whose bit is clear
            way = np.int64(trailing_zeros(np.uint64(~S[_u(o)])))
            if way >= ways:  # (one way)
                way = np.int64(0)
        else:  # the first distant line, after ageing every line until there is one
            near = np.int64(0)
            for w in range(ways):
                near = max(near, (S[_u(meta + first + w)] >> M_RRPV) & RRPV_MAX)
            if near < RRPV_MAX:
                for w in range(ways):
                    S[_u(meta + first + w)] += (RRPV_MAX - near) << M_RRPV
            for w in range(ways):
                if (S[_u(meta + first + w)] >> M_RRPV) & RRPV_MAX == RRPV_MAX:
                    way = np.int64(w)
                    break
        sp = _evict(S, g, lv, phase, first + way, sp)
    slot = first + way
    rrpv = np.int64(0)
    if pol == PLRU:
        S[_u(o)] = _tree_touch(S[_u(o)], ways, way)
    elif pol == BITPLRU:
        S[_u(o)] = _mru_touch(S[_u(o)], ways, way)
    elif pol == SRRIP:
        rrpv = np.int64(RRPV_MAX - 1)
    else:
        rrpv = np.int64(RRPV_MAX)
        if _xorshift(S) % np.uint64(BRRIP_EPSILON) == 0:
            rrpv = np.int64(RRPV_MAX - 1)
    S[_u(tag + slot)] = line
    S[_u(meta + slot)] = (tensor << M_OWNER) | (rrpv << M_RRPV)
    return slot, sp


@njit(inline="always")
def _probe(S, o, first, tag, ways, line, lru, omask):
    """The slot holding `line` in a scanned set, or -1; under LRU a hit makes it the most
    recent. `o`: the set's words; `first`: its first slot; `omask`: the used bits of its
    order word.

    It compares the first way in order, then the second, then the last (a set swept in a
    cycle hits its least recent line), then every way. A hit on the second or the last way
    reorders the order word's fields in a few operations: a swap of its two lowest fields,
    or a rotation (the same operation as an installation)."""
    order = S[_u(o + 1)]
    if S[_u(o)] == line:  # the most recent line
        return first + (order & 15)
    second = (order >> 4) & 15
    if S[_u(tag + first + second)] == line:
        if lru:  # swap the two lowest fields
            S[_u(o + 1)] = (order & ~np.int64(255)) | ((order & 15) << 4) | second
            S[_u(o)] = line
        return first + second
    last = (order >> (4 * (ways - 1))) & 15
    if S[_u(tag + first + last)] == line:
        if lru:  # it becomes the first: rotate the fields
            S[_u(o + 1)] = ((order << 4) | last) & omask
            S[_u(o)] = line
        return first + last
    slot = _scan(S, tag, first, first + ways, line)
    if slot >= 0 and lru:
        _front(S, o, slot - first)
        S[_u(o)] = line
    return slot


@njit(inline="always")
def _scan(S, tag, lo, hi, line):
    """The slot in [lo, hi) that holds `line`, or -1: every slot compared, without
    branches (a line is in at most one; a slot never filled holds -1, no line number)."""
    found = np.int64(-1)
    for slot in range(lo, hi):
        found = slot if S[_u(tag + slot)] == line else found
    return found


@njit(inline="always")
def _front(S, o, way):
    """Move `way` to the front (most recent) of the order word S[o + 1].

    An order word lists a scanned set's ways in 4-bit fields, the most recent (under FIFO:
    the newest) in the lowest. Without branches: find the field holding `way` (the lowest
    zero field of the word xor `way` in every field), then shift the fields below it up."""
    order = np.uint64(S[_u(o + 1)])
    w = np.uint64(way)
    x = order ^ (w * _NIB1)
    zero = (x - _NIB1) & ~x & _NIB8  # its lowest bit: the top bit of the lowest zero field
    top = zero & (~zero + np.uint64(1))
    above = order & ~((top << np.uint64(1)) - np.uint64(1))
    below = order & ((top >> np.uint64(3)) - np.uint64(1))
    S[_u(o + 1)] = np.int64(above | (below << np.uint64(4)) | w)


@njit(inline="always")
def _xorshift(S):
    x = np.uint64(S[H_RNG])
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    S[H_RNG] = np.int64(x)
    return x


@njit(inline="always")
def _push(S, sp, lv, addr, size, flags, tensor):
    if sp >= S[H_DEPTH]:
        raise RuntimeError("simcache: request stack overflow")
    e = S[H_STACK] + sp * NSTACK
    S[_u(e + S_LEVEL)] = lv
    S[_u(e + S_ADDR)] = addr
    S[_u(e + S_SIZE)] = size
    S[_u(e + S_FLAGS)] = flags
    S[_u(e + S_TENSOR)] = tensor
    return sp + 1


@njit(inline="always")
def _evict(S, g, lv, phase, slot, sp):
    """The line in `slot` leaves: push its write-back if it is dirty. Returns sp."""
    meta = S[_u(S[_u(g + G_META)] + slot)]
    if meta & M_X:  # prefetched, or under inclusion (never on the plain path)
        return _evict_x(S, g, lv, phase, slot, sp)
    if meta & M_DIRTY:
        lbits = S[_u(g + G_LBITS)]
        victim = (meta >> M_OWNER) & 7
        S[_u(_cix(S, phase, lv, victim) + WRITEBACKS)] += 1
        addr = S[_u(S[_u(g + G_TAG)] + slot)] << lbits
        sp = _push(S, sp, lv + 1, addr, np.int64(1) << lbits, F_WRITE | F_WB, victim)
    return sp


@njit(inline="always")
def _pf_count(S, phase, lv, tensor, kind):
    """One more of a prefetch or inclusion counter (`kind`: PF_ISSUED... X_INVALIDATED...)."""
    S[_u(S[H_PF] + ((phase * S[H_LEVELS] + lv) * NTENSORS + tensor) * NX + kind)] += 1


@njit
def _evict_x(S, g, lv, phase, slot, sp):
    """`_evict` for a line marked M_PF, M_BINV or M_VF. A prefetched line leaving unused is
    counted; an inclusive level's victim first back-invalidates its bytes above (dirty if
    a copy there was); then a dirty victim is written back, and above an exclusive level a
    clean one fills it too (F_VF). Returns sp."""
    meta = S[_u(S[_u(g + G_META)] + slot)]
    owner = (meta >> M_OWNER) & 7
    if meta & M_PF:
        _pf_count(S, phase, lv, owner, PF_UNUSED)
    lbits = S[_u(g + G_LBITS)]
    line = S[_u(S[_u(g + G_TAG)] + slot)]
    if meta & M_BINV and _back_invalidate(S, phase, lv, line, lbits, sp):
        meta |= M_DIRTY
    if meta & M_DIRTY:
        S[_u(_cix(S, phase, lv, owner) + WRITEBACKS)] += 1
        flags = F_WRITE | F_WB
    elif meta & M_VF:
        flags = F_WRITE | F_WB | F_VF
    else:
        return sp
    return _push(S, sp, lv + 1, line << lbits, np.int64(1) << lbits, flags, owner)


@njit
def _back_invalidate(S, phase, lv, line, lbits, sp):
    """Inclusive level `lv` evicts `line`: every copy of its bytes in a cache level above
    it is invalidated (counted there, X_INVALIDATED; a prefetched copy unused as PF_UNUSED),
    and so is every such line still on its way up (an install waiting on the stack below
    `sp`, which is cancelled). Returns whether one of them was dirty (its data then leaves
    with the victim)."""
    dirty = False
    for i in range(sp):
        e = S[H_STACK] + i * NSTACK
        f, k = S[_u(e + S_FLAGS)], S[_u(e + S_LEVEL)]
        if not f & F_INSTALL or f & F_CANCEL or k >= lv or S[_u(_geo(k) + G_REG)]:
            continue
        if (S[_u(e + S_ADDR)] >> lbits) != line:
            continue
        S[_u(e + S_FLAGS)] = f | F_CANCEL
        dirty = dirty or (f & F_DIRTY) != 0
        if f & F_PF:
            _pf_count(S, phase, k, S[_u(e + S_TENSOR)], PF_UNUSED)
        _pf_count(S, phase, k, S[_u(e + S_TENSOR)], X_INVALIDATED)
    for k in range(lv):
        gk = _geo(k)
        if S[_u(gk + G_REG)]:
            continue
        kb = S[_u(gk + G_LBITS)]
        meta = S[_u(gk + G_META)]
        for ln in range((line << lbits) >> kb, ((line + 1) << lbits) >> kb):
            s = _set(S, gk, ln)
            slot = _where(S, gk, s, ln)
            if slot < 0:
                continue
            m = S[_u(meta + slot)]
            owner = (m >> M_OWNER) & 7
            if m & M_DIRTY:
                dirty = True
            if m & M_PF:
                _pf_count(S, phase, k, owner, PF_UNUSED)
            _pf_count(S, phase, k, owner, X_INVALIDATED)
            _remove(S, gk, s, slot)
    return dirty


@njit
def _where(S, g, s, line):
    """The slot of set `s` holding `line`, or -1, changing nothing (no recency update)."""
    if S[_u(g + G_HBITS)] > 0:
        k = line - S[_u(g + G_WLO)]
        if k >= 0 and k < S[_u(g + G_WSIZE)]:
            return S[_u(S[_u(g + G_WHERE)] + k)]
        return _hash_find(S, g, line)
    ways = S[_u(g + G_WAYS)]
    return _scan(S, S[_u(g + G_TAG)], s * ways, (s + 1) * ways, line)


@njit
def _remove(S, g, s, slot):
    """Empty `slot` of set `s` (LRU or FIFO: random levels never lose lines, engine.State):
    the way becomes the set's next victim, so that an empty way is filled before any line
    leaves. The others keep their order."""
    tag, meta = S[_u(g + G_TAG)], S[_u(g + G_META)]
    line = S[_u(tag + slot)]
    S[_u(tag + slot)] = -1
    S[_u(meta + slot)] = 0
    if S[_u(g + G_HBITS)] > 0:
        _index_set(S, g, line, -1)
        head = S[_u(g + G_HEAD)] + s
        nxt, prv = S[_u(g + G_NXT)], S[_u(g + G_PRV)]
        h = S[_u(head)]
        if slot == h:  # the ring turns by one: the old head is its last
            S[_u(head)] = S[_u(nxt + slot)]
        elif S[_u(prv + h)] != slot:  # unlink, then link it in just before the head
            a, b = S[_u(prv + slot)], S[_u(nxt + slot)]
            S[_u(nxt + a)] = b
            S[_u(prv + b)] = a
            t = S[_u(prv + h)]
            S[_u(nxt + t)] = slot
            S[_u(prv + slot)] = t
            S[_u(nxt + slot)] = h
            S[_u(prv + h)] = slot
        return
    ways = S[_u(g + G_WAYS)]
    first = s * ways
    way = np.uint64(slot - first)
    o = S[_u(g + G_SW)] + 2 * s
    if S[_u(g + G_POLICY)] > RANDOM:  # bitplru clears its bit; tree bits and RRPVs stay
        if S[_u(g + G_POLICY)] == BITPLRU:
            S[_u(o + 1)] &= ~(np.int64(1) << np.int64(way))
        return
    order = np.uint64(S[_u(o + 1)])
    p = np.uint64(0)
    while (order >> (np.uint64(4) * p)) & np.uint64(15) != way:
        p += np.uint64(1)
    low = order & ((np.uint64(1) << (np.uint64(4) * p)) - np.uint64(1))
    high = np.uint64(0)
    if p + np.uint64(1) < np.uint64(16):  # (a shift by 64 would keep the word)
        high = order >> (np.uint64(4) * (p + np.uint64(1)))
    order = low | (high << (np.uint64(4) * p)) | (way << np.uint64(4 * (ways - 1)))
    S[_u(o + 1)] = np.int64(order)
    S[_u(o)] = S[_u(tag + first + np.int64(order & np.uint64(15)))]


@njit(inline="always")
def _install(S, lv, phase, sp, s, line, tensor):
    """Place `line` into set `s` of level `lv` (clean); push a dirty victim's write-back.

    Returns (slot, sp)."""
    g = _geo(lv)
    tag, meta = S[_u(g + G_TAG)], S[_u(g + G_META)]
    ways = S[_u(g + G_WAYS)]
    first = s * ways
    if S[_u(g + G_HBITS)] > 0:
        fill = S[_u(g + G_FILL)] + s
        if S[_u(fill)] < ways:
            slot = first + S[_u(fill)]
            S[_u(fill)] += 1
            _add_front(S, g, s, slot)
        else:
            if S[_u(g + G_POLICY)] == RANDOM:
                slot = first + np.int64(_xorshift(S) % np.uint64(ways))
            else:  # the least recent (LRU), or the oldest (FIFO)
                slot = S[_u(S[_u(g + G_PRV)] + S[_u(S[_u(g + G_HEAD)] + s)])]
            sp = _evict(S, g, lv, phase, slot, sp)
            if S[_u(tag + slot)] >= 0:  # (a way emptied by inclusion holds no line)
                _index_set(S, g, S[_u(tag + slot)], -1)
            _to_front(S, g, s, slot)
        S[_u(tag + slot)] = line
        S[_u(meta + slot)] = tensor << M_OWNER
        _index_set(S, g, line, slot)
        return slot, sp
    # a scanned set: lines stay in their ways
    if S[_u(g + G_POLICY)] > RANDOM:  # plru, bitplru, srrip, brrip
        return _state_install(S, g, lv, phase, sp, s, line, tensor)
    o = S[_u(g + G_SW)] + 2 * s
    order = np.uint64(S[_u(o + 1)])
    if S[_u(g + G_POLICY)] == RANDOM:
        last = first + ways - 1
        if S[_u(tag + last)] < 0:  # not full: the lowest way never filled
            slot = first
            while S[_u(tag + slot)] >= 0:
                slot += 1
        else:
            slot = first + np.int64(_xorshift(S) % np.uint64(ways))
            sp = _evict(S, g, lv, phase, slot, sp)
        order = np.uint64(slot - first)  # only its lowest field is used: the recent line's
    else:
        # LRU and FIFO: the victim is the last way in order. Ways never filled start
        # there, lowest last, and are never touched, so they are used lowest first; their
        # meta words are 0 (not dirty)
        way = (order >> np.uint64(4 * (ways - 1))) & np.uint64(15)
        slot = first + np.int64(way)
        sp = _evict(S, g, lv, phase, slot, sp)
        order = ((order << np.uint64(4)) | way) & np.uint64(S[_u(g + G_OMASK)])
    S[_u(tag + slot)] = line
    S[_u(meta + slot)] = tensor << M_OWNER
    S[_u(o)] = line
    S[_u(o + 1)] = np.int64(order)
    return slot, sp


@njit(inline="always")
def _dirty(S, lv, slot):
    S[_u(S[_u(_geo(lv) + G_META)] + slot)] |= M_DIRTY


@njit(inline="always")
def _count(S, c, write, size):
    """One request of `size` bytes reaches a level (c: its counter block)."""
    if write:
        S[_u(c + WRITES)] += 1
        S[_u(c + BYTES_WRITTEN)] += size
    else:
        S[_u(c + READS)] += 1
        S[_u(c + BYTES_READ)] += size


@njit(inline="always")
def _hit(S, c, write, demand):
    if write:
        S[_u(c + WRITE_HITS)] += 1
    else:
        S[_u(c + READ_HITS)] += 1
    if demand:
        S[_u(c + SERVED)] += 1


# ---------------------------------------------------------------- 3C classification


@njit(inline="always")
def _seen_add(S, sg, line):
    """Record that `line` missed level and shadow alike (shadow row `sg`); True if that is
    its first time (a compulsory miss). Sets H_GROW when the hash set is half full."""
    k = line - S[_u(sg + G_SEENLO)]
    if k >= 0 and k < S[_u(sg + G_SEENN)]:
        w = S[_u(sg + G_SEENMAP)] + (k >> 6)
        bit = np.int64(1) << (k & 63)
        if S[_u(w)] & bit:
            return False
        S[_u(w)] |= bit
        return True
    keys, hbits = S[_u(sg + G_SEENKEY)], S[_u(sg + G_SEENHB)]
    mask = (np.int64(1) << hbits) - 1
    i = _hash(line, hbits)
    while True:
        v = S[_u(keys + i)]
        if v == line:
            return False
        if v < 0:
            break
        i = (i + 1) & mask
    n = S[_u(sg + G_SEENCOUNT)] + 1
    if n >= mask:
        raise RuntimeError("simcache: the table of lines seen is full")
    S[_u(keys + i)] = line
    S[_u(sg + G_SEENCOUNT)] = n
    if 2 * n > mask:
        S[H_GROW] = 1
    return True


@njit
def seen_insert(S, sg, lines):
    """Put `lines` into the seen-line hash set of shadow row `sg` (its table regrown)."""
    for k in range(lines.shape[0]):
        _seen_add(S, sg, lines[k])


@njit
def _shadow(S, phase, lv, line, hit, allocates, tensor):
    """The request for `line` that level `lv` just looked up (`hit`) goes to its fully
    associative shadow of the same capacity, line and policy, which installs the line if
    it misses and the level would install it (`allocates`); then a miss of the level is
    classified, as Dinero IV classifies it: a conflict miss if the shadow hit; otherwise
    compulsory the first time the line misses both, and capacity after. Returns whether
    the shadow hit. A random shadow draws from a generator of its own, so that the
    level's draws stay what they are without classification. A fully associative level
    (one set) has no shadow apart (its row's set count is 0): it is its own, and its
    misses are never conflict misses."""
    levels = S[H_LEVELS]
    sl = levels + lv
    sg = _geo(sl)
    if S[_u(sg + G_SETS)] == 0:  # a fully associative level is its own shadow
        sh = np.int64(0) if hit else np.int64(-1)
    else:
        sh = _lookup(S, sg, np.int64(0), line)
    if sh < 0 and allocates and S[_u(sg + G_SETS)] > 0:
        if S[_u(sg + G_POLICY)] == RANDOM:
            own = S[H_RNG]
            S[H_RNG] = S[H_RNG2]
            _install(S, sl, phase, np.int64(0), np.int64(0), line, tensor)
            S[H_RNG2] = S[H_RNG]
            S[H_RNG] = own
        else:
            _install(S, sl, phase, np.int64(0), np.int64(0), line, tensor)
    if not hit:
        c = S[H_CCC] + ((phase * levels + lv) * NTENSORS + tensor) * NCCC
        if sh >= 0:
            S[_u(c + CONFLICT)] += 1
        elif _seen_add(S, sg, line):
            S[_u(c + COMPULSORY)] += 1
        else:
            S[_u(c + CAPACITY)] += 1
    return sh >= 0


# ---------------------------------------------------------------- requests


@njit(inline="always")
def _tap(S, addr, size, flags, tensor):
    """A request reaching main memory is recorded (`simcache mrc`: the hierarchy then holds
    only the levels above the level whose requests are wanted). Main memory's geometry
    row, otherwise unused, says where: G_TAG the records (address, size, flags | tensor
    << 8), G_WAYS how many fit, G_FILL how many are held, G_SETS how many make the kernel
    loops stop after the access or iteration under way (H_GROW set)."""
    g = _geo(S[H_LEVELS] - 1)
    n = S[_u(g + G_FILL)]
    if n >= S[_u(g + G_WAYS)]:
        raise RuntimeError("simcache: the tap's buffer is full")
    e = S[_u(g + G_TAG)] + 3 * n
    S[_u(e)] = addr
    S[_u(e + 1)] = size
    S[_u(e + 2)] = flags | (tensor << 8)
    S[_u(g + G_FILL)] = n + 1
    if n + 1 >= S[_u(g + G_SETS)]:
        S[H_GROW] = 1


def _request(ccc, tap=False, pf=False):
    """The general path, compiled with the 3C classification (`ccc`) or without it, and
    with the prefetchers of the levels (`pf`) or without them; with `tap`, every request
    that reaches main memory is recorded (`_tap`)."""

    @njit
    def request(S, phase, lv, addr, size, flags, tensor):
        """Handle one request at level `lv` and everything it causes below (the general path),
        classifying every cache level's misses (`_shadow`) if `ccc`; with `pf`, the levels'
        prefetchers issue their prefetches (docs/model.md, Prefetch)."""
        mem = S[H_LEVELS] - 1
        st = S[H_STACK]
        sp = _push(S, 0, lv, addr, size, flags, tensor)
        while sp > 0:
            sp -= 1
            e = st + sp * NSTACK
            lv = S[_u(e + S_LEVEL)]
            addr = S[_u(e + S_ADDR)]
            size = S[_u(e + S_SIZE)]
            flags = S[_u(e + S_FLAGS)]
            tensor = S[_u(e + S_TENSOR)]
            write = flags & F_WRITE
            c = _cix(S, phase, lv, tensor)
            if lv == mem:  # main memory always hits and has no lines
                _count(S, c, write, size)
                _hit(S, c, write, flags & F_DEMAND)
                if tap:
                    _tap(S, addr, size, flags, tensor)
                continue
            g = _geo(lv)
            lbits = S[_u(g + G_LBITS)]
            line = addr >> lbits
            s = _set(S, g, line)
            if flags & F_INSTALL:
                if pf and flags & F_CANCEL:  # its copy below left on its way up
                    continue
                # a fetched line has arrived: only now is a random victim drawn
                slot, sp = _install(S, lv, phase, sp, s, line, tensor)
                if flags & F_DIRTY:
                    _dirty(S, lv, slot)
                if pf:
                    S[_u(S[_u(g + G_META)] + slot)] |= S[_u(g + G_MARK)] | (
                        M_PF if flags & F_PF else 0)
                continue
            if pf and flags & F_PF:
                sp = _prefetch(S, phase, lv, g, sp, s, line, tensor)
                continue
            last = (addr + size - 1) >> lbits
            if last != line:
                # one request per line touched, the first handled first
                for ln in range(last, line - 1, -1):
                    lo = max(addr, ln << lbits)
                    hi = min(addr + size, (ln + 1) << lbits)
                    sp = _push(S, sp, lv, lo, hi - lo, flags, tensor)
                continue
            _count(S, c, write, size)
            slot = _lookup(S, g, s, line)
            wb = S[_u(g + G_WB)]
            if pf:
                # pushed first, so handled after all else this request causes (Dinero IV)
                sp = _pf_issue(S, g, sp, lv, line, slot, write, tensor)
                if slot >= 0:
                    m = S[_u(g + G_META)] + slot
                    if S[_u(m)] & M_PF:  # its first use
                        S[_u(m)] &= ~np.int64(M_PF)
                        _pf_count(S, phase, lv, (S[_u(m)] >> M_OWNER) & 7, PF_USEFUL)
                if S[_u(g + G_INCL)] == INC_EXCLUSIVE:
                    if flags & F_WB:  # a victim of the level above (or its flush)
                        _pf_count(S, phase, lv, tensor, X_VICTIMS)
                    elif not write:  # a fetch of the level above (or of one further up)
                        if slot >= 0:
                            _hit(S, c, write, flags & F_DEMAND)
                            sp = _promote(S, phase, lv, g, st, sp, s, slot)
                        else:  # passes through to the level above, not installed here
                            sp = _push(S, sp, lv + 1, line << lbits, np.int64(1) << lbits,
                                       flags & F_DEMAND, tensor)
                        continue
            clean = pf and (flags & F_VF) != 0  # a clean victim: nothing to write
            # a write miss here installs nothing without write-allocate (an exclusive
            # level takes the victims it is filled with whatever its write_allocate)
            forwards = write and not S[_u(g + G_WA)] and not (
                pf and flags & F_WB and S[_u(g + G_INCL)] == INC_EXCLUSIVE)
            if ccc and not (slot >= 0 and _shadow_hit(S, lv, line)):
                # what a miss here would install, the shadow installs too
                _shadow(S, phase, lv, line, slot >= 0, not forwards, tensor)
            if slot >= 0:
                _hit(S, c, write, flags & F_DEMAND)
                if write and not clean:
                    if wb:
                        _dirty(S, lv, slot)
                    else:
                        sp = _push(S, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
                continue
            # a miss; the stack is last-in first-out, so what happens last is pushed first
            line_bytes = np.int64(1) << lbits
            if forwards:  # no write-allocate: on below unchanged (still demand if it was)
                sp = _push(S, sp, lv + 1, addr, size, flags, tensor)
            elif write and size == line_bytes and not (
                    pf and S[_u(g + G_FETCHW)] and not flags & F_WB):
                # a whole line (Dinero IV's rule): no fetch, every byte is overwritten; the
                # level that installs a demand write serves it. A write-through level
                # forwards it after its victim's write-back (pushed first, handled after)
                if flags & F_DEMAND:
                    S[_u(c + SERVED)] += 1
                if not wb and not clean:
                    sp = _push(S, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
                if pf and S[_u(g + G_MARK)] & M_VF:  # exclusive below: its copy is stale
                    _drop_below(S, phase, lv + 1, line)
                slot, sp = _install(S, lv, phase, sp, s, line, tensor)
                if pf:
                    S[_u(S[_u(g + G_META)] + slot)] |= S[_u(g + G_MARK)]
                if wb and not clean:
                    _dirty(S, lv, slot)
            else:
                # read miss, or write-allocate: fetch, install, then dirty or forward
                if write and not wb:
                    sp = _push(S, sp, lv + 1, addr, size, flags & ~F_DEMAND, tensor)
                if pf or S[_u(g + G_POLICY)] == RANDOM or S[_u(g + G_POLICY)] == BRRIP:
                    # the victim is drawn when the line arrives, after the fetch's own draws;
                    # with `pf` always, as inclusion may empty ways of this level meanwhile
                    sp = _push(S, sp, lv, addr, size,
                               F_INSTALL | (F_DIRTY if write and wb else 0), tensor)
                else:
                    # an LRU or FIFO victim does not depend on what happens below: install now;
                    # its write-back, pushed first, still goes down after the fetch
                    slot, sp = _install(S, lv, phase, sp, s, line, tensor)
                    if write and wb:
                        _dirty(S, lv, slot)
                sp = _push(S, sp, lv + 1, line << lbits, line_bytes, flags & F_DEMAND, tensor)

    return request


request = _request(False)
request_ccc = _request(True)
request_tap = _request(False, tap=True)  # compiled only for `simcache mrc`
request_pf = _request(False, pf=True)  # compiled only when a level prefetches
# recording what reaches main memory with prefetching or inclusive/exclusive levels (the
# DRAM model, simcache/dram.py; compiled only for it)
request_tap_pf = _request(False, tap=True, pf=True)


@njit(inline="always")
def _pf_issue(S, g, sp, lv, line, slot, write, tensor):
    """A read other than a prefetch has looked up `line` at level `lv` (hit: slot >= 0):
    push the prefetch its policy asks for, if any. Returns sp."""
    policy = S[_u(g + G_PF)]
    if write or policy == PF_NONE:
        return sp
    if policy == PF_MISS and slot >= 0:
        return sp
    if policy == PF_TAGGED and slot >= 0 and not (S[_u(S[_u(g + G_META)] + slot)] & M_PF):
        return sp
    lbits = S[_u(g + G_LBITS)]
    target = line + S[_u(g + G_PFDIST)]
    if target > (MAX_ADDRESS >> lbits):  # past the last address: nothing to prefetch
        return sp
    return _push(S, sp, lv, target << lbits, np.int64(1) << lbits, F_PF, tensor)


@njit(inline="always")
def _prefetch(S, phase, lv, g, sp, s, line, tensor):
    """A prefetch of `line` at level `lv`: a lookup that counts as issued, and if it misses,
    installs the line (marked M_PF) and fetches it from below as an ordinary read. A hit
    updates recency as any lookup does. Returns sp."""
    _pf_count(S, phase, lv, tensor, PF_ISSUED)
    if _lookup(S, g, s, line) >= 0:
        return sp
    _pf_count(S, phase, lv, tensor, PF_MISSES)
    lbits = S[_u(g + G_LBITS)]
    # the victim is chosen when the line arrives
    sp = _push(S, sp, lv, line << lbits, np.int64(1) << lbits, F_INSTALL | F_PF, tensor)
    return _push(S, sp, lv + 1, line << lbits, np.int64(1) << lbits, 0, tensor)


@njit
def _drop_below(S, phase, lv, line):
    """A whole line written into the level above exclusive level `lv` without a fetch: the
    copy `lv` may hold of it is invalidated (X_INVALIDATED), so that it stays exclusive."""
    g = _geo(lv)
    s = _set(S, g, line)
    slot = _where(S, g, s, line)
    if slot >= 0:
        m = S[_u(S[_u(g + G_META)] + slot)]
        _pf_count(S, phase, lv, (m >> M_OWNER) & 7, X_INVALIDATED)
        _remove(S, g, s, slot)


@njit
def _promote(S, phase, lv, g, st, sp, s, slot):
    """A fetch from above hits exclusive level `lv`: the line moves up. It leaves this
    level (X_PROMOTED), and its dirty state goes to the install waiting under the fetch on
    the stack (the level that fetched pushed it just before). Returns sp."""
    m = S[_u(S[_u(g + G_META)] + slot)]
    _pf_count(S, phase, lv, (m >> M_OWNER) & 7, X_PROMOTED)
    e = st + (sp - 1) * NSTACK
    if sp < 1 or S[_u(e + S_LEVEL)] >= lv or not S[_u(e + S_FLAGS)] & F_INSTALL:
        raise RuntimeError("simcache: a line moving up from an exclusive level has no "
                           "install waiting")
    if m & M_DIRTY:
        S[_u(e + S_FLAGS)] |= F_DIRTY
    _remove(S, g, s, slot)
    return sp


@njit
def _write_back(S, lv, addr, size, tensor):
    """A dirty line of `size` bytes arrives at level `lv` (run phase), handled completely.

    The common cases are handled here: memory, or a write-back, write-allocate level with
    lines of the same size, where it hits (now dirty) or is installed without a fetch
    (whole line). A further dirty victim, and every other case (a level without
    write-allocate forwards it), takes the general path."""
    c = _cix(S, 0, lv, tensor)
    if lv == S[H_LEVELS] - 1:
        _count(S, c, True, size)
        _hit(S, c, True, False)
        return
    g = _geo(lv)
    if (not S[_u(g + G_WB)] or not S[_u(g + G_WA)]
            or (np.int64(1) << S[_u(g + G_LBITS)]) != size):
        request(S, RUN, lv, addr, size, F_WRITE | F_WB, tensor)
        return
    line = addr >> S[_u(g + G_LBITS)]
    s = _set(S, g, line)
    _count(S, c, True, size)
    slot = _lookup(S, g, s, line)
    if slot >= 0:
        _hit(S, c, True, False)
    else:
        slot, sp = _install(S, lv, 0, 0, s, line, tensor)
        if sp > 0:
            e = S[H_STACK]
            request(S, RUN, S[_u(e + S_LEVEL)], S[_u(e + S_ADDR)], S[_u(e + S_SIZE)],
                    S[_u(e + S_FLAGS)], S[_u(e + S_TENSOR)])
    _dirty(S, lv, slot)


@njit
def _miss(S, addr, size, write, tensor, missed):
    """A trace access (run phase) that `_access` did not serve (`missed`: because the first
    level does not hold its line). Returns BY_MISS when the first level served it, 0 when
    a level below did, and GENERAL when it needs the general path.

    The common case takes a short path: a read, or a write to a write-back,
    write-allocate first level, inside one line of the first level, when no level's line
    is larger than the next one's (`_fetch`). Everything else takes the general path.
    What `_defer` put in the outbox goes first."""
    if S[H_BOXN] > 0:
        _drain(S)
    levels = S[H_LEVELS]
    g = _geo(0)
    lbits0 = S[_u(g + G_LBITS)]
    if levels == 1 or ((addr + size - 1) >> lbits0) != (addr >> lbits0) or not S[_u(g + G_CHAIN)] \
            or (write and not (S[_u(g + G_WB)] and S[_u(g + G_WA)])):
        return GENERAL
    if write and size == (np.int64(1) << lbits0):  # a whole line: no fetch
        return _whole(S, addr, size, tensor, missed)
    lv, nbytes = np.int64(0), size
    if missed:  # known: count the first level's miss and go on below
        _count(S, _cix(S, 0, 0, tensor), write, size)
        lv, nbytes = np.int64(1), np.int64(1) << lbits0
    return BY_MISS if _fetch(S, 0, lv, addr, nbytes, write, tensor) == 0 else 0


@njit
def _whole(S, addr, size, tensor, missed):
    """A trace write of a whole line of a write-back, write-allocate first level (`_miss`).
    A hit makes it dirty (BY_MISS); a miss installs it dirty without a fetch, and the first
    level serves it (Dinero IV's rule); a dirty victim's write-back goes down completely.
    Returns BY_MISS for a hit, else 0."""
    g = _geo(0)
    line = addr >> S[_u(g + G_LBITS)]
    s = _set(S, g, line)
    c = _cix(S, 0, 0, tensor)
    _count(S, c, True, size)
    slot = np.int64(-1) if missed else _lookup(S, g, s, line)
    if slot >= 0:
        _hit(S, c, True, True)
        _dirty(S, 0, slot)
        return BY_MISS
    S[_u(c + SERVED)] += 1
    slot, sp = _install(S, 0, 0, 0, s, line, tensor)
    _dirty(S, 0, slot)
    if sp > 0:
        e = S[H_STACK]
        _write_back(S, S[_u(e + S_LEVEL)], S[_u(e + S_ADDR)], S[_u(e + S_SIZE)],
                    S[_u(e + S_TENSOR)])
    return np.int64(0)


@njit(inline="always")
def _fetch(S, first, lv, addr, nbytes, write, tensor):
    """A demand request of `nbytes` inside one line, from level `first` (a read, or a write
    to a write-back, write-allocate level `first`), whose lookup starts at level `lv`
    (`first` or the one below, when level `first` is known to miss and has counted it).
    Run phase, no level's line larger than the next one's: it is one line at every level.
    Returns the level that served it.

    It descends until a level hits, and installs on the way back up to level `first`,
    deepest first, so that each fetch is complete below before the level above chooses its
    victim (docs/model.md); a dirty victim's write-back goes down completely at once."""
    mem = S[H_LEVELS] - 1
    while True:
        c = _cix(S, 0, lv, tensor)
        if lv == mem:
            _count(S, c, False, nbytes)
            _hit(S, c, False, True)
            break
        g = _geo(lv)
        w = write and lv == first
        _count(S, c, w, nbytes)
        line = addr >> S[_u(g + G_LBITS)]
        s = _set(S, g, line)
        slot = _lookup(S, g, s, line)
        if slot >= 0:
            _hit(S, c, w, True)
            if w:
                _dirty(S, lv, slot)
            break
        nbytes = np.int64(1) << S[_u(g + G_LBITS)]
        lv += 1
    served = lv
    while lv > first:  # install where it missed, deepest first
        lv -= 1
        g = _geo(lv)
        line = addr >> S[_u(g + G_LBITS)]
        s = _set(S, g, line)
        slot, sp = _install(S, lv, 0, 0, s, line, tensor)
        if sp > 0:  # a dirty victim: its write-back goes down completely, now
            e = S[H_STACK]
            _write_back(S, S[_u(e + S_LEVEL)], S[_u(e + S_ADDR)], S[_u(e + S_SIZE)],
                        S[_u(e + S_TENSOR)])
        if write and lv == first:
            _dirty(S, lv, slot)
    return served


@njit
def _fetch_call(S, first, lv, addr, nbytes, write, tensor):
    """`_fetch`, as a call: where it is rare (`_drain`), inlining it only costs compile time."""
    return _fetch(S, first, lv, addr, nbytes, write, tensor)


# ---------------------------------------------------------------- deferred requests


@njit(inline="always")
def _defer(S, top, s, line, size, write, tensor):
    """A trace access that misses a first level of many ways (LRU or FIFO, write-back and
    write-allocate) whose set `s` is full, inside one line of it, in its direct window.
    Returns False, having changed nothing, when the set is not full.

    The first level installs the line now and puts what it sends below, the fetch (none
    for a write of the whole line) and then any dirty victim's write-back, in the outbox;
    `_drain` sends them on later, in order.
    The outcome is the same as sending them at once: such a level draws no random number,
    and nothing below it changes it; every other path drains the outbox first."""
    _, lbits0, _, _, _, ways0, tag0, meta0, head0, _, _, wlo0, wsize0, where0, _, _ = top
    g = _geo(0)
    if S[_u(S[_u(g + G_FILL)] + s)] < ways0:
        return False
    n = S[H_BOXN]
    if n + 2 > S[H_BOXCAP]:
        _drain(S)
        n = 0
    h = S[_u(head0 + s)]
    slot = S[_u(S[_u(g + G_PRV)] + h)]  # the least recent (LRU) or the oldest (FIFO)
    old, m = S[_u(tag0 + slot)], S[_u(meta0 + slot)]
    c = _cix(S, 0, 0, tensor)
    _count(S, c, write, size)
    e = S[H_BOX] + 2 * n
    if write and size == (np.int64(1) << lbits0):
        # a whole line: no fetch (Dinero IV's rule), and this level serves the write
        S[_u(c + SERVED)] += 1
        n -= 1
        e -= 2
    else:
        S[_u(e)] = line << lbits0  # an entry: the address, then the tensor and 1 for a write-back
        S[_u(e + 1)] = tensor << 1
    if m & M_DIRTY:
        victim = (m >> M_OWNER) & 7
        S[_u(_cix(S, 0, 0, victim) + WRITEBACKS)] += 1
        S[_u(e + 2)] = old << lbits0
        S[_u(e + 3)] = (victim << 1) | 1
        n += 1
    S[H_BOXN] = n + 1
    k = old - wlo0
    if k >= 0 and k < wsize0:
        S[_u(where0 + k)] = -1
    else:
        _hash_delete(S, g, old)
    S[_u(head0 + s)] = slot  # the ring's order stays: its head moves back by one
    S[_u(tag0 + slot)] = line
    S[_u(meta0 + slot)] = (tensor << M_OWNER) | (M_DIRTY if write else 0)
    S[_u(where0 + line - wlo0)] = slot
    return True


@njit
def _drain(S):
    """Send the outbox's requests to the second level, in order, each completely.

    A fetch that hits a scanned second level is handled here, with that level's fields
    read once; the rest as `_miss` would (`_fetch`, `_write_back`)."""
    nbytes = np.int64(1) << S[_u(_geo(0) + G_LBITS)]
    box = S[H_BOX]
    probe = (S[H_LEVELS] > 2 and S[_u(_geo(1) + G_HBITS)] == 0  # a scanned cache, not memory
             and S[_u(_geo(1) + G_POLICY)] <= RANDOM)  # whose order word is an order
    _, lbits, mask, sets, _, ways, tag, _, _, sw, lru, _, _, _, omask, _ = _top(S, 1)
    ctr = _cix(S, 0, 1, 0)
    second = np.int64(1)  # typed: a literal argument would compile `_write_back` again
    for k in range(S[H_BOXN]):
        addr, code = S[_u(box + 2 * k)], S[_u(box + 2 * k + 1)]
        t = code >> 1
        if code & 1:
            _write_back(S, second, addr, nbytes, t)
            continue
        lv, size = second, nbytes
        if probe:
            line = addr >> lbits
            s = (line & mask) if mask >= 0 else (line % sets)
            c = ctr + t * NKINDS
            _count(S, c, False, nbytes)
            if _probe(S, sw + 2 * s, s * ways, tag, ways, line, lru, omask) >= 0:
                _hit(S, c, False, True)
                continue
            lv, size = second + 1, np.int64(1) << lbits  # on below, then installed here
        _fetch_call(S, second, lv, addr, size, READ, t)
    S[H_BOXN] = 0


# ---------------------------------------------------------------- kernels


@njit(inline="always")
def _top(S, lv):
    """Level `lv`'s fields for the lookups of the kernel loops (the first level, `_access`)
    and of `_drain` (the second), read once per call. The first field says whether the
    first level is a cache; the last is where the quick counts start."""
    g = _geo(lv)
    return (S[H_LEVELS] > 1, S[_u(g + G_LBITS)], S[_u(g + G_MASK)], S[_u(g + G_SETS)],
            S[_u(g + G_WB)] != 0, S[_u(g + G_WAYS)], S[_u(g + G_TAG)],
            S[_u(g + G_META)], S[_u(g + G_HEAD)], S[_u(g + G_SW)],
            S[_u(g + G_POLICY)] == LRU, S[_u(g + G_WLO)], S[_u(g + G_WSIZE)],
            S[_u(g + G_WHERE)], S[_u(g + G_OMASK)], S[H_QUICK])


@njit(inline="always")
def _access(S, top, addr, size, write, tensor, hashed):
    """One trace access (run phase). Returns QUICK when the first level served it here (the
    caller counts it, see `_fold`), BY_MISS when it served it in `_miss`, and 0 when it
    did not hold the line.

    If the first level is write-back, a hit there changes only its dirtiness and the order
    of its set, and is handled here: in a scanned set by comparing with the first line in
    its order, then the second, then the last, then every way (under LRU the line then
    becomes the most recent); in a hashed set by comparing with the most recent line, then
    looking the line up in the direct window. The rest is a call to `_miss`, which is told
    when the first level is known not to hold the line."""
    cached, lbits0, mask0, sets0, wb0, ways0, tag0, meta0, head0, sw0, lru0, \
        wlo0, wsize0, where0, omask0, _ = top
    line = addr >> lbits0
    missed = False
    if cached and ((addr + size - 1) >> lbits0) == line and (wb0 or not write):
        s = (line & mask0) if mask0 >= 0 else (line % sets0)
        if not hashed:
            h = _probe(S, sw0 + 2 * s, s * ways0, tag0, ways0, line, lru0, omask0)
            missed = h < 0  # the first level does not hold the line
        else:
            h = S[_u(head0 + s)]
            if h >= 0 and S[_u(tag0 + h)] != line:  # a line of the direct window is found here
                k = line - wlo0
                h = -1
                if k >= 0 and k < wsize0:
                    h = S[_u(where0 + k)]
                    missed = h < 0
                    if h >= 0 and lru0:
                        _relink(S, s, h)
                    elif missed and S[H_BOX] > 0 and _defer(S, top, s, line, size, write, tensor):
                        return 0
        if h >= 0:
            if write:
                S[_u(meta0 + h)] |= M_DIRTY
            return QUICK
    r = _miss(S, addr, size, write, tensor, missed)
    if r == GENERAL:
        request(S, RUN, RUN, addr, size, (F_WRITE if write else 0) | F_DEMAND, tensor)
        return 0
    return r


@njit(inline="always")
def _access_ccc(S, top, addr, size, write, tensor):
    """One trace access (run phase) with its misses classified. Returns QUICK when the
    first level and its shadow both hit (the caller counts it); otherwise 0, counted here.

    A first-level hit is handled here, and the shadow sees it; everything else takes the
    general path, which classifies (`request_ccc`). The nest's repeated-hit shortcut
    needs both to hit: a repeated sequence of hits then changes neither."""
    cached, lbits0, mask0, sets0, wb0, _, _, meta0 = top[:8]
    line = addr >> lbits0
    if cached and ((addr + size - 1) >> lbits0) == line and (wb0 or not write):
        s = (line & mask0) if mask0 >= 0 else (line % sets0)
        h = _lookup(S, np.int64(HDR), s, line)
        if h >= 0:
            if write:
                S[_u(meta0 + h)] |= M_DIRTY
            if _shadow_hit(S, RUN, line):
                return QUICK
            if _shadow(S, RUN, RUN, line, True, not write or S[_u(HDR + G_WA)] != 0, tensor):
                return QUICK
            c = _cix(S, 0, 0, tensor)
            _count(S, c, write, size)
            _hit(S, c, write, True)
            return 0
    request_ccc(S, RUN, RUN, addr, size, (F_WRITE if write else 0) | F_DEMAND, tensor)
    return 0


@njit(inline="always")
def _access_pf(S, top, addr, size, write, tensor):
    """One trace access (run phase) when some level prefetches. Returns QUICK when the
    first level served it here (the caller counts it); otherwise 0, counted on the general
    path (`request_pf`).

    Only a first-level hit that its prefetcher ignores is handled here: a write, or a read
    under `none` or `miss`, or under `tagged` on a line used before; and never the first
    use of a prefetched line (M_PF, counted as useful there). Such a hit changes only the
    first level's recency and dirtiness, so the nest's repeated-hit shortcut stays exact."""
    cached, lbits0, mask0, sets0, wb0, _, _, meta0 = top[:8]
    line = addr >> lbits0
    if cached and ((addr + size - 1) >> lbits0) == line and (wb0 or not write):
        s = (line & mask0) if mask0 >= 0 else (line % sets0)
        h = _lookup(S, np.int64(HDR), s, line)
        if h >= 0 and not (S[_u(meta0 + h)] & M_PF) and (write or S[_u(HDR + G_PF)] != PF_ALWAYS):
            if write:
                S[_u(meta0 + h)] |= M_DIRTY
            return QUICK
    request_pf(S, RUN, RUN, addr, size, (F_WRITE if write else 0) | F_DEMAND, tensor)
    return 0


@njit(inline="always")
def _shadow_hit(S, lv, line):
    """A hit at level `lv`, where its shadow most often hits too: True when it did, and was
    handled here without a call (the level is its own shadow; or the shadow's most recent
    line, or a line of its window, as `_lookup` tries first). False: call `_shadow`."""
    sg = _geo(S[H_LEVELS] + lv)
    if S[_u(sg + G_SETS)] == 0:
        return True
    sh = S[_u(S[_u(sg + G_HEAD)])]
    if sh >= 0 and S[_u(S[_u(sg + G_TAG)] + sh)] == line:
        return True
    k = line - S[_u(sg + G_WLO)]
    if k >= 0 and k < S[_u(sg + G_WSIZE)]:
        sh = S[_u(S[_u(sg + G_WHERE)] + k)]
        if sh >= 0:
            if S[_u(sg + G_POLICY)] == LRU:
                _shadow_front(S, sg, sh)
            return True
    return False


@njit
def _shadow_front(S, sg, slot):
    """A hit on `slot` of the LRU shadow whose row is `sg`: it becomes the most recent
    there (a call, so that the loops that use `_shadow_hit` stay small)."""
    _to_front(S, sg, np.int64(0), slot)


@njit(inline="always")
def _access_tap(S, top, addr, size, write, tensor):
    """One trace access (run phase) whose requests to main memory are recorded (`_tap`).
    Returns QUICK when the first level served it here (the caller counts it); otherwise
    0, counted here. A first-level hit is handled here; everything else takes the general
    path, which records (`request_tap`): no shortcut below the first level, and the
    nest's repeated-hit shortcut skips only first-level hits, which send nothing below."""
    cached, lbits0, mask0, sets0, wb0, _, _, meta0 = top[:8]
    line = addr >> lbits0
    if cached and ((addr + size - 1) >> lbits0) == line and (wb0 or not write):
        s = (line & mask0) if mask0 >= 0 else (line % sets0)
        h = _lookup(S, np.int64(HDR), s, line)
        if h >= 0:
            if write:
                S[_u(meta0 + h)] |= M_DIRTY
            return QUICK
    request_tap(S, RUN, RUN, addr, size, (F_WRITE if write else 0) | F_DEMAND, tensor)
    return 0


@njit(inline="always")
def _access_tap_pf(S, top, addr, size, write, tensor):
    """`_access_pf` whose requests to main memory are recorded (`request_tap_pf`): the
    same first-level hits are handled here, everything else takes the general path."""
    cached, lbits0, mask0, sets0, wb0, _, _, meta0 = top[:8]
    line = addr >> lbits0
    if cached and ((addr + size - 1) >> lbits0) == line and (wb0 or not write):
        s = (line & mask0) if mask0 >= 0 else (line % sets0)
        h = _lookup(S, np.int64(HDR), s, line)
        if h >= 0 and not (S[_u(meta0 + h)] & M_PF) and (write or S[_u(HDR + G_PF)] != PF_ALWAYS):
            if write:
                S[_u(meta0 + h)] |= M_DIRTY
            return QUICK
    request_tap_pf(S, RUN, RUN, addr, size, (F_WRITE if write else 0) | F_DEMAND, tensor)
    return 0


@njit(inline="always")
def _step(S, top, addr, size, write, tensor, hashed, ccc, tap=False, pf=False):
    """One access of a nest: `_access`, with classification `_access_ccc`, with prefetch
    `_access_pf`, or recording what reaches main memory `_access_tap` (with prefetch or
    inclusion, `_access_tap_pf`)."""
    if tap and pf:
        return _access_tap_pf(S, top, addr, size, write, tensor)
    if tap:
        return _access_tap(S, top, addr, size, write, tensor)
    if ccc:
        return _access_ccc(S, top, addr, size, write, tensor)
    if pf:
        return _access_pf(S, top, addr, size, write, tensor)
    return _access(S, top, addr, size, write, tensor, hashed)


@njit
def _relink(S, s, slot):
    """A hit on `slot` of set `s` of a hashed first level, under LRU: it becomes the most
    recent (a call, so that the kernel loops stay small)."""
    _to_front(S, HDR, s, slot)


@njit
def _fold(S):
    """Add the first level's quick counts (the hits `_access` handled: demand hits in the
    run phase) into the counters, and clear them."""
    for t in range(NTENSORS):
        c = _cix(S, 0, 0, t)
        q = S[H_QUICK] + t * 4
        S[_u(c + READS)] += S[_u(q)]
        S[_u(c + READ_HITS)] += S[_u(q)]
        S[_u(c + BYTES_READ)] += S[_u(q + 1)]
        S[_u(c + WRITES)] += S[_u(q + 2)]
        S[_u(c + WRITE_HITS)] += S[_u(q + 2)]
        S[_u(c + BYTES_WRITTEN)] += S[_u(q + 3)]
        S[_u(c + SERVED)] += S[_u(q)] + S[_u(q + 2)]
        for k in range(4):
            S[_u(q + k)] = 0


@njit(inline="always")
def _quick_add(S, quick, tensor, write, count, nbytes):
    """Add to the quick counts of `tensor`'s reads or writes: (count, bytes) of reads,
    then of writes, four words per tensor from `quick`."""
    q = quick + tensor * 4 + (2 if write else 0)
    S[_u(q)] += count
    S[_u(q + 1)] += nbytes


@njit(inline="always")
def _tally(S, quick, size, is_write, tensor, sign):
    """Add `sign` times every access of a chunk to the quick counts. Returns the largest
    access's size."""
    largest = np.int64(0)
    for k in range(size.shape[0]):
        _quick_add(S, quick, np.int64(tensor[k]), is_write[k] != 0, sign, sign * size[k])
        largest = max(largest, size[k])
    return largest


@njit(inline="always")
def _steps(offset, step, limit):
    """How many more steps of `step` keep `offset` below `limit` (step >= 0, offset <
    limit). A step that is a power of two, as a layer's usually are, is a shift instead of
    a division."""
    if step == 0:
        return np.int64(1) << 62
    if step & (step - 1) == 0:
        return (limit - 1 - offset) >> trailing_zeros(step)
    return (limit - 1 - offset) // step


def _loops(hashed, ccc, guarded=False, tap=False, pf=False):
    """The kernel loops for a first level whose sets are hashed (`hashed`), or scanned:
    each is compiled without the other's lookups (a closure's variable is a constant to
    Numba), which keeps its loop small; with the 3C classification (`ccc`), whose loops do
    not take the plain path's shortcuts below the first level; and, for the nest, with
    guard forms (`guarded`: a tiled loop's shorter last tile), which a nest without them
    does not pay for (its guard loops have no trip, and are compiled away); with the
    levels' prefetchers (`pf`), whose loops take only the first-level hits `_access_pf`
    allows, no outbox and no `_miss` path; with `tap` (`simcache mrc`), recording what
    reaches main memory (`_access_tap`), stopping after the access or iteration under way
    when the records are nearly full (H_GROW): the trace loop then returns −k (k accesses
    done), the nest loop the iterations done."""
    # (only booleans are closed over: Numba's cache key hashes the closure's values)

    @njit
    def run_trace(S, addr, size, is_write, tensor):
        """Replay trace arrays (one chunk) through the hierarchy. Returns 0; or, having
        changed nothing, the largest access's size when the request stack is not deep enough
        for it (the caller deepens the stack and calls again); or, classifying, −k when it
        stopped after k accesses for a table of lines seen to grow (the caller grows it and
        goes on from there).

        The quick counts are every access, counted in a pass of their own, less those that
        `_access` did not serve quickly: counting the quick ones in the simulation loop, as
        they happen, cost more than that pass (BENCHMARKS.md)."""
        top = _top(S, 0)
        quick = top[-1]
        if pf and not tap:  # counted as they come
            largest = np.int64(0)
            for k in range(size.shape[0]):
                largest = max(largest, size[k])
            if largest > S[H_FITS]:
                return largest
            for k in range(addr.shape[0]):
                n, w, t = size[k], is_write[k] != 0, np.int64(tensor[k])
                if _access_pf(S, top, addr[k], n, w, t) == QUICK:
                    _quick_add(S, quick, t, w, 1, n)
            _fold(S)
            return np.int64(0)
        if ccc or tap:  # counted as they come: the run may stop early (a negative return)
            largest = np.int64(0)
            for k in range(size.shape[0]):
                largest = max(largest, size[k])
            if largest > S[H_FITS]:
                return largest
            for k in range(addr.shape[0]):
                n, w, t = size[k], is_write[k] != 0, np.int64(tensor[k])
                if tap and pf:
                    r = _access_tap_pf(S, top, addr[k], n, w, t)
                elif tap:
                    r = _access_tap(S, top, addr[k], n, w, t)
                else:
                    r = _access_ccc(S, top, addr[k], n, w, t)
                if r == QUICK:
                    _quick_add(S, quick, t, w, 1, n)
                if S[H_GROW]:  # a table of lines seen must grow: stop after this access
                    _fold(S)
                    return -np.int64(k + 1)
            _fold(S)
            return np.int64(0)
        largest = _tally(S, quick, size, is_write, tensor, 1)
        if largest > S[H_FITS]:
            _tally(S, quick, size, is_write, tensor, -1)  # undone
            return largest
        for k in range(addr.shape[0]):
            n, w, t = size[k], is_write[k] != 0, np.int64(tensor[k])
            if _access(S, top, addr[k], n, w, t, hashed) != QUICK:
                _quick_add(S, quick, t, w, -1, -n)
        _drain(S)
        _fold(S)
        return np.int64(0)

    @njit
    def run_nest(S, idx, ext, coef, base, tens, dsize, rows, cols, limits, start, count):
        """Walk `count` iterations of a linear loop nest from flat iteration `start`.

        Each iteration whose input tap is in bounds (rows < 0: no check) and whose guards
        hold reads x, reads w, reads y and writes y. Guard k is the linear form in row
        5 + k of `coef` and `base`, and holds while it is below limits[k] (a tile loop's
        last, shorter tile: loopnest.Nest). `idx` is scratch of ext's length plus one
        word per guard (its current value). Returns the MACs performed.

        Exact shortcut: when the four accesses of an iteration all hit a write-back first
        level, the next iterations of the innermost loop that touch the same first-level
        lines in the same order (and stay in bounds) are all hits too, and leave the state as
        it is (a repeated sequence of hits reproduces its own LRU order; FIFO and random do
        not change on hits; dirtiness is already set). They are counted without being walked.
        """
        top = _top(S, 0)
        lbits0 = top[1]
        # a write-back first level; not bitplru, where a repeated sequence of hits can
        # change the state again (docs/model.md §7)
        skip_ok = top[0] and top[4] and S[_u(HDR + G_POLICY)] != BITPLRU
        nd = ext.shape[0]
        inner = nd - 1  # the innermost loop that actually loops
        while inner > 0 and ext[inner] == 1:
            inner -= 1
        for k in range(3):  # a tensor that leaves its line at every step leaves nothing to skip
            skip_ok = skip_ok and coef[k, inner] < (np.int64(1) << lbits0)
        ng = limits.shape[0] if guarded else 0
        rest = start
        for d in range(nd - 1, -1, -1):
            idx[d] = rest % ext[d]
            rest //= ext[d]
        xa, wa, ya, row, col = base[0], base[1], base[2], base[3], base[4]
        for k in range(ng):
            idx[nd + k] = base[5 + k]
        for d in range(nd):
            xa += coef[0, d] * idx[d]
            wa += coef[1, d] * idx[d]
            ya += coef[2, d] * idx[d]
            row += coef[3, d] * idx[d]
            col += coef[4, d] * idx[d]
            for k in range(ng):
                idx[nd + k] += coef[5 + k, d] * idx[d]
        tx, tw, ty = np.int64(tens[0]), np.int64(tens[1]), np.int64(tens[2])
        qx = qw = qry = qwy = np.int64(0)  # quick hits: x, w and y reads, y writes
        check = rows >= 0
        macs = np.int64(0)
        it = np.int64(0)
        while it < count:
            inside = not check or (row >= 0 and row < rows and col >= 0 and col < cols)
            for k in range(ng):
                inside = inside and idx[nd + k] < limits[k]
            if inside:
                # read x, read w, read y, write y; quick hits are counted in registers
                rx = _step(S, top, xa, dsize, READ, tx, hashed, ccc, tap, pf)
                rw = _step(S, top, wa, dsize, READ, tw, hashed, ccc, tap, pf)
                ry = _step(S, top, ya, dsize, READ, ty, hashed, ccc, tap, pf)
                wy = _step(S, top, ya, dsize, WRITE, ty, hashed, ccc, tap, pf)
                qx += rx == QUICK
                qw += rw == QUICK
                qry += ry == QUICK
                qwy += wy == QUICK
                macs += 1
                if rx and rw and ry and wy and skip_ok:
                    m = min(ext[inner] - 1 - idx[inner], count - 1 - it,
                            _steps(xa, coef[0, inner], ((xa >> lbits0) + 1) << lbits0),
                            _steps(wa, coef[1, inner], ((wa >> lbits0) + 1) << lbits0),
                            _steps(ya, coef[2, inner], ((ya >> lbits0) + 1) << lbits0))
                    if check:
                        m = min(m, _steps(row, coef[3, inner], rows),
                                _steps(col, coef[4, inner], cols))
                    for k in range(ng):
                        m = min(m, _steps(idx[nd + k], coef[5 + k, inner], limits[k]))
                    if m > 0:  # first-level hits, like those `_access` serves
                        qx += m
                        qw += m
                        qry += m
                        qwy += m
                        macs += m
                        it += m
                        idx[inner] += m
                        xa += coef[0, inner] * m
                        wa += coef[1, inner] * m
                        ya += coef[2, inner] * m
                        row += coef[3, inner] * m
                        col += coef[4, inner] * m
                        for k in range(ng):
                            idx[nd + k] += coef[5 + k, inner] * m
            it += 1
            d = nd - 1
            while d >= 0:
                idx[d] += 1
                xa += coef[0, d]
                wa += coef[1, d]
                ya += coef[2, d]
                row += coef[3, d]
                col += coef[4, d]
                for k in range(ng):
                    idx[nd + k] += coef[5 + k, d]
                if idx[d] < ext[d]:
                    break
                e = ext[d]
                idx[d] = 0
                xa -= coef[0, d] * e
                wa -= coef[1, d] * e
                ya -= coef[2, d] * e
                row -= coef[3, d] * e
                col -= coef[4, d] * e
                for k in range(ng):
                    idx[nd + k] -= coef[5 + k, d] * e
                d -= 1
            if tap and S[H_GROW]:  # the records are nearly full: this call ends here
                break
        quick = top[-1]
        for t, w, n in ((tx, READ, qx), (tw, READ, qw), (ty, READ, qry), (ty, WRITE, qwy)):
            _quick_add(S, quick, t, w, n, n * dsize)
        _drain(S)
        _fold(S)
        if tap:
            return it
        return macs

    return run_trace, run_nest


# the kernels, indexed by whether the first level is hashed
RUN_TRACE, RUN_NEST = zip(_loops(False, False), _loops(True, False), strict=True)
# the same, classifying misses (compiled only when a run asks for it)
RUN_TRACE_CCC, RUN_NEST_CCC = zip(_loops(False, True), _loops(True, True), strict=True)
# the same, recording what reaches main memory (`simcache mrc`; compiled only for it),
# indexed by whether the first level is hashed, then by guard forms
RUN_TRACE_TAP = tuple(_loops(h, False, False, True)[0] for h in (False, True))
RUN_NEST_TAP = tuple(tuple(_loops(h, False, g, True)[1] for g in (False, True))
                     for h in (False, True))
# the nest loops with guard forms (tiled nests whose tile does not divide the loop), by
# whether misses are classified, then by whether the first level is hashed
RUN_NEST_GUARDED = tuple(tuple(_loops(h, c, True)[1] for h in (False, True))
                         for c in (False, True))
# with prefetching levels (compiled only when a level prefetches): the trace and nest
# loops, and the nest loops with guard forms, by whether the first level is hashed
RUN_TRACE_PF, RUN_NEST_PF = zip(_loops(False, False, pf=True), _loops(True, False, pf=True),
                                strict=True)
RUN_NEST_GUARDED_PF = tuple(_loops(h, False, True, pf=True)[1] for h in (False, True))


def _flush(ccc, pf=False, tap=False):
    @njit
    def flush_level(S, lv, order):
        """End of run, one level: write back its dirty lines in the given slot order (flush
        phase), classifying the misses they cause if `ccc`, each handled completely before
        the next. The caller passes the slots in Dinero IV's order (engine.State.flush)."""
        g = _geo(lv)
        tag = S[_u(g + G_TAG)]
        lbits = S[_u(g + G_LBITS)]
        meta = S[_u(g + G_META)]
        for k in range(order.shape[0]):
            slot = order[k]
            if S[_u(tag + slot)] >= 0 and S[_u(meta + slot)] & M_DIRTY:
                S[_u(meta + slot)] &= ~np.int64(M_DIRTY)
                t = (S[_u(meta + slot)] >> M_OWNER) & 7
                S[_u(_cix(S, 1, lv, t) + WRITEBACKS)] += 1
                addr, size = S[_u(tag + slot)] << lbits, np.int64(1) << lbits
                if tap and pf:
                    request_tap_pf(S, FLUSH, lv + 1, addr, size, F_WRITE | F_WB, t)
                elif tap:
                    request_tap(S, FLUSH, lv + 1, addr, size, F_WRITE | F_WB, t)
                elif pf:
                    request_pf(S, FLUSH, lv + 1, addr, size, F_WRITE | F_WB, t)
                elif ccc:
                    request_ccc(S, FLUSH, lv + 1, addr, size, F_WRITE | F_WB, t)
                else:
                    request(S, FLUSH, lv + 1, addr, size, F_WRITE | F_WB, t)

    return flush_level


# indexed by whether the misses are classified
FLUSH_LEVEL = (_flush(False), _flush(True))
FLUSH_LEVEL_PF = _flush(False, True)  # with prefetching levels
# recording what reaches main memory (the DRAM model, simcache/dram.py; compiled only for it)
FLUSH_LEVEL_TAP = _flush(False, tap=True)
FLUSH_LEVEL_TAP_PF = _flush(False, True, tap=True)  # with prefetch or inclusion
# the trace and nest loops recording what reaches main memory with prefetch or inclusion
# (the DRAM model), by whether the first level is hashed, then (nests) by guard forms
RUN_TRACE_TAP_PF = tuple(_loops(h, False, False, True, True)[0] for h in (False, True))
RUN_NEST_TAP_PF = tuple(tuple(_loops(h, False, g, True, True)[1] for g in (False, True))
                        for h in (False, True))
flush_level = FLUSH_LEVEL[0]
