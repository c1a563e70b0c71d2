"""Replay from a pipe: standard input (`-`), a FIFO, a process substitution; the format
from --trace-format or the first bytes; a stream that ends mid-record; what is refused."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import assert_refused, cli_output, hierarchy
from simcache import api, traces
from simcache.layers import make_layer
from simcache.loopnest import plan
from simcache.traces import TraceError, TraceReader, sniff, write_trace

ROOT = Path(__file__).parent.parent
SPECS = [dict(size=256, line=16, ways=2, policy="lru", write_back=True, write_allocate=True),
         dict(size=1024, line=32, ways=4, policy="fifo", write_back=True, write_allocate=True)]


@pytest.fixture(scope="module")
def layer_traces(tmp_path_factory):
    """One layer's trace in every writable format."""
    d = tmp_path_factory.mktemp("traces")
    p = plan(make_layer(type="depthwise", M=4, N=4, F=6, K=3))
    out = {}
    for ext in ("din", "din.gz", "bin", "bin.gz", "npz"):
        out[ext] = d / f"t.{ext}"
        write_trace(p, out[ext])
    return out


def _feed(path: Path, data: bytes) -> threading.Thread:
    """A writer thread: opens the FIFO (which waits for the reader), writes, closes."""
    def write():
        with open(path, "wb") as f:
            f.write(data)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def _fifo(tmp_path, data: bytes, name: str = "pipe") -> Path:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    _feed(fifo, data)
    return fifo


@pytest.fixture
def stdin_pipe(monkeypatch):
    """Standard input as a pipe that a thread fills with the bytes given."""
    def use(data: bytes) -> None:
        r, w = os.pipe()

        def write():
            with os.fdopen(w, "wb") as f:
                f.write(data)

        threading.Thread(target=write, daemon=True).start()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(r, "rb")))
    return use


def _levels(result) -> list:
    return result.to_dict()["levels"]


@pytest.mark.parametrize("ext", ["din", "din.gz", "bin", "bin.gz"])
def test_file_stdin_and_fifo_give_the_same_counts(tmp_path, layer_traces, stdin_pipe, ext):
    h = hierarchy(SPECS)
    path = layer_traces[ext]
    want = api.replay(h, path)
    data = path.read_bytes()
    stdin_pipe(data)
    from_stdin = api.replay(h, "-")
    through_fifo = api.replay(h, _fifo(tmp_path, data))  # no name: the first bytes tell
    assert _levels(from_stdin) == _levels(through_fifo) == _levels(want)
    fmt = want.to_dict()["trace"]["format"]
    assert from_stdin.to_dict()["trace"]["format"] == fmt
    assert through_fifo.to_dict()["trace"]["accesses"] == want.to_dict()["trace"]["accesses"]


def test_lackey_from_a_pipe(tmp_path):
    h = hierarchy(SPECS)
    path = ROOT / "traces" / "sum.lackey.gz"
    want = api.replay(h, path)
    got = api.replay(h, _fifo(tmp_path, path.read_bytes()))
    assert _levels(got) == _levels(want)
    assert got.to_dict()["trace"]["format"] == "lackey.gz"
    assert got.to_dict()["trace"]["instructions"] == want.to_dict()["trace"]["instructions"]


def test_trace_format_overrides_the_sniff(tmp_path):
    """Text that the first bytes cannot place (a din line with label 3 first, skipped) is
    read as --trace-format says."""
    data = b"3 10\n0 20 4\n1 24 4\n"
    with pytest.raises(TraceError, match="give --trace-format"):
        TraceReader(_fifo(tmp_path, data, "a"), streams=True)
    r = TraceReader(_fifo(tmp_path, data, "b"), "din", skip_bad=True, streams=True)
    assert sum(len(c[0]) for c in r) == 2 and r.skipped == 1


@pytest.mark.parametrize("head,fmt", [
    (b"0 1000 4 x\n1 2000 4 y\n", "din"),
    (b"# a comment\n\n0x1 0x2000\n", "din"),
    (b"==123== Lackey\nI  04000000,3\n L 1ffefff8,8\n", "lackey"),
    (b" S 1ffefff8,8\n", "lackey"),
    (bytes([0, 16, 0, 0, 4, 0, 1, 0]) * 3, "bin"),
    (b"", "din"),  # empty: the reader says so
    (b"hello world\n", None),
    (b"\x00\x01\x02\x03\x04\x05\x09\x00", None),  # access type 9
    (bytes([0, 16, 0, 0, 0, 0, 1, 0]), None),  # size 0
    (b"\x00\x01\x02", None),  # not one whole record
])
def test_sniff(head, fmt):
    assert sniff(head) == fmt


def test_the_sniff_reads_inside_gzip(tmp_path):
    data = gzip.compress(b"0 1000 4 x\n1 2000 4 y\n")
    r = TraceReader(_fifo(tmp_path, data), streams=True)
    assert (r.fmt, r.gz) == ("din", True)
    assert sum(len(c[0]) for c in r) == 2


def test_a_named_fifo_keeps_its_names_format(tmp_path):
    """A FIFO whose name says din is din where its first bytes cannot tell."""
    data = b"3 10\n0 20 4\n1 24 4\n"
    r = TraceReader(_fifo(tmp_path, data, "t.din"), skip_bad=True, streams=True)
    assert r.fmt == "din" and sum(len(c[0]) for c in r) == 2 and r.skipped == 1


