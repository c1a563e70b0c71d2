"""The replacement policies of real chips (docs/model.md §2): plru, bitplru, srrip, brrip.

Small examples counted by hand (the victim of every step in the comments, worked out from
the rules of docs/model.md, not by running the code), checked against both the engine and
the plain-Python reference; then the config's refusals of shapes a policy cannot hold.
The differential tests (test_differential.py, test_3c.py, test_prefetch.py,
test_inclusion.py, test_shortcut.py) draw these policies too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from helpers import assert_refused, cli_output, examples, hierarchy, run_engine
from simcache import kernels as K
from simcache.config import ConfigError, load_hierarchy
from simcache.engine import State

A, B, C, D, E, F = range(6)  # line numbers; line n is at address 16 n


def one_set(policy: str) -> list[dict]:
    """One level of one set of 4 ways, 16-byte lines, over memory."""
    return [dict(size=64, line=16, ways=4, policy=policy, write_back=True,
                 write_allocate=True)]


def reads(lines: list[int]) -> list[tuple]:
    return [(n * 16, 4, 0, 0) for n in lines]


def check(policy: str, lines: list[int], ways: list[int], hits: int, seed: int = 1):
    """Engine and reference hold `ways` (line per physical way) after the reads of `lines`,
    with `hits` hits."""
    tr = reads(lines)
    for counters, contents in (run_engine(one_set(policy), tr, seed=seed),
                               naive.simulate(one_set(policy), tr, seed=seed)):
        assert [w[0] for w in contents[0][0]] == ways
        assert counters[0, 0, 0, K.READ_HITS] == hits
        assert counters[0, 0, 0, K.READS] == len(lines)


def test_plru_by_hand():
    # bits (node 1, node 2, node 3), all 0; a 0 points to the lower half
    # A: empty way 0; touch 0 -> (1, 1, 0)      B: way 1 -> (1, 0, 0)
    # C: way 2 -> (0, 0, 1)                     D: way 3 -> (0, 0, 0)
    # A hits way 0 -> (1, 1, 0)
    # E: node 1 = 1 -> node 3 = 0 -> way 2 (C goes); touch 2 -> (0, 1, 1)
    # B hits way 1 -> (1, 0, 1)
    # F: node 1 = 1 -> node 3 = 1 -> way 3 (D goes); touch 3 -> (0, 0, 0)
    # C: node 1 = 0 -> node 2 = 0 -> way 0 (A goes); touch 0 -> (1, 1, 0)
    # (LRU would have evicted B for E: the two differ)
    check("plru", [A, B, C, D, A, E, B, F, C], [C, B, E, F], hits=2)
    # LRU: E evicts B (way 1), B evicts C, F evicts D, C evicts A
    check("lru", [A, B, C, D, A, E, B, F, C], [C, E, B, F], hits=1)


def test_bitplru_by_hand():
    # MRU bits per way, all 0; the victim is the lowest clear bit
    # A, B, C: ways 0, 1, 2 -> {0, 1, 2}
    # D: way 3 would set all four: only 3 stays -> {3}
    # A hits way 0 -> {0, 3}
    # E: lowest clear is way 1 (B goes) -> {0, 1, 3}
    # B: lowest clear is way 2 (C goes); all four would be set -> {2}
    # F: way 0 (A goes) -> {0, 2}
    # C: way 1 (E goes) -> {0, 1, 2}
    check("bitplru", [A, B, C, D, A, E, B, F, C], [F, C, B, D], hits=1)


def test_srrip_by_hand():
    # RRPVs per way; fills insert at 2, hits set 0, the victim is the first 3 after ageing
    # A B C D: [2, 2, 2, 2]        A hits: [0, 2, 2, 2]
    # E: no 3, age by 1: [1, 3, 3, 3]; way 1 (B goes): [1, 2, 3, 3]
    # B: way 2 (C goes): [1, 2, 2, 3]       F: way 3 (D goes): [1, 2, 2, 2]
    # C: no 3, age by 1: [2, 3, 3, 3]; way 1 (E goes): [2, 2, 3, 3]
    # A hits: [0, 2, 3, 3]
    check("srrip", [A, B, C, D, A, E, B, F, C, A], [A, C, B, F], hits=2)


def draws(seed: int, n: int) -> list[int]:
    """The first n values of the config's generator mod 32 (the reference's xorshift64)."""
    g = naive.XorShift64(seed)
    return [g.next() % 32 for _ in range(n)]


def test_brrip_by_hand():
    # fills insert at 3, or at 2 when their draw is 0 mod 32 (one draw per fill)
    assert all(draws(1, 6))  # seed 1: no near insertion in the first six fills
    # A B C D: [3, 3, 3, 3]; E: way 0 (A goes); A: way 0 (E goes): six misses
    check("brrip", [A, B, C, D, E, A], [A, B, C, D], hits=0, seed=1)
    assert draws(16416, 5) == [0, 17, 1, 2, 2]  # seed 16416: the first fill is near
    # A: [2]; B C D: [2, 3, 3, 3]; E: way 1 (B goes); A hits
    check("brrip", [A, B, C, D, E, A], [A, E, C, D], hits=1, seed=16416)


@pytest.mark.parametrize("policy", ["brrip", "srrip", "plru", "bitplru"])
def test_brrip_draws_once_per_fill(policy):
    """Every fill of a brrip level draws once (an empty way's too); the other new policies
    never draw: the generator's state after the run is the reference's after that many
    draws."""
    tr = reads([A, B, C, D, E, A, F, B])
    state = State(load_geometry(policy), 7)
    arr = np.array(tr, dtype=np.int64)
    state.replay(arr[:, 0], arr[:, 1], arr[:, 2].astype(np.uint8), arr[:, 3].astype(np.int8))
    want, _ = naive.simulate(one_set(policy), tr, seed=7)
    fills = want[0, 0, 0, K.READS] - want[0, 0, 0, K.READ_HITS]  # every miss fills
    assert fills >= 6
    g = naive.XorShift64(7)
    for _ in range(fills if policy == "brrip" else 0):
        g.next()
    assert int(np.array([state.S[K.H_RNG]]).view(np.uint64)[0]) == g.state


def load_geometry(policy: str):
    return hierarchy(one_set(policy)).geometry(4)


def test_a_way_inclusion_empties_is_filled_first():
    """Under each new policy an emptied way (here by an inclusive L2's eviction) is the
    next one filled, not the policy's own victim (engine and reference agree)."""
    for policy in ("plru", "bitplru", "srrip", "brrip"):
        specs = [dict(one_set(policy)[0]),
                 dict(size=128, line=16, ways=2, policy="lru", write_back=True,
                      write_allocate=True, inclusion="inclusive")]
        # L1 fills ways 0 to 3 with lines 0, 1, 2, 5; each policy's victim is then way 0
        # (plru: bits (0, 0, 0); bitplru: {3}; srrip: all 2, aged to 3; brrip: all 3, the
        # first four draws of seed 1 being far). L2 has 4 sets of 2 ways: 1, 5, 9 share
        # set 1, so fetching 9 evicts L2's least recent line 1, which leaves L1's way 1;
        # L1 then fills way 1 with 9, and line 0 stays
        assert all(draws(1, 4))
        tr = reads([0, 1, 2, 5, 9])
        want, want_contents = naive.simulate(specs, tr)
        got, got_contents = run_engine(specs, tr)
        assert np.array_equal(got, want)
        assert got_contents == want_contents
        assert [w[0] for w in got_contents[0][0]] == [0, 9, 2, 5]


# ---------------------------------------------------------------- refused shapes

CONFIG = """\
name: t
source: test
mac_cycles: 1
mac_energy: 1
levels:
  - name: L1
    size: {size}
    line: {line}
    ways: {ways}
    policy: {policy}
    latency: 1
    energy: 1
    source: test
memory:
  latency: 100
  energy: 100
  source: test
"""


@pytest.mark.parametrize("size, line, ways, policy, says", [
    (384, 32, 3, "plru", "levels.0.policy: plru (a binary tree over the ways) needs a "
                         "power-of-two number of ways (ways is 3)"),
    (384, 32, "full", "plru", "levels.0.policy: plru (a binary tree over the ways) needs a "
                              "power-of-two number of ways (ways: full gives 12 ways)"),
    (2048, 32, 32, "srrip", "levels.0.policy: srrip needs at most 16 ways (ways is 32)"),
    (2048, 32, "full", "bitplru", "levels.0.policy: bitplru needs at most 16 ways "
                                  "(ways: full gives 64 ways)"),
    (64, "element", "full", "brrip", "levels.0.policy: brrip is not offered at a register "
                                     "file (line: element)"),
    (1024, 32, 4, "lfu", "levels.0.policy: Input should be 'lru', 'fifo', 'random', 'plru', "
                         "'bitplru', 'srrip' or 'brrip'"),
])
def test_a_policy_the_level_cannot_hold_is_refused(tmp_path, capsys, size, line, ways, policy,
                                                   says):
    cfg, target = tmp_path / "c.yaml", tmp_path / "out.json"
    cfg.write_text(CONFIG.format(size=size, line=line, ways=ways, policy=policy))
    with pytest.raises(ConfigError) as info:
        load_hierarchy(cfg)
    (problem,) = info.value.problems
    assert problem.startswith(f"{cfg}:10: {says}"), problem
    got = cli_output(capsys, "run", str(cfg), "--layer", "fc", "-o", str(target))
    assert_refused(*got, [f"error: {cfg}:10: {says}"], target)


@pytest.mark.parametrize("policy", ["plru", "bitplru", "srrip", "brrip"])
def test_a_shape_the_policy_holds_is_accepted(tmp_path, policy):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(size=512, line=32, ways=16, policy=policy))
    assert load_hierarchy(cfg).levels[0].policy == policy
    cfg.write_text(CONFIG.format(size=128, line=32, ways="full", policy=policy))
    assert load_hierarchy(cfg).geometry(4)[0].ways == 4


def test_mrc_says_the_curve_is_lrus(capsys):
    """`simcache mrc` of a plru level (mobile_soc's L1D) gives LRU's curve and says so."""
    code, out, err = cli_output(capsys, "mrc", "mobile_soc", "--layer", "fc", "-M", "10",
                                "-N", "8", "--level", "L1D")
    assert code == 0, err
    assert "L1D replaces plru: the curve is LRU's" in " ".join(out.split())


def test_mrc_refuses_brrip_above_and_random_below(tmp_path, capsys):
    """A brrip level draws from the generator random levels use: above and below L both
    drawing is refused, as for random (docs/model.md, Miss-ratio curves)."""
    cfg = tmp_path / "c.yaml"
    text = CONFIG.format(size=512, line=32, ways=4, policy="brrip")
    two = text.replace("memory:\n", """  - name: L2
    size: 4KiB
    line: 32
    ways: 4
    policy: random
    latency: 1
    energy: 1
    source: test
memory:
""")
    cfg.write_text(two)
    code, out, err = cli_output(capsys, "mrc", str(cfg), "--layer", "fc", "-M", "4", "-N", "4",
                                "--level", "L2")
    assert code == 2 and out == ""
    assert "use random or brrip replacement, which draw from one generator" in err


@settings(max_examples=examples(200), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["inclusive", "exclusive"]), st.sampled_from([2, 4]),
       st.sampled_from([2, 4, 8]), st.lists(st.tuples(st.integers(0, 11), st.booleans()),
                                           min_size=1, max_size=60))
