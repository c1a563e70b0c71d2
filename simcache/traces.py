"""Trace files in and out, streamed in chunks.

Formats (traces/README.md describes each):
- din:    Dinero IV's text format, `label address` in hex per line (0 read, 1 write,
          2 instruction fetch). simcache writes `label address size tensor`; Dinero ignores
          the rest of a line, so the file stays valid for it. A third field that is a
          decimal number is the size; without one, an access is Dinero's: 4 bytes at the
          address rounded down to a multiple of 4.
- bin:    Dinero IV's binary format, 8-byte records: address (32-bit little-endian), size
          (16-bit), access type (1 byte: 0 read, 1 write, 2 instruction fetch), padding.
- npz:    simcache's own: a zip of NumPy record arrays, one member per chunk, each record
          (addr uint64, size uint32, write uint8, tensor int8).
- lackey: valgrind --tool=lackey --trace-mem=yes output (read only): `I addr,size`
          instruction fetches, ` L`, ` S` and ` M` (a read, then a write) data accesses.
A `.gz` suffix on din, bin or lackey files adds gzip. Instruction fetches are not data:
they are counted and left out (simcache models the data side).
"""

from __future__ import annotations

import gzip
import os
import queue
import stat
import struct
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from . import textparse as tp
from .errors import SimcacheError
from .loopnest import NONE, TENSOR_NAMES, Plan, trace_chunks, trace_length
from .outfile import atomic_output

FORMATS = ("din", "bin", "npz", "lackey")
WRITABLE = ("din", "bin", "npz")
CHUNK = 1 << 20
MAX_ADDRESS = tp.MAX_ADDRESS  # 2^63-1: addresses are signed 64-bit inside the kernels
MAX_ACCESS = tp.MAX_ACCESS  # 64 KiB: the largest access of one record
BLOCK = 1 << 20  # bytes read at a time from a text trace
NPZ_RECORD = np.dtype([("addr", "<u8"), ("size", "<u4"), ("write", "u1"), ("tensor", "i1")])
BIN_RECORD = np.dtype([("addr", "<u4"), ("size", "<u2"), ("type", "u1"), ("pad", "u1")])
TENSOR_IDS = {name: k for k, name in enumerate(TENSOR_NAMES)}


JOIN_S = 5.0  # seconds to wait for a producing thread once its consumer stops


