"""Layer types, presets (Table 2.2) and theoretical metrics (Equations 2.1–2.4)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import SimcacheError

LAYER_TYPES = ("spatial", "separable", "pointwise", "group", "depthwise", "fc")
DEFAULT_ORDER = "bijnmpq"
DIMS = ("M", "N", "F", "K", "G")
# dimensions a layer type fixes (K = 1 for pointwise, ...), left to the type when several
# types run at once (--layer all, a sweep's layer axis); G belongs to group layers only
FIXED_BY_TYPE = {"pointwise": ("K",), "fc": ("F", "K"), "depthwise": ("N",)}
TILE_LOOPS = "bijnm"  # loops that --tile can split (p and q run over the kernel)

# Table 2.2 of the document (Wu 2019): typical early and late layers, B = 1, G = 4; and the
# fully connected example of its section 2.3, VGG16's fc1 (7·7·512 → 4096; Simonyan and
# Zisserman, "Very deep convolutional networks for large-scale image recognition", 2015).
PRESETS: dict[str, dict[str, int]] = {
    "early": {"M": 32, "N": 32, "F": 112, "K": 3, "G": 4},
    "late": {"M": 512, "N": 512, "F": 7, "K": 3, "G": 4},
    "vgg16-fc1": {"M": 7 * 7 * 512, "N": 4096, "F": 1, "K": 1, "G": 1},
}
PRESET_TYPES = {"vgg16-fc1": ("fc",)}  # presets that describe one layer type only
CONV_TYPES = ("spatial", "separable", "pointwise", "group", "depthwise")

# Table 2.2 as printed (Params, MACs, arithmetic intensity), for comparison with ours.
TABLE_2_2: dict[tuple[str, str], tuple[str, str, str]] = {
    ("spatial", "early"): ("9,216", "1.16e8", "143"),
    ("spatial", "late"): ("2.36e6", "1.16e8", "48.1"),
    ("separable", "early"): ("3072", "3.85e7", "47.8"),
    ("separable", "late"): ("7.86e5", "3.85e7", "46.1"),
    ("pointwise", "early"): ("1024", "1.28e7", "16.0"),
    ("pointwise", "late"): ("2.62e5", "1.28e7", "41.1"),
    ("group", "early"): ("2304", "2.89e7", "35.9"),
    ("group", "late"): ("5.89e5", "2.89e7", "45.2"),
    ("depthwise", "early"): ("288", "3.61e6", "4.50"),
    ("depthwise", "late"): ("4,608", "2.26e5", "4.12"),
}


def _not_bool(v):
    if isinstance(v, bool):
        raise ValueError(f"expected 1, 2, 4 or 8 bytes, got {v}")
    return v


def parse_tiles(value: Any) -> dict:
    """`n=8,m=16` (the --tile syntax), a mapping or None → {loop: size}. Only the shape is
    checked here; Layer.problems() checks loops and sizes, one line each."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str):
        items = []
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            loop, eq, size = (x.strip() for x in part.partition("="))
            if not eq or not loop:
                raise ValueError(f"{part!r}: write loop=size, e.g. n=8,m=16")
            if not re.fullmatch(r"-?[0-9]+", size):
                raise ValueError(f"{part!r}: the size {size!r} is not a whole number")
            items.append((loop, int(size)))
    else:
        raise ValueError(f"expected loop=size pairs such as 'n=8,m=16', got {value!r}")
    out: dict[str, int] = {}
    for loop, size in items:
        if not isinstance(loop, str):
            raise ValueError(f"{loop!r} is not a loop name (b, i, j, n or m)")
        if isinstance(size, bool) or not isinstance(size, int):
            raise ValueError(f"{loop}={size!r}: a tile size is a whole number")
        if loop in out:
            raise ValueError(f"{loop} is tiled twice ({loop}={out[loop]} and {loop}={size})")
        out[loop] = size
    return out


def tiles_text(tiles: Mapping[str, int]) -> str:
    """{'n': 8, 'm': 16} → 'n=8,m=16' (the --tile syntax)."""
    return ",".join(f"{k}={v}" for k, v in tiles.items())


class LayerError(SimcacheError):
    """Problems with a layer description, one formatted line each."""


