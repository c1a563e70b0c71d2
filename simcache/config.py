"""Hardware configs: pydantic models, units, YAML loading with file:line errors."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
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

__all__ = [
    "CacheLevel",
    "ConfigError",
    "Geometry",
    "Hierarchy",
    "MemoryLevel",
    "load_hierarchy",
    "parse_size",
]


class ConfigError(SimcacheError):
    """One or more problems, each already formatted as one line."""


# ---------------------------------------------------------------- units

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
    "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
    "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
    "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: Any) -> int:
    """Bytes from an integer or a string like '32KiB', '32 KB', '10MiB' (1024-based)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 32KiB, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        m = _NUMBER_UNIT.match(value)
        if m and m.group(2).lower() in _SIZE_UNITS:
            nbytes = float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
            if nbytes.is_integer():
                return int(nbytes)
            raise ValueError(f"{value!r} is not a whole number of bytes")
    raise ValueError(f"expected a size such as 32KiB, 64B or 4096, got {value!r}")


def _parse_cycles(value: Any) -> Any:
    if isinstance(value, str):
        m = _NUMBER_UNIT.match(value)
        if not m or m.group(2).lower() not in ("", "cycle", "cycles"):
            raise ValueError(f"expected cycles such as '3 cycles' or 3, got {value!r}")
        return float(m.group(1))
    return value


_ENERGY_UNITS = {"": 1.0, "pj": 1.0, "fj": 1e-3, "nj": 1e3, "uj": 1e6}