def test_inclusion_empties_ways_of_the_new_policies(inclusion, ways1, ways2, accesses):
    """Tiny bitplru and srrip hierarchies over a dozen lines, an inclusive or exclusive
    L2 emptying ways (back-invalidation, lines moving up): what an emptied way leaves of
    the policy's state (bitplru clears its bit, docs/model.md §2) decides later victims."""
    for policy in ("bitplru", "srrip"):
        l1 = dict(size=16 * ways1, line=16, ways=ways1, policy=policy, write_back=True,
                  write_allocate=True)
        l2 = dict(size=16 * ways2 * (1 if inclusion == "exclusive" else 2), line=16,
                  ways=ways2, policy=policy, write_back=True, write_allocate=True,
                  inclusion=inclusion)
        if inclusion == "inclusive" and l2["size"] < l1["size"]:
            continue
        tr = [(n * 16, 4, int(w), 0) for n, w in accesses]
        want, want_contents = naive.simulate([l1, l2], tr)
        got, got_contents = run_engine([l1, l2], tr)
        assert np.array_equal(got, want), policy
        assert got_contents == want_contents


def test_a_bitplru_way_emptied_by_inclusion_loses_its_bit():
    """An inclusive L2 of 32-byte lines over a bitplru L1 of 16-byte lines in 2 sets: an L2
    victim empties an L1 way in the set the fetch does not fill, which then sees hits before
    the way is filled again. Whether the emptied way's bit is cleared (docs/model.md §2)
    then decides later victims: the engine must do as the reference (the trace was found
    by a search over small traces for one where keeping the bit changes the contents)."""
    specs = [dict(size=128, line=16, ways=4, policy="bitplru", write_back=True,
                  write_allocate=True),
             dict(size=256, line=32, ways=4, policy="lru", write_back=True,
                  write_allocate=True, inclusion="inclusive")]
    tr = reads([4, 5, 15, 12, 6, 7, 11, 23, 2, 0, 24, 14, 14, 27, 21, 10, 5, 12, 23, 15, 3])
    want, want_contents = naive.simulate(specs, tr)
    got, got_contents = run_engine(specs, tr)
    assert np.array_equal(got, want)
    assert got_contents == want_contents
    kept = naive.Cache.emptied
    try:  # the same trace where an emptied way keeps its bit: other counts
        naive.Cache.emptied = lambda self, s, way: None
        _, other = naive.simulate(specs, tr)
    finally:
        naive.Cache.emptied = kept
    assert other != want_contents  # another line left in L1


