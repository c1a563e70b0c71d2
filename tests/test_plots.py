"""Figures (simcache/plots.py, --plot): each figure's data equal the result document's
numbers, its axes are labelled, and --plot's bad input is one line, exit 2, before any
simulation and with nothing written."""

from __future__ import annotations

import builtins
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from helpers import TINY_NET, cli_output  # noqa: E402
from simcache import api, plots  # noqa: E402

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")
SMALL = {"F": 6, "M": 4, "N": 4}
SMALL_FLAGS = ["-F", "6", "-M", "4", "-N", "4"]



def panels(fig) -> dict:
    return {ax.get_label(): ax for ax in fig.axes if ax.get_visible()}


def bars(ax) -> dict[str, list[float]]:
    """Each bar series of a panel, by its legend label: the bar heights."""
    return {c.get_label(): [float(v) for v in c.datavalues] for c in ax.containers
            if hasattr(c, "datavalues")}


def same(got: list[float], want: list[float | None]) -> bool:
    return len(got) == len(want) and all(
        (w is None and math.isnan(g)) or (w is not None and g == pytest.approx(w, rel=1e-12,
                                                                                 abs=1e-30))
        for g, w in zip(got, want, strict=True))


def labelled(ax, *units: str) -> None:
    assert ax.get_title() and ax.get_ylabel() and ax.get_xlabel()
    for unit in units:
        assert unit in ax.get_ylabel(), (unit, ax.get_ylabel())


def legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.fixture(scope="module")
def run_doc():
    return api.simulate(THESIS, "depthwise", three_c=True, **SMALL).to_dict()


def test_run_figure_plots_the_documents_numbers(run_doc):
    doc = run_doc
    fig = plots.run_figure(doc)
    p = panels(fig)
    assert set(p) == {"hit_rate", "cycles", "energy", "three_c", "roofline"}
    caches = [lv for lv in doc["levels"] if "geometry" in lv]
    names = [lv["name"] for lv in doc["levels"]]

    hit = bars(p["hit_rate"])
    assert list(hit) == ["all", "x (input)", "w (weights)", "y (output)"]
    assert same(hit["all"], [100 * lv["hit_rate"] for lv in caches])
    for t in "xwy":
        rates = [lv["by_tensor"][t]["hit_rate"] for lv in caches]
        assert same(hit[f"{t} " + {"x": "(input)", "w": "(weights)", "y": "(output)"}[t]],
                    [None if r is None else 100 * r for r in rates])
    assert [t.get_text() for t in p["hit_rate"].get_xticklabels()] == [lv["name"]
                                                                       for lv in caches]
    labelled(p["hit_rate"], "%")

    cyc = bars(p["cycles"])
    assert list(cyc) == ["x (input)", "w (weights)", "y (output)", "MACs"]
    for t, label in zip("xwy", list(cyc), strict=False):
        assert same(cyc[label], [lv["by_tensor"][t]["cycles"] for lv in doc["levels"]] + [0])
    assert cyc["MACs"][-1] == doc["totals"]["mac_cycles"]
    assert sum(sum(v) for v in cyc.values()) == doc["totals"]["cycles"]
    assert [t.get_text() for t in p["cycles"].get_xticklabels()] == names + ["MACs"]
    labelled(p["cycles"], "cycles")
    assert legend(p["cycles"]) == list(cyc)[::-1]  # as the stack reads, top first

    en = bars(p["energy"])
    for t, label in zip("xwy", list(en), strict=False):
        assert same(en[label], [lv["by_tensor"][t]["energy_pj"]["low"] * 1e-12
                                for lv in doc["levels"]] + [0])
    total = sum(sum(v) for k, v in en.items() if k != "range up to the\nhigh estimate")
    assert total == pytest.approx(doc["totals"]["energy_pj"]["low"] * 1e-12, rel=1e-12)
    # the whiskers reach each level's high estimate
    (whiskers,) = [c for c in p["energy"].containers if not hasattr(c, "datavalues")]
    tops = [seg[1][1] for seg in whiskers.lines[2][0].get_segments()]
    assert same(tops, [lv["energy_pj"]["high"] * 1e-12 for lv in doc["levels"]]
                + [doc["totals"]["mac_energy_pj"]["high"] * 1e-12])
    labelled(p["energy"], "J")

    ccc = bars(p["three_c"])
    assert list(ccc) == ["compulsory", "capacity", "conflict"]
    for kind in ccc:
        assert same(ccc[kind], [100 * lv["three_c"][kind] / lv["misses"] for lv in caches])
    notes = [a.get_text() for a in p["three_c"].texts]
    assert notes == [f"{lv['misses']:,}\nmisses" for lv in caches]
    labelled(p["three_c"], "%")

    title = fig.get_suptitle()
    assert "depthwise" in title and "thesis" in title and f"{doc['totals']['cycles']:,}" in title


