"""Main memory as DRAM (docs/model.md, "DRAM"): the requests that reach memory, recorded by
the kernels' tap variant in the order the hierarchy sends them, go through a post-pass of
their own (`_feed`, Numba) that maps each burst to its channel, rank, bank, row and column
and counts it as a row-buffer hit, empty or conflict. The cache kernels are not changed and
never see this model: the data flow stays config -> stream -> kernels -> counts ->
accounting."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import engine
from . import kernels as K
from .config import Dram, Hierarchy
from .kernels import njit
from .layers import Layer
from .loopnest import TENSOR_NAMES, plan

HIT, EMPTY, CONFLICT = 0, 1, 2
OUTCOMES = ("hits", "empties", "conflicts")
# fields of the address the kernel decodes (offset is shifted out first)
COLUMN, CHANNEL, RANK, BANK_GROUP, BANK, ROW = range(6)
DECODED = ("column", "channel", "rank", "bank_group", "bank", "row")


# ---------------------------------------------------------------- the post-pass kernel


@njit
def _feed(rec, n, pieces, xsrc, geo, lat, open_row, cnt, acts, bursts, dem, out, clock, v):
    """Feed `n` records (address, size, flags | tensor << 8) to the DRAM state.

    pieces[k] = (field, bits, shift): the mapping above the offset, lowest first: `bits`
    bits of the address go to field (COLUMN..ROW) at `shift`; bits = -1: the channel, a
    digit of radix `geo[6]` (channels not a power of two). xsrc[i]: the address bit XORed
    into bank-index bit i (-1: none). geo: offset bits, ranks, banks per rank, banks per
    group, closed page (1/0), trace gap (0: blocking issue times), channels, XOR the row's
    low bits into the bank (1/0), bank-index bits. lat: tCL, tRCD, tRP, tBurst (memory
    cycles). open_row[bank]: open row or -1. cnt[tensor, write, outcome]; acts[bank];
    bursts[channel]; dem[tensor, 0/1]: demand requests and the sum of their latencies
    (cycles before refresh). out: the trace, two words per burst (address, cycle << 1 |
    write), or empty. clock[0]: the issue cycle, clock[1]: bursts written to out. v: six
    words of scratch (the decoded fields)."""
    obits, ranks, nbanks, bpg, closed, gap = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    channels, xrow, bbits = geo[6], geo[7], geo[8]
    tcl, trcd, trp, tburst = lat[0], lat[1], lat[2], lat[3]
    for k in range(n):
        addr = rec[3 * k]
        size = rec[3 * k + 1]
        fl = rec[3 * k + 2]
        write = 1 if fl & K.F_WRITE else 0
        demand = (fl & K.F_DEMAND) != 0
        tensor = (fl >> 8) & 7
        first = addr >> obits
        last = (addr + size - 1) >> obits
        req = np.int64(0)
        for b in range(first, last + 1):
            baddr = b << obits
            for f in range(6):
                v[f] = 0
            rest = b
            for p in range(pieces.shape[0]):
                nb = pieces[p, 1]
                if nb < 0:
                    d = rest % channels
                    rest //= channels
                else:
                    d = rest & ((np.int64(1) << nb) - 1)
                    rest >>= nb
                v[pieces[p, 0]] |= d << pieces[p, 2]
            channel = v[CHANNEL]
            row = v[ROW]
            bid = v[BANK_GROUP] * bpg + v[BANK]
            if xrow:
                bid ^= row & ((np.int64(1) << bbits) - 1)
            for i in range(xsrc.shape[0]):
                bid ^= ((baddr >> xsrc[i]) & 1) << i
            gb = (channel * ranks + v[RANK]) * nbanks + bid
            if closed:
                outcome = EMPTY
            else:
                o = open_row[gb]
                outcome = HIT if o == row else (EMPTY if o < 0 else CONFLICT)
                open_row[gb] = row
            cnt[tensor, write, outcome] += 1
            if outcome != HIT:
                acts[gb] += 1
            bursts[channel] += 1
            t = tcl + (trcd if outcome != HIT else 0) + (trp if outcome == CONFLICT else 0)
            if b == first:
                req = t
            else:
                req += tburst
            m = clock[1]
            if m < out.shape[0] // 2:
                out[2 * m] = baddr
                out[2 * m + 1] = (clock[0] << 1) | write
                clock[1] = m + 1
            if gap > 0:
                clock[0] += gap
        if demand:
            dem[tensor, 0] += 1
            dem[tensor, 1] += req
            if gap == 0:
                clock[0] += req


# ---------------------------------------------------------------- the state


@dataclass
class DramCounts:
    """What the DRAM post-pass counted for one run (or one step of an inference)."""

    cnt: np.ndarray  # [tensor, write, outcome]
    acts: np.ndarray  # [bank] (channel, rank, bank)
    bursts: np.ndarray  # [channel]
    dem: np.ndarray  # [tensor, (requests, latency cycles)]

    def __sub__(self, other: DramCounts) -> DramCounts:
        return DramCounts(self.cnt - other.cnt, self.acts - other.acts,
                          self.bursts - other.bursts, self.dem - other.dem)


class DramState:
    """The banks' open rows, the counters and the trace sink of one DRAM."""

    def __init__(self, dram: Dram, trace: Callable[[np.ndarray], None] | None = None,
                 gap: int = 0):
        self.dram = dram
        index = {name: f for f, name in enumerate(DECODED)}
        shift = {name: 0 for name in DECODED}
        rows = []
        for name, bits in dram.pieces():
            rows.append((index[name], bits, shift[name]))
            shift[name] += max(bits, 0)
        self.pieces = np.array(rows, dtype=np.int64).reshape(-1, 3)
        src = list(dram.xor_bank) if isinstance(dram.xor_bank, list) else []
        self.xsrc = np.array(src, dtype=np.int64)
        self.scratch = np.zeros(6, dtype=np.int64)
        self.nbanks = dram.banks * dram.ranks * dram.channels
        self.geo = np.array([dram.widths()["offset"], dram.ranks, dram.banks,
                             dram.banks // dram.bank_groups,
                             1 if dram.page_policy == "closed" else 0, gap, dram.channels,
                             1 if dram.xor_bank is True else 0, dram.bank_bits()],
                            dtype=np.int64)
        self.lat = np.array([dram.cycles(t) for t in ("tCL", "tRCD", "tRP", "tBurst")],
                            dtype=np.int64)
        self.open_row = np.full(self.nbanks, -1, dtype=np.int64)
        self.counts = DramCounts(np.zeros((K.NTENSORS, 2, 3), dtype=np.int64),
                                 np.zeros(self.nbanks, dtype=np.int64),
                                 np.zeros(dram.channels, dtype=np.int64),
                                 np.zeros((K.NTENSORS, 2), dtype=np.int64))
        self.trace = trace
        self.clock = np.zeros(2, dtype=np.int64)
        self._none = np.zeros(0, dtype=np.int64)

    def snapshot(self) -> DramCounts:
        c = self.counts
        return DramCounts(c.cnt.copy(), c.acts.copy(), c.bursts.copy(), c.dem.copy())

    def feed(self, rec: np.ndarray, n: int) -> None:
        """Feed n records (three words each) in order."""
        if n == 0:
            return
        out = self._none
        if self.trace is not None:
            r = rec[:3 * n].reshape(n, 3)
            ob = int(self.geo[0])
            nb = int((((r[:, 0] + r[:, 1] - 1) >> ob) - (r[:, 0] >> ob) + 1).sum())
            out = np.empty(2 * nb, dtype=np.int64)
            self.clock[1] = 0
        c = self.counts
        _feed(rec, np.int64(n), self.pieces, self.xsrc, self.geo, self.lat,
              self.open_row, c.cnt, c.acts, c.bursts, c.dem, out, self.clock, self.scratch)
        if self.trace is not None:
            self.trace(out[:2 * int(self.clock[1])])


