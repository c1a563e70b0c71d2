"""Interrupted networks and batch lists keep what finished (docs/model.md §6,
"Interrupted"): in process through the API (a progress callback raises KeyboardInterrupt
after k steps), and through the command line (SIGINT once the plain progress lines say the
first steps are done; never a fixed sleep). The kept rows equal the same rows of a
complete run."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simcache import api, engine
from simcache.chain import CHUNK, build_chain
from simcache.layers import build_layer
from simcache.loopnest import plan
from simcache.network import load_network

# three small entries, then one far too long to finish before the test interrupts it
PREFIX = """\
name: prefix
source: test
input: {channels: 8, size: 16}
layers:
  - {name: a, type: pointwise, M: 8, N: 16, F: 16}
  - {name: relu_a, type: relu}
  - {name: b, type: spatial, M: 16, N: 8, F: 16, K: 3}
"""
LONG = PREFIX.replace("name: prefix", "name: long") + \
    "  - {name: huge, type: spatial, M: 8, N: 8192, F: 16, K: 3}\n"
# what a row says about the simulation (not its share of totals that differ when cut)
COUNTS = ("name", "type", "macs", "accesses", "cycles", "energy_pj_low", "energy_pj_high",
          "dram_bytes", "hit_rate_1", "hit_rate_2", "hit_rate_3")


def _file(tmp_path, text, name):
    p = tmp_path / name
    p.write_text(text)
    return p


def _counts(rows):
    return [{k: r.get(k) for k in COUNTS} for r in rows]


def _runs(doc):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in doc["runs"]]


def _stop_after(limit):
    """A progress callback that raises KeyboardInterrupt once `done` passes `limit`."""
    def progress(done, total):
        if done > limit:
            raise KeyboardInterrupt
    return progress


def _updates(step) -> int:
    """How many progress updates a warm step makes (engine.simulate_chain)."""
    if step.plan is not None:
        return sum(math.ceil(n.iterations / engine.NEST_CHUNK) for n in step.plan.nests)
    return math.ceil(step.accesses / CHUNK) if step.accesses else 0


# ---------------------------------------------------------------- in process


@pytest.mark.parametrize("k", [1, 2, 3])
def test_warm_network_keeps_the_steps_done(tmp_path, k):
    long_ = _file(tmp_path, LONG, "long.yaml")
    steps = build_chain(load_network(long_)).steps
    with pytest.raises(KeyboardInterrupt) as caught:
        # the first update after step k's last: step k has finished, k+1 has begun
        api.network("thesis", long_, progress=_stop_after(sum(s.accesses for s in steps[:k])))
    part = caught.value.partial
    prefix = PREFIX if k == 3 else PREFIX.split("  - ")[0] + "".join(
        "  - " + e for e in PREFIX.split("  - ")[1:k + 1])
    whole = api.network("thesis", _file(tmp_path, prefix, "prefix.yaml"))
    doc, want = part.to_dict(), whole.to_dict()
    assert part.interrupted and doc["interrupted"] is True
    assert doc["finished"] == {"entries": k, "of": len(steps)}
    assert len(part.rows) == k and _counts(part.rows) == _counts(whole.rows)
    assert _runs(doc) == _runs(want)
    # no flush: the totals are the finished rows' sums
    assert doc["flush"] is None and doc["flush_run"] is None
    assert part.totals["cycles"] == sum(r["cycles"] for r in part.rows)
    assert part.totals["cycles"] == whole.totals["cycles"] - whole.flush["cycles"]
    assert "interrupted" not in want


def test_nothing_finished_keeps_nothing(tmp_path):
    long_ = _file(tmp_path, LONG, "long.yaml")
    with pytest.raises(KeyboardInterrupt) as caught:
        api.network("thesis", long_, progress=_stop_after(0))
    assert not hasattr(caught.value, "partial")


def test_batch_list_keeps_the_runs_done():
    with pytest.raises(KeyboardInterrupt) as caught:  # B=1 done, B=2 begun (one worker)
        api.study("thesis", ["pointwise"], [1, 2, 3], jobs=1, M=8, N=8, F=8,
                  progress=_stop_after(plan(build_layer("pointwise", None, M=8, N=8, F=8))
                                       .iterations))
    part = caught.value.partial
    whole = api.study("thesis", ["pointwise"], [1], M=8, N=8, F=8)
    doc = part.to_dict()
    assert doc["interrupted"] is True and doc["finished"] == {"runs": 1, "of": 3}
    assert part.rows == whole.rows and _runs(doc) == _runs(whole.to_dict())


def test_cold_network_on_threads_keeps_the_layers_done(tmp_path):
    """Two workers: which layers finish first is the machine's business; what is kept
    must be those, each equal to its row in a complete run."""
    net = _file(tmp_path, PREFIX, "prefix.yaml")
    whole = api.network("thesis", net, cold=True)
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == total:  # every layer's last chunk has run; flushes may still be going
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        api.network("thesis", net, cold=True, jobs=2, progress=progress)
    part = getattr(caught.value, "partial", None)
    if part is None:
        pytest.skip("no layer had finished")  # both flushing at the interrupt
    by_name = {r["name"]: r for r in _counts(whole.rows)}
    assert part.interrupted and 1 <= len(part.rows) <= 2
    assert all(by_name[r["name"]] == r for r in _counts(part.rows))


def test_warm_compare_on_threads_keeps_the_entries_every_config_finished(tmp_path):
    """Two configs, a thread each: the interrupt comes once both inferences are past their
    first three steps (each thread's updates counted); what is kept is those three entries
    on both, each equal to its row in a complete run on that config."""
    import threading

    long_ = _file(tmp_path, LONG, "long.yaml")
    steps = build_chain(load_network(long_)).steps
    past = sum(_updates(s) for s in steps[:3]) + 1
    calls: dict[int, int] = {}

    def progress(done, total):
        me = threading.get_ident()
        calls[me] = calls.get(me, 0) + 1
        if len(calls) == 2 and min(calls.values()) >= past:
            raise KeyboardInterrupt

    configs = ["thesis", "mobile_soc"]
    with pytest.raises(KeyboardInterrupt) as caught:
        api.compare_network(configs, long_, jobs=2, progress=progress)
    part = caught.value.partial
    prefix = _file(tmp_path, PREFIX, "prefix.yaml")
    doc = part.to_dict()
    assert doc["interrupted"] is True and doc["finished"] == {"entries": 3, "of": 4}
    assert [r["name"] for r in part.rows] == ["a", "relu_a", "b"]
    for net, config in zip(part.networks, configs, strict=True):
        whole = api.network(config, prefix)
        assert _counts(net.rows) == _counts(whole.rows) and net.flush is None


def test_a_failure_is_not_an_interrupt():
    """A job that fails (an Exception) after another finished leaves no partial result:
    the run failed."""
    first = plan(build_layer("fc", None, M=8, N=8)).iterations

    def progress(done, total):
        if done > first:  # the first run has finished
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError) as caught:
        api.study("thesis", ["fc"], [1, 2], jobs=1, M=8, N=8, progress=progress)
    assert not hasattr(caught.value, "partial")


# ---------------------------------------------------------------- the command line


def _cmd() -> list[str]:
    exe = Path(sys.executable).parent / "simcache"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "simcache"]


def _interrupt_after(args, lines, cwd, sig=signal.SIGINT):
    """Start simcache with a plain progress line at every update; send `sig` once
    `lines` progress lines were printed. (exit code, stdout, stderr)."""
    env = dict(os.environ, SIMCACHE_PROGRESS_INTERVAL="0")
    p = subprocess.Popen(_cmd() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=cwd, env=env)
    seen, err = 0, []
    for line in p.stderr:
        err.append(line)
        if "%" in line and line.startswith("simcache: "):
            seen += 1
            if seen == lines:
                p.send_signal(sig)
                break
    rest = p.stderr.read()  # the iterator's read-ahead included (communicate skips it)
    out = p.stdout.read()
    p.wait(timeout=120)
    return p.returncode, out, "".join(err) + rest


def _warm_kept(tmp_path):
    """Progress lines until the first three steps are done: theirs, and one of huge's."""
    steps = build_chain(load_network(_file(tmp_path, LONG, "long.yaml"))).steps
    return sum(_updates(s) for s in steps[:3]) + 1


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_ctrl_c_on_a_warm_network_writes_the_steps_done(tmp_path, fmt):
    _file(tmp_path, LONG, "long.yaml")
    _file(tmp_path, PREFIX, "prefix.yaml")
    out = tmp_path / f"r.{fmt}"
    code, _, err = _interrupt_after(["network", "thesis", "long.yaml", "-o", str(out),
                                     "--format", fmt], _warm_kept(tmp_path), tmp_path)
    assert code == 130, err
    assert "Traceback" not in err and "nothing was written" not in err
    said = [x for x in err.splitlines() if "interrupted" in x]
    assert said == [f"simcache: interrupted: wrote the 3 of 4 entries that finished to "
                    f"{out}, marked interrupted"], err
    assert sorted(os.listdir(tmp_path)) == ["long.yaml", "prefix.yaml", out.name]
    whole = api.network("thesis", tmp_path / "prefix.yaml")
    text = out.read_text()
    if fmt == "json":
        doc = json.loads(text)
        assert doc["interrupted"] is True and doc["finished"] == {"entries": 3, "of": 4}
        assert _counts(doc["rows"]) == _counts(whole.rows) and doc["flush"] is None
        assert _runs(doc) == _runs(whole.to_dict())
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        header = text.splitlines()[0].split(",")
        assert list(rows[-1].values()) == ["interrupted: 3 of 4 entries finished"] + \
            [""] * (len(header) - 1)
        assert [r["name"] for r in rows[:-1]] == ["a", "relu_a", "b", "total"]
        assert [int(r["cycles"]) for r in rows[:3]] == [r["cycles"] for r in whole.rows]
        assert int(rows[3]["cycles"]) == sum(r["cycles"] for r in whole.rows)
    else:
        head = text.splitlines()[0]
        assert head.endswith("· interrupted: 3 of 4 entries finished"), head
        assert "interrupted before its flush" in text and "\nflush " not in text
        assert "no flush (a warm inference flushes at its end)" in text
        assert all(f"\n{n} " in text for n in ("a", "relu_a", "b")) and "\nhuge " not in text


def test_ctrl_c_on_a_batch_list_writes_the_runs_done(tmp_path):
    dims = ["-M", "16", "-N", "16", "-F", "16"]
    first = plan(build_layer("spatial", None, M=16, N=16, F=16))
    lines = sum(math.ceil(n.iterations / engine.NEST_CHUNK) for n in first.nests) + 1
    out = tmp_path / "r.json"
    code, _, err = _interrupt_after(["run", "thesis", "--layer", "spatial", *dims,
                                     "-B", "1,512", "-j", "1", "-o", str(out)], lines,
                                    tmp_path)
    assert code == 130, err
    assert "wrote the 1 of 2 runs that finished" in err and "nothing was written" not in err
    doc = json.loads(out.read_text())
    whole = api.study("thesis", ["spatial"], [1], M=16, N=16, F=16)
    assert doc["interrupted"] is True and doc["finished"] == {"runs": 1, "of": 2}
    assert doc["rows"] == whole.rows and _runs(doc) == _runs(whole.to_dict())


def test_sigterm_on_a_warm_network_writes_the_steps_done_and_exits_143(tmp_path):
    _file(tmp_path, LONG, "long.yaml")
    out = tmp_path / "r.json"
    code, _, err = _interrupt_after(["network", "thesis", "long.yaml", "-o", str(out)],
                                    _warm_kept(tmp_path), tmp_path, signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err
    assert f"simcache: stopped by signal {int(signal.SIGTERM)}: wrote the 3 of 4 entries " \
        f"that finished to {out}, marked interrupted" in err
    assert "nothing was written" not in err and "Traceback" not in err
    assert json.loads(out.read_text())["finished"] == {"entries": 3, "of": 4}
