"""The in-core, ECM-style time model (issue 22, item 1; docs/model.md §4, "The in-core
(ECM) model"): the core's cycles per innermost iteration from the loop nest (its
loop-carried chains and its throughput bounds, with the config's `core:` fields), combined
with the hierarchy's data transfers, which simcache counts exactly.

The nest is read as a plain C compiler (gcc -O2, x86-64) compiles `simcache.native`'s C;
what the compiler does was checked in its assembly (docs/model.md gives the listings'
counts). Nothing here is fitted per layer: the inputs are the config's fields and the nest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .loopnest import CCOL, CROW, CW, CX, CY, Nest, Plan

# micro-ops of one innermost iteration (fused domain: a load folded into an arithmetic
# instruction is one, a compare and its branch are one), counted in gcc 12's -O2 x86-64
# assembly of simcache.native's nests (docs/model.md §4 lists them):
UOPS = {
    # y held in a register, the loop vectorised (x and w of unit stride, extent a multiple
    # of 4): per 4 MACs movaps x, mulps w(mem), 4 addss in order and 6 moves/shuffles that
    # take the lanes one by one, the index add, cmp+jne: 14 instructions, 13 uops
    "register-vector": 13 / 4,
    # y in a register, scalar or a strided gather: load, mul(mem), add, index, cmp+jne
    "register": 5.0,
    # the loop just outside the innermost vectorised instead (y of unit stride there): per
    # innermost iteration, 4 MACs: movss w, shufps (broadcast), mulps x(mem), addps, two
    # index adds, cmp+jne: 8 instructions, 7 uops
    "register-outer": 7 / 4,
    # y loaded, added and stored every iteration: load (or hoisted), mul(mem), add(mem),
    # store, one or two index adds, cmp+jne
    "memory": 7.0,
    # the same with a skipped-tap test inside the innermost loop (cmp+ja, the index
    # arithmetic of the tap): 11 instructions, 9 uops
    "memory-guarded": 9.0,
    # y varies with unit stride, x and w of unit stride or invariant, no test, extent a
    # multiple of 4: vectorised, per 4 MACs movaps x, mulps, addps y(mem), movaps store,
    # the index add, cmp+jne: 6 instructions, 5 uops
    "memory-vector": 5 / 4,
}
VECTOR = 4  # fp32 lanes gcc -O2 uses (SSE, 16 bytes; -O2 does not use AVX without -march)


@dataclass(frozen=True)
class Body:
    """What the core does per innermost iteration of one nest."""

    chain: str  # register | memory | interleaved | none: the loop-carried dependence
    run: int  # iterations of one chain (the consecutive iterations that update one y)
    revisit: int | None  # interleaved: iterations between two updates of the same y
    uops: float  # micro-ops per iteration
    loads: float
    stores: float
    guarded: bool  # a skipped-tap (or last-tile) test inside the innermost loop
    vector: bool  # gcc -O2 vectorises the multiply (unit strides, extent % 4 == 0)
    lanes: int = 1  # y's held in one vector register (the next-outer loop vectorised)

    def text(self) -> str:
        if self.chain == "register":
            return f"y in a register, a chain of {self.run} adds"
        if self.chain == "memory":
            return f"y through memory (store→load), a chain of {self.run}"
        if self.chain == "interleaved":
            return f"y revisited every {self.revisit} iterations"
        return "no loop-carried chain"


def _moves(nest: Nest, row: int, k: int) -> bool:
    return bool(nest.coef[row, k])


def _conditions(nest: Nest) -> list[int]:
    rows = [CROW, CCOL] if nest.bounds is not None else []
    return rows + [CCOL + 1 + g for g in range(len(nest.limits))]


def _outer_vector(nest: Nest, e: int, ext: list[int]) -> bool:
    """Whether gcc -O2 vectorises loop e, the one just outside the innermost (seen in the
    assembly of pointwise bnijmpq): y of unit stride in it, x and w of unit stride or
    invariant, its extent a multiple of VECTOR, and no test placed in it."""
    elem = nest.dtype_bytes
    unit_or_none = all(int(nest.coef[row, e]) in (0, elem) for row in (CX, CW))
    tested = any(_moves(nest, row, e) for row in _conditions(nest))
    return (int(nest.coef[CY, e]) == elem and unit_or_none and ext[e] % VECTOR == 0
            and not tested)


def body(nest: Nest) -> Body:
    """The innermost loop's body as gcc -O2 compiles simcache.native's C (docs/model.md)."""
    d = len(nest.dims) - 1
    ext = [int(e) for e in nest.ext]
    guarded = any(_moves(nest, row, d) for row in _conditions(nest))
    elem = nest.dtype_bytes
    strides = {row: abs(int(nest.coef[row, d])) // elem for row in (CX, CW)}
    moving = [row for row in (CX, CW) if strides[row]]
    y_inv = not _moves(nest, CY, d)
    # how many consecutive iterations update the same y: the innermost loops that leave y
    run = 1
    for k in range(d, -1, -1):
        if _moves(nest, CY, k):
            break
        run *= ext[k]
    if y_inv and not guarded and d > 0 and _outer_vector(nest, d - 1, ext):
        # gcc -O2 vectorises the next-outer loop instead: VECTOR consecutive y in one
        # register, each innermost iteration one broadcast w, a mulps of x and an addps
        return Body("register", run, None, UOPS["register-outer"], 2 / VECTOR, 0.0, False,
                    True, VECTOR)
    if y_inv and not guarded:
        # gcc keeps y in a register across the innermost loop (loop-invariant store motion)
        vector = (ext[d] % VECTOR == 0 and all(s == 1 for s in strides.values() if s)
                  and bool(moving))
        uops = UOPS["register-vector" if vector else "register"]
        loads = len(moving) / (VECTOR if vector else 1)  # a vector load serves 4 MACs
        return Body("register", run, None, uops, loads, 0.0, False, vector)
    # y is loaded and stored every iteration: the same y comes back after `revisit`
    # iterations when a loop outside the innermost ones that move y leaves it
    uops = UOPS["memory-guarded" if guarded else "memory"]
    loads = 3.0 if guarded else float(len(moving)) + 1.0
    stores = 1.0
    y_stride = abs(int(nest.coef[CY, d])) // elem
    vector = (not guarded and not y_inv and y_stride == 1 and ext[d] % VECTOR == 0
              and all(s == 1 for s in strides.values() if s))
    if vector:
        uops, loads, stores = UOPS["memory-vector"], loads / VECTOR, stores / VECTOR
    if y_inv:
        return Body("memory", run, 1, uops, loads, 1.0, guarded, False)
    revisit = 1
    for k in range(d, -1, -1):
        if not _moves(nest, CY, k):
            return Body("interleaved", 1, revisit, uops, loads, stores, guarded, vector)
        revisit *= ext[k]
    return Body("none", 1, None, uops, loads, stores, guarded, vector)


def memory_chain_share(run: int, overlap: float | None) -> float:
    """The part of a chain through memory's latency that one iteration pays: while a chain of
    `run` dependent store→load steps waits, the out-of-order core runs `overlap` iterations
    of the chains after it (docs/model.md §4); 1 without a measured overlap."""
    if overlap is None:
        return 1.0
    return run / (run + overlap)


def nest_cycles(nest: Nest, core: Any) -> dict:
    """The core's cycles for one nest (docs/model.md §4): the largest of the chain bound
    and the throughput bounds, per iteration, times the nest's iterations."""
    b = body(nest)
    add, sf = float(core.add_latency), float(core.store_forward_latency)
    if b.chain == "register":
        # (a) a chain of adds; between two innermost loops that update the same y, y is
        # stored and loaded again (store-to-load forwarding). Chains of different y do not
        # overlap (docs/model.md §4: what the model does not capture)
        chain = (add + (sf / int(nest.ext[-1]) if b.run > int(nest.ext[-1]) else 0.0)
                 ) / b.lanes  # an outer-vectorised loop updates `lanes` y per chain step
    elif b.chain == "memory":
        # (b) with L = 1: the next iteration adds to the y just stored; a chain of `run`
        # such steps, and the core runs `chain_overlap` iterations of the following,
        # independent chains (other y) meanwhile: run steps of latency sf + add take
        # run + overlap iterations (docs/model.md §4, chains through memory)
        chain = (sf + add) * memory_chain_share(b.run, getattr(core, "chain_overlap", None))
    elif b.chain == "interleaved":
        chain = (sf + add) / b.revisit  # (b): L = revisit independent chains interleave
    else:
        chain = 0.0
    bounds = {"chain": chain, "issue": b.uops / core.issue_width,
              "loads": b.loads / core.loads_per_cycle,
              "stores": b.stores / core.stores_per_cycle}
    binds = max(bounds, key=bounds.get)
    iterations = nest.iterations  # a skipped tap still runs its test: counted
    # ECM's split: the work that overlaps with data transfers (the chain, the issue of the
    # body's micro-ops) and the L1 port cycles of its loads and stores, which do not
    overlapping = max(bounds["chain"], bounds["issue"])
    ports = max(bounds["loads"], bounds["stores"])
    return {"dims": "".join(nest.dims), "innermost": nest.dims[-1], **asdict(b),
            "body": b.text(), "per_iteration": bounds, "binds": binds,
            "cycles_per_iteration": bounds[binds], "iterations": iterations,
            "cycles": bounds[binds] * iterations, "overlapping_cycles": overlapping * iterations,
            "port_cycles": ports * iterations}


