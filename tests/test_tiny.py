"""Hand-checkable tests of tiny caches and tiny layers.

Every expected number below is worked out by hand in the comments (docs/model.md is
the contract); none was copied from running the code. The cache tests run twice: on
the plain-Python reference (tests/naive.py) and on the Numba engine.

Notation in the comments: "line k" is line_number k = address // line size; a set's
contents are written [way0, way1, ...]; "order" is the LRU order (least recent first)
or FIFO order (earliest first); "mem" is main memory.
"""

import pytest

import naive
from helpers import run_engine
from naive import COUNTER_NAMES, TENSOR_NAMES, XorShift64, layer_trace

PHASES = ("run", "flush")


@pytest.fixture(params=["reference", "engine"])
def simulate(request):
    """The simulator under test: both must meet every hand-worked expectation."""
    return naive.simulate if request.param == "reference" else run_engine
X, W, Y, T, NONE = 0, 1, 2, 3, 4


def level(size, line, ways, policy="lru", write_back=True, write_allocate=True):
    return dict(
        size=size,
        line=line,
        ways=ways,
        policy=policy,
        write_back=write_back,
        write_allocate=write_allocate,
    )


def R(addr, size=4, tensor=X):
    return (addr, size, False, tensor)


def Wr(addr, size=4, tensor=X):
    return (addr, size, True, tensor)


def nonzero(counters):
    """{(phase, level, tensor, counter): value} for every non-zero counter."""
    out = {}
    for phase in range(counters.shape[0]):
        for lev in range(counters.shape[1]):
            for tensor in range(counters.shape[2]):
                for k in range(counters.shape[3]):
                    value = int(counters[phase, lev, tensor, k])
                    if value:
                        key = (PHASES[phase], lev, TENSOR_NAMES[tensor], COUNTER_NAMES[k])
                        out[key] = value
    return out


def check(counters, expected):
    """expected: {(phase, level, tensor_name): {counter: value}}; all else must be 0."""
    want = {}
    for (phase, lev, tensor), values in expected.items():
        for name, value in values.items():
            assert name in COUNTER_NAMES
            if value:
                want[(phase, lev, tensor, name)] = value
    assert nonzero(counters) == want


# ---------------------------------------------------------------------------
# xorshift64
# ---------------------------------------------------------------------------


def test_xorshift_first_value_from_seed_1():
    # x = 1
    # x ^= x << 13  -> 1 ^ 8192 = 8193                      (bits 13, 0)
    # x ^= x >> 7   -> 8193 >> 7 = 64; 8193 ^ 64 = 8257      (bits 13, 6, 0)
    # x ^= x << 17  -> 8257 << 17 has bits 30, 23, 17
    #                 = 1073741824 + 8388608 + 131072 = 1082261504
    #                 no common bits with 8257: 1082261504 + 8257 = 1082269761
    g = XorShift64(1)
    assert g.next() == 1082269761
    # mod 2 = 1 (odd); mod 3: 2^30,2^23,2^17,2^13,2^6,2^0 = 1,2,2,2,1,1 (mod 3), sum 9 -> 0


# ---------------------------------------------------------------------------
# One level: LRU, FIFO, random
# ---------------------------------------------------------------------------


def test_lru_two_sets_two_ways(simulate):
    # 64 B, 16 B lines, 2 ways -> 2 sets; set = line % 2.
    levels = [level(64, 16, 2, "lru")]
    trace = [R(0x00), R(0x20), R(0x10), R(0x00), R(0x40), R(0x24), R(0x08)]
    # 1. 0x00 line 0 set 0 miss -> way 0.           set0 [0, -]  order [0]
    # 2. 0x20 line 2 set 0 miss -> way 1.           set0 [0, 2]  order [0, 2]
    # 3. 0x10 line 1 set 1 miss -> way 0.           set1 [1, -]
    # 4. 0x00 line 0 hit.                                         order [2, 0]
    # 5. 0x40 line 4 set 0 miss, LRU victim 2 (way 1). set0 [0, 4] order [0, 4]
    # 6. 0x24 line 2 miss, LRU victim 0 (way 0).    set0 [2, 4]  order [4, 2]
    # 7. 0x08 line 0 miss, LRU victim 4 (way 1).    set0 [2, 0]  order [2, 0]
    counters, contents = simulate(levels, trace)
    assert contents == [[[(2, False), (0, False)], [(1, False), None]]]
    # L0: 7 reads of 4 B = 28 B, 1 hit (which served the access).
    # mem: 6 fetches of 16 B = 96 B, all demand -> served 6.
    check(
        counters,
        {
            ("run", 0, "x"): dict(reads=7, read_hits=1, bytes_read=28, served=1),
            ("run", 1, "x"): dict(reads=6, read_hits=6, bytes_read=96, served=6),
        },
    )