# ---------------------------------------------------------------- running a layer


def _drain(tap, state: DramState) -> None:
    n = int(tap.S[tap._row + K.G_FILL])
    if n:
        state.feed(tap.S[tap._tap_at:tap._tap_at + 3 * n], n)
    tap.S[tap._row + K.G_FILL] = 0
    tap.S[K.H_GROW] = 0


def _tap_state(hierarchy: Hierarchy, element_bytes: int, window, max_access: int):
    from .mrc import TapState, records_per_access

    geometry = hierarchy.geometry(element_bytes)
    reserve = 4 * records_per_access(geometry, max_access) * _extra(geometry)
    return TapState(geometry, hierarchy.seed, window, max_access, reserve), geometry


def _extra(geometry) -> int:
    """How many times more records an access may send to memory when levels prefetch (a
    prefetch of each of `prefetch_distance` lines, and its victim) or are inclusive or
    exclusive (back-invalidated dirty lines, victims): a generous bound."""
    if not (engine.prefetches(geometry) or engine.includes(geometry)):
        return 1
    return 4 * (max(g.prefetch_distance for g in geometry) + 1) * (len(geometry) + 1)


def _walk(tap, state: DramState, p, hashed: bool) -> None:
    for nest in p.nests:
        rows, cols = nest.bounds if nest.bounds is not None else (-1, -1)
        limits = np.array(nest.limits, dtype=np.int64)
        idx = np.zeros(len(nest.ext) + len(limits), dtype=np.int64)
        kernel = (K.RUN_NEST_TAP_PF if tap.pf else K.RUN_NEST_TAP)[hashed][len(limits) > 0]
        tens = np.array(nest.tensors, np.int64)
        for start in range(0, nest.iterations, engine.NEST_CHUNK):
            count = min(engine.NEST_CHUNK, nest.iterations - start)
            done = 0
            while done < count:
                done += int(kernel(tap.S, idx, nest.ext, nest.coef, nest.base, tens,
                                   nest.dtype_bytes, rows, cols, limits, start + done,
                                   count - done))
                _drain(tap, state)


