"""Prefetch (docs/model.md, "Prefetch") against the plain-Python reference.

The prefetch kernels (kernels.RUN_TRACE_PF, RUN_NEST_PF, request_pf) must give the
reference's counters and prefetch counts for every policy and distance, on random
hierarchies and traces and on whole layers (where the nest's repeated-hit shortcut runs);
a hierarchy whose levels do not prefetch must not take them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_differential import SETTINGS, assert_same, level_spec, trace
from test_shortcut import SECOND, _cases

import naive
from helpers import hierarchy, replayed
from simcache import kernels as K
from simcache.engine import State, simulate, simulate_trace

POLICIES = ["always", "miss", "tagged"]


@st.composite
def pf_level(draw):
    spec = draw(level_spec())
    policy = draw(st.sampled_from(["none", *POLICIES]))
    # a distance without a policy is refused (config.py): it stays 1 then
    distance = draw(st.sampled_from([1, 1, 2, 3, 7])) if policy != "none" else 1
    return dict(spec, prefetch=policy, prefetch_distance=distance)


def replay(specs, tr, seed=1, cuts=()):
    state, _ = replayed(specs, tr, seed, cuts=list(cuts))
    pf = None if state.prefetch is None else state.prefetch.copy()
    return state.counters.copy(), pf, state.prefetch_left()


def reference(specs, tr, seed=1):
    pf = np.zeros((2, len(specs) + 1, 5, 4), dtype=np.int64)
    left = np.zeros((len(specs) + 1, 5), dtype=np.int64)
    counters, _ = naive.simulate(specs, tr, seed=seed, prefetch=pf, prefetch_left=left)
    return counters, pf, left


def assert_same_pf(got, want):
    if not np.array_equal(got, want):
        diff = np.argwhere(got != want)
        names = ("issued", "misses", "useful", "unused")
        raise AssertionError("prefetch counts differ:\n" + "\n".join(
            f"phase {p} level {lv} tensor {t} {names[k]}: engine {got[p, lv, t, k]} "
            f"reference {want[p, lv, t, k]}" for p, lv, t, k in diff[:12]))


def assert_balanced(pf, left):
    """Every line a prefetch installed is used once, evicted unused, or left unused."""
    fetched = pf[..., K.PF_MISSES].sum(axis=0)
    used = pf[..., K.PF_USEFUL].sum(axis=0) + pf[..., K.PF_UNUSED].sum(axis=0)
    assert np.array_equal(fetched, used + left)
    assert (pf[..., K.PF_MISSES] <= pf[..., K.PF_ISSUED]).all()


@SETTINGS
@given(st.lists(pf_level(), min_size=1, max_size=3), trace(), st.integers(1, 2**32),
       st.lists(st.integers(0, 400), max_size=3))
def test_random_hierarchy_random_trace(specs, tr, seed, cuts):
    want, want_pf, want_left = reference(specs, tr, seed)
    got, got_pf, got_left = replay(specs, tr, seed, cuts)
    assert_same(got, want)
    if got_pf is None:  # no level prefetches: the plain kernels ran
        assert all(s["prefetch"] == "none" for s in specs)
        assert not want_pf.any()
        return
    assert_same_pf(got_pf, want_pf)
    assert np.array_equal(got_left, want_left)
    assert_balanced(got_pf, got_left)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("distance", [1, 2])
def test_a_stream_of_reads(policy, distance):
    """Reads of lines 0, 1, 2, ... of a large cache: exact counts by hand. `always` and
    `tagged` stay `distance` lines ahead, so only the first line misses (and, for
    distance 2, the second, whose prefetch the first did not issue); `miss` prefetches
    on a miss only, so every other line misses at distance 1."""
    spec = dict(size=4096, line=32, ways=4, policy="lru", write_back=True, write_allocate=True,
                prefetch=policy, prefetch_distance=distance)
    n = 20
    tr = [(32 * k, 4, 0, 0) for k in range(n)]
    counters, pf, left = replay([spec], tr)
    misses = counters[0, 0, 0, K.READS] - counters[0, 0, 0, K.READ_HITS]
    issued, pmiss, useful, unused = pf[0, 0, 0]
    if policy == "always":
        assert (misses, issued, pmiss) == (distance, n, n)
    elif policy == "tagged":  # every line used for the first time prefetches
        assert (misses, issued, pmiss) == (distance, n, n)
    elif distance == 1:  # miss: a miss prefetches the next line, a hit does not
        assert (misses, issued, pmiss) == (n // 2, n // 2, n // 2)
    else:  # miss, distance 2: lines 0, 1 miss, prefetch 2, 3; then 4, 5 miss...
        assert (misses, issued, pmiss) == (n // 2, n // 2, n // 2)
    assert useful == n - misses
    assert unused == 0 and left[0, 0] == pmiss - useful


def test_a_prefetch_that_hits_updates_lru():
    """Two sets of two ways, `always` at distance 1, so a read of an odd line prefetches
    into the even set. Read 2, read 0 (set 0: 2 then 0), read 1, whose prefetch of 2 hits
    and makes 2 the most recent; read 4 then evicts 0, and read 2 hits. (Were a prefetch
    hit to leave the order as it is, read 4 would evict 2, and read 2 would miss.)"""
    spec = dict(size=128, line=32, ways=2, policy="lru", write_back=True, write_allocate=True,
                prefetch="always", prefetch_distance=1)
    h = hierarchy([spec])
    state = State(h.geometry(4), h.seed)
    tr = np.array([(64, 4, 0, 0), (0, 4, 0, 0), (32, 4, 0, 0), (128, 4, 0, 0), (64, 4, 0, 0)])
    state.replay(tr[:, 0], tr[:, 1], tr[:, 2].astype(np.uint8), tr[:, 3].astype(np.int8))
    assert {w[0] for w in state.contents()[0][0]} == {2, 4}
    assert {w[0] for w in state.contents()[0][1]} == {3, 5}
    c = state.counters[0, 0, 0]
    assert c[K.READS] - c[K.READ_HITS] == 3  # 2, 0 and 4
    # issued by every read; 3, 1, 5, 3 missed; 1 used; 3 evicted unused; 5 and 3 left
    assert state.prefetch[0, 0, 0].tolist() == [5, 4, 1, 1]
    assert state.prefetch_left()[0, 0] == 2
    want = np.zeros((2, 2, 5, 4), dtype=np.int64)
    naive.simulate([spec], tr.tolist(), prefetch=want)
    assert want[0, 0, 0].tolist() == [5, 4, 1, 1]


def test_prefetch_goes_below_as_a_read_that_prefetches_there():
    """A first-level prefetch that misses reads the line from the second level as an
    ordinary read, which the second level's own prefetcher acts on (Dinero IV drops the
    prefetch attribute on the way down); it serves no trace access there."""
    specs = [dict(size=256, line=32, ways=2, policy="lru", write_back=True,
                  write_allocate=True, prefetch="always", prefetch_distance=1),
             dict(size=2048, line=32, ways=4, policy="lru", write_back=True,
                  write_allocate=True, prefetch="miss", prefetch_distance=4)]
    counters, pf, _ = replay(specs, [(0, 4, 0, 0)])
    # L1: read 0 misses, prefetch 1 misses. L2: reads 0 and 1 (from L1) both miss, each
    # prefetching 4 and 5 lines ahead
    assert counters[0, 1, 0, K.READS] == 2 and counters[0, 1, 0, K.SERVED] == 0
    assert pf[0, 0, 0].tolist() == [1, 1, 0, 0]
    assert pf[0, 1, 0].tolist() == [2, 2, 0, 0]
    assert counters[0, 2, 0, K.READS] == 4


@pytest.mark.parametrize("case, spec", _cases()[::3])
@pytest.mark.parametrize("policy", POLICIES)
def test_layers(case, spec, policy):
    """A third of tests/test_shortcut.py's cases (each layer type, many innermost loops,
    strides, paddings, first levels of wide lines), the first level prefetching at
    distance 1 or 2 and the second by another policy: the nest's repeated-hit shortcut runs
    on the first level's quick hits and must leave the state as walking would."""
    dist = 1 + len(case["order"]) % 2 + (case["stride"] == 2)
    other = POLICIES[(POLICIES.index(policy) + 1) % 3]
    specs = [dict(spec, prefetch=policy, prefetch_distance=dist),
             dict(SECOND, prefetch=other, prefetch_distance=1)]
    from simcache.layers import make_layer
    layer = make_layer(**case)
    kw = {k: v for k, v in case.items() if k != "type"}
    tr, _ = naive.layer_trace(case["type"], **kw)
    want, want_pf, want_left = reference(specs, tr)
    result = simulate(hierarchy(specs), layer)
    assert_same(result.counters, want)
    assert_same_pf(result.prefetch, want_pf)
    assert np.array_equal(result.prefetch_left, want_left)
    assert want_pf[0, 0, :, K.PF_ISSUED].sum() > 0