class Layer(BaseModel):
    """One layer: a type, the document's dimensions, and how the loop nest runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["spatial", "separable", "pointwise", "group", "depthwise", "fc"]
    B: int = Field(1, ge=1, description="batch size", strict=True)
    M: int = Field(ge=1, description="input channels", strict=True)
    N: int = Field(ge=1, description="output channels (filters)", strict=True)
    F: int = Field(ge=1, description="input height and width", strict=True)
    K: int = Field(ge=1, description="kernel height and width", strict=True)
    G: int = Field(1, ge=1, description="groups (group convolution)", strict=True)
    stride: int = Field(1, ge=1, strict=True)
    padding: Literal["skip", "explicit"] = "skip"
    pad: int | None = Field(None, ge=0, strict=True,
                            description="symmetric padding; None = Listing 2.1's")
    order: str = DEFAULT_ORDER
    tiles: Annotated[dict[str, int], BeforeValidator(parse_tiles)] = Field(
        default_factory=dict, description="loop → tile size (docs/model.md, Tiling)")
    dtype_bytes: Annotated[Literal[1, 2, 4, 8], BeforeValidator(_not_bool)] = 4

    def __hash__(self) -> int:  # frozen, and hashable although `tiles` is a dict
        return hash(tuple((k, tuple(v.items()) if isinstance(v, dict) else v)
                          for k, v in self.__dict__.items()))

    @model_validator(mode="before")
    @classmethod
    def _tile_loops_outermost(cls, data: Any) -> Any:
        """With tiles and an order that names no tile loop, the tile loops go outermost,
        in the order their loops have in the order (classic tiling)."""
        if not isinstance(data, dict) or not data.get("tiles"):
            return data
        order = data.get("order", DEFAULT_ORDER)
        try:
            tiles = parse_tiles(data["tiles"])
        except ValueError:
            return data  # the field's validator says why
        if not isinstance(order, str) or any(ch.isupper() for ch in order):
            return data
        outer = "".join(ch.upper() for ch in dict.fromkeys(order) if ch in tiles
                        and ch in TILE_LOOPS)
        return {**data, "order": outer + order}

    @field_validator("order")
    @classmethod
    def _order(cls, v: str) -> str:
        lower = [ch for ch in v if not ch.isupper()]
        if sorted(lower) != sorted(DEFAULT_ORDER):
            why = []
            for ch in dict.fromkeys(lower):
                if ch not in DEFAULT_ORDER:
                    why.append(f"{ch!r} is not a loop")
                elif lower.count(ch) > 1:
                    why.append(f"it repeats {ch}")
            missing = [ch for ch in DEFAULT_ORDER if ch not in lower]
            if missing:
                why.append(f"it lacks {' '.join(missing)}")
            raise ValueError(
                f"{v!r} is not a permutation of {DEFAULT_ORDER!r} (each of b i j n m p q "
                f"once, and upper-case B I J N M for tile loops): {'; '.join(why)}")
        upper = [ch for ch in v if ch.isupper()]
        for ch in dict.fromkeys(upper):
            if ch.lower() not in TILE_LOOPS:
                raise ValueError(f"{v!r}: {ch} is not a tile loop; only b i j n m can be "
                                 "tiled (B I J N M)")
            if upper.count(ch) > 1:
                raise ValueError(f"{v!r} repeats the tile loop {ch}")
        return v

    # -- derived sizes
    @property
    def pads(self) -> tuple[int, int]:
        """(before, after) padding of a K-tap dimension."""
        if self.pad is not None:
            return self.pad, self.pad
        return self.K // 2, self.K - 1 - self.K // 2

    @property
    def F_out(self) -> int:
        before, after = self.pads
        return (self.F + before + after - self.K) // self.stride + 1

    @property
    def groups(self) -> int:
        """G of the loop nest: M for depthwise, G for group, else 1."""
        return {"group": self.G, "depthwise": self.M}.get(self.type, 1)

    def loop_extents(self) -> dict[str, tuple[int, str]]:
        """The extent of each loop that can be tiled, and how it is named: a tile may be
        as large as it. Separable's two nests differ in j (F, then F') and m (M, then N);
        the larger counts, and a nest whose loop is shorter takes the tile whole."""
        Fo = self.F_out
        ext = {"b": (self.B, "B"), "i": (Fo, "F'"), "j": (Fo, "F'"), "n": (self.N, "N"),
               "m": (self.M, "M")}
        if self.type == "group":
            ext["m"] = (self.M // self.G, "M/G")
        elif self.type == "depthwise":
            ext["m"] = (1, "each filter reads one channel")
        elif self.type == "separable":
            ext["j"] = max((self.F, "F in the K×1 nest"), (Fo, "F'"))
            ext["m"] = max((self.M, "M"), (self.N, "N in the 1×K nest"))
        return ext

    def tile_problems(self) -> list[str]:
        """`tiles:` and `order:` lines for tile sizes and tile loops, one per problem."""
        out = []
        ext = self.loop_extents()
        for loop, size in self.tiles.items():
            if loop in ("p", "q"):
                out.append(f"tiles: {loop} runs over the kernel and cannot be tiled; tile "
                           "b, i, j, n or m")
            elif loop not in TILE_LOOPS:
                hint = (f" (loops are named in lower case: {loop.lower()})"
                        if loop.lower() in TILE_LOOPS else "")
                out.append(f"tiles: {loop!r} is not a loop that can be tiled; tile b, i, j, "
                           f"n or m{hint}")
            elif size < 1:
                out.append(f"tiles: {loop}={size}: a tile size is at least 1")
            elif size > ext[loop][0]:
                e, name = ext[loop]
                out.append(f"tiles: {loop}={size} is larger than the {self.type} layer's "
                           f"{loop} loop, of extent {e} ({name})")
        tiled = [k for k in self.tiles if k in TILE_LOOPS]
        upper = [ch.lower() for ch in self.order if ch.isupper()]
        extra = [ch for ch in upper if ch not in self.tiles]
        if extra:
            out.append(f"order: {self.order!r} names the tile loop{'s' if len(extra) > 1 else ''} "
                       f"{' '.join(c.upper() for c in extra)} but "
                       f"{' '.join(extra)} {'is' if len(extra) == 1 else 'are'} not tiled "
                       f"(add --tile {extra[0]}=SIZE)")
        missing = [k for k in tiled if k not in upper]
        if upper and missing:
            out.append(f"order: {self.order!r} does not place the tile loop"
                       f"{'s' if len(missing) > 1 else ''} "
                       f"{' '.join(c.upper() for c in missing)}; name every tile loop "
                       "(upper case) or none (they then go outermost)")
        return out

    def problems(self) -> list[str]:
        """Cross-field checks, as `field: message` lines."""
        out = []
        t = self.type
        if t == "pointwise" and self.K != 1:
            out.append(f"K: a pointwise convolution has K = 1, got {self.K}")
        if t == "fc":
            if self.F != 1:
                out.append(f"F: a fully connected layer has F = 1, got {self.F}")
            if self.K != 1:
                out.append(f"K: a fully connected layer has K = 1, got {self.K}")
            if self.pad:
                out.append(f"pad: a fully connected layer takes no padding, got {self.pad}")
        if t == "depthwise" and self.N != self.M:
            out.append(f"N: a depthwise convolution has N = M = {self.M}, got {self.N}")
        if t == "group":
            for d in ("M", "N"):
                if getattr(self, d) % self.G:
                    out.append(f"G: {self.G} groups do not divide {d} = {getattr(self, d)}")
        elif self.G != 1:
            out.append(f"G: only a group convolution takes G, got G = {self.G} for {t}")
        out += self.tile_problems()
        before, after = self.pads
        if self.F + before + after < self.K:
            out.append(
                f"K: kernel {self.K} is larger than the padded input "
                f"F + padding = {self.F + before + after}"
            )
        return out

    def describe(self) -> str:
        s = f"{self.type} B={self.B} M={self.M} N={self.N} F={self.F} K={self.K}"
        if self.type == "group":
            s += f" G={self.G}"
        if self.stride != 1:
            s += f" stride={self.stride}"
        s += f" padding={self.padding} order={self.order}"
        return s + (f" tiles {tiles_text(self.tiles)}" if self.tiles else "")


def make_layer(**fields) -> Layer:
    """Validate a layer; raise LayerError with one `field: message` line per problem."""
    try:
        layer = Layer(**fields)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg}" if loc else msg)
        raise LayerError(lines) from None
    problems = layer.problems()
    if not problems:
        from .loopnest import limit_problems  # loopnest imports this module

        problems = limit_problems(layer)
    if problems:
        raise LayerError(problems)
    return layer


def build_layer(type: str, preset: str | None = None, **given) -> Layer:
    """A layer from a type, an optional preset and the dimensions a user gave (None = not given).

    Without a preset the `early` dimensions are the defaults. With one, a given dimension
    that contradicts it is an error. Dimensions the type fixes (K = 1 for pointwise, F = K = 1
    for fc, N = M for depthwise) replace the preset's silently, but not a user's.
    """
    if type not in LAYER_TYPES:
        choices = ", ".join(LAYER_TYPES)
        raise LayerError([f"layer: unknown layer type {type!r}; choose from {choices}"])
    if preset is not None and preset not in PRESETS:
        raise LayerError([f"preset: unknown preset {preset!r}; choose from {', '.join(PRESETS)}"])
    if preset in PRESET_TYPES and type not in PRESET_TYPES[preset]:
        allowed = " or ".join(PRESET_TYPES[preset])
        raise LayerError([f"preset: {preset!r} is a {allowed} layer, not {type}"])
    dims = dict(PRESETS[preset or "early"])
    problems = []
    if preset is not None:
        for d in DIMS:
            if d == "G" and type != "group":
                continue
            if given.get(d) is not None and given[d] != dims[d]:
                problems.append(f"{d}: {given[d]} contradicts preset {preset!r} ({d} = {dims[d]})")
    if problems:
        raise LayerError(problems)
    forced = {"pointwise": {"K": 1}, "fc": {"F": 1, "K": 1}}.get(type, {})
    dims.update(forced)
    if type != "group":
        dims["G"] = 1
    for d, v in given.items():
        if v is not None:
            dims[d] = v
    if type == "depthwise" and given.get("N") is None:
        dims["N"] = dims["M"]
    return make_layer(type=type, **dims)


# ---------------------------------------------------------------- metrics (Eq. 2.1–2.4)


@dataclass(frozen=True)
class Metrics:
    """Theoretical metrics in elements; `*_bytes` multiply by the element size."""

    macs: int  # Eq. 2.1, every tap
    params: int  # Eq. 2.2
    inputs: int
    outputs: int
    intermediate: int  # separable only: the tensor between the two nests
    dtype_bytes: int

    @property
    def activations(self) -> int:
        """Eq. 2.3: inputs plus outputs of the layer."""
        return self.inputs + self.outputs

    @property
    def intensity(self) -> float:
        """Eq. 2.4: MACs per element of parameters plus activations."""
        return self.macs / (self.params + self.activations)

    @property
    def params_bytes(self) -> int:
        return self.params * self.dtype_bytes

    @property
    def activations_bytes(self) -> int:
        return self.activations * self.dtype_bytes

    @property
    def intensity_bytes(self) -> float:
        """Eq. 2.4 per byte: MACs per byte of parameters plus activations."""
        return self.intensity / self.dtype_bytes

    @property
    def min_traffic_bytes(self) -> int:
        """Bytes a perfect cache still moves to and from memory: every parameter and input
        read once; every output (and separable's intermediate) read once and written once,
        because the nest accumulates into it (`y += x * w` reads y first)."""
        moved = self.params + self.inputs + 2 * self.outputs + 2 * self.intermediate
        return moved * self.dtype_bytes


def metrics(layer: Layer) -> Metrics:
    """Eq. 2.1–2.4 generalised to stride and padding (F' = output size)."""
    B, M, N, F, K, Fo = layer.B, layer.M, layer.N, layer.F, layer.K, layer.F_out
    inter = 0
    if layer.type == "separable":
        # Two nests (K×1 then 1×K), as simulated; the document's Table 2.1 counts one.
        params = M * N * K + N * N * K
        macs = B * N * M * K * Fo * F + B * N * N * K * Fo * Fo
        inter = B * N * Fo * F
    else:
        G = layer.groups
        params = N * (M // G) * K * K
        macs = B * N * (M // G) * K * K * Fo * Fo
    return Metrics(macs, params, B * M * F * F, B * N * Fo * Fo, inter, layer.dtype_bytes)


def as_printed(value: float, printed: str) -> str:
    """`value` in the format of a cell of the document's table: '9,216', '3072', '1.16e8',
    '48.1', '4.50'."""
    if "e" in printed:
        digits = len(printed.split("e")[0].partition(".")[2])
        mantissa, exp = f"{value:.{digits}e}".split("e")
        return f"{mantissa}e{int(exp)}"
    if "." in printed:
        return f"{value:.{len(printed.partition('.')[2])}f}"
    return f"{round(value):,}" if "," in printed else f"{round(value)}"
