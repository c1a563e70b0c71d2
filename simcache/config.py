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
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import SimcacheError
from .yamlfile import read_yaml

__all__ = [
    "Bandwidth",
    "CacheLevel",
    "ConfigError",
    "Core",
    "Dram",
    "Geometry",
    "Hierarchy",
    "MemoryLevel",
    "load_hierarchy",
    "parse_size",
]


class ConfigError(SimcacheError):
    """One or more problems, each already formatted as one line."""


class FieldProblems(ValueError):
    """Problems found by a validator that sees several fields (a hierarchy's levels), each
    with the location of the field it names, relative to the model that raised it:
    `validation_problems` reports one line per item at that field's line of the file."""

    def __init__(self, items: list[tuple[tuple, str]]):
        self.items = items
        super().__init__("; ".join(f"{_loc_path(loc)}: {msg}" for loc, msg in items))


# ---------------------------------------------------------------- limits (docs/model.md)

MAX_LEVELS = 16  # cache levels; main memory comes on top
MAX_LEVEL_SIZE = 1 << 40  # bytes of one cache level (1 TiB); the state limit usually binds first
MAX_MEMORY_SIZE = 1 << 62  # bytes of main memory (reported only)
MAX_LINE = 1 << 20  # bytes of a line: the request stack grows with line ratios
MAX_LATENCY = 1 << 32  # cycles
MAX_MAC_CYCLES = 1e6
MAX_ENERGY_PJ = 1e12  # 1 J per 64-bit access: energies × counts stay finite
MAX_SEED = (1 << 64) - 1  # the random policy's xorshift state is 64 bits, and never 0
MAX_CLOCK_GHZ = 10.0  # a core clock above 10 GHz is a typo (MHz for GHz), not a chip
MAX_MACS_PER_CYCLE = 1e6
MAX_BANDWIDTH = 1e6  # bytes per cycle of one level
MAX_RATE = 1e16  # bytes per second (10 PB/s) before the clock turns it into B/cycle
MAX_PREFETCH_DISTANCE = 1 << 16  # lines
MAX_CORE_LATENCY = 1000.0  # cycles of one add or one store-to-load forward: more is a typo
MAX_CORE_WIDTH = 64  # loads, stores or micro-ops per cycle of one core
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

# the one grammar of sizes (docs/model.md §9): a whole number of bytes, or a whole number,
# an optional space and one of these units, spelled as here (KB = KiB, 1024-based)
SIZE_UNITS = {"B": 1, "KB": 1 << 10, "KiB": 1 << 10, "MB": 1 << 20, "MiB": 1 << 20,
              "GB": 1 << 30, "GiB": 1 << 30, "TB": 1 << 40, "TiB": 1 << 40}
_SIZE = re.compile(r"([0-9]+)\s*([A-Za-z]*)")
_SIZE_LIKE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*")
_NUMBER_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
SIZE_GRAMMAR = "a whole number of bytes, or a whole number and B, KB, KiB, MB, MiB, GB, GiB, " \
               "TB or TiB (32KiB, 64 B)"


def _whole_in(nbytes: int) -> str:
    """A size as a whole number of its largest unit that divides it: 33280 → '32.5KiB'
    can be written '33280B'; 40370176 → '39424KiB'."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if nbytes % SIZE_UNITS[unit] == 0:
            return f"{nbytes // SIZE_UNITS[unit]}{unit}"
    return f"{nbytes}B"


def parse_size(value: Any) -> int:
    """Bytes from an integer or a string of the size grammar, `SIZE_GRAMMAR`: a whole
    number and an optional unit (1024-based), spelled exactly; one line saying what is
    wrong otherwise (a fraction, a unit in another case, b for bytes)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 32KiB, not a boolean")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"expected a size: {SIZE_GRAMMAR}; got {short(value)}")
    m = _SIZE.fullmatch(value.strip())
    if m and m.group(2) in ("", *SIZE_UNITS):
        return int(m.group(1)) * SIZE_UNITS.get(m.group(2), 1)
    like = _SIZE_LIKE.fullmatch(value)
    if like:
        number, unit = like.groups()
        if unit and unit not in SIZE_UNITS:
            fix = next((u for u in SIZE_UNITS if u.lower() == unit.lower()), None)
            if fix is None and unit.lower() in ("k", "m", "g", "t"):
                fix = unit.upper() + "iB"
            if unit == "b" or unit.endswith("b"):
                why = (f"{short(value)}: bytes are an upper-case B ({number}"
                       f"{fix or 'B'}); a lower-case b would be bits")
            elif fix:
                why = f"{short(value)}: write the unit {fix!r} ({number}{fix})"
            else:
                why = f"{short(value)}: {unit!r} is not a unit of size"
            raise ValueError(f"{why}; a size is {SIZE_GRAMMAR}")
        if not re.fullmatch(r"[0-9]+", number):
            whole_part, _, frac = number.partition(".")
            scale = 10 ** len(frac)
            num = (int(whole_part) * scale + int(frac or 0)) * SIZE_UNITS.get(unit, 1)
            hint = (f"; write {_whole_in(num // scale)}" if frac and num % scale == 0 else "")
            raise ValueError(f"{short(value)}: a size is a whole number of its unit, not a "
                             f"fraction{hint}")
    raise ValueError(f"expected a size: {SIZE_GRAMMAR}; got {short(value)}")


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