def test_no_prefetching_level_takes_the_plain_kernels():
    specs = [dict(SECOND, prefetch="none")]
    r = simulate_trace(hierarchy(specs), [(np.arange(0, 4096, 4), np.full(1024, 4),
                                           np.zeros(1024, np.uint8), np.zeros(1024, np.int8))])
    assert r.prefetch is None and r.prefetch_left is None


def test_the_tagged_bit_and_the_distance_matter():
    """The three policies and two distances give six different results on one trace."""
    rng = np.random.default_rng(5)
    tr = [(int(a) * 16, 4, int(w), 0) for a, w in zip(rng.integers(0, 200, 3000),
                                                      rng.integers(0, 4, 3000) == 0,
                                                      strict=True)]
    seen = set()
    for policy, dist in itertools.product(POLICIES, [1, 2]):
        spec = dict(size=512, line=16, ways=4, policy="lru", write_back=True,
                    write_allocate=True, prefetch=policy, prefetch_distance=dist)
        _, pf, _ = replay([spec], tr)
        seen.add(tuple(pf.sum(axis=(0, 2))[0].tolist()))
    assert len(seen) == 6


# ---------------------------------------------------------------- report, API and CLI

def prefetching_config(tmp_path, policy="tagged", distance=2):
    """configs/thesis.yaml with its L1 (the second level) prefetching, the test cited as
    the source of those two fields."""
    from pathlib import Path

    import yaml
    data = yaml.safe_load((Path(__file__).parent.parent / "configs" / "thesis.yaml").read_text())
    l1 = data["levels"][1]
    l1.update(prefetch=policy, prefetch_distance=distance)
    if isinstance(l1["source"], dict):
        l1["source"].update(prefetch="test", prefetch_distance="test")
    p = tmp_path / "pf.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_the_report_carries_the_prefetch_counts_and_their_energy(tmp_path):
    """The L1's `prefetch` object is the result's counts (run and flush summed), only at
    the level that prefetches; its lookups' energy is in the level's energy."""
    from simcache import api
    from simcache.config import load_hierarchy
    from simcache.layers import make_layer
    cfg = prefetching_config(tmp_path)
    dims = dict(M=8, N=8, F=10, K=3)
    doc = api.simulate(str(cfg), "depthwise", **dims).to_dict()
    h = load_hierarchy(cfg)
    r = simulate(h, make_layer(type="depthwise", **dims))
    pf, left = r.prefetch[:, 1].sum(axis=(0, 1)), int(r.prefetch_left[1].sum())
    got = doc["levels"][1]["prefetch"]
    assert {k: got[k] for k in ("policy", "distance", "issued", "misses", "useful",
                                "evicted_unused", "left_unused", "never_used")} == {
        "policy": "tagged", "distance": 2, "issued": int(pf[K.PF_ISSUED]),
        "misses": int(pf[K.PF_MISSES]), "useful": int(pf[K.PF_USEFUL]),
        "evicted_unused": int(pf[K.PF_UNUSED]), "left_unused": left,
        "never_used": int(pf[K.PF_UNUSED]) + left}
    assert got["issued"] > 0 and got["misses"] == got["useful"] + got["never_used"]
    low, high = h.levels[1].energy
    assert got["energy_pj"] == {"low": got["issued"] * low, "high": got["issued"] * high}
    plain = doc["levels"][1]["energy_pj"]["low"] - got["energy_pj"]["low"]
    c = r.counters[:, 1].sum(axis=(0, 1))
    assert plain == pytest.approx((c[K.BYTES_READ] / 8) * low + (c[K.BYTES_WRITTEN] / 8) * low)
    x = doc["levels"][1]["by_tensor"]["x"]["prefetch"]
    assert x["issued"] == int(r.prefetch[:, 1, 0, K.PF_ISSUED].sum())
    assert all("prefetch" not in lv for k, lv in enumerate(doc["levels"]) if k != 1)
    level = api.RunResult(doc).levels["L1"]
    assert level.prefetch.issued == got["issued"] and level.prefetch.policy == "tagged"


