"""simcache explain: a window of a layer's (or a trace's) accesses, one at a time.

Nothing here models a cache. The accesses before the window go through the kernels in
large chunks (engine.State.replay); each access of the window then goes through them alone,
and what it did is read from the state they leave: the counters' change at every level, the
lines that left each level (a slot that held another line before), and the touched set's
ways in the kernels' own order (State.set_ways). docs/model.md, "explain: step-through".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from . import kernels as K
from .config import ConfigError, Geometry
from .engine import State, window_of
from .errors import SimcacheError
from .loopnest import TENSOR_NAMES, Plan, loop_indices, trace_chunks, trace_length, window_loops

MAX_STEPS = 10_000  # accesses one explain steps through: each is a kernel call of its own
KIND_INDEX = (K.COMPULSORY, K.CAPACITY, K.CONFLICT)
KINDS = ("compulsory", "capacity", "conflict")
ORDERS = {"lru": "most recent first", "fifo": "newest first", "random": "by way",
          "plru": "by way", "bitplru": "by way", "srrip": "by way", "brrip": "by way"}
PREFIX_CHUNK = 1 << 20  # accesses per kernel call before the window

Progress = Callable[[int, int], None]


@dataclass
class Source:
    """What explain replays: a layer's plan (and its loop order), or trace chunks."""

    chunks: Iterable[tuple[np.ndarray, ...]]
    total: int | None  # accesses, when known beforehand (a layer)
    what: str  # "layer" or "trace", for messages
    plan: Plan | None = None
    order: str = ""
    window: tuple[int, int] | None = None  # the byte range the tensors span (State)
    max_access: int = 8


def layer_source(p: Plan, order: str, dtype_bytes: int) -> Source:
    return Source(trace_chunks(p, PREFIX_CHUNK), trace_length(p), "layer", p, order,
                  window_of(p), dtype_bytes)


def trace_source(chunks: Iterable[tuple[np.ndarray, ...]]) -> Source:
    return Source(chunks, None, "trace")


def check_options(geometry: list[Geometry], level: str | None, set_index: int | None,
                  tensor: str | None, steps: int, start: int) -> int | None:
    """The index of the level shown (None: no cache level), or SimcacheError with a line
    for each bad option."""
    problems = []
    names = [g.name for g in geometry]
    shown = 0 if geometry else None
    if level is not None:
        if level in names:
            shown = names.index(level)
        else:
            shown = None
            choose = (f"choose from {', '.join(names)}" if names
                      else "the config has no cache level (a flat memory)")
            problems.append(f"--level: {level!r} is not a cache level of the config; {choose}")
    if set_index is not None:
        if shown is not None:
            sets = geometry[shown].sets
            if not 0 <= set_index < sets:
                problems.append(f"--set: {set_index} is not a set of {names[shown]}, which has "
                                f"{sets:,} set{'s' if sets > 1 else ''} (0 to {sets - 1:,})")
        elif level is None:
            problems.append("--set: the config has no cache level, so no sets")
    if tensor is not None and tensor not in TENSOR_NAMES[:4]:
        problems.append(f"--tensor: {tensor!r} is not one of x, w, y, t")
    if steps < 1:
        problems.append(f"--steps: must be at least 1, got {steps}")
    elif steps > MAX_STEPS:
        problems.append(f"--steps: {steps:,} is more than explain steps through at once (at "
                        f"most {MAX_STEPS:,}); move the window with --start instead")
    if start < 0:
        problems.append(f"--start: must be 0 or more, got {start}")
    if problems:
        raise SimcacheError(problems)
    return shown


def past_end(start: int, total: int, what: str) -> SimcacheError:
    return SimcacheError([f"--start: {start:,} is past the end of the {what}, which has "
                          f"{total:,} access{'es' if total != 1 else ''} (0 to {total - 1:,})"])


