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
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .errors import SimcacheError
from .loopnest import NONE, TENSOR_NAMES, Plan, trace_chunks
from .outfile import atomic_output

FORMATS = ("din", "bin", "npz", "lackey")
WRITABLE = ("din", "bin", "npz")
CHUNK = 1 << 20
MAX_ADDRESS = (1 << 63) - 1  # addresses are signed 64-bit inside the kernels
NPZ_RECORD = np.dtype([("addr", "<u8"), ("size", "<u4"), ("write", "u1"), ("tensor", "i1")])
BIN_RECORD = np.dtype([("addr", "<u4"), ("size", "<u2"), ("type", "u1"), ("pad", "u1")])
TENSOR_IDS = {name: k for k, name in enumerate(TENSOR_NAMES)}


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
    """Iterate a trace file as (addr, size, is_write, tensor) chunks.

    Bad records raise TraceError naming the file and line (byte offset for binary), or,
    with skip_bad, are counted in `skipped` (the first few kept in `examples`)."""

    def __init__(self, path: str | Path, fmt: str | None = None, skip_bad: bool = False,
                 chunk: int = CHUNK):
        self.path = Path(path)
        self.fmt, self.gz = detect(path, fmt)
        self.skip_bad = skip_bad
        self.chunk = chunk
        self.accesses = 0
        self.skipped = 0
        self.examples: list[str] = []
        self.instructions = 0
        self.tensor_ids = False
        self._raw = None
        try:
            self.size = self.path.stat().st_size
        except OSError as exc:
            raise TraceError([f"{self.path}: cannot read trace: {exc.strerror}"]) from None

    def position(self) -> int:
        """Bytes of the file consumed so far (for progress)."""
        try:
            return self._raw.tell() if self._raw is not None else 0
        except (OSError, ValueError):
            return 0

    def _bad(self, where: str, message: str) -> None:
        line = f"{self.path}:{where}: {message}"
        if not self.skip_bad:
            raise TraceError([line])
        self.skipped += 1
        if len(self.examples) < 3:
            self.examples.append(line)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        read = {"din": self._text, "lackey": self._text, "bin": self._binary,
                "npz": self._npz}[self.fmt]
        for chunk in read():
            if len(chunk[0]):
                self.accesses += len(chunk[0])
                yield chunk
        if self.accesses == 0:
            detail = f" ({self.skipped} bad records skipped)" if self.skipped else ""
            raise TraceError([f"{self.path}: empty trace: no data accesses{detail}"])

    def _open(self):
        try:
            self._raw = open(self.path, "rb")  # noqa: SIM115 (closed by the readers)
        except OSError as exc:
            raise TraceError([f"{self.path}: cannot read trace: {exc.strerror}"]) from None
        return gzip.GzipFile(fileobj=self._raw) if self.gz else self._raw

    # -- text formats

    def _text(self):
        parse = self._din_line if self.fmt == "din" else self._lackey_line
        rows: list[tuple[int, int, int, int]] = []
        with self._open() as f:
            try:
                for number, raw in enumerate(io.TextIOWrapper(f, encoding="ascii",
                                                              errors="replace"), 1):
                    parse(raw, number, rows)
                    if len(rows) >= self.chunk:
                        yield _arrays(rows)
                        rows = []
            except (EOFError, OSError, gzip.BadGzipFile) as exc:
                raise TraceError([f"{self.path}: unreadable ({exc})"]) from None
        yield _arrays(rows)

    def _address(self, text: str, number: int) -> int | None:
        try:
            value = int(text, 16)
        except ValueError:
            self._bad(str(number), f"{text!r} is not a hexadecimal address")
            return None
        if value < 0 or value > MAX_ADDRESS:
            self._bad(str(number), f"address {text} does not fit in 63 bits")
            return None
        return value

    def _din_line(self, raw: str, number: int, rows: list) -> None:
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            return
        if len(fields) < 2:
            self._bad(str(number), f"expected 'label address', got {raw.strip()!r}")
            return
        try:
            label = int(fields[0], 16)
        except ValueError:
            self._bad(str(number), f"label {fields[0]!r} is not a number")
            return
        if label == 2:
            self.instructions += 1
            return
        if label not in (0, 1):
            self._bad(str(number), f"label {fields[0]} is not a data read (0) or write (1)")
            return
        addr = self._address(fields[1], number)
        if addr is None:
            return
        size, tensor = 4, NONE
        if len(fields) >= 3 and fields[2].isdigit():  # anything else is a comment to Dinero
            if int(fields[2]) == 0:
                self._bad(str(number), f"size {fields[2]!r} is not a positive number")
                return
            size = int(fields[2])
            if len(fields) >= 4 and fields[3] in TENSOR_IDS:
                tensor = TENSOR_IDS[fields[3]]
                self.tensor_ids = self.tensor_ids or tensor != NONE
        else:
            addr &= ~3  # Dinero IV's din: a 4-byte word
        rows.append((addr, size, label, tensor))

    def _lackey_line(self, raw: str, number: int, rows: list) -> None:
        if raw.startswith("==") or not raw.strip():
            return  # valgrind's own messages
        fields = raw.split()
        kind = fields[0]
        if len(fields) != 2 or "," not in fields[1]:
            self._bad(str(number), f"expected 'I|L|S|M address,size', got {raw.strip()!r}")
            return
        text, _, size_text = fields[1].partition(",")
        if kind not in ("I", "L", "S", "M"):
            self._bad(str(number), f"unknown access kind {kind!r} (expected I, L, S or M)")
            return
        addr = self._address(text, number)
        if addr is None:
            return
        if not size_text.isdigit() or int(size_text) == 0:
            self._bad(str(number), f"size {size_text!r} is not a positive number")
            return
        size = int(size_text)
        if kind == "I":
            self.instructions += 1
        elif kind == "M":  # modify: a read, then a write
            rows.append((addr, size, 0, NONE))
            rows.append((addr, size, 1, NONE))
        else:
            rows.append((addr, size, 1 if kind == "S" else 0, NONE))

    # -- binary formats

    def _binary(self):
        record = BIN_RECORD.itemsize
        offset = 0
        with self._open() as f:
            while True:
                try:
                    data = f.read(self.chunk * record)
                except (EOFError, OSError, gzip.BadGzipFile) as exc:
                    raise TraceError([f"{self.path}: unreadable ({exc})"]) from None
                if not data:
                    break
                whole = len(data) - len(data) % record
                if whole != len(data):
                    more = f.read(record)
                    if more:
                        data += more
                        whole = len(data) - len(data) % record
                if whole != len(data):
                    self._bad(f"byte {offset + whole}",
                              f"truncated record: {len(data) - whole} of {record} bytes")
                recs = np.frombuffer(data[:whole], dtype=BIN_RECORD)
                keep = recs["type"] <= 1
                self.instructions += int(np.count_nonzero(recs["type"] == 2))
                for k in np.flatnonzero((recs["type"] > 2) | (recs["size"] == 0)):
                    r = recs[k]
                    what = (f"access type {r['type']} is not a read (0), write (1) or "
                            "instruction fetch (2)" if r["type"] > 2 else "size 0")
                    self._bad(f"byte {offset + k * record}", what)
                keep &= recs["size"] > 0
                recs = recs[keep]
                offset += whole
                yield (recs["addr"].astype(np.int64), recs["size"].astype(np.int64),
                       recs["type"].astype(np.uint8), np.full(len(recs), NONE, np.int8))

    def _npz(self):
        try:
            zf = zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise TraceError([f"{self.path}: not a simcache .npz trace ({exc})"]) from None
        self._raw = None
        with zf:
            names = sorted(n for n in zf.namelist() if n.startswith("chunk"))
            if not names and zf.namelist():
                raise TraceError([f"{self.path}: not a simcache .npz trace (no chunk members)"])
            for name in names:
                with zf.open(name) as member:
                    try:
                        recs = np.lib.format.read_array(member)
                    except ValueError as exc:
                        raise TraceError([f"{self.path}: member {name}: {exc}"]) from None
                if recs.dtype != NPZ_RECORD:
                    raise TraceError([f"{self.path}: member {name}: records are {recs.dtype}, "
                                      f"expected {NPZ_RECORD}"])
                bad = (recs["size"] == 0) | (recs["addr"] > MAX_ADDRESS)
                for k in np.flatnonzero(bad):
                    self._bad(f"{name}[{k}]", "size 0" if recs["size"][k] == 0
                              else "address does not fit in 63 bits")
                recs = recs[~bad]
                self.tensor_ids = self.tensor_ids or bool(np.any(recs["tensor"] != NONE))
                yield (recs["addr"].astype(np.int64), recs["size"].astype(np.int64),
                       recs["write"].astype(np.uint8), recs["tensor"].astype(np.int8))


