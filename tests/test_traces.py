"""Trace files: round trips, the formats' rules, and bad input."""

import gzip
import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import cli, hierarchy
from simcache import loopnest, traces
from simcache.accounting import summarize
from simcache.engine import simulate, simulate_trace
from simcache.layers import make_layer
from simcache.loopnest import plan
from simcache.traces import TraceError, TraceReader, write_trace

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")
SPECS = [dict(size=64, line=4, ways="full", policy="lru", write_back=True, write_allocate=True),
         dict(size=512, line=32, ways=2, policy="lru", write_back=True, write_allocate=True),
         dict(size=2048, line=64, ways=4, policy="fifo", write_back=True, write_allocate=True)]



@pytest.mark.parametrize("ext", ["din", "din.gz", "bin", "bin.gz", "npz"])
@pytest.mark.parametrize("kind", ["spatial", "separable", "group", "depthwise", "fc"])
def test_round_trip_gives_the_counters_of_run(tmp_path, ext, kind):
    layer = make_layer(type=kind, M=4, N=4, F=1 if kind == "fc" else 5,
                       K=1 if kind == "fc" else 3, G=2 if kind == "group" else 1)
    path = tmp_path / f"t.{ext}"
    n = write_trace(plan(layer), path)
    h = hierarchy(SPECS)
    want = simulate(h, layer)
    reader = TraceReader(path)
    got = simulate_trace(h, reader)
    assert n == reader.accesses == want.accesses
    if ext.startswith("bin"):  # no tensor ids in Dinero's binary records
        assert np.array_equal(got.counters.sum(axis=2), want.counters.sum(axis=2))
    else:
        assert np.array_equal(got.counters, want.counters)
        assert reader.tensor_ids


def read_all(path, **kw):
    reader = TraceReader(path, **kw)
    chunks = list(reader)
    return reader, [np.concatenate([c[k] for c in chunks]) for k in range(4)]


def test_dinero_din_rules(tmp_path):
    p = tmp_path / "a.din"
    p.write_text("0 1003\n1 0x2004 and a comment Dinero ignores\n2 400000\n\n# note\n"
                 "0 3000 8 w\n")
    reader, (addr, size, w, t) = read_all(p)
    # without a size, Dinero IV's word: address rounded down to 4, 4 bytes
    assert addr.tolist() == [0x1000, 0x2004, 0x3000]
    assert size.tolist() == [4, 4, 8]
    assert w.tolist() == [0, 1, 0]
    assert t.tolist() == [4, 4, loopnest.W]
    assert reader.instructions == 1


def test_lackey(tmp_path):
    p = tmp_path / "a.lackey"
    p.write_text("==123== Lackey, an example Valgrind tool\nI  0400d7d4,3\n"
                 " L 7ff000398,8\n S 04222cac,4\n M 0421b8b4,4\n")
    reader, (addr, size, w, _) = read_all(p)
    assert addr.tolist() == [0x7FF000398, 0x4222CAC, 0x421B8B4, 0x421B8B4]
    assert size.tolist() == [8, 4, 4, 4]
    assert w.tolist() == [0, 1, 0, 1]  # M: a read, then a write
    assert reader.instructions == 1


@pytest.mark.parametrize("name,content,expect", [
    ("a.din", "0 1000\nzz 12\n", "a.din:2: label 'zz' is not a number"),
    ("a.din", "0 1000\n7 12\n", "a.din:2: label 7 is not a data read (0) or write (1)"),
    ("a.din", "0 1000\n0 12g4\n", "a.din:2: '12g4' is not a hexadecimal address"),
    ("a.din", "0 1ffffffffffffffff\n", "a.din:1: address 1ffffffffffffffff does not fit"),
    ("a.din", "0 1000 0\n", "a.din:1: size '0' is not a positive number"),
    ("a.din", "1\n", "a.din:1: expected 'label address'"),
    ("a.din", "", "a.din: empty trace: no data accesses"),
    ("a.lackey", " Q 1000,4\n", "a.lackey:1: unknown access kind 'Q'"),
    ("a.lackey", " L 1000\n", "a.lackey:1: expected 'I|L|S|M address,size'"),
    ("a.bin", b"\x00\x10\x00\x00\x04\x00\x00\x00\x00\x10", "a.bin:byte 8: truncated record"),
    ("a.bin", b"\x00\x10\x00\x00\x04\x00\x09\x00", "a.bin:byte 0: access type 9"),
    ("a.trace", "0 1000\n", "cannot tell the trace format from the name"),
])
def test_bad_records_name_the_file_and_line(tmp_path, name, content, expect):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TraceError) as info:
        read_all(p)
    assert len(info.value.problems) == 1
    assert expect in info.value.problems[0]