def test_run_figure_without_3c_has_no_3c_panel():
    doc = api.simulate(THESIS, "pointwise", **SMALL).to_dict()
    assert set(panels(plots.run_figure(doc))) == {"hit_rate", "cycles", "energy", "roofline"}


def test_study_figure_lines_against_batch():
    study = api.study(THESIS, ["depthwise", "fc"], [1, 4, 16], jobs=1, **SMALL)
    doc = study.to_dict()
    fig = plots.study_figure(doc)
    p = panels(fig)
    caches = [lv["name"] for lv in doc["runs"][0]["levels"] if "geometry" in lv]
    assert set(p) == {f"hit_rate_{k + 1}" for k in range(len(caches))} | {
        "dram_bytes_per_mac", "roofline"}  # the roofline: tests/test_roofline.py
    for key, ax in p.items():
        if key == "roofline":
            continue
        scale = 100 if key.startswith("hit_rate") else 1
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert list(lines) == ["depthwise", "fc"]
        for layer, ln in lines.items():
            rows = sorted((r for r in doc["rows"] if r["layer"] == layer),
                          key=lambda r: r["batch"])
            assert list(ln.get_xdata()) == [1, 4, 16]
            assert same(list(ln.get_ydata()), [r[key] * scale for r in rows])
        assert ax.get_xscale() == "log"  # 1 to 16 spans a decade
        labelled(ax, "%" if scale == 100 else "per MAC")
        assert ax.get_xlabel() == "batch size B"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["depthwise", "fc"]
    assert "thesis" in fig.get_suptitle()