def _replay(tap, state: DramState, chunks, geometry, hashed: bool) -> None:
    from .mrc import records_per_access

    kernel = (K.RUN_TRACE_TAP_PF if tap.pf else K.RUN_TRACE_TAP)[hashed]
    for addr, size, is_write, tensor in chunks:
        if len(addr) == 0:
            continue
        arrays = (np.ascontiguousarray(addr, dtype=np.int64),
                  np.ascontiguousarray(size, dtype=np.int64),
                  np.ascontiguousarray(is_write, dtype=np.uint8),
                  np.ascontiguousarray(tensor, dtype=np.int8))
        tap.room(records_per_access(geometry, int(arrays[1].max())))
        while (r := int(kernel(tap.S, *arrays))) != 0:
            if r > 0:  # the stack too shallow: TapState's is made deep enough at first
                raise RuntimeError("dram: an access larger than the tap's stack")
            _drain(tap, state)
            arrays = tuple(a[-r:] for a in arrays)
        _drain(tap, state)


def _flush(tap, state: DramState, geometry) -> None:
    """The end-of-run flush through the tap: each level's dirty lines in Dinero IV's order
    (engine.State.flush_order), in pieces that fit the tap's buffer."""
    from .mrc import records_per_access

    cap = int(tap._cap)
    for lv in range(len(geometry)):
        order = tap.flush_order(lv)
        per = (records_per_access(geometry[lv + 1:], geometry[lv].line) + 1) * _extra(geometry)
        step = max(1, cap // (2 * per))
        for i in range(0, len(order), step):
            (K.FLUSH_LEVEL_TAP_PF if tap.pf else K.FLUSH_LEVEL_TAP)(
                tap.S, lv, np.ascontiguousarray(order[i:i + step]))
            _drain(tap, state)


def run_layer(hierarchy: Hierarchy, layer: Layer, state: DramState | None = None
              ) -> DramCounts:
    """A layer's requests to memory (run, then flush) through the DRAM model."""
    dram = hierarchy.memory.dram
    state = state or DramState(dram)
    p = plan(layer)
    tap, geometry = _tap_state(hierarchy, layer.dtype_bytes, engine.window_of(p),
                               layer.dtype_bytes)
    _walk(tap, state, p, engine.hashed_first_level(geometry))
    _flush(tap, state, geometry)
    return state.counts


def run_trace(hierarchy: Hierarchy, chunks: Iterable, element_bytes: int = 8,
              state: DramState | None = None) -> DramCounts:
    """Trace chunks' requests to memory (run, then flush) through the DRAM model."""
    state = state or DramState(hierarchy.memory.dram)
    tap, geometry = _tap_state(hierarchy, element_bytes, None, K.MAX_ACCESS)
    _replay(tap, state, chunks, geometry, engine.hashed_first_level(geometry))
    _flush(tap, state, geometry)
    return state.counts


def run_chain(hierarchy: Hierarchy, steps: Iterable, element_bytes: int = 4,
              window=None, state: DramState | None = None
              ) -> tuple[list[DramCounts], DramCounts]:
    """One warm inference: each step's requests to memory through ONE DRAM state (and one
    cache state), in order, then the flush; the counts of each step and of the flush."""
    state = state or DramState(hierarchy.memory.dram)
    tap, geometry = _tap_state(hierarchy, element_bytes, window, K.MAX_ACCESS)
    hashed = engine.hashed_first_level(geometry)
    out = []
    for step in steps:
        before = state.snapshot()
        if step.plan is not None:
            _walk(tap, state, step.plan, hashed)
        else:
            _replay(tap, state, step.chunks(), geometry, hashed)
        out.append(state.snapshot() - before)
    before = state.snapshot()
    _flush(tap, state, geometry)
    return out, state.snapshot() - before


# ---------------------------------------------------------------- pricing


def refresh_factor(dram: Dram) -> float:
    """tREFI / (tREFI - tRFC): every latency and bound is stretched by refresh (the
    average fraction, docs/model.md "DRAM")."""
    refi, rfc = dram.cycles("tREFI"), dram.cycles("tRFC")
    return refi / (refi - rfc)


def energies_pj(dram: Dram) -> dict[str, float]:
    """pJ per activation (with its precharge), read burst, write burst and refresh of one
    rank (all its devices), and the background power of a rank (mW = pJ/ns) with a row
    open (IDD3N) and all banks precharged (IDD2N). Micron TN-41-01 / DRAMPower."""
    tck = dram.tck_ns
    tras, trp = dram.cycles("tRAS") * tck, dram.cycles("tRP") * tck
    trc = tras + trp
    tb, trfc = dram.cycles("tBurst") * tck, dram.cycles("tRFC") * tck
    dev = dram.bus_width // dram.device_width
    v = dram.VDD
    return {
        "activate": dev * v * (dram.IDD0 * trc - (dram.IDD3N * tras + dram.IDD2N * trp)),
        "read": dev * v * (dram.IDD4R - dram.IDD3N) * tb,
        "write": dev * v * (dram.IDD4W - dram.IDD3N) * tb,
        "refresh": dev * v * (dram.IDD5B - dram.IDD3N) * trfc,
        "active_mw": dev * v * dram.IDD3N,
        "precharged_mw": dev * v * dram.IDD2N,
    }


def _outcomes(c: np.ndarray) -> dict:
    """Counts of bursts [write, outcome] as named fields."""
    hits, empties, conflicts = (int(c[:, o].sum()) for o in (HIT, EMPTY, CONFLICT))
    bursts = hits + empties + conflicts
    return {"bursts": bursts, "reads": int(c[0].sum()), "writes": int(c[1].sum()),
            "row_hits": hits, "empties": empties, "conflicts": conflicts,
            "activations": empties + conflicts, "row_hit_rate": hits / bursts if bursts else None}


def standing_pj(dram: Dram, per_rank: np.ndarray, t_ns: float) -> dict:
    """Refresh and background energy (pJ) of the ranks a run used (`per_rank`: their
    activations) over `t_ns` (docs/model.md, "DRAM", Energy)."""
    e, tck = energies_pj(dram), dram.tck_ns
    if dram.page_policy == "closed":
        active = np.minimum(t_ns, per_rank * dram.cycles("tRAS") * tck)
    else:
        active = np.full(len(per_rank), t_ns)
    background = float((e["active_mw"] * active + e["precharged_mw"] * (t_ns - active)).sum())
    refresh = len(per_rank) * t_ns / (dram.cycles("tREFI") * tck) * e["refresh"]
    return {"refresh": refresh, "background": background}


def price(counts: DramCounts, dram: Dram, clock_ghz: float, other_cycles: float,
          tensors: list[int]) -> dict:
    """The DRAM block of a run document (`totals["dram"]`): counts per layer and per tensor,
    the mean latency, the time bound and the energy. `other_cycles`: the blocking model's
    cycles without memory's (the run's time is those plus memory's, for background and
    refresh energy)."""
    tck, f = dram.tck_ns, refresh_factor(dram)
    to_core = tck * clock_ghz * f  # memory cycles -> core cycles, with refresh
    closed = dram.page_policy == "closed"
    e = energies_pj(dram)
    tburst, trc = dram.cycles("tBurst"), dram.cycles("tRAS") + dram.cycles("tRP")

    def block(ts: list[int]) -> dict:
        c = counts.cnt[ts].sum(axis=0)
        out = _outcomes(c)
        out["precharges"] = out["bursts"] if closed else out["conflicts"]
        req, lat = int(counts.dem[ts, 0].sum()), int(counts.dem[ts, 1].sum())
        out["demand_requests"] = req
        out["latency_cycles"] = round(lat * to_core)  # whole core cycles, as every count
        out["mean_latency_ns"] = lat * tck * f / req if req else None
        out["mean_latency_cycles"] = lat * to_core / req if req else None
        out["energy_pj"] = {"activate": out["activations"] * e["activate"],
                            "read": int(c[0].sum()) * e["read"],
                            "write": int(c[1].sum()) * e["write"]}
        return out

    total = block(list(range(K.NTENSORS)))
    by_bank = counts.acts
    bus = int(counts.bursts.max()) * tburst if counts.bursts.size else 0
    banks = int(by_bank.max()) * trc if by_bank.size else 0
    bound_mem = max(bus, banks) * f
    cycles = other_cycles + total["latency_cycles"]
    t_ns = cycles / clock_ghz
    per_rank = by_bank.reshape(dram.channels * dram.ranks, dram.banks).sum(axis=1)
    per_rank = per_rank[per_rank > 0]  # the ranks the run used; the others are not its cost
    energy = dict(total["energy_pj"], **standing_pj(dram, per_rank, t_ns))
    energy["total"] = sum(energy.values())
    total["energy_pj"] = energy
    return {
        "part": dram.part, "page_policy": dram.page_policy,
        "organisation": {"channels": dram.channels, "ranks": dram.ranks, "banks": dram.banks,
                         "bank_groups": dram.bank_groups, "rows": dram.rows,
                         "columns": dram.columns, "burst_bytes": dram.burst_bytes,
                         "page_bytes": dram.columns * dram.bus_width // 8},
        "timings_cycles": {t: dram.cycles(t) for t in ("tCL", "tRCD", "tRP", "tRAS", "tRFC",
                                                       "tREFI", "tBurst")},
        "tck_ns": tck, "refresh_factor": f,
        **total,
        "bound": "bank activations" if banks > bus else "data bus",
        "bound_memory_cycles": bound_mem,
        "bound_cycles": bound_mem * tck * clock_ghz,
        "time_ns": t_ns, "time_model": "blocking", "ranks_used": len(per_rank),
        "activations_by_rank": [int(a) for a in per_rank],
        "by_tensor": {TENSOR_NAMES[t]: block([t]) for t in tensors},
    }


# ---------------------------------------------------------------- the trace file


class TraceWriter:
    """DRAMsim3's trace format (src/common.cc, operator>>): 'hex-address READ|WRITE cycle'
    per line, written to a temporary file beside `path` and renamed by `close` (an
    interrupted run calls `discard`: no partial trace is left)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self.f = open(self.tmp, "w")  # noqa: SIM115 (closed by close/discard)
        self.lines = 0

    def __call__(self, out: np.ndarray) -> None:
        if len(out) == 0:
            return
        addr, word = out[0::2], out[1::2]
        kinds = np.where(word & 1, "WRITE", "READ")
        cycles = word >> 1
        self.f.write("".join(f"0x{a:x} {k} {c}\n" for a, k, c in
                             zip(addr.tolist(), kinds.tolist(), cycles.tolist(), strict=True)))
        self.lines += len(addr)

    def close(self) -> int:
        self.f.close()
        os.replace(self.tmp, self.path)
        return self.lines

    def discard(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)


def summary_line(d: dict) -> str:
    """One line of the text report."""
    lat = d["mean_latency_ns"]
    return (f"DRAM {d['part'] or ''} ({d['page_policy']} page): {d['bursts']:,} bursts, "
            f"{d['row_hits']:,} row hits, {d['empties']:,} empties, {d['conflicts']:,} "
            f"conflicts, {d['activations']:,} activations; mean latency "
            f"{'-' if lat is None else f'{lat:.1f} ns'}; bound {d['bound_cycles']:,.0f} cycles "
            f"({d['bound']}); energy {d['energy_pj']['total'] / 1e6:,.2f} µJ")



# ---------------------------------------------------------------- warm-up (engine.FAMILIES)


def tiny_dram() -> Dram:
    """A small DRAM for the warm-up: the kernels' types do not depend on its figures."""
    return Dram.model_validate({
        "channels": 1, "banks": 4, "rows": 16, "columns": 16, "device_width": 16,
        "bus_width": 16, "burst_length": 8, "mapping": ["offset", "column", "bank", "row"],
        "data_rate": 1000, "tCL": 1, "tRCD": 1, "tRP": 1, "tRAS": 2, "tRFC": 1, "tREFI": 9,
        "IDD0": 3, "IDD2N": 1, "IDD3N": 2, "IDD4R": 3, "IDD4W": 3, "IDD5B": 3, "VDD": 1,
        "source": "warm-up"})


def warm_steps(hashed: bool, loop: str, pf: bool):
    """The unit `dram-<loop>` (or `drampf-<loop>`, with prefetch or inclusion) of
    engine.FAMILIES: the tap loop, the tap flush and the post-pass, and a call that runs
    them on a tiny problem."""
    from .mrc import TapState, records_per_access

    g = engine.tiny_first(hashed, "miss" if pf else "none")
    tap = TapState([g], 1, None, 8, records_per_access([g], 8) * _extra([g]))
    if loop == "trace":
        kernel = (K.RUN_TRACE_TAP_PF if pf else K.RUN_TRACE_TAP)[hashed]
        args = (tap.S, *engine.tiny_trace())
    else:
        kernel = (K.RUN_NEST_TAP_PF if pf else K.RUN_NEST_TAP)[hashed][loop == "guarded"]
        args = (tap.S, *engine.tiny_nest(loop == "guarded"))
    flush = K.FLUSH_LEVEL_TAP_PF if pf else K.FLUSH_LEVEL_TAP
    state = DramState(tiny_dram())
    c = state.counts
    feed = (np.array([64, 64, K.F_DEMAND], dtype=np.int64), np.int64(1), state.pieces,
            state.xsrc, state.geo, state.lat, state.open_row, c.cnt, c.acts, c.bursts, c.dem,
            state._none, state.clock, state.scratch)
    steps = [(kernel, args), (flush, (tap.S, 0, np.zeros(0, np.int64))), (_feed, feed)]

    def run() -> None:
        kernel(*args)
        tap.S[tap._row + K.G_FILL] = 0
        tap.S[K.H_GROW] = 0
        flush(tap.S, 0, np.zeros(0, np.int64))
        _feed(*feed)

    return steps, run
