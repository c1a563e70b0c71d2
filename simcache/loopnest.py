"""A layer and its loop order → tensors in memory and linear loop nests.

Every address in a nest is linear in the loop indices: `base + Σ coef[d]·idx[d]`. The one
non-linear term (a group convolution's filter n reads channels of group n // (N/G)) is made
linear by splitting n into two loops, g (group) then n within the group, which iterate in
the same order as n. The kernels walk such nests without materialising the trace; the
`trace_chunks` generator materialises it chunk by chunk for trace files and tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .layers import Layer

BASE_ADDRESS = 0x10000
ALIGN = 4096
# tensor categories used by the counters
X, W, Y, T, NONE = range(5)
TENSOR_NAMES = ("x", "w", "y", "t", "-")
# rows of Nest.coef / Nest.base
CX, CW, CY, CROW, CCOL = range(5)


@dataclass(frozen=True)
class Tensor:
    name: str
    category: int
    base: int
    shape: tuple[int, ...]
    dtype_bytes: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype_bytes


@dataclass(frozen=True)
class Nest:
    """One loop nest: dims outermost first, their extents, and linear address forms.

    coef rows: x, w, y byte offsets, then the input row and column (for the skip check),
    then one guard form per entry of `limits`; base: the same forms at index 0. `bounds` =
    (rows, cols) of the unpadded input when out-of-range taps are skipped, or None when
    every tap reads memory. An iteration is performed only if every guard form is below
    its limit (a tiled loop's last tile, which is shorter: its form is the loop's index).
    """

    dims: tuple[str, ...]
    ext: np.ndarray
    coef: np.ndarray
    base: np.ndarray
    tensors: tuple[int, int, int]  # categories of the x, w, y roles
    bounds: tuple[int, int] | None
    dtype_bytes: int
    limits: tuple[int, ...] = ()

    @property
    def iterations(self) -> int:
        return math.prod(int(e) for e in self.ext)


@dataclass(frozen=True)
class Plan:
    tensors: tuple[Tensor, ...]
    nests: tuple[Nest, ...]

    @property
    def iterations(self) -> int:
        return sum(n.iterations for n in self.nests)


@dataclass(frozen=True)
class _Conv:
    """A 2-D convolution with rectangular kernel, stride and padding (one nest)."""

    B: int
    M: int
    N: int
    G: int
    H: int  # input rows
    Wd: int  # input cols
    Kh: int
    Kw: int
    Sh: int
    Sw: int
    pad_h: tuple[int, int]
    pad_w: tuple[int, int]

    @property
    def Ho(self) -> int:
        return (self.H + sum(self.pad_h) - self.Kh) // self.Sh + 1

    @property
    def Wo(self) -> int:
        return (self.Wd + sum(self.pad_w) - self.Kw) // self.Sw + 1


def _convs(layer: Layer) -> list[_Conv]:
    B, M, N, F, K, S = layer.B, layer.M, layer.N, layer.F, layer.K, layer.stride
    pads, none = layer.pads, (0, 0)
    if layer.type == "separable":
        first = _Conv(B, M, N, 1, F, F, K, 1, S, 1, pads, none)
        return [first, _Conv(B, N, N, 1, first.Ho, first.Wo, 1, K, 1, S, none, pads)]
    return [_Conv(B, M, N, layer.groups, F, F, K, K, S, S, pads, pads)]


ADDRESS_LIMIT = 1 << 62  # tensors end below it: the kernels step one loop past an end
COUNT_LIMIT = 1 << 62  # accesses, and bytes accessed, of a layer


def limit_problems(layer: Layer) -> list[str]:
    """`field: message` lines for a layer whose addresses or counts would not fit the
    kernels' 64-bit integers (computed with Python integers, nothing allocated)."""
    convs = _convs(layer)
    d = layer.dtype_bytes
    explicit = layer.padding == "explicit"
    iters = 0
    for c in convs:
        if c.Ho < 1 or c.Wo < 1:
            return [f"K: the output would be {c.Ho} × {c.Wo}"]
        iters += c.B * c.N * (c.M // c.G) * c.Kh * c.Kw * c.Ho * c.Wo
    dims = f"B={layer.B} M={layer.M} N={layer.N} F={layer.F} K={layer.K}"
    if 4 * iters * d >= COUNT_LIMIT:
        return [f"dimensions: {dims} make {4 * iters:.3g} accesses of {d} B "
                f"({4 * iters * d:.3g} bytes); simcache's 64-bit counters stop at "
                f"{COUNT_LIMIT:.3g}"]
    end = BASE_ADDRESS
    for c in convs:  # each nest's input, weights and output (the next nest's input is
        # its output as stored), each 4 KiB aligned: at least the end of the last tensor
        rows = c.H + (sum(c.pad_h) if explicit else 0)
        cols = c.Wd + (sum(c.pad_w) if explicit else 0)
        for elems in (c.B * c.M * rows * cols, c.N * (c.M // c.G) * c.Kh * c.Kw,
                      c.B * c.N * c.Ho * c.Wo):
            end += elems * d + ALIGN
    if end >= ADDRESS_LIMIT:
        return [f"dimensions: {dims} place tensors up to address {end:#x}; simcache "
                f"addresses stay below {ADDRESS_LIMIT:#x}"]
    return []


def plan(layer: Layer) -> Plan:
    """Place the tensors and describe the nests of a layer."""
    problems = layer.tile_problems() + limit_problems(layer)
    if problems:
        from .layers import LayerError

        raise LayerError(problems)
    explicit = layer.padding == "explicit"
    convs = _convs(layer)
    d = layer.dtype_bytes

    def stored(c: _Conv) -> tuple[int, int]:
        """Rows and cols of a nest's input as stored (pre-padded in explicit mode)."""
        if explicit:
            return c.H + sum(c.pad_h), c.Wd + sum(c.pad_w)
        return c.H, c.Wd

    xr, xc = stored(convs[0])
    specs = [("x", X, (layer.B, layer.M, xr, xc))]
    if layer.type == "fc":
        specs = [("x", X, (layer.B, layer.M))]
    for k, c in enumerate(convs):
        name = "w" if len(convs) == 1 else f"w{k + 1}"
        specs.append((name, W, (c.N, c.M // c.G, c.Kh, c.Kw) if layer.type != "fc" else (c.N, c.M)))
    last = convs[-1]
    specs.append(("y", Y, (layer.B, last.N, last.Ho, last.Wo) if layer.type != "fc"
                  else (layer.B, last.N)))
    if len(convs) == 2:
        tr, tc = stored(convs[1])
        specs.append(("t", T, (layer.B, convs[0].N, tr, tc)))

    tensors, addr = [], BASE_ADDRESS
    for name, cat, shape in specs:
        t = Tensor(name, cat, addr, shape, d)
        tensors.append(t)
        addr = -(-(addr + t.nbytes) // ALIGN) * ALIGN
    by_name = {t.name: t for t in tensors}

    nests = []
    for k, c in enumerate(convs):
        src = by_name["x"] if k == 0 else by_name["t"]
        dst = by_name["y"] if k == len(convs) - 1 else by_name["t"]
        wname = "w" if len(convs) == 1 else f"w{k + 1}"
        # where the output lands inside its stored tensor (the next nest's padded input)
        if dst.name == "t" and explicit:
            out_r, out_c = stored(convs[k + 1])
            off_r, off_c = convs[k + 1].pad_h[0], convs[k + 1].pad_w[0]
        else:
            out_r, out_c, off_r, off_c = c.Ho, c.Wo, 0, 0
        nests.append(_nest(c, layer.order, layer.tiles, src, by_name[wname], dst, stored(c),
                           (out_r, out_c, off_r, off_c), explicit, d))
    return Plan(tuple(tensors), tuple(nests))


def rebase(p: Plan, bases: dict[str, int]) -> Plan:
    """The same plan with tensors moved: `bases` maps tensor names (x, w, w1, w2, y, t) to
    new base addresses (names left out stay). Every nest's x, w and y address forms shift
    by their tensor's new base minus its old one; offsets within a tensor (a padded
    input's first tap, separable's interior of t) and everything else stay."""
    unknown = set(bases) - {t.name for t in p.tensors}
    if unknown:
        raise ValueError(f"rebase: the plan has no tensor {', '.join(sorted(unknown))}")
    shift = {t.name: bases.get(t.name, t.base) - t.base for t in p.tensors}
    tensors = tuple(Tensor(t.name, t.category, t.base + shift[t.name], t.shape, t.dtype_bytes)
                    for t in p.tensors)
    weights = [t.name for t in p.tensors if t.category == W]
    named = {X: "x", Y: "y", T: "t"}
    nests = []
    for k, nest in enumerate(p.nests):
        base = nest.base.copy()
        for row, cat in zip((CX, CW, CY), nest.tensors, strict=True):
            # the weights of nest k are the k-th weight tensor (w, or w1 and w2)
            name = weights[k] if cat == W else named[cat]
            base[row] += shift[name]
        nests.append(Nest(nest.dims, nest.ext, nest.coef, base, nest.tensors, nest.bounds,
                          nest.dtype_bytes, nest.limits))
    return Plan(tensors, tuple(nests))


def _nest(c: _Conv, order: str, tiles: dict[str, int], x: Tensor, w: Tensor, y: Tensor,
          xdims: tuple[int, int], ydims: tuple[int, int, int, int], explicit: bool,
          d: int) -> Nest:
    xr, xc = xdims
    yr, yc, yoff_r, yoff_c = ydims
    Mg, Ng = c.M // c.G, c.N // c.G
    khw = c.Kh * c.Kw
    # per loop: extent and coefficients (x, w, y in elements; input row, input col)
    table = {
        "b": (c.B, c.M * xr * xc, 0, c.N * yr * yc, 0, 0),
        "i": (c.Ho, c.Sh * xc, 0, yc, c.Sh, 0),
        "j": (c.Wo, c.Sw, 0, 1, 0, c.Sw),
        "g": (c.G, Mg * xr * xc, Ng * Mg * khw, Ng * yr * yc, 0, 0),
        "n": (Ng, 0, Mg * khw, yr * yc, 0, 0),
        "m": (Mg, xr * xc, khw, 0, 0, 0),
        "p": (c.Kh, xc, c.Kw, 0, 1, 0),
        "q": (c.Kw, 1, 1, 0, 0, 1),
    }
    loops, limits = _tiled_loops(table, order, tiles, c.G, c.N)
    # a loop of extent 1 changes nothing (its index stays 0, also in the guard forms):
    # leaving it out shortens the odometer
    loops = [lp for lp in loops if lp[1] > 1] or loops[-1:]
    dims = tuple(lp[0] for lp in loops)
    ext = np.array([lp[1] for lp in loops], dtype=np.int64)
    coef = np.array([[lp[2][r] for lp in loops] for r in range(5)]
                    + [[lp[3].get(k, 0) for lp in loops] for k in range(len(limits))],
                    dtype=np.int64).reshape(5 + len(limits), len(loops))
    coef[:3] *= d
    # input row of tap (i, p) is i·Sh + p − pad_before; explicit mode stores x shifted by it
    row0, col0 = -c.pad_h[0], -c.pad_w[0]
    xbase = x.base + (0 if explicit else (row0 * xc + col0) * d)
    ybase = y.base + (yoff_r * yc + yoff_c) * d
    base = np.array([xbase, w.base, ybase, row0, col0] + [0] * len(limits), dtype=np.int64)
    bounds = None if explicit else (c.H, c.Wd)
    if bounds is not None and all(p == (0, 0) for p in (c.pad_h, c.pad_w)):
        bounds = None  # no tap can fall outside
    return Nest(dims, ext, coef, base, (x.category, w.category, y.category), bounds, d,
                tuple(limits))


# one loop of a nest: name, extent, its five coefficients, and its coefficient in each
# guard form that it enters ({guard number: coefficient})
Loop = tuple[str, int, tuple[int, ...], dict[int, int]]


def _scaled(v: tuple[int, ...], f: int) -> tuple[int, ...]:
    return tuple(f * a for a in v)


def _tiled_loops(table: dict, order: str, tiles: dict[str, int], G: int,
                 N: int) -> tuple[list[Loop], list[int]]:
    """The loops of `order` outermost first, tile loops (upper case) and their loops split,
    and the limits of the guard forms.

    A loop x of extent E split by tile T becomes X (extent ceil(E/T), coefficients T times
    x's) and x (extent T); where T does not divide E the last tile is shorter, and the
    guard form T·X + x < E drops the iterations past the end. A nest whose loop is shorter
    than T takes it as one tile. The group convolution's filter loop n (N filters, the
    group g = n // (N/G) of a filter decides which channels it reads) is kept linear
    thus: a tile of whole groups splits its inner loop into (g, n); a tile within a group
    splits its tile loop into (g, N); any other tile walks every g next to the inner of N
    and n, and two guards keep the one g with (N/G)·g ≤ T·N + n < (N/G)·(g + 1) (each
    filter once, in filter order)."""
    limits: list[int] = []
    guard: dict[str, int] = {}  # split loop → its remainder guard
    size: dict[str, int] = {}
    for loop, t in tiles.items():
        extent = N if (loop == "n" and G > 1) else table[loop][0]
        size[loop] = t = min(t, extent)
        if extent % t:
            guard[loop] = len(limits)
            limits.append(extent)
    vec = {k: tuple(v[1:]) for k, v in table.items()}

    def rem(loop: str, f: int) -> dict[int, int]:
        return {guard[loop]: f} if loop in guard else {}

    group_guard = None
    if "n" in tiles and G > 1:
        Ng, t = N // G, size["n"]
        if t % Ng and Ng % t:  # two guards: f − Ng·g < Ng and Ng·g − f < 1 (f = filter)
            group_guard = len(limits)
            limits += [Ng, 1]

    out: list[Loop] = []
    for ch in order:
        loop = ch.lower()
        tiled = loop in tiles
        if loop == "n" and G > 1:
            inner = ch == max("Nn", key=order.find)
            out += _group_filter_loops(ch, vec, size.get("n"), G, N, rem, group_guard,
                                       inner)
        elif not tiled:
            out.append((loop, table[loop][0], vec[loop], {}))
        elif ch.isupper():
            t = size[loop]
            out.append((ch, -(-table[loop][0] // t), _scaled(vec[loop], t), rem(loop, t)))
        else:
            out.append((loop, size[loop], vec[loop], rem(loop, 1)))
    return out, limits


def _group_filter_loops(ch: str, vec: dict, t: int | None, G: int, N: int,
                        rem, group_guard: int | None, inner: bool) -> list[Loop]:
    """The loops that stand for letter `ch` (n, or the tile loop N) of a group convolution
    (see _tiled_loops); `inner`: `ch` comes after the other of N and n in the order."""
    Ng = N // G
    g, n = vec["g"], vec["n"]
    if t is None:  # not tiled: g then n, the order of n
        return [("g", G, g, {}), ("n", Ng, n, {})]
    x_group = (g[0], 0, 0, 0, 0)  # the part of g's coefficients that n's lack
    if t % Ng == 0:  # tiles of whole groups
        k = t // Ng
        if ch == "N":
            v = tuple(a + b for a, b in zip(_scaled(n, t), _scaled(x_group, k), strict=True))
            return [("N", -(-N // t), v, rem("n", t))]
        return [("g", k, g, rem("n", Ng)), ("n", Ng, n, rem("n", 1))]
    if Ng % t == 0:  # tiles within a group
        if ch == "N":
            return [("g", G, g, {}), ("N", Ng // t, _scaled(n, t), {})]
        return [("n", t, n, {})]
    # any other tile: g walks every group just outside the inner of N and n, where the
    # filters f = t·N + n it keeps come in filter order; its guards keep the g with
    # Ng·g ≤ f < Ng·(g + 1)
    hi, lo = group_guard, group_guard + 1
    if ch == "N":
        out = [("N", -(-N // t), _scaled(n, t), {**rem("n", t), hi: t, lo: -t})]
    else:
        out = [("n", t, n, {**rem("n", 1), hi: 1, lo: -1})]
    return ([("g", G, x_group, {hi: -Ng, lo: Ng})] if inner else []) + out


def trace_chunks(p: Plan, chunk: int = 1 << 20) -> Iterator[tuple[np.ndarray, ...]]:
    """The layer's trace as (addr, size, is_write, tensor) arrays of about `chunk` accesses.

    Vectorised with NumPy; used for trace files and as a second, independent walk of the
    nest in tests. Memory stays bounded by `chunk`.
    """
    for nest in p.nests:
        per = max(1, chunk // 4)
        total = nest.iterations
        for start in range(0, total, per):
            idx = np.arange(start, min(start + per, total), dtype=np.int64)
            digits = np.empty((len(nest.dims), len(idx)), dtype=np.int64)
            rest = idx
            for k in range(len(nest.dims) - 1, -1, -1):
                rest, digits[k] = np.divmod(rest, nest.ext[k])
            forms = nest.base[:, None] + nest.coef @ digits
            if nest.bounds is not None:
                rows, cols = nest.bounds
                ok = ((forms[CROW] >= 0) & (forms[CROW] < rows)
                      & (forms[CCOL] >= 0) & (forms[CCOL] < cols))
                forms = forms[:, ok]
            for k, limit in enumerate(nest.limits):
                forms = forms[:, forms[CCOL + 1 + k] < limit]
            n = forms.shape[1]
            addr = np.empty(4 * n, dtype=np.int64)
            addr[0::4], addr[1::4] = forms[CX], forms[CW]
            addr[2::4] = addr[3::4] = forms[CY]
            is_write = np.zeros(4 * n, dtype=np.uint8)
            is_write[3::4] = 1
            tensor = np.tile(np.array(nest.tensors + (nest.tensors[2],), dtype=np.int8), n)
            size = np.full(4 * n, nest.dtype_bytes, dtype=np.int64)
            yield addr, size, is_write, tensor


# ---------------------------------------------------------------- accesses → loop indices
# (simcache explain). A layer's trace holds only the iterations performed (a tap outside
# the input, or an index past a tiled loop's end, makes no access), four accesses each,
# nest after nest; these functions find the iteration behind any access by counting, without
# walking the nest up to it.

_LOW = -(1 << 62)  # no lower limit (a guard form only has an upper one)


def _conditions(nest: Nest) -> list[tuple[int, int, int]]:
    """What an iteration must meet to be performed: (coef row, low, end) for each form that
    must lie in [low, end): the input row and column (skipped taps), then the guards."""
    out = []
    if nest.bounds is not None:
        out += [(CROW, 0, nest.bounds[0]), (CCOL, 0, nest.bounds[1])]
    out += [(CCOL + 1 + k, _LOW, limit) for k, limit in enumerate(nest.limits)]
    return out


def _block_counts(nest: Nest, digits: list[int], d: int) -> np.ndarray:
    """For each value v of loop `d`: how many iterations are performed whose loops above d
    are at `digits[:d]`, whose loop d is at v, and whose loops below are anything.

    The conditions fall into groups that share no free loop (below d): the input row's
    (i, p and their tile loops), the column's, a tiled b's, ... Within a group every
    combination of its free loops is tried (a few thousand at most); the groups multiply,
    and so do the extents of the free loops no condition reads."""
    ext = [int(e) for e in nest.ext]
    v = np.arange(ext[d], dtype=np.int64)
    conds = _conditions(nest)
    free = list(range(d + 1, len(ext)))
    used = {e: [c for c, (row, _, _) in enumerate(conds) if nest.coef[row, e]] for e in free}
    out = np.full(len(v), math.prod(ext[e] for e in free if not used[e]), dtype=np.int64)
    left = set(range(len(conds)))
    while left:  # one group of conditions, joined by the free loops they share
        group, dims, todo = {min(left)}, set(), [min(left)]
        while todo:
            c = todo.pop()
            for e in free:
                if c in used[e] and e not in dims:
                    dims.add(e)
                    todo += [k for k in used[e] if k not in group]
                    group.update(used[e])
        left -= group
        rows = [conds[c] for c in sorted(group)]
        dims_l = sorted(dims)
        grid = (np.indices([ext[e] for e in dims_l]).reshape(len(dims_l), -1)
                if dims_l else np.zeros((0, 1), dtype=np.int64))
        # a group that loop d does not move counts the same for every v
        vs = v if any(nest.coef[row, d] for row, _, _ in rows) else v[:1]
        ok = np.ones((len(vs), grid.shape[1]), dtype=bool)
        for row, low, end in rows:
            fixed = int(nest.base[row]) + sum(int(nest.coef[row, e]) * digits[e]
                                              for e in range(d))
            here = fixed + int(nest.coef[row, d]) * vs
            inner = nest.coef[row, dims_l] @ grid if dims_l else np.zeros(1, dtype=np.int64)
            form = here[:, None] + inner[None, :]
            ok &= (form >= low) & (form < end)
        out *= ok.sum(axis=1)
    return out


def _digits_of(nest: Nest, flat: int) -> list[int]:
    digits, rest = [0] * len(nest.dims), flat
    for d in range(len(nest.dims) - 1, -1, -1):
        rest, digits[d] = divmod(rest, int(nest.ext[d]))
    return digits


def inbounds_before(nest: Nest, flat: int) -> int:
    """Iterations of `nest` with flat index below `flat` that are performed (every one when
    the nest skips nothing)."""
    flat = max(0, min(int(flat), nest.iterations))
    if not _conditions(nest):
        return flat
    if flat == nest.iterations:
        return int(_block_counts(nest, [], 0).sum())
    digits = _digits_of(nest, flat)
    return sum(int(_block_counts(nest, digits, d)[:digits[d]].sum())
               for d in range(len(digits)) if digits[d])


def trace_length(p: Plan) -> int:
    """Accesses in the plan's trace (four per in-bounds iteration), without walking it."""
    return 4 * sum(inbounds_before(n, n.iterations) for n in p.nests)


def _digits(nest: Nest, flats: np.ndarray) -> np.ndarray:
    """Loop indices [dim, k] of flat iterations, outermost loop first."""
    out = np.empty((len(nest.dims), len(flats)), dtype=np.int64)
    rest = flats
    for k in range(len(nest.dims) - 1, -1, -1):
        rest, out[k] = np.divmod(rest, nest.ext[k])
    return out


def _inbounds(nest: Nest, digits: np.ndarray) -> np.ndarray:
    """Whether each iteration (columns of `digits`) is performed."""
    ok = np.ones(digits.shape[1], dtype=bool)
    for row, low, end in _conditions(nest):
        form = nest.base[row] + nest.coef[row] @ digits
        ok &= (form >= low) & (form < end)
    return ok


def _nth_inbounds(nest: Nest, r: int) -> int:
    """Flat index of the performed iteration of rank `r` (0: the first), loop by loop."""
    if not _conditions(nest):
        return r
    digits = [0] * len(nest.dims)
    for d in range(len(digits)):
        cum = np.cumsum(_block_counts(nest, digits, d))
        digits[d] = int(np.searchsorted(cum, r, "right"))
        r -= int(cum[digits[d] - 1]) if digits[d] else 0
    flat = 0
    for d, e in zip(digits, nest.ext, strict=True):
        flat = flat * int(e) + d
    return flat


def window_loops(p: Plan, start: int, stop: int) -> list[tuple[int, int, np.ndarray]]:
    """The iterations behind accesses [start, stop) of the plan's trace (as trace_chunks
    lays it out), as runs of (nest index, access index of the run's first iteration's first
    access, loop indices [dim, iteration] in that nest's dims, outermost first). The
    accesses of an iteration are read x, read w, read y, write y; a run may begin before
    `start` and end after `stop` by up to three accesses. Padding-skipped taps are left out,
    as the trace leaves them out; the first iteration is found by counting
    (inbounds_before), not by walking the nest."""
    out: list[tuple[int, int, np.ndarray]] = []
    if stop <= start:
        return out
    first_it, last_it = start // 4, (stop - 1) // 4
    seen = 0  # in-bounds iterations of the nests before this one
    for k, nest in enumerate(p.nests):
        here = inbounds_before(nest, nest.iterations)
        lo, hi = max(first_it - seen, 0), min(last_it - seen, here - 1)
        if lo <= hi:
            want, flat, got = hi - lo + 1, _nth_inbounds(nest, lo), []
            span = max(64, 2 * want)
            while want > 0 and flat < nest.iterations:
                flats = np.arange(flat, min(flat + span, nest.iterations), dtype=np.int64)
                digits = _digits(nest, flats)
                keep = digits[:, _inbounds(nest, digits)][:, :want]
                got.append(keep)
                want -= keep.shape[1]
                flat += len(flats)
                span *= 2
            out.append((k, 4 * (seen + lo), np.concatenate(got, axis=1)))
        seen += here
        if seen > last_it:
            break
    return out


def loop_indices(nest: Nest, order: str, digits) -> dict[str, int]:
    """One iteration's loop indices as a person names them: every loop of `order` (the
    layer's order string, outermost first), 0 where the nest leaves a loop of extent 1 out;
    a group split's g and n folded back into the filter index n = g·(N/G) + n; any other
    loop of the nest (a tile loop, say) under its own name, in the nest's order."""
    got = {d: int(v) for d, v in zip(nest.dims, digits, strict=True)}
    if "g" in got:
        per = int(nest.ext[nest.dims.index("n")]) if "n" in got else 1
        got["n"] = got.pop("g") * per + got.get("n", 0)
    out = {d: got.pop(d, 0) for d in order}
    out.update(got)
    return out
