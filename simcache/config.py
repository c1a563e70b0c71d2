"""Hardware configs: pydantic models, units, YAML loading with file:line errors."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
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
from .yamlfile import read_yaml

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


# ---------------------------------------------------------------- limits (docs/model.md)

MAX_LEVELS = 16  # cache levels; main memory comes on top
MAX_LEVEL_SIZE = 1 << 40  # bytes of one cache level (1 TiB); the state limit usually binds first
MAX_MEMORY_SIZE = 1 << 62  # bytes of main memory (reported only)
MAX_LINE = 1 << 20  # bytes of a line: the request stack grows with line ratios
MAX_LATENCY = 1 << 32  # cycles
MAX_MAC_CYCLES = 1e6
MAX_ENERGY_PJ = 1e12  # 1 J per 64-bit access: energies × counts stay finite
MAX_SEED = (1 << 64) - 1  # the random policy's xorshift state is 64 bits, and never 0
MAX_NAME = 64
MAX_TEXT = 4000


def short(value: Any, width: int = 40) -> str:
    """repr of a value, cut to `width` characters for an error line."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def whole(value: Any, what: str = "an integer") -> int:
    """An integer, and only an integer: no boolean, no float (not even 3.0), no string."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"expected {what}, got {short(value)}")
    return int(value)


def check_name(value: Any) -> str:
    """A name: a non-empty printable string of at most MAX_NAME characters."""
    if not isinstance(value, str):
        raise ValueError(f"a name is a string, got {short(value)}")
    if not value.strip():
        raise ValueError("a name must not be empty")
    if len(value) > MAX_NAME:
        raise ValueError(f"a name has at most {MAX_NAME} characters, got {len(value)}")
    if not value.isprintable():
        raise ValueError(f"a name must be printable, got {short(value)}")
    return value


def check_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {short(value)}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"at most {MAX_TEXT} characters, got {len(value)}")
    if any(not (c.isprintable() or c in "\n\t") for c in value):
        raise ValueError("control characters are not allowed")
    return value


Name = Annotated[str, BeforeValidator(check_name)]
Text = Annotated[str, BeforeValidator(check_text)]


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
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str) and len(value) <= 40:
        m = _NUMBER_UNIT.match(value)
        if m and m.group(2).lower() in _SIZE_UNITS:
            whole_part, _, frac = m.group(1).partition(".")
            unit = _SIZE_UNITS[m.group(2).lower()]
            scale = 10 ** len(frac)
            num = (int(whole_part) * scale + int(frac or 0)) * unit
            if num % scale == 0:
                return num // scale
            raise ValueError(f"{value!r} is not a whole number of bytes")
    raise ValueError(f"expected a size such as 32KiB, 64B or 4096, got {short(value)}")


def _parse_cycles(value: Any) -> float:
    """A number of cycles (int or float, finite), or a string such as '3 cycles'."""
    if isinstance(value, str):
        m = _NUMBER_UNIT.match(value) if len(value) <= 40 else None
        if not m or m.group(2).lower() not in ("", "cycle", "cycles"):
            raise ValueError(f"expected cycles such as '3 cycles' or 3, got {short(value)}")
        return float(m.group(1))
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"expected a number of cycles, got {short(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, got {value!r}")
    return v


def _parse_latency(value: Any) -> int:
    """Whole cycles: an integer or a string such as '3 cycles' (no float, no boolean)."""
    if isinstance(value, str):
        v = _parse_cycles(value)
        if not v.is_integer():
            raise ValueError(f"must be a whole number of cycles, got {short(value)}")
        n = int(v)
    else:
        n = whole(value, "a whole number of cycles such as 3 or '3 cycles'")
    if not 1 <= n <= MAX_LATENCY:
        raise ValueError(f"must be a positive whole number of cycles up to {MAX_LATENCY}, "
                         f"got {n}")
    return n


_ENERGY_UNITS = {"": 1.0, "pj": 1.0, "fj": 1e-3, "nj": 1e3, "uj": 1e6}


def _parse_energy_value(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected an energy in pJ, not a boolean")
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        m = _NUMBER_UNIT.match(value)
        if not m or m.group(2).lower() not in _ENERGY_UNITS:
            raise ValueError(f"expected an energy such as 10, '10 pJ' or '1.3 nJ', got {value!r}")
        v = float(m.group(1)) * _ENERGY_UNITS[m.group(2).lower()]
    else:
        raise ValueError(f"expected an energy in pJ or a [low, high] range, got {short(value)}")
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, got {short(value)}")
    if not v > 0:
        raise ValueError(f"must be positive, got {short(value)}")
    if v > MAX_ENERGY_PJ:
        raise ValueError(f"at most {MAX_ENERGY_PJ:g} pJ, got {short(value)}")
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


def _positive_size(value: Any, limit: int = MAX_LEVEL_SIZE) -> int:
    n = parse_size(value)
    if n <= 0:
        raise ValueError(f"must be positive, got {short(value)}")
    if n > limit:
        raise ValueError(f"at most {limit:,} bytes, got {n:,}")
    return n


def _memory_size(value: Any) -> int:
    return _positive_size(value, MAX_MEMORY_SIZE)


def _seed(value: Any) -> int:
    n = whole(value)
    if not 1 <= n <= MAX_SEED:
        raise ValueError(f"must be from 1 to 2**64 - 1 (0 would stall the generator), got {n}")
    return n


Size = Annotated[int, BeforeValidator(_positive_size)]
MemorySize = Annotated[int, BeforeValidator(_memory_size)]
Cycles = Annotated[float, BeforeValidator(_parse_cycles)]
Latency = Annotated[int, BeforeValidator(_parse_latency)]
Flag = Annotated[bool, Field(strict=True)]
Energy = Annotated[tuple[float, float], BeforeValidator(_parse_energy)]
Source = str | dict[str, str]


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

    name: Name
    size: Size
    line: int | Literal["element"]
    ways: int | Literal["full"]
    policy: Literal["lru", "fifo", "random"] = "lru"
    write_back: Flag = True
    write_allocate: Flag = True
    prefetch: Literal["none", "always", "miss", "tagged"] = Field(
        "none", description="fetch policy, as Dinero IV's -lN-Tfetch d|a|m|t (docs/model.md)")
    prefetch_distance: int = Field(1, ge=1, le=1 << 20,
                                   description="lines ahead, as Dinero IV's -lN-Tpfdist")
    latency: Latency
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
            raise ValueError(f"must be a power of two (bytes), got {short(v)}")
        if n > MAX_LINE:
            raise ValueError(f"at most {MAX_LINE:,} bytes, got {n:,}")
        return n

    @field_validator("ways", mode="before")
    @classmethod
    def _ways(cls, v: Any) -> Any:
        if v == "full":
            return v
        n = whole(v, "a whole number of ways or 'full'")
        if n <= 0:
            raise ValueError(f"must be positive, got {n}")
        return n

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
        if line * ways > self.size:
            raise ValueError(f"size {self.size} B is smaller than one set of "
                             f"{line * ways} B")
        _check_sources(self, ("size", "line", "ways", "latency", "energy", "write_energy"))
        return self


class MemoryLevel(_Strict):
    """Main memory: always hits."""

    name: Name = "DRAM"
    size: MemorySize | None = None
    latency: Latency
    energy: Energy
    write_energy: Energy | None = None
    source: Source

    @model_validator(mode="after")
    def _sources(self) -> MemoryLevel:
        _check_sources(self, ("size", "latency", "energy", "write_energy"))
        return self


class Hierarchy(_Strict):
    """A memory hierarchy: cache levels innermost first, then main memory."""

    name: Name
    description: Text = ""
    source: Source
    mac_cycles: Cycles = Field(description="cycles per multiply-accumulate")
    mac_energy: Energy = Field(description="pJ per multiply-accumulate")
    seed: Annotated[int, BeforeValidator(_seed)] = Field(
        default=1, description="seed of the random replacement policy")
    levels: list[CacheLevel] = Field(max_length=MAX_LEVELS)
    memory: MemoryLevel

    @field_validator("mac_cycles")
    @classmethod
    def _mac_cycles(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"must be positive, got {v:g}")
        if v > MAX_MAC_CYCLES:
            raise ValueError(f"at most {MAX_MAC_CYCLES:g} cycles, got {v:g}")
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
                         lv.write_back, lv.write_allocate, lv.prefetch, lv.prefetch_distance)
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
    prefetch: str = "none"
    prefetch_distance: int = 1


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
    # a key from the file may hold anything: show it quoted if it is not a plain word
    return ".".join(p if p.isprintable() and len(p) <= MAX_NAME and p.strip() == p
                    else short(p) for p in parts)


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
    data, root = read_yaml(path, ConfigError, "config")
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: a config is a YAML mapping with name, levels and memory"])
    try:
        hierarchy = Hierarchy.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, str(path), root)) from None
    except RecursionError:
        raise ConfigError([f"{path}: nested too deeply"]) from None
    problems = state_problems(hierarchy)
    if problems:
        lines = []
        for k, message in problems:
            line = _node_line(root, ("levels", k, "size"))
            lines.append(f"{path}:{line}: {message}" if line else f"{path}: {message}")
        raise ConfigError(lines)
    return hierarchy


def state_problems(hierarchy: Hierarchy) -> list[tuple[int, str]]:
    """(level index, message) for levels whose simulator state cannot fit in memory even
    with the fewest slots (8-byte elements, no lookup window): see engine.state_bytes."""
    from . import engine  # engine imports this module

    out = []
    for k, g in enumerate(hierarchy.geometry(8)):
        need = engine.state_bytes([g])
        if need > engine.memory_limit():
            out.append((k, engine.too_big(k, g, need)))
    return out