@settings(max_examples=examples(40), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 40), st.booleans()), min_size=20, max_size=300),
       st.integers(1, 2**32), st.sampled_from(["random", "brrip"]))
def test_brrip_draws_after_the_fetch_below_when_classifying(accesses, seed, below):
    """A brrip level draws when the fetched line arrives, after the draws its fetch caused
    below (docs/model.md §2), on the 3C path too, where lru and plru levels install at
    once: a brrip L1 over a random or brrip L2 shares one generator with it."""
    specs = [dict(size=64, line=16, ways=2, policy="brrip", write_back=True,
                  write_allocate=True),
             dict(size=256, line=16, ways=4, policy=below, write_back=True,
                  write_allocate=True)]
    tr = [(n * 16, 4, int(w), 0) for n, w in accesses]
    want_ccc = np.zeros((2, 3, 5, 3), dtype=np.int64)
    want, _ = naive.simulate(specs, tr, seed=seed, three_c=want_ccc)
    state = State(hierarchy(specs, seed).geometry(4), seed, ccc=True)
    arr = np.array(tr, dtype=np.int64)
    state.replay(arr[:, 0], arr[:, 1], arr[:, 2].astype(np.uint8), arr[:, 3].astype(np.int8))
    state.flush()
    assert np.array_equal(state.counters, want)
    assert np.array_equal(state.three_c, want_ccc)
