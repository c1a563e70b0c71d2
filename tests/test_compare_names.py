"""What a new user met comparing configs: a copy of a shipped config is renamed and says
where it came from; two configs of one name are told apart in every table, document and
figure; a comparison shows time when the configs give a clock; and the energy ratio
follows one rule (the high ends) in the table and the figure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from helpers import cli_output
from simcache import api
from simcache.accounting import config_labels
from simcache.config import ConfigError, load_hierarchy
from simcache.report import ENERGY_RATIO

ROOT = Path(__file__).parent.parent
SMALL = {"F": 6, "M": 4, "N": 4}
SMALL_FLAGS = ["-F", "6", "-M", "4", "-N", "4"]


def copy(capsys, tmp_path: Path, target: str) -> Path:
    code, out, err = cli_output(capsys, "configs", "mobile_soc", "--copy", target)
    assert code == 0 and out == "", err
    return Path(target) if not Path(target).is_dir() else Path(target) / "mobile_soc.yaml"


# ---------------------------------------------------------------- --copy


def test_a_copy_is_named_after_its_file_and_says_where_it_came_from(capsys, tmp_path):
    path = copy(capsys, tmp_path, str(tmp_path / "my_soc.yaml"))
    original = (ROOT / "configs" / "mobile_soc.yaml").read_text(encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["name"] == "my_soc" and data["copied_from"] == "mobile_soc"
    # only the name line changed, and copied_from came after it: comments, sources, figures
    # stay as they were
    removed = [ln for ln in original.splitlines() if ln not in text.splitlines()]
    added = [ln for ln in text.splitlines() if ln not in original.splitlines()]
    assert removed == ["name: mobile_soc"] and added == ["name: my_soc",
                                                         "copied_from: mobile_soc"]
    h = load_hierarchy(path)
    assert (h.name, h.copied_from) == ("my_soc", "mobile_soc")
    assert h.levels == load_hierarchy(ROOT / "configs" / "mobile_soc.yaml").levels
    doc = api.simulate(path, "depthwise", **SMALL).to_dict()
    assert doc["config"]["copied_from"] == "mobile_soc"


def test_a_file_name_that_is_not_a_plain_word_is_quoted(capsys, tmp_path):
    path = copy(capsys, tmp_path, str(tmp_path / "null.yaml"))
    assert load_hierarchy(path).name == "null"  # a plain `name: null` would be no name


def test_a_model_is_copied_as_it_is(capsys, tmp_path):
    code, _, err = cli_output(capsys, "configs", "vgg16", "--copy", str(tmp_path / "mine.yaml"))
    assert code == 0, err
    assert (tmp_path / "mine.yaml").read_text() == (ROOT / "models" / "vgg16.yaml").read_text()


@pytest.mark.parametrize("value, says", [
    ("''", "copied_from: a name must not be empty"),
    ("[mobile_soc]", "copied_from: a name is a string"),
])
def test_copied_from_is_validated(tmp_path, value, says):
    text = (ROOT / "configs" / "thesis.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    at = lines.index("name: thesis")
    lines.insert(at + 1, f"copied_from: {value}")
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_hierarchy(bad)
    (line,) = info.value.problems
    assert line.startswith(f"{bad}:{at + 2}: {says}"), line


# ---------------------------------------------------------------- one name, two configs


def test_labels_tell_configs_of_one_name_apart(tmp_path, monkeypatch):
    shipped = str(ROOT / "configs" / "mobile_soc.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert config_labels([{"name": "a", "path": "x.yaml"}, {"name": "b", "path": "y.yaml"}]) \
        == ["a", "b"]
    assert config_labels([{"name": "m", "path": shipped},
                          {"name": "m", "path": str(tmp_path / "sub" / "m.yaml")},
                          {"name": "n", "path": "n.yaml"}]) == \
        ["m (shipped)", "m (sub/m.yaml)", "n"]
    outside = str(tmp_path.parent / "m.yaml")
    assert config_labels([{"name": "m", "path": "m.yaml"}, {"name": "m", "path": outside}]) \
        == ["m (m.yaml)", f"m ({outside})"]
    # the same config twice: numbered in the order given
    assert config_labels([{"name": "m", "path": shipped}, {"name": "m", "path": shipped}]) == \
        ["m (shipped) #1", "m (shipped) #2"]


def test_config_ticks_wrap_and_cut_the_file_but_stay_distinct():
    pytest.importorskip("matplotlib")
    from simcache.plots import TICK_WHERE, config_ticks

    long = "/a/very/long/directory/of/someone/elses/configs/m.yaml"
    assert config_ticks(["m (shipped)", f"m ({long})", "n"]) == [
        "m\n(shipped)", f"m\n(…{long[-(TICK_WHERE - 3):]})", "n"]
    # cut, two would be one: both stay whole
    a, b = "/x" + "a" * 40 + "/m.yaml", "/y" + "a" * 40 + "/m.yaml"
    assert config_ticks([f"m ({a})", f"m ({b})"]) == [f"m\n({a})", f"m\n({b})"]


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """The shipped mobile_soc and a copy that keeps its name (copied into a directory)."""
    d = tmp_path_factory.mktemp("twins")
    from simcache.cli import main

    try:
        main(["configs", "mobile_soc", "--copy", str(d)])
    except SystemExit as exc:
        assert not exc.code
    return d / "mobile_soc.yaml"


def test_compare_tells_twins_apart_everywhere(capsys, twins, tmp_path):
    want = ["mobile_soc (shipped)", f"mobile_soc ({twins})"]
    args = ["compare", "mobile_soc", str(twins), "--layer", "depthwise", *SMALL_FLAGS]
    code, out, err = cli_output(capsys, *args)
    assert code == 0, err
    head = out.splitlines()[1]
    assert all(w in head for w in want)
    assert f"{want[1]} (copied from mobile_soc): " in out
    code, out, _ = cli_output(capsys, *args, "-f", "json")
    assert [r["config"] for r in json.loads(out)["rows"]] == want
    code, out, _ = cli_output(capsys, *args, "-f", "csv")
    assert [r["config"] for r in csv.DictReader(io.StringIO(out))] == want
    pytest.importorskip("matplotlib")
    from simcache import plots

    code, _, err = cli_output(capsys, *args, "--plot", str(tmp_path / "c.png"))
    assert code == 0, err
    data = plots.read_figure_data(tmp_path / "c.png")
    ticks = data["panels"]["cycles"]["xticks"]
    assert ticks == plots.config_ticks(want) and len(set(ticks)) == 2
    assert ticks[0] == "mobile_soc\n(shipped)" and ticks[1].endswith("/mobile_soc.yaml)")
    assert list(data["panels"]["hit_rate"]["bars"]) == want


def test_compare_network_tells_twins_apart(capsys, twins, tmp_path):
    from helpers import TINY_NET

    model = tmp_path / "tiny.yaml"
    model.write_text(TINY_NET)
    result = api.compare_network(["mobile_soc", twins], model, jobs=1, cold=True)
    want = ["mobile_soc (shipped)", f"mobile_soc ({twins})"]
    doc = result.to_dict()
    assert [c["label"] for c in doc["configs"]] == want
    assert [t["config"] for t in doc["totals"]] == want
    assert all([e["config"] for e in r["configs"]] == want for r in doc["rows"])
    pytest.importorskip("matplotlib")
    from simcache import plots

    fig = plots.figure(doc)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == want
    assert all(w in fig.get_suptitle() for w in want)


# ---------------------------------------------------------------- time and energy


def test_compare_shows_time_where_configs_have_a_clock(capsys):
    result = api.compare(["mobile_soc", "server", "thesis"], "depthwise", jobs=1, **SMALL)
    times = [run.to_dict()["totals"].get("time") for run in result.runs]
    assert times[2] is None  # thesis gives no clock
    rows = result.rows
    for r, t in zip(rows[:2], times[:2], strict=True):
        assert r["time_blocking_us"] == t["blocking_us"]
        assert r["time_overlapped_us"] == t["overlapped"]["us"]
        assert r["time_bound"] == t["overlapped"]["bound"]
    assert rows[1]["time_blocking_ratio"] == pytest.approx(
        times[1]["blocking_us"] / times[0]["blocking_us"], rel=1e-12)
    assert rows[1]["time_overlapped_ratio"] == pytest.approx(
        times[1]["overlapped"]["us"] / times[0]["overlapped"]["us"], rel=1e-12)
    assert rows[2]["time_blocking_us"] is None and rows[2]["time_blocking_ratio"] is None
    from simcache import report

    code, out, err = cli_output(capsys, "compare", "mobile_soc", "server", "thesis",
                                "--layer", "depthwise", *SMALL_FLAGS)
    assert code == 0, err
    blocking = next(ln for ln in out.splitlines() if ln.startswith("time, blocking"))
    overlapped = next(ln for ln in out.splitlines() if ln.startswith("time, overlapped"))
    assert report.duration(times[0]["blocking_us"]) in blocking
    assert f"({rows[1]['time_blocking_ratio']:,.2f}×)" in blocking
    assert blocking.rstrip().endswith("–") and overlapped.rstrip().endswith("–")
    assert f"{report.duration(times[0]['overlapped']['us'])} by " \
           f"{times[0]['overlapped']['bound']}" in overlapped


def test_no_time_rows_without_a_clock(capsys):
    code, out, err = cli_output(capsys, "compare", "thesis", "thesis", "--layer", "depthwise",
                                *SMALL_FLAGS)
    assert code == 0, err
    assert "time," not in out and "time at each" not in out


def test_one_energy_ratio_rule_in_table_and_figure(capsys, tmp_path):
    args = ["compare", "thesis", "mobile_soc", "--layer", "depthwise", *SMALL_FLAGS]
    code, out, _ = cli_output(capsys, *args, "-f", "json")
    rows = json.loads(out)["rows"]
    assert rows[1]["energy_ratio_low"] != pytest.approx(rows[1]["energy_ratio_high"])
    code, out, _ = cli_output(capsys, *args)
    energy = next(ln for ln in out.splitlines() if ln.startswith("energy"))
    assert f"({rows[1]['energy_ratio_high']:,.2f}×)" in energy
    assert sum(ENERGY_RATIO in ln for ln in out.splitlines()) == 1  # stated once
    pytest.importorskip("matplotlib")
    from simcache import plots

    code, _, err = cli_output(capsys, *args, "--plot", str(tmp_path / "e.png"))
    assert code == 0, err
    panel = plots.read_figure_data(tmp_path / "e.png")["panels"]["energy"]
    assert panel["notes"] == [f"×{r['energy_ratio_high']:.2f}" for r in rows]
    assert ENERGY_RATIO in panel["title"]
