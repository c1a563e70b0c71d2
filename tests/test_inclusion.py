"""Inclusion (docs/model.md §2, "Inclusion") against the plain-Python reference.

Inclusive levels back-invalidate the levels above when they evict; exclusive levels are
filled by the victims of the level above, give their lines up to it, and let fetches pass
through. The kernels with prefetchers and inclusion (kernels `pf`) must give the
reference's counters, prefetch and inclusion counts, and contents, on random valid
hierarchies and traces, on whole layers (the nest's repeated-hit shortcut) and on warm
networks (tests/test_warm.py); a few small cases are counted by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_differential import SETTINGS, assert_same, trace
from test_prefetch import POLICIES, assert_same_pf, pf_level
from test_shortcut import SECOND, _cases

import naive
from helpers import assert_refused, cli_output, hierarchy, policies_for, replayed
from simcache import kernels as K
from simcache.config import ConfigError
from simcache.engine import State, simulate
from simcache.layers import make_layer

NAMES = ("invalidated", "victims", "promoted")


def valid(specs: list[dict], choices: list[str]) -> list[dict]:
    """Give level k the inclusion choices[k], changed so that the config accepts it (or
    left nine where it cannot be): an inclusive level grows to hold every cache level
    above it with lines no shorter; an exclusive level takes the line of the write-back
    level directly above it and does not prefetch. Levels that inclusion can empty do
    not use random replacement (engine.State refuses it)."""
    out = [dict(s, inclusion="nine") for s in specs]
    for k, want in enumerate(choices):
        lv = out[k]
        above = [u for u in out[:k] if not u.get("register")]
        if want == "inclusive" and above and not lv.get("register"):
            line = max([lv["line"]] + [u["line"] for u in above])
            sets = max(lv["size"] // (lv["line"] * lv["ways"]),
                       -(-max(u["size"] for u in above) // (line * lv["ways"])))
            lv.update(line=line, size=line * lv["ways"] * sets, inclusion="inclusive")
        elif want == "exclusive" and k > 0 and not out[k - 1].get("register") \
                and not lv.get("register"):
            u = out[k - 1]
            u["write_back"] = True
            sets = lv["size"] // (lv["line"] * lv["ways"])
            lv.update(line=u["line"], size=u["line"] * lv["ways"] * sets,
                      inclusion="exclusive", prefetch="none", prefetch_distance=1)
    for k, lv in enumerate(out):
        emptied = lv["inclusion"] == "exclusive" or (
            not lv.get("register") and any(v["inclusion"] == "inclusive" for v in out[k + 1:]))
        if emptied and lv["policy"] == "random":
            lv["policy"] = "lru" if (k + lv["ways"]) % 2 else "fifo"
    return out


@st.composite
def including(draw):
    """Two to four levels, the first perhaps a register file, with prefetchers and a mix
    of inclusion choices."""
    n = draw(st.integers(2, 4))
    specs = [draw(pf_level()) for _ in range(n)]
    if draw(st.booleans()):  # a register file of 4-byte elements first
        ways = draw(st.sampled_from([2, 4, 8, 32]))
        # (the config checks an element as 8 bytes; with 4-byte elements, two sets)
        specs[0] = dict(size=8 * ways, line=4, ways=ways, register=True,
                        policy=draw(st.sampled_from(["lru", "fifo", "random"])),
                        write_back=True, write_allocate=True)
    choices = ["nine"] + [draw(st.sampled_from(["nine", "inclusive", "exclusive"]))
                          for _ in range(n - 1)]
    return valid(specs, choices)


@st.composite
def tiny_including(draw):
    """Two or three levels of one or two lines, most of them prefetching, over a few hot
    lines: an inclusive level's own prefetch (or a random victim) then often evicts the
    line it has just installed, while the level above still waits for it (a line on its
    way up, cancelled; `including` seldom draws levels this small)."""
    n = draw(st.integers(2, 3))
    specs = []
    for _ in range(n):
        line, ways, sets = (draw(st.sampled_from(v)) for v in ([8, 16], [1, 1, 2], [1, 1, 2]))
        policy = draw(st.sampled_from(["none", *POLICIES, *POLICIES]))
        specs.append(dict(size=line * ways * sets, line=line, ways=ways,
                          policy=draw(st.sampled_from(policies_for(ways))),
                          write_back=draw(st.booleans()), write_allocate=draw(st.booleans()),
                          prefetch=policy,
                          prefetch_distance=draw(st.sampled_from([1, 2])) if policy != "none"
                          else 1))
    choices = ["nine"] + [draw(st.sampled_from(["nine", "inclusive", "inclusive", "exclusive"]))
                          for _ in range(n - 1)]
    return valid(specs, choices)


def engine_run(specs, tr, seed=1, cuts=()):
    state, contents = replayed(specs, tr, seed, cuts=list(cuts))
    inc = None if state.inclusion is None else state.inclusion.copy()
    pf = None if state.prefetch is None else state.prefetch.copy()
    return state.counters.copy(), contents, pf, inc


def reference(specs, tr, seed=1):
    n = len(specs) + 1
    pf = np.zeros((2, n, 5, 4), dtype=np.int64)
    inc = np.zeros((2, n, 5, 3), dtype=np.int64)
    counters, contents = naive.simulate(specs, tr, seed=seed, prefetch=pf, inclusion=inc)
    return counters, contents, pf, inc


def held(contents):
    """Per level, per set, the set of (line, dirty) held: which empty way a level fills
    first is not part of the model for LRU and FIFO (docs/model.md, Inclusion)."""
    return [[{w for w in ways if w is not None} for ways in level] for level in contents]


def assert_same_inc(got, want):
    if not np.array_equal(got, want):
        diff = np.argwhere(got != want)
        raise AssertionError("inclusion counts differ:\n" + "\n".join(
            f"phase {p} level {lv} tensor {t} {NAMES[k]}: engine {got[p, lv, t, k]} "
            f"reference {want[p, lv, t, k]}" for p, lv, t, k in diff[:12]))


def check(specs, tr, seed=1, cuts=()):
    want, want_contents, want_pf, want_inc = reference(specs, tr, seed)
    got, got_contents, got_pf, got_inc = engine_run(specs, tr, seed, cuts)
    assert_same(got, want)
    assert held(got_contents) == held(want_contents)
    if got_pf is not None:
        assert_same_pf(got_pf, want_pf)
    else:
        assert not want_pf.any()
    if got_inc is not None:
        assert_same_inc(got_inc, want_inc)
    else:
        assert not want_inc.any() and all(s.get("inclusion", "nine") == "nine" for s in specs)
    return got, got_inc


def assert_included(specs, contents):
    """Every line of a cache level above an inclusive level is held by it, and no line of
    the level above an exclusive level is held by it."""
    def lines(k):
        return {ln for ways in contents[k] for w in ways if w is not None for ln in [w[0]]}
    for k, s in enumerate(specs):
        if s.get("inclusion") == "inclusive":
            mine = lines(k)
            for j in range(k):
                if not specs[j].get("register"):
                    shift = specs[k]["line"] // specs[j]["line"]
                    assert {ln // shift for ln in lines(j)} <= mine, (j, k)
        elif s.get("inclusion") == "exclusive":
            assert not lines(k) & lines(k - 1), k


@SETTINGS
@given(including(), trace(), st.integers(1, 2**32), st.lists(st.integers(0, 400), max_size=3))
def test_random_hierarchy_random_trace(specs, tr, seed, cuts):
    check(specs, tr, seed, cuts)
    # a register file's write-back that fills a whole line below installs it there
    # without a fetch through the inclusive level (docs/model.md, Inclusion)
    if not (specs[0].get("register") and specs[1]["line"] == specs[0]["line"]):
        _, contents, _, _ = engine_run(specs, tr, seed)
        assert_included(specs, contents)


@SETTINGS
@given(tiny_including(), trace(span=64), st.integers(1, 2**32),
       st.lists(st.integers(0, 400), max_size=3))
def test_tiny_hierarchy_random_trace(specs, tr, seed, cuts):
    check(specs, tr, seed, cuts)


# ---------------------------------------------------------------- by hand

def lru(size, line=16, ways=2, **kw):
    return dict(dict(size=size, line=line, ways=ways, policy="lru", write_back=True,
                     write_allocate=True), **kw)


A, B, C = 0, 16, 32  # three lines of 16 bytes that share the one set of each level


def test_back_invalidation_by_hand():
    """L1 and an inclusive L2 of the same size (one set of two ways each). Read A, B, A:
    the L1 hit on A is not seen by the L2, whose least recent line stays A. Read C: the
    L2 evicts A and takes it out of the L1 too, which then puts C in the empty way and
    keeps B. The last read of A misses the L1 (without inclusion it would hit: the L1
    would have evicted B) and the L2, which evicts B and takes it out of the L1 too."""
    tr = [(A, 4, 0, 0), (B, 4, 0, 0), (A, 4, 0, 0), (C, 4, 0, 0), (A, 4, 0, 0)]
    inclusive = [lru(32), lru(32, inclusion="inclusive")]
    got, inc = check(inclusive, tr)
    nine, _ = check([lru(32), lru(32)], tr)
    hits = got[0, 0, 0, K.READ_HITS]
    assert (hits, nine[0, 0, 0, K.READ_HITS]) == (1, 2)
    assert inc[0, 0, 0].tolist() == [2, 0, 0]  # A, then B, invalidated in the L1
    assert inc[0, 1].sum() == 0


def test_a_dirty_copy_above_leaves_with_the_victim():
    """As above, with a write to A: the L1's dirty copy goes with the L2's victim, which
    is written to memory during the run, though the L2 itself never held it dirty."""
    tr = [(A, 4, 0, 0), (B, 4, 0, 0), (A, 4, 1, 0), (C, 4, 0, 0)]
    got, inc = check([lru(32), lru(32, inclusion="inclusive")], tr)
    assert got[0, 2, 0, K.WRITES] == 1 and got[0, 1, 0, K.WRITEBACKS] == 1
    assert got[0, 0, 0, K.WRITEBACKS] == 0
    assert inc[0, 0, 0, 0] == 1


def test_a_whole_line_write_above_an_inclusive_level_is_fetched():
    """A cache of 4-byte lines (not a register file) over an inclusive L2: a 4-byte write
    that misses covers its whole line, which Dinero's rule installs without a fetch; here
    it is fetched all the same, so that the inclusive L2 holds it (docs/model.md §2,
    Inclusion). Without an inclusive level below, the same write is not fetched."""
    tr = [(0x40, 4, 1, 0)]
    got, _ = check([lru(16, line=4), lru(64, inclusion="inclusive")], tr)
    assert got[0, 1, 0, K.READS] == 1 and got[0, 2, 0, K.READS] == 1
    _, contents, _, _ = engine_run([lru(16, line=4), lru(64, inclusion="inclusive")], tr)
    assert_included([lru(16, line=4), lru(64, inclusion="inclusive")], contents)
    nine, _ = check([lru(16, line=4), lru(64)], tr)
    assert nine[0, 1:, 0, K.READS].tolist() == [0, 0]
    assert nine[0, 0, 0, K.SERVED] == 1  # the level that installs it serves it


def test_exclusive_victim_fill_and_move_up_by_hand():
    """An L1 of one line over an exclusive L2. Read A: it passes through the L2 (a read
    there, not installed) from memory. Read B: the L1's victim A fills the L2 (a write of
    a clean line). Read A: the L2 hits and gives A up to the L1, whose victim B fills the
    L2. Memory is read twice; the L2 reads three times, hits once, is written twice."""
    tr = [(A, 4, 0, 0), (B, 4, 0, 0), (A, 4, 0, 0)]
    got, inc = check([lru(16, ways=1), lru(32, inclusion="exclusive")], tr)
    l2, mem = got[0, 1, 0], got[0, 2, 0]
    assert (l2[K.READS], l2[K.READ_HITS], l2[K.WRITES], l2[K.WRITEBACKS]) == (3, 1, 2, 0)
    assert mem[K.READS] == 2 and got[:, 2, 0, K.WRITES].sum() == 0
    assert inc[0, 1, 0].tolist() == [0, 2, 1]  # two victims in, one line up


def test_a_dirty_line_moves_up_dirty():
    """Write A, read B (A's dirty victim fills the L2), read A (A moves up, still dirty:
    B's clean victim goes to the L2). The flush then writes A down from the L1 and from
    the L2 to memory; were the dirty state lost on the way up, memory would not get A."""
    tr = [(A, 4, 1, 0), (B, 4, 0, 0), (A, 4, 0, 0)]
    got, _ = check([lru(16, ways=1), lru(32, inclusion="exclusive")], tr)
    assert got[1, 0, 0, K.WRITEBACKS] == 1  # A, from the L1
    assert got[1, 2, 0, K.WRITES] == 1  # and on to memory


def test_a_line_evicted_below_on_its_way_up_is_not_installed():
    """An inclusive L2 of one line that prefetches the next: read A misses both; the L2
    installs A, then its prefetch of the next line evicts A before the L1 has installed
    it. The L1 then does not install A (counted as back-invalidated there), so the read of
    A again misses the L1; were A installed, the L1 would hold a line its inclusive L2
    does not."""
    specs = [lru(16, ways=1), lru(16, ways=1, inclusion="inclusive", prefetch="always")]
    got, inc = check(specs, [(A, 4, 0, 0), (A, 4, 0, 0)])
    assert got[0, 0, 0, K.READ_HITS] == 0
    assert inc[0, 0, 0].tolist() == [2, 0, 0]
    _, contents, _, _ = engine_run(specs, [(A, 4, 0, 0)])
    assert_included(specs, contents)


def test_a_dirty_line_evicted_on_its_way_up_is_written_below():
    """As above, with a write: the L1's write miss fetches A to install it dirty; the L2's
    prefetch evicts A before it arrives, so the L1 never holds it and the L2's victim
    carries its data: one line written to memory in the run (lose the dirty state of the
    cancelled install and memory gets nothing), none in the flush."""
    specs = [lru(16, ways=1), lru(16, ways=1, inclusion="inclusive", prefetch="always")]
    got, inc = check(specs, [(A, 4, 1, 0)])
    assert got[0, 2, 0, K.WRITES] == 1 and got[0, 2, 0, K.BYTES_WRITTEN] == 16
    assert got[0, 1, 0, K.WRITEBACKS] == 1
    assert not got[1].any()  # nothing left dirty: the L1 never installed A
    assert inc[0, 0, 0].tolist() == [1, 0, 0]


def test_inclusion_counts_only_where_it_applies():
    """A hierarchy with no inclusive or exclusive level runs the plain kernels; one with
    runs the kernels with inclusion, and its counts differ where lines were removed."""
    h = hierarchy([lru(32), lru(32)])
    assert State(h.geometry(4)).pf is False
    h = hierarchy([lru(32), lru(32, inclusion="inclusive")])
    s = State(h.geometry(4))
    assert s.pf and s.inclusion is not None and s.prefetch is None


# ---------------------------------------------------------------- layers

ZEN_LIKE = [lru(256, line=16, ways=2, prefetch="tagged"),
            lru(512, line=16, ways=4, inclusion="inclusive"),
            dict(lru(1024, line=16, ways=4, inclusion="exclusive"), policy="fifo")]


@pytest.mark.parametrize("case, spec", _cases()[1::4])
def test_layers(case, spec):
    """A quarter of tests/test_shortcut.py's cases through a first level of the case, an
    inclusive L2 and an exclusive L3 (as configs/zen4.yaml has them, small)."""
    specs = valid([spec, SECOND, ZEN_LIKE[2]], ["nine", "inclusive", "exclusive"])
    layer = make_layer(**case)
    kw = {k: v for k, v in case.items() if k != "type"}
    tr, _ = naive.layer_trace(case["type"], **kw)
    want, _, want_pf, want_inc = reference(specs, tr)
    result = simulate(hierarchy(specs), layer)
    assert_same(result.counters, want)
    assert_same_inc(result.inclusion, want_inc)
    assert (result.prefetch is None) == (not want_pf.any() and all(
        s.get("prefetch", "none") == "none" for s in specs))


def test_a_zen_like_layer_removes_and_moves_lines():
    """The counters are not idle: a depthwise layer through ZEN_LIKE back-invalidates L1
    lines, fills the L3 with L2 victims and moves some back up."""
    layer = make_layer(type="depthwise", M=4, N=4, F=12, K=3)
    tr, _ = naive.layer_trace("depthwise", B=1, M=4, N=4, F=12, K=3)
    want, _, _, want_inc = reference(ZEN_LIKE, tr)
    result = simulate(hierarchy(ZEN_LIKE), layer)
    assert_same(result.counters, want)
    assert_same_inc(result.inclusion, want_inc)
    total = result.inclusion.sum(axis=(0, 2))
    assert total[0, 0] > 0 and total[2, 1] > 0 and total[2, 2] > 0


# ---------------------------------------------------------------- refusals

def _geometry(specs, inclusions):
    return [dataclasses.replace(g, inclusion=i)
            for g, i in zip(hierarchy(specs).geometry(4), inclusions, strict=True)]


def test_random_levels_that_inclusion_empties_are_refused():
    """By the engine (for the Python API's geometry) and by the config, naming the field."""
    rnd = dict(lru(32), policy="random")
    for specs, inc in (([rnd, lru(32)], ["nine", "inclusive"]),
                       ([lru(32), dict(lru(64), policy="random")], ["nine", "exclusive"])):
        with pytest.raises(ConfigError, match="random level is not simulated with empty"):
            State(_geometry(specs, inc))
        with pytest.raises(ValueError, match=r"levels\.\d\.policy: L\d: inclusion empties"):
            hierarchy([dict(s, inclusion=i) for s, i in zip(specs, inc, strict=True)])
    # a random level below an inclusive one, or above an exclusive one, is not emptied
    State(_geometry([lru(32), lru(32), rnd], ["nine", "inclusive", "nine"]))
    State(_geometry([rnd, lru(64)], ["nine", "exclusive"]))


def test_3c_with_inclusion_is_refused(tmp_path, capsys):
    cfg, target = tmp_path / "c.yaml", tmp_path / "out.json"
    cfg.write_text(CONFIG)
    got = cli_output(capsys, "run", str(cfg), "--layer", "depthwise", "-M", "4", "-F", "8",
                     "--3c", "-o", str(target))
    assert_refused(*got, ["error: levels[1].inclusion: 'inclusive' does not combine"], target)


CONFIG = """\
name: inc
source: test
mac_cycles: 1
mac_energy: 1
levels:
  - {name: L1, size: 256, line: 16, ways: 2, latency: 1, energy: 1, source: test}
  - {name: L2, size: 1024, line: 16, ways: 4, latency: 4, energy: 2, inclusion: inclusive,
     source: test}
memory: {latency: 50, energy: 100, source: test}
"""