def ahead(items: Iterable, depth: int = 2) -> Iterator:
    """The items of `items`, produced on a thread while the caller works on the previous
    ones (zlib, the parsers and the kernels all let go of the GIL), at most `depth`
    waiting. An exception of `items` is raised where it would have been met; closing the
    generator stops the thread."""
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                waiting.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fill() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((True, item)):
                    break
            else:
                put((True, end))
        except BaseException as exc:  # handed to the caller
            put((False, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=fill, daemon=True)
    thread.start()
    try:
        while True:
            ok, item = waiting.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
    finally:
        stop.set()
        # a thread blocked reading a pipe whose writer is quiet ends with the writer; not
        # waited for long (it is a daemon), so that Ctrl-C never hangs
        thread.join(timeout=JOIN_S)


class _Ahead:
    """A file read one block ahead on a thread (`ahead`): gzip inflates the next block
    while the parser and the kernels work on this one."""

    def __init__(self, f):
        self._f = f
        self._blocks = ahead(iter(lambda: f.read(BLOCK), b""))
        self._rest = b""

    def read(self, n: int) -> bytes:
        out, have = [self._rest], len(self._rest)
        while have < n:
            block = next(self._blocks, b"")
            if not block:
                break
            out.append(block)
            have += len(block)
        data = b"".join(out)
        self._rest = data[n:]
        return data[:n]

    def close(self) -> None:
        self._blocks.close()
        self._f.close()

    def __enter__(self) -> _Ahead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TraceError(SimcacheError):
    """Problems with a trace file, one formatted line each (`file:line: message`)."""


def detect(path: str | Path, given: str | None = None) -> tuple[str, bool]:
    """(format, gzipped) from --trace-format or the file name."""
    name = Path(path).name.lower()
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    ext = base.rsplit(".", 1)[-1] if "." in base else ""
    fmt = given or (ext if ext in FORMATS else None)
    if fmt is None:
        raise TraceError([f"{path}: cannot tell the trace format from the name; give "
                          f"--trace-format ({', '.join(FORMATS)})"])
    if fmt not in FORMATS:
        raise TraceError([f"--trace-format: {fmt!r} is not one of {', '.join(FORMATS)}"])
    if fmt == "npz" and gz:
        raise TraceError([f"{path}: npz is compressed already; drop the .gz"])
    return fmt, gz


# ---------------------------------------------------------------- reading


class TraceReader:
    """Iterate a trace file as (addr, size, is_write, tensor) chunks of at most `chunk`
    accesses, in bounded memory whatever the file holds.

    Bad records raise TraceError naming the file and line (byte offset for binary,
    `member[index]` for npz), or, with skip_bad, are counted in `skipped` (the first few
    kept in `examples`). `instructions` counts instruction fetches (left out), and
    `modifies` lackey `M` records, each of which became two accesses (a read, a write)."""

    def __init__(self, path: str | Path, fmt: str | None = None, skip_bad: bool = False,
                 chunk: int = CHUNK, streams: bool = False):
        self.skip_bad = skip_bad
        self.chunk = max(int(chunk), 2)
        self.accesses = 0
        self.skipped = 0
        self.examples: list[str] = []
        self.instructions = 0
        self.modifies = 0
        self.tensor_ids = False
        self._raw = None
        self.stream = False  # a pipe read as it comes (`streams`: `-` or a FIFO)
        self._source = None
        if str(path) == STDIN:
            self.path = Path(STDIN_NAME)
            if not streams:
                raise TraceError([f"{STDIN}: a trace from standard input is read by "
                                  "`simcache replay` only; give a trace file"])
            self._open_stream(None, fmt)
            return
        self.path = Path(path)
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise TraceError([f"{self.path}: cannot read trace: {exc.strerror}"]) from None
        if streams and stat.S_ISFIFO(st.st_mode):  # a named pipe, or <(zcat t.din.gz)
            self._open_stream(self.path, fmt)
            return
        self.fmt, self.gz = detect(path, fmt)
        _regular(self.path, st.st_mode)
        self.size = st.st_size

    def _open_stream(self, path: Path | None, given: str | None) -> None:
        """Open standard input (`path` None) or a pipe and tell its format: `given`, else
        the name's, else the first bytes' (`sniff`); gzip always from its magic bytes."""
        self.stream, self.size = True, 0
        if given is not None and given not in FORMATS:
            raise TraceError([f"--trace-format: {given!r} is not one of {', '.join(FORMATS)}"])
        if given == "npz":
            raise TraceError([f"{self.path}: {NPZ_STREAM}"])
        try:
            if path is None:
                mode = os.fstat(sys.stdin.fileno()).st_mode
                if os.isatty(sys.stdin.fileno()):
                    raise TraceError([f"{STDIN_NAME}: standard input is a terminal; pipe a trace "
                                      "into it (zcat t.din.gz | simcache replay CONFIG -)"])
                if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)):
                    raise TraceError([f"{STDIN_NAME}: standard input is a device, not a pipe or a "
                                      "file; give a trace"])
                raw = sys.stdin.buffer
            else:
                raw = open(path, "rb")  # noqa: SIM115 (closed by the readers)
                if not stat.S_ISFIFO(os.fstat(raw.fileno()).st_mode):  # swapped meanwhile
                    raw.close()
                    raise TraceError([f"{path}: no longer a pipe"])
        except (OSError, ValueError, AttributeError) as exc:
            what = getattr(exc, "strerror", None) or exc
            raise TraceError([f"{self.path}: cannot read trace: {what}"]) from None
        outer = _Peek(raw, close=path is not None)
        self._raw = outer
        magic = self._peek(outer, 2)
        self.gz = magic == GZIP_MAGIC
        inner = _Peek(gzip.GzipFile(fileobj=outer), then=outer) if self.gz else outer
        head = self._peek(inner, SNIFF)
        if head[:4] == ZIP_MAGIC:
            raise TraceError([f"{self.path}: {NPZ_STREAM}"])
        named = None
        if path is not None:
            try:
                named = detect(path)[0]
            except TraceError:
                named = None
        self.fmt = given or named or sniff(head)
        if self.fmt is None:
            raise TraceError([f"{self.path}: cannot tell the trace format from its first "
                              f"bytes; give --trace-format ({', '.join(FORMATS[:2])}, "
                              f"{FORMATS[3]})"])
        if self.fmt == "npz":  # a named pipe called *.npz
            raise TraceError([f"{self.path}: {NPZ_STREAM}"])
        self._source = inner

    def _peek(self, f: _Peek, n: int) -> bytes:
        try:
            return f.peek(n)
        except UNREADABLE as exc:
            what = "gzip data" if f is not self._raw else "stream"
            raise self._fail(f"unreadable {what} ({_reason(exc)})") from None

    def position(self) -> int:
        """Bytes of the file consumed so far (for progress); of a stream, whose length is
        not known, the accesses read so far."""
        if self.stream:
            return self.accesses
        try:
            return self._raw.tell() if self._raw is not None else 0
        except (OSError, ValueError):
            return 0

    def _bad(self, where: str, message: str, count: int = 1) -> None:
        """Report `count` bad records, the first of which is described."""
        line = f"{self.path}:{where}: {message}"
        if not self.skip_bad:
            raise TraceError([line])
        self.skipped += count
        if len(self.examples) < EXAMPLES:
            self.examples.append(line)

    def _fail(self, message: str) -> TraceError:
        return TraceError([f"{self.path}: {message}"])

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        read = {"din": self._text, "lackey": self._text, "bin": self._binary,
                "npz": self._npz}[self.fmt]
        for chunk in read():
            if len(chunk[0]):
                self.accesses += len(chunk[0])
                yield chunk
        if self.accesses == 0:
            detail = f" ({self.skipped} bad records skipped)" if self.skipped else ""
            raise self._fail(f"empty trace: no data accesses{detail}")

    def _open(self):
        if self.stream:
            return _Ahead(self._source) if self.gz else self._source
        try:
            self._raw = open(self.path, "rb")  # noqa: SIM115 (closed by the readers)
            _regular(self.path, os.fstat(self._raw.fileno()).st_mode)
        except OSError as exc:
            raise TraceError([f"{self.path}: cannot read trace: {exc.strerror}"]) from None
        return _Ahead(gzip.GzipFile(fileobj=self._raw)) if self.gz else self._raw

    def _read(self, f, n: int) -> bytes:
        try:
            return f.read(n)
        except UNREADABLE as exc:
            what = "gzip data" if self.gz else "file"
            raise self._fail(f"unreadable {what} ({_reason(exc)})") from None

    def _read_full(self, f, n: int) -> bytes:
        """n bytes, or fewer only at the end of the data (gzip reads may return less)."""
        data = self._read(f, n)
        if len(data) in (0, n):
            return data
        parts = [data]
        have = len(data)
        while have < n and (more := self._read(f, n - have)):
            parts.append(more)
            have += len(more)
        return b"".join(parts)

    # -- text formats: the jitted parser (textparse.py) over blocks of raw bytes

    def _text(self):
        parse = tp.PARSERS[tp.DIN if self.fmt == "din" else tp.LACKEY]
        st = tp.new_state()
        out = _empty(self.chunk + 1)
        n, carry, skipping, eof = 0, b"", False, False
        with self._open() as f:
            while not eof:
                block = self._read(f, BLOCK)
                eof = not block
                if skipping:  # the rest of an over-long line, never held whole
                    k = block.find(b"\n")
                    if k < 0:
                        continue
                    block, skipping = block[k + 1:], False
                data = carry + block if carry else block
                buf = np.frombuffer(data, dtype=np.uint8)
                pos = 0
                while True:
                    pos, n, status = parse(buf, pos, len(buf), eof, *out, n, st)
                    if status == tp.FULL:
                        self._count(st)
                        yield tuple(x[:n] for x in out)
                        out, n = _empty(self.chunk + 1), 0
                    elif status == tp.BAD:
                        self._bad(str(int(st[tp.LINE])), self._message(st, data))
                        if st[tp.CODE] == tp.TOO_LONG:
                            k = data.find(b"\n", pos)
                            if k < 0:
                                pos, skipping = len(data), True
                            else:
                                pos = k + 1
                    else:
                        break
                carry = data[pos:]
        self._count(st)
        yield tuple(x[:n] for x in out)

    def _count(self, st: np.ndarray) -> None:
        self.instructions = int(st[tp.INSTR])
        self.modifies = int(st[tp.MODIFY])
        self.tensor_ids = bool(st[tp.TENSORS])

    def _message(self, st: np.ndarray, data: bytes) -> str:
        code = int(st[tp.CODE])
        a = data[st[tp.F0]:st[tp.F1]].decode("ascii", "replace")
        b = data[st[tp.F2]:st[tp.F3]].decode("ascii", "replace")
        if code == tp.TOO_LONG:
            return f"line longer than {tp.MAX_LINE} bytes"
        if code == tp.SHAPE:
            want = "label address" if self.fmt == "din" else "I|L|S|M address,size"
            return f"expected '{want}', got {_quote(a.strip())}"
        return {
            tp.LABEL_TEXT: f"label {_quote(a)} is not a number",
            tp.LABEL_VALUE: f"label {_cut(a)} is not a data read (0) or write (1) "
                            "(2: instruction fetch)",
            tp.ADDR_TEXT: f"{_quote(a)} is not a hexadecimal address",
            tp.ADDR_WIDE: f"address {_cut(a)} does not fit in 63 bits",
            tp.SIZE_ZERO: f"size {_quote(a)} is not a positive number",
            tp.SIZE_LARGE: f"size {_cut(a)} is more than the largest access, "
                           f"{MAX_ACCESS} bytes",
            tp.PAST_LIMIT: f"access of {_cut(b)} bytes at {_cut(a)} passes the largest "
                           "address, 2^63-1",
            tp.KIND: f"unknown access kind {_quote(a)} (expected I, L, S or M)",
        }[code]

    # -- binary formats

    def _binary(self):
        record = BIN_RECORD.itemsize
        offset = 0
        with self._open() as f:
            while True:
                data = self._read_full(f, self.chunk * record)
                if not data:
                    break
                whole = len(data) - len(data) % record  # short only at the end of the file
                buf = np.frombuffer(data, dtype=np.uint8, count=whole)
                out = _empty(whole // record)
                n, instr, nbad = tp.parse_bin(buf, *out)
                self.instructions += instr
                if nbad:  # rare: describe the first few with NumPy
                    recs = np.frombuffer(data[:whole], dtype=BIN_RECORD)
                    kind, size = recs["type"], recs["size"]
                    where = np.flatnonzero((kind > 2) | (size == 0))
                    for j, k in enumerate(where[:max(1, EXAMPLES - len(self.examples))]):
                        what = (f"access type {kind[k]} is not a read (0), write (1) or "
                                "instruction fetch (2)" if kind[k] > 2 else "size 0")
                        self._bad(f"byte {offset + k * record}", what, nbad if j == 0 else 0)
                if whole != len(data):  # after the whole records before it
                    self._bad(f"byte {offset + whole}",
                              f"truncated record: {len(data) - whole} of {record} bytes")
                offset += whole
                yield tuple(x[:n] for x in out)

    def _npz(self):
        try:
            zf = zipfile.ZipFile(self.path)
        except UNREADABLE as exc:
            raise self._fail(f"not a simcache .npz trace ({_reason(exc)})") from None
        with zf:
            self._raw = zf.fp
            infos = sorted((i for i in zf.infolist() if i.filename.startswith("chunk")),
                           key=lambda i: i.filename)
            if not infos and zf.infolist():
                raise self._fail("not a simcache .npz trace (no chunk members)")
            for info in infos:
                try:
                    yield from self._member(zf, info)
                except UNREADABLE as exc:
                    raise self._fail(f"member {info.filename}: unreadable "
                                     f"({_reason(exc)})") from None

    def _member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo):
        """One member's records, read in pieces of `chunk` records after checking the
        header: the dtype, 1-D shape and length must match what the zip says it holds."""
        name = info.filename
        with zf.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise self._fail(f"member {name}: .npy version {version} is not supported")
            if dtype != NPZ_RECORD or dtype.hasobject:
                raise self._fail(f"member {name}: records are {dtype}, expected "
                                 f"{NPZ_RECORD}")
            if len(shape) != 1 or fortran:
                raise self._fail(f"member {name}: records of shape {shape}, expected "
                                 "a 1-D array")
            count, head = int(shape[0]), member.tell()
            if head + count * NPZ_RECORD.itemsize != info.file_size:
                raise self._fail(f"member {name}: the header says {count} records, the zip "
                                 f"holds {max(info.file_size - head, 0)} bytes of them")
            done = 0
            while done < count:
                k = min(self.chunk, count - done)
                data = member.read(k * NPZ_RECORD.itemsize)
                if len(data) != k * NPZ_RECORD.itemsize:
                    raise self._fail(f"member {name}: truncated at record {done}")
                recs = np.frombuffer(data, dtype=NPZ_RECORD)
                yield self._checked(name, done, recs)
                done += k

    def _checked(self, name: str, first: int, recs: np.ndarray) -> tuple[np.ndarray, ...]:
        addr, size = recs["addr"], recs["size"].astype(np.uint64)
        write, tensor = recs["write"], recs["tensor"]
        problems = [
            (size == 0, "size 0"),
            (size > MAX_ACCESS, f"size is more than the largest access, {MAX_ACCESS} bytes"),
            (addr > MAX_ADDRESS, "address does not fit in 63 bits"),
            (addr + (size - 1) > MAX_ADDRESS, "the access passes the largest address, 2^63-1"),
            (write > 1, "write is not 0 or 1"),
            ((tensor < 0) | (tensor > NONE), f"tensor id is not 0..{NONE} (x, w, y, t, -)"),
        ]
        bad = np.zeros(len(recs), dtype=bool)
        for mask, _ in problems:
            bad |= mask
        if bad.any():
            where = np.flatnonzero(bad)
            for j, k in enumerate(where[:max(1, EXAMPLES - len(self.examples))]):
                what = next(m for mask, m in problems if mask[k])
                self._bad(f"{name}[{first + k}]", what, len(where) if j == 0 else 0)
            recs = recs[~bad]
        self.tensor_ids = self.tensor_ids or bool(np.any(recs["tensor"] != NONE))
        return (recs["addr"].astype(np.int64), recs["size"].astype(np.int64),
                recs["write"].astype(np.uint8), recs["tensor"].astype(np.int8))


