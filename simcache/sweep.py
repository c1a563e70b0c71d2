"""Sweep specs: the axes of a study, expanded into points that run independently.

A spec (YAML, docs/model.md "Sweeps") names axes, each a list of values; the points are the
product of the axes, except that the axes of a `zip` group advance together. Every point
is resolved here, in the driver, into a task: a validated hierarchy (the config with the
point's overrides) and a layer or a network, with a stable id (a hash of the resolved
description, the axis values and the simcache version). A point whose values make an
invalid config or layer is not an error of the spec: it becomes a failed point that names
its axis values, and the other points run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__, shipped
from .config import (
    CacheLevel,
    Hierarchy,
    MemoryLevel,
    _node_line,
    load_hierarchy,
    parse_size,
    validation_problems,
)
from .errors import SimcacheError
from .layers import DIMS, FIXED_BY_TYPE, LAYER_TYPES, Layer, build_layer
from .network import load_network
from .yamlfile import read_yaml

MAX_POINTS = 100_000  # a spec that expands further is refused before anything runs
MAX_VALUES = 10_000  # values of one axis

# axes that describe the layer (the flags of `simcache run`), besides `layer` itself
LAYER_AXES = ("preset", "B", "batch", *DIMS, "stride", "padding",
              "pad", "order", "tiles", "tile", "dtype_bytes")
# the layer axes a network takes (its file gives the rest)
NETWORK_AXES = ("B", "batch", "padding", "order", "dtype_bytes")
RUN_AXES = ("config", "layer", "network", "three_c")
# hierarchy fields an axis may override: top-level ones by name, level ones as LEVEL.FIELD
TOP_FIELDS = ("mac_cycles", "mac_energy", "seed", "clock", "macs_per_cycle")
LEVEL_FIELDS = tuple(f for f in CacheLevel.model_fields if f not in ("name", "source"))
MEMORY_FIELDS = tuple(f for f in MemoryLevel.model_fields if f not in ("name", "source"))


class SpecError(SimcacheError):
    """Problems with a sweep spec, one `file:line: ...` line each."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.+-]+$")
    description: str = ""
    axes: dict[str, list[Any]] = Field(min_length=1)
    zip: list[list[str]] = []
    fixed: dict[str, Any] = {}


@dataclass(frozen=True)
class Task:
    """What a worker runs: everything resolved and validated, nothing left to read but a
    network file (read again by the worker, which must see the same file)."""

    hierarchy: Hierarchy
    config_path: str
    layer: Layer | None = None
    network: str | None = None  # a model file's path
    network_options: dict = field(default_factory=dict)
    three_c: bool = False


@dataclass(frozen=True)
class Point:
    """One combination of axis values; `task` is None when the values are invalid
    (`error` says why, naming them)."""

    id: str
    axes: dict[str, Any]
    task: Task | None
    error: str | None = None
    estimate: float = 0.0  # about how many seconds it takes on one core


@dataclass
class Sweep:
    name: str
    path: str
    axes: list[str]
    points: list[Point]
    duplicates: int = 0  # points listed twice in the spec, run once


def _where(path: Path, root: yaml.Node | None, *loc: Any) -> str:
    line = _node_line(root, loc) if root is not None else None
    return f"{path}:{line}" if line else str(path)


def _axis_problem(name: str, path: Path, root: yaml.Node | None) -> str | None:
    """Why `name` is not an axis, or None (level names are checked per config later)."""
    if name in RUN_AXES or name in LAYER_AXES or name in TOP_FIELDS:
        return None
    if "." in name:
        level, _, fld = name.partition(".")
        if not level:
            return f"{_where(path, root, 'axes', name)}: axes.{name}: no level before '.'"
        known = MEMORY_FIELDS if level == "memory" else LEVEL_FIELDS
        if fld not in known:
            return (f"{_where(path, root, 'axes', name)}: axes.{name}: {fld!r} is not a field "
                    f"of a {'memory' if level == 'memory' else 'cache'} level (fields: "
                    f"{', '.join(known)})")
        return None
    choices = ", ".join(RUN_AXES + LAYER_AXES + TOP_FIELDS)
    return (f"{_where(path, root, 'axes', name)}: axes.{name}: unknown axis; axes are "
            f"{choices}, or LEVEL.FIELD (L1.size, memory.latency)")