def _window(src: Source, state: State, start: int, steps: int,
            progress: Progress | None) -> tuple[list[np.ndarray], int | None]:
    """Replay the accesses before `start`, and return the window's arrays (addr, size,
    is_write, tensor: at most `steps`) and the accesses of the source if it ended."""
    got: list[list[np.ndarray]] = [[], [], [], []]
    pos, have, ended = 0, 0, True
    chunks: Iterator = iter(src.chunks)
    try:
        for chunk in chunks:
            n = len(chunk[0])
            before = min(max(start - pos, 0), n)
            if before:
                state.replay(*(a[:before] for a in chunk))
                if progress is not None:
                    progress(pos + before, start)
            take = min(n - before, steps - have)
            if take > 0:
                for k, a in enumerate(chunk):
                    got[k].append(a[before:before + take])
                have += take
            pos += n
            if have == steps:
                ended = False
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    total = pos if ended else src.total
    if start >= pos and ended:
        raise past_end(start, pos, src.what)
    return [np.concatenate(g) for g in got], total


def _loops(src: Source, start: int, stop: int) -> dict[int, tuple[int, dict[str, int]]]:
    """Access index → (nest, loop indices), for a layer's window."""
    out: dict[int, tuple[int, dict[str, int]]] = {}
    if src.plan is None:
        return out
    for k, first, digits in window_loops(src.plan, start, stop):
        nest = src.plan.nests[k]
        for j in range(digits.shape[1]):
            loops = loop_indices(nest, src.order, digits[:, j])
            for r in range(4):
                a = first + 4 * j + r
                if start <= a < stop:
                    out[a] = (k, loops)
    return out


def _split(g: Geometry, addr: int) -> dict:
    line = addr // g.line
    return {"level": g.name, "tag": line // g.sets, "set": line % g.sets,
            "offset": addr % g.line}


def _line(g: Geometry, line: int, tensor: int, dirty: bool) -> dict:
    return {"tag": line // g.sets, "set": line % g.sets, "line": line, "addr": line * g.line,
            "tensor": TENSOR_NAMES[tensor], "dirty": dirty}