STDIN, STDIN_NAME = "-", "<stdin>"
GZIP_MAGIC, ZIP_MAGIC = b"\x1f\x8b", b"PK\x03\x04"
GZIP_LEVEL = 6
SNIFF = 4096  # bytes of a stream looked at to tell its format
NPZ_STREAM = ("an npz trace is a zip archive, whose index is at its end: it cannot be read "
              "from a pipe; give the file")


class _Peek:
    """A stream whose first bytes can be looked at (`peek`) and then read again."""

    def __init__(self, f, close: bool = True, then: _Peek | None = None):
        self._f = f
        self._head = b""
        self._close = close
        self._then = then  # closed after f (the file under a gzip stream)

    def peek(self, n: int) -> bytes:
        """The first n bytes (fewer at the end of the stream), kept for `read`."""
        parts, have = [self._head], len(self._head)
        while have < n:
            more = self._f.read(n - have)
            if not more:
                break
            parts.append(more)
            have += len(more)
        self._head = b"".join(parts)
        return self._head[:n]

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._f.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._f.read(n)

    def close(self) -> None:
        try:
            if self._close:
                self._f.close()
        finally:
            if self._then is not None:
                self._then.close()

    def __enter__(self) -> _Peek:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sniff(head: bytes) -> str | None:
    """The format of a stream from its first bytes (gzip already undone): text made of
    lines is din (`label address`) or lackey (`I|L|S|M address,size`, valgrind's `==`
    lines), told by its first line that is neither blank nor a comment; anything else is
    bin if its whole records have access types 0-2 and sizes above 0; else None."""
    if not head:
        return "din"  # an empty stream: the reader says it is empty
    body = head[:head.rfind(b"\n") + 1] or head  # whole lines, unless one is all there is
    if not any(c < 9 for c in head):  # text: a binary record's access type is 0, 1 or 2
        for line in body.split(b"\n"):
            fields = line.split()
            if not fields or fields[0].startswith((b"#", b"==")):
                continue
            if fields[0] in (b"I", b"L", b"S", b"M") and len(fields) == 2 and b"," in fields[1]:
                return "lackey"
            label = fields[0].lower().removeprefix(b"0x")
            if len(fields) >= 2 and label in (b"0", b"1", b"2"):
                return "din"
            return None
        return None
    whole = len(head) - len(head) % BIN_RECORD.itemsize
    if whole == 0:
        return None
    recs = np.frombuffer(head[:whole], dtype=BIN_RECORD)
    if np.all(recs["type"] <= 2) and np.all(recs["size"] > 0):
        return "bin"
    return None