def core_cycles(p: Plan, core: Any) -> dict:
    """In-core cycles of every nest of a plan and their sum."""
    nests = [nest_cycles(n, core) for n in p.nests]
    return {"cycles": sum(n["cycles"] for n in nests),
            "overlapping_cycles": sum(n["overlapping_cycles"] for n in nests),
            "port_cycles": sum(n["port_cycles"] for n in nests), "nests": nests}


def streaming_cycles(loads: int, stores: int, core: Any) -> dict:
    """A warm network's operator (pool, add, concat, softmax, a copy): a streaming body, one
    load per element read and one store per element written, no loop-carried chain
    (docs/model.md §4): the largest of its port and issue bounds."""
    uops = loads + stores + 2 * max(loads, stores, 1) / VECTOR  # index and branch per vector
    bounds = {"issue": uops / core.issue_width, "loads": loads / core.loads_per_cycle,
              "stores": stores / core.stores_per_cycle}
    binds = max(bounds, key=bounds.get)
    return {"cycles": bounds[binds], "binds": binds, "bounds_cycles": bounds,
            "body": "streaming (no loop-carried chain)"}


def combine(overlapping: float, ports: float, levels: list[dict],
            widths: list[float | None], dram_cycles: float | None = None,
            first_cache: int = 0) -> dict:
    """The ECM-style total (docs/model.md §4, "What overlaps with what"):
    T = max(T_OL, T_nOL) + T_data. T_OL: the loop-carried chain and the issue of the body's
    micro-ops; T_nOL: the L1 port cycles of its loads and stores; T_data: the sum over the
    levels below L1 of the bytes each moved over its bandwidth (transfers between levels
    serialise, as in the ECM model of Hager, Treibig, Stengel and Wellein). The core's work
    and the transfers below L1 do not overlap: the no-overlap hypothesis of the ECM papers,
    chosen over Intel's T = max(T_OL, T_nOL + T_data) because it fits this machine
    (BENCHMARKS.md: 27 of 40 layers within ±30 % against 20)."""
    transfers = {}
    # the first level's traffic is the core's own loads and stores: its cost is T_nOL (the
    # core's ports), so a bandwidth given to it (core <-> L1) is not counted again; a
    # register file above it (line: element) is the compiler's registers, not a transfer
    for lv, width in list(zip(levels, widths, strict=False))[first_cache + 1:]:
        if width is not None:
            moved = (lv["bytes_read"] + lv["bytes_written"] + lv["flush"]["bytes_read"]
                     + lv["flush"]["bytes_written"])
            transfers[lv["name"]] = moved / width
    if dram_cycles is not None and len(levels) > 1:
        # memory as DRAM (docs/model.md, "DRAM"): its transfers take at least the DRAM
        # time bound (bursts on each channel's bus, activations of each bank)
        mem = levels[-1]["name"]
        transfers[mem] = max(transfers.get(mem, 0.0), dram_cycles)
    data = sum(transfers.values())
    core_part = max(overlapping, ports)
    parts = {"core" if overlapping >= ports else "L1 ports": core_part, **transfers}
    return {"cycles": core_part + data, "core_cycles": overlapping, "port_cycles": ports,
            "transfer_cycles": transfers, "data_cycles": data,
            "binds": max(parts, key=parts.get)}