def test_skip_bad_counts_instead(tmp_path):
    p = tmp_path / "a.din"
    p.write_text("0 1000\nzz 12\n1 2000\n9 1\n")
    reader, (addr, *_rest) = read_all(p, skip_bad=True)
    assert addr.tolist() == [0x1000, 0x2000]
    assert reader.skipped == 2 and len(reader.examples) == 2


def test_replay_errors_exit_2_and_write_nothing(tmp_path, capsys):
    p = tmp_path / "a.din.gz"
    with gzip.open(p, "wt") as f:
        f.write("0 1000\n0 zz\n")
    out = tmp_path / "r.json"
    assert cli("replay", THESIS, str(p), "-o", str(out)) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        f"error: {p}:2: 'zz' is not a hexadecimal address"
    assert not out.exists()
    assert cli("replay", THESIS, str(p), "--skip-bad", "-o", str(out)) == 0
    assert out.exists()


def test_replay_report_has_no_tensors_without_ids(tmp_path, capsys):
    p = tmp_path / "a.din"
    p.write_text("0 10000\n1 10000\n0 20000\n")
    assert cli("replay", THESIS, str(p), "-f", "json") == 0
    import json
    doc = json.loads(capsys.readouterr().out)
    assert doc["accesses"] == 3 and doc["layer"] is None
    assert all(lv["by_tensor"] == {} for lv in doc["levels"])
    assert doc["trace"]["format"] == "din"


def test_trace_command_and_binary_address_limit(tmp_path, capsys):
    out = tmp_path / "d.npz"
    assert cli("trace", "--layer", "depthwise", "-F", "6", "-M", "4", "-o", str(out)) == 0
    assert TraceReader(out).fmt == "npz"
    big = tmp_path / "fc.bin"
    assert cli("trace", "--layer", "fc", "-M", "65536", "-N", "16384", "-o", str(big)) == 2
    assert "32-bit addresses" in capsys.readouterr().err
    assert not big.exists() and list(tmp_path.iterdir()) == [out]


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(*a, **k):
        yield from loopnest.trace_chunks(*a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr("simcache.traces.trace_chunks", interrupted)
    target = tmp_path / "x.din"
    with pytest.raises(KeyboardInterrupt):
        write_trace(plan(make_layer(type="pointwise", M=2, N=2, F=4, K=1)), target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("valgrind") is None or shutil.which("gcc") is None,
                    reason="valgrind or gcc is not installed")
def test_a_real_program_traced_by_valgrind_lackey(tmp_path):
    src = tmp_path / "sum.c"
    src.write_text("int a[256];\nint main(void) { int s = 0;\n"
                   "  for (int i = 0; i < 256; i++) a[i] = i;\n"
                   "  for (int i = 0; i < 256; i++) s += a[i];\n  return s & 1; }\n")
    subprocess.run(["gcc", "-O0", "-o", str(tmp_path / "sum"), str(src)], check=True)
    log = tmp_path / "sum.lackey"
    subprocess.run(["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={log}",
                    str(tmp_path / "sum")], check=False, capture_output=True)
    reader, (addr, size, w, _) = read_all(log)
    assert reader.accesses > 512 and reader.instructions > 0
    assert w.sum() >= 256  # at least the stores into a[]
    assert cli("replay", THESIS, str(log), "-f", "json") == 0


# ---------------------------------------------------------------- hostile input


def npz_with(tmp_path, recs, name="chunk000000.npy"):
    p = tmp_path / "h.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w") as m:
        np.lib.format.write_array(m, recs, allow_pickle=True)
    return p


@pytest.mark.parametrize("content,expect", [
    ("0 7ffffffffffffffc 8\n", "a.din:1: access of 8 bytes at 7ffffffffffffffc passes the "
                               "largest address"),
    ("0 1000 1099511627776\n", "a.din:1: size 1099511627776 is more than the largest access"),
    ("0 1000\n" + "0" * 5000 + "\n", "a.din:2: line longer than 4096 bytes"),
    ("\x00\x01\x02binary\xff", "a.din:1: expected 'label address', got '\\x00"),
])
def test_din_limits(tmp_path, content, expect):
    p = tmp_path / "a.din"
    p.write_bytes(content.encode("latin-1"))
    with pytest.raises(TraceError) as info:
        read_all(p)
    assert expect in info.value.problems[0]