UNREADABLE = (OSError, EOFError, zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile,
              struct.error, ValueError, NotImplementedError, RuntimeError, KeyError,
              UnicodeDecodeError, OverflowError, MemoryError, SyntaxError)
EXAMPLES = 3  # bad records quoted with --skip-bad


def _regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise TraceError([f"{path}: is a directory, not a trace file"])
    if not stat.S_ISREG(mode):
        raise TraceError([f"{path}: not a regular file (a device, pipe or socket); "
                          "give a trace file"])


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return _cut(text or type(exc).__name__, 80)


def _cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _quote(text: str) -> str:
    return repr(_cut(text))


def _empty(n: int) -> list[np.ndarray]:
    return [np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.uint8),
            np.empty(n, np.int8)]



# ---------------------------------------------------------------- writing


def write_trace(plan: Plan, path: str | Path, fmt: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Stream a layer's trace to `path`, whole or not at all. Returns the accesses written."""
    top = max(t.base + t.nbytes for t in plan.tensors)
    return write_chunks(trace_chunks(plan, CHUNK), path, fmt, top, trace_length(plan),
                        "layer", progress)


def write_chunks(chunks: Iterable[tuple[np.ndarray, ...]], path: str | Path,
                 fmt: str | None = None, top: int = 0, total: int = 0, what: str = "trace",
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Stream (addr, size, is_write, tensor) chunks to `path` in a writable format (from
    `fmt` or the name), whole or not at all: a temporary file renamed at the end. `top`:
    the end of the highest address (checked against the 32-bit addresses of .bin before
    anything is written); `total`: the accesses expected, for `progress(written, total)`.
    Returns the accesses written."""
    path = Path(path)
    fmt, gz = detect(path, fmt)
    if fmt not in WRITABLE:
        raise TraceError([f"{path}: simcache reads {fmt} traces but does not write them"])
    if fmt == "bin" and top > 1 << 32:
        raise TraceError([f"{path}: the {what}'s addresses reach {hex(top)}; Dinero's binary "
                          "format holds 32-bit addresses: write .din or .npz"])
    written = 0
    with atomic_output(path) as raw:
        if fmt == "npz":
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED,
                                 allowZip64=True) as zf:
                for k, (a, s, w, t) in enumerate(_rechunked(chunks)):
                    recs = np.empty(len(a), dtype=NPZ_RECORD)
                    recs["addr"], recs["size"], recs["write"], recs["tensor"] = a, s, w, t
                    with zf.open(f"chunk{k:06d}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, recs, allow_pickle=False)
                    written += len(a)
                    if progress:
                        progress(written, total)
        else:
            # level 6, gzip's own default: 9 (GzipFile's) took 12x as long for 0.6 % less
            out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL) if gz else raw
            with out:
                for a, s, w, t in chunks:
                    out.write(_din_bytes(a, s, w, t) if fmt == "din" else _bin_bytes(a, s, w))
                    written += len(a)
                    if progress:
                        progress(written, total)
    return written


def _rechunked(chunks: Iterable[tuple[np.ndarray, ...]], size: int = CHUNK
               ) -> Iterator[tuple[np.ndarray, ...]]:
    """The same accesses in chunks of about `size` (at most 2 * size): the many small
    chunks of a network's operators become few npz members."""
    held: list[tuple[np.ndarray, ...]] = []
    n = 0
    for c in chunks:
        if not len(c[0]):
            continue
        held.append(c)
        n += len(c[0])
        if n >= size:
            yield tuple(np.concatenate([h[k] for h in held]) for k in range(4))
            held, n = [], 0
    if held:
        yield tuple(np.concatenate([h[k] for h in held]) for k in range(4))


_NAME_BYTES = np.frombuffer("".join(TENSOR_NAMES).encode(), dtype=np.uint8).copy()


def _din_bytes(a, s, w, t) -> bytes:
    """Records as din lines `label address size tensor` (textparse.format_din, compiled: a
    network's tens of millions of lines took minutes formatted one by one in Python)."""
    out = np.empty(len(a) * tp.DIN_LINE_MAX, dtype=np.uint8)
    n = tp.format_din(np.ascontiguousarray(a, np.int64), np.ascontiguousarray(s, np.int64),
                      np.ascontiguousarray(w, np.uint8), np.ascontiguousarray(t, np.int8),
                      _NAME_BYTES, out)
    return out[:n].tobytes()


def _bin_bytes(a, s, w) -> bytes:
    recs = np.zeros(len(a), dtype=BIN_RECORD)
    recs["addr"], recs["size"], recs["type"] = a, s, w
    return recs.tobytes()