def _cli_refused(capsys, tmp_path, *args, expect):
    out = tmp_path / "out.json"
    code, stdout, err = cli_output(capsys, "replay", "thesis", *args, "-o", str(out),
                                   "--no-progress")
    assert_refused(code, stdout, err, expect, out)
    return err


def test_stdin_without_a_recognisable_format(tmp_path, capsys, stdin_pipe):
    stdin_pipe(b"hello world\nsecond line\n")
    err = _cli_refused(capsys, tmp_path, "-", expect=["error: <stdin>: cannot tell the trace "
                                                      "format"])
    assert "--trace-format" in err


def test_npz_from_a_pipe_is_refused(tmp_path, capsys, layer_traces, stdin_pipe):
    data = layer_traces["npz"].read_bytes()
    _cli_refused(capsys, tmp_path, str(_fifo(tmp_path, data)),
                 expect=[f"error: {tmp_path / 'pipe'}: an npz trace is a zip archive"])
    stdin_pipe(data)
    _cli_refused(capsys, tmp_path, "-", "--trace-format", "npz",
                 expect=["error: <stdin>: an npz trace is a zip archive"])


def test_a_fifo_that_closes_mid_line(tmp_path, capsys):
    fifo = _fifo(tmp_path, b"0 1000 4 x\n1 2000 4 y\n1 ")
    _cli_refused(capsys, tmp_path, str(fifo),
                 expect=[f"error: {fifo}:3: expected 'label address', got '1'"])


def test_a_fifo_that_closes_mid_record(tmp_path, capsys, layer_traces):
    data = layer_traces["bin"].read_bytes()
    cut = 8 * 100 + 5
    fifo = _fifo(tmp_path, data[:cut])
    _cli_refused(capsys, tmp_path, str(fifo),
                 expect=[f"error: {fifo}:byte 800: truncated record: 5 of 8 bytes"])
    # --skip-bad counts it and replays the whole records
    fifo2 = _fifo(tmp_path, data[:cut], "pipe2")
    out = tmp_path / "r.json"
    code, _, err = cli_output(capsys, "replay", "thesis", str(fifo2), "--skip-bad",
                              "-o", str(out), "--no-progress")
    assert code == 0, err
    import json
    t = json.loads(out.read_text())["trace"]
    assert (t["accesses"], t["skipped"]) == (100, 1)


def test_a_gzip_stream_cut_short(tmp_path, capsys, layer_traces):
    data = layer_traces["din.gz"].read_bytes()
    fifo = _fifo(tmp_path, data[:len(data) // 2])
    _cli_refused(capsys, tmp_path, str(fifo), expect=[f"error: {fifo}: unreadable gzip data"])


def test_devices_are_still_refused(tmp_path, capsys, monkeypatch):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    _cli_refused(capsys, tmp_path, "/dev/zero", "--trace-format", "din",
                 expect=["error: /dev/zero: not a regular file"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(open("/dev/zero", "rb")))  # noqa: SIM115
    _cli_refused(capsys, tmp_path, "-", expect=["error: <stdin>: standard input is a device"])


def test_streams_are_for_replay_only(tmp_path, layer_traces):
    fifo = tmp_path / "p.din"
    os.mkfifo(fifo)
    with pytest.raises(TraceError, match="not a regular file"):
        TraceReader(fifo)
    with pytest.raises(TraceError, match="read by `simcache replay` only"):
        TraceReader("-", "din")


def test_progress_on_a_stream_counts_accesses(tmp_path, layer_traces):
    data = layer_traces["din"].read_bytes()
    seen = []
    r = api.replay(hierarchy(SPECS), _fifo(tmp_path, data),
                   progress=lambda done, total: seen.append((done, total)))
    assert seen and all(total == 0 for _, total in seen)
    assert seen[-1][0] == r.to_dict()["trace"]["accesses"]


def test_a_stream_is_read_in_blocks(tmp_path, layer_traces, monkeypatch):
    """Memory stays bounded: no read asks for more than a block (or the sniff's bytes)."""
    asked = []
    real = traces._Peek.read

    def read(self, n=-1):
        asked.append(n)
        return real(self, n)

    monkeypatch.setattr(traces._Peek, "read", read)
    monkeypatch.setattr(traces, "BLOCK", 1000)
    data = layer_traces["din"].read_bytes()
    r = TraceReader(_fifo(tmp_path, data), streams=True, chunk=64)
    assert sum(len(c[0]) for c in r) > 0
    assert asked and all(0 < n <= 1000 for n in asked)


BASH = shutil.which("bash")


@pytest.mark.skipif(not BASH or not shutil.which("zcat"), reason="needs bash and zcat")
def test_the_command_line_with_a_real_pipe_and_process_substitution(tmp_path, layer_traces):
    """The installed command in a shell: `zcat | simcache replay -` and `<(zcat ...)`."""
    gz, plain = layer_traces["din.gz"], layer_traces["din"]
    exe = [sys.executable, "-c", "from simcache.cli import main; main()"]
    cmd = " ".join(f"'{x}'" for x in exe)
    want = subprocess.run([*exe, "replay", "thesis", str(plain), "-f", "json"],
                          capture_output=True, text=True, check=True).stdout
    for line in (f"zcat '{gz}' | {cmd} replay thesis - -f json",
                 f"{cmd} replay thesis <(zcat '{gz}') -f json"):
        got = subprocess.run([BASH, "-c", line], capture_output=True, text=True)
        assert got.returncode == 0, got.stderr
        import json
        assert json.loads(got.stdout)["levels"] == json.loads(want)["levels"]
