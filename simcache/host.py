"""`simcache host`: a config of the machine simcache runs on.

The cache levels come from Linux's sysfs (`/sys/devices/system/cpu/cpu0/cache/index*/`),
the CPU's name and flags from /proc/cpuinfo, and every time from small calibration loops in C
(host_calib.c), compiled with the machine's C compiler into a temporary directory and run
here: the clock, each level's load-to-use latency, main memory's latency and bandwidth, and
the core's latencies and widths (the config's `core:` section). docs/model.md ("simcache
host") says what each loop measures and how; every field's `source:` says it too.

Nothing is written until every measurement is done and the config validates: the CLI writes
`HostResult.render(...)` whole (outfile.atomic_output), or nothing.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .config import Hierarchy, validation_problems
from .errors import SimcacheError

SYSFS_ENV = "SIMCACHE_SYSFS_ROOT"  # another root for tests: a fake tree in a tmp_path
CPUINFO_ENV = "SIMCACHE_CPUINFO"  # likewise for /proc/cpuinfo
DEFAULT_SYSFS = "/sys/devices/system/cpu"
DEFAULT_CPUINFO = "/proc/cpuinfo"
CACHE_FILES = ("level", "type", "size", "ways_of_associativity", "coherency_line_size",
               "number_of_sets")
# A cache level that gives each CPU sharing it more than this is not one core's cache as a
# chip builds it: the largest share on a shipping part is AMD's EPYC 9184X, 768 MiB of L3
# over 16 cores = 48 MiB a core. A virtual machine's hypervisor reports the host socket's
# L3 to a guest of 2 vCPUs (this project's machine: 480 MiB); such a level is "implausible"
# and its size is taken from the latency sweep instead (docs/model.md, simcache host).
PER_CPU_LIMIT = 64 << 20
MEMORY_BUFFER = (256 << 20, 1 << 30)  # the least and the most bytes chased for DRAM latency

Progress = Callable[[str], None]


# ---------------------------------------------------------------- sysfs


@dataclass
class SysLevel:
    """One data or unified cache level as sysfs gives it."""

    level: int
    kind: str  # Data or Unified
    size: int
    ways: int
    line: int
    sets: int | None
    shared: int  # CPUs that share it (shared_cpu_list); 1 when the file is missing
    directory: Path
    notes: list[str] = field(default_factory=list)  # disagreements, said in the source
    implausible: str | None = None  # why its size cannot be one core's cache

    @property
    def name(self) -> str:
        return f"L{self.level}D" if self.kind == "Data" else f"L{self.level}"

    def file(self, name: str) -> str:
        return str(self.directory / name)


@dataclass
class SysInfo:
    root: Path
    levels: list[SysLevel]
    problems: list[str]  # fields it could not find or read: one line each (exit 2)
    warnings: list[str]  # figures it found and handled otherwise (disagreeing, implausible)


_SIZE_TEXT = re.compile(r"([0-9]+)\s*([KMG]?)")
_UNIT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_sysfs_size(text: str) -> int:
    """sysfs writes '48K', '2048K', '491520K' (1024-based)."""
    m = _SIZE_TEXT.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text.strip()[:40]!r} is not a size such as 48K")
    return int(m.group(1)) * _UNIT[m.group(2)]


def _cpu_count(text: str) -> int:
    """'0-1,4,6-7' → 5."""
    n = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return max(n, 1)


def sysfs_root() -> Path:
    return Path(os.environ.get(SYSFS_ENV) or DEFAULT_SYSFS)


def read_sysfs(root: Path | None = None) -> SysInfo:
    """The data and unified cache levels of cpu0, innermost first; what is missing or odd
    is said, one line each, never silently used."""
    root = Path(root) if root is not None else sysfs_root()
    cache = root / "cpu0" / "cache"
    info = SysInfo(root, [], [], [])
    indexes = sorted((d for d in cache.glob("index*") if d.is_dir()),
                     key=lambda d: int(d.name[5:]) if d.name[5:].isdigit() else 1 << 30) \
        if cache.is_dir() else []
    if not indexes:
        info.problems.append(f"{cache}: no cache information (no index*/ directories): "
                             f"could not find the cache levels' size, ways and line")
        return info
    for d in indexes:
        text: dict[str, str] = {}
        for name in CACHE_FILES:
            try:
                text[name] = (d / name).read_text(encoding="ascii", errors="replace").strip()
            except OSError as exc:
                if name != "number_of_sets":  # optional: it only cross-checks the others
                    text[name] = ""
                    info.problems.append(f"{d / name}: could not read it "
                                         f"({exc.strerror or exc})")
        kind = text.get("type", "")
        if kind == "Instruction":
            continue
        if not kind or not text.get("level"):
            info.problems.append(f"{d}: without its level and type this cache is left out")
            continue
        if kind not in ("Data", "Unified"):
            info.warnings.append(f"{d / 'type'}: {kind[:40]!r} is not Data, Unified or "
                                 f"Instruction; this cache is left out")
            continue
        values: dict[str, int | None] = {}
        bad = False
        for name, parse in (("level", int), ("size", parse_sysfs_size),
                            ("ways_of_associativity", int), ("coherency_line_size", int),
                            ("number_of_sets", int)):
            raw = text.get(name)
            if raw is None or raw == "":
                values[name] = None
                bad = bad or name != "number_of_sets"
                continue
            try:
                values[name] = parse(raw)
            except ValueError:
                info.problems.append(f"{d / name}: {raw[:40]!r} is not a whole number")
                values[name] = None
                bad = True
        if bad:
            missing = [n for n in ("size", "ways_of_associativity", "coherency_line_size")
                       if values.get(n) is None]
            if values.get("level") is not None:
                info.problems.append(f"{d}: L{values['level']} ({kind}) is left out of the "
                                     f"config: its {', '.join(missing) or 'level'} could not "
                                     f"be found")
            continue
        size, ways, line = (values["size"], values["ways_of_associativity"],
                            values["coherency_line_size"])
        sets = values["number_of_sets"]
        if min(size, ways, line) <= 0 or line & (line - 1) or size % (ways * line):
            info.problems.append(f"{d}: size {size} B is not a whole number of sets of "
                                 f"{ways} ways x {line} B lines; this level is left out")
            continue
        try:
            shared = _cpu_count((d / "shared_cpu_list").read_text(encoding="ascii"))
        except (OSError, ValueError):
            shared = 1
        lv = SysLevel(values["level"], kind, size, ways, line, sets, shared, d)
        if sets is not None and sets * ways * line != size:
            lv.notes.append(f"{d / 'number_of_sets'} says {sets} sets, which disagrees with "
                            f"size / (ways x line) = {size // (ways * line)}: the size file "
                            f"is used and the sets follow from it")
            info.warnings.append(f"{d}: size {size} B != number_of_sets x ways x line = "
                                 f"{sets} x {ways} x {line} = {sets * ways * line} B; "
                                 f"using the size file ({size // (ways * line)} sets)")
        if size / shared > PER_CPU_LIMIT:
            lv.implausible = (f"{size >> 20} MiB shared by {shared} CPU"
                              f"{'s' if shared > 1 else ''} ({d / 'size'}, "
                              f"{d / 'shared_cpu_list'}) is more than "
                              f"{PER_CPU_LIMIT >> 20} MiB a CPU, more than any chip gives "
                              f"one core: a hypervisor's figure (the host socket's cache), "
                              f"not this machine's share")
            info.warnings.append(f"{d}: L{lv.level}: {lv.implausible}; its size is taken "
                                 f"from the latency sweep")
        if any(x.level == lv.level for x in info.levels):
            info.warnings.append(f"{d}: a second L{lv.level} data cache; only the first is "
                                 f"used")
            continue
        info.levels.append(lv)
    info.levels.sort(key=lambda x: x.level)
    return info


# ---------------------------------------------------------------- /proc/cpuinfo


@dataclass
class CpuInfo:
    model: str
    mhz: float | None
    flags: set[str]
    arch: str
    path: str


def read_cpuinfo(path: str | None = None) -> CpuInfo:
    path = path or os.environ.get(CPUINFO_ENV) or DEFAULT_CPUINFO
    model, mhz, flags = "", None, set()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "cpu model", "processor") and not model and \
                not value.isdigit():
            model = value
        elif key == "cpu mhz" and mhz is None:
            try:
                mhz = float(value)
            except ValueError:
                pass
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return CpuInfo(model or platform.processor() or "unknown CPU", mhz, flags,
                   platform.machine(), path)


def registers(cpu: CpuInfo) -> tuple[int, int, str]:
    """(registers, bytes each, why) of the widest vector register file the flags name."""
    f = cpu.flags
    if "avx512f" in f:
        return 32, 64, "cpuid flag avx512f: 32 zmm registers x 64 B"
    if "avx" in f:
        return 16, 32, "cpuid flag avx: 16 ymm registers x 32 B"
    if cpu.arch in ("aarch64", "arm64") or "asimd" in f:
        return 32, 16, "AArch64: 32 Advanced SIMD registers x 16 B"
    if "sse2" in f or cpu.arch in ("x86_64", "AMD64"):
        return 16, 16, "x86-64: 16 xmm registers x 16 B (SSE2)"
    return 16, 8, "assumption: 16 registers x 8 B (no vector flag found)"


def fma_loop(cpu: CpuInfo) -> tuple[str, int, str] | None:
    """(calibration mode, fp32 lanes, which) of the widest FMA the flags name, or None."""
    f = cpu.flags
    if "avx512f" in f and "fma" in f:
        return "vfma512", 16, "512-bit vfmadd (avx512f)"
    if "avx2" in f and "fma" in f:
        return "vfma256", 8, "256-bit vfmadd (avx2, fma)"
    if "fma" in f or cpu.arch in ("aarch64", "arm64") or "asimd" in f:
        return "vfma128", 4, "128-bit FMA"
    return None


def read_loop(cpu: CpuInfo) -> tuple[str, str]:
    """(calibration mode, which loads) of the widest loads the flags name."""
    if "avx512f" in cpu.flags:
        return "read512", "512-bit"
    if "avx2" in cpu.flags:
        return "read256", "256-bit"
    return "read128", "128-bit"


def has_fma(cpu: CpuInfo) -> bool:
    return "fma" in cpu.flags or cpu.arch in ("aarch64", "arm64") or "asimd" in cpu.flags


# ---------------------------------------------------------------- calibration loops


class Loops:
    """host_calib.c compiled in a temporary directory; `run` prints one figure a call."""

    def __init__(self, workdir: Path, progress: Progress):
        cc = os.environ.get("CC") or "cc"
        found = shutil.which(cc)
        if found is None:
            raise SimcacheError([f"no C compiler: {cc!r} is not on PATH (set CC to one); "
                                 "simcache host measures with small C loops, and wrote "
                                 "nothing"])
        src = Path(__file__).with_name("host_calib.c")
        self.exe = workdir / "calib"
        self.cc = cc
        self.flags = ["-O2"]
        progress(f"compiling the calibration loops with {cc} {' '.join(self.flags)}")
        done = subprocess.run([found, *self.flags, "-o", str(self.exe), str(src), "-lm"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no message"])[0]
            raise SimcacheError([f"{cc}: the calibration loops did not compile ({first[:200]}); "
                                 "nothing was written"])
        progress("compiled the calibration loops")

    def run(self, mode: str, iters: int, reps: int, nbytes: int | None = None) -> float:
        return float(self.text(mode, iters, reps, nbytes).strip())

    def least(self, mode: str, iters: int, reps: int, tries: int = 3) -> float:
        """The least of `tries` processes' figures: the same binary runs a loop at two
        speeds from one process to the next on this VM (64 nops: 5.3 or 6.1 a cycle)."""
        return min(self.run(mode, iters, reps) for _ in range(tries))

    def least_arg(self, mode: str, iters: int, reps: int, arg: int, tries: int = 3) -> float:
        """`least` of a loop that takes an argument (BYTES on its command line)."""
        return min(self.run(mode, iters, reps, arg) for _ in range(tries))

    def text(self, mode: str, iters: int, reps: int, nbytes: int | None = None) -> str:
        args = [str(self.exe), mode, str(iters), str(reps)]
        if nbytes is not None:
            args.append(str(nbytes))
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise SimcacheError([f"calibration loop {mode}: exit status {done.returncode} "
                                 f"({done.stderr.strip()[:200]}); nothing was written"])
        return done.stdout


@dataclass
class Figure:
    """A measured value and how it was measured (the `source:` text)."""

    value: float
    method: str


@dataclass
class Measured:
    """What the calibration loops found. Times in cycles of the measured clock."""

    clock_ghz: Figure
    level_latency: dict[int, Figure]  # by sysfs level number
    level_size: dict[int, Figure]  # effective sizes of implausible levels (the sweep)
    memory_latency: Figure
    memory_bandwidth: Figure  # bytes per second, STREAM counting
    core: dict[str, Figure]
    sweep: list[tuple[int, float]]  # (buffer bytes, ns per load) when a level needed it
    notes: list[str] = field(default_factory=list)
    date: str = ""
    macs_per_cycle: Figure | None = None  # None: assumed from the flags (no FMA loop ran)
    level_bandwidth: dict[int, Figure] = field(default_factory=dict)  # B/cycle, by level


def _kib(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} B"


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_buffer(levels: list[SysLevel]) -> int:
    """Bytes chased for main memory's latency: 8 x the largest plausible level, from 256 MiB
    to 1 GiB, and at most a quarter of the memory available."""
    largest = max((lv.size for lv in levels if not lv.implausible), default=0)
    n = min(max(8 * largest, MEMORY_BUFFER[0]), MEMORY_BUFFER[1])
    avail = _mem_available()
    if avail:
        n = min(n, max(avail // 4, 16 << 20))
    return 1 << int(math.log2(n))


def chase_buffer(size: int, above: int) -> tuple[int, float]:
    """The buffer whose chase times a level of `size` bytes below one of `above` bytes, and
    the share of its loads the level above still serves (about above / buffer: a random
    chase over B bytes finds a cache of C bytes holding C/B of them). Half the level, or
    twice the level above when that is larger (so the level above holds at most half), but
    never more than the level itself."""
    buf = max(size // 2, min(2 * above, size)) // 64 * 64
    buf = max(buf, 4096)
    return buf, above / buf if above else 0.0


def own_latency(ns: float, share: float, above_ns: float) -> float:
    """A level's own latency from a chase whose loads the level above serves a `share` of
    (at `above_ns`): ns = share x above_ns + (1 - share) x own. Never below the level
    above's (noise can make the difference negative)."""
    return max((ns - share * above_ns) / (1 - share), above_ns)