_CLOCK_UNITS = {"ghz": 1.0, "mhz": 1e-3, "khz": 1e-6, "hz": 1e-9}
_NUMBER = r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"


def _finite_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"expected {what}, got {short(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, got {short(value)}")
    return v


def _parse_clock(value: Any) -> float:
    """GHz from a number (GHz) or a string such as '2.84 GHz', '480 MHz'."""
    what = "a clock such as 2.84 (GHz), '2.84 GHz' or '480 MHz'"
    if isinstance(value, str):
        m = re.fullmatch(rf"\s*({_NUMBER})\s*([A-Za-z]+)\s*", value) if len(value) <= 40 else None
        if not m or m.group(2).lower() not in _CLOCK_UNITS:
            raise ValueError(f"expected {what}, got {short(value)}")
        v = float(m.group(1)) * _CLOCK_UNITS[m.group(2).lower()]
    else:
        v = _finite_number(value, what)
    if not math.isfinite(v) or not v > 0:
        raise ValueError(f"must be positive, got {short(value)}")
    if v > MAX_CLOCK_GHZ:
        raise ValueError(f"at most {MAX_CLOCK_GHZ:g} GHz, got {short(value)}")
    return v


def _macs_per_cycle(value: Any) -> float:
    v = _finite_number(value, "a number of MACs per cycle such as 8")
    if not v > 0:
        raise ValueError(f"must be positive, got {short(value)}")
    if v > MAX_MACS_PER_CYCLE:
        raise ValueError(f"at most {MAX_MACS_PER_CYCLE:g}, got {short(value)}")
    return v


@dataclass(frozen=True)
class Bandwidth:
    """A level's bandwidth as the config gives it: bytes per cycle, or bytes per second
    (which the hierarchy's clock turns into bytes per cycle)."""

    value: float
    per: Literal["cycle", "s"]

    def per_cycle(self, clock_ghz: float | None) -> float:
        """Bytes per core cycle; a rate needs the clock (GHz)."""
        if self.per == "cycle":
            return self.value
        if clock_ghz is None:
            raise ValueError("a bandwidth in bytes per second needs the config's clock")
        return self.value / (clock_ghz * 1e9)

    def __str__(self) -> str:  # parses back to the same value (sweeps dump and reload)
        return f"{self.value!r} B/{self.per}"


# decimal prefixes as in memory data sheets (DDR4-3200: 8 B x 3.2 GT/s = 25.6 GB/s),
# binary ones only when written as such (GiB/s)
_RATE_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_BANDWIDTH = re.compile(rf"\s*(-?{_NUMBER})\s*([A-Za-z]*)\s*/\s*([A-Za-z]+)\s*")


def _parse_bandwidth(value: Any) -> Bandwidth:
    """'64 B/cycle' or a bare number (bytes per cycle), or a rate such as '34.1 GB/s'."""
    what = "a bandwidth such as 64 (B/cycle), '64 B/cycle' or '34.1 GB/s'"
    if isinstance(value, Bandwidth):
        return value
    if isinstance(value, str):
        m = _BANDWIDTH.fullmatch(value) if len(value) <= 40 else None
        if not m:
            raise ValueError(f"expected {what}, got {short(value)}")
        num, unit, per = float(m.group(1)), m.group(2), m.group(3)
        if unit.endswith("b") and unit[:-1] in _RATE_PREFIX:
            raise ValueError(f"{short(value)} is in bits; a bandwidth is in bytes (B), "
                             f"such as '34.1 GB/s'")
        if per.lower() in ("cycle", "cycles", "clk") and unit == "B":
            bw = Bandwidth(num, "cycle")
        elif per == "s" and unit.endswith("B") and unit[:-1] in _RATE_PREFIX:
            bw = Bandwidth(num * _RATE_PREFIX[unit[:-1]], "s")
        else:
            raise ValueError(f"expected {what} (units B/cycle, B/s, kB/s, MB/s, GB/s, TB/s "
                             f"= 1000-based, KiB/s ... TiB/s = 1024-based), got {short(value)}")
    else:
        bw = Bandwidth(_finite_number(value, what), "cycle")
    if not math.isfinite(bw.value) or not bw.value > 0:
        raise ValueError(f"must be positive, got {short(value)}")
    limit = MAX_BANDWIDTH if bw.per == "cycle" else MAX_RATE
    if bw.value > limit:
        raise ValueError(f"at most {limit:g} B/{bw.per}, got {short(value)}")
    return bw