def _parse_energy_value(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected an energy in pJ, not a boolean")
    if isinstance(value, (int, float)):
        v = float(value)
    elif isinstance(value, str):
        m = _NUMBER_UNIT.match(value)
        if not m or m.group(2).lower() not in _ENERGY_UNITS:
            raise ValueError(f"expected an energy such as 10, '10 pJ' or '1.3 nJ', got {value!r}")
        v = float(m.group(1)) * _ENERGY_UNITS[m.group(2).lower()]
    else:
        raise ValueError(f"expected an energy in pJ or a [low, high] range, got {value!r}")
    if not v > 0 or not math.isfinite(v):
        raise ValueError(f"must be positive, got {value!r}")
    return v


def _parse_energy(value: Any) -> tuple[float, float]:
    """A number (pJ), a string with a unit, or a [low, high] range of those."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError("an energy range is [low, high], two values")
        low, high = (_parse_energy_value(v) for v in value)
        if low > high:
            raise ValueError(f"energy range [{low}, {high}] has low > high")
        return (low, high)
    v = _parse_energy_value(value)
    return (v, v)


def _positive_size(value: Any) -> int:
    n = parse_size(value)
    if n <= 0:
        raise ValueError(f"must be positive, got {value!r}")
    return n


Size = Annotated[int, BeforeValidator(_positive_size)]
Cycles = Annotated[float, BeforeValidator(_parse_cycles)]
Energy = Annotated[tuple[float, float], BeforeValidator(_parse_energy)]
Source = str | dict[str, str]


def _check_latency(v: float) -> float:
    if not v > 0 or not float(v).is_integer():
        raise ValueError(f"must be a positive whole number of cycles, got {v:g}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_sources(model: BaseModel, figures: tuple[str, ...]) -> None:
    """`source` is a string for all figures, or a mapping that covers each figure given."""
    src = model.source  # type: ignore[attr-defined]
    if isinstance(src, str):
        if not src.strip():
            raise ValueError("source: must name where the figures come from")
        return
    given = [f for f in figures if getattr(model, f) is not None]
    unknown = sorted(set(src) - set(type(model).model_fields))
    if unknown:
        raise ValueError(f"source: {', '.join(unknown)} is not a field of this entry")
    missing = [f for f in given if not str(src.get(f, "")).strip()]
    if missing:
        raise ValueError(f"source: no source for {', '.join(missing)}")


class CacheLevel(_Strict):
    """One cache level (a register file is a fully associative level with line = element)."""

    name: str = Field(min_length=1)
    size: Size
    line: int | Literal["element"]
    ways: int | Literal["full"]
    policy: Literal["lru", "fifo", "random"] = "lru"
    write_back: bool = True
    write_allocate: bool = True
    latency: Cycles
    energy: Energy = Field(description="pJ per 64-bit access (reads, and writes by default)")
    write_energy: Energy | None = None
    source: Source

    @field_validator("line", mode="before")
    @classmethod
    def _line(cls, v: Any) -> Any:
        if v == "element":
            return v
        n = parse_size(v)
        if n <= 0 or n & (n - 1):
            raise ValueError(f"must be a power of two (bytes), got {v!r}")
        return n

    @field_validator("ways", mode="before")
    @classmethod
    def _ways(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool) and v <= 0:
            raise ValueError(f"must be positive, got {v}")
        return v

    @field_validator("latency")
    @classmethod
    def _latency(cls, v: float) -> float:
        return _check_latency(v)

    @model_validator(mode="after")
    def _geometry(self) -> CacheLevel:
        # 'element' is at most 8 bytes, so checking against 8 keeps every dtype valid.
        line = 8 if self.line == "element" else self.line
        ways = 1 if self.ways == "full" else self.ways
        if self.size % (line * ways):
            what = "line" if self.ways == "full" else "line × ways"
            raise ValueError(
                f"size {self.size} B is not divisible into sets of {what} = {line * ways} B"
            )
        _check_sources(self, ("size", "line", "ways", "latency", "energy", "write_energy"))
        return self


class MemoryLevel(_Strict):
    """Main memory: always hits."""

    name: str = Field(default="DRAM", min_length=1)
    size: Size | None = None
    latency: Cycles
    energy: Energy
    write_energy: Energy | None = None
    source: Source

    @field_validator("latency")
    @classmethod
    def _latency(cls, v: float) -> float:
        return _check_latency(v)

    @model_validator(mode="after")
    def _sources(self) -> MemoryLevel:
        _check_sources(self, ("size", "latency", "energy", "write_energy"))
        return self


class Hierarchy(_Strict):
    """A memory hierarchy: cache levels innermost first, then main memory."""

    name: str = Field(min_length=1)
    description: str = ""
    source: Source
    mac_cycles: Cycles = Field(description="cycles per multiply-accumulate")
    mac_energy: Energy = Field(description="pJ per multiply-accumulate")
    seed: int = Field(default=1, description="seed of the random replacement policy")
    levels: list[CacheLevel]
    memory: MemoryLevel

    @field_validator("mac_cycles")
    @classmethod
    def _mac_cycles(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"must be positive, got {v:g}")
        return v

    @model_validator(mode="after")
    def _check(self) -> Hierarchy:
        names = [lv.name for lv in self.levels] + [self.memory.name]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"level names must be unique; repeated: {', '.join(dup)}")
        _check_sources(self, ("mac_cycles", "mac_energy"))
        return self

    @property
    def level_names(self) -> list[str]:
        return [lv.name for lv in self.levels] + [self.memory.name]

    def geometry(self, element_bytes: int) -> list[Geometry]:
        """Concrete cache geometry once the element size is known."""
        out = []
        for lv in self.levels:
            line = element_bytes if lv.line == "element" else lv.line
            ways = lv.size // line if lv.ways == "full" else lv.ways
            out.append(
                Geometry(lv.name, lv.size, line, ways, lv.size // (line * ways), lv.policy,
                         lv.write_back, lv.write_allocate)
            )
        return out


@dataclass(frozen=True)
class Geometry:
    name: str
    size: int
    line: int
    ways: int
    sets: int
    policy: str
    write_back: bool
    write_allocate: bool


# ---------------------------------------------------------------- loading


def _node_line(root: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at a pydantic error location (or its nearest parent)."""
    node, line = root, None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _loc_path(loc: tuple) -> str:
    # pydantic puts union branch names ('int', 'literal[...]', 'function-before[...]') in loc;
    # a user only needs the field path.
    noise = re.compile(r"[\[\]-]|^(int|str|dict)$")
    parts = [str(p) for p in loc if isinstance(p, int) or not noise.search(str(p))]
    return ".".join(parts)


def _message(err: dict) -> str:
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return msg


def validation_problems(err: ValidationError, where: str = "", root: yaml.Node | None = None,
                        rename: dict[str, str] | None = None) -> list[str]:
    """One line per problem: `where:line: field.path: message`, deduplicated."""
    lines: list[str] = []
    for e in err.errors():
        path = _loc_path(e["loc"])
        if rename:
            path = rename.get(path, path)
        line = _node_line(root, e["loc"]) if root is not None else None
        prefix = f"{where}:{line}: " if where and line else (f"{where}: " if where else "")
        text = f"{prefix}{path}: {_message(e)}" if path else f"{prefix}{_message(e)}"
        if text not in lines:
            lines.append(text)
    return lines


def load_hierarchy(path: str | Path) -> Hierarchy:
    """Read and validate a hardware config; raise ConfigError with one line per problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config: {exc}"]) from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: a config is a YAML mapping with name, levels and memory"])
    try:
        return Hierarchy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, str(path), root)) from None
