"""The two timing models (docs/model.md §4, "Time and bandwidth"): the blocking model's
cycles at the clock, and the overlapped estimate, bound by compute or a level's bytes over
its bandwidth; computed from the counts, never changing them."""

from __future__ import annotations

import pytest

from simcache import api
from simcache.accounting import _level_bytes

SMALL = dict(F=12, M=8)


def test_time_follows_the_counts_and_the_config():
    r = api.simulate("mobile_soc", "pointwise", **SMALL).to_dict()
    h, _ = api.load_config("mobile_soc")
    t = r["totals"]["time"]
    assert t["clock_ghz"] == h.clock and t["macs_per_cycle"] == h.macs_per_cycle
    assert t["blocking_us"] == pytest.approx(r["totals"]["cycles"] / (h.clock * 1e3))
    widths = h.bandwidths()
    want = {"compute": r["totals"]["macs"] / h.macs_per_cycle}
    for lv, w in zip(r["levels"], widths, strict=True):
        if w is not None:
            want[lv["name"]] = _level_bytes(lv) / w
    if h.memory.dram is not None:  # docs/model.md, "DRAM": its banks and bus, a bound too
        want[f"{h.memory.name} (DRAM)"] = r["totals"]["dram"]["bound_cycles"]
    ov = t["overlapped"]
    assert ov["bounds_cycles"] == pytest.approx(want)
    assert ov["bound"] == max(want, key=want.get)
    assert ov["cycles"] == pytest.approx(max(want.values()))
    assert ov["us"] == pytest.approx(ov["cycles"] / (h.clock * 1e3))
    assert ov["complete"] is (None not in widths)
    # the level's bytes are what reached it, run and flush
    lv = r["levels"][-1]
    assert _level_bytes(lv) == r["totals"]["dram_bytes"]


def test_no_clock_no_time():
    r = api.simulate("thesis", "pointwise", **SMALL).to_dict()
    assert "time" not in r["totals"]


def test_a_slow_memory_binds(tmp_path):
    h, _ = api.load_config("mobile_soc")
    data = h.model_dump()
    data["memory"]["bandwidth"] = "0.01 B/cycle"
    slow = type(h).model_validate(data)
    r = api.simulate(slow, "depthwise", **SMALL).to_dict()
    fast = api.simulate(h, "depthwise", **SMALL).to_dict()
    ov = r["totals"]["time"]["overlapped"]
    assert ov["bound"] == h.memory.name
    assert ov["cycles"] == pytest.approx(r["totals"]["dram_bytes"] / 0.01)
    # the counts and the blocking cycles do not change with a bandwidth
    assert r["totals"]["cycles"] == fast["totals"]["cycles"]
    assert [lv["misses"] for lv in r["levels"]] == [lv["misses"] for lv in fast["levels"]]


def test_the_report_names_the_bound(capsys):
    from helpers import cli_output

    code, out, _ = cli_output(capsys, "run", "mobile_soc", "--layer", "depthwise", "-F", "12",
                              "-M", "8")
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("time (overlapped"))
    assert "bound by" in line and "compute" in line
    assert any(x.startswith("time (blocking") and "2.84 GHz" in x for x in out.splitlines())
