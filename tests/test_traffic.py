"""Measured DRAM traffic against the minimum the metrics imply (docs/model.md §5)."""

from hypothesis import given, settings
from hypothesis import strategies as st
from test_differential import layer_case, level_spec

from helpers import examples, hierarchy
from simcache.accounting import summarize
from simcache.engine import simulate
from simcache.layers import make_layer, metrics
from simcache.loopnest import plan


@settings(max_examples=examples(80), deadline=None)
@given(layer_case(), st.lists(level_spec(), min_size=1, max_size=3))
def test_never_below_the_minimum_at_stride_one(case, specs):
    # every input and weight is read: stride 1, and F >= K unless the padding is stored
    case = dict(case, stride=1)
    if case["padding"] == "skip":
        case["F"] = max(case["F"], case["K"])
    layer = make_layer(**case)
    h = hierarchy(specs)
    s = summarize(simulate(h, layer), h)
    tr = s["totals"]["traffic"]
    assert tr["dram_bytes"] >= tr["min_bytes"] == metrics(layer).min_traffic_bytes


@settings(max_examples=examples(60), deadline=None)
@given(layer_case(), st.sampled_from([16, 32, 64]), st.sampled_from(["lru", "fifo", "random"]))
def test_equal_to_the_minimum_when_the_caches_hold_everything(case, line, policy):
    layer = make_layer(**dict(case, stride=1, padding="skip", F=max(case["F"], case["K"])))
    p = plan(layer)
    footprint = max(t.base + t.nbytes for t in p.tensors)
    big = line * 64
    while big < footprint:
        big *= 2
    specs = [dict(size=line * 4, line=line, ways=2, policy="lru", write_back=True,
                  write_allocate=True),
             dict(size=big, line=line, ways="full", policy=policy, write_back=True,
                  write_allocate=True)]
    h = hierarchy(specs)
    s = summarize(simulate(h, layer), h)
    # a perfect cache moves each tensor once (outputs twice), in whole lines
    lines = {t.name: -(-t.nbytes // line) * line for t in p.tensors}
    moved = sum(lines.values()) + sum(v for k, v in lines.items() if k in ("y", "t"))
    assert s["totals"]["dram_bytes"] == moved
    if all(t.nbytes % line == 0 for t in p.tensors):
        assert s["totals"]["traffic"]["amplification"] == 1.0