def first_cache(hierarchy: Any) -> int:
    """Index of the first level with lines (the L1): register files (line: element) above
    it are the compiler's registers, and the L1's traffic is the core's loads and stores."""
    levels = getattr(hierarchy, "levels", [])
    for k, lv in enumerate(levels):
        if lv.line != "element":
            return k
    return len(levels)


def ecm(p: Plan, levels: list[dict], hierarchy: Any,
        dram_cycles: float | None = None) -> dict | None:
    """The model's numbers for a layer, or None without a `core:` section; `dram_cycles`:
    the DRAM time bound (totals.dram.bound_cycles) when memory is a DRAM part."""
    core = getattr(hierarchy, "core", None)
    if core is None:
        return None
    inner = core_cycles(p, core)
    widths = hierarchy.bandwidths()
    out = combine(inner["overlapping_cycles"], inner["port_cycles"], levels, widths,
                  dram_cycles, first_cache(hierarchy))
    out["nests"] = inner["nests"]
    out["complete"] = all(w is not None for w in widths[first_cache(hierarchy) + 1:])
    clock = hierarchy.clock
    out["us"] = out["cycles"] * 1e-3 / clock if clock else None
    return out


def ecm_streaming(loads: int, stores: int, levels: list[dict], hierarchy: Any,
                  dram_cycles: float | None = None) -> dict:
    """The model for an operator without a loop nest (pool, add, concat, softmax, a copy;
    or a trace): `loads` element loads and `stores` element stores, a streaming body."""
    core = hierarchy.core
    s = streaming_cycles(loads, stores, core)
    out = combine(s["bounds_cycles"]["issue"],
                  max(s["bounds_cycles"]["loads"], s["bounds_cycles"]["stores"]), levels,
                  hierarchy.bandwidths(), dram_cycles, first_cache(hierarchy))
    out["nests"] = [{"body": s["body"], "chain": "none", "binds": s["binds"],
                     "bounds_cycles": s["bounds_cycles"]}]
    out["complete"] = all(w is not None
                          for w in hierarchy.bandwidths()[first_cache(hierarchy) + 1:])
    clock = hierarchy.clock
    out["us"] = out["cycles"] * 1e-3 / clock if clock else None
    return out


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda k: values[k])
    out = [0.0] * len(values)
    k = 0
    while k < len(order):
        j = k
        while j + 1 < len(order) and values[order[j + 1]] == values[order[k]]:
            j += 1
        for t in range(k, j + 1):
            out[order[t]] = (k + j) / 2 + 1
        k = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation: Pearson's correlation of the ranks (ties averaged);
    None for fewer than two values or a constant list."""
    if len(a) != len(b):
        raise ValueError("spearman: the two lists differ in length")
    if len(a) < 2:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    if va == 0 or vb == 0:
        return None
    return cov / math.sqrt(va * vb)
