"""--3c on the command line: the JSON, CSV and table of run, compare, network and replay
carry the misses of every cache level by kind, and they add up to the misses."""

from __future__ import annotations

import csv
import io
import json

from test_cli import SMALL, THESIS
from test_network import TINY

from helpers import cli_output
from simcache.engine import simulate
from simcache.layers import make_layer

KINDS = ("compulsory", "capacity", "conflict")


def test_run_json_has_every_cache_level_and_tensor_classified(capsys):
    code, out, err = cli_output(capsys, "run", THESIS, "--layer", "spatial", "--3c",
                                "--format", "json", *SMALL)
    assert code == 0, err
    doc = json.loads(out)
    import simcache
    h, _ = simcache.load_config(THESIS)
    want = simulate(h, make_layer(type="spatial", F=6, M=4, N=4, K=3), ccc=True).three_c
    for k, lv in enumerate(doc["levels"][:-1]):
        for block, t in [(lv, slice(None))] + [(b, "xwy".index(n))
                                                for n, b in lv["by_tensor"].items()]:
            c = block["three_c"]
            assert sum(c.values()) == block["misses"]
            assert [c[kind] for kind in KINDS] == \
                want[0, k, t].reshape(-1, 3).sum(axis=0).tolist()
            assert set(block["flush"]["three_c"]) == set(KINDS)
    assert "three_c" not in doc["levels"][-1]  # main memory never misses
    code, out, _ = cli_output(capsys, "run", THESIS, "--layer", "spatial", "--format", "json",
                              *SMALL)
    assert "three_c" not in out  # only when asked


def test_run_csv_and_table(capsys):
    code, out, _ = cli_output(capsys, "run", THESIS, "--layer", "depthwise", "--3c", "-f", "csv",
                              *SMALL)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[5:9] == ["misses", *KINDS]
    l1 = next(r for r in rows if r["level"] == "L1" and r["tensor"] == "all")
    assert sum(int(l1[k]) for k in KINDS) == int(l1["misses"])
    code, out, _ = cli_output(capsys, "run", THESIS, "--layer", "depthwise", "--3c", *SMALL)
    assert code == 0
    assert "compulsory" in out and "capacity" in out and "conflict" in out


def test_compare_network_and_replay(capsys, tmp_path):
    code, out, err = cli_output(capsys, "compare", THESIS, "mobile_soc", "--layer", "pointwise",
                                "--3c", "-f", "json", *SMALL)
    assert code == 0, err
    for row in json.loads(out)["rows"]:
        assert {"compulsory_1", "capacity_1", "conflict_1"} <= set(row)
    code, out, _ = cli_output(capsys, "compare", THESIS, "mobile_soc", "--layer", "pointwise",
                              "--3c", *SMALL)
    assert "comp/cap/confl" in out
    trace = tmp_path / "t.din"
    assert cli_output(capsys, "trace", "--layer", "fc", "-M", "64", "-N", "8",
                      "-o", str(trace))[0] == 0
    code, out, err = cli_output(capsys, "replay", THESIS, str(trace), "--3c", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    for lv in doc["levels"][:-1]:
        assert sum(lv["three_c"].values()) == lv["misses"]
    model = tmp_path / "tiny.yaml"
    model.write_text(TINY)
    code, out, err = cli_output(capsys, "network", THESIS, str(model), "--3c", "-f", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["conflict_2"] != ""


def test_shadows_that_do_not_fit_are_refused(capsys, monkeypatch):
    """The shadows and the record of lines seen take memory of their own: a config that
    fits without --3c can be refused with it, naming the level, before anything runs."""
    import simcache
    from simcache import engine
    from simcache.loopnest import plan
    h, _ = simcache.load_config(THESIS)
    layer = make_layer(type="depthwise", F=6, M=4, N=4, K=3)
    g, window = h.geometry(4), engine.window_of(plan(layer))
    plain, full = engine.state_bytes(g, window, 4), engine.state_bytes(g, window, 4, ccc=True)
    assert full > plain
    monkeypatch.setenv("SIMCACHE_STATE_LIMIT", str((plain + full) // 2))
    assert cli_output(capsys, "run", THESIS, "--layer", "depthwise", *SMALL)[0] == 0
    code, out, err = cli_output(capsys, "run", THESIS, "--layer", "depthwise", "--3c", *SMALL)
    assert code == 2 and out == ""
    assert "with its 3C shadow (--3c)" in err or "with their 3C shadows (--3c)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