def test_an_over_long_line_is_skipped_in_bounded_memory(tmp_path, monkeypatch):
    import simcache.traces as tr
    monkeypatch.setattr(tr, "BLOCK", 1000)  # the line spans many blocks
    p = tmp_path / "a.din"
    p.write_bytes(b"0 1000\n" + b"1" * 100_000 + b"\n1 2000\n")
    reader, (addr, *_rest) = read_all(p, skip_bad=True)
    assert addr.tolist() == [0x1000, 0x2000] and reader.skipped == 1
    assert reader.examples[0].endswith(":2: line longer than 4096 bytes")


def test_lackey_modifies_are_counted(tmp_path):
    p = tmp_path / "a.lackey"
    p.write_text(" M 1000,4\n L 2000,4\n M 3000,8\n")
    reader, (addr, *_rest) = read_all(p)
    assert reader.modifies == 2 and reader.accesses == 5 == len(addr)


@pytest.mark.parametrize("tensor", [5, 127, -1, -128])
def test_npz_tensor_ids_out_of_range_are_refused(tmp_path, tensor):
    recs = np.array([(0x1000, 4, 0, 0), (0x2000, 4, 1, tensor)], dtype=traces.NPZ_RECORD)
    p = npz_with(tmp_path, recs)
    with pytest.raises(TraceError, match=r"chunk000000.npy\[1\]: tensor id is not 0..4"):
        read_all(p)
    reader, (addr, *_rest) = read_all(p, skip_bad=True)
    assert addr.tolist() == [0x1000] and reader.skipped == 1


def test_npz_headers_are_checked_before_reading(tmp_path):
    recs = np.zeros(3, dtype=traces.NPZ_RECORD)
    with pytest.raises(TraceError, match="records are object"):
        read_all(npz_with(tmp_path, np.array([{"a": 1}], dtype=object)))
    with pytest.raises(TraceError, match="expected a 1-D array"):
        read_all(npz_with(tmp_path, recs.reshape(3, 1)))
    # a header claiming 10^12 records in a member of a few bytes
    buf = io.BytesIO()
    np.lib.format.write_array(buf, recs)
    head = buf.getvalue().replace(b"(3,)", b"(1000000000000,)")
    p = tmp_path / "big.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("chunk000000.npy", head)
    with pytest.raises(TraceError, match="the header says 1000000000000 records"):
        read_all(p)


@pytest.mark.parametrize("name,blob", [
    ("a.din.gz", gzip.compress(b"0 1000\n" * 100)[:-9]),  # truncated
    ("a.din.gz", b"\x1f\x8b\x08\x00" + b"garbage" * 10),
    ("a.bin.gz", b"not gzip at all"),
    ("a.npz", b"PK\x03\x04 not a zip"),
])
def test_corrupt_containers_are_trace_errors(tmp_path, name, blob):
    p = tmp_path / name
    p.write_bytes(blob)
    with pytest.raises(TraceError) as info:
        read_all(p)
    assert len(info.value.problems) == 1 and str(p) in info.value.problems[0]


def test_corrupt_npz_member_is_a_trace_error(tmp_path):
    recs = np.zeros(1000, dtype=traces.NPZ_RECORD)
    recs["size"] = 4
    p = npz_with(tmp_path, recs)
    blob = bytearray(p.read_bytes())
    blob[200] ^= 0xFF  # inside the deflated data
    p.write_bytes(bytes(blob))
    with pytest.raises(TraceError, match="member chunk000000.npy"):
        read_all(p)


def test_non_regular_files_are_refused(tmp_path):
    with pytest.raises(TraceError, match="is a directory"):
        TraceReader(tmp_path, "din")
    fifo = tmp_path / "p.din"
    os.mkfifo(fifo)
    with pytest.raises(TraceError, match="not a regular file"):
        TraceReader(fifo)
    if os.path.exists("/dev/zero"):
        with pytest.raises(TraceError, match="not a regular file"):
            TraceReader("/dev/zero", "din")


DINERO = os.environ.get("DINEROIV") or shutil.which("dineroIV")


