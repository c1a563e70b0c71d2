"""Sweeps: a spec expands into points, every point lands in the store whole and equals a
separate run of its own, an interrupted sweep resumes with no duplicate and no lost point
(in this process, in local worker processes and on a local Dask cluster), a failing point
is recorded and the others run, and bad input is refused in one line each."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import TINY_NET, assert_refused, cli_output
from simcache import api
from simcache.errors import SimcacheError
from simcache.executors import executor, run_sweep
from simcache.store import Store
from simcache.sweep import expand

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
name: small
axes:
  config: [mobile_soc, server]
  layer: [depthwise, pointwise, spatial]
  batch: [1, 2, 3]
  L1D.size: [16KiB, 32KiB]
fixed:
  F: 6
  M: 8
"""


# a spec of which two points fail when they run, under SIMCACHE_STATE_LIMIT = LIMIT
CCC_SPEC = """\
axes:
  config: [mobile_soc, server]
  three_c: [false, true]
  layer: [depthwise, fc]
fixed: {F: 6, M: 8}
"""
LIMIT = 12_000_000


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def counts(doc: dict) -> list[tuple]:
    """Every level's counters, per tensor, and the totals: what must equal count for count."""
    out = [(lv["name"], t, c["reads"], c["writes"], c["hits"], c["misses"], c["writebacks"],
            c["cycles"]) for lv in doc["levels"]
           for t, c in [("*", lv)] + sorted(lv.get("by_tensor", {}).items())]
    return out + [(doc["totals"]["cycles"], doc["totals"]["dram_bytes"],
                   doc["totals"]["energy_pj"]["high"])]


def stored(db: Path) -> list[tuple[str, dict, str]]:
    with sqlite3.connect(db) as c:
        return [(pid, json.loads(axes), st) for pid, axes, st in
                c.execute("SELECT id, axes, status FROM points ORDER BY seq")]


def test_expansion_is_the_product_and_zip_advances_together(tmp_path):
    sw = expand(write(tmp_path, SPEC))
    assert len(sw.points) == 2 * 3 * 3 * 2
    assert [p.axes for p in sw.points[:3]] == [
        {"config": "mobile_soc", "layer": "depthwise", "batch": 1, "L1D.size": "16KiB"},
        {"config": "mobile_soc", "layer": "depthwise", "batch": 1, "L1D.size": "32KiB"},
        {"config": "mobile_soc", "layer": "depthwise", "batch": 2, "L1D.size": "16KiB"}]
    assert len({p.id for p in sw.points}) == len(sw.points)
    zipped = SPEC.replace("fixed:", "  L1D.ways: [2, 4]\nzip:\n  - [L1D.size, L1D.ways]\nfixed:")
    sz = expand(write(tmp_path, zipped, "zip.yaml"))
    assert len(sz.points) == 2 * 3 * 3 * 2
    assert {(p.axes["L1D.size"], p.axes["L1D.ways"]) for p in sz.points} == \
        {("16KiB", 2), ("32KiB", 4)}
    g = sz.points[0].task.hierarchy.geometry(4)[1]
    assert (g.name, g.size, g.ways) == ("L1D", 16384, 2)


def test_ids_are_stable_and_follow_the_description(tmp_path):
    a = [p.id for p in expand(write(tmp_path, SPEC)).points]
    assert a == [p.id for p in expand(write(tmp_path, SPEC, "again.yaml")).points]
    other = [p.id for p in expand(write(tmp_path, SPEC.replace("F: 6", "F: 7"), "f.yaml")).points]
    assert not set(a) & set(other)  # a fixed value is part of every point's description


def test_every_point_equals_its_own_run(tmp_path):
    spec = write(tmp_path, SPEC)
    db = tmp_path / "r.db"
    result = api.sweep(spec, db, jobs=1)
    assert (result.outcome.ran, result.outcome.failed) == (36, 0)
    with Store(db, writable=False) as st:
        points = st.points()
        n_levels = st.db.execute("SELECT count(DISTINCT point) FROM levels").fetchone()[0]
    assert n_levels == 36
    for p in points[::5]:
        ax = p["axes"]
        h = api.load_config(ax["config"])[0]
        data = h.model_dump()
        data["levels"][1]["size"] = ax["L1D.size"]
        alone = api.simulate(type(h).model_validate(data), ax["layer"], B=ax["batch"], F=6, M=8)
        assert counts(p["result"]) == counts(alone.to_dict())
    rows = api.results(db, where={"config": "server", "batch": "2"}).rows
    assert len(rows) == 6 and all(r["config"] == "server" and r["batch"] == 2 for r in rows)
    r0 = next(p for p in points if all(p["axes"][k] == rows[0][k] for k in p["axes"]))
    lv = r0["result"]["levels"][1]
    assert rows[0]["L1D.misses"] == lv["misses"] and rows[0]["L1D.hit_rate"] == lv["hit_rate"]


