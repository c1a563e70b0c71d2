"""A network as one inference (docs/model.md §6, "Warm caches"): the address map of every
tensor, and each entry's accesses in order: a layer's nests moved to the map
(loopnest.rebase), or an operator's own stream (pooling, add, concat, elementwise,
softmax), generated as trace arrays chunk by chunk so that memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .errors import SimcacheError
from .loopnest import (
    ADDRESS_LIMIT,
    ALIGN,
    BASE_ADDRESS,
    Plan,
    X,
    Y,
    plan,
    rebase,
    trace_chunks,
    trace_length,
)
from .network import INPUT, NetLayer, Network

IN_PLACE = ("relu", "relu6", "batchnorm")  # read x, write x at the same address
VIEWS = ("flatten", "dropout")  # no access: the output is the input's region
CHUNK = 1 << 20  # accesses per chunk of an operator's stream, about


@dataclass(frozen=True)
class Region:
    """One tensor of the inference in memory, row-major."""

    name: str
    base: int
    shape: tuple[int, ...]
    dtype_bytes: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype_bytes


@dataclass(frozen=True)
class Step:
    """One entry of the network at the map's addresses: a layer's nests (`plan`), or an
    operator's stream (`chunks()`); `inputs` and `output` as (region, channels, size)."""

    entry: NetLayer
    plan: Plan | None
    inputs: tuple[tuple[Region, int, int], ...]
    output: tuple[Region, int, int]

    @property
    def op(self) -> bool:
        return self.plan is None

    @property
    def accesses(self) -> int:
        """Trace accesses of an operator (a layer: 4 per nest iteration, skipped taps
        included)."""
        if self.plan is not None:
            return 4 * self.plan.iterations
        return op_accesses(self)

    @property
    def min_bytes(self) -> int:
        """An operator's least DRAM traffic: each region it reads read once, each it writes
        written once (an in-place one: its region both ways); a view: none."""
        t = self.entry.type
        if t in VIEWS:
            return 0
        read = {r.name: r.nbytes for r, _, _ in self.inputs}
        return sum(read.values()) + self.output[0].nbytes

    def chunks(self, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, ...]]:
        """An operator's trace as (addr, size, is_write, tensor) arrays."""
        return op_chunks(self, chunk)


@dataclass(frozen=True)
class Chain:
    regions: tuple[Region, ...]
    steps: tuple[Step, ...]

    @property
    def window(self) -> tuple[int, int]:
        """The byte range of every region (engine.State's `window`)."""
        return (min(r.base for r in self.regions),
                max(r.base + r.nbytes for r in self.regions))


def chain_chunks(chain: Chain, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, ...]]:
    """The whole inference as one trace, (addr, size, is_write, tensor) arrays: each step
    in order, a layer's nests as loopnest.trace_chunks gives them (the accesses its walk
    makes), an operator's own stream. The end-of-run flush is no access and is not in it."""
    for step in chain.steps:
        yield from trace_chunks(step.plan, chunk) if step.plan is not None else \
            step.chunks(chunk)


def chain_length(chain: Chain) -> int:
    """Accesses of `chain_chunks(chain)`, counted without generating them."""
    return sum(trace_length(s.plan) if s.plan is not None else s.accesses
               for s in chain.steps)


