"""The roofline (accounting.roofline, plots: the run and study panel, `metrics --plot`):
the roofs are the config's numbers (peak = 1 / mac_cycles; the DRAM bandwidth the config's
when it gives one, else an assumption that says so), and every plotted point is the
result's numbers: measured intensity MACs / DRAM bytes, Eq. 2.4 intensity per byte, and
measured performance MACs / cycles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import assert_refused, cli_output, hierarchy
from simcache import api
from simcache.accounting import metrics_row, roofline
from simcache.layers import build_layer

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")
SMALL = {"F": 6, "M": 4, "N": 4}
SPECS = [dict(size=256, line=16, ways=2, policy="lru", write_back=True, write_allocate=True)]


# ---------------------------------------------------------------- the roofs


def test_peak_is_the_configs_mac_rate_and_bandwidth_an_assumption():
    h = hierarchy(SPECS).model_copy(update={"mac_cycles": 4})
    roof = roofline(h, h.geometry(4))
    assert roof["peak_macs_per_cycle"] == 0.25
    assert roof["peak_source"] == "config: mac_cycles = 4 (no macs_per_cycle)"
    # one 16-byte line per 100-cycle memory access
    assert roof["bandwidth_bytes_per_cycle"] == 16 / 100
    assert roof["bandwidth_assumed"] is True
    assert roof["bandwidth_source"].startswith("assumption")
    assert "16-byte line per 100-cycle" in roof["bandwidth_source"]
    assert roof["ridge_intensity"] == pytest.approx(0.25 / 0.16)


def test_without_caches_the_assumption_moves_an_element():
    h = hierarchy([])
    assert roofline(h, h.geometry(2), 2)["bandwidth_bytes_per_cycle"] == 2 / 100


def test_a_bandwidth_and_peak_the_config_gives_are_used():
    """A memory with a bandwidth is not assumed; macs_per_cycle is the peak."""
    data = hierarchy(SPECS).model_dump()
    data["memory"].update(name="HBM", bandwidth="8 B/cycle")
    data["macs_per_cycle"] = 2
    h = type(hierarchy(SPECS)).model_validate(data)
    roof = roofline(h, h.geometry(4))
    assert roof["bandwidth_bytes_per_cycle"] == 8.0 and roof["bandwidth_assumed"] is False
    assert roof["memory"] == "HBM"
    assert roof["bandwidth_source"].startswith("config:")
    assert roof["peak_macs_per_cycle"] == 2.0
    assert roof["peak_source"] == "config: macs_per_cycle = 2"


def test_every_run_document_carries_its_roofs():
    doc = api.simulate(THESIS, "depthwise", **SMALL).to_dict()
    assert doc["roofline"] == api.roofline(THESIS)["roofline"]
    assert doc["roofline"]["bandwidth_bytes_per_cycle"] == 64 / 200  # thesis: 64 B, 200 cycles


# ---------------------------------------------------------------- figures

def _plots():
    pytest.importorskip("matplotlib")
    from simcache import plots
    return plots


def panel(fig):
    (ax,) = [ax for ax in fig.axes if ax.get_label() == "roofline"]
    return ax


def points(ax, gid: str) -> list[tuple[float, float]]:
    """The (x, y) of the markers with this gid: a Line2D or a scatter."""
    for ln in ax.get_lines():
        if ln.get_gid() == gid:
            return list(zip(ln.get_xdata(), ln.get_ydata(), strict=True))
    for c in ax.collections:
        if c.get_gid() == gid:
            return [tuple(p) for p in c.get_offsets()]
    raise AssertionError(f"no {gid} in the panel")


def check_roofs(ax, roof: dict) -> None:
    (bw,) = [ln for ln in ax.get_lines() if ln.get_gid() == "roof_bandwidth"]
    (peak,) = [ln for ln in ax.get_lines() if ln.get_gid() == "roof_peak"]
    assert all(y == roof["peak_macs_per_cycle"] for y in peak.get_ydata())
    for x, y in zip(bw.get_xdata(), bw.get_ydata(), strict=True):
        assert y == pytest.approx(x * roof["bandwidth_bytes_per_cycle"], rel=1e-12)
    # they meet at the ridge
    assert bw.get_xdata()[-1] == pytest.approx(roof["ridge_intensity"])
    assert peak.get_xdata()[0] == pytest.approx(roof["ridge_intensity"])
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "MACs per DRAM byte" in ax.get_xlabel() or "MACs per byte" in ax.get_xlabel()
    assert "MACs per cycle" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    shown = f"{roof['memory']} {roof['bandwidth_bytes_per_cycle']:.3g} B/cycle"
    assert any(t.startswith(shown) for t in labels)
    if roof["bandwidth_assumed"]:
        assert bw.get_linestyle() == "--"
        assert any("(assumed)" in t for t in labels)
        assert any(f"assumed {roof['memory']} bandwidth" in t.get_text() for t in ax.texts)


def test_run_panel_plots_the_runs_numbers():
    plots = _plots()
    doc = api.simulate(THESIS, "pointwise", **SMALL).to_dict()
    ax = panel(plots.run_figure(doc))
    t = doc["totals"]
    perf = t["macs"] / t["cycles"]
    eq24 = metrics_row(build_layer("pointwise", **SMALL))["intensity_per_byte"]
    assert points(ax, "measured:pointwise") == [pytest.approx((t["macs"] / t["dram_bytes"],
                                                                perf))]
    assert points(ax, "eq24:pointwise") == [pytest.approx((eq24, perf))]
    assert t["traffic"]["intensity_eq24"] == pytest.approx(eq24)
    check_roofs(ax, doc["roofline"])
    assert ax.get_title()


def test_study_panel_has_every_layer_and_batch():
    plots = _plots()
    doc = api.study(THESIS, ["depthwise", "fc"], [1, 4], jobs=1, **SMALL).to_dict()
    ax = panel(plots.study_figure(doc))
    for layer in ("depthwise", "fc"):
        runs = [r for r in doc["runs"] if r["layer"]["type"] == layer]
        assert [r["layer"]["B"] for r in runs] == [1, 4]
        want_m = [(r["totals"]["traffic"]["intensity"], r["totals"]["macs"] / r["totals"]["cycles"])
                  for r in runs]
        want_e = [(r["totals"]["traffic"]["intensity_eq24"],
                   r["totals"]["macs"] / r["totals"]["cycles"]) for r in runs]
        assert points(ax, f"measured:{layer}") == [pytest.approx(p) for p in want_m]
        assert points(ax, f"eq24:{layer}") == [pytest.approx(p) for p in want_e]
    check_roofs(ax, doc["runs"][0]["roofline"])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "B = 1" in labels and "B = 4" in labels


def test_a_trace_has_no_roofline():
    plots = _plots()
    doc = api.replay(THESIS, str(ROOT / "traces" / "spatial_f8.din")).to_dict()
    assert "roofline" not in {ax.get_label() for ax in plots.figure(doc).axes}


# ---------------------------------------------------------------- metrics --plot


def test_metrics_plot_puts_each_layer_on_the_roof(capsys, tmp_path):
    plots = _plots()
    target = tmp_path / "fc1.png"
    out_json = tmp_path / "m.json"
    code, out, err = cli_output(capsys, "metrics", "--layer", "fc", "--preset", "vgg16-fc1",
                                "-B", "1,16,256", "--config", "mobile_soc", "--plot",
                                str(target), "-o", str(out_json))
    assert code == 0, err
    assert target.read_bytes().startswith(b"\x89PNG")
    doc = json.loads(out_json.read_text())
    assert doc["config"]["name"] == "mobile_soc"
    roof = doc["roofline"]
    assert roof == api.roofline("mobile_soc")["roofline"]
    # mobile_soc: LPDDR4X at 34.1 GB/s and a 2.84 GHz clock
    assert roof["bandwidth_bytes_per_cycle"] == pytest.approx(34.1 / 2.84)
    assert roof["bandwidth_assumed"] is False
    fig = plots.figure(doc)
    ax = panel(fig)
    peak, bw = roof["peak_macs_per_cycle"], roof["bandwidth_bytes_per_cycle"]
    xs = [r["intensity_per_byte"] for r in doc["rows"]]
    assert points(ax, "eq24:fc vgg16-fc1") == [pytest.approx((x, min(peak, x * bw)))
                                               for x in xs]
    check_roofs(ax, roof)
    assert "mobile_soc" in fig.get_suptitle()


def test_metrics_plot_defaults_to_thesis(capsys, tmp_path):
    _plots()
    target = tmp_path / "t22.svg"
    code, out, err = cli_output(capsys, "metrics", "--all", "-f", "json", "--plot", str(target))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["config"]["name"] == "thesis" and b"<svg" in target.read_bytes()[:500]


def test_metrics_without_plot_or_config_is_as_before(capsys):
    code, out, _ = cli_output(capsys, "metrics", "--layer", "fc", "-f", "json")
    assert code == 0 and set(json.loads(out)) == {"simcache", "rows"}


@pytest.mark.parametrize("args,expect", [
    (["--config", "nope"], ["error: --config: 'nope' is neither a file nor a shipped config"]),
    (["--plot", "fig.jpg"], ["error: --plot: "]),
    (["--all", "-M", "3", "--config", "nope"], ["error: -M: --all prints",
                                                 "error: --config: "]),
])
def test_metrics_refuses(capsys, tmp_path, args, expect):
    _plots()
    target = tmp_path / "m.json"
    args = [str(tmp_path / a) if a.endswith(".jpg") else a for a in args]
    code, out, err = cli_output(capsys, "metrics", *args, "-o", str(target))
    assert_refused(code, out, err, expect, target)
    assert list(tmp_path.iterdir()) == []


def test_a_given_bandwidth_is_drawn_solid_and_not_called_assumed():
    plots = _plots()
    doc = api.simulate(THESIS, "pointwise", **SMALL).to_dict()
    doc["roofline"] = {**doc["roofline"], "bandwidth_bytes_per_cycle": 4.0,
                       "bandwidth_assumed": False, "ridge_intensity": 0.25,
                       "bandwidth_source": "config: DRAM bandwidth = 4 B/cycle"}
    ax = panel(plots.run_figure(doc))
    check_roofs(ax, doc["roofline"])
    (bw,) = [ln for ln in ax.get_lines() if ln.get_gid() == "roof_bandwidth"]
    assert bw.get_linestyle() == "-"
    assert not any("assumed" in t.get_text() for t in ax.texts)
    assert not any("assumed" in t.get_text() for t in ax.get_legend().get_texts())