@pytest.mark.skipif(not DINERO, reason="Dinero IV not found (set DINEROIV)")
def test_din_syntax_is_read_as_dinero_iv_reads_it(tmp_path):
    """Upper-case hex, 0x prefixes on label and address, tabs, trailing spaces and trailing
    text: Dinero IV and simcache see the same accesses (the same misses in one cache)."""
    rng = np.random.default_rng(7)
    lines = []
    for k in range(3000):
        label = int(rng.integers(0, 2))
        addr = int(rng.integers(0, 1 << 14)) * 4 + int(rng.integers(0, 4))
        text = f"{addr:X}" if k % 3 == 0 else f"{addr:x}"
        if k % 5 == 0:
            text = "0x" + text
        lab = f"0x{label}" if k % 7 == 0 else str(label)
        sep = "\t" if k % 2 else " "
        tail = ["", "  ", "\t", " ignored text"][k % 4]
        lines.append(f"{lab}{sep}{text}{tail}\n")
    p = tmp_path / "d.din"
    p.write_text("".join(lines))
    spec = dict(size=1024, line=32, ways=2, policy="lru", write_back=True, write_allocate=True)
    got = simulate_trace(hierarchy([spec]), TraceReader(p))
    c = got.counters[0, 0].sum(axis=0)
    from simcache import kernels as K
    misses = c[K.READS] + c[K.WRITES] - c[K.READ_HITS] - c[K.WRITE_HITS]
    with open(p, "rb") as f:
        out = subprocess.run([DINERO, "-informat", "d", "-l1-dsize", "1k", "-l1-dbsize", "32",
                              "-l1-dassoc", "2", "-l1-drepl", "l", "-l1-dwback", "a",
                              "-l1-dwalloc", "a"], stdin=f, capture_output=True, text=True,
                             check=True).stdout
    fetches = [float(x.split()[2]) for x in out.splitlines() if x.startswith(" Demand Fetches")]
    dmiss = [float(x.split()[2]) for x in out.splitlines() if x.startswith(" Demand Misses")]
    assert fetches[0] == got.accesses == 3000
    assert dmiss[0] == misses


def test_ahead_keeps_order_raises_in_place_and_stops_when_closed():
    import threading

    from simcache.traces import ahead

    assert list(ahead(iter(range(1000)), depth=2)) == list(range(1000))

    def failing():
        yield 1
        yield 2
        raise ValueError("bad block")

    got = []
    with pytest.raises(ValueError, match="bad block"):
        for x in ahead(failing()):
            got.append(x)
    assert got == [1, 2]
    before = threading.active_count()
    gen = ahead(iter(range(10**9)))
    assert next(gen) == 0
    gen.close()  # the producing thread ends
    assert threading.active_count() == before


def test_replay_through_the_api_equals_the_engine_on_the_reader():
    import simcache

    h, _ = simcache.load_config("thesis")
    for name in ("spatial_f8.din", "depthwise_f16.bin.gz", "sum.lackey.gz"):
        path = ROOT / "traces" / name
        direct = simulate_trace(h, TraceReader(path, chunk=997))
        via_api = simcache.replay("thesis", path)
        assert via_api.to_dict()["levels"] == summarize(direct, h, str(path))["levels"]


def test_din_lines_are_written_as_python_formats_them():
    """The compiled din formatter against Python's own formatting of the same records:
    every address width (0 to 2^63 - 1), sizes of 1 to 5 digits, every tensor."""
    from simcache.loopnest import TENSOR_NAMES

    rng = np.random.default_rng(3)
    edges = [0, 1, 9, 15, 16, 255, 256, 2**32 - 1, 2**32, 2**62, 2**63 - 1]
    bits = rng.integers(0, 64, 5000)
    a = np.concatenate([edges, rng.integers(0, 2**63 - 1, 5000, dtype=np.int64) >> bits])
    n = len(a)
    s = np.concatenate([[1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535, 65536],
                        rng.integers(1, 65537, n - 11)])
    w = rng.integers(0, 2, n).astype(np.uint8)
    t = rng.integers(0, 5, n).astype(np.int8)
    want = "".join(f"{wi} {ai:x} {si} {TENSOR_NAMES[ti]}\n" for ai, si, wi, ti in
                   zip(a.tolist(), s.tolist(), w.tolist(), t.tolist(), strict=True))
    assert traces._din_bytes(a, s, w, t) == want.encode()
    assert traces._din_bytes(a[:0], s[:0], w[:0], t[:0]) == b""