def _size_problems(spec: _Spec, path: Path, root: yaml.Node | None) -> list[str]:
    """Values of LEVEL.size, LEVEL.line and memory.size outside the size grammar
    (config.parse_size), each at its file:line: a spelling is the spec's mistake, refused
    before any point runs; whether a size fits a config is each point's own question."""
    out = []
    where = [("axes", name, k, v) for name, values in spec.axes.items()
             for k, v in enumerate(values)]
    where += [("fixed", name, None, v) for name, v in spec.fixed.items()]
    for part, name, k, v in where:
        if "." not in name or name.partition(".")[2] not in ("size", "line") or v == "element":
            continue
        try:
            parse_size(v)
        except ValueError as exc:
            loc = (part, name) if k is None else (part, name, k)
            shown = f"{part}.{name}" if k is None else f"{part}.{name}[{k}]"
            out.append(f"{_where(path, root, *loc)}: {shown}: {exc}")
    return out


def load_spec(path: str | Path) -> tuple[_Spec, yaml.Node | None]:
    path = Path(path)
    data, root = read_yaml(path, SpecError, "sweep spec")
    if not isinstance(data, dict):
        raise SpecError([f"{path}: a sweep spec is a YAML mapping with axes (and optionally "
                         "name, zip, fixed)"])
    try:
        spec = _Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc, str(path), root)) from None
    problems = []
    for where, names in (("axes", spec.axes), ("fixed", spec.fixed)):
        for name in names:
            p = _axis_problem(name, path, root)
            if p:
                problems.append(p.replace("axes.", f"{where}.", 1) if where == "fixed" else p)
    problems += _size_problems(spec, path, root)
    for name, values in spec.axes.items():
        if not values:
            problems.append(f"{_where(path, root, 'axes', name)}: axes.{name}: no values")
        elif len(values) > MAX_VALUES:
            problems.append(f"{_where(path, root, 'axes', name)}: axes.{name}: "
                            f"{len(values):,} values; at most {MAX_VALUES:,}")
        if name in spec.fixed:
            problems.append(f"{_where(path, root, 'fixed', name)}: fixed.{name}: also an axis")
    seen: set[str] = set()
    for k, group in enumerate(spec.zip):
        here = _where(path, root, "zip", k)
        if len(group) < 2:
            problems.append(f"{here}: zip.{k}: a group zips two or more axes")
        for name in group:
            if name not in spec.axes:
                problems.append(f"{here}: zip.{k}: {name!r} is not an axis")
            elif name in seen:
                problems.append(f"{here}: zip.{k}: {name!r} is in two groups")
            seen.add(name)
        lengths = {len(spec.axes[n]) for n in group if n in spec.axes}
        if len(lengths) > 1:
            sizes = ", ".join(f"{n} {len(spec.axes[n])}" for n in group if n in spec.axes)
            problems.append(f"{here}: zip.{k}: zipped axes need as many values each ({sizes})")
    given = set(spec.axes) | set(spec.fixed)
    if "layer" in given and "network" in given:
        problems.append(f"{path}: give layer or network, not both")
    if "network" in given:
        extra = sorted(a for a in given & set(LAYER_AXES) if a not in NETWORK_AXES)
        if extra:
            problems.append(f"{path}: {', '.join(extra)}: a network's file gives its layers' "
                            f"dimensions; with network the layer axes are "
                            f"{', '.join(NETWORK_AXES)}")
    if "config" not in given:
        problems.append(f"{path}: no config: give axes.config (or fixed.config), a list of "
                        "shipped config names or paths")
    if "B" in given and "batch" in given:
        problems.append(f"{path}: batch: give B or batch, not both")
    if problems:
        raise SpecError(problems)
    return spec, root


def _combinations(spec: _Spec) -> list[dict[str, Any]]:
    """The points' axis values, in the spec's order: zipped groups advance together."""
    grouped = {n for g in spec.zip for n in g}
    factors: list[list[dict[str, Any]]] = []
    for name in spec.axes:
        if name in grouped:
            group = next((g for g in spec.zip if g[0] == name), None)
            if group is None:
                continue  # placed with its group's first axis
            factors.append([{n: spec.axes[n][i] for n in group}
                            for i in range(len(spec.axes[group[0]]))])
        else:
            factors.append([{name: v} for v in spec.axes[name]])
    size = 1
    for f in factors:
        size *= len(f)
        if size > MAX_POINTS:
            raise SpecError([f"the axes make more than {MAX_POINTS:,} points; split the sweep"])
    return [{k: v for part in combo for k, v in part.items()}
            for combo in itertools.product(*factors)]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(_canonical(parts).encode()).hexdigest()[:16]


