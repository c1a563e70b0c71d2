"""Dinero IV d4-7's rules in three corners (docs/model.md §2), on small traces counted by
hand: the engine and the plain-Python reference must both give these counts. The same
traces go to Dinero itself in tests/test_dinero.py (when DINEROIV names the binary).

1. A write miss that covers a whole line is not fetched (a register file's element write).
2. A write-back missing a level without write-allocate is forwarded, not installed.
3. The end-of-run flush writes the last set's dirty lines first, each set's least recent
   line first (Dinero's LIFO pending list)."""

from __future__ import annotations

import pytest

import naive
from helpers import run_engine


def level(size, line, ways, policy="lru", wb=True, wa=True, **kw):
    return dict(size=size, line=line, ways=ways, policy=policy, write_back=wb,
                write_allocate=wa, **kw)


# (levels, trace of (addr, size, is_write, tensor)); din: the same trace for Dinero
EXAMPLES = {
    # a 4-byte write misses a register file of 4-byte lines: installed dirty, no fetch
    "whole-line write": ([level(16, 4, "full"), level(128, 32, 2)],
                         [(0x10000, 4, 1, 0), (0x10004, 4, 0, 0)]),
    # L1's dirty 0x10000 is written back to an L2 without write-allocate that misses it
    "no-allocate write-back": ([level(128, 32, 2), level(128, 32, 1, wa=False)],
                               [(0x10000, 4, 1, 0), (0x10080, 4, 0, 0), (0x10100, 4, 0, 0),
                                (0x10000, 4, 0, 0)]),
    # two dirty lines in L1's two sets, flushed into a one-line L2: set 1 first
    "flush order": ([level(64, 32, 1), level(32, 32, "full")],
                    [(0x10000, 4, 1, 0), (0x10020, 4, 1, 0)]),
}

R, W, RH, WH, WB, BR, BW, SV = range(8)


def counts(**kv):
    row = [0] * 8
    for k, v in kv.items():
        row[globals()[k.upper()]] = v
    return row


# HAND[name] = (run rows, flush rows), one row per level and memory, summed over tensors:
# reads, writes, read hits, write hits, writebacks, bytes read, bytes written, served
HAND = {
    "whole-line write": (
        # the register file serves the write (it installs it); its read miss goes to memory
        [counts(r=1, w=1, br=4, bw=4, sv=1), counts(r=1, br=4),
         counts(r=1, rh=1, br=32, sv=1)],
        # the flush: the register file's line hits L2's (fetched by the read), dirty
        [counts(wb=1), counts(w=1, wh=1, bw=4, wb=1), counts(w=1, wh=1, bw=32)]),
    "no-allocate write-back": (
        # four fetches miss L2 (its one set holds one line), and the write-back of 0x10000
        # goes on to memory without displacing 0x10100 from L2
        [counts(r=3, w=1, br=12, bw=4, wb=1), counts(r=4, w=1, br=128, bw=32),
         counts(r=4, w=1, rh=4, wh=1, br=128, bw=32, sv=4)],
        [counts(), counts(), counts()]),
    "flush order": (
        [counts(w=2, bw=8), counts(r=2, br=64), counts(r=2, rh=2, br=64, sv=2)],
        # 0x10020 (set 1) hits L2's line; then 0x10000 is installed without a fetch,
        # evicting 0x10020 dirty; L2's flush writes 0x10000
        [counts(wb=2), counts(w=2, wh=1, bw=64, wb=2), counts(w=2, wh=2, bw=64)]),
}
# what Dinero prints for the three (checked against it in tests/test_dinero.py): per level,
# misses, and bytes from and to the level below
DINERO = {"whole-line write": [(2, 4, 4), (1, 32, 32)],
          "no-allocate write-back": [(4, 128, 32), (5, 128, 32)],
          "flush order": [(2, 64, 64), (3, 64, 64)]}


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("who", ["engine", "reference"])
def test_hand_counted(name, who):
    specs, trace = EXAMPLES[name]
    if who == "engine":
        c, _ = run_engine(specs, trace)
    else:
        c, _ = naive.simulate(specs, trace)
    got = c.sum(axis=2)
    run, flush = HAND[name]
    assert got[0].tolist() == run
    assert got[1].tolist() == flush
    tot = got.sum(axis=0)
    misses = tot[:, R] + tot[:, W] - tot[:, RH] - tot[:, WH]
    assert [(int(misses[k]), int(tot[k + 1, BR]), int(tot[k + 1, BW]))
            for k in range(len(specs))] == DINERO[name]


@pytest.mark.parametrize("policy,trace,write_hits", [
    # LRU: 0x10040 is the least recent and goes first; L2 holds it (fetched last): a hit
    ("lru", [(0x10000, 4, 1, 0), (0x10040, 4, 1, 0), (0x10000, 4, 1, 0)], 1),
    # FIFO: 0x10040 was installed first and goes first; L2 holds 0x10000: two misses
    ("fifo", [(0x10040, 4, 1, 0), (0x10000, 4, 1, 0), (0x10040, 4, 1, 0)], 0),
    # random (simcache's choice, no recency kept): the highest way first, 0x10040 (way 1,
    # filled second; no draw, the set never fills up beyond its ways); L2 holds it: a hit
    ("random", [(0x10000, 4, 1, 0), (0x10040, 4, 1, 0)], 1),
])
def test_flush_takes_each_sets_least_recent_line_first(policy, trace, write_hits):
    """One 2-way L1 set holding two dirty lines over a one-line L2, which holds the line
    fetched last. In either case ascending line order, or the most recent line first,
    would give the other count."""
    specs = [level(64, 32, 2, policy), level(32, 32, "full")]
    for c in (run_engine(specs, trace)[0], naive.simulate(specs, trace)[0]):
        flush = c[1].sum(axis=1)
        assert flush[1, [W, WH, WB]].tolist() == [2, write_hits, 2]


def test_whole_line_write_through_is_installed_clean_and_forwarded():
    """A whole-line write miss at a write-through, write-allocate level: no fetch, the line
    is installed clean, and the write goes on below (served by the level that installs)."""
    specs = [level(16, 4, "full", wb=False), level(128, 32, 2)]
    trace = [(0x10000, 4, 1, 0), (0x10000, 4, 0, 0)]
    for c in (run_engine(specs, trace)[0], naive.simulate(specs, trace)[0]):
        run = c[0].sum(axis=1)
        assert run[0].tolist() == counts(r=1, w=1, rh=1, br=4, bw=4, sv=2)
        # L2: the forwarded write misses (a partial line there): fetched, dirty
        assert run[1].tolist() == counts(w=1, bw=4)
        assert run[2].tolist() == counts(r=1, rh=1, br=32)