def _arrays(rows: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, ...]:
    if not rows:
        e = np.zeros(0, np.int64)
        return e, e, e.astype(np.uint8), e.astype(np.int8)
    a = np.array(rows, dtype=np.int64)
    return a[:, 0], a[:, 1], a[:, 2].astype(np.uint8), a[:, 3].astype(np.int8)


# ---------------------------------------------------------------- writing


def write_trace(plan: Plan, path: str | Path, fmt: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> int:
    """Stream a layer's trace to `path`, whole or not at all. Returns the accesses written."""
    path = Path(path)
    fmt, gz = detect(path, fmt)
    if fmt not in WRITABLE:
        raise TraceError([f"{path}: simcache reads {fmt} traces but does not write them"])
    top = max(t.base + t.nbytes for t in plan.tensors)
    if fmt == "bin" and top > 1 << 32:
        raise TraceError([f"{path}: the layer's addresses reach {hex(top)}; Dinero's binary "
                          "format holds 32-bit addresses: write .din or .npz"])
    total = 4 * plan.iterations
    written = 0
    with atomic_output(path) as raw:
        if fmt == "npz":
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED,
                                 allowZip64=True) as zf:
                for k, (a, s, w, t) in enumerate(trace_chunks(plan, CHUNK)):
                    recs = np.empty(len(a), dtype=NPZ_RECORD)
                    recs["addr"], recs["size"], recs["write"], recs["tensor"] = a, s, w, t
                    with zf.open(f"chunk{k:06d}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, recs, allow_pickle=False)
                    written += len(a)
                    if progress:
                        progress(written, total)
        else:
            out = gzip.GzipFile(fileobj=raw, mode="wb") if gz else raw
            with out:
                for a, s, w, t in trace_chunks(plan, CHUNK):
                    out.write(_din_bytes(a, s, w, t) if fmt == "din" else _bin_bytes(a, s, w))
                    written += len(a)
                    if progress:
                        progress(written, total)
    return written


def _din_bytes(a, s, w, t) -> bytes:
    names = TENSOR_NAMES
    return "".join(f"{wi} {ai:x} {si} {names[ti]}\n" for ai, si, wi, ti in
                   zip(a.tolist(), s.tolist(), w.tolist(), t.tolist(), strict=True)).encode()


def _bin_bytes(a, s, w) -> bytes:
    recs = np.zeros(len(a), dtype=BIN_RECORD)
    recs["addr"], recs["size"], recs["type"] = a, s, w
    return recs.tobytes()