def test_fifo_and_lru_differ_on_one_set(simulate):
    # 32 B, 16 B lines, 2 ways -> 1 set.   A = line 0, B = line 1, C = line 2.
    trace = [R(0x00), R(0x10), R(0x00), R(0x20), R(0x00)]  # A B A C A

    # LRU: A miss [A,-]; B miss [A,B] order [A,B]; A hit order [B,A];
    #      C miss victim B (way 1) [A,C] order [A,C]; A hit.  2 hits, 3 misses.
    counters, contents = simulate([level(32, 16, 2, "lru")], trace)
    assert contents == [[[(0, False), (2, False)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(reads=5, read_hits=2, bytes_read=20, served=2),
            ("run", 1, "x"): dict(reads=3, read_hits=3, bytes_read=48, served=3),
        },
    )

    # FIFO: A miss [A,-]; B miss [A,B] order [A,B]; A hit, order unchanged;
    #       C miss victim A (way 0) [C,B] order [B,C];
    #       A miss victim B (way 1) [C,A] order [C,A].  1 hit, 4 misses.
    counters, contents = simulate([level(32, 16, 2, "fifo")], trace)
    assert contents == [[[(2, False), (0, False)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(reads=5, read_hits=1, bytes_read=20, served=1),
            ("run", 1, "x"): dict(reads=4, read_hits=4, bytes_read=64, served=4),
        },
    )


def test_lru_cyclic_sweep_hits_the_least_recent_way(simulate):
    # 48 B, 16 B lines, 3 ways -> 1 set. A, B, C, D = lines 0, 1, 2, 3. A sweep over as
    # many lines as ways hits the least recent line every time (the engine's kernel loop
    # checks that way before comparing all of them).
    trace = [R(0x00), R(0x10), R(0x20), R(0x00), R(0x10), R(0x20), Wr(0x00), R(0x30),
             R(0x10)]
    # A, B, C miss -> ways 0, 1, 2; order [A, B, C]. A hit: [B, C, A]; B hit: [C, A, B];
    # C hit: [A, B, C]. write A: hit, dirty; [B, C, A]. D miss: victim B (way 1) ->
    # [A, D, C], order [C, A, D]. B miss: victim C (way 2) -> [A, D, B].
    counters, contents = simulate([level(48, 16, 3, "lru")], trace)
    assert contents == [[[(0, True), (3, False), (1, False)]]]
    # L0: 8 reads (32 B), 3 of them hits; 1 write (4 B), a hit. mem: 5 fetches of 16 B.
    # Flush: A (x) written back, 16 B.
    check(
        counters,
        {
            ("run", 0, "x"): dict(reads=8, read_hits=3, bytes_read=32, writes=1,
                                  write_hits=1, bytes_written=4, served=4),
            ("run", 1, "x"): dict(reads=5, read_hits=5, bytes_read=80, served=5),
            ("flush", 0, "x"): dict(writebacks=1),
            ("flush", 1, "x"): dict(writes=1, write_hits=1, bytes_written=16),
        },
    )


def test_random_victim_is_r_mod_ways_drawn_only_when_full(simulate):
    # 48 B, 16 B lines, 3 ways -> 1 set. Lines 0,1,2 fill ways 0,1,2 with no draw;
    # line 3 needs a victim: first draw from seed 1 is 1082269761, mod 3 = 0 -> way 0.
    trace = [R(0x00), R(0x10), R(0x20), R(0x30)]
    counters, contents = simulate([level(48, 16, 3, "random")], trace, seed=1)
    assert contents == [[[(3, False), (1, False), (2, False)]]]
    # With 2 ways (32 B): lines 0, 1 fill ways 0, 1; line 2: 1082269761 mod 2 = 1 -> way 1.
    counters, contents = simulate([level(32, 16, 2, "random")], trace[:3], seed=1)
    assert contents == [[[(0, False), (2, False)]]]


# ---------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------


def test_write_through_no_allocate_forwards(simulate):
    # L0: 32 B, 16 B lines, 2 ways, write-through, no write-allocate.
    levels = [level(32, 16, 2, write_back=False, write_allocate=False)]
    trace = [Wr(0x00), R(0x00), Wr(0x04)]
    # 1. write 0x00: miss, no write-allocate -> forwarded unchanged, still demand:
    #    mem write 4 B, served there. Nothing installed.
    # 2. read 0x00: miss, fetch 16 B from mem (served), installed clean in way 0.
    # 3. write 0x04: hit (served at L0), forwarded 4 B to mem, not demand.
    counters, contents = simulate(levels, trace)
    assert contents == [[[(0, False), None]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(
                reads=1, writes=2, write_hits=1, bytes_read=4, bytes_written=8, served=1
            ),
            ("run", 1, "x"): dict(
                reads=1,
                writes=2,
                read_hits=1,
                write_hits=2,
                bytes_read=16,
                bytes_written=8,
                served=2,
            ),
        },
    )  # no dirty line anywhere: the flush does nothing


def test_write_through_write_allocate_fetches_then_forwards(simulate):
    levels = [level(32, 16, 2, write_back=False, write_allocate=True)]
    # write 0x08: miss, write-allocate: fetch 16 B (demand -> served at mem), install
    # clean, then forward the 4 B write to mem (not demand).
    counters, contents = simulate(levels, [Wr(0x08)])
    assert contents == [[[(0, False), None]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(writes=1, bytes_written=4),
            ("run", 1, "x"): dict(
                reads=1, read_hits=1, bytes_read=16, writes=1, write_hits=1,
                bytes_written=4, served=1,
            ),
        },
    )


def test_dirty_victim_missing_a_no_allocate_level_is_forwarded(simulate):
    # L0: 16 B, 16 B line, 1 way (1 set), write-back, write-allocate.
    # L1: 16 B, 16 B line, 1 way, write-back, NO write-allocate: a write-back that misses
    #     it is forwarded, not installed (Dinero IV's rule, whatever its size).
    levels = [
        level(16, 16, 1, write_back=True, write_allocate=True),
        level(16, 16, 1, write_back=True, write_allocate=False),
    ]
    trace = [Wr(0x00, tensor=X), R(0x10, tensor=W)]
    # 1. write 0x00 (x): L0 miss, allocate: fetch line 0 (16 B read, demand) -> L1
    #    miss: fetch from mem (served, x); L1 installs line 0 clean. L0 installs line 0
    #    dirty.
    # 2. read 0x10 (w): L0 miss: fetch line 1 -> L1 miss: fetch from mem (served, w);
    #    L1 evicts line 0 (clean), installs line 1. Then L0 evicts dirty line 0:
    #    write-back of 16 B (x) to L1: write miss, no write-allocate -> forwarded to
    #    mem (not demand); L1 keeps line 1.
    counters, contents = simulate(levels, trace)
    assert contents == [[[(1, False)]], [[(1, False)]]]
    # Flush: nothing is dirty.
    check(
        counters,
        {
            ("run", 0, "x"): dict(writes=1, bytes_written=4, writebacks=1),
            ("run", 0, "w"): dict(reads=1, bytes_read=4),
            ("run", 1, "x"): dict(reads=1, bytes_read=16, writes=1, bytes_written=16),
            ("run", 1, "w"): dict(reads=1, bytes_read=16),
            ("run", 2, "x"): dict(reads=1, read_hits=1, bytes_read=16, served=1,
                                  writes=1, write_hits=1, bytes_written=16),
            ("run", 2, "w"): dict(reads=1, read_hits=1, bytes_read=16, served=1),
        },
    )


def test_narrow_write_back_follows_write_allocate(simulate):
    # L0: 4 B, 4 B line, 1 way (1 set) - a register - write-back, write-allocate.
    # L1: 16 B, 16 B line, 1 way, write-back, write-allocate.
    levels = [level(4, 4, 1), level(16, 16, 1)]
    trace = [Wr(0x00), R(0x10)]
    # 1. write 0x00: L0 miss (L0 line 0) covering the whole line: installed dirty
    #    without a fetch; L0 serves it. L1 empty.
    # 2. read 0x10: L0 miss (L0 line 4): fetch 4 B @0x10 -> L1 miss (line 1): fetch
    #    16 B @0x10 from mem (served). L1 [1].
    #    L0 evicts dirty line 0: write-back 4 B @0 to L1: write miss, covers 4 of 16
    #    bytes -> write-allocate: fetch 16 B @0 from mem (NOT demand: not served),
    #    evict line 1 (clean), install line 0 dirty.
    counters, contents = simulate(levels, trace)
    assert contents == [[[(4, False)]], [[(0, True)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(
                reads=1, writes=1, bytes_read=4, bytes_written=4, writebacks=1, served=1
            ),
            ("run", 1, "x"): dict(reads=1, writes=1, bytes_read=4, bytes_written=4),
            ("run", 2, "x"): dict(reads=2, read_hits=2, bytes_read=32, served=1),
            # flush: L1 line 0 dirty -> 16 B write to mem
            ("flush", 1, "x"): dict(writebacks=1),
            ("flush", 2, "x"): dict(writes=1, write_hits=1, bytes_written=16),
        },
    )

    # Same with L1 no write-allocate: the 4 B write-back is forwarded unchanged to
    # mem (not demand), L1 keeps line 1, nothing is dirty at the end.
    levels = [level(4, 4, 1), level(16, 16, 1, write_allocate=False)]
    counters, contents = simulate(levels, trace)
    assert contents == [[[(4, False)]], [[(1, False)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(
                reads=1, writes=1, bytes_read=4, bytes_written=4, writebacks=1, served=1
            ),
            ("run", 1, "x"): dict(reads=1, writes=1, bytes_read=4, bytes_written=4),
            ("run", 2, "x"): dict(
                reads=1, read_hits=1, bytes_read=16, served=1,
                writes=1, write_hits=1, bytes_written=4,
            ),
        },
    )


def test_write_back_passes_a_no_allocate_write_through_level(simulate):
    # L0: 16 B / 16 B line / 1 way, write-back, write-allocate.
    # L1: same size, write-through, no write-allocate.
    # L2: same size, write-back, write-allocate.
    levels = [
        level(16, 16, 1),
        level(16, 16, 1, write_back=False, write_allocate=False),
        level(16, 16, 1),
    ]
    trace = [Wr(0x00), R(0x10)]
    # 1. write 0x00: L0 miss -> fetch line 0 -> L1 miss -> L2 miss -> mem (served).
    #    L2 [0], L1 [0], L0 [0 dirty].
    # 2. read 0x10: L0 miss -> fetch line 1 -> L1 miss -> L2 miss -> mem (served).
    #    L2 [1] (0 was clean), L1 [1]. L0 evicts dirty 0: 16 B write-back to L1:
    #    write miss, no write-allocate -> forwarded (still a write-back), L1 keeps
    #    [1]; L2: write miss, whole line -> installed dirty without fetch: L2 [0 dirty].
    counters, contents = simulate(levels, trace)
    assert contents == [[[(1, False)]], [[(1, False)]], [[(0, True)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(
                writes=1, reads=1, bytes_written=4, bytes_read=4, writebacks=1
            ),
            ("run", 1, "x"): dict(reads=2, writes=1, bytes_read=32, bytes_written=16),
            ("run", 2, "x"): dict(reads=2, writes=1, bytes_read=32, bytes_written=16),
            ("run", 3, "x"): dict(reads=2, read_hits=2, bytes_read=32, served=2),
            ("flush", 2, "x"): dict(writebacks=1),
            ("flush", 3, "x"): dict(writes=1, write_hits=1, bytes_written=16),
        },
    )


def test_fetch_goes_below_before_victim_write_back(simulate):
    # L0: 16 B / 16 B line / 1 way, write-back. L1: 32 B / 16 B line / 2 ways LRU.
    levels = [level(16, 16, 1), level(32, 16, 2, "lru")]
    trace = [Wr(0x00), R(0x10), R(0x20)]
    # 1. write 0x00: L0 miss, fetch line 0 -> L1 miss (mem) -> L1 [0,-] order [0].
    #    L0 [0 dirty].
    # 2. read 0x10: L0 miss, FIRST fetch line 1 -> L1 miss -> L1 [0,1] order [0,1];
    #    THEN L0's dirty victim 0 written back -> L1 write hit on 0: dirty,
    #    order [1,0].
    # 3. read 0x20: L0 miss, fetch line 2 -> L1 miss, LRU victim is line 1 (clean):
    #    L1 [0 dirty, 2]. L0's victim 1 is clean.
    # (Write-back first would have left order [0,1] after step 2 and evicted the
    #  dirty line 0 in step 3.)
    counters, contents = simulate(levels, trace)
    assert contents == [[[(2, False)]], [[(0, True), (2, False)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(
                reads=2, writes=1, bytes_read=8, bytes_written=4, writebacks=1
            ),
            ("run", 1, "x"): dict(
                reads=3, writes=1, write_hits=1, bytes_read=48, bytes_written=16
            ),
            ("run", 2, "x"): dict(reads=3, read_hits=3, bytes_read=48, served=3),
            ("flush", 1, "x"): dict(writebacks=1),
            ("flush", 2, "x"): dict(writes=1, write_hits=1, bytes_written=16),
        },
    )


# ---------------------------------------------------------------------------
# End-of-run flush
# ---------------------------------------------------------------------------


def test_flush_is_counted_apart_least_recent_first(simulate):
    # L0: 32 B / 16 B line / 2 ways (1 set), write-back.
    # L1: 16 B / 16 B line / 1 way, write-back.
    levels = [level(32, 16, 2), level(16, 16, 1)]
    trace = [Wr(0x10, tensor=X), Wr(0x00, tensor=W)]
    # Run:
    # 1. write 0x10 (x): L0 miss, fetch line 1 -> L1 miss -> mem (served x).
    #    L1 [1]. L0 [1 dirty, -].
    # 2. write 0x00 (w): L0 miss, fetch line 0 -> L1 miss -> mem (served w);
    #    L1 evicts 1 (clean) -> [0]. L0 [1 dirty, 0 dirty].
    # Flush L0 as Dinero IV does: least recent first (not line or way order):
    #    line 1 (x) -> L1 write miss, whole line: install without fetch, evicting
    #    clean line 0. L1 [1 dirty (x)].
    #    line 0 (w) -> L1 write miss, whole line: install without fetch, evicting
    #    dirty line 1 -> write-back to mem (x). L1 [0 dirty (w)].
    # Flush L1: line 0 (w) -> mem.
    counters, contents = simulate(levels, trace)
    assert contents == [[[(1, True), (0, True)]], [[(0, False)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(writes=1, bytes_written=4),
            ("run", 0, "w"): dict(writes=1, bytes_written=4),
            ("run", 1, "x"): dict(reads=1, bytes_read=16),
            ("run", 1, "w"): dict(reads=1, bytes_read=16),
            ("run", 2, "x"): dict(reads=1, read_hits=1, bytes_read=16, served=1),
            ("run", 2, "w"): dict(reads=1, read_hits=1, bytes_read=16, served=1),
            ("flush", 0, "x"): dict(writebacks=1),
            ("flush", 0, "w"): dict(writebacks=1),
            ("flush", 1, "x"): dict(writes=1, bytes_written=16, writebacks=1),
            ("flush", 1, "w"): dict(writes=1, bytes_written=16, writebacks=1),
            ("flush", 2, "x"): dict(writes=1, write_hits=1, bytes_written=16),
            ("flush", 2, "w"): dict(writes=1, write_hits=1, bytes_written=16),
        },
    )


# ---------------------------------------------------------------------------
# Straddling accesses
# ---------------------------------------------------------------------------


def test_straddling_access_is_split_per_line_in_address_order(simulate):
    # L0: 16 B / 16 B line / 1 way, write-back, write-allocate.
    levels = [level(16, 16, 1)]
    trace = [R(0x0C, size=8), Wr(0x1C, size=8)]
    # read 0x0C..0x13: piece 0x0C (4 B, line 0) miss: fetch 16 B @0; install [0].
    #                  piece 0x10 (4 B, line 1) miss: fetch 16 B @0x10; evict 0 -> [1].
    # write 0x1C..0x23: piece 0x1C (4 B, line 1) hit (served at L0): dirty.
    #                   piece 0x20 (4 B, line 2) miss, allocate: fetch 16 B @0x20
    #                   first, then victim 1 (dirty) written back 16 B; [2 dirty].
    counters, contents = simulate(levels, trace)
    assert contents == [[[(2, True)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(
                reads=2, writes=2, write_hits=1, bytes_read=8, bytes_written=8,
                writebacks=1, served=1,
            ),
            ("run", 1, "x"): dict(
                reads=3, read_hits=3, bytes_read=48, served=3,
                writes=1, write_hits=1, bytes_written=16,
            ),
            ("flush", 0, "x"): dict(writebacks=1),
            ("flush", 1, "x"): dict(writes=1, write_hits=1, bytes_written=16),
        },
    )


def test_wide_write_back_is_split_into_whole_lines_below(simulate):
    # L0: 32 B / 32 B line / 1 way. L1: 32 B / 16 B line / 2 ways (1 set).
    levels = [level(32, 32, 1), level(32, 16, 2)]
    trace = [Wr(0x00), R(0x40)]
    # 1. write 0x00: L0 miss (L0 line 0), fetch 32 B @0 -> L1 splits into line 0 and
    #    line 1 (16 B each), both miss -> 2 mem fetches (both demand: served 2).
    #    L1 [0, 1]. L0 [0 dirty].
    # 2. read 0x40: L0 line 2 miss, fetch 32 B @0x40 -> L1 lines 4, 5 miss ->
    #    2 mem fetches; LRU evicts 0 then 1 (clean): L1 [4, 5].
    #    L0 victim 0 dirty: 32 B write-back -> L1 lines 0, 1: whole-line write-back
    #    misses, installed dirty without fetch, evicting 4 then 5: L1 [0 d, 1 d].
    counters, contents = simulate(levels, trace)
    assert contents == [[[(2, False)]], [[(0, True), (1, True)]]]
    check(
        counters,
        {
            ("run", 0, "x"): dict(
                reads=1, writes=1, bytes_read=4, bytes_written=4, writebacks=1
            ),
            ("run", 1, "x"): dict(reads=4, writes=2, bytes_read=64, bytes_written=32),
            ("run", 2, "x"): dict(reads=4, read_hits=4, bytes_read=64, served=4),
            ("flush", 1, "x"): dict(writebacks=2),
            ("flush", 2, "x"): dict(writes=2, write_hits=2, bytes_written=32),
        },
    )


# ---------------------------------------------------------------------------
# Layer traces
# ---------------------------------------------------------------------------


def accesses(iterations, x_base, w_base, y_base, size=4, tensors=(X, W, Y)):
    """Expand (x_off, w_off, y_off) per MAC into read x, read w, read y, write y."""
    xt, wt, yt = tensors
    out = []
    for xo, wo, yo in iterations:
        out.append((x_base + xo, size, False, xt))
        out.append((w_base + wo, size, False, wt))
        out.append((y_base + yo, size, False, yt))
        out.append((y_base + yo, size, True, yt))
    return out


def test_tiny_spatial_layer_skip_padding():
    # B=M=N=1, F=2, K=3: pad_before = 1, pad_after = 1, F' = (2+2-3)//1+1 = 2.
    # x [1,1,2,2] = 16 B at 0x10000 (ends 0x10010) -> w [1,1,3,3] = 36 B at 0x11000
    # (ends 0x11024) -> y [1,1,2,2] at 0x12000.
    # x[row,col] = 4*(2*row+col); w[p,q] = 4*(3*p+q); y[i,j] = 4*(2*i+j).
    # row = i+p-1, col = j+q-1; taps outside 0..1 are skipped.
    trace, info = layer_trace("spatial", B=1, M=1, N=1, F=2, K=3)
    assert info["bases"] == {"x": 0x10000, "w": 0x11000, "y": 0x12000}
    assert info["shapes"] == {"x": (1, 1, 2, 2), "w": (1, 1, 3, 3), "y": (1, 1, 2, 2)}
    iterations = [
        # i=0, j=0: p in {1,2}, q in {1,2}
        (0, 16, 0), (4, 20, 0), (8, 28, 0), (12, 32, 0),
        # i=0, j=1: p in {1,2}, q in {0,1}
        (0, 12, 4), (4, 16, 4), (8, 24, 4), (12, 28, 4),
        # i=1, j=0: p in {0,1}, q in {1,2}
        (0, 4, 8), (4, 8, 8), (8, 16, 8), (12, 20, 8),
        # i=1, j=1: p in {0,1}, q in {0,1}
        (0, 0, 12), (4, 4, 12), (8, 12, 12), (12, 16, 12),
    ]  # fmt: skip
    assert info["macs"] == 16
    assert trace == accesses(iterations, 0x10000, 0x11000, 0x12000)


def test_even_kernel_pads_one_before_zero_after():
    # B=M=N=1, F=2, K=2: pad_before = 2//2 = 1, pad_after = 2-1-1 = 0,
    # F' = (2+1+0-2)//1+1 = 2. row = i+p-1, col = j+q-1, skipped outside 0..1.
    # x [1,1,2,2] at 0x10000, w [1,1,2,2] (16 B) at 0x11000, y at 0x12000.
    # x[r,c] = 4*(2r+c), w[p,q] = 4*(2p+q), y[i,j] = 4*(2i+j).
    trace, info = layer_trace("spatial", B=1, M=1, N=1, F=2, K=2)
    assert info["pad"] == (1, 0) and info["F_out"] == 2
    iterations = [
        (0, 12, 0),                                  # i0 j0: only p=1, q=1
        (0, 8, 4), (4, 12, 4),                       # i0 j1: p=1, q=0,1
        (0, 4, 8), (8, 12, 8),                       # i1 j0: p=0,1, q=1
        (0, 0, 12), (4, 4, 12), (8, 8, 12), (12, 12, 12),  # i1 j1: all four
    ]  # fmt: skip
    assert info["macs"] == 9
    assert trace == accesses(iterations, 0x10000, 0x11000, 0x12000)


def test_tiny_spatial_layer_explicit_padding():
    # Same layer, explicit: x stored [1,1,4,4] (64 B, ends 0x10040), every tap read.
    # xp[r,c] = 4*(4*r+c) with r = i+p, c = j+q. 2*2*3*3 = 36 MACs.
    trace, info = layer_trace("spatial", B=1, M=1, N=1, F=2, K=3, padding="explicit")
    assert info["bases"] == {"x": 0x10000, "w": 0x11000, "y": 0x12000}
    assert info["shapes"]["x"] == (1, 1, 4, 4)
    assert info["macs"] == 36
    # first output element (i=j=0): p,q = 0..2 -> x offsets 0,4,8, 16,20,24, 32,36,40
    first = [(0, 0, 0), (4, 4, 0), (8, 8, 0),
             (16, 12, 0), (20, 16, 0), (24, 20, 0),
             (32, 24, 0), (36, 28, 0), (40, 32, 0)]  # fmt: skip
    assert trace[: 4 * 9] == accesses(first, 0x10000, 0x11000, 0x12000)
    # last output element (i=j=1): r = 1+p, c = 1+q -> 20,24,28, 36,40,44, 52,56,60
    last = [(20, 0, 12), (24, 4, 12), (28, 8, 12),
            (36, 12, 12), (40, 16, 12), (44, 20, 12),
            (52, 24, 12), (56, 28, 12), (60, 32, 12)]  # fmt: skip
    assert trace[-4 * 9 :] == accesses(last, 0x10000, 0x11000, 0x12000)


def test_loop_order_changes_the_sequence():
    # pointwise 1x1, B=M=N=1, F=2: y[i,j] offsets 4*(2i+j) = x offsets.
    # order 'bjinmpq' puts j outside i: (i,j) = (0,0), (1,0), (0,1), (1,1).
    trace, info = layer_trace("pointwise", B=1, M=1, N=1, F=2, K=7, order="bjinmpq")
    # K is forced to 1: w [1,1,1,1] = 4 B.
    assert info["shapes"]["w"] == (1, 1, 1, 1)
    its = [(0, 0, 0), (8, 0, 8), (4, 0, 4), (12, 0, 12)]
    assert trace == accesses(its, 0x10000, 0x11000, 0x12000)


def test_fc_addresses():
    # fc B=1, M=2, N=2: x [1,2] at 0x10000, w [2,2] at 0x11000, y [1,2] at 0x12000.
    # order b,(i),(j),n,m: (n,m) = (0,0),(0,1),(1,0),(1,1);
    # x[m] = 4m, w[n,m] = 4*(2n+m), y[n] = 4n.
    trace, info = layer_trace("fc", B=1, M=2, N=2, F=9, K=3)
    assert info["shapes"] == {"x": (1, 2), "w": (2, 2), "y": (1, 2)}
    its = [(0, 0, 0), (4, 4, 0), (0, 8, 4), (4, 12, 4)]
    assert trace == accesses(its, 0x10000, 0x11000, 0x12000)


def test_group_channel_mapping():
    # group M=N=4, G=2, F=1, K=1: M/G = 2, N/G = 2; filter n reads channel
    # (n // 2)*2 + m for m in 0..1. x [1,4,1,1], w [4,2,1,1], y [1,4,1,1].
    # x[ch] = 4ch, w[n,m] = 4*(2n+m), y[n] = 4n.
    trace, info = layer_trace("group", B=1, M=4, N=4, F=1, K=1, G=2)
    assert info["shapes"]["w"] == (4, 2, 1, 1)
    its = [(0, 0, 0), (4, 4, 0),      # n=0: channels 0, 1
           (0, 8, 4), (4, 12, 4),     # n=1: channels 0, 1
           (8, 16, 8), (12, 20, 8),   # n=2: channels 2, 3
           (8, 24, 12), (12, 28, 12)]  # n=3: channels 2, 3  # fmt: skip
    assert trace == accesses(its, 0x10000, 0x11000, 0x12000)


def test_depthwise_channel_mapping():
    # depthwise M=2 (N forced to 2), F=1, K=1: filter n reads channel n, m-extent 1.
    # x[n] = 4n, w [2,1,1,1]: w[n] = 4n, y[n] = 4n.
    trace, info = layer_trace("depthwise", B=1, M=2, N=5, F=1, K=1)
    assert info["shapes"] == {"x": (1, 2, 1, 1), "w": (2, 1, 1, 1), "y": (1, 2, 1, 1)}
    assert trace == accesses([(0, 0, 0), (4, 4, 4)], 0x10000, 0x11000, 0x12000)


def test_tiny_separable_explicit():
    # separable B=M=N=1, F=2, K=3, explicit: pad 1/1, F' = 2.
    # x stored [1,1,4,2] (vertical pad only) = 32 B at 0x10000
    # w1 [1,1,3,1] = 12 B at 0x11000; w2 [1,1,1,3] = 12 B at 0x12000
    # y [1,1,2,2] = 16 B at 0x13000; t stored [1,1,2,4] (horizontal pad) at 0x14000.
    trace, info = layer_trace("separable", B=1, M=1, N=1, F=2, K=3, padding="explicit")
    assert info["bases"] == {
        "x": 0x10000, "w1": 0x11000, "w2": 0x12000, "y": 0x13000, "t": 0x14000,
    }  # fmt: skip
    assert info["shapes"]["x"] == (1, 1, 4, 2)
    assert info["shapes"]["t"] == (1, 1, 2, 4)
    # nest 1 (i in 0..1, j in 0..1, p in 0..2): x[i+p, j] = 4*(2(i+p)+j),
    # w1[p] = 4p, t interior t[i, j+1] = 4*(4i+j+1).
    nest1 = [(0, 0, 4), (8, 4, 4), (16, 8, 4),      # i0 j0
             (4, 0, 8), (12, 4, 8), (20, 8, 8),     # i0 j1
             (8, 0, 20), (16, 4, 20), (24, 8, 20),  # i1 j0
             (12, 0, 24), (20, 4, 24), (28, 8, 24)]  # i1 j1  # fmt: skip
    # nest 2 (i, j, q): t[i, j+q] = 4*(4i+j+q), w2[q] = 4q, y[i,j] = 4*(2i+j).
    nest2 = [(0, 0, 0), (4, 4, 0), (8, 8, 0),
             (4, 0, 4), (8, 4, 4), (12, 8, 4),
             (16, 0, 8), (20, 4, 8), (24, 8, 8),
             (20, 0, 12), (24, 4, 12), (28, 8, 12)]  # fmt: skip
    expected = accesses(nest1, 0x10000, 0x11000, 0x14000, tensors=(X, W, T))
    expected += accesses(nest2, 0x14000, 0x12000, 0x13000, tensors=(T, W, Y))
    assert info["macs"] == 24
    assert trace == expected


def test_placement_rounds_up_to_4k():
    # x [1,1,32,32] * 4 B = 4096 B exactly: ends at 0x11000, which is already a
    # multiple of 4 KiB, so w starts right there. w [1,1,1,1] ends 0x11004 -> y 0x12000.
    trace, info = layer_trace("pointwise", B=1, M=1, N=1, F=32, K=1)
    assert info["bases"] == {"x": 0x10000, "w": 0x11000, "y": 0x12000}
    # x [1,1,33,33] * 4 = 4356 B ends 0x11104 -> w at 0x12000.
    trace, info = layer_trace("pointwise", B=1, M=1, N=1, F=33, K=1)
    assert info["bases"]["w"] == 0x12000


# B=2, M=4, N=6, F=5, K=3, G=2, explicit padding (every tap performed).
# stride 1: F' = (5+1+1-3)//1+1 = 5; stride 2: F' = 4//2+1 = 3 (pointwise: (5-1)//2+1 = 3).
MAC_CASES = [
    # kind, stride, expected MACs
    ("spatial", 1, 2 * 5 * 5 * 6 * 4 * 9),  # B F'^2 N M K^2 = 10800
    ("pointwise", 1, 2 * 5 * 5 * 6 * 4),  # K = 1: 1200
    ("group", 1, 2 * 5 * 5 * 6 * 2 * 9),  # M/G = 2: 5400
    ("depthwise", 1, 2 * 5 * 5 * 4 * 9),  # N = M = 4, m-extent 1: 1800
    ("fc", 1, 2 * 6 * 4),  # B N M: 48
    # separable: B F' F N M K + B F' F' N N K = 3600 + 5400
    ("separable", 1, 2 * 5 * 5 * 6 * 4 * 3 + 2 * 5 * 5 * 6 * 6 * 3),
    ("spatial", 2, 2 * 3 * 3 * 6 * 4 * 9),  # 3888
    ("pointwise", 2, 2 * 3 * 3 * 6 * 4),  # 432
    ("group", 2, 2 * 3 * 3 * 6 * 2 * 9),  # 1944
    ("depthwise", 2, 2 * 3 * 3 * 4 * 9),  # 648
    ("fc", 2, 2 * 6 * 4),  # 48 (F = K = 1: stride irrelevant)
    ("separable", 2, 2 * 3 * 5 * 6 * 4 * 3 + 2 * 3 * 3 * 6 * 6 * 3),  # 2160 + 1944
]


@pytest.mark.parametrize("kind, stride, macs", MAC_CASES)
def test_mac_counts_explicit(kind, stride, macs):
    trace, info = layer_trace(
        kind, B=2, M=4, N=6, F=5, K=3, G=2, stride=stride, padding="explicit"
    )
    assert info["macs"] == macs
    assert len(trace) == 4 * macs
    # every access lies inside its (stored) tensor
    sizes = {name: 4 for name in info["shapes"]}
    for name, shape in info["shapes"].items():
        for extent in shape:
            sizes[name] *= extent
    ranges = [(info["bases"][n], info["bases"][n] + sizes[n]) for n in info["bases"]]
    for addr, size, _, _ in trace:
        assert size == 4
        assert any(lo <= addr and addr + size <= hi for lo, hi in ranges)


def test_mac_counts_skip():
    # spatial B=2, M=4, N=6, F=5, K=3, stride 1, skip: per dimension the (i, p) pairs
    # are 5*3 = 15, minus (i=0, p=0) and (i=4, p=2) which fall outside: 13.
    # MACs = B N M 13^2 = 2*6*4*169 = 8112.
    _, info = layer_trace("spatial", B=2, M=4, N=6, F=5, K=3)
    assert info["macs"] == 8112
    # separable: nest 1 vertical (i,p) 13 pairs x F=5 columns: B N M 65 = 3120;
    # nest 2 F'=5 rows x 13 horizontal (j,q) pairs: B N N 65 = 4680. Total 7800.
    _, info = layer_trace("separable", B=2, M=4, N=6, F=5, K=3)
    assert info["macs"] == 3120 + 4680


def test_valid_padding_and_rejection():
    # pad 0: F' = (4-3)//1+1 = 2; every tap inside: B N M F'^2 K^2 = 4*9 = 36.
    _, info = layer_trace("spatial", B=1, M=1, N=1, F=4, K=3, pad=0)
    assert info["F_out"] == 2 and info["macs"] == 36
    # F = 2, K = 3, pad 0: F' = (2-3)//1+1 = 0 < 1 -> rejected.
    with pytest.raises(ValueError):
        layer_trace("spatial", B=1, M=1, N=1, F=2, K=3, pad=0)
