"""`simcache csim`: CS:APP Cache Lab's reference simulator (`csim-ref`), on simcache's engine.

One cache of 2^s sets, E lines per set and 2^b-byte blocks, LRU, write-allocate (a store
is placed as a load is), above main memory: one `engine.State` level, never a second cache
model. The trace is valgrind lackey output, read by simcache's lackey reader
(traces.TraceReader): `I` lines are left out, `M` is a load then a store of the same
address. An access touches only the block that holds its address; its size is printed,
never simulated (Cache Lab assumes no access straddles a block).

Without -v the trace is replayed in chunks; hits and misses come from the level's
counters, and evictions are the misses that found their set full, which in a cache that
never invalidates is misses minus the lines filled at the end. With -v each access is
replayed alone, and what it did is read from the counters and from its set before and
after: a hit, or a miss, and an eviction if the set held as many lines after as before.

docs/model.md ("csim: a Cache Lab reference") states the semantics and where they depart
from simcache's default model.
"""

from __future__ import annotations

import gzip
import numbers
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import kernels as K
from .config import MAX_LINE, Geometry
from .engine import State, memory_limit, state_bytes
from .errors import SimcacheError
from .traces import TraceError, TraceReader

ADDRESS_BITS = 64  # Cache Lab's addresses: s + b may use all of them
RESULTS = ".csim_results"  # what cachelab.c's printSummary writes, and test-csim reads
LINE_BITS = MAX_LINE.bit_length() - 1  # the largest line simcache's configs take: 2^20 B
LEVEL = 0  # the cache's level in the engine; memory is level 1


@dataclass(frozen=True)
class Totals:
    hits: int
    misses: int
    evictions: int

    def summary(self) -> str:
        """csim-ref's last line (printSummary's format)."""
        return f"hits:{self.hits} misses:{self.misses} evictions:{self.evictions}"

    def results(self) -> str:
        """The contents of .csim_results: the three counts, as test-csim reads them."""
        return f"{self.hits} {self.misses} {self.evictions}\n"


def flag_problems(s: int, E: int, b: int) -> list[str]:
    """What makes no cache of these flags, one line each (the CLI's parsers have already
    refused what is not a whole number)."""
    problems = [f"{flag}: must be a whole number of at least {low}, got {v!r}"
                for flag, v, low in (("-s", s, 0), ("-E", E, 1), ("-b", b, 0))
                if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < low]
    if not problems and s + b > ADDRESS_BITS:
        problems.append(f"-s/-b: s + b = {s} + {b} = {s + b} bits of set index and block "
                        f"offset; an address has {ADDRESS_BITS}")
    return problems