def smoothed_sweep(points: list[tuple[int, float]], above: int) -> list[tuple[int, float]]:
    """The sweep's points from twice the level above on, each the median of itself and its
    two neighbours: one quiet (or one disturbed) run does not move the edge."""
    pts = [(s, t) for s, t in points if s >= 2 * above]
    return [(s, sorted(t2 for _, t2 in pts[k - 1:k + 2])[1] if 0 < k < len(pts) - 1 else t)
            for k, (s, t) in enumerate(pts)]


def effective_size(points: list[tuple[int, float]], memory_ns: float, above: int,
                   line: int, ways: int) -> tuple[int | None, str]:
    """The size of a level read off a latency sweep: a random chase over S bytes of which a
    cache holds C hits about C/S of its loads, so the latency is halfway between the level's
    own (the sweep's least past the level above) and memory's where S = 2C. Returns the
    size, rounded down to a power of two of whole sets (None: the sweep shows no level
    between the one above and memory), and how it was read."""
    pts = smoothed_sweep(points, above)
    if not pts:
        return None, "no sweep point past the level above"
    own = min(t for _, t in pts)
    if memory_ns < 1.5 * own:
        return None, (f"the sweep's least latency past the level above, {own:.1f} ns, is "
                      f"within 1.5x of memory's {memory_ns:.1f} ns: no level between them")
    half = (own + memory_ns) / 2
    cross = None
    for k, (s, t) in enumerate(pts):
        if t > half and all(t2 > half for _, t2 in pts[k:]):
            if k == 0:
                return None, (f"half the way to memory's latency already at {_kib(s)}, "
                              f"twice the level above")
            s0, t0 = pts[k - 1]
            frac = (half - t0) / (t - t0)
            cross = 2 ** (math.log2(s0) + frac * (math.log2(s) - math.log2(s0)))
            break
    if cross is None:
        return None, "the sweep never rose halfway to memory's latency"
    unit = line * ways
    size = unit * (1 << max(0, int(math.log2(cross / 2 / unit))))
    if size <= above:
        return None, (f"the latency rises halfway to memory's at {cross / (1 << 20):.1f} MiB: "
                      f"a level of at most {_kib(size)}, no larger than the level above")
    return size, (f"the latency of a chase rises halfway from the level's "
                  f"{own:.1f} ns to memory's {memory_ns:.1f} ns at {cross / (1 << 20):.1f} "
                  f"MiB, twice the level's size (half the loads hit); {cross / 2 / (1 << 20):.1f} "
                  f"MiB rounded down to a power of two of whole sets")


