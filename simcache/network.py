"""Whole networks: a layer list (models/*.yaml) → the layers simcache simulates.

A network file names every layer and gives the dimensions its paper gives. Layers read
the previous layer's output, or the outputs named by `input`. The loader follows the
shape (channels, size) through every layer, simulated or not, and reports an entry whose
M or F contradicts what its input provides. Layers the model does not cover (pooling,
concatenation, residual additions, activations) are kept as skipped, with their shape
effect, so that they are listed rather than silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import Name, Text, _node_line, validation_problems
from .errors import SimcacheError
from .layers import LAYER_TYPES, Layer, LayerError, make_layer
from .yamlfile import read_yaml

SKIPPED_TYPES = ("maxpool", "avgpool", "globalavgpool", "concat", "add", "flatten", "relu",
                 "relu6", "batchnorm", "dropout", "softmax")


class NetworkError(SimcacheError):
    """Problems with a network file, one formatted line each."""


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    type: Literal[LAYER_TYPES + SKIPPED_TYPES]  # type: ignore[valid-type]
    M: int | None = Field(None, ge=1, strict=True)
    N: int | None = Field(None, ge=1, strict=True)
    F: int | None = Field(None, ge=1, strict=True)
    K: int | None = Field(None, ge=1, strict=True)
    G: int | None = Field(None, ge=1, strict=True)
    stride: int = Field(1, ge=1, strict=True)
    pad: int | None = Field(None, ge=0, strict=True)
    input: Name | list[Name] | None = None


class InputShape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: int = Field(ge=1, strict=True)
    size: int = Field(ge=1, strict=True)


class NetworkFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    description: Text = ""
    source: Text = Field(min_length=1)
    input: InputShape
    layers: list[Entry] = Field(min_length=1, max_length=10_000)


@dataclass(frozen=True)
class NetLayer:
    """One entry: the layer to simulate, or why it is skipped; and its output shape."""

    name: str
    type: str
    layer: Layer | None
    skipped: str | None
    channels: int
    size: int
    # the entries it reads (INPUT: the network's input), and a pooling window's K, stride
    # and pad (None elsewhere): what a warm network needs to lay out its accesses (chain.py)
    inputs: tuple[str, ...] = ()
    K: int | None = None
    stride: int = 1
    pad: int | None = None


INPUT = "<input>"  # the network's input, in NetLayer.inputs (no entry can have this name)


@dataclass(frozen=True)
class Network:
    name: str
    description: str
    source: str
    layers: tuple[NetLayer, ...]
    input: tuple[int, int] = (1, 1)  # channels, size
    batch: int = 1
    dtype_bytes: int = 4
    padding: str = "skip"

    @property
    def simulated(self) -> list[NetLayer]:
        return [x for x in self.layers if x.layer is not None]

    @property
    def skipped(self) -> list[NetLayer]:
        return [x for x in self.layers if x.layer is None]


_NEEDS = {"spatial": "MNFK", "separable": "MNFK", "pointwise": "MNF", "group": "MNFKG",
          "depthwise": "MFK", "fc": "MN", "maxpool": "K", "avgpool": "K"}


def _shape_of(e: Entry, inputs: list[tuple[int, int]]) -> tuple[int, int]:
    """Output (channels, size) of a layer the model does not simulate."""
    c, f = inputs[0]
    if e.type in ("maxpool", "avgpool"):
        pad = e.pad or 0
        size = (f + 2 * pad - e.K) // e.stride + 1
        if size < 1:
            raise ValueError(f"a {e.K}-wide window does not fit an input of size {f}"
                             f"{f' padded by {pad}' if pad else ''}")
        return c, size
    if e.type == "globalavgpool":
        return c, 1
    if e.type == "flatten":
        return c * f * f, 1
    if e.type == "concat":
        if len({s for _, s in inputs}) > 1:
            raise ValueError(f"concatenates inputs of sizes {sorted({s for _, s in inputs})}")
        return sum(ch for ch, _ in inputs), f
    if e.type == "add":
        if len(set(inputs)) > 1:
            raise ValueError(f"adds inputs of different shapes {inputs}")
    return c, f


def build_network(net: NetworkFile, batch: int = 1, padding: str = "skip",
                  order: str = "bijnmpq", dtype_bytes: int = 4) -> tuple[Network, list[str]]:
    """Follow the shapes through the layer list; return the network and its problems, each
    `layers.K (name): message`."""
    problems: list[str] = []
    shapes: dict[str, tuple[int, int]] = {}
    previous = (net.input.channels, net.input.size)
    out: list[NetLayer] = []
    for k, e in enumerate(net.layers):
        where = f"layers.{k} ({e.name})"
        if e.name in shapes:
            problems.append(f"{where}: name used twice")
        names = [e.input] if isinstance(e.input, str) else (e.input or [])
        unknown = [n for n in names if n not in shapes]
        if unknown:
            problems.append(f"{where}: input {', '.join(unknown)} is not an earlier layer")
            names = []
        if e.type in ("concat", "add") and len(names) < 2:
            problems.append(f"{where}: {e.type} needs two or more inputs")
        inputs = [shapes[n] for n in names] or [previous]
        sources = tuple(names) or (out[-1].name if out else INPUT,)
        missing = [d for d in _NEEDS.get(e.type, "") if getattr(e, d) is None]
        if missing:
            problems.append(f"{where}: {e.type} needs {', '.join(missing)}")
            shapes[e.name] = previous = inputs[0]
            continue
        if e.type in SKIPPED_TYPES:
            try:
                channels, size = _shape_of(e, inputs)
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
                channels, size = inputs[0]
            out.append(NetLayer(e.name, e.type, None, f"{e.type}: not a loop nest simcache "
                                "models", channels, size, sources, e.K, e.stride, e.pad))
        else:
            channels, size = inputs[0]
            F = 1 if e.type == "fc" else e.F
            M = e.M
            if (M, F) != (channels, size):
                problems.append(f"{where}: M = {M}, F = {F} but its input provides "
                                f"{channels} channels of size {size}")
            try:
                layer = make_layer(
                    type=e.type, B=batch, M=M, N=e.N if e.type != "depthwise" else M, F=F,
                    K=1 if e.type in ("fc", "pointwise") else e.K,
                    G=e.G if e.type == "group" else 1, stride=e.stride,
                    pad=e.pad if e.type != "fc" else None, padding=padding, order=order,
                    dtype_bytes=dtype_bytes)
            except LayerError as exc:
                problems += [f"{where}: {p}" for p in exc.problems]
                shapes[e.name] = previous = inputs[0]
                continue
            channels, size = layer.N, layer.F_out
            out.append(NetLayer(e.name, e.type, layer, None, channels, size, sources))
        shapes[e.name] = previous = (channels, size)
    return Network(net.name, net.description, net.source, tuple(out),
                   (net.input.channels, net.input.size), batch, dtype_bytes,
                   padding), problems


def load_network(path: str | Path, **options) -> Network:
    """Read a network file; raise NetworkError naming the file, line and entry."""
    data, root = read_yaml(path, NetworkError, "network")
    if not isinstance(data, dict):
        raise NetworkError([f"{path}: a network is a YAML mapping with name, input, layers"])
    try:
        net = NetworkFile.model_validate(data)
    except ValidationError as exc:
        raise NetworkError(validation_problems(exc, str(path), root)) from None
    except RecursionError:
        raise NetworkError([f"{path}: nested too deeply"]) from None
    network, problems = build_network(net, **options)
    if problems:
        lines = []
        for p in problems:
            m = re.match(r"layers\.(\d+) ", p)
            line = _node_line(root, ("layers", int(m.group(1)))) if m else None
            lines.append(f"{path}:{line}: {p}" if line else f"{path}: {p}")
        raise NetworkError(lines)
    return network