class Cache:
    """Cache Lab's cache (-s, -E, -b) as one level of simcache's engine.

    The engine is given lines of 2^min(b, 20) bytes (the line sizes its configs take) and
    addresses shifted right by the rest of b, so that it sees the very line numbers
    addr >> b, and so the same sets (line number mod 2^s) and the same contents."""

    def __init__(self, s: int, E: int, b: int):
        problems = flag_problems(s, E, b)
        if problems:
            raise SimcacheError(problems)
        s, E, b = self.s, self.E, self.b = int(s), int(E), int(b)
        self.sets = 1 << s
        lbits = min(b, LINE_BITS)
        self.shift = b - lbits
        line = 1 << lbits
        self.geometry = Geometry("csim", self.sets * E * line, line, E, self.sets, "lru",
                                 True, True)
        need, limit = state_bytes([self.geometry]), memory_limit()
        if need > limit:
            raise SimcacheError([
                f"-s/-E: a cache of 2^{s} sets of {E} lines needs {need / 2**30:,.1f} GiB "
                f"of simulator state; the limit is {limit / 2**30:.1f} GiB (half the "
                "physical memory, or SIMCACHE_STATE_LIMIT bytes)"])

    def _lines(self, addr: np.ndarray) -> np.ndarray:
        """The addresses the engine is given (see the class): line numbers unchanged."""
        if self.shift == 0:
            return addr
        if self.shift >= 63:  # every address (< 2^63) is in block 0
            return np.zeros_like(addr)
        return addr >> self.shift

    def replay(self, path: str | Path) -> Totals:
        """The whole trace in chunks: the counts only."""
        state = State([self.geometry])
        for addr, size, is_write, tensor in _chunks(_reader(path)):
            state.replay(self._lines(addr), np.ones_like(size), is_write, tensor)
        hits, misses = _hits_misses(state)
        filled = int(np.count_nonzero(_slots(state) >= 0))
        return Totals(hits, misses, misses - filled)

    def verbose(self, path: str | Path, emit: Callable[[str], None]) -> Totals:
        """The trace access by access, calling `emit` with csim-ref's line for each data
        record (without the newline). The whole file is read and checked first, so a bad
        line stops the command before anything is emitted."""
        for _ in _chunks(_reader(path)):
            pass
        reader = _reader(path)
        kinds = _kinds(reader.path, reader.gz)
        state = State([self.geometry])
        view = _View(state)
        one = np.ones(1, dtype=np.int64)
        hits = misses = evictions = 0
        pending: list[str] = []  # the words of the record being printed
        record = None  # [kind, address, size, accesses left] of that record
        for addr, size, is_write, tensor in _chunks(reader):
            lines = self._lines(addr)
            columns = (addr.tolist(), size.tolist(), is_write.tolist(), tensor.tolist())
            for k, (a, n, w, ten) in enumerate(zip(*columns, strict=True)):
                if record is None:
                    kind = next(kinds, None)
                    if kind is None:
                        raise _misread(path)
                    record = [kind, a, n, 2 if kind == "M" else 1]
                # the reader's accesses and the kinds must tell the same story: L a read,
                # S a write, M a read then a write of the same address
                writes = record[0] == "S" or (record[0] == "M" and record[3] == 1)
                if w != writes or a != record[1]:
                    raise _misread(path)
                first = ((a >> self.b) & (self.sets - 1)) * self.E
                filled, had = view.filled(first, self.E), view.hits(ten)
                state.replay(lines[k:k + 1], one, is_write[k:k + 1], tensor[k:k + 1])
                view.follow()
                if view.hits(ten) > had:
                    hits += 1
                    pending.append("hit")
                else:
                    misses += 1
                    pending.append("miss")
                    if view.filled(first, self.E) == filled:
                        evictions += 1
                        pending.append("eviction")
                record[3] -= 1
                if record[3] == 0:
                    kind, a0, n0, _ = record
                    # csim-ref prints each field followed by one space, then the newline
                    emit(f"{kind} {a0:x},{n0} " + "".join(w + " " for w in pending))
                    pending, record = [], None
        if record is not None or next(kinds, None) is not None:
            raise _misread(path)
        counted = _hits_misses(state)
        if counted != (hits, misses):  # the engine's counters and the steps must agree
            raise SimcacheError([f"{path}: internal error: the steps counted {hits} hits "
                                 f"and {misses} misses, the engine {counted}"])
        return Totals(hits, misses, evictions)


def _reader(path: str | Path) -> TraceReader:
    return TraceReader(path, "lackey")


def _chunks(reader: TraceReader) -> Iterator[tuple[np.ndarray, ...]]:
    """The reader's chunks; a trace without data accesses is no error here (csim-ref
    prints hits:0 misses:0 evictions:0 for it)."""
    try:
        yield from reader
    except TraceError as exc:
        if not (reader.accesses == 0 and len(exc.problems) == 1
                and exc.problems[0].endswith(": empty trace: no data accesses")):
            raise


def _kinds(path: Path, gz: bool) -> Iterator[str]:
    """The kind (L, S or M) of each data record of a lackey file, in order: the first
    field of each line the reader takes as a record. Read after the reader has checked
    every line, so only the kind is looked at."""
    opened = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115
    with opened as f:
        for raw in f:
            if raw.startswith(b"=="):  # valgrind's own messages
                continue
            fields = raw.split()
            if fields and fields[0] in (b"L", b"S", b"M"):
                yield fields[0].decode("ascii")


def _misread(path: str | Path) -> SimcacheError:
    return SimcacheError([f"{path}: the file changed while it was read; run again"])


def _hits_misses(state: State) -> tuple[int, int]:
    """The cache's run-phase hits and misses, over every tensor."""
    c = state.counters[K.RUN, LEVEL].sum(axis=0)
    hits = int(c[K.READ_HITS] + c[K.WRITE_HITS])
    return hits, int(c[K.READS] + c[K.WRITES]) - hits


def _slots(state: State) -> np.ndarray:
    """The line number each way of the cache holds, per slot (set * E + way); -1: never
    filled (engine.State's layout)."""
    return state._records(LEVEL)[0]


class _View:
    """The cache's counters and slots as views of the state array, for reading after every
    access; `follow` renews them if the state array was replaced (State.reserve)."""

    def __init__(self, state: State):
        self.state = state
        self.follow(force=True)

    def follow(self, force: bool = False) -> None:
        if force or self.S is not self.state.S:
            self.S = self.state.S
            self.counters = self.state.counters[K.RUN, LEVEL]
            self.slots = _slots(self.state)

    def hits(self, tensor: int) -> int:
        row = self.counters[tensor]
        return int(row[K.READ_HITS]) + int(row[K.WRITE_HITS])

    def filled(self, first: int, ways: int) -> int:
        """Lines held by the set whose slots start at `first`."""
        return int(np.count_nonzero(self.slots[first:first + ways] >= 0))