def reorder_window(steps: list[tuple[int, float]]) -> tuple[int | None, str]:
    """The out-of-order window from (N nops between two independent misses, ns a round):
    the misses overlap (one latency a round) while the window holds them and the N nops,
    and queue (two) past it. The first N whose round (a median of three neighbours) is
    past halfway between the two plateaus, and stays past it; None without a clear step."""
    if len(steps) < 6:
        return None, "too few filler counts"
    ts = [sorted(t for _, t in steps[k - 1:k + 2])[1] if 0 < k < len(steps) - 1 else t
          for k, (_, t) in enumerate(steps)]
    low, high = min(ts[:4]), sorted(ts[-4:])[1]
    if high < 1.5 * low:
        return None, (f"no step: {low:.0f} ns a round with {steps[0][0]} nops, {high:.0f} ns "
                      f"with {steps[-1][0]}")
    mid = (low + high) / 2
    for k, t in enumerate(ts):
        if t > mid and all(t2 > mid for t2 in ts[k:]):
            if k == 0:
                return None, f"the misses never overlapped ({low:.0f} ns with {steps[0][0]} nops)"
            return steps[k][0], (
                f"two misses overlap with {steps[k - 1][0]} nops between them "
                f"({ts[k - 1]:.0f} ns a round) and queue with {steps[k][0]} ({ts[k]:.0f} ns; "
                f"{low:.0f} and {high:.0f} ns the two plateaus): a window of about "
                f"{steps[k][0]} micro-ops, the first count past the step")
    return None, "no step"