def test_study_of_one_batch_is_bars_per_layer():
    doc = api.study(THESIS, ["depthwise", "fc"], [2], jobs=1, **SMALL).to_dict()
    ax = panels(plots.study_figure(doc))["dram_bytes_per_mac"]
    (heights,) = bars(ax).values()
    assert same(heights, [r["dram_bytes_per_mac"] for r in doc["rows"]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["depthwise", "fc"]
    assert "B = 2" in ax.get_xlabel()


def test_compare_figure_side_by_side():
    doc = api.compare([THESIS, "server"], "depthwise", jobs=1, **SMALL).to_dict()
    fig = plots.compare_figure(doc)
    p = panels(fig)
    rows = doc["rows"]
    assert set(p) == {"cycles", "energy", "dram_bytes", "hit_rate"}
    assert same(next(iter(bars(p["cycles"]).values())), [r["cycles"] for r in rows])
    assert same(next(iter(bars(p["energy"]).values())),
                [r["energy_pj_low"] * 1e-12 for r in rows])
    assert same(next(iter(bars(p["dram_bytes"]).values())), [r["dram_bytes"] for r in rows])
    (least,) = p["dram_bytes"].collections
    assert same([s[0][1] for s in least.get_segments()],
                [run["totals"]["traffic"]["min_bytes"] for run in doc["runs"]])
    hit = bars(p["hit_rate"])
    assert list(hit) == ["thesis", "server"]
    for r in rows:
        n = sum(k.startswith("hit_rate_") for k in r)
        assert same(hit[r["config"]], [100 * r[f"hit_rate_{k + 1}"] for k in range(n)])
    assert legend(p["hit_rate"]) == ["thesis", "server"]
    ticks = [t.get_text() for t in p["cycles"].get_xticklabels()]
    assert ticks == ["thesis", "server"]
    labelled(p["cycles"], "cycles")
    labelled(p["energy"], "J")
    labelled(p["dram_bytes"], "bytes")
    labelled(p["hit_rate"], "%")
    assert "depthwise" in fig.get_suptitle()


@pytest.mark.parametrize("cold", [True, False])
def test_network_figure_layers_in_order(tmp_path, cold):
    model = tmp_path / "tiny.yaml"
    model.write_text(TINY_NET)
    doc = api.network(THESIS, str(model), jobs=1, cold=cold).to_dict()
    fig = plots.network_figure(doc)
    p = panels(fig)
    assert set(p) == {"cycles", "energy"}
    names = [lv["name"] for lv in doc["runs"][0]["levels"]]
    runs, rows = doc["runs"], list(doc["rows"])
    if cold:
        ticks = ["first_conv", "squeeze", "fc"]
    else:  # every entry, operators included, then the flush
        ticks = [r["name"] for r in doc["rows"]] + ["flush"]
        assert {"relu", "pool"} <= set(ticks)
        runs = runs + [doc["flush_run"]]
        rows.append(doc["flush"])
    for what in ("cycles", "energy"):
        ax = p[what]
        assert [t.get_text() for t in ax.get_xticklabels()] == ticks
        grey = [t.get_text() for t in ax.get_xticklabels() if t.get_color() == "0.45"]
        assert grey == [r["name"] for r in doc["rows"] if r.get("op")]
        got = bars(ax)
        assert list(got) == names + ["MACs"]
        assert legend(ax) == (names + ["MACs"])[::-1]
        for k, name in enumerate(names):
            want = [run["levels"][k]["cycles"] if what == "cycles"
                    else run["levels"][k]["energy_pj"]["low"] * 1e-12 for run in runs]
            assert same(got[name], want)
        tops = [sum(col) for col in zip(*got.values(), strict=True)]
        if what == "cycles":
            assert tops == [r["cycles"] for r in rows]
        else:
            assert same(tops, [r["energy_pj_low"] * 1e-12 for r in rows])
        labelled(ax, "cycles" if what == "cycles" else "J")
    title = fig.get_suptitle()
    assert "tiny" in title and "thesis" in title
    assert ("cold caches" if cold else "warm caches") in title
    assert cold or f"{len(doc['rows'])} entries" in title


def test_figure_chooses_by_document(run_doc):
    assert set(panels(plots.figure(run_doc))) >= {"hit_rate", "cycles"}


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize("suffix,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF"),
                                          ("svg", b"<svg")])
def test_each_format_is_written(capsys, tmp_path, suffix, magic):
    target = tmp_path / f"fig.{suffix}"
    code, out, err = cli_output(capsys, "run", THESIS, "--layer", "depthwise", *SMALL_FLAGS,
                                "--plot", str(target))
    assert code == 0, err
    assert "registers" in out  # the table is still printed
    data = target.read_bytes()
    assert data and (data.startswith(magic) if suffix != "svg" else magic in data[:500])
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left


