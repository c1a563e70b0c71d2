"""Fuzz the trace readers: on random bytes and on well-formed-but-wrong records, every
reader returns exactly the records of the plain-Python reference (tests/naive.py), or
raises TraceError; it never crashes, hangs or drops a record without counting it."""

import gzip
import io
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from helpers import examples
from simcache import traces
from simcache.traces import NPZ_RECORD, TraceError, TraceReader

SETTINGS = settings(max_examples=examples(150), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------ text formats


def hexes(draw_value):
    return st.builds(lambda v, up, pre: ("0x" if pre else "") + (f"{v:X}" if up else f"{v:x}"),
                     draw_value, st.booleans(), st.booleans())


ADDRS = st.one_of(st.integers(0, 1 << 20), st.integers((1 << 63) - 70000, (1 << 63) + 5),
                  st.integers((1 << 63) - 5, (1 << 64) + 5), st.just((1 << 63) - 4),
                  st.integers(0, (1 << 63) - 1))
SIZES = st.sampled_from(["1", "4", "8", "0", "00", "65536", "65537", "1099511627776", "x"])
SEPS = st.sampled_from([" ", "\t", "  ", " \t", "\r", ""])
ENDS = st.sampled_from(["\n", "\r\n", " \n", "\t\n", "\n\n"])
JUNK = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=6)


@st.composite
def din_line(draw):
    label = draw(st.sampled_from(["0", "1", "2", "3", "4", "0x1", "01", "a", "zz", "#", ""]))
    parts = [label, draw(st.one_of(hexes(ADDRS), JUNK))]
    if draw(st.booleans()):
        parts.append(draw(SIZES))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(["x", "w", "y", "t", "-", "q", "xx"])))
    if draw(st.booleans()):
        parts.append(draw(JUNK))
    sep = draw(SEPS)
    return (draw(SEPS) + sep.join(parts) + draw(ENDS)).encode("latin-1")


@st.composite
def lackey_line(draw):
    if draw(st.integers(0, 9)) == 0:
        return b"==12== valgrind says\n"
    kind = draw(st.sampled_from(["I", "L", "S", "M", "Q", "LL", ""]))
    field = draw(hexes(ADDRS)) + draw(st.sampled_from([",", ";", ",,"])) + draw(SIZES)
    parts = [kind, field] + ([draw(JUNK)] if draw(st.integers(0, 4)) == 0 else [])
    lead = draw(st.sampled_from(["", " ", "  "]))
    return (lead + draw(SEPS).join(parts) + draw(ENDS)).encode("latin-1")


def text_inputs(line):
    well_formed_but_wrong = st.lists(line, max_size=25).map(b"".join)
    tail_cut = st.tuples(well_formed_but_wrong, st.integers(0, 3)).map(
        lambda x: x[0][:len(x[0]) - x[1]])  # a last line without its newline
    return st.one_of(well_formed_but_wrong, tail_cut, st.binary(max_size=300))


def write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def read(path, skip_bad, **kw):
    reader = TraceReader(path, skip_bad=skip_bad, **kw)
    chunks = list(reader)
    recs = [tuple(int(c[k][j]) for k in range(4)) for c in chunks for j in range(len(c[0]))]
    return reader, recs


def check_text(path: Path, data: bytes, fmt: str, chunk: int) -> None:
    records, bad, instructions, modifies = naive.read_text_trace(data, fmt)
    # with --skip-bad: the records, and every bad line counted
    if not records:
        with pytest.raises(TraceError, match="empty trace"):
            read(path, True, chunk=chunk)
    else:
        reader, got = read(path, True, chunk=chunk)
        assert got == records
        assert reader.skipped == len(bad)
        assert [e.split(":")[1] for e in reader.examples] == [str(b) for b in bad[:3]]
        assert reader.instructions == instructions and reader.modifies == modifies
        assert reader.accesses == len(records)
    # without: the first bad line is the error
    if bad:
        with pytest.raises(TraceError) as info:
            read(path, False, chunk=chunk)
        assert len(info.value.problems) == 1
        assert info.value.problems[0].startswith(f"{path}:{bad[0]}: ")
    elif records:
        assert read(path, False, chunk=chunk)[1] == records


@pytest.mark.parametrize("fmt,line", [("din", din_line()), ("lackey", lackey_line())])
def test_text_readers_agree_with_the_reference(fmt, line, monkeypatch):
    @SETTINGS
    @given(data=text_inputs(line), block=st.sampled_from([3, 17, 1 << 20]),
           chunk=st.sampled_from([2, 3, 1 << 20]))
    def run(data, block, chunk):
        monkeypatch.setattr(traces, "BLOCK", block)
        with tempfile.TemporaryDirectory() as tmp:
            check_text(write(Path(tmp), f"t.{fmt}", data), data, fmt, chunk)
    run()