def test_level_rows_per_tensor_equal_the_document(tmp_path):
    db = tmp_path / "r.db"
    api.sweep(write(tmp_path, SPEC.replace("[1, 2, 3]", "[1]")), db, jobs=1)
    with Store(db, writable=False) as st:
        pid, doc = next((p["id"], p["result"]) for p in st.points())
        got = {(lv, t): (m, wb) for lv, t, m, wb in st.db.execute(
            "SELECT level, tensor, misses, writebacks FROM levels WHERE point = ?", (pid,))}
    want = {(lv["name"], "*"): (lv["misses"], lv["writebacks"]) for lv in doc["levels"]}
    want |= {(lv["name"], t): (c["misses"], c["writebacks"]) for lv in doc["levels"]
             for t, c in lv.get("by_tensor", {}).items()}
    assert got == want


class StopAfter:
    """A progress callback that raises KeyboardInterrupt (as Ctrl-C does) once `n` points
    are in the store."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, done: int, total: int, *_):
        if done >= self.n:
            raise KeyboardInterrupt


@pytest.mark.parametrize("how", [{"jobs": 1}, {"jobs": 2}])
def test_interrupt_keeps_every_finished_point_and_resume_completes(tmp_path, how):
    spec = write(tmp_path, SPEC)
    db = tmp_path / "r.db"
    first = api.sweep(spec, db, progress=StopAfter(7), **how)
    assert first.interrupted
    kept = stored(db)
    assert len(kept) >= 7 and len(kept) < 36
    again = api.sweep(spec, db, **how)
    assert not again.interrupted and again.outcome.done_before == len(kept)
    assert again.outcome.ran == 36 - len(kept)
    after = stored(db)
    assert len(after) == 36 == len({pid for pid, _, _ in after})
    assert {pid for pid, _, _ in kept} <= {pid for pid, _, _ in after}
    whole = tmp_path / "whole.db"
    api.sweep(spec, whole, jobs=1)
    with Store(db, writable=False) as a, Store(whole, writable=False) as b:
        assert {p["id"]: counts(p["result"]) for p in a.points()} == \
            {p["id"]: counts(p["result"]) for p in b.points()}


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    spec = write(tmp_path, SPEC.replace("[16KiB, 32KiB]", "[16KiB, 3000B]"))
    db = tmp_path / "r.db"
    result = api.sweep(spec, db, jobs=1)
    assert (result.outcome.ran, result.outcome.failed) == (18, 18)
    failed = api.results(db, status="failed").rows
    assert len(failed) == 18 and all(r["L1D.size"] == "3000B" for r in failed)
    assert "L1D.size=3000B" in failed[0]["error"] and "not divisible" in failed[0]["error"]
    # a point that fails when it runs: classifying misses needs shadows that do not fit
    # under this limit on the server config (its plain run fits)
    monkeypatch.setenv("SIMCACHE_STATE_LIMIT", str(LIMIT))
    out = api.sweep(write(tmp_path, CCC_SPEC, "ccc.yaml"), tmp_path / "ccc.db", jobs=1)
    assert (out.outcome.ran, out.outcome.failed) == (6, 2)
    assert all("config=server" in e and "three_c=True" in e and "--3c" in e
               for e in out.errors), out.errors


def test_a_rerun_retries_failed_points(tmp_path, monkeypatch):
    spec = write(tmp_path, CCC_SPEC)
    db = tmp_path / "r.db"
    monkeypatch.setenv("SIMCACHE_STATE_LIMIT", str(LIMIT))
    assert api.sweep(spec, db, jobs=2).outcome.failed == 2  # in worker processes too
    monkeypatch.delenv("SIMCACHE_STATE_LIMIT")
    again = api.sweep(spec, db, jobs=1)
    assert (again.outcome.done_before, again.outcome.ran, again.outcome.failed) == (6, 2, 0)
    assert len(stored(db)) == 8 and all(st == "done" for _, _, st in stored(db))


def test_network_axis_equals_the_network_command(tmp_path):
    model = write(tmp_path, TINY_NET, "tiny.yaml")
    spec = write(tmp_path, f"axes:\n  config: [thesis, mobile_soc]\n  network: [{model}]\n"
                           "  batch: [1, 2]\n")
    db = tmp_path / "n.db"
    assert api.sweep(spec, db, jobs=1).outcome.ran == 4
    with Store(db, writable=False) as st:
        for p in st.points():
            alone = api.network(p["axes"]["config"], model, batch=p["axes"]["batch"],
                                cold=True).to_dict()
            assert [counts(r) for r in p["result"]["runs"]] == [counts(r) for r in alone["runs"]]
    net = api.network("mobile_soc", model, batch=2, cold=True)
    last = api.results(db, where={"config": "mobile_soc", "batch": "2"}).rows[0]
    assert last["cycles"] == net.totals["cycles"]
    assert last["dram_bytes"] == net.totals["dram_bytes"]


def test_local_dask_cluster_runs_resumes_and_records_failures(tmp_path):
    pytest.importorskip("distributed")
    spec = write(tmp_path, SPEC.replace("[16KiB, 32KiB]", "[16KiB, 3000B, 32KiB]"))
    db = tmp_path / "d.db"
    first = api.sweep(spec, db, cluster="local:2", progress=StopAfter(24))
    assert first.interrupted
    kept = stored(db)
    assert 24 <= len(kept) < 54
    again = api.sweep(spec, db, cluster="local:2")
    after = stored(db)
    assert len(after) == 54 == len({pid for pid, _, _ in after})
    # failed points are tried again on every run; done ones never
    assert again.outcome.done_before == sum(st == "done" for _, _, st in kept)
    assert again.outcome.failed == 18
    assert sum(s == "failed" for _, _, s in after) == 18
    whole = tmp_path / "whole.db"
    api.sweep(spec, whole, jobs=1)
    with Store(db, writable=False) as a, Store(whole, writable=False) as b:
        assert {p["id"]: counts(p["result"]) for p in a.points(status="done")} == \
            {p["id"]: counts(p["result"]) for p in b.points(status="done")}


# ---------------------------------------------------------------- the command line


def test_ctrl_c_in_the_command_keeps_points_and_exits_130(tmp_path):
    spec = write(tmp_path, SPEC.replace("F: 6", "F: 24").replace("M: 8", "M: 16"))
    db = tmp_path / "spec.db"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "simcache", "sweep", str(spec), "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    if c.execute("SELECT count(*) FROM points").fetchone()[0] >= 3:
                        break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the driver and its workers
    out, err = proc.communicate(timeout=60)
    kept = stored(db)
    if len(kept) == 36:
        pytest.skip("the sweep finished before the interrupt reached it")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command again" in err
    assert "nothing was written" not in err  # one line, not two that contradict each other
    assert "Traceback" not in err
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    after = stored(db)
    assert len(after) == 36 == len({pid for pid, _, _ in after})
    assert {pid for pid, _, _ in kept} <= {pid for pid, _, _ in after}


def test_sweep_command_prints_the_results_and_results_exports(tmp_path, capsys):
    spec = write(tmp_path, SPEC.replace("[1, 2, 3]", "[1]"))
    code, out, err = cli_output(capsys, "sweep", str(spec), "--jobs", "1")
    assert code == 0, err
    assert "12 points" in err and "12 run now" in err
    assert "mobile_soc" in out and "hit rate" in out
    code, out, err = cli_output(capsys, "results", str(tmp_path / "spec.db"), "--format",
                                "csv", "--where", "layer=spatial")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("config,layer,batch,L1D.size,status,macs")
    assert len(lines) == 1 + 4
    code, out, _ = cli_output(capsys, "results", str(tmp_path / "spec.db"), "-f", "json")
    doc = json.loads(out)
    assert doc["axes"] == ["config", "layer", "batch", "L1D.size"] and len(doc["rows"]) == 12


def test_a_failed_point_is_one_line_and_exit_2(tmp_path, capsys):
    spec = write(tmp_path, SPEC.replace("[1, 2, 3]", "[1]").replace("[16KiB, 32KiB]",
                                                                     "[16KiB, 3000B]"))
    code, out, err = cli_output(capsys, "sweep", str(spec), "--jobs", "1")
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 6
    assert all("L1D.size=3000B" in e and "not divisible" in e for e in errors)
    assert "Traceback" not in err


@pytest.mark.parametrize("body, expect", [
    ("axes:\n  config: [thesis]\n  colour: [red]\n", ["{spec}:3: axes.colour: unknown axis"]),
    ("axes:\n  config: [thesis]\n  L1.colour: [red]\n",
     ["{spec}:3: axes.L1.colour: 'colour' is not a field of a cache level"]),
    ("axes:\n  config: [mobile_soc]\n  L1.size: [16KiB]\n",
     ["{spec}:3: L1.size: config mobile_soc has no level 'L1'"]),
    ("axes:\n  config: [thesis]\n  a: [1]\n  b: [2]\nzip: [[L1.size]]\n",
     ["{spec}:3: axes.a: unknown axis", "{spec}:4: axes.b: unknown axis",
      "{spec}:5: zip.0: a group zips two or more axes", "{spec}:5: zip.0: 'L1.size' is not"]),
    ("axes:\n  config: [thesis]\n  batch: [1, 2]\n  L1.size: [8KiB]\nzip: [[batch, L1.size]]\n",
     ["{spec}:5: zip.0: zipped axes need as many values each"]),
    ("axes:\n  config: [nosuch]\n", ["{spec}:2: config: 'nosuch' is neither a file nor"]),
    ("axes:\n  layer: [spatial]\n", ["{spec}: no config"]),
    ("axes: [1, 2]\n", ["{spec}:1: axes: Input should be a valid dictionary"]),
    ("axes:\n  config: []\n", ["{spec}:2: axes.config: no values"]),
    ("- 1\n", ["{spec}: a sweep spec is a YAML mapping"]),
    ("axes:\n  config: [thesis]\n  network: [vgg16]\n  layer: [fc]\n",
     ["{spec}: give layer or network, not both"]),
    # sizes outside the grammar of config.parse_size, each at its line, before any point
    ("axes:\n  config: [thesis]\n  L1.size:\n    - 16KiB\n    - 32kb\n    - 32.5KiB\n"
     "fixed:\n  L2.line: 64b\n  memory.size: 1k\n",
     ["{spec}:5: axes.L1.size[1]: '32kb': bytes are an upper-case B (32KB)",
      "{spec}:6: axes.L1.size[2]: '32.5KiB': a size is a whole number of its unit, not a "
      "fraction; write 33280B",
      "{spec}:8: fixed.L2.line: '64b': bytes are an upper-case B (64B)",
      "{spec}:9: fixed.memory.size: '1k': write the unit 'KiB' (1KiB)"]),
])
def test_bad_specs_are_refused_before_anything_runs(tmp_path, capsys, body, expect):
    spec = write(tmp_path, body)
    db = tmp_path / "spec.db"
    code, out, err = cli_output(capsys, "sweep", str(spec))
    assert_refused(code, out, err, [f"error: {e.format(spec=spec)}" for e in expect], db)


def test_bad_files_and_flags(tmp_path, capsys):
    spec = write(tmp_path, SPEC)
    target = tmp_path / "spec.db"
    for args, want in [
        ((str(tmp_path),), f"error: {tmp_path}: cannot read sweep spec: a directory"),
        (("/dev/zero",), "error: /dev/zero: cannot read sweep spec: not a regular file"),
        ((str(spec), "--jobs", "2", "--cluster", "local:2"), "error: --jobs and --cluster"),
        ((str(spec), "--cluster", "remote:3"), "error: --cluster: 'remote:3'"),
        ((str(spec), "--db", str(tmp_path / "no" / "r.db")), "error: --db: "),
        ((str(spec), "--db", str(tmp_path)), f"error: --db: {tmp_path}: a directory"),
    ]:
        code, out, err = cli_output(capsys, "sweep", *args)
        assert_refused(code, out, err, [want], target)
    binary = write(tmp_path, "", "bin.yaml")
    binary.write_bytes(b"\x00\xff\xfe garbage")
    code, out, err = cli_output(capsys, "sweep", str(binary))
    assert_refused(code, out, err, [f"error: {binary}:1:"], target)


def test_unreachable_scheduler_writes_nothing(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("simcache.executors.CONNECT_TIMEOUT", 2)
    spec = write(tmp_path, SPEC)
    code, out, err = cli_output(capsys, "sweep", str(spec), "--scheduler", "tcp://127.0.0.1:9")
    assert_refused(code, out, err, ["error: --scheduler: cannot reach tcp://127.0.0.1:9"],
                   tmp_path / "spec.db")


def test_stores_that_are_not_ours_are_refused_untouched(tmp_path, capsys):
    spec = write(tmp_path, SPEC.replace("[1, 2, 3]", "[1]"))
    write(tmp_path, "not a database\n" * 100, "text.db")
    old = sqlite3.connect(tmp_path / "old.db")
    old.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                      "CREATE TABLE points (id TEXT);"
                      "INSERT INTO meta VALUES ('schema', '99'), ('simcache', '9.9');")
    old.close()
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE t (x)")
    other.close()
    api.sweep(spec, tmp_path / "version.db", jobs=1)
    with sqlite3.connect(tmp_path / "version.db") as c:
        c.execute("UPDATE meta SET value = '0.0.1' WHERE key = 'simcache'")
    for name, want in [("text.db", "not a simcache results store"),
                       ("old.db", "written by simcache 9.9 in store format 99"),
                       ("other.db", "an SQLite file, but not a simcache results store"),
                       ("version.db", "its results are of simcache 0.0.1")]:
        db = tmp_path / name
        before = db.read_bytes()
        code, out, err = cli_output(capsys, "sweep", str(spec), "--db", str(db))
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert want in err and err.startswith(f"error: --db: {db}")
        assert db.read_bytes() == before
        if name != "version.db":
            code, out, err = cli_output(capsys, "results", str(db))
            assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err


def test_results_filters_are_checked(tmp_path, capsys):
    db = tmp_path / "spec.db"
    api.sweep(write(tmp_path, SPEC.replace("[1, 2, 3]", "[1]")), db, jobs=1)
    for args, want in [(("--where", "colour=red"), "error: --where: colour: not an axis"),
                       (("--where", "batch"), "error: --where: 'batch': give AXIS=VALUE"),
                       (("--sweep", "other"), "error: --sweep: the store holds no sweep")]:
        code, out, err = cli_output(capsys, "results", str(db), *args)
        assert code == 2 and out == "" and err.strip().startswith(want), err
    code, out, err = cli_output(capsys, "results", str(tmp_path / "none.db"))
    assert code == 2 and "no such file" in err


def test_api_raises_one_error_with_every_problem(tmp_path):
    spec = write(tmp_path, "axes:\n  config: [thesis]\n  a: [1]\n")
    with pytest.raises(SimcacheError) as e:
        api.sweep(spec, jobs=0)
    assert len(e.value.problems) == 2 and not (tmp_path / "spec.db").exists()


def test_run_sweep_skips_what_the_store_holds(tmp_path):
    sw = expand(write(tmp_path, SPEC.replace("[1, 2, 3]", "[1]")))
    with Store(tmp_path / "r.db") as st:
        out = run_sweep(sw, st, executor(jobs=1)())
        assert out.ran == 12
        again = run_sweep(sw, st, None)
        assert (again.ran, again.done_before) == (0, 12)


def test_plot_draws_the_rows_it_is_given(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    db = tmp_path / "spec.db"
    api.sweep(write(tmp_path, SPEC), db, jobs=1)
    from simcache import plots

    table = api.results(db, where={"config": "server"}, status="done")
    fig = plots.sweep_figure(table.to_dict(), "batch", "dram_bytes_per_mac", "L1D.size")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "batch" and ax.get_ylabel() == "DRAM bytes per MAC"
    assert "sweep small · config=server" in ax.get_title()
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert len(lines) == 2 * 3  # L1D.size × layer (the other axis that varies)
    for r in table.rows:
        ln = lines[f"L1D.size={r['L1D.size']}, layer={r['layer']}"]
        k = list(ln.get_xdata()).index(r["batch"])
        assert ln.get_ydata()[k] == r["dram_bytes_per_mac"]
    rate = plots.sweep_figure(table.to_dict(), "L1D.size", "L1D.hit_rate", "layer").axes[0]
    got = sorted(y for ln in rate.lines for y in ln.get_ydata())
    assert got == sorted(100 * r["L1D.hit_rate"] for r in table.rows)
    assert [t.get_text() for t in rate.get_xticklabels()] == ["16KiB", "32KiB"]
    out = tmp_path / "fig.svg"
    code, _, err = cli_output(capsys, "plot", str(db), "--x", "batch", "--y", "cycles",
                              "--hue", "config", "--where", "layer=spatial", "-o", str(out))
    assert code == 0 and out.read_bytes().startswith(b"<?xml"), err
    code, _, err = cli_output(capsys, "plot", str(db), "--x", "batch", "--y", "cycles")
    assert code == 0 and (tmp_path / "spec-cycles-by-batch.png").exists()
    for args, want in [(("--x", "colour", "--y", "cycles"), "error: --x: 'colour' is not an axis"),
                       (("--x", "batch", "--y", "speed"), "error: --y: 'speed' is not a column"),
                       (("--x", "batch", "--y", "cycles", "--hue", "batch"),
                        "error: --hue: the same axis as --x"),
                       (("--x", "batch", "--y", "cycles", "-o", str(tmp_path / "f.xyz")),
                        "error: --output: "),
                       (("--x", "batch", "--y", "cycles", "--where", "batch=9"),
                        "error: DB: no finished point")]:
        code, out, err = cli_output(capsys, "plot", str(db), *args)
        assert code == 2 and out == "" and err.startswith(want), err
        assert len(err.strip().splitlines()) == 1