def test_prefetch_costs_no_cycles_of_its_own(tmp_path):
    """The blocking model charges only served demand accesses: the prefetching L1's fetches
    below serve none, so the levels below L1 add cycles only for demand misses."""
    from simcache import api
    doc = api.simulate(str(prefetching_config(tmp_path)), "pointwise", M=8, N=8, F=6).to_dict()
    for lv in doc["levels"]:
        assert lv["cycles"] == lv["served"] * lv["latency"]
    assert doc["levels"][2]["reads"] > doc["levels"][2]["served"]


def test_3c_with_a_prefetching_level_is_refused(capsys, tmp_path):
    from helpers import assert_refused, cli_output
    target = tmp_path / "out.json"
    got = cli_output(capsys, "run", str(prefetching_config(tmp_path)), "--layer", "fc",
                     "--3c", "-o", str(target))
    assert_refused(*got, ["error: levels[1].prefetch: 'tagged' does not combine"], target)


def test_a_bad_prefetch_policy_is_refused(capsys, tmp_path):
    from helpers import assert_refused, cli_output
    cfg = prefetching_config(tmp_path, policy="sometimes")
    target = tmp_path / "out.json"
    code, out, err = cli_output(capsys, "run", str(cfg), "--layer", "fc", "-o", str(target))
    assert code == 2 and "prefetch" in err and "pf.yaml" in err
    assert_refused(code, out, err, [err.strip()], target)


def test_the_table_says_what_the_prefetcher_did(capsys, tmp_path):
    from simcache import api
    cfg = str(prefetching_config(tmp_path))
    pf = api.simulate(cfg, "fc", M=32, N=8).to_dict()["levels"][1]["prefetch"]
    from helpers import cli_output
    code, out, _ = cli_output(capsys, "run", cfg, "--layer", "fc", "-M", "32", "-N", "8")
    assert code == 0
    assert (f"L1 prefetch (tagged, 2 lines ahead): {pf['issued']:,} issued, "
            f"{pf['misses']:,} fetched, {pf['useful']:,} used, {pf['never_used']:,} never used"
            ) in out
