"""`compare CONFIG... --network MODEL` (api.compare_network): every layer of a network on
several configs. Each config's per-layer figures equal `api.network` run alone on that
config, totals are the sums, ratios are to the first config; bad input is refused in one
line per problem; the figure's data are the rows' numbers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from helpers import TINY_NET, assert_refused, cli_output
from simcache import api
from simcache.errors import SimcacheError

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")
CONFIGS = [THESIS, "server"]

LAYERS = ["first_conv", "squeeze", "fc"]
COMPARED = ("accesses", "cycles", "cycles_share", "energy_pj_low", "energy_pj_high",
            "energy_share", "dram_bytes", "min_dram_bytes", "amplification")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    p = tmp_path_factory.mktemp("model") / "tiny.yaml"
    p.write_text(TINY_NET)
    return str(p)


@pytest.fixture(scope="module")
def result(model):
    return api.compare_network(CONFIGS, model, batch=2, jobs=1, cold=True)


@pytest.fixture(scope="module")
def alone(model):
    return [api.network(c, model, batch=2, jobs=1, cold=True) for c in CONFIGS]


def test_warm_by_default_each_config_equals_its_warm_inference(model):
    """Without cold, each config runs one inference with warm caches, as `network` does:
    its entries (operators too), then the flush, and the totals of one inference."""
    warm = api.compare_network(CONFIGS, model, batch=2, jobs=1)
    assert warm.warm and warm.to_dict()["warm"] is True
    for c, cfg in enumerate(CONFIGS):
        net = api.network(cfg, model, batch=2, jobs=1)
        want = net.rows + [net.flush]
        assert [r["name"] for r in warm.rows] == [r["name"] for r in want]
        for row, w in zip(warm.rows, want, strict=True):
            got = row["configs"][c]
            for k in ("cycles", "energy_pj_low", "energy_pj_high", "dram_bytes"):
                assert got[k] == w[k], (row["name"], k)
        t = warm.totals[c]
        assert t["cycles"] == net.totals["cycles"]
        assert t["dram_bytes"] == net.totals["dram_bytes"]
        assert t["energy_pj_high"] == pytest.approx(net.totals["energy_pj"]["high"])
        assert t.get("time") == net.totals.get("time")
    assert "time" not in warm.totals[0] and warm.totals[1]["time"]["blocking_us"] > 0


def test_each_config_equals_its_network_run_alone(result, alone):
    assert [r["name"] for r in result.rows] == LAYERS
    assert [c["name"] for c in result.configs] == ["thesis", "server"]
    for c, net in enumerate(alone):
        for row, want in zip(result.rows, net.rows, strict=True):
            got = row["configs"][c]
            assert got["config"] == net.runs[0].config
            for k in COMPARED:
                assert got[k] == want[k], (row["name"], k)
            for k in ("name", "type", "M", "N", "F", "K", "stride", "F_out", "batch", "macs"):
                assert row[k] == want[k]
        # the full documents too, apart from the time each run took
        for got, want in zip(result.runs[c], net.runs, strict=True):
            a, b = dict(got.to_dict()), dict(want.to_dict())
            a.pop("seconds"), b.pop("seconds")
            assert a == b


def test_totals_are_sums_and_ratios_are_to_the_first(result, alone):
    first = result.totals[0]
    for c, t in enumerate(result.totals):
        net = alone[c]
        assert t["config"] == ["thesis", "server"][c]
        assert t["name"] == "total" and t["batch"] == 2
        assert t["cycles"] == sum(r["configs"][c]["cycles"] for r in result.rows)
        assert t["cycles"] == net.totals["cycles"]
        assert t["energy_pj_low"] == pytest.approx(net.totals["energy_pj"]["low"], rel=1e-12)
        assert t["energy_pj_high"] == pytest.approx(
            sum(r["configs"][c]["energy_pj_high"] for r in result.rows), rel=1e-12)
        assert t["dram_bytes"] == sum(r["configs"][c]["dram_bytes"] for r in result.rows)
        assert t["macs"] == sum(r["macs"] for r in result.rows)
        assert t["cycles_ratio"] == pytest.approx(t["cycles"] / first["cycles"])
        assert t["energy_ratio_low"] == pytest.approx(t["energy_pj_low"] / first["energy_pj_low"])
        assert t["dram_ratio"] == pytest.approx(t["dram_bytes"] / first["dram_bytes"])
    for r in result.rows:
        base = r["configs"][0]
        assert base["cycles_ratio"] == 1.0
        for e in r["configs"]:
            assert e["cycles_ratio"] == pytest.approx(e["cycles"] / base["cycles"])
            assert e["energy_ratio_high"] == pytest.approx(e["energy_pj_high"]
                                                           / base["energy_pj_high"])
            assert e["dram_ratio"] == pytest.approx(e["dram_bytes"] / base["dram_bytes"])
    # the configs differ, so a ratio of 1 everywhere would be a bug
    assert result.totals[1]["cycles_ratio"] != 1.0


def test_document_nests_the_runs(result, model):
    doc = result.to_dict()
    assert set(doc) == {"simcache", "network", "options", "warm", "configs", "rows",
                        "totals", "skipped", "runs"}
    assert doc["warm"] is False
    assert doc["network"]["path"] == model
    assert doc["options"] == {"batch": 2, "padding": "skip", "order": "bijnmpq",
                              "dtype_bytes": 4}
    assert [len(r) for r in doc["runs"]] == [3, 3]
    assert [run["config"]["name"] for r in doc["runs"] for run in r] == ["thesis"] * 3 + \
        ["server"] * 3
    assert [x["name"] for x in doc["skipped"]] == ["relu", "pool"]
    json.dumps(doc)


def test_compare_with_network_is_compare_network(result, model):
    same = api.compare(CONFIGS, network=model, batch=2, jobs=1, cold=True)
    assert isinstance(same, api.NetworkCompareResult)
    assert [[e["cycles"] for e in r["configs"]] for r in same.rows] == \
        [[e["cycles"] for e in r["configs"]] for r in result.rows]


def test_all_runs_share_one_pool(monkeypatch, model):
    calls = []
    real = api._run

    def spy(jobs, *a, **k):
        calls.append(len(jobs))
        return real(jobs, *a, **k)

    monkeypatch.setattr(api, "_run", spy)
    api.compare_network([THESIS, "server", "mobile_soc"], model, jobs=1, cold=True)
    assert calls == [3 * 3]


@pytest.mark.parametrize("kw,expect", [
    ({"layer": "fc"}, ["layer: a network gives"]),
    ({"F": 8, "M": 4}, ["F: a network gives", "M: a network gives"]),
    ({"preset": "early"}, ["preset: a network gives"]),
])
def test_api_refuses_layer_dimensions_with_a_network(model, kw, expect):
    with pytest.raises(SimcacheError) as info:
        api.compare(CONFIGS, network=model, **kw)
    assert [p[:len(e)] for p, e in zip(info.value.problems, expect, strict=True)] == expect


def test_api_refuses_one_config_and_bad_jobs_together(model):
    with pytest.raises(SimcacheError) as info:
        api.compare_network([THESIS], model, jobs=0)
    assert info.value.problems == ["CONFIG: compare needs two or more configs",
                                   "--jobs: must be a whole number of at least 1, got 0"]


# ---------------------------------------------------------------- the command line


def test_table_has_a_row_per_layer_and_a_total(capsys, model):
    code, out, err = cli_output(capsys, "compare", THESIS, "server", "--network", model, "--cold",
                                "-B", "2", "-j", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert "tiny on thesis, server" in lines[0] and "B=2" in lines[0]
    assert "thesis" in lines[1] + lines[2] and "server" in lines[1] + lines[2]
    body = [ln.split()[0] for ln in lines[3:7]]
    assert body == LAYERS + ["total"]
    assert "ratios (×) are to thesis" in out


def test_csv_has_a_row_per_layer_and_config(capsys, model, result, tmp_path):
    target = tmp_path / "out.csv"
    code, out, err = cli_output(capsys, "compare", THESIS, "server", "--network", model, "--cold",
                                "-B", "2", "-j", "1", "-o", str(target))
    assert code == 0 and out == "", err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [(r["name"], r["config"]) for r in rows] == [
        (n, c) for n in LAYERS + ["total"] for c in ("thesis", "server")][:6] + [
        ("total", "thesis"), ("total", "server")]
    for r in rows[:6]:
        layer = next(x for x in result.rows if x["name"] == r["name"])
        want = next(e for e in layer["configs"] if e["config"] == r["config"])
        assert int(r["cycles"]) == want["cycles"] and int(r["dram_bytes"]) == want["dram_bytes"]
        assert float(r["energy_pj_high"]) == pytest.approx(want["energy_pj_high"])
        assert int(r["macs"]) == layer["macs"]
    for r, t in zip(rows[6:], result.totals, strict=True):
        assert int(r["cycles"]) == t["cycles"] and float(r["cycles_ratio"]) == t["cycles_ratio"]


def test_json_is_the_document(capsys, model, result):
    code, out, err = cli_output(capsys, "compare", THESIS, "server", "--network", model, "--cold",
                                "-B", "2", "-j", "1", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["rows"] == result.rows and doc["totals"] == result.totals


@pytest.mark.parametrize("flags,expect", [
    (["--layer", "fc", "--network", "M"], ["error: --layer/--network: give a layer type or a "
                                           "network, not both"]),
    ([], ["error: --layer/--network: give a layer type or a network, not neither"]),
    (["--network", "M", "-F", "8"], ["error: -F: a network gives every layer's dimensions"]),
    (["--network", "M", "--stride", "2", "--tile", "n=2"],
     ["error: --tile: a network gives", "error: --stride: a network gives"]),
    (["--network", "M", "--preset", "late"], ["error: --preset: a network gives"]),
])
def test_cli_refuses(capsys, tmp_path, model, flags, expect):
    target = tmp_path / "out.json"
    flags = [model if f == "M" else f for f in flags]
    code, out, err = cli_output(capsys, "compare", THESIS, "server", *flags, "-o", str(target))
    assert_refused(code, out, err, expect, target)


def test_cli_refuses_a_bad_model_and_a_missing_config_together(capsys, tmp_path):
    target = tmp_path / "out.csv"
    code, out, err = cli_output(capsys, "compare", THESIS, str(tmp_path / "nope.yaml"),
                                "--network", str(tmp_path / "none.yaml"), "-o", str(target))
    assert code == 2 and len(err.strip().splitlines()) == 2, err
    assert "nope.yaml" in err and "none.yaml" in err and not target.exists()


# ---------------------------------------------------------------- the figure


def test_figure_plots_the_rows(result):
    pytest.importorskip("matplotlib")
    from simcache import plots

    doc = result.to_dict()
    fig = plots.figure(doc)
    p = {ax.get_label(): ax for ax in fig.axes}
    assert set(p) == {"cycles", "energy", "dram_bytes", "total_cycles", "total_energy",
                      "total_dram_bytes"}
    scale = {"cycles": ("cycles", 1.0), "energy": ("energy_pj_high", 1e-12),
             "dram_bytes": ("dram_bytes", 1.0)}
    for key, (field, k) in scale.items():
        ax = p[key]
        series = {c.get_label(): [float(v) for v in c.datavalues] for c in ax.containers}
        assert list(series) == ["thesis", "server"]
        for c, name in enumerate(series):
            assert series[name] == pytest.approx([r["configs"][c][field] * k for r in doc["rows"]],
                                                 rel=1e-12)
        assert [t.get_text() for t in ax.get_xticklabels()] == LAYERS
        assert ax.get_ylabel() and ax.get_xlabel() and ax.get_title()
        assert [t.get_text() for t in p[f"total_{key}"].get_xticklabels()] == ["thesis",
                                                                               "server"]
        (totals,) = p[f"total_{key}"].containers
        assert [float(v) for v in totals.datavalues] == pytest.approx(
            [t[field] * k for t in doc["totals"]], rel=1e-12)
        notes = [a.get_text() for a in p[f"total_{key}"].texts]
        ratio = {"cycles": "cycles_ratio", "energy": "energy_ratio_high",
                 "dram_bytes": "dram_ratio"}[key]
        assert notes == [f"×{t[ratio]:.2f}" for t in doc["totals"]]
    assert "J" in p["energy"].get_ylabel() and "bytes" in p["dram_bytes"].get_ylabel()
    assert p["cycles"].get_yscale() == "log"  # conv and fc differ by ~100x
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["thesis", "server"]
    title = fig.get_suptitle()
    assert "tiny" in title and "B=2" in title and "thesis" in title


# a network of 27 entries warm (12 blocks of a 1x1 convolution and a relu, a pooling, an
# fc layer, the flush): more than plots.MAX_ENTRY_BARS, so its figure sums them by kind
DEEP_NET = """\
name: deep
source: test
input: {channels: 4, size: 8}
layers:
""" + "".join(f"  - {{name: pw{k}, type: pointwise, M: 4, N: 4, F: 8}}\n"
              f"  - {{name: relu{k}, type: relu}}\n" for k in range(12)) + """\
  - {name: pool, type: globalavgpool}
  - {name: fc, type: fc, M: 4, N: 10}