def _prefetch_distance(value: Any) -> int:
    n = whole(value, "a whole number of lines")
    if not 1 <= n <= MAX_PREFETCH_DISTANCE:
        raise ValueError(f"must be from 1 to {MAX_PREFETCH_DISTANCE} lines, got {n}")
    return n


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
Clock = Annotated[float, BeforeValidator(_parse_clock)]
MacsPerCycle = Annotated[float, BeforeValidator(_macs_per_cycle)]
BandwidthField = Annotated[Bandwidth, PlainValidator(_parse_bandwidth), PlainSerializer(str)]
Prefetch = Literal["none", "always", "miss", "tagged"]
PrefetchDistance = Annotated[int, BeforeValidator(_prefetch_distance)]
Inclusion = Literal["nine", "inclusive", "exclusive"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_sources(model: BaseModel, figures: tuple[str, ...]) -> None:
    """`source` is a string for all figures, or a mapping that covers each figure given: a
    required figure, or an optional one whose value is not its default (`prefetch: none`,
    `inclusion: nine` and an absent bandwidth need no citation)."""
    src = model.source  # type: ignore[attr-defined]
    if isinstance(src, str):
        if not src.strip():
            raise ValueError("source: must name where the figures come from")
        return
    fields = type(model).model_fields
    given = [f for f in figures
             if fields[f].is_required() or getattr(model, f) != fields[f].default]
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
    policy: Literal["lru", "fifo", "random", "plru", "bitplru", "srrip", "brrip"] = Field(
        "lru", description="replacement policy (docs/model.md §2; plru, bitplru, srrip and "
                           "brrip: at most 16 ways, not a register file)")
    write_back: Flag = True
    write_allocate: Flag = True
    prefetch: Literal["none", "always", "miss", "tagged"] = Field(
        "none", description="fetch policy, as Dinero IV's -lN-Tfetch d|a|m|t (docs/model.md)")
    prefetch_distance: int = Field(1, ge=1, le=1 << 20,
                                   description="lines ahead, as Dinero IV's -lN-Tpfdist")
    latency: Latency
    energy: Energy = Field(description="pJ per 64-bit access (reads, and writes by default)")
    write_energy: Energy | None = None
    bandwidth: BandwidthField | None = Field(
        default=None, description="bytes per cycle between this level and the one above")
    prefetch: Prefetch = "none"
    prefetch_distance: PrefetchDistance = 1
    inclusion: Inclusion = "nine"
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
        problems: list[tuple[tuple, str]] = []
        if self.prefetch_distance != 1 and self.prefetch == "none":
            problems.append((("prefetch_distance",),
                             f"{self.prefetch_distance} lines needs a prefetch policy "
                             f"(always, miss or tagged); prefetch is none"))
        if self.prefetch != "none" and self.line == "element":
            problems.append((("prefetch",), "a register file (line: element) has no "
                                            "prefetcher; prefetch must be none"))
        problems.extend(policy_problems(self.policy, self.line, self.ways, self.size))
        if self.prefetch != "none" and self.inclusion == "exclusive":
            problems.append((("prefetch",), "an exclusive level is filled only by the victims "
                                            "of the level above; prefetch must be none"))
        if problems:
            raise FieldProblems(problems)
        _check_sources(self, ("size", "line", "ways", "latency", "energy", "write_energy",
                              "bandwidth", "prefetch", "prefetch_distance", "inclusion"))
        return self


# ---------------------------------------------------------------- the core (issue 22)


def _core_latency(value: Any) -> float:
    """Cycles of one dependent operation: a positive finite number (4, 4.5, '4 cycles')."""
    v = _parse_cycles(value)
    if not v > 0:
        raise ValueError(f"must be positive, got {short(value)}")
    if v > MAX_CORE_LATENCY:
        raise ValueError(f"at most {MAX_CORE_LATENCY:g} cycles, got {short(value)}")
    return v


def _core_width(value: Any) -> int:
    """A whole number of loads, stores or micro-ops per cycle, 1 to MAX_CORE_WIDTH."""
    n = whole(value, "a whole number per cycle such as 2")
    if not 1 <= n <= MAX_CORE_WIDTH:
        raise ValueError(f"must be a whole number from 1 to {MAX_CORE_WIDTH}, got {n}")
    return n


CoreLatency = Annotated[float, BeforeValidator(_core_latency)]
CoreWidth = Annotated[int, BeforeValidator(_core_width)]
MAX_CHAIN_OVERLAP = 4096.0


def _chain_overlap(value: Any) -> float:
    """Iterations (a positive finite number, 11 or 10.5) of the following independent chains
    that run while a chain through memory waits (docs/model.md §4, chains through memory)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number of iterations such as 11, got {short(value)}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"must be positive and finite, got {short(value)}")
    if v > MAX_CHAIN_OVERLAP:
        raise ValueError(f"at most {MAX_CHAIN_OVERLAP:g} iterations, got {short(value)}")
    return v


ChainOverlap = Annotated[float, BeforeValidator(_chain_overlap)]


class Core(_Strict):
    """The few latencies and widths of one core that the in-core (ECM) time model needs
    (docs/model.md §4, "The in-core model"): the loop-carried chains of a MAC loop and its
    throughput bounds. Every figure cites its source."""

    add_latency: CoreLatency = Field(
        description="cycles of one dependent scalar floating-point add")
    fma_latency: CoreLatency | None = Field(
        default=None, description="cycles of one dependent fused multiply-add (-O3 -march)")
    store_forward_latency: CoreLatency = Field(
        description="cycles from a store to a load of the same address that receives its "
                    "value (store-to-load forwarding), load to use")
    loads_per_cycle: CoreWidth = Field(description="L1 load ports")
    stores_per_cycle: CoreWidth = Field(description="store ports")
    issue_width: CoreWidth = Field(description="micro-ops the core issues per cycle")
    chain_overlap: ChainOverlap | None = Field(
        default=None, description="iterations of the following independent chains that the "
                                  "core runs while a chain through memory (store, load of the "
                                  "same y) waits; absent: none (docs/model.md §4)")
    source: Source

    @model_validator(mode="after")
    def _sources(self) -> Core:
        _check_sources(self, ("add_latency", "fma_latency", "store_forward_latency",
                              "loads_per_cycle", "stores_per_cycle", "issue_width",
                              "chain_overlap"))
        return self


STATE_POLICIES = ("plru", "bitplru", "srrip", "brrip")  # the policies of real chips
MAX_STATE_WAYS = 16  # the kernels' scanned sets (kernels.SCAN_WAYS), where their state lives


def policy_problems(policy: str, line: int | str, ways: int | str,
                    size: int) -> list[tuple[tuple, str]]:
    """What a level's shape refuses of `policy` (docs/model.md §2, Replacement policies chips
    use): ((field,), message) pairs, none for lru, fifo and random."""
    if policy not in STATE_POLICIES:
        return []
    if line == "element":
        return [(("policy",), f"{policy} is not offered at a register file (line: element), "
                              f"whose ways depend on the element size; use lru, fifo or "
                              f"random")]
    n = size // line if ways == "full" else ways
    what = f"ways: full gives {n:,} ways" if ways == "full" else f"ways is {n:,}"
    if n > MAX_STATE_WAYS:
        return [(("policy",), f"{policy} needs at most {MAX_STATE_WAYS} ways ({what}); "
                              f"use lru, fifo or random")]
    if policy == "plru" and n & (n - 1):
        return [(("policy",), f"plru (a binary tree over the ways) needs a power-of-two "
                              f"number of ways ({what}); use bitplru, srrip, brrip or lru")]
    return []


_NOT_FOR_MEMORY = {
    "prefetch": "main memory has no lines to prefetch; give prefetch to a cache level",
    "prefetch_distance": "main memory has no lines to prefetch; give prefetch_distance to a "
                         "cache level",
    "inclusion": "main memory holds every line; inclusion is a property of cache levels",
}


def _not_for_memory(value: Any, info: Any) -> Any:
    raise ValueError(_NOT_FOR_MEMORY[info.field_name])


class MemoryLevel(_Strict):
    """Main memory: always hits."""

    name: Name = "DRAM"
    size: MemorySize | None = None
    latency: Latency
    energy: Energy
    write_energy: Energy | None = None
    bandwidth: BandwidthField | None = Field(
        default=None, description="bytes per cycle between memory and the last cache level")
    # keys a cache level takes and memory refuses with a reason (never stored or dumped)
    prefetch: Annotated[Any, BeforeValidator(_not_for_memory)] = Field(None, exclude=True)
    prefetch_distance: Annotated[Any, BeforeValidator(_not_for_memory)] = Field(
        None, exclude=True)
    inclusion: Annotated[Any, BeforeValidator(_not_for_memory)] = Field(None, exclude=True)
    source: Source
    dram: Dram | None = Field(default=None, description="a DRAM part (docs/model.md, DRAM)")

    @model_validator(mode="after")
    def _sources(self) -> MemoryLevel:
        _check_sources(self, ("size", "latency", "energy", "write_energy", "bandwidth"))
        if self.dram is not None and self.size is not None and self.dram.capacity != self.size:
            d = self.dram
            raise FieldProblems([(("dram",), f"{d.channels} channels x {d.ranks} ranks x "
                                  f"{d.banks} banks x {d.rows} rows x {d.columns} columns x "
                                  f"{d.bus_width // 8} B = {d.capacity:,} B, but size is "
                                  f"{self.size:,} B")])
        return self


# ---------------------------------------------------------------- DRAM (docs/model.md, "DRAM")

DRAM_FIELDS = ("offset", "column", "channel", "rank", "bank_group", "bank", "row")
DRAM_TIMINGS = ("tCL", "tRCD", "tRP", "tRAS", "tRFC", "tREFI")
DRAM_CURRENTS = ("IDD0", "IDD2N", "IDD3N", "IDD4R", "IDD4W", "IDD5B")
MAX_DRAM_COUNT = 1 << 24
_TIME_UNITS = {"ns": 1.0, "us": 1e3, "ps": 1e-3}


@dataclass(frozen=True)
class Span:
    """A DRAM timing as the config gives it: cycles of the memory clock, or nanoseconds."""

    value: float
    unit: Literal["cycles", "ns"]

    def cycles(self, tck_ns: float) -> int:
        """Whole memory-clock cycles; a time in ns is rounded up (as datasheets do)."""
        if self.unit == "cycles":
            return int(self.value)
        return max(1, math.ceil(self.value / tck_ns - 1e-9))

    def __str__(self) -> str:
        return f"{int(self.value)} cycles" if self.unit == "cycles" else f"{self.value!r} ns"


def _parse_span(value: Any) -> Span:
    what = "a timing in memory-clock cycles (19, '19 cycles') or a time ('13.75 ns')"
    if isinstance(value, Span):
        return value
    if isinstance(value, str):
        m = _NUMBER_UNIT.match(value) if len(value) <= 40 else None
        if not m:
            raise ValueError(f"expected {what}, got {short(value)}")
        num, unit = float(m.group(1)), m.group(2).lower()
        if unit in ("", "cycle", "cycles", "nck", "tck"):
            if not num.is_integer():
                raise ValueError(f"must be a whole number of cycles, got {short(value)}")
            span = Span(num, "cycles")
        elif unit in _TIME_UNITS:
            span = Span(num * _TIME_UNITS[unit], "ns")
        else:
            raise ValueError(f"expected {what}, got {short(value)}")
    else:
        span = Span(whole(value, what), "cycles")
    if not span.value > 0:
        raise ValueError(f"a timing of zero is not a timing; got {short(value)}")
    if span.value > 1e9:
        raise ValueError(f"at most 1e9 cycles or ns, got {short(value)}")
    return span


def _parse_unit_number(value: Any, units: dict[str, float], what: str) -> float:
    if isinstance(value, str):
        m = _NUMBER_UNIT.match(value) if len(value) <= 40 else None
        if not m or m.group(2).lower() not in units:
            raise ValueError(f"expected {what}, got {short(value)}")
        v = float(m.group(1)) * units[m.group(2).lower()]
    else:
        v = _finite_number(value, what)
    if not v > 0:
        raise ValueError(f"must be positive, got {short(value)}")
    if v > 1e6:
        raise ValueError(f"at most 1e6, got {short(value)}")
    return v


def _current(value: Any) -> float:
    return _parse_unit_number(value, {"": 1.0, "ma": 1.0, "a": 1e3},
                              "a current in mA such as 51 or '51 mA'")


def _volts(value: Any) -> float:
    return _parse_unit_number(value, {"": 1.0, "v": 1.0, "mv": 1e-3},
                              "a voltage in V such as 1.2 or '1.2 V'")


def _data_rate(value: Any) -> float:
    return _parse_unit_number(value, {"": 1.0, "mt/s": 1.0, "gt/s": 1e3, "mbps": 1.0},
                              "a data rate in MT/s such as 2666 or '2666 MT/s'")


def _pow2_count(value: Any) -> int:
    n = whole(value, "a whole number")
    if n < 1 or n & (n - 1):
        raise ValueError(f"must be a power of two, got {n}")
    if n > MAX_DRAM_COUNT:
        raise ValueError(f"at most {MAX_DRAM_COUNT}, got {n}")
    return n


def _mapping(value: Any) -> list[tuple[str, int | None]]:
    if not isinstance(value, (list, tuple)) or not value or len(value) > 64:
        raise ValueError("a mapping is a list of fields from the lowest address bit up, "
                         "such as [offset, column, bank, rank, channel, row]")
    out = []
    for item in value:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            name, bits = item
        elif isinstance(item, str):
            name, _, bits = item.partition(":")
            name = name.strip()
            bits = bits.strip() or None
        else:
            raise ValueError(f"a mapping entry is a field name or 'name:bits', got {short(item)}")
        if name not in DRAM_FIELDS:
            raise ValueError(f"{short(name)} is not a field of the address; the fields are "
                             f"{', '.join(DRAM_FIELDS)}")
        if bits is not None:
            try:
                n = int(bits)
            except (TypeError, ValueError):
                raise ValueError(f"{short(item)}: the bits after ':' are a whole number") from None
            if not 1 <= n <= 64:
                raise ValueError(f"{short(item)}: from 1 to 64 bits")
            bits = n
        out.append((name, bits))
    return out


def _xor_bank(value: Any) -> bool | list[int]:
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        bits = [whole(v, "an address bit number") for v in value]
        if any(not 0 <= b < 64 for b in bits):
            raise ValueError("address bit numbers are from 0 to 63")
        return bits
    raise ValueError(f"expected true, false or a list of address bit numbers, got {short(value)}")


DramTime = Annotated[Span, PlainValidator(_parse_span), PlainSerializer(str)]
DramCount = Annotated[int, BeforeValidator(_pow2_count)]


def _channel_count(value: Any) -> int:
    n = whole(value, "a whole number of channels")
    if not 1 <= n <= 4096:
        raise ValueError(f"must be from 1 to 4096, got {n}")
    return n


ChannelCount = Annotated[int, BeforeValidator(_channel_count)]
Current = Annotated[float, BeforeValidator(_current)]


class Dram(_Strict):
    """A DRAM part behind the hierarchy (docs/model.md, "DRAM")."""

    part: Text = ""
    channels: ChannelCount = Field(1, description="any number; a power of two is a bit "
                                   "field, another a digit of that radix (model.md, DRAM)")
    ranks: DramCount = 1
    banks: DramCount
    bank_groups: DramCount = 1
    rows: DramCount
    columns: DramCount
    device_width: DramCount = Field(description="bits of one device (x4, x8, x16)")
    bus_width: DramCount = Field(description="bits of a channel's data bus")
    burst_length: DramCount
    mapping: Annotated[list[tuple[str, int | None]], BeforeValidator(_mapping)]
    xor_bank: Annotated[bool | list[int], BeforeValidator(_xor_bank)] = False
    page_policy: Literal["open", "closed"] = "open"
    data_rate: Annotated[float, BeforeValidator(_data_rate)] = Field(
        description="transfers per second per pin, MT/s (the memory clock is half)")
    tCL: DramTime
    tRCD: DramTime
    tRP: DramTime
    tRAS: DramTime
    tRFC: DramTime
    tREFI: DramTime
    tBurst: DramTime | None = Field(default=None, description="default burst_length / 2")
    IDD0: Current
    IDD2N: Current
    IDD3N: Current
    IDD4R: Current
    IDD4W: Current
    IDD5B: Current
    VDD: Annotated[float, BeforeValidator(_volts)]
    source: Source

    # ---- derived figures
    @property
    def tck_ns(self) -> float:
        return 2000.0 / self.data_rate

    def cycles(self, name: str) -> int:
        if name == "tBurst" and self.tBurst is None:
            return max(1, self.burst_length // 2)
        return getattr(self, name).cycles(self.tck_ns)

    @property
    def burst_bytes(self) -> int:
        return self.bus_width // 8 * self.burst_length

    @property
    def capacity(self) -> int:
        return (self.channels * self.ranks * self.banks * self.rows * self.columns
                * self.bus_width // 8)

    def widths(self) -> dict[str, int]:
        lg = int.bit_length
        return {"offset": lg(self.burst_bytes) - 1,
                "column": lg(self.columns) - lg(self.burst_length),
                "channel": lg(self.channels) - 1 if self.binary_channels else 0,
                "rank": lg(self.ranks) - 1,
                "bank_group": lg(self.bank_groups) - 1,
                "bank": lg(self.banks // self.bank_groups) - 1, "row": lg(self.rows) - 1}

    @property
    def binary_channels(self) -> bool:
        """Whether the channel is a field of bits (a power of two channels)."""
        return self.channels & (self.channels - 1) == 0

    def pieces(self) -> list[tuple[str, int]]:
        """The mapping above the offset as (field, bits) from the lowest up, each entry's
        bits resolved; bits = -1: the channel digit of a non-power-of-two channel count."""
        widths, explicit = self.widths(), self._explicit()
        out = []
        for name, bits in self.mapping[1:]:
            if name == "channel" and not self.binary_channels:
                out.append((name, -1))
            else:
                out.append((name, max(widths[name] - explicit[name], 0) if bits is None
                            else bits))
        return out

    def _explicit(self) -> dict[str, int]:
        out = {f: 0 for f in DRAM_FIELDS}
        for name, bits in self.mapping:
            out[name] += bits or 0
        return out

    def bit_positions(self) -> dict[str, list[int]]:
        """Each field's address bits, its lowest bit first (valid mappings only): an entry
        `name:N` takes the field's next N bits, a bare `name` the bits its `name:N`
        entries leave."""
        widths, explicit = self.widths(), self._explicit()
        out: dict[str, list[int]] = {f: [] for f in DRAM_FIELDS}
        pos = 0
        for name, bits in self.mapping:
            n = max(widths[name] - explicit[name], 0) if bits is None else bits
            out[name].extend(range(pos, pos + n))
            pos += n
        return out

    def bank_bits(self) -> int:
        w = self.widths()
        return w["bank_group"] + w["bank"]

    @model_validator(mode="after")
    def _check(self) -> Dram:
        problems: list[tuple[tuple, str]] = []
        if self.bank_groups > self.banks:
            problems.append((("bank_groups",), f"{self.bank_groups} bank groups for "
                             f"{self.banks} banks; banks counts every bank of a rank"))
        if self.device_width > self.bus_width:
            problems.append((("device_width",), f"a {self.device_width}-bit device is wider "
                             f"than the {self.bus_width}-bit bus"))
        if self.burst_length > self.columns:
            problems.append((("burst_length",), f"a burst of {self.burst_length} columns is "
                             f"longer than a row of {self.columns}"))
        if problems:
            raise FieldProblems(problems)
        widths, explicit = self.widths(), self._explicit()
        bare = {f: sum(1 for n, b in self.mapping if n == f and b is None) for f in DRAM_FIELDS}
        if self.mapping[0][0] != "offset" or self.mapping[0][1] is not None:
            problems.append((("mapping",), "offset (the byte within a burst, "
                             f"{widths['offset']} bits) comes first, whole"))
        if not self.binary_channels:
            given = [b for n, b in self.mapping if n == "channel"]
            if given != [None]:
                problems.append((("mapping",), f"{self.channels} channels is not a power of "
                                 "two: the channel is one digit of that radix; give it once, "
                                 f"whole (channel), got {len(given)} channel entries"))
            if isinstance(self.xor_bank, list):
                problems.append((("xor_bank",), f"{self.channels} channels is not a power "
                                 "of two, so address bits do not stay in place; use "
                                 "xor_bank: true (the row's low bits)"))
        for f in DRAM_FIELDS:
            if f == "channel" and not self.binary_channels:
                continue
            w, e = widths[f], explicit[f]
            if e > w or bare[f] > 1 or (bare[f] and e == w and w > 0):
                extra = e - w if e > w else max(w - e, 1)
                problems.append((("mapping",), f"{f} has {w} bit{'s' if w != 1 else ''} and "
                                 f"the mapping gives it more: it uses {extra} bit"
                                 f"{'s' if extra != 1 else ''} twice"))
            elif not bare[f] and e < w:
                problems.append((("mapping",), f"{f} has {w} bits and the mapping gives it "
                                 f"{e}: it leaves {w - e} bit{'s' if w - e != 1 else ''} "
                                 f"unused"))
        if isinstance(self.xor_bank, list) and not problems and self.binary_channels:
            pos = self.bit_positions()
            bank = set(pos["bank_group"] + pos["bank"])
            top = sum(widths.values())
            if len(self.xor_bank) != self.bank_bits():
                problems.append((("xor_bank",), f"the bank index has {self.bank_bits()} bits; "
                                 f"give one address bit for each, got {len(self.xor_bank)}"))
            bad = [b for b in self.xor_bank if b in bank or b >= top]
            if bad:
                problems.append((("xor_bank",), f"address bit{'s' if len(bad) > 1 else ''} "
                                 f"{', '.join(map(str, bad))}: each must be a bit of the "
                                 f"capacity ({top} bits) that is not a bank bit itself"))
        if self.xor_bank is True and widths["row"] < self.bank_bits():
            problems.append((("xor_bank",), f"the row has {widths['row']} bits, fewer than "
                             f"the bank index's {self.bank_bits()}"))
        t = {n: self.cycles(n) for n in (*DRAM_TIMINGS, "tBurst")}
        if t["tRFC"] >= t["tREFI"]:
            problems.append((("tRFC",), f"tRFC ({t['tRFC']} cycles) must be shorter than "
                             f"tREFI ({t['tREFI']} cycles)"))
        if t["tRAS"] < t["tRCD"]:
            problems.append((("tRAS",), f"tRAS ({t['tRAS']} cycles) is shorter than tRCD "
                             f"({t['tRCD']}): a row opens before it may close"))
        for hi, lo in (("IDD0", "IDD3N"), ("IDD3N", "IDD2N"), ("IDD4R", "IDD3N"),
                       ("IDD4W", "IDD3N"), ("IDD5B", "IDD3N")):
            if getattr(self, hi) <= getattr(self, lo):
                problems.append(((hi,), f"{hi} ({getattr(self, hi):g} mA) must exceed {lo} "
                                 f"({getattr(self, lo):g} mA): the energy above background "
                                 f"would not be positive"))
        if problems:
            raise FieldProblems(problems)
        _check_sources(self, ("channels", "ranks", "banks", "bank_groups", "rows", "columns",
                              "device_width", "bus_width", "burst_length", "data_rate",
                              *DRAM_TIMINGS, "tBurst", *DRAM_CURRENTS, "VDD"))
        return self


class Hierarchy(_Strict):
    """A memory hierarchy: cache levels innermost first, then main memory."""

    name: Name
    description: Text = ""
    copied_from: Name | None = Field(
        default=None, description="the shipped config this file was copied from "
        "(simcache configs NAME --copy FILE writes it); shown beside the name, never used")
    source: Source
    mac_cycles: Cycles = Field(description="cycles per multiply-accumulate")
    mac_energy: Energy = Field(description="pJ per multiply-accumulate")
    clock: Clock | None = Field(default=None, description="core clock, GHz")
    macs_per_cycle: MacsPerCycle | None = Field(
        default=None, description="peak multiply-accumulates per cycle (SIMD lanes x FMA units)")
    seed: Annotated[int, BeforeValidator(_seed)] = Field(
        default=1, description="seed of the random replacement policy")
    levels: list[CacheLevel] = Field(max_length=MAX_LEVELS)
    memory: MemoryLevel
    core: Core | None = Field(
        default=None, description="the core's latencies and widths for the in-core (ECM) "
                                  "time model; without it that model is not computed")

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
        _check_sources(self, ("mac_cycles", "mac_energy", "clock", "macs_per_cycle"))
        problems = (self._bandwidth_problems() + self._inclusion_problems()
                    + self._dram_problems())
        if problems:
            raise FieldProblems(problems)
        return self

    def _bandwidth_problems(self) -> list[tuple[tuple, str]]:
        out = []
        where = [(("levels", k), lv) for k, lv in enumerate(self.levels)]
        for loc, lv in where + [(("memory",), self.memory)]:
            bw = lv.bandwidth
            if bw is None or bw.per == "cycle":
                continue
            if self.clock is None:
                out.append(((*loc, "bandwidth"),
                            f"{lv.name}'s bandwidth is a rate (bytes per second): it needs "
                            f"the config's clock to become bytes per cycle, or give B/cycle"))
            elif not 0 < bw.per_cycle(self.clock) <= MAX_BANDWIDTH:
                out.append(((*loc, "bandwidth"),
                            f"{lv.name}'s bandwidth is {bw.per_cycle(self.clock):g} B/cycle "
                            f"at {self.clock:g} GHz; at most {MAX_BANDWIDTH:g} B/cycle"))
        return out

    def _dram_problems(self) -> list[tuple[tuple, str]]:
        """docs/model.md, "DRAM": its latencies become core cycles at the clock."""
        if self.memory.dram is None:
            return []
        out = []
        if self.clock is None:
            out.append((("memory", "dram"), "a DRAM's timings are in its own clock: the "
                        "config needs the core's clock to turn them into core cycles"))
        return out

    def _inclusion_problems(self) -> list[tuple[tuple, str]]:
        """docs/model.md §2, Inclusion: which inclusive and exclusive levels are refused."""
        out = []
        for k, lv in enumerate(self.levels):
            loc = ("levels", k, "inclusion")
            # register files (line: element) hold values, not lines: outside inclusion
            above = [u for u in self.levels[:k] if u.line != "element"]
            line = 8 if lv.line == "element" else lv.line
            if lv.inclusion == "inclusive":
                if not above:
                    out.append((loc, f"{lv.name} is inclusive but has no cache level above "
                                     f"it to include (register files are outside inclusion)"))
                for u in above:
                    if u.size > lv.size:
                        out.append((loc, f"inclusive {lv.name} ({lv.size:,} B) is smaller "
                                         f"than {u.name} ({u.size:,} B) above it, so it "
                                         f"cannot hold all of {u.name}'s lines"))
                    if u.line > line:
                        out.append((loc, f"inclusive {lv.name}'s line ({line} B) is shorter "
                                         f"than {u.name}'s ({u.line} B) above it; an "
                                         f"inclusive level's line is at least every line "
                                         f"above it"))
            elif lv.inclusion == "exclusive":
                if k == 0 or self.levels[k - 1].line == "element":
                    out.append((loc, f"exclusive {lv.name} needs a cache level directly "
                                     f"above it, whose victims fill it"))
                    continue
                u = self.levels[k - 1]
                if u.line != lv.line:
                    out.append((loc, f"exclusive {lv.name}'s line ({line} B) differs from "
                                     f"{u.name}'s ({u.line} B) directly above it; victims "
                                     f"move whole lines"))
                if not u.write_back:
                    out.append((loc, f"exclusive {lv.name} is below write-through {u.name}, "
                                     f"which would forward writes of lines it holds; the "
                                     f"level above an exclusive one is write-back"))
        for k, lv in enumerate(self.levels):
            # ways that inclusion empties: above an inclusive level, and in an exclusive one
            emptied = lv.inclusion == "exclusive" or (lv.line != "element" and any(
                v.inclusion == "inclusive" for v in self.levels[k + 1:]))
            if emptied and lv.policy == "random":
                out.append((("levels", k, "policy"),
                            f"{lv.name}: inclusion empties some of its ways, and random "
                            f"replacement is not simulated with empty ways (which one it "
                            f"fills would be a choice of its own); use lru or fifo"))
        return out

    def bandwidths(self) -> list[float | None]:
        """Bytes per cycle of each level, memory last; None where the config gives none.
        A rate (B/s) is divided by the clock (validated: a rate comes with a clock)."""
        return [None if lv.bandwidth is None else lv.bandwidth.per_cycle(self.clock)
                for lv in [*self.levels, self.memory]]

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
                         lv.write_back, lv.write_allocate, lv.prefetch, lv.prefetch_distance,
                         lv.inclusion, lv.line == "element")
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
    inclusion: str = "nine"
    register: bool = False  # a register file (line: element): outside inclusion


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
        cause = e.get("ctx", {}).get("error")
        items = ([{**e, "loc": (*e["loc"], *loc), "msg": msg} for loc, msg in cause.items]
                 if isinstance(cause, FieldProblems) else [e])
        for item in items:
            path = _loc_path(item["loc"])
            if rename:
                path = rename.get(path, path)
            line = _node_line(root, item["loc"]) if root is not None else None
            prefix = f"{where}:{line}: " if where and line else (f"{where}: " if where else "")
            text = f"{prefix}{path}: {_message(item)}" if path else f"{prefix}{_message(item)}"
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