def _shown(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


class _Resolver:
    """Configs and models read once each; overrides applied per point."""

    def __init__(self, base: Path):
        self.base = base
        self.configs: dict[str, tuple[Hierarchy, str]] = {}
        self.models: dict[tuple, tuple[Any, str, str]] = {}

    def _path(self, value: Any, kind: str, what: str) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise SimcacheError([f"{what}: {value!r} is not a {kind[:-1]} name or path"])
        near = self.base / value
        if ("/" in value or value.endswith((".yaml", ".yml"))) and near.exists():
            return near
        return shipped.resolve(value, kind, what)

    def config(self, value: Any) -> tuple[Hierarchy, str]:
        key = str(value)
        if key not in self.configs:
            path = self._path(value, "configs", "config")
            self.configs[key] = (load_hierarchy(path), str(path))
        return self.configs[key]

    def model(self, value: Any, options: dict) -> tuple[Any, str, str]:
        """(network, path, hash of the file's content), read once per value and options."""
        key = (str(value), _canonical(options))
        if key not in self.models:
            path = self._path(value, "models", "network")
            net = load_network(path, **options)
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            self.models[key] = (net, str(path), content)
        return self.models[key]


def _override(h: Hierarchy, values: dict[str, Any]) -> Hierarchy:
    """The hierarchy with the point's LEVEL.FIELD and top-level values, validated again."""
    changes = {k: v for k, v in values.items() if "." in k or k in TOP_FIELDS}
    if not changes:
        return h
    data = h.model_dump()
    names = [lv["name"] for lv in data["levels"]]

    def put(entry: dict, fld: str, v: Any) -> None:
        entry[fld] = v
        # a config citing its figures one by one must cite this one too: the sweep is its
        # source (an optional figure such as prefetch or write_energy may have had none)
        if isinstance(entry.get("source"), dict) and fld != "source":
            entry["source"] = {**entry["source"], fld: f"sweep axis {key}"}

    for key, v in changes.items():
        if "." not in key:
            put(data, key, v)
            continue
        level, _, fld = key.partition(".")
        if level in ("memory", data["memory"]["name"]):
            put(data["memory"], fld, v)
        elif level in names:
            put(data["levels"][names.index(level)], fld, v)
        else:
            raise SimcacheError([f"{key}: config {h.name} has no level {level!r} (its levels: "
                                 f"{', '.join(names)}, memory)"])
    shown = ", ".join(f"{k}={v}" for k, v in changes.items())
    data["description"] = f"{data['description']} [sweep: {shown}]"[:2000]
    try:
        return Hierarchy.model_validate(data)
    except ValidationError as exc:
        raise SimcacheError(validation_problems(exc)) from None


def _layer(values: dict[str, Any]) -> Layer:
    dims = {k: v for k, v in values.items() if k in LAYER_AXES}
    if "batch" in dims:
        dims["B"] = dims.pop("batch")
    if "tile" in dims:
        dims["tiles"] = dims.pop("tile")
    layer = values.get("layer", "depthwise")
    kind = layer.get("type") if isinstance(layer, dict) else layer
    for d in FIXED_BY_TYPE.get(kind, ()) + (() if kind == "group" else ("G",)):
        dims.pop(d, None)  # as --layer all does: the type keeps the dimensions it fixes
    if isinstance(layer, dict):
        extra = sorted(set(layer) - {"type", *LAYER_AXES})
        if extra:
            raise SimcacheError([f"layer: {', '.join(extra)}: not a layer field"])
        given = {k: v for k, v in layer.items() if k != "type"}
        clash = sorted(set(given) & set(dims))
        if clash:
            raise SimcacheError([f"layer: {', '.join(clash)} given twice (in the layer and "
                                 "as an axis)"])
        dims.update(given)
        if "batch" in dims:
            dims["B"] = dims.pop("batch")
        if "tile" in dims:
            dims["tiles"] = dims.pop("tile")
        layer = layer.get("type")
    if layer not in LAYER_TYPES:
        raise SimcacheError([f"layer: {layer!r} is not a layer type ({', '.join(LAYER_TYPES)})"])
    preset = dims.pop("preset", None)
    return build_layer(layer, preset, **dims)


def _problem_text(exc: SimcacheError) -> str:
    return "; ".join(exc.problems)


def expand(path: str | Path) -> Sweep:
    """Read, validate and expand a spec into points, resolving each (configs and models are
    read here, once). Raises SpecError for a spec that cannot be expanded at all."""
    path = Path(path)
    spec, root = load_spec(path)
    resolver = _Resolver(path.parent)
    from .study import Job, job_seconds

    points: list[Point] = []
    seen: set[str] = set()
    duplicates = 0
    problems: list[str] = []
    for combo in _combinations(spec):
        values = {**spec.fixed, **combo}
        shown = _shown(combo)
        try:
            h, cpath = resolver.config(values["config"])
        except SimcacheError as exc:
            # a config that cannot be read at all is the spec's problem, once
            line = _where(path, root, "axes", "config")
            for p in exc.problems:
                text = f"{line}: {p}"
                if text not in problems:
                    problems.append(text)
            continue
        missing = [k for k in values if "." in k and k.partition(".")[0] not in
                   ("memory", h.memory.name, *[lv.name for lv in h.levels])]
        for k in missing:
            text = (f"{_where(path, root, 'axes' if k in spec.axes else 'fixed', k)}: {k}: "
                    f"config {values['config']} has no level {k.partition('.')[0]!r} (its "
                    f"levels: {', '.join(lv.name for lv in h.levels)}; memory)")
            if text not in problems:
                problems.append(text)
        if missing:
            continue
        try:
            three_c = values.get("three_c", False)
            if not isinstance(three_c, bool):
                raise SimcacheError([f"three_c: must be true or false, got {three_c!r}"])
            hier = _override(h, values)
            if "network" in values:
                options = {"batch": values.get("batch", values.get("B", 1)),
                           "padding": values.get("padding", "skip"),
                           "order": values.get("order", "bijnmpq"),
                           "dtype_bytes": values.get("dtype_bytes", 4)}
                net, mpath, content = resolver.model(values["network"], options)
                task = Task(hier, cpath, network=mpath, network_options=options,
                            three_c=three_c)
                desc = {"network": content, "options": options}
                estimate = sum(job_seconds(Job(hier, x.layer, three_c)) for x in net.simulated)
            else:
                lay = _layer(values)
                task = Task(hier, cpath, layer=lay, three_c=three_c)
                desc = {"layer": lay.model_dump(mode="json")}
                estimate = job_seconds(Job(hier, lay, three_c))
            pid = _digest(__version__, combo, hier.model_dump(mode="json"), desc, three_c)
            point = Point(pid, combo, task, estimate=estimate)
        except SimcacheError as exc:
            point = Point(_digest(__version__, combo, spec.fixed, "invalid"), combo, None,
                          f"{shown}: {_problem_text(exc)}")
        if point.id in seen:
            duplicates += 1
            continue
        seen.add(point.id)
        points.append(point)
    if problems:
        raise SpecError(problems)
    return Sweep(spec.name or path.stem, str(path), list(spec.axes), points, duplicates)


def run_task(task: Task) -> dict:
    """A point's result document (what `simulate` or `network` returns as JSON). Runs in a
    worker: one core, no progress, nothing printed."""
    from . import api

    if task.network is not None:
        # cold: a stored point keeps the meaning it had (docs/model.md §6)
        return api.network(task.hierarchy, task.network, jobs=1, three_c=task.three_c,
                           cold=True, **task.network_options).to_dict()
    return api.run_job(task.hierarchy, task.layer, task.config_path, task.three_c).to_dict()


def run_task_safely(task: Task) -> tuple[bool, Any]:
    """(True, document) or (False, the error in one line): a worker never raises for a
    point's own failure, so that one point cannot stop a sweep."""
    try:
        return True, run_task(task)
    except SimcacheError as exc:
        return False, _problem_text(exc)
    except MemoryError:
        return False, "MemoryError: the point's simulator state did not fit in memory"
    except Exception as exc:  # noqa: BLE001 - recorded with the point, the sweep goes on
        return False, f"{type(exc).__name__}: {exc}"
