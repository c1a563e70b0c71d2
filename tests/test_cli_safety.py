"""The CLI on hostile output targets, closed and full streams, odd encodings and signals:
one line per problem, the exit code, and never a file half written."""

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cli_output

ROOT = Path(__file__).parent.parent
TINY = ["run", "thesis", "--layer", "fc", "-M", "8", "-N", "8"]


def cmd() -> list[str]:
    exe = Path(sys.executable).parent / "simcache"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "simcache"]



def run(capsys, *args):
    return cli_output(capsys, *args)


def one_error(code, err, start):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(start), (code, lines)


@pytest.mark.parametrize("target,start", [
    ("{tmp}", "error: --output: {tmp} is a directory"),
    ("{tmp}/missing/r.json", "error: --output: directory '{tmp}/missing' does not exist"),
    ("", "error: --output: the file name is empty"),
    ("{tmp}/" + "a" * 300, "error: --output: a name in"),
    ("{tmp}/file.txt/r.json", "error: --output: directory '{tmp}/file.txt' is not a directory"),
    # a trailing '/' names a directory: Path() would drop it and write {tmp}/new.json
    ("{tmp}/new.json/", "error: --output: {tmp}/new.json/ names a directory (it ends with "
                        "'/'); give a file name"),
    ("{tmp}/new/.", "error: --output: {tmp}/new/. names a directory; give a file name"),
])
def test_bad_output_targets(capsys, tmp_path, target, start):
    (tmp_path / "file.txt").write_text("keep")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(capsys, *TINY, "-o", target.format(tmp=tmp_path))
    one_error(code, err, start.format(tmp=tmp_path))
    assert out == "" and sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_device_is_written_to_not_replaced(capsys):
    code, out, err = run(capsys, *TINY, "-o", "/dev/null", "-f", "json")
    assert code == 0 and out == "", err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_replacing_a_file_keeps_its_mode(capsys, tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(0o640)
    code, _, err = run(capsys, *TINY, "-o", str(target))
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert json.loads(target.read_text())["layer"]["type"] == "fc"


def test_a_full_device_is_one_line(capsys):
    code, _, err = run(capsys, *TINY, "-o", "/dev/full")
    one_error(code, err, "error: --output: /dev/full: No space left on device")


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/bin/mount").exists(),
                    reason="mounting a small or read-only file system needs root")
@pytest.mark.parametrize("options,start", [("size=8k", "No space left on device"),
                                           ("ro", "cannot write in")])
def test_full_and_read_only_file_systems(capsys, tmp_path, options, start):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)]).returncode:
        pytest.skip("this machine does not let us mount a tmpfs")
    try:
        code, _, err = run(capsys, "run", "thesis", "--layer", "spatial", "-F", "8", "-M", "8",
                           "-N", "8", "--by-tensor", "-f", "json", "-o", str(mnt / "r.json"))
        assert code == 2 and start in err and len(err.strip().splitlines()) == 1, err
        assert os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)])


def test_closed_and_full_standard_output():
    closed = subprocess.run(cmd() + TINY, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2, closed.stderr
    assert closed.stderr.strip() == "error: standard output: it is closed; give -o FILE"
    with open("/dev/full", "w") as full:
        done = subprocess.run(cmd() + TINY, stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: standard output: No space left on device"


def test_a_terminal_that_cannot_print_typography():
    env = dict(os.environ, PYTHONIOENCODING="ascii")
    done = subprocess.run(cmd() + TINY, capture_output=True, env=env)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("ascii")  # raises if anything else got through
    assert "thesis | fc B=1" in text and "?" not in text.splitlines()[0]


@pytest.mark.parametrize("args,start", [
    (["-j", "0"], "error: Invalid value for '--jobs' / '-j': must be at least 1, got 0"),
    (["-j", "-2"], "error: Invalid value for '--jobs' / '-j'"),
    (["-B", "1,\u0663"], "error: -B/--batch: '\u0663' is not a positive whole number"),
    (["-F", "\u0663"], "error: Invalid value for '-F': '\u0663' is not a whole number"),
])
def test_bad_numbers(capsys, args, start):
    code, out, err = run(capsys, *TINY, *args)
    one_error(code, err, start)
    assert out == ""


def _interrupt(args, sig, tmp_path):
    """Start simcache, send `sig` once it says it is ready (SIMCACHE_READY: its handlers
    are in place, the kernels loaded, the work begun); (exit code, stderr, files left in
    tmp_path). No sleep: the line on stderr is the only clock."""
    env = dict(os.environ, SIMCACHE_READY="1")
    p = subprocess.Popen(cmd() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=tmp_path, env=env)
    before = []
    for line in p.stderr:
        before.append(line)
        if line.strip() == "simcache: ready":
            p.send_signal(sig)
            break
    _, err = p.communicate(timeout=600)
    return p.returncode, "".join(before) + err, sorted(os.listdir(tmp_path))


def test_ctrl_c_stops_running_jobs_and_writes_nothing_half_done(tmp_path):
    # four jobs of several seconds each on the thesis hierarchy (a register file first)
    code, err, left = _interrupt(["run", "thesis", "--layer", "spatial", "-B", "1,2,3,4",
                                  "-o", "r.json"], signal.SIGINT, tmp_path)
    assert "simcache: ready" in err, err
    assert code == 130, err
    if left:  # a run had finished: kept, marked (tests/test_interrupt.py)
        assert left == ["r.json"] and json.loads((tmp_path / "r.json").read_text())[
            "interrupted"] is True
        assert "that finished to r.json, marked interrupted" in err
    else:
        assert err.strip().endswith("simcache: interrupted; nothing was written")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signals_leave_no_temporary_file(tmp_path, sig):
    code, err, left = _interrupt(["trace", "--layer", "spatial", "-o", "t.din"], sig, tmp_path)
    assert "simcache: ready" in err, err
    assert code == 128 + sig, err
    assert "stopped by signal" in err and "Traceback" not in err
    assert left == []


def _environ(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or not ours
        return b""


def test_ctrl_c_during_a_compile_stops_it(tmp_path, monkeypatch):
    """Ctrl-C while `simcache compile` compiles on two processes (an empty cache of its
    own): exit 130, no family reported compiled after it, the workers gone."""
    env_cache = tmp_path / "cache"
    env_cache.mkdir()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(env_cache))  # for the child only
    code, err, _ = _interrupt(["compile", "plain", "3c", "-j", "2"], signal.SIGINT, tmp_path)
    assert code == 130, err
    workers = [pid for pid in os.listdir("/proc") if pid.isdigit()
               and str(env_cache).encode() in _environ(pid)]
    assert workers == [], workers
    after = err.split("simcache: ready", 1)[1]
    assert ": compiled in" not in after and "Traceback" not in err, err
    assert err.strip().endswith("simcache: interrupted; nothing was written")


@pytest.mark.parametrize("fmt", ["din", "bin", "npz"])
def test_a_trace_onto_a_device(capsys, fmt):
    code, _, err = run(capsys, "trace", "--layer", "fc", "-M", "8", "-N", "8", "-o",
                       "/dev/null", "--trace-format", fmt)
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
