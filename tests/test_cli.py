"""The command line: the main job, every output format, and the error paths."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from simcache.cli import main

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")
SMALL = ["-F", "6", "-M", "4", "-N", "4"]


def run(capsys, *args):
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_table(capsys):
    code, out, err = run(capsys, "run", THESIS, "--layer", "depthwise", *SMALL)
    assert code == 0, err
    for word in ("registers", "L1", "L2", "L3", "DRAM", "total", "hit", "MACs", "AMAT"):
        assert word in out
    assert "tensor bases: x 0x10000" in out


def test_by_tensor_table(capsys):
    code, out, _ = run(capsys, "run", THESIS, "--layer", "spatial", "--by-tensor", *SMALL)
    assert code == 0
    assert "\n  x " in out and "\n  w " in out and "\n  y " in out


def test_json_schema(capsys):
    code, out, _ = run(capsys, "run", THESIS, "--layer", "group", "-G", "2", "--format", "json",
                       *SMALL)
    assert code == 0
    doc = json.loads(out)
    assert doc["accesses"] == 4 * doc["totals"]["macs"]
    assert [lv["name"] for lv in doc["levels"]] == ["registers", "L1", "L2", "L3", "DRAM"]
    for lv in doc["levels"]:
        for key in ("name", "reads", "writes", "hits", "misses", "hit_rate", "writebacks",
                    "flush_writebacks", "cycles", "energy_pj", "by_tensor"):
            assert key in lv
        assert set(lv["energy_pj"]) == {"low", "high"}
        assert set(lv["by_tensor"]) == {"x", "w", "y"}
    assert set(doc["totals"]) >= {"cycles", "energy_pj", "macs"}
    assert [t["name"] for t in doc["layer"]["tensors"]] == ["x", "w", "y"]
    assert doc["layer"]["tensors"][0]["base"] == 0x10000


def test_csv(capsys):
    code, out, _ = run(capsys, "run", THESIS, "--layer", "separable", "-f", "csv", *SMALL)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    levels = [r["level"] for r in rows if r["tensor"] == "all"]
    assert levels == ["registers", "L1", "L2", "L3", "DRAM", "total"]
    assert {r["tensor"] for r in rows} == {"all", "x", "w", "y", "t"}


def test_output_file_is_written_whole(capsys, tmp_path):
    target = tmp_path / "r.json"
    code, out, _ = run(capsys, "run", THESIS, "--layer", "fc", "-M", "8", "-N", "8",
                       "-o", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["layer"]["type"] == "fc"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize("args,expect", [
    (["--layer", "conv3d"], ["error: --layer: unknown layer type 'conv3d'"]),
    (["--layer", "spatial", "-K", "9", "-F", "2", "--pad", "0"], ["error: -K: kernel 9"]),
    (["--layer", "group", "-G", "3"], ["error: -G: 3 groups do not divide M = 32",
                                       "error: -G: 3 groups do not divide N = 32"]),
    (["--layer", "spatial", "--order", "bijnm"], ["error: --order: 'bijnm' is not"]),
    (["--layer", "spatial", "--preset", "late", "-F", "9"], ["error: -F: 9 contradicts"]),
    (["--layer", "spatial", "--format", "xml"], ["error: --format: 'xml'"]),
    (["--layer", "spatial", "--bogus"], ["error: No such option: --bogus"]),
    (["--layer", "spatial", "-K", "x"], ["error: Invalid value for '-K'"]),
])
def test_bad_flags(capsys, tmp_path, args, expect):
    target = tmp_path / "out.json"
    code, out, err = run(capsys, "run", THESIS, *args, "-o", str(target))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == len(expect), lines
    for line, want in zip(lines, expect, strict=True):
        assert line.startswith(want)
    assert out == "" and not target.exists()


def test_bad_config_and_bad_layer_reported_together(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "configs" / "thesis.yaml").read_text().replace("size: 32KiB",
                                                                           "size: 32000B"))
    code, _, err = run(capsys, "run", str(bad), "--layer", "depthwise", "-N", "5")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"error: {bad}:") and "levels.1: size 32000 B" in lines[0]
    assert lines[1] == "error: -N: a depthwise convolution has N = M = 32, got 5"


def test_console_script_without_traceback():
    bin_dir = Path(sys.executable).parent
    exe = bin_dir / "simcache"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "simcache"]
    done = subprocess.run(cmd + ["run", "/no/such.yaml", "--layer", "fc"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: /no/such.yaml: cannot read config")
    version = subprocess.run(cmd + ["--version"], capture_output=True, text=True)
    assert version.stdout.startswith("simcache ")