def build_chain(net: Network) -> Chain:
    """Place every tensor of one inference and describe each entry's accesses."""
    if net.padding != "skip":
        raise SimcacheError(["--padding: explicit padding stores each layer's input "
                             "pre-padded, which does not chain from the layer before; use "
                             "--cold"])
    B, d = net.batch, net.dtype_bytes
    regions: list[Region] = []
    end = BASE_ADDRESS

    def place(name: str, shape: tuple[int, ...]) -> Region:
        nonlocal end
        r = Region(name, end, tuple(shape), d)
        regions.append(r)
        end = -(-(r.base + r.nbytes) // ALIGN) * ALIGN
        return r

    c0, s0 = net.input
    outputs: dict[str, tuple[Region, int, int]] = {
        INPUT: (place("input", (B, c0, s0, s0)), c0, s0)}
    steps = []
    for x in net.layers:
        ins = tuple(outputs[n] for n in x.inputs)
        if x.layer is not None:
            lay = x.layer
            p = plan(lay)
            bases = {"x": ins[0][0].base}
            for t in p.tensors:  # the layer's own tensors, in the plan's order
                if t.name != "x":
                    bases[t.name] = place(f"{x.name}.{t.name}", t.shape).base
            p = rebase(p, bases)
            y = next(t for t in p.tensors if t.name == "y")
            out = (Region(f"{x.name}.y", y.base, y.shape, d), x.channels, x.size)
        elif x.type in IN_PLACE or x.type in VIEWS:
            p, out = None, (ins[0][0], x.channels, x.size)
        else:
            p = None
            shape = (B, x.channels, x.size, x.size) if x.type != "softmax" else \
                ins[0][0].shape
            out = (place(f"{x.name}.y", shape), x.channels, x.size)
        outputs[x.name] = out
        steps.append(Step(x, p, ins, out))
    if end >= ADDRESS_LIMIT:
        raise SimcacheError([f"network: its tensors reach address {end:#x}; simcache "
                             f"addresses stay below {ADDRESS_LIMIT:#x}"])
    return Chain(tuple(regions), tuple(steps))


# ---------------------------------------------------------------- operator streams


def _pool_window(x: NetLayer, size: int) -> tuple[int, int, int]:
    """K, stride, pad of a pooling entry (globalavgpool: the whole input)."""
    if x.type == "globalavgpool":
        return size, 1, 0
    return x.K, x.stride, x.pad or 0


def _taps_inside(n_out: int, K: int, S: int, P: int, size: int) -> int:
    """Taps of one output row's windows (over i and p) that fall inside the input."""
    return sum(1 for i in range(n_out) for p in range(K) if 0 <= i * S + p - P < size)


def op_accesses(step: Step) -> int:
    x, B = step.entry, step.output[0].shape[0]
    t = x.type
    if t in VIEWS:
        return 0
    if t in ("maxpool", "avgpool", "globalavgpool"):
        (_, c, size), fo = step.inputs[0], step.output[2]
        K, S, P = _pool_window(x, size)
        rows = _taps_inside(fo, K, S, P, size)
        return B * c * (rows * rows + fo * fo)
    if t == "add":
        return (len(step.inputs) + 1) * step.output[0].nbytes // step.output[0].dtype_bytes
    if t == "concat":
        return 2 * step.output[0].nbytes // step.output[0].dtype_bytes
    if t in IN_PLACE:
        return 2 * step.output[0].nbytes // step.output[0].dtype_bytes
    if t == "softmax":
        return 3 * step.output[0].nbytes // step.output[0].dtype_bytes
    raise ValueError(f"{t}: not an operator")


def _emit(addr: np.ndarray, writes: tuple[int, ...], tensors: tuple[int, ...], d: int,
          valid: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Trace arrays from addr[iteration, access] (row by row), the accesses' write flags
    and tensors per column, keeping only the `valid` ones."""
    n, c = addr.shape
    w = np.broadcast_to(np.array(writes, dtype=np.uint8), (n, c))
    t = np.broadcast_to(np.array(tensors, dtype=np.int8), (n, c))
    if valid is None:
        a, w, t = addr.reshape(-1), w.reshape(-1), t.reshape(-1)
    else:
        a, w, t = addr[valid], w[valid], t[valid]
    return (np.ascontiguousarray(a, dtype=np.int64), np.full(len(a), d, dtype=np.int64),
            np.ascontiguousarray(w), np.ascontiguousarray(t))


def op_chunks(step: Step, chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, ...]]:
    x = step.entry
    t = x.type
    out, _, _ = step.output
    d = out.dtype_bytes
    if t in VIEWS:
        return
    if t in ("maxpool", "avgpool", "globalavgpool"):
        yield from _pool(step, chunk)
    elif t == "add":
        n = out.nbytes // d
        per = max(1, chunk // (len(step.inputs) + 1))
        for lo in range(0, n, per):
            e = np.arange(lo, min(n, lo + per), dtype=np.int64) * d
            cols = [r.base + e for r, _, _ in step.inputs] + [out.base + e]
            k = len(step.inputs)
            yield _emit(np.stack(cols, axis=1), (0,) * k + (1,), (X,) * k + (Y,), d)
    elif t == "concat":
        B, C, hw = out.shape[0], out.shape[1], out.shape[2] * out.shape[3]
        c0, per = 0, max(1, chunk // 2)
        for r, ck, _ in step.inputs:
            n = B * ck * hw
            for lo in range(0, n, per):
                e = np.arange(lo, min(n, lo + per), dtype=np.int64)
                b, c, p = e // (ck * hw), (e // hw) % ck, e % hw
                ya = out.base + ((b * C + c0 + c) * hw + p) * d
                yield _emit(np.stack([r.base + e * d, ya], axis=1), (0, 1), (X, Y), d)
            c0 += ck
    elif t in IN_PLACE:
        n, per = out.nbytes // d, max(1, chunk // 2)
        for lo in range(0, n, per):
            a = out.base + np.arange(lo, min(n, lo + per), dtype=np.int64) * d
            yield _emit(np.stack([a, a], axis=1), (0, 1), (X, Y), d)
    elif t == "softmax":
        src = step.inputs[0][0]
        B = out.shape[0]
        N = out.nbytes // d // B
        for b in range(B):
            e = (b * N + np.arange(N, dtype=np.int64)) * d
            yield _emit((src.base + e)[:, None], (0,), (X,), d)  # pass 1
            yield _emit(np.stack([src.base + e, out.base + e], axis=1), (0, 1), (X, Y), d)
    else:
        raise ValueError(f"{t}: not an operator")


def _pool(step: Step, chunk: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Per output element (b c i j): its window's taps inside the input (p q), then the
    write of y."""
    src, C, H = step.inputs[0]
    out, _, Fo = step.output
    d = out.dtype_bytes
    K, S, P = _pool_window(step.entry, H)
    B = out.shape[0]
    p, q = (a.reshape(-1) for a in np.indices((K, K)))
    n = B * C * Fo * Fo
    per = max(1, chunk // (K * K + 1))
    for lo in range(0, n, per):
        o = np.arange(lo, min(n, lo + per), dtype=np.int64)
        bc, i, j = o // (Fo * Fo), (o // Fo) % Fo, o % Fo
        rows = i[:, None] * S + p[None, :] - P
        cols = j[:, None] * S + q[None, :] - P
        inside = (rows >= 0) & (rows < H) & (cols >= 0) & (cols < H)
        xa = src.base + ((bc[:, None] * H + rows) * H + cols) * d
        addr = np.concatenate([xa, (out.base + o * d)[:, None]], axis=1)
        valid = np.concatenate([inside, np.ones((len(o), 1), dtype=bool)], axis=1)
        yield _emit(addr, (0,) * (K * K) + (1,), (X,) * (K * K) + (Y,), d, valid)