def _set_doc(state: State, lv: int, s: int) -> dict:
    g = state.geometry[lv]
    sets, names = g.sets, TENSOR_NAMES
    ways = [{"way": w, "tag": line // sets, "line": line, "tensor": names[t], "dirty": dirty}
            for w, line, dirty, t in state.set_ways(lv, s)]
    return {"level": g.name, "set": s, "policy": g.policy, "order": ORDERS[g.policy],
            "ways": ways, "empty": g.ways - len(ways)}


def _level_event(name: str, d: np.ndarray, c3: np.ndarray | None,
                 victims: list[dict] | None) -> dict:
    """What one access did at one level: d = its counters' change [tensor, kind], c3 its
    3C counters' change [tensor, kind] (None: not classified)."""
    tot = d.sum(axis=0)
    reads, writes = int(tot[K.READS]), int(tot[K.WRITES])
    hits = int(tot[K.READ_HITS] + tot[K.WRITE_HITS])
    ev = {"name": name, "reads": reads, "writes": writes,
          "read_hits": int(tot[K.READ_HITS]), "write_hits": int(tot[K.WRITE_HITS]),
          "hits": hits, "misses": reads + writes - hits, "served": int(tot[K.SERVED]) > 0,
          "bytes_read": int(tot[K.BYTES_READ]), "bytes_written": int(tot[K.BYTES_WRITTEN]),
          "writebacks": int(tot[K.WRITEBACKS])}
    if victims is not None:  # a cache level
        ev["three_c"] = (None if c3 is None else
                         {k: int(c3[:, i].sum()) for k, i in zip(KINDS, KIND_INDEX,
                                                                 strict=True)})
        ev["victims"] = victims
    return ev


def _victims(g: Geometry, before: tuple[np.ndarray, np.ndarray],
             after: np.ndarray) -> list[dict]:
    """Lines a level evicted during an access. A line never moves between slots, so a slot
    whose line number changed lost its old line; `again` marks a line that the same access
    installed once more (a line evicted for a fetch, then written back into the level by
    the level above), which a comparison of the set's lines alone would miss."""
    tag0, meta0 = before
    out = []
    for slot in np.flatnonzero(tag0 != after).tolist():
        old = int(tag0[slot])
        if old >= 0:
            s, m = slot // g.ways, int(meta0[slot])
            v = _line(g, old, (m >> K.M_OWNER) & 7, bool(m & K.M_DIRTY))
            v["again"] = bool(old in after[s * g.ways:(s + 1) * g.ways])
            out.append(v)
    return out


@dataclass
class Explained:
    """What `run` returns: the window's steps (JSON-ready dicts), the summary, and the
    window's counters (the sum of every access's change): counters[phase, level, tensor,
    kind] and, where misses are classified, three_c[phase, level, tensor, kind]."""

    steps: list[dict]
    summary: list[dict]
    counters: np.ndarray
    three_c: np.ndarray | None
    start: int
    end: int
    total: int | None
    shown_level: int | None


def _state(geometry: list[Geometry], seed: int, src: Source) -> State:
    """The state, classifying misses (3C) unless its shadows would not fit in memory."""
    try:
        return State(geometry, seed, src.window, src.max_access, ccc=True)
    except ConfigError:
        return State(geometry, seed, src.window, src.max_access)


def run(geometry: list[Geometry], seed: int, src: Source, start: int = 0, steps: int = 20,
        level: str | None = None, set_index: int | None = None, tensor: str | None = None,
        misses_only: bool = False, progress: Progress | None = None,
        memory: str = "memory") -> Explained:
    """Step through accesses [start, start + steps) of `src` on `geometry` (then main
    memory, named `memory`)."""
    shown = check_options(geometry, level, set_index, tensor, steps, start)
    if src.total is not None and start >= src.total:
        raise past_end(start, src.total, src.what)
    state = _state(geometry, seed, src)
    (addr, size, is_write, tens), total = _window(src, state, start, steps, progress)
    end = start + len(addr)
    loops = _loops(src, start, end)
    names = [g.name for g in geometry] + [memory]
    ncache = len(geometry)

    def three_c() -> np.ndarray | None:
        return None if state.three_c is None else state.three_c.copy()

    first, first3 = state.counters.copy(), three_c()
    out = []
    for k in range(len(addr)):
        a, n, w, t = int(addr[k]), int(size[k]), bool(is_write[k]), int(tens[k])
        before_ctr, before3 = state.counters[0].copy(), three_c()
        before = [tuple(x.copy() for x in state._records(lv)) for lv in range(ncache)]
        state.replay(addr[k:k + 1], size[k:k + 1], is_write[k:k + 1], tens[k:k + 1])
        delta = state.counters[0] - before_ctr
        delta3 = None if before3 is None else state.three_c[0] - before3[0]
        events = []
        for lv in range(ncache + 1):
            if lv < ncache:
                vic = _victims(geometry[lv], before[lv], state._records(lv)[0])
                c3 = None if delta3 is None else delta3[lv]
            else:
                vic = c3 = None
            events.append(_level_event(names[lv], delta[lv], c3, vic))
        step = {"index": start + k, "nest": None, "loops": None, "tensor": TENSOR_NAMES[t],
                "op": "write" if w else "read", "addr": a, "size": n, "split": None,
                "levels": events, "sets": []}
        if k + start in loops:
            step["nest"], step["loops"] = loops[k + start]
        keep = tensor is None or step["tensor"] == tensor
        if shown is not None:
            g = geometry[shown]
            step["split"] = _split(g, a)
            sets = sorted({(a // g.line + j) % g.sets
                           for j in range((a + n - 1) // g.line - a // g.line + 1)})
            step["sets"] = [_set_doc(state, shown, s) for s in sets]
            keep = keep and (set_index is None or set_index in sets)
            keep = keep and (not misses_only or events[shown]["misses"] > 0)
        elif misses_only:
            keep = False
        if keep:
            out.append(step)
    counters = state.counters - first
    window3 = None if first3 is None else state.three_c - first3
    summary = [_level_event(names[lv], counters[0, lv],
                            None if window3 is None or lv >= ncache else window3[0, lv],
                            [] if lv < ncache else None)
               for lv in range(ncache + 1)]
    for s in summary:
        s.pop("victims", None)
        s.pop("served", None)
    return Explained(out, summary, counters, window3, start, end, total, shown)
