"""The command line: the main job, every output format, and the error paths."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import assert_refused, cli_output

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")
SMALL = ["-F", "6", "-M", "4", "-N", "4"]



def run(capsys, *args):
    return cli_output(capsys, *args)


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
    (["--layer", "spatial", "--format", "xml"], ["error: Invalid value for '--format' / '-f'"]),
    (["--layer", "spatial", "--bogus"], ["error: No such option: --bogus"]),
    (["--layer", "spatial", "-K", "x"], ["error: Invalid value for '-K'"]),
])
def test_bad_flags(capsys, tmp_path, args, expect):
    target = tmp_path / "out.json"
    assert_refused(*run(capsys, "run", THESIS, *args, "-o", str(target)), expect, target)


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


def test_compilation_is_reported_once():
    """Numba counts compilations per process; only a warm-up that compiled says so."""
    from simcache import engine
    engine.warm_up()
    assert engine.warm_up()[1] is False


def test_a_run_prepares_only_the_kernels_its_first_level_needs(capsys, monkeypatch, tmp_path):
    """The kernels come in two kinds, for a first level of few or of many ways; a first run
    compiles only the kind its config needs (a register file: many)."""
    import yaml

    from simcache import engine
    asked = []
    real = engine.warm_up
    monkeypatch.setattr(engine, "warm_up",
                        lambda units, **kw: asked.append({h for _, h in units})
                        or real(units, **kw))
    data = yaml.safe_load(Path(THESIS).read_text())
    data["levels"] = data["levels"][1:]  # no register file: L1 (8 ways) comes first
    caches = tmp_path / "caches.yaml"
    caches.write_text(yaml.safe_dump(data))
    for config in (THESIS, str(caches)):
        code, _, err = run(capsys, "run", config, "--layer", "depthwise", *SMALL, "-f", "json")
        assert code == 0, err
    assert asked == [{True}, {False}]


def test_a_second_process_loads_the_kernels_from_the_cache():
    """Later runs reuse the compiled kernels (README). A kernel whose cache key changes from
    one process to the next (a closure over a Numba function does) compiles again in every
    run, which no test inside one process can see."""
    from simcache import engine
    engine.warm_up()  # compiled, or loaded, here first
    code = "from simcache import engine; print(engine.warm_up()[1])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == "False"


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


# ---------------------------------------------------------------- metrics, studies, compare

MOBILE = str(ROOT / "configs" / "mobile_soc.yaml")
SERVER = str(ROOT / "configs" / "server.yaml")


def test_metrics_table_2_2(capsys):
    code, out, _ = run(capsys, "metrics", "--all")
    assert code == 0
    assert "spatial     9,216   2.36e6   1.16e8   1.16e8       142*      48.0*" in out
    assert "depthwise     288    4,608   3.61e6   2.26e5       4.50       4.12" in out


def test_metrics_table_2_2_json_marks_each_cell(capsys):
    code, out, _ = run(capsys, "metrics", "--all", "--preset", "late", "--format", "json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert len(rows) == 5 and {r["preset"] for r in rows} == {"late"}
    pw = next(r for r in rows if r["layer"] == "pointwise")
    assert pw["ours"] == pw["printed"] == ["2.62e5", "1.28e7", "41.1"]


def test_metrics_batch_convergence_csv(capsys):
    code, out, _ = run(capsys, "metrics", "--layer", "fc", "--preset", "vgg16-fc1",
                       "-B", "1,4,16", "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["batch"]) for r in rows] == [1, 4, 16]
    intensity = [float(r["intensity"]) for r in rows]
    assert intensity == sorted(intensity)
    assert {r["params_bytes"] for r in rows} == {str(25088 * 4096 * 4)}


def test_batch_study(capsys):
    code, out, _ = run(capsys, "run", THESIS, "--layer", "fc", "-M", "64", "-N", "32",
                       "-B", "1,2,8", "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["batch"] for r in rows] == ["1", "2", "8"]
    for key in ("layer", "macs", "hit_rate_1", "hit_rate_4", "cycles_per_mac",
                "energy_per_mac_pj_low", "energy_per_mac_pj_high", "dram_bytes_per_mac",
                "min_dram_bytes", "amplification"):
        assert key in rows[0]
    per_mac = [float(r["dram_bytes_per_mac"]) for r in rows]
    assert per_mac == sorted(per_mac, reverse=True)  # weights are shared by the batch


def test_layer_all_study_table(capsys):
    code, out, _ = run(capsys, "run", THESIS, "--layer", "all", *SMALL, "-G", "2", "-K", "3")
    assert code == 0
    for kind in ("spatial", "separable", "pointwise", "group", "depthwise", "fc"):
        assert f"\n{kind} " in out


def test_compare_shipped_configs(capsys):
    code, out, _ = run(capsys, "compare", MOBILE, SERVER, "--layer", "depthwise", *SMALL)
    assert code == 0
    assert "mobile_soc" in out and "server" in out and "L1D" in out
    code, out, _ = run(capsys, "compare", MOBILE, SERVER, "--layer", "depthwise", *SMALL,
                       "-f", "json")
    doc = json.loads(out)
    assert [r["config"] for r in doc["rows"]] == ["mobile_soc", "server"]
    assert doc["rows"][0]["cycles_ratio"] == 1.0
    first, second = (r["totals"]["cycles"] for r in doc["runs"])
    assert doc["rows"][1]["cycles_ratio"] == pytest.approx(second / first)


@pytest.mark.parametrize("args,expect", [
    (["run", THESIS, "--layer", "fc", "-B", "1,0"],
     ["error: -B/--batch: '0' is not a positive whole number"]),
    (["run", THESIS, "--layer", "fc", "-B", "2,x"],
     ["error: -B/--batch: 'x' is not a positive whole number"]),
    (["run", THESIS, "--layer", "spatial,conv9"], ["error: --layer: unknown layer type 'conv9'"]),
    (["run", THESIS, "--layer", "spatial", "--preset", "vgg16-fc1"],
     ["error: --preset: 'vgg16-fc1' is a fc layer, not spatial"]),
    (["metrics", "--all", "-F", "9"], ["error: -F: --all prints Table 2.2"]),
    (["metrics", "--all", "--preset", "vgg16-fc1"], ["error: --preset: Table 2.2 has early"]),
    (["compare", THESIS, "--layer", "fc"], ["error: CONFIG: compare needs two or more"]),
    (["compare", THESIS, "/no/x.yaml", "--layer", "fc"], ["error: /no/x.yaml: cannot read"]),
])
def test_bad_study_flags(capsys, args, expect):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == len(expect), lines
    for line, want in zip(lines, expect, strict=True):
        assert line.startswith(want)
