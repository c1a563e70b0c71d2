"""The Python API: named fields that equal the JSON document, shipped names, one error type."""

import json
import re
from pathlib import Path

import pytest

import simcache
from helpers import cli_output
from simcache import SimcacheError, shipped
from simcache.cli import main

ROOT = Path(__file__).parent.parent
SMALL = dict(F=6, M=4, N=4)


def test_simulate_fields_equal_the_document():
    r = simcache.simulate("thesis", layer="spatial", **SMALL)
    doc = r.to_dict()
    assert list(r.levels) == [lv["name"] for lv in doc["levels"]]
    for lv in doc["levels"]:
        mine = r.levels[lv["name"]]
        assert (mine.hits, mine.misses, mine.hit_rate, mine.writebacks) == (
            lv["hits"], lv["misses"], lv["hit_rate"], lv["writebacks"])
        assert mine.accesses == lv["reads"] + lv["writes"]
        for t, block in lv["by_tensor"].items():
            assert mine.by_tensor[t].misses == block["misses"]
            assert mine.by_tensor[t].energy_pj.high == block["energy_pj"]["high"]
    assert r.totals.energy_pj.low == doc["totals"]["energy_pj"]["low"]
    assert r.totals.cycles == doc["totals"]["cycles"]
    assert r.totals.macs * 4 == r.accesses
    json.dumps(doc, allow_nan=False)  # the document is plain JSON
    assert "spatial on thesis" in repr(r)


def test_a_missing_level_names_the_levels_there_are():
    r = simcache.simulate("mobile_soc", layer="depthwise", **SMALL)
    with pytest.raises(KeyError) as info:
        r.levels["L1"]
    assert info.value.args == ("no level 'L1'; levels are registers, L1D, L2, L3, LPDDR4X",)
    assert "L1" not in r.levels and r.levels.get("L1") is None  # a mapping still
    assert r.levels["L1D"].name == "L1D"


def test_the_api_and_the_cli_agree(capsys):
    r = simcache.simulate("mobile_soc", layer="depthwise", B=2, **SMALL)
    try:
        main(["run", "mobile_soc", "--layer", "depthwise", "-B", "2", "-F", "6", "-M", "4",
              "-N", "4", "-f", "json"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    doc = json.loads(capsys.readouterr().out)
    for key in ("levels", "totals", "accesses", "layer"):
        assert doc[key] == r.to_dict()[key]


def test_a_config_by_path_by_name_or_loaded():
    h, _ = simcache.load_config("thesis")
    by_name = simcache.simulate("thesis", "fc", M=8, N=8)
    by_path = simcache.simulate(ROOT / "configs" / "thesis.yaml", "fc", M=8, N=8)
    loaded = simcache.simulate(h, "fc", M=8, N=8)
    assert by_name.totals == by_path.totals == loaded.totals


def test_study_compare_network_replay(tmp_path):
    s = simcache.study("thesis", ["fc", "pointwise"], [1, 2], M=8, N=8, F=4)
    assert [(r["layer"], r["batch"]) for r in s.rows] == [
        ("fc", 1), ("fc", 2), ("pointwise", 1), ("pointwise", 2)]
    c = simcache.compare(["thesis", "mobile_soc"], "depthwise", **SMALL)
    assert c.rows[0]["cycles_ratio"] == 1.0
    assert c.rows[1]["cycles_ratio"] == pytest.approx(c.runs[1].totals.cycles
                                                      / c.runs[0].totals.cycles)
    model = tmp_path / "two.yaml"
    model.write_text("name: two\nsource: test\ninput: {channels: 4, size: 6}\nlayers:\n"
                     "  - {name: a, type: spatial, M: 4, N: 4, F: 6, K: 3}\n"
                     "  - {name: b, type: pointwise, M: 4, N: 8, F: 6}\n")
    n = simcache.network("thesis", model)
    assert [r["name"] for r in n.rows] == ["a", "b"]
    assert n.warm and n.totals["cycles"] == sum(r.totals.cycles for r in n.runs) + \
        n.flush["cycles"]
    t = simcache.replay("thesis", ROOT / "traces" / "spatial_f8.din")
    assert t.trace["format"] == "din" and t.accesses == t.trace["accesses"]


def test_every_problem_in_one_error():
    with pytest.raises(SimcacheError) as e:
        simcache.simulate("no_such_config", layer="group", G=3)
    problems = e.value.problems
    assert len(problems) == 3, problems
    assert problems[0].startswith("CONFIG: 'no_such_config' is neither a file nor a shipped")
    assert all("groups do not divide" in p for p in problems[1:])
    with pytest.raises(SimcacheError, match="--jobs"):
        simcache.study("thesis", ["fc"], [1], jobs=0)
    with pytest.raises(SimcacheError, match="MODEL: 'vgg17'"):
        simcache.network("thesis", "vgg17")


def test_shipped_files_are_listed_and_found():
    names = {(s.kind, s.name) for s in shipped.listing()}
    assert {("configs", "mobile_soc"), ("configs", "server"), ("configs", "thesis"),
            ("models", "vgg16"), ("models", "squeezenet"), ("models", "mobilenetv2")} <= names
    assert all(s.description for s in shipped.listing())
    assert shipped.resolve("thesis", "configs", "CONFIG").name == "thesis.yaml"
    # a path that does not exist is the loader's to report, not mistaken for a name
    assert str(shipped.resolve("/no/thesis", "configs", "CONFIG")) == "/no/thesis"


def test_readme_from_python_runs_as_written():
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README has a From Python section with a python block"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})



def _cli(capsys, *args):
    return cli_output(capsys, *args)


def test_the_configs_command_lists_prints_and_copies(capsys, tmp_path):
    code, out, _ = _cli(capsys, "configs")
    assert code == 0
    for s in shipped.listing():
        assert f"  {s.name}  " in out
    code, out, _ = _cli(capsys, "configs", "-f", "json")
    assert {r["name"] for r in json.loads(out)["shipped"]} >= {"thesis", "vgg16"}
    code, out, _ = _cli(capsys, "configs", "thesis")
    assert code == 0 and out == (ROOT / "configs" / "thesis.yaml").read_text()
    code, _, err = _cli(capsys, "configs", "vgg16", "--copy", str(tmp_path))
    assert code == 0 and (tmp_path / "vgg16.yaml").read_text() == (
        ROOT / "models" / "vgg16.yaml").read_text()
    code, _, err = _cli(capsys, "configs", "vgg16", "--copy", str(tmp_path / "vgg16.yaml"))
    assert code == 2 and err.startswith("error: --copy:") and "exists" in err
    code, _, err = _cli(capsys, "configs", "nosuch")
    assert code == 2 and err.startswith("error: NAME: no shipped config or model")


def test_commands_take_shipped_names(capsys):
    code, out, err = _cli(capsys, "compare", "thesis", "server", "--layer", "fc", "-M", "8",
                          "-N", "8", "-f", "json")
    assert code == 0, err
    assert [r["config"] for r in json.loads(out)["rows"]] == ["thesis", "server"]
    net, path = simcache.load_model("vgg16", batch=2)
    assert net.name == "vgg16" and net.simulated[0].layer.B == 2
    assert Path(path) == ROOT / "models" / "vgg16.yaml"