@pytest.mark.parametrize("command", [
    ["run", THESIS, "--layer", "depthwise,fc", "-B", "1,2", *SMALL_FLAGS],
    ["compare", THESIS, "server", "--layer", "fc", "-M", "8", "-N", "8"],
])
def test_study_and_compare_draw(capsys, tmp_path, command):
    target = tmp_path / "fig.png"
    code, _, err = cli_output(capsys, *command, "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(b"\x89PNG")


def test_network_draws(capsys, tmp_path):
    model = tmp_path / "tiny.yaml"
    model.write_text(TINY_NET)
    target = tmp_path / "net.svg"
    code, _, err = cli_output(capsys, "network", THESIS, str(model), "-j", "1", "--plot",
                              str(target))
    assert code == 0, err
    assert b"<svg" in target.read_bytes()[:500]


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if anything is simulated."""
    def boom(*a, **k):
        raise AssertionError("simulated before --plot was checked")
    for name in ("simulate", "study", "compare", "network", "replay"):
        monkeypatch.setattr(api, name, boom)


def one_error(capsys, *args) -> str:
    code, out, err = cli_output(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --plot: "), err
    assert "Traceback" not in err and out == ""
    return lines[0]


@pytest.mark.parametrize("name", ["fig.jpg", "fig", "fig.png.txt"])
def test_a_format_matplotlib_cannot_write(capsys, tmp_path, no_simulation, name):
    line = one_error(capsys, "run", THESIS, "--layer", "depthwise", "--plot",
                     str(tmp_path / name))
    assert ".png, .svg, .pdf" in line
    assert list(tmp_path.iterdir()) == []


def test_a_directory(capsys, tmp_path, no_simulation):
    line = one_error(capsys, "compare", THESIS, "server", "--layer", "fc", "--plot",
                     str(tmp_path))
    assert "is a directory" in line
    assert list(tmp_path.iterdir()) == []


def test_the_output_file_twice(capsys, tmp_path, no_simulation):
    same_file = str(tmp_path / "r.png")
    line = one_error(capsys, "run", THESIS, "--layer", "fc", "-o", same_file, "--plot",
                     same_file)
    assert "--output" in line
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib(capsys, tmp_path, monkeypatch, no_simulation):
    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    for command in (["run", THESIS, "--layer", "depthwise"],
                    ["network", THESIS, "squeezenet"]):
        line = one_error(capsys, *command, "--plot", str(tmp_path / "fig.png"))
        assert "pip install 'simcache[plot]'" in line
    # `simcache plot` has no --plot flag: its line names the command, not a flag it lacks
    code, out, err = cli_output(capsys, "plot", str(tmp_path / "r.db"), "--x", "batch", "--y",
                                "cycles")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.strip().splitlines() == ["error: simcache plot needs matplotlib, which is not "
                                        "installed: pip install 'simcache[plot]'"]
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch, run_doc):
    from matplotlib.figure import Figure

    def half(self, f, **kw):
        f.write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half)
    target = tmp_path / "fig.png"
    with pytest.raises(plots.SimcacheError) as info:
        plots.plot(run_doc, target)
    assert info.value.problems == [f"--plot: {target}: No space left on device"]
    assert list(tmp_path.iterdir()) == []


def test_replay_draws_a_run_without_macs(capsys, tmp_path):
    target = tmp_path / "trace.png"
    code, _, err = cli_output(capsys, "replay", THESIS, str(ROOT / "traces" / "spatial_f8.din"),
                              "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(b"\x89PNG")
    doc = api.replay(THESIS, str(ROOT / "traces" / "spatial_f8.din")).to_dict()
    fig = plots.figure(doc)
    ax = panels(fig)["cycles"]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [lv["name"] for lv in doc["levels"]]  # a trace has no MACs bar
    assert sum(sum(v) for v in bars(ax).values()) == doc["totals"]["cycles"]
    assert "spatial_f8.din" in fig.get_suptitle() and "MACs" not in fig.get_suptitle()


# ---------------------------------------------------------------- 3C in study, compare, network


def three_c_panels(fig) -> dict:
    return {k.split(":", 1)[1]: ax for k, ax in panels(fig).items() if k.startswith("three_c:")}


def assert_three_c(ax, labels: list[str], counts: list[dict]) -> None:
    """A stacked bar per run: its segments are the run's three_c numbers, in misses."""
    got = bars(ax)
    assert list(got) == ["compulsory", "capacity", "conflict"]
    for kind in got:
        assert got[kind] == [float(c[kind]) for c in counts], kind
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    tops = [sum(col) for col in zip(*got.values(), strict=True)]
    assert [a.get_text() for a in ax.texts] == [plots._count(t) for t in tops]
    assert legend(ax) == ["conflict", "capacity", "compulsory"]  # as the stack reads
    assert ax.get_yscale() == "linear"
    labelled(ax, "misses")


def test_study_figure_stacks_3c_per_level_and_run():
    doc = api.study(THESIS, ["depthwise", "fc"], [1, 4], jobs=1, three_c=True,
                    **SMALL).to_dict()
    fig = plots.study_figure(doc)
    ccc = three_c_panels(fig)
    caches = [lv["name"] for lv in doc["runs"][0]["levels"] if "geometry" in lv]
    assert list(ccc) == caches
    labels = [f"{r['layer']} B={r['batch']}" for r in doc["rows"]]
    for k, name in enumerate(caches):
        counts = [next(lv for lv in run["levels"] if lv["name"] == name)["three_c"]
                  for run in doc["runs"]]
        assert_three_c(ccc[name], labels, counts)
        # the rows' flat columns say the same
        assert [c["conflict"] for c in counts] == [r[f"conflict_{k + 1}"] for r in doc["rows"]]
        assert sum(c["compulsory"] for c in counts) > 0
    assert "three_c" not in " ".join(panels(plots.study_figure(
        api.study(THESIS, ["fc"], [1, 2], jobs=1, M=4, N=4).to_dict())))


def test_compare_figure_stacks_3c_per_level_name():
    doc = api.compare([THESIS, "server"], "depthwise", jobs=1, three_c=True, **SMALL).to_dict()
    ccc = three_c_panels(plots.compare_figure(doc))
    names = []
    for run in doc["runs"]:
        names += [lv["name"] for lv in run["levels"] if "three_c" in lv and lv["name"] not in names]
    assert list(ccc) == names and "registers" in names and "L1D" in names
    for name in names:
        have = [(r["config"], lv["three_c"]) for r, run in zip(doc["rows"], doc["runs"],
                                                               strict=True)
                for lv in run["levels"] if lv["name"] == name]
        assert_three_c(ccc[name], [c for c, _ in have], [t for _, t in have])
    assert len(bars(ccc["L1"])["conflict"]) == 1  # the server calls its L1 "L1D"


def test_network_figure_stacks_3c_per_level_and_layer(tmp_path):
    model = tmp_path / "tiny.yaml"
    model.write_text(TINY_NET)
    doc = api.network(THESIS, str(model), jobs=1, three_c=True, cold=True).to_dict()
    ccc = three_c_panels(plots.network_figure(doc))
    caches = [lv["name"] for lv in doc["runs"][0]["levels"] if "geometry" in lv]
    assert list(ccc) == caches
    for name in caches:
        counts = [next(lv for lv in run["levels"] if lv["name"] == name)["three_c"]
                  for run in doc["runs"]]
        assert_three_c(ccc[name], ["first_conv", "squeeze", "fc"], counts)


def test_study_title_shows_each_types_own_dimensions():
    doc = api.study(THESIS, ["spatial", "pointwise", "fc", "depthwise"], [1, 2], jobs=1,
                    F=6, M=4, N=8).to_dict()
    head, own = plots.study_figure(doc).get_suptitle().split("\n")
    assert head.startswith("spatial, pointwise, fc, depthwise on thesis: M=4 ")
    parts = dict(p.split(" ", 1) for p in own.split(" · "))
    for run in doc["runs"]:
        lay = run["layer"]
        words = head.split(": ", 1)[1].split() + parts.get(lay["type"], "").split()
        for d in ("M", "N", "F", "K"):
            assert f"{d}={lay[d]}" in words, (lay["type"], d, words)
            assert sum(w.startswith(f"{d}=") for w in words) == 1
        assert f"order={lay['order']}" in words
    assert "F=1" in parts["fc"] and "K=1" in parts["fc"] and "N=4" in parts["depthwise"]
    assert "F=6" not in parts["fc"] and "F=6" in parts["spatial"]


def test_a_png_carries_its_plotted_numbers(tmp_path, run_doc):
    target = tmp_path / "fig.png"
    fig = plots.plot(run_doc, target)
    data = plots.read_figure_data(target)
    assert data == json.loads(json.dumps(plots.figure_data(fig)))
    assert data["title"] == fig.get_suptitle()
    caches = [lv for lv in run_doc["levels"] if "geometry" in lv]
    ccc = data["panels"]["three_c"]
    assert ccc["xticks"] == [lv["name"] for lv in caches]
    assert ccc["bars"]["conflict"] == [100 * lv["three_c"]["conflict"] / lv["misses"]
                                       for lv in caches]
    assert data["panels"]["cycles"]["ylabel"] == "cycles (in-order, blocking)"
    svg = tmp_path / "fig.svg"
    plots.plot(run_doc, svg)  # other formats carry nothing
    assert plots.DATA_KEY.encode() not in svg.read_bytes()


def test_trend_lines_scales_and_references():
    plt = plots._matplotlib()
    fig, (ax,) = plots.panels_figure(1, 1, 5.0, 3.0)
    plots.trend_lines(ax, [("a", [1, 4, 16], [10, 100, 1000]), ("b", [1, 4, 16], [5, None, 7])],
                      "size", refs=[("limit", 50)])
    got = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.get_lines()}
    assert got["a"] == ([1, 4, 16], [10, 100, 1000])
    assert got["b"][0] == [1, 4, 16] and math.isnan(got["b"][1][1])
    assert got["limit"][1] == [50, 50]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "16"]
    plt.close(fig)