CHAIN_LENGTHS = (6, 9, 12, 16, 24, 32)


def overlap_from(round_cycles: float, per_step: list[tuple[int, float]]) -> tuple[float | None,
                                                                                   str]:
    """core.chain_overlap (docs/model.md §4) from chains through memory of lengths L, each
    step `per_step` cycles, and `round_cycles` (store forward + add) the latency of a step:
    a chain of L steps that takes L + V iterations' time runs L * round / (L + V) cycles an
    iteration, so V = L * (round / step - 1); the median over the lengths, to 0.5."""
    vs = sorted(L * (round_cycles / c - 1.0) for L, c in per_step if c > 0)
    if not vs or vs[len(vs) // 2] <= 0:
        return None, (f"chains through memory ran no faster than one step's latency "
                      f"({round_cycles:.2f} cycles)")
    v = round(2 * vs[len(vs) // 2]) / 2
    steps = ", ".join(f"L={L}: {c:.2f}" for L, c in per_step)
    return max(v, 0.5), (
        f"1024 independent chains of L store->load steps (y[o] += w[t] * x[o + t], t "
        f"innermost, a bound test inside as simcache.native's skipped taps, -O2), cycles an "
        f"iteration {steps}; a step's latency (store forward + add) {round_cycles:.2f} cycles; "
        f"V = L * (latency / cycles - 1), median over the lengths")


def chain_overlap(loops: Loops, cycles: Callable[[float], float], round_cycles: float,
                  reps: int) -> tuple[float | None, str]:
    per_step = [(L, cycles(loops.least_arg("memchain", max(1, 20_000 // (1024 * L) + 1),
                                           reps, L)))
                for L in CHAIN_LENGTHS]
    return overlap_from(round_cycles, per_step)


def measure_clock(reps: int = 41) -> float:
    """The clock in GHz now, by `measure`'s loop (a dependent chain of integer adds, the
    least of `reps` runs in each of 3 processes): `bench.py host` runs it before and after
    its timings, as turbo moves with the load."""
    with tempfile.TemporaryDirectory(prefix="simcache-clock-") as tmp:
        return 1.0 / Loops(Path(tmp), lambda s: None).least("intadd", 20_000, reps)


def measure(info: SysInfo, cpu: CpuInfo, quick: bool = False,
            progress: Progress = lambda s: None) -> Measured:
    """Run the calibration loops (each the least of several runs: the machine is shared)."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    # many short runs: a run of a millisecond or less is seldom preempted on a loaded
    # machine, and the least of many is the undisturbed one
    reps = 11 if quick else 41
    scale = 1
    by = f"simcache host, {date}"
    notes = []
    if hasattr(os, "getloadavg"):
        notes.append(f"load average {os.getloadavg()[0]:.2f} when the measurement began, on "
                     f"{os.cpu_count()} CPUs (other work makes the latencies longer and the "
                     f"sweep noisier; each figure is the least of its runs)")
    with tempfile.TemporaryDirectory(prefix="simcache-host-") as tmp:
        loops = Loops(Path(tmp), progress)
        least = f"least of {reps} runs in each of 3 processes"

        progress("measuring the clock (a dependent chain of integer adds)")
        n_int = 20_000 * scale
        ns_int = loops.least("intadd", n_int, reps)
        ghz = 1.0 / ns_int
        if cpu.mhz:
            agree = abs(ghz * 1000 / cpu.mhz - 1) < 0.03
            said = (f"/proc/cpuinfo says {cpu.mhz:g} MHz (the nominal or TSC figure), "
                    f"{'within 3 % of it' if agree else 'not what the core runs at'}; the "
                    f"measured clock is used")
        else:
            said = "/proc/cpuinfo gives no MHz; the measured clock is used"
        clock = Figure(round(ghz, 2), (
            f"{16 * n_int:,} dependent 64-bit integer adds (1 cycle each), "
            f"{ns_int:.4f} ns an add, {least}; {said}"))

        def cycles(ns: float) -> float:
            return ns / ns_int

        core: dict[str, Figure] = {}
        progress("measuring the core: add and FMA latency, store forwarding, ports, width")
        ns = loops.least("fpadd", 10_000 * scale, reps)
        core["add_latency"] = Figure(round(cycles(ns), 1), (
            f"a dependent chain of scalar fp32 adds (x = x + y, -O2, no reassociation), "
            f"{cycles(ns):.2f} cycles an add, {least}"))
        if has_fma(cpu):
            ns = loops.least("fma", 10_000 * scale, reps)
            core["fma_latency"] = Figure(round(cycles(ns), 1), (
                f"a dependent chain of scalar fp32 FMAs (x = fma(x, a, b)), "
                f"{cycles(ns):.2f} cycles an FMA, {least}"))
        macs = None
        which = fma_loop(cpu)
        if which is not None:
            mode, lanes, name = which
            ns = loops.least(mode, 5_000 * scale, reps)
            units = ns_int / ns
            macs = Figure(max(1, round(units)) * lanes, (
                f"12 independent chains of {name} on {lanes} fp32 lanes, {units:.2f} a cycle, "
                f"rounded to whole FMA units x {lanes} lanes, {least}"))
        ns = loops.least("stfwd", 5_000 * scale, reps)
        fwd = cycles(ns) - core["add_latency"].value
        core["store_forward_latency"] = Figure(round(max(fwd, 1.0), 1), (
            f"a chain of load, fp32 add, store to one address (volatile), {cycles(ns):.2f} "
            f"cycles a round, less the add latency measured above "
            f"({core['add_latency'].value:g}), {least}"))
        overlap, how = chain_overlap(loops, cycles, core["store_forward_latency"].value
                                     + core["add_latency"].value, reps)
        if overlap is not None:
            core["chain_overlap"] = Figure(overlap, f"{how}, {least}")
        else:
            notes.append(f"core.chain_overlap was not measured: {how}")
        ns = loops.least("loads", 10_000 * scale, reps)
        ns_lines = loops.least("loadlines", 10_000 * scale, reps)
        core["loads_per_cycle"] = Figure(max(1, round(ns_int / ns)), (
            f"32 independent 4-byte loads an iteration from consecutive addresses in L1 "
            f"(volatile, as a loop nest reads consecutive elements), {ns_int / ns:.2f} a "
            f"cycle, rounded to whole ports ({ns_int / ns_lines:.2f} a cycle when each load is "
            f"to another 64 B line), {least}"))
        ns = loops.least("stores", 10_000 * scale, reps)
        ns_lines = loops.least("storelines", 10_000 * scale, reps)
        core["stores_per_cycle"] = Figure(max(1, round(ns_int / ns)), (
            f"32 independent 4-byte stores an iteration to consecutive addresses in L1 "
            f"(volatile), {ns_int / ns:.2f} a cycle, rounded to whole ports "
            f"({ns_int / ns_lines:.2f} a cycle when each store is to another 64 B line), "
            f"{least}"))
        ns = loops.least("nops", 10_000 * scale, reps)
        ns_ops = loops.least("intops", 5_000 * scale, reps)
        core["issue_width"] = Figure(max(1, round(ns_int / ns)), (
            f"a loop of 64 nops an iteration, {ns_int / ns:.2f} a cycle, rounded (nops take "
            f"issue slots and no execution port); independent integer adds, 8 chains, run "
            f"{ns_int / ns_ops:.2f} a cycle (the integer ALUs), {least}"))

        progress("measuring the out-of-order window (two chases, nops between their loads)")
        steps = [tuple(map(float, line.split())) for line in
                 loops.text("rob", 300 if quick else 500, 3 if quick else 7,
                            memory_buffer(info.levels)).splitlines() if line.strip()]
        window, how = reorder_window([(int(n), t) for n, t in steps])
        if window is not None:
            core["reorder_buffer"] = Figure(window, (
                f"{how}; two independent pointer chases over a buffer beyond the caches with "
                f"N nops between their loads (H. Wong's method), least of "
                f"{3 if quick else 7} runs of each N"))
        else:
            notes.append(f"the out-of-order window was not measured: {how}")

        chase_n = 500 * scale  # x 16 loads a run: short runs, the least of many
        mem_buf = memory_buffer(info.levels)
        progress(f"measuring main memory's latency (a chase over {_kib(mem_buf)})")
        mem_ns = loops.run("chase", chase_n, reps, mem_buf)
        chase_how = (f"{16 * chase_n:,} loads of a pointer chase over a random cyclic "
                     f"permutation of the 64 B lines of a {{size}} buffer (2 MiB pages asked "
                     f"for with madvise), {{ns:.2f}} ns a load, least of {reps} runs")
        memory_latency = Figure(max(1, round(cycles(mem_ns))),
                                chase_how.format(size=_kib(mem_buf), ns=mem_ns))

        sweep: list[tuple[int, float]] = []
        level_size: dict[int, Figure] = {}
        latency: dict[int, Figure] = {}
        above, above_ns = 0, None
        for lv in info.levels:
            size = lv.size
            if lv.implausible:
                if not sweep:
                    s = max(2 * above, 64 << 10)
                    step = 2.0 if quick else math.sqrt(2.0)
                    progress(f"{lv.name}: {_kib(lv.size)} is implausible; sweeping the chase "
                             f"from {_kib(s)} to {_kib(mem_buf // 2)}")
                    x = float(s)
                    while x <= mem_buf // 2:
                        nbytes = int(x) // 64 * 64
                        sweep.append((nbytes, loops.run("chase", chase_n, reps, nbytes)))
                        x *= step
                eff, how = effective_size(sweep, mem_ns, above, lv.line, lv.ways)
                if eff is None:
                    level_size[lv.level] = Figure(0, how)
                    continue
                level_size[lv.level] = Figure(eff, how)
                size = eff
            if lv.level in level_size:
                # sized by the sweep: its latency is the sweep's own, taken at the same time
                # (this VM's share of the host's L3 changes with the other guests' load)
                buf, ns = min(smoothed_sweep(sweep, above), key=lambda p: p[1])
                share = above / buf
                how = (f"the least latency of the sweep in this file's header (median of three "
                       f"neighbours), "
                       f"{ns:.2f} ns a load over {_kib(buf)}")
            else:
                buf, share = chase_buffer(size, above)
                progress(f"measuring {lv.name}'s latency (a chase over {_kib(buf)})")
                ns = loops.run("chase", chase_n, reps, buf)
                what = (f"half the level's {_kib(size)}" if buf * 2 == size else
                        f"the level's {_kib(size)}, at least twice the level above"
                        if buf == size else
                        f"twice the level above, within the level's {_kib(size)}")
                how = chase_how.format(size=f"{_kib(buf)} ({what})", ns=ns)
            own = ns
            if share >= 0.9:
                how += (f"; the level above holds about {share:.0%} of the buffer, too much "
                        f"to take its hits out: the figure is mostly the level above's")
            elif share and above_ns is not None:
                # the level above still holds its size's share of the buffer: take its hits out
                own = own_latency(ns, share, above_ns)
                how += (f"; the level above holds about {share:.0%} of the buffer and serves "
                        f"those loads in {above_ns:.2f} ns, so this level's own latency is "
                        f"({ns:.2f} - {share:.2f} x {above_ns:.2f}) / {1 - share:.2f} = "
                        f"{own:.2f} ns")
            latency[lv.level] = Figure(max(1, round(cycles(own))),
                                       how + f", {cycles(own):.1f} cycles")
            above, above_ns = size, own

        bandwidth_of: dict[int, Figure] = {}
        mode = read_loop(cpu)
        above = 0
        for k, lv in enumerate(lv for lv in info.levels if lv.level in latency):
            size = int(level_size[lv.level].value) if lv.level in level_size else lv.size
            if k > 0:  # the first cache's own rate is its load ports (core:), not a level's
                buf, _ = chase_buffer(size, above)
                progress(f"measuring {lv.name}'s bandwidth (reading {_kib(buf)})")
                rate = loops.run(mode[0], max(1, (8 << 20) // buf), reps, buf)  # B/ns
                bandwidth_of[lv.level] = Figure(round(rate * ns_int, 1), (
                    f"reading a {_kib(buf)} buffer (twice the level above or half this "
                    f"level, never more than it) over and over with {mode[1]} loads into 8 "
                    f"accumulators, {rate:.1f} B/ns = {rate * ns_int:.1f} B/cycle, the best of "
                    f"{reps} runs; a stream larger than the level above finds none of itself "
                    f"there on the next pass, so the level's bandwidth to the core bounds it"))
            above = size

        llc = max([level_size[lv.level].value if lv.level in level_size else lv.size
                   for lv in info.levels] or [0])
        arr = min(max(4 * int(llc), 64 << 20), 256 << 20)
        progress(f"measuring main memory's bandwidth (STREAM copy and triad, 3 x "
                 f"{_kib(arr)})")
        bw_reps = 2 if quick else 5
        copy = loops.run("copy", 1, bw_reps, arr)
        triad = loops.run("triad", 1, bw_reps, arr)
        bandwidth = Figure(round(triad / 1e9, 1), (
            f"a STREAM triad a[i] = b[i] + s*c[i] over three arrays of {_kib(arr)} doubles "
            f"({cc_flags(loops)}), one thread, best of {bw_reps} passes, bytes counted as "
            f"STREAM counts them (24 B an element: two reads and a write, not the "
            f"write-allocate fill, so the bytes moved are 4/3 of it); STREAM copy gave "
            f"{copy / 1e9:.1f} GB/s"))

    for f in [clock, memory_latency, bandwidth, *core.values(), *latency.values(),
              *bandwidth_of.values(),
              *([macs] if macs else [])]:
        f.method = f"measured on this machine by {by}: {f.method}"
    for f in level_size.values():
        f.method = f"measured on this machine by {by}: {f.method}"
    return Measured(clock, latency, level_size, memory_latency, bandwidth, core, sweep,
                    notes, date=date, macs_per_cycle=macs, level_bandwidth=bandwidth_of)


def cc_flags(loops: Loops) -> str:
    return f"{loops.cc} {' '.join(loops.flags)}"


# ---------------------------------------------------------------- the config

# Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm): a 64-bit cache access costs 10 pJ at 8 KB,
# 20 pJ at 32 KB and 100 pJ at 1 MB. simcache host has no way to measure an energy.
_HOROWITZ = ((8 << 10, 10.0), (32 << 10, 20.0), (1 << 20, 100.0))


def horowitz_energy(size: int) -> tuple[float, str]:
    """pJ per 64-bit access of a cache of `size` bytes: Horowitz's 45 nm points,
    interpolated (and beyond them extrapolated) log-log."""
    pts = _HOROWITZ
    for s, e in pts:
        if s == size:
            return e, (f"assumption: Horowitz ISSCC 2014 Fig. 1.1.9 (45 nm): {_kib(s)} = "
                       f"{e:g} pJ; not measured, not this chip's node")
    (s0, e0), (s1, e1) = (pts[0], pts[1]) if size < pts[1][0] else (pts[1], pts[2])
    slope = math.log(e1 / e0) / math.log(s1 / s0)
    e = round(e0 * (size / s0) ** slope, 1)
    how = "interpolated" if s0 <= size <= s1 else "extrapolated"
    return e, (f"assumption: Horowitz ISSCC 2014 Fig. 1.1.9 (45 nm), {how} log-log between its "
               f"{_kib(s0)} ({e0:g} pJ) and {_kib(s1)} ({e1:g} pJ) points; not measured "
               f"(nothing here can measure an energy), not this chip's node")


@dataclass
class HostResult:
    data: dict[str, Any]
    sysinfo: SysInfo
    measured: Measured
    problems: list[str]  # fields that could not be found (exit 2 after writing the rest)
    warnings: list[str]
    dropped: list[str] = field(default_factory=list)  # measured, but not in this schema

    def render(self, fmt: str = "yaml") -> str:
        if fmt == "json":
            return json.dumps(self.data, indent=2) + "\n"
        return header(self) + yaml.safe_dump(self.data, sort_keys=False, width=100,
                                             allow_unicode=True)


def header(result: HostResult) -> str:
    m, info = result.measured, result.sysinfo
    lines = [f"Written by `simcache host` on {m.date}: {result.data['description']}.",
             f"Cache levels from {info.root}/cpu0/cache/index*/; times measured by "
             "calibration loops in C (simcache/host_calib.c); energies are Horowitz's "
             "45 nm figures (assumption).", "Every field's source says which."]
    lines += m.notes
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [f"not found: {p}" for p in result.problems]
    if m.sweep:
        lines.append("Latency sweep (pointer chase, random 64 B lines), buffer: ns a load")
        lines += [f"  {_kib(s):>10}: {t:8.2f} ns" for s, t in m.sweep]
    out = []
    for line in lines:
        while len(line) > 96:
            cut = line.rfind(" ", 0, 96)
            cut = cut if cut > 20 else 96
            out.append(line[:cut])
            line = "  " + line[cut:].lstrip()
        out.append(line)
    return "".join(f"# {line}\n" for line in out)


def _sysfs_source(lv: SysLevel, what: str) -> str:
    return {"size": f"{lv.file('size')} ({_kib(lv.size)})",
            "ways": f"{lv.file('ways_of_associativity')} ({lv.ways})",
            "line": f"{lv.file('coherency_line_size')} ({lv.line} B)"}[what]


def build_config(info: SysInfo, cpu: CpuInfo, m: Measured) -> dict[str, Any]:
    nreg, width, why_reg = registers(cpu)
    lanes = width // 4
    fma_units = 2
    data: dict[str, Any] = {
        "name": "host",
        "description": (f"{cpu.model[:120]}: this machine as simcache host measured it on "
                        f"{m.date}, clock {m.clock_ghz.value:g} GHz"),
        "source": {
            "mac_cycles": "assumption: 1 cycle per MAC, as in the shipped configs (the "
                          "core: section gives the in-core model its measured latencies)",
            "mac_energy": "assumption: Horowitz ISSCC 2014 Fig. 1.1.9 (45 nm), fp mult + add "
                          "= [1.5, 4.6] pJ (fp16, fp32), the thesis's figures; nothing here "
                          "can measure an energy",
            "clock": m.clock_ghz.method,
            "macs_per_cycle": m.macs_per_cycle.method if m.macs_per_cycle else (
                f"assumption: {fma_units} FMA units x {lanes} fp32 lanes ({why_reg}); no FMA "
                f"loop was run for this CPU's flags"),
        },
        "mac_cycles": 1,
        "mac_energy": [1.5, 4.6],
        "clock": f"{m.clock_ghz.value:g} GHz",
        "macs_per_cycle": (m.macs_per_cycle.value if m.macs_per_cycle
                           else fma_units * lanes),
        "levels": [{
            "name": "registers",
            "size": f"{nreg * width}B",
            "line": "element",
            "ways": "full",
            "latency": "1 cycle",
            "energy": [0.4, 3.7],
            "source": {
                "size": f"from the cpuid flags in {cpu.path}: {why_reg} = {nreg * width} B",
                "line": "simulator convention: 'element' = one data element "
                        "(docs/model.md section 2)",
                "ways": "assumption: the compiler places any value in any register",
                "latency": "assumption: 1 cycle register operand access",
                "energy": "assumption: the thesis's Figure 2.1 (0.4 - 3.7 pJ, after "
                          "Horowitz, ISSCC 2014, 45 nm)",
            },
        }],
    }
    for lv in info.levels:
        size, size_src = lv.size, _sysfs_source(lv, "size")
        if lv.level in m.level_size:
            eff = m.level_size[lv.level]
            if not eff.value:
                continue  # the sweep shows no such level: left out (a warning says so)
            size = int(eff.value)
            size_src = (f"{_sysfs_source(lv, 'size')} is implausible: {lv.implausible}. "
                        f"The size is {eff.method}")
        if lv.level not in m.level_latency:
            continue
        energy, energy_src = horowitz_energy(size)
        notes = "; ".join(lv.notes)
        bw = m.level_bandwidth.get(lv.level)
        data["levels"].append({
            "name": lv.name,
            "size": f"{size // 1024}KiB" if size % 1024 == 0 else f"{size}B",
            "line": f"{lv.line}B",
            "ways": lv.ways,
            "policy": "lru",
            "write_back": True,
            "write_allocate": True,
            "latency": f"{int(m.level_latency[lv.level].value)} cycles",
            "energy": energy,
            "source": {
                "size": size_src + (f" ({notes})" if notes else ""),
                "line": _sysfs_source(lv, "line"),
                "ways": _sysfs_source(lv, "ways"),
                "policy": "assumption: LRU (sysfs does not say; chips use pseudo-LRU "
                          "variants)",
                "write_back": "assumption: write-back",
                "write_allocate": "assumption: write-allocate",
                "latency": m.level_latency[lv.level].method,
                "energy": energy_src,
                **({"bandwidth": bw.method} if bw else {}),
            },
            **({"bandwidth": f"{bw.value:g} B/cycle"} if bw else {}),
        })
    data["memory"] = {
        "name": "DRAM",
        "latency": f"{int(m.memory_latency.value)} cycles",
        "energy": [1300, 2600],
        "bandwidth": f"{m.memory_bandwidth.value:g} GB/s",
        "source": {
            "latency": m.memory_latency.method,
            "energy": "assumption: Horowitz ISSCC 2014 Fig. 1.1.9 (45 nm), 'DRAM 1.3-2.6 nJ' "
                      "per 64-bit access, as in the thesis; not measured",
            "bandwidth": m.memory_bandwidth.method,
        },
    }
    if m.core:
        core: dict[str, Any] = {}
        for name, fig in m.core.items():
            unit = name.endswith("_latency")
            v = fig.value
            core[name] = f"{v:g} cycles" if unit else v
        core["source"] = {name: fig.method for name, fig in m.core.items()}
        data["core"] = core
    return data


def validate(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The config as this build's schema takes it: without `core:` when the schema has no
    such section, without the core fields it does not know (the second value names what was
    left out). Raises SimcacheError, one line a problem."""
    dropped: list[str] = []
    if "core" in data and "core" not in Hierarchy.model_fields:
        data = {k: v for k, v in data.items() if k != "core"}
        dropped = ["core"]
    elif "core" in data:
        known = Hierarchy.model_fields["core"].annotation
        known = next((a for a in getattr(known, "__args__", (known,)) if hasattr(
            a, "model_fields")), None)
        fields = set(known.model_fields) if known is not None else set(data["core"])
        extra = [k for k in data["core"] if k not in fields]
        if extra:
            core = {k: v for k, v in data["core"].items() if k not in extra}
            core["source"] = {k: v for k, v in core["source"].items() if k not in extra}
            data = {**data, "core": core}
            dropped = [f"core.{k}" for k in extra]
    try:
        Hierarchy.model_validate(data)
    except ValidationError as exc:
        raise SimcacheError([f"the config simcache host built does not validate, so nothing "
                             f"was written: {p}" for p in validation_problems(exc)]) from None
    return data, dropped


def host(*, quick: bool = False, sysfs: str | Path | None = None,
         cpuinfo: str | None = None, progress: Progress = lambda s: None) -> HostResult:
    """Read sysfs and /proc/cpuinfo, measure, build and validate the config (nothing is
    written here). `problems` lists the fields it could not find; the config has the rest."""
    info = read_sysfs(Path(sysfs) if sysfs is not None else None)
    cpu = read_cpuinfo(cpuinfo)
    for w in info.warnings:
        progress(f"warning: {w}")
    m = measure(info, cpu, quick=quick, progress=progress)
    warnings = list(info.warnings)
    for lv in info.levels:
        eff = m.level_size.get(lv.level)
        if eff is not None and not eff.value:
            warnings.append(f"{lv.name}: left out of the config: {lv.implausible}, and the "
                            f"latency sweep shows no such level ({eff.method})")
            progress(f"warning: {warnings[-1]}")
        lat = m.level_latency.get(lv.level)
        if lat is not None and lat.value >= m.memory_latency.value:
            warnings.append(f"{lv.name}: its latency, {lat.value:g} cycles, is no less than "
                            f"main memory's, {m.memory_latency.value:g}: a noisy measurement "
                            f"(the machine is loaded?); run simcache host again")
            progress(f"warning: {warnings[-1]}")
    data, dropped = validate(build_config(info, cpu, m))
    result = HostResult(data, info, m, list(info.problems), warnings, dropped)
    for name in dropped:
        key = name.partition(".")[2]
        fig = m.core.get(key)
        said = f" = {fig.value:g} ({fig.method})" if fig is not None else ""
        result.warnings.append(f"measured {name}{said}, but this build's config schema has no "
                               f"such field: it is kept in this header only")
    return result