@pytest.mark.parametrize("fmt,line", [("din", din_line()), ("lackey", lackey_line())])
def test_gzipped_text_agrees_or_fails_cleanly(fmt, line):
    @SETTINGS
    @given(data=text_inputs(line), flip=st.one_of(st.none(), st.tuples(st.integers(0, 10**6),
                                                                       st.integers(1, 255))),
           cut=st.integers(0, 12))
    def run(data, flip, cut):
        blob = bytearray(gzip.compress(data))
        if flip is not None:
            blob[flip[0] % len(blob)] ^= flip[1]
        blob = bytes(blob[:len(blob) - cut]) if flip is None and cut else bytes(blob)
        try:
            plain = gzip.GzipFile(fileobj=io.BytesIO(blob)).read()
        except (OSError, EOFError, ValueError, gzip.zlib.error):
            plain = None
        with tempfile.TemporaryDirectory() as tmp:
            path = write(Path(tmp), f"t.{fmt}.gz", blob)
            if plain is None:
                with pytest.raises(TraceError):
                    read(path, True)
            else:
                check_text(path, plain, fmt, 1 << 20)
    run()


# ------------------------------------------------------------ bin


def reference_bin(data: bytes):
    """(records, bad byte offsets, instructions) of Dinero IV binary records."""
    records, bad, instructions = [], [], 0
    whole = len(data) - len(data) % 8
    for off in range(0, whole, 8):
        addr, size, kind, _ = struct.unpack("<IHBB", data[off:off + 8])
        if kind > 2 or size == 0:
            bad.append(off)
        elif kind == 2:
            instructions += 1
        else:
            records.append((addr, size, kind, naive.NONE))
    if whole != len(data):
        bad.append(whole)
    return records, bad, instructions


def bin_records():
    rec = st.tuples(st.integers(0, (1 << 32) - 1), st.sampled_from([0, 1, 4, 8, 65535]),
                    st.integers(0, 5), st.integers(0, 255))
    return st.lists(rec, max_size=30).map(lambda rs: b"".join(struct.pack("<IHBB", *r)
                                                               for r in rs))


@SETTINGS
@given(data=st.one_of(bin_records(), bin_records().map(lambda b: b + b"\x01\x02"),
                      st.binary(max_size=200)),
       gz=st.booleans(), chunk=st.sampled_from([1, 3, 1 << 20]))
def test_bin_reader_agrees_with_the_reference(data, gz, chunk):
    records, bad, instructions = reference_bin(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "t.bin.gz" if gz else "t.bin",
                     gzip.compress(data) if gz else data)
        if records:
            reader, got = read(path, True, chunk=chunk)
            assert got == records and reader.skipped == len(bad)
            assert reader.instructions == instructions
        else:
            with pytest.raises(TraceError):
                read(path, True, chunk=chunk)
        if bad:
            with pytest.raises(TraceError, match=f"byte {bad[0]}:"):
                read(path, False, chunk=chunk)


# ------------------------------------------------------------ npz


def valid_npz_record(r) -> bool:
    addr, size, write, tensor = r
    return (1 <= size <= traces.MAX_ACCESS and addr + size - 1 <= traces.MAX_ADDRESS
            and write <= 1 and 0 <= tensor <= naive.NONE)


def npz_bytes(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, recs in enumerate(members):
            with zf.open(f"chunk{k:06d}.npy", "w") as m:
                np.lib.format.write_array(m, recs)
    return buf.getvalue()


NPZ_REC = st.tuples(st.one_of(st.integers(0, 1 << 20), st.integers(0, (1 << 64) - 1)),
                    st.sampled_from([0, 1, 4, 65536, 65537, (1 << 32) - 1]),
                    st.sampled_from([0, 1, 2, 255]), st.integers(-128, 127))


@SETTINGS
@given(members=st.lists(st.lists(NPZ_REC, max_size=12), min_size=1, max_size=3),
       chunk=st.sampled_from([1, 4, 1 << 20]))
def test_npz_reader_checks_every_field(members, chunk):
    arrays = [np.array(m, dtype=NPZ_RECORD) for m in members]
    flat = [r for m in members for r in m]
    records = [r for r in flat if valid_npz_record(r)]
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "t.npz", npz_bytes(arrays))
        if records:
            reader, got = read(path, True, chunk=chunk)
            assert got == records
            assert reader.skipped == len(flat) - len(records)
        else:
            with pytest.raises(TraceError):
                read(path, True, chunk=chunk)
        if len(records) != len(flat):
            with pytest.raises(TraceError, match=r"chunk\d+\.npy\[\d+\]"):
                read(path, False, chunk=chunk)


@SETTINGS
@given(flip=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1,
                     max_size=3))
def test_corrupt_npz_agrees_with_numpy_or_fails_cleanly(flip):
    recs = np.array([(0x1000 + 4 * k, 4, k % 2, k % 5) for k in range(40)], dtype=NPZ_RECORD)
    blob = bytearray(npz_bytes([recs]))
    for at, x in flip:
        blob[at % len(blob)] ^= x
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "t.npz", bytes(blob))
        try:
            _, got = read(path, False)
        except TraceError:
            return
        want = [tuple(int(v) for v in r) for r in np.load(path)["chunk000000"]]
        assert got == want