"""


def test_a_large_network_is_drawn_by_kind_and_fits_a_page(tmp_path):
    """More entries than plots.MAX_ENTRY_BARS: a group of bars per kind of entry (layer
    type, operator type, the flush), in order of first appearance, each bar the sum of the
    config's figures over the kind's entries, summed here from the rows; the PNG is at
    most 2000 px wide."""
    pytest.importorskip("matplotlib")
    from PIL import Image

    from simcache import plots

    model = tmp_path / "deep.yaml"
    model.write_text(DEEP_NET)
    doc = api.compare_network(CONFIGS, str(model), jobs=1).to_dict()
    rows = doc["rows"]
    assert len(rows) == 27 > plots.MAX_ENTRY_BARS
    kinds: dict[tuple, list[dict]] = {}
    for r in rows:
        kinds.setdefault((r["type"], bool(r.get("op"))), []).append(r)
    assert [(t, len(v)) for (t, _), v in kinds.items()] == [
        ("pointwise", 12), ("relu", 12), ("globalavgpool", 1), ("fc", 1), ("flush", 1)]
    fig = plots.plot(doc, tmp_path / "deep.png")
    p = {ax.get_label(): ax for ax in fig.axes}
    for key, field, k in (("cycles", "cycles", 1.0), ("energy", "energy_pj_high", 1e-12),
                          ("dram_bytes", "dram_bytes", 1.0)):
        ax = p[key]
        assert [t.get_text() for t in ax.get_xticklabels()] == [
            "pointwise\n12 layers", "relu\n12 ops", "globalavgpool\n1 op", "fc\n1 layer",
            "flush"]
        series = {c.get_label(): [float(v) for v in c.datavalues] for c in ax.containers}
        assert list(series) == ["thesis", "server"]
        for c, name in enumerate(series):
            want = [sum(r["configs"][c][field] for r in group) * k for group in kinds.values()]
            assert series[name] == pytest.approx(want, rel=1e-12), (key, name)
        zeros = sum(v == 0 for vs in series.values() for v in vs)
        notes = [a.get_text() for a in ax.texts]
        assert notes == (["0"] * zeros if ax.get_yscale() == "log" else [])
        assert "kind of entry" in ax.get_title() and "sum" in ax.get_xlabel()
    with Image.open(tmp_path / "deep.png") as img:
        assert img.size[0] <= 2000, img.size
    assert plots.read_figure_data(tmp_path / "deep.png")["panels"]["cycles"]["bars"] == {
        name: pytest.approx(v) for name, v in
        {c.get_label(): [float(x) for x in c.datavalues]
         for c in p["cycles"].containers}.items()}


def test_figure_title_says_warm_or_cold(result, model):
    """A warm comparison's figure says so: its rows are one inference's entries (operators
    and the flush too), not layers each run with cold caches."""
    pytest.importorskip("matplotlib")
    from simcache import plots

    cold = plots.figure(result.to_dict()).get_suptitle()
    assert f"{len(result.rows)} layers, each with cold caches" in cold
    warm = api.compare_network(CONFIGS, model, batch=2, jobs=1)
    title = plots.figure(warm.to_dict()).get_suptitle()
    assert f"{len(warm.rows)} entries, one inference with warm caches" in title
    assert "cold" not in title


def test_cli_draws(capsys, tmp_path, model):
    pytest.importorskip("matplotlib")
    target = tmp_path / "cmp.png"
    code, _, err = cli_output(capsys, "compare", THESIS, "server", "--network", model, "--cold",
                              "-j", "1", "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(b"\x89PNG")
