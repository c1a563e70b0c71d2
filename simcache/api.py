"""The public Python API: what the command line does, for notebooks and scripts.

    >>> import simcache
    >>> r = simcache.simulate("thesis", layer="depthwise", F=8, M=8)
    >>> r.levels["L1"].hit_rate, r.levels["L1"].by_tensor["w"].misses, r.totals.energy_pj.high

Configs and models are given as a shipped name ("mobile_soc", "vgg16"), a path, or (configs)
a `Hierarchy` already loaded. Every function validates everything first and raises
`SimcacheError` (its `problems` list has one line per problem) before any simulation starts.
Results carry named fields; `to_dict()` gives the document that `--format json` prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import __version__, engine, shipped
from .accounting import (
    compare_rows,
    config_labels,
    flush_row,
    metrics_row,
    network_compare,
    network_rows,
    network_time,
    network_totals,
    study_row,
    summarize,
    warm_rows,
    warm_totals,
)
from .accounting import roofline as config_roofline
from .config import Geometry, Hierarchy, load_hierarchy
from .errors import SimcacheError
from .layers import (
    CONV_TYPES,
    FIXED_BY_TYPE,
    LAYER_TYPES,
    PRESET_TYPES,
    TABLE_2_2,
    Layer,
    as_printed,
    build_layer,
)
from .loopnest import plan
from .network import Network, load_network
from .study import ChainJob, Job, run_chains, run_jobs
from .traces import TraceReader, ahead

__all__ = [
    "CompareResult",
    "Counts",
    "ExplainResult",
    "MrcResult",
    "Energy",
    "Level",
    "Levels",
    "NetworkCompareResult",
    "NetworkResult",
    "ResultsTable",
    "RunResult",
    "SweepResult",
    "StudyResult",
    "ThreeC",
    "Totals",
    "compare",
    "compile_kernels",
    "compare_network",
    "explain",
    "gather",
    "layers_for",
    "load_config",
    "load_model",
    "metrics",
    "mrc",
    "network",
    "replay",
    "results",
    "roofline",
    "simulate",
    "study",
    "sweep",
    "table_2_2",
    "trace_network",
]

Progress = Callable[[int, int], None]
# called once everything is valid, before simulating: the geometries of the hierarchies
# (which kernels the runs need) and the jobs (empty for a trace)
OnStart = Callable[[list[list[Geometry]], list[Job]], None]


# ---------------------------------------------------------------- result objects


@dataclass(frozen=True)
class Energy:
    """Energy in pJ; `low` and `high` differ where the config gives a range."""

    low: float
    high: float

    @classmethod
    def of(cls, d: dict) -> Energy:
        return cls(d["low"], d["high"])


@dataclass(frozen=True)
class ThreeC:
    """A cache level's misses by kind (with `three_c=True`); they add up to its misses."""

    compulsory: int
    capacity: int
    conflict: int


@dataclass(frozen=True)
class Inclusion:
    """What inclusion did at a cache level (docs/model.md §2, "Inclusion"): its lines
    removed because an inclusive level below evicted them, lines the level above wrote
    into it (an exclusive level: victims, and flushed lines), and lines it gave up to the
    level above (exclusive)."""

    back_invalidated: int
    victims_in: int
    moved_up: int


@dataclass(frozen=True)
class Prefetch:
    """A prefetching level's prefetches (docs/model.md, "Prefetch"): lookups issued, those
    that missed and fetched the line, lines later used, and lines never used (evicted
    unused, or left unused at the end); energy_pj: the lookups' (in the level's)."""

    policy: str
    distance: int
    issued: int
    misses: int
    useful: int
    never_used: int
    evicted_unused: int
    left_unused: int
    energy_pj: Energy

    @classmethod
    def of(cls, d: dict) -> Prefetch:
        return cls(**{**d, "energy_pj": Energy.of(d["energy_pj"])})


@dataclass(frozen=True)
class Counts:
    """What one level did, for all tensors or for one. `three_c`: its misses by kind, when
    they were classified (cache levels only)."""

    reads: int
    writes: int
    hits: int
    misses: int
    hit_rate: float | None
    writebacks: int
    flush_writebacks: int
    bytes_read: int
    bytes_written: int
    served: int
    cycles: int
    energy_pj: Energy
    three_c: ThreeC | None = None
    prefetch: Prefetch | None = None  # only at a level that prefetches
    inclusion: Inclusion | None = None  # at every cache level, when a level is not nine

    @property
    def accesses(self) -> int:
        return self.reads + self.writes

    @classmethod
    def of(cls, d: dict, **extra: Any) -> Any:
        names = ({f.name for f in fields(cls)} - {"energy_pj", "three_c", "prefetch", "inclusion"}
                 - set(extra))
        ccc = ThreeC(**d["three_c"]) if "three_c" in d else None
        pf = Prefetch.of(d["prefetch"]) if "prefetch" in d else None
        inc = Inclusion(**d["inclusion"]) if "inclusion" in d else None
        return cls(energy_pj=Energy.of(d["energy_pj"]), three_c=ccc, prefetch=pf, inclusion=inc,
                   **{k: d[k] for k in names}, **extra)


@dataclass(frozen=True)
class Level(Counts):
    """One level of the hierarchy; main memory is the last."""

    name: str = ""
    latency: int = 0
    geometry: dict | None = None  # size, line, ways, sets, policy, write flags (caches)
    by_tensor: dict[str, Counts] = field(default_factory=dict)

    @classmethod
    def from_summary(cls, d: dict) -> Level:
        tensors = {t: Counts.of(b) for t, b in d["by_tensor"].items()}
        return cls.of(d, name=d["name"], latency=d["latency"], geometry=d.get("geometry"),
                      by_tensor=tensors)


@dataclass(frozen=True)
class Totals:
    cycles: int | float
    memory_cycles: int
    mac_cycles: int | float
    amat: float | None  # memory cycles per trace access
    energy_pj: Energy
    memory_energy_pj: Energy
    mac_energy_pj: Energy
    macs: int
    dram_bytes: int
    min_dram_bytes: int | None  # the least a perfect cache moves (layers only)
    amplification: float | None  # dram_bytes / min_dram_bytes
    intensity: float | None  # MACs per DRAM byte, measured

    @classmethod
    def from_summary(cls, t: dict) -> Totals:
        tr = t["traffic"]
        return cls(t["cycles"], t["memory_cycles"], t["mac_cycles"], t["amat"],
                   Energy.of(t["energy_pj"]), Energy.of(t["memory_energy_pj"]),
                   Energy.of(t["mac_energy_pj"]), t["macs"], t["dram_bytes"], tr["min_bytes"],
                   tr["amplification"], tr["intensity"])


class Levels(dict):
    """A run's levels by name, innermost first, main memory last; a name that is not
    there raises a KeyError that lists the names there are."""

    def __missing__(self, name: Any) -> Level:
        raise KeyError(f"no level {name!r}; levels are {', '.join(self)}")


class RunResult:
    """One simulation: a layer, or a trace, through one config."""

    def __init__(self, summary: dict):
        self._doc = summary
        self.config: str = summary["config"]["name"]
        self.layer: dict | None = summary.get("layer")
        self.trace: dict | None = summary.get("trace")
        self.accesses: int = summary["accesses"]
        self.levels: Levels = Levels((lv["name"], Level.from_summary(lv))
                                     for lv in summary["levels"])
        self.totals = Totals.from_summary(summary["totals"])
        self.seconds: float = summary["seconds"]

    def to_dict(self) -> dict:
        """The JSON document (docs/formats.md)."""
        return self._doc

    def __repr__(self) -> str:
        what = self.layer["type"] if self.layer else "trace"
        rates = ", ".join(f"{n} {lv.hit_rate:.2%}" for n, lv in self.levels.items()
                          if lv.hit_rate is not None and lv.geometry is not None)
        return f"<RunResult {what} on {self.config}: {rates}; {self.totals.cycles:,} cycles>"


class StudyResult:
    """Several layers or batch sizes on one config: a row each, and the full runs."""

    def __init__(self, runs: list[RunResult], level_names: list[str], of: int | None = None):
        self.runs = runs
        self.level_names = level_names
        self.rows = [study_row(r.to_dict()) for r in runs]
        # an interrupted study (`of`: the runs asked for): the rows of those that finished
        self.interrupted = of is not None
        self.of = len(runs) if of is None else of

    def to_dict(self) -> dict:
        return {"simcache": __version__, "config": self.runs[0].to_dict()["config"],
                **_partial(self.interrupted, len(self.runs), self.of, "runs"),
                "rows": self.rows, "runs": [r.to_dict() for r in self.runs]}


def _partial(interrupted: bool, done: int, of: int, what: str) -> dict:
    """What a partial document adds (docs/formats.md, "Interrupted runs")."""
    if not interrupted:
        return {}
    return {"interrupted": True, "finished": {what: done, "of": of}}


class CompareResult:
    """One layer on several configs; ratios are to the first."""

    def __init__(self, runs: list[RunResult]):
        self.runs = runs
        self.rows = compare_rows([r.to_dict() for r in runs])

    def to_dict(self) -> dict:
        return {"simcache": __version__, "layer": self.runs[0].layer, "rows": self.rows,
                "runs": [r.to_dict() for r in self.runs]}


class NetworkResult:
    """Every entry of a network on one config: a row each, and the totals.

    Warm (the default; `chain` given): one inference over one hierarchy, a row per entry
    (layers and operators, `op`), `runs` a run document per entry (its counts while it ran),
    `flush` the end-of-inference flush as a row and `flush_run` its document; the totals
    are the rows' sums plus the flush. Cold: a row per simulated layer, each its own run
    with its own flush; the other entries in `skipped`."""

    def __init__(self, net: Network, path: str, runs: list[RunResult], options: dict,
                 flush: RunResult | None = None, chain: Any = None,
                 entries: list | None = None, interrupted: bool = False):
        """`interrupted`: the entries that finished before an interrupt, `runs` theirs
        (warm: the first len(runs) steps, and no flush; cold: the layers `entries`)."""
        self.name = net.name
        self.runs = runs
        self.options = options
        self.warm = chain is not None
        self.chain = chain
        self.interrupted = interrupted
        self.of = len(chain.steps) if chain is not None else len(net.simulated)
        docs = [r.to_dict() for r in runs]
        self.flush_run = flush
        if chain is not None:
            fdoc = flush.to_dict() if flush is not None else None
            self.rows = warm_rows(chain.steps[:len(docs)], docs, fdoc)
            self.flush: dict | None = flush_row(fdoc, self.rows) if fdoc else None
            self.totals: dict = warm_totals(self.rows, fdoc, docs)
            time = network_time(docs + ([fdoc] if fdoc else []))
            self.skipped: list[dict] = []
            self.map: list[dict] | None = [
                {"name": r.name, "base": r.base, "base_hex": hex(r.base),
                 "shape": list(r.shape), "bytes": r.nbytes} for r in chain.regions]
        else:
            self.rows = network_rows(net, docs, entries)
            self.totals = network_totals(self.rows, docs)
            time = network_time(docs)
            self.flush, self.map = None, None
            self.skipped = [{"name": x.name, "type": x.type, "reason": x.skipped}
                            for x in net.skipped]
        if time is not None:
            self.totals["time"] = time
        self._head = {"name": net.name, "source": net.source, "path": path}

    def to_dict(self) -> dict:
        return {"simcache": __version__, "network": self._head, "warm": self.warm,
                **_partial(self.interrupted, len(self.runs), self.of, "entries"),
                "config": self.runs[0].to_dict()["config"] if self.runs else None,
                "rows": self.rows, "flush": self.flush, "totals": self.totals,
                "skipped": self.skipped, "map": self.map,
                "runs": [r.to_dict() for r in self.runs],
                "flush_run": self.flush_run.to_dict() if self.flush_run is not None else None}


class NetworkCompareResult:
    """Every layer of a network on two or more configs, side by side; ratios are to the
    first config. `rows`: a row per simulated layer, whose `configs` list holds each
    config's figures for it; `totals`: a row per config (one inference); `networks`: each
    config's NetworkResult, as `network` gives it alone."""

    def __init__(self, net: Network, path: str, configs: list[dict],
                 networks: list[NetworkResult], options: dict):
        self.name = net.name
        self.configs = configs
        self.options = options
        self.networks = networks
        self.warm = networks[0].warm
        self.interrupted = networks[0].interrupted  # the entries every config finished
        tables = [n.rows + ([n.flush] if n.flush is not None else []) for n in networks]
        self.rows, self.totals = network_compare(configs, tables,
                                                 [n.totals for n in networks])
        self.skipped = self.networks[0].skipped
        self._head = {"name": net.name, "source": net.source, "path": path}

    @property
    def runs(self) -> list[list[RunResult]]:
        return [n.runs for n in self.networks]

    def to_dict(self) -> dict:
        return {"simcache": __version__, "network": self._head, "options": self.options,
                "warm": self.warm,
                **_partial(self.interrupted, len(self.networks[0].runs), self.networks[0].of,
                           "entries"),
                "configs": self.configs, "rows": self.rows,
                "totals": self.totals,
                "skipped": self.skipped,
                "runs": [[x.to_dict() for x in r] for r in self.runs]}


# ---------------------------------------------------------------- inputs


def load_config(config: Hierarchy | str | Path) -> tuple[Hierarchy, str]:
    """A hierarchy and the path it came from, from a Hierarchy, a shipped name or a path."""
    if isinstance(config, Hierarchy):
        return config, config.name
    path = shipped.resolve(config, "configs", "CONFIG")
    return load_hierarchy(path), str(path)


def load_model(model: str | Path, **options: Any) -> tuple[Network, str]:
    """A network from a shipped name or a path; options: batch, padding, order, dtype_bytes."""
    path = shipped.resolve(model, "models", "MODEL")
    return load_network(path, **options), str(path)


_FIXED = FIXED_BY_TYPE


def layers_for(types: Sequence[str], batches: Sequence[int] = (1,), preset: str | None = None,
               **dims: Any) -> list[Layer]:
    """Every (type, batch) layer, or a SimcacheError with every problem.

    When several types run at once, each keeps the dimensions its type fixes (K = 1 for
    pointwise, ...), and a preset of one type (vgg16-fc1) applies to that type only."""
    layers, problems = [], []
    dims = _tiles_alias(dims)
    for t in types:
        given = dict(dims)
        if len(types) > 1:
            for d in _FIXED.get(t, ()):
                given[d] = None
            if t != "group":
                given["G"] = None
            if t not in PRESET_TYPES.get(preset, (t,)):
                continue
        for b in batches:
            try:
                layers.append(build_layer(t, preset, B=b, **given))
            except SimcacheError as exc:
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise SimcacheError(problems)
    return layers


def _tiles_alias(dims: dict) -> dict:
    """A copy of `dims` in which `tile` (the flag's name) stands for `tiles`."""
    dims = dict(dims)
    if "tile" not in dims:
        return dims
    if dims.get("tiles") is not None and dims["tile"] is not None:
        raise SimcacheError(["tiles: give tile or tiles, not both"])
    tile = dims.pop("tile")
    dims["tiles"] = dims.get("tiles") if tile is None else tile
    return dims


def gather(*steps: Callable[[], Any]) -> list[Any]:
    """Run every check; raise all their problems together."""
    problems, values = [], []
    for step in steps:
        try:
            values.append(step())
        except SimcacheError as exc:
            problems += [p for p in exc.problems if p not in problems]
            values.append(None)
    if problems:
        raise SimcacheError(problems)
    return values


def _one_layer(layer: str | Layer, preset: str | None, dims: dict) -> Layer:
    if isinstance(layer, Layer):
        return layer
    dims = _tiles_alias(dims)
    if "batch" in dims:
        dims["B"] = dims.pop("batch")
    return build_layer(layer, preset, **dims)


def _run(jobs: list[Job], workers: int | None, progress: Progress | None,
         on_start: OnStart | None, paths: Iterable[str]) -> list[RunResult]:
    gather(*[lambda j=j: engine.check_state(j.geometry(), engine.window_of(plan(j.layer)),
                                           j.layer.dtype_bytes, ccc=True)
             for j in jobs if j.three_c],  # the shadows too must fit, before any run
           *[lambda j=j: _no_3c_with_prefetch_or_inclusion(j.hierarchy) for j in jobs if j.three_c])
    if on_start is not None:
        on_start([j.geometry() for j in jobs], jobs)
    paths = list(paths)
    try:
        results = run_jobs(jobs, workers, progress)
    except BaseException as exc:
        if _interrupt(exc):  # the runs that finished, for the caller's partial result
            exc.finished_runs = {k: RunResult(summarize(r, jobs[k].hierarchy, paths[k]))
                                 for k, r in sorted(exc.finished.results.items())}
        raise
    return [RunResult(summarize(r, j.hierarchy, p))
            for r, j, p in zip(results, jobs, paths, strict=True)]


def _interrupt(exc: BaseException) -> bool:
    """Ctrl-C or a signal (cli.Terminated) during a run: not a failure (an Exception)."""
    return not isinstance(exc, Exception) and getattr(exc, "finished", None) is not None


@contextmanager
def _keeping(build: Callable[[dict], Any]):
    """On an interrupt after some runs finished (`finished_runs`, by job index), put the
    partial result `build(finished_runs)` on the exception as `partial`, and re-raise:
    the CLI writes it, marked interrupted (docs/model.md §6, "Interrupted"). `build` may
    return None: nothing worth keeping."""
    try:
        yield
    except BaseException as exc:
        runs = getattr(exc, "finished_runs", None)
        if runs and _interrupt(exc):
            partial = build(runs)
            if partial is not None:
                exc.partial = partial
        raise


def _no_3c_with_prefetch_or_inclusion(h: Hierarchy) -> None:
    """The 3C classification combines with neither prefetch nor inclusion (docs/model.md,
    "Prefetch" and "Inclusion")."""
    bad = [f"levels[{k}].prefetch: {lv.prefetch!r} does not combine with the 3C "
           f"classification (--3c); set it to 'none' or leave out --3c"
           for k, lv in enumerate(h.levels) if lv.prefetch != "none"]
    # nor inclusion: a removed line has no counterpart in a level's shadow
    bad += [f"levels[{k}].inclusion: {lv.inclusion!r} does not combine with the 3C "
            f"classification (--3c); set it to 'nine' or leave out --3c"
            for k, lv in enumerate(h.levels) if lv.inclusion != "nine"]
    if bad:
        raise SimcacheError(bad)


def run_job(hierarchy: Hierarchy, layer: Layer, path: str, three_c: bool = False) -> RunResult:
    """One layer on one hierarchy already validated, on this thread: what a sweep's worker
    runs for a point (`path` is the config's file, for the report)."""
    return _run([Job(hierarchy, layer, three_c)], 1, None, None, [path])[0]


def _check_jobs(jobs: int | None) -> None:
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise SimcacheError([f"--jobs: must be a whole number of at least 1, got {jobs!r}"])


# ---------------------------------------------------------------- the commands


def simulate(config: Hierarchy | str | Path, layer: str | Layer = "depthwise", *,
             preset: str | None = None, three_c: bool = False,
             progress: Progress | None = None, on_start: OnStart | None = None,
             dram_trace: str | Path | None = None, dram_trace_gap: int = 0,
             **dims: Any) -> RunResult:
    """Simulate one layer on one config. `dims`: B (or batch), M, N, F, K, G, stride,
    padding ('skip' or 'explicit'), pad, order, tiles (or tile: 'n=8,m=16' or
    {'n': 8, 'm': 16}), dtype_bytes; unset ones take the type's defaults (the `early` layer
    of Table 2.2). `three_c`: classify every cache level's misses as compulsory, capacity
    or conflict (docs/model.md §3). `dram_trace`: a file to write the requests that reach
    a DRAM memory (`memory.dram`) to, in DRAMsim3's trace format, `dram_trace_gap` memory
    cycles apart (0: at the blocking model's issue times; docs/model.md, "DRAM")."""
    (h, path), lay = gather(lambda: load_config(config),
                             lambda: _one_layer(layer, preset, dims))
    if dram_trace is None:
        return _run([Job(h, lay, three_c)], 1, progress, on_start, [path])[0]
    return _with_dram_trace(h, path, lay, three_c, progress, on_start, dram_trace,
                            dram_trace_gap)


def _with_dram_trace(h: Hierarchy, path: str, lay: Layer, three_c: bool,
                     progress: Progress | None, on_start: OnStart | None,
                     dram_trace: str | Path, gap: int) -> RunResult:
    """`simulate` writing the DRAM requests to `dram_trace`, whole or not at all."""
    from .dram import TraceWriter

    problems = []
    if h.memory.dram is None:
        problems.append(f"--dram-trace: {h.name}'s memory has no dram: section; the trace "
                        "lists DRAM bursts (docs/model.md, DRAM)")
    if isinstance(gap, bool) or not isinstance(gap, int) or not 0 <= gap <= 1 << 30:
        problems.append(f"--dram-trace-gap: a whole number of memory cycles from 0 to "
                        f"{1 << 30}, got {gap!r}")
    target = Path(dram_trace)
    if target.is_dir() or not target.parent.is_dir():
        problems.append(f"--dram-trace: {dram_trace}: not a file in an existing directory")
    if problems:
        raise SimcacheError(problems)
    writer = TraceWriter(target)
    try:
        result = _run([Job(h, lay, three_c, dram_trace=writer, dram_gap=gap)], 1, progress,
                      on_start, [path])[0]
    except BaseException:
        writer.discard()  # an interrupted or failed run leaves no partial trace
        raise
    writer.close()
    return result


def study(config: Hierarchy | str | Path, layers: Sequence[str] | str = LAYER_TYPES,
          batches: Sequence[int] = (1,), *, preset: str | None = None, jobs: int | None = None,
          three_c: bool = False, progress: Progress | None = None,
          on_start: OnStart | None = None, **dims: Any) -> StudyResult:
    """Several layer types and batch sizes on one config, run in parallel."""
    types = [layers] if isinstance(layers, str) else list(layers)
    (h, path), lays, _ = gather(lambda: load_config(config),
                                 lambda: layers_for(types, list(batches), preset, **dims),
                                 lambda: _check_jobs(jobs))
    work = [Job(h, lay, three_c) for lay in lays]
    with _keeping(lambda done: StudyResult(list(done.values()), h.level_names[:-1],
                                           of=len(work))):
        runs = _run(work, jobs, progress, on_start, [path] * len(work))
    return StudyResult(runs, h.level_names[:-1])


def _configs(configs: Sequence[Hierarchy | str | Path]) -> list[tuple[Hierarchy, str]]:
    if isinstance(configs, (str, Path, Hierarchy)) or len(configs) < 2:
        raise SimcacheError(["CONFIG: compare needs two or more configs"])
    return gather(*[lambda c=c: load_config(c) for c in configs])


# what a network fixes for every layer: with `network`, compare takes only these
_NETWORK_OPTIONS = ("B", "batch", "padding", "order", "dtype_bytes")


def compare(configs: Sequence[Hierarchy | str | Path], layer: str | Layer | None = None, *,
            network: str | Path | None = None, preset: str | None = None,
            jobs: int | None = None, three_c: bool = False, progress: Progress | None = None,
            on_start: OnStart | None = None, cold: bool = False,
            **dims: Any) -> CompareResult | NetworkCompareResult:
    """One layer (default depthwise) on two or more configs, side by side; or with
    `network` (a model name or file) every layer of that network: compare_network, which
    takes of `dims` only batch (or B), padding, order and dtype_bytes, and `cold`."""
    if network is None and cold:
        raise SimcacheError(["--cold: only with --network (a single layer always starts "
                             "cold)"])
    if network is not None:
        given = (["layer"] if layer is not None else []) + (["preset"] if preset else [])
        given += [k for k, v in dims.items() if k not in _NETWORK_OPTIONS and v is not None]
        if given:
            raise SimcacheError([f"{g}: a network gives every layer's dimensions; drop {g} "
                                 "or --network" for g in given])
        options = {("batch" if k == "B" else k): v for k, v in dims.items() if v is not None}
        return compare_network(configs, network, jobs=jobs, three_c=three_c, cold=cold,
                               progress=progress, on_start=on_start, **options)
    loaded, lay, _ = gather(lambda: _configs(configs),
                             lambda: _one_layer(layer or "depthwise", preset, dims),
                             lambda: _check_jobs(jobs))
    work = [Job(h, lay, three_c) for h, _ in loaded]
    return CompareResult(_run(work, jobs, progress, on_start, [p for _, p in loaded]))


def compare_network(configs: Sequence[Hierarchy | str | Path], model: str | Path, *,
                    batch: int = 1, padding: str = "skip", order: str = "bijnmpq",
                    dtype_bytes: int = 4, jobs: int | None = None, three_c: bool = False,
                    progress: Progress | None = None, on_start: OnStart | None = None,
                    cold: bool = False) -> NetworkCompareResult:
    """Every entry of a network on two or more configs, side by side, each config as
    `network` runs it: by default one inference with warm caches per config (the configs
    in parallel); `cold=True`: each (config, layer) alone with cold caches, all of them in
    one pool of `jobs`."""
    options = dict(batch=batch, padding=padding, order=order, dtype_bytes=dtype_bytes)
    loaded, (net, model_path), _, _ = gather(lambda: _configs(configs),
                                             lambda: load_model(model, **options),
                                             lambda: _check_jobs(jobs),
                                             lambda: None if cold else _chains(padding))
    heads = [{"name": h.name, "description": h.description, "path": p,
              **({"copied_from": h.copied_from} if h.copied_from else {})} for h, p in loaded]
    for head, label in zip(heads, config_labels(heads), strict=True):
        head["label"] = label
    if not cold:
        with _keeping(lambda done: _partial_compare(net, model_path, heads, options, [
                done[k] for k in range(len(loaded))])):
            nets = warm_networks(loaded, net, model_path, options, jobs, three_c, progress,
                                 on_start)
        return NetworkCompareResult(net, model_path, heads, nets, options)
    work = [Job(h, x.layer, three_c) for h, _ in loaded for x in net.simulated]
    paths = [p for _, p in loaded for _ in net.simulated]
    runs = _run(work, jobs, progress, on_start, paths)
    n = len(net.simulated)
    nets = [NetworkResult(net, model_path, runs[k * n:(k + 1) * n], options)
            for k in range(len(loaded))]
    return NetworkCompareResult(net, model_path, heads, nets, options)


def _partial_compare(net: Network, model_path: str, heads: list[dict], options: dict,
                     nets: list[NetworkResult]) -> NetworkCompareResult | None:
    """An interrupted warm compare: the entries every config finished (each config's
    inference stopped at its own step), none if some config finished none."""
    n = min(len(x.runs) for x in nets)
    if n == 0:
        return None
    chain = nets[0].chain
    cut = [NetworkResult(net, model_path, x.runs[:n], options, None, chain, interrupted=True)
           for x in nets]
    return NetworkCompareResult(net, model_path, heads, cut, options)


def network(config: Hierarchy | str | Path, model: str | Path, *, batch: int = 1,
            padding: str = "skip", order: str = "bijnmpq", dtype_bytes: int = 4,
            jobs: int | None = None, three_c: bool = False, progress: Progress | None = None,
            on_start: OnStart | None = None, cold: bool = False) -> NetworkResult:
    """Every entry of a network (a shipped model name or a file) on one config.

    By default one inference with warm caches: the entries run in order over one
    hierarchy, each layer's output the next one's input at the same addresses, pooling,
    additions, concatenations and elementwise layers as loop nests of their own, and one
    flush at the end (docs/model.md §6). `cold=True`: every convolution and fc layer on its
    own with cold caches (in parallel, `jobs`), the other entries skipped."""
    options = dict(batch=batch, padding=padding, order=order, dtype_bytes=dtype_bytes)
    (h, path), (net, model_path), _, _ = gather(lambda: load_config(config),
                                                 lambda: load_model(model, **options),
                                                 lambda: _check_jobs(jobs),
                                                 lambda: None if cold else _chains(padding))
    if cold:
        work = [Job(h, x.layer, three_c) for x in net.simulated]
        with _keeping(lambda done: NetworkResult(
                net, model_path, list(done.values()), options,
                entries=[net.simulated[k] for k in done], interrupted=True)):
            runs = _run(work, jobs, progress, on_start, [path] * len(work))
        return NetworkResult(net, model_path, runs, options)
    with _keeping(lambda done: done[0] if done[0].runs else None):
        return warm_networks([(h, path)], net, model_path, options, jobs, three_c, progress,
                             on_start)[0]


def _chains(padding: str) -> None:
    if padding == "explicit":
        raise SimcacheError(["--padding: explicit padding stores each layer's input "
                             "pre-padded, which does not chain from the layer before; use "
                             "--cold"])


def warm_networks(loaded: Sequence[tuple[Hierarchy, str]], net: Network, model_path: str,
                  options: dict, jobs: int | None = None, three_c: bool = False,
                  progress: Progress | None = None, on_start: OnStart | None = None
                  ) -> list[NetworkResult]:
    """One warm inference of a loaded network on each (hierarchy, config path), run in
    parallel (`jobs` threads): a NetworkResult each, in order. `on_start` gets the
    hierarchies' geometries and the network's layers as Jobs (for estimates and for
    loading the kernels: both the nest and the trace kernels run)."""
    from .chain import build_chain

    chain = build_chain(net)
    d = net.dtype_bytes
    gather(*[lambda h=h: engine.check_state(h.geometry(d), chain.window, d, ccc=three_c)
             for h, _ in loaded])
    work = [ChainJob(h, chain, d, three_c) for h, _ in loaded]
    if on_start is not None:
        on_start([j.geometry() for j in work],
                 [Job(h, layer, three_c, chain=k, op_accesses=ops, window=chain.window)
                  for k, (h, _) in enumerate(loaded) for layer, ops in _with_ops(chain)])
    def runs_of(results: list, h: Hierarchy, path: str) -> list[RunResult]:
        runs = []
        for r, step in zip(results, chain.steps, strict=False):
            doc = summarize(r, h, path)
            doc["entry"] = {"name": step.entry.name, "type": step.entry.type, "op": step.op}
            runs.append(RunResult(doc))
        return runs

    try:
        done = run_chains(work, jobs, progress)
    except BaseException as exc:
        if _interrupt(exc):  # each inference's finished steps, without a flush
            f = exc.finished
            exc.finished_runs = {
                k: NetworkResult(net, model_path, runs_of(
                    f.results[k][0] if k in f.results else f.steps.get(k, []), h, path),
                    options, None, chain, interrupted=True)
                for k, (h, path) in enumerate(loaded)}
        raise
    return [NetworkResult(net, model_path, runs_of(results, h, path), options,
                          RunResult(summarize(flush, h, path)), chain)
            for (results, flush), (h, path) in zip(done, loaded, strict=True)]


def _with_ops(chain: Any) -> list[tuple[Layer, int]]:
    """A warm inference's layers, each with the trace accesses of the operators after it
    (those before the first layer: with the first), for the estimate (study.Job)."""
    out: list[list] = []
    before = 0
    for step in chain.steps:
        if step.op:
            if out:
                out[-1][1] += step.accesses
            else:
                before += step.accesses
        else:
            out.append([step.entry.layer, before])
            before = 0
    return [(layer, ops) for layer, ops in out]


def trace_network(model: str | Path, output: str | Path, *, batch: int = 1,
                  padding: str = "skip", order: str = "bijnmpq", dtype_bytes: int = 4,
                  trace_format: str | None = None,
                  progress: Progress | None = None) -> dict:
    """Write the accesses of one warm inference of a network (what `network` simulates,
    in the same order over the same address map, without the end-of-run flush, which is
    no access) to a trace file (din, bin, npz; .gz on din and bin), streamed, whole or not
    at all. Replaying the file through a config gives the counts `network` reports on it,
    its rows and its flush row summed (din and npz keep the tensors apart, bin does not;
    a config whose line is 'element' needs the same `dtype_bytes` in `replay`).
    Returns {"path", "format", "accesses", "network", "element_bytes"}."""
    from .chain import build_chain, chain_chunks, chain_length
    from .traces import detect, write_chunks

    options = dict(batch=batch, padding=padding, order=order, dtype_bytes=dtype_bytes)
    (net, model_path), fmt, _ = gather(lambda: load_model(model, **options),
                                       lambda: detect(output, trace_format),
                                       lambda: _chains(padding))
    chain = build_chain(net)
    n = write_chunks(chain_chunks(chain), output, trace_format, top=chain.window[1],
                     total=chain_length(chain), what="network", progress=progress)
    return {"path": str(output), "format": fmt[0] + (".gz" if fmt[1] else ""),
            "accesses": n, "network": net.name, "model": model_path,
            "element_bytes": net.dtype_bytes}


def replay(config: Hierarchy | str | Path, trace: str | Path, *,
           trace_format: str | None = None, skip_bad: bool = False, dtype_bytes: int = 4,
           three_c: bool = False, progress: Progress | None = None,
           on_start: OnStart | None = None) -> RunResult:
    """Replay a trace file (din, bin, npz, lackey; .gz) through one config. `trace` may
    be "-" (standard input) or a pipe (a FIFO, `<(zcat t.din.gz)`), read as a stream: its
    format from `trace_format`, else its name, else its first bytes (gzip, din, lackey,
    bin; npz cannot be streamed). Progress on a stream is (accesses read, 0): its length
    is not known."""
    def dtype_ok() -> None:
        if dtype_bytes not in (1, 2, 4, 8):
            raise SimcacheError([f"--dtype-bytes: {dtype_bytes} is not 1, 2, 4 or 8"])

    (h, path), reader, _ = gather(lambda: load_config(config),
                                   lambda: TraceReader(trace, trace_format, skip_bad,
                                                       streams=True),
                                   dtype_ok)
    if three_c:
        _no_3c_with_prefetch_or_inclusion(h)
        engine.check_state(h.geometry(dtype_bytes), None, dtype_bytes, ccc=True)
    if on_start is not None:
        on_start([h.geometry(dtype_bytes)], [])

    def chunks():  # read and parsed on a thread while the kernels replay the last chunk
        for chunk in ahead(reader):
            if progress is not None:
                progress(reader.position(), reader.size)
            yield chunk

    result = engine.simulate_trace(h, chunks(), dtype_bytes, ccc=three_c)
    summary = summarize(result, h, path)
    summary["trace"] = {"path": str(trace), "format": reader.fmt + (".gz" if reader.gz else ""),
                        "accesses": reader.accesses, "instructions": reader.instructions,
                        "modifies": getattr(reader, "modifies", 0),
                        "skipped": reader.skipped, "examples": reader.examples}
    return RunResult(summary)


def metrics(layers: Sequence[str] | str = "spatial", batches: Sequence[int] = (1,), *,
            preset: str | None = None, **dims: Any) -> list[dict]:
    """Theoretical metrics (Eq. 2.1–2.4) of every (type, batch) layer: a row each."""
    types = [layers] if isinstance(layers, str) else list(layers)
    return [metrics_row(lay, preset) for lay in layers_for(types, list(batches), preset, **dims)]


def roofline(config: Hierarchy | str | Path = "thesis", dtype_bytes: int = 4) -> dict:
    """A config's roofs, as every run document carries them (`roofline`): peak MACs per
    cycle, DRAM bytes per cycle (an assumption, marked, where the config gives none), the
    ridge intensity; with the config's name, description and path (`config`)."""
    h, path = load_config(config)
    return {"config": {"name": h.name, "description": h.description, "path": path},
            "roofline": config_roofline(h, h.geometry(dtype_bytes), dtype_bytes)}


def table_2_2(presets: Sequence[str] = ("early", "late")) -> list[dict]:
    """Table 2.2 of the document: our metrics of its layers, with its printed cells
    (`printed`) and ours at the same precision (`ours`): params, MACs, intensity."""
    bad = [p for p in presets if p not in ("early", "late")]
    if bad:
        raise SimcacheError([f"--preset: Table 2.2 has early and late, not {bad[0]!r}"])
    rows = []
    for t in CONV_TYPES:
        for p in presets:
            r = metrics_row(build_layer(t, p), p)
            printed = TABLE_2_2[(t, p)]
            r["printed"] = list(printed)
            r["ours"] = [as_printed(v, c) for v, c in
                         zip((r["params"], r["macs"], r["intensity"]), printed, strict=True)]
            rows.append(r)
    return rows


# ---------------------------------------------------------------- explain (step-through)


class ExplainResult:
    """A window of accesses stepped through one config, one at a time (`simcache explain`).

    `steps`: the accesses shown (the window's, less those the filters leave out), each a
    dict as docs/formats.md describes; `summary`: per level, what the whole window did;
    `window`: start, end (one past the last), accesses shown; `counters`: the window's
    counters [phase, level, tensor, kind] (kernels.py), the change over the window, and
    `three_c` its misses' kinds [phase, level, tensor, kernels.COMPULSORY | CAPACITY |
    CONFLICT] (None where the 3C shadows would not fit in memory)."""

    def __init__(self, doc: dict, counters: Any, three_c: Any = None):
        self._doc = doc
        self.steps: list[dict] = doc["steps"]
        self.summary: list[dict] = doc["summary"]
        self.window: dict = doc["window"]
        self.level: dict | None = doc["level"]
        self.counters = counters
        self.three_c = three_c

    def to_dict(self) -> dict:
        """The JSON document (docs/formats.md, explain)."""
        return self._doc

    def __repr__(self) -> str:
        w = self.window
        return (f"<ExplainResult accesses {w['start']} to {w['end'] - 1}: "
                f"{w['shown']} shown>")


_LAYER_ONLY = ("preset", "B", "batch", "M", "N", "F", "K", "G", "pad")


def _trace_reader(trace: str | Path, trace_format: str | None, skip_bad: bool,
                  preset: str | None, dims: dict) -> TraceReader:
    """The reader of a trace given instead of a layer (explain, mrc), once no layer
    dimension came with it and the element size is one a trace can have."""
    given = [k for k in _LAYER_ONLY if dims.get(k) is not None] + (["preset"] if preset
                                                                   else [])
    given += [k for k, v in dims.items() if k not in _LAYER_ONLY + ("dtype_bytes",)
              and v is not None]
    if given:
        raise SimcacheError([f"{g}: a trace has no layer dimensions; drop it"
                             for g in dict.fromkeys(given)])
    if dims.get("dtype_bytes", 4) not in (1, 2, 4, 8):
        raise SimcacheError([f"--dtype-bytes: {dims['dtype_bytes']} is not 1, 2, 4 or 8"])
    return TraceReader(trace, trace_format, skip_bad)


def explain(config: Hierarchy | str | Path, layer: str | Layer | None = None, *,
            trace: str | Path | None = None, trace_format: str | None = None,
            skip_bad: bool = False, start: int = 0, steps: int = 20, level: str | None = None,
            set_index: int | None = None, tensor: str | None = None,
            misses_only: bool = False, preset: str | None = None,
            progress: Progress | None = None, on_start: OnStart | None = None,
            **dims: Any) -> ExplainResult:
    """Step through accesses [start, start + steps) of a layer, or of a trace file
    (`trace`), on one config: what each did at every level, and the touched set after it.
    `level` (a cache level's name; default the first) is the level whose tag | set |
    offset split and set are shown; `set_index`, `tensor` ('x', 'w', 'y', 't') and
    `misses_only` (a miss at that level) choose which of the window's accesses are shown.
    `dims` as for `simulate`; with a trace, only dtype_bytes (for 'element' lines)."""
    from . import explain as ex
    from .loopnest import plan

    def source() -> tuple[Any, Any]:
        if (layer is None) == (trace is None):
            raise SimcacheError(["--layer/--trace: give a layer type or a trace file, not "
                                 f"{'both' if layer is not None else 'neither'}"])
        if layer is not None:
            lay = _one_layer(layer, preset, dims)
            return lay, ex.layer_source(plan(lay), lay.order, lay.dtype_bytes)
        return _trace_reader(trace, trace_format, skip_bad, preset, dims), None

    (h, path), (what, src) = gather(lambda: load_config(config), source)
    element = what.dtype_bytes if isinstance(what, Layer) else dims.get("dtype_bytes", 4)
    geometry = h.geometry(element)
    gather(lambda: ex.check_options(geometry, level, set_index, tensor, steps, start))
    if src is None:
        src = ex.trace_source(what)
    elif start >= src.total:
        raise SimcacheError([ex.past_end(start, src.total, "layer").problems[0]])
    if on_start is not None:
        on_start([geometry], [])
    result = ex.run(geometry, h.seed, src, start, steps, level, set_index, tensor,
                    misses_only, progress, h.level_names[-1])
    g = geometry[result.shown_level] if result.shown_level is not None else None
    doc = {
        "simcache": __version__,
        "config": {"name": h.name, "description": h.description, "path": path},
        "layer": None, "trace": None,
        "accesses": result.total,
        "window": {"start": result.start, "end": result.end, "steps": result.end - result.start,
                   "asked": steps, "shown": len(result.steps)},
        "filters": {"level": level, "set": set_index, "tensor": tensor,
                    "misses_only": misses_only},
        "level": None if g is None else {
            "name": g.name, "size": g.size, "line": g.line, "ways": g.ways, "sets": g.sets,
            "policy": g.policy, "write_back": g.write_back, "write_allocate": g.write_allocate},
        "levels": list(h.level_names),
        "three_c": result.three_c is not None,
        "steps": result.steps,
        "summary": result.summary,
    }
    if isinstance(what, Layer):
        p = src.plan
        doc["layer"] = {**what.model_dump(), "F_out": what.F_out,
                        "tensors": [{"name": t.name, "base": t.base, "base_hex": hex(t.base),
                                     "shape": list(t.shape), "bytes": t.nbytes}
                                    for t in p.tensors]}
    else:
        doc["trace"] = {"path": str(trace), "format": what.fmt + (".gz" if what.gz else ""),
                        "skipped": what.skipped}
    return ExplainResult(doc, result.counters, result.three_c)


# ---------------------------------------------------------------- studies: sweeps and stores


class SweepResult:
    """What a sweep did (`outcome`: points run, failed, already done, left), and its rows."""

    def __init__(self, sw: Any, outcome: Any, db: str):
        self.name = sw.name
        self.spec = sw.path
        self.db = db
        self.outcome = outcome
        self.points = len(sw.points)
        self.duplicates = sw.duplicates
        self.interrupted: bool = outcome.interrupted
        self.errors: list[str] = outcome.errors or []

    def rows(self) -> list[dict]:
        """The sweep's rows as `results` gives them."""
        return results(self.db, sweep=self.name).rows

    def to_dict(self) -> dict:
        o = self.outcome
        return {"simcache": __version__, "sweep": self.name, "spec": self.spec, "db": self.db,
                "points": self.points, "done_before": o.done_before, "ran": o.ran,
                "failed": o.failed, "left": o.left, "interrupted": o.interrupted,
                "errors": self.errors, "seconds": round(o.seconds, 3), "where": o.where}


def sweep(spec: str | Path, db: str | Path | None = None, *, jobs: int | None = None,
          scheduler: str | None = None, cluster: str | None = None,
          progress: Callable[[int, int, float, float], None] | None = None,
          on_start: OnStart | None = None) -> SweepResult:
    """Run a sweep spec (docs/model.md "Sweeps") into a results store (SQLite; default: the
    spec's path with the suffix .db), skipping the points the store already holds.

    `jobs`: local worker processes (1: this process); `cluster='local:N'`: a local Dask
    cluster; `scheduler`: the address or scheduler file of a running Dask cluster. An
    interrupt (Ctrl-C) stops submitting points and returns with `interrupted` set: every
    finished point is in the store, and running the sweep again does the rest."""
    from . import executors, store
    from .sweep import expand

    def checked_jobs() -> None:
        _check_jobs(jobs)

    sw, make, _ = gather(lambda: expand(spec),
                         lambda: executors.executor(jobs, scheduler, cluster), checked_jobs)
    path = Path(db) if db is not None else Path(spec).with_suffix(".db")
    done = store.probe(path, "--db")
    todo = [p.task for p in sw.points if p.task is not None and p.id not in done]
    nets: dict[tuple, Network] = {}  # each network file read once, not once per point

    def layers(t) -> list[Layer]:
        if t.layer is not None:
            return [t.layer]
        key = (t.network, tuple(sorted(t.network_options.items())))
        if key not in nets:
            nets[key] = load_network(t.network, **t.network_options)
        return [n.layer for n in nets[key].simulated]

    work = [Job(t.hierarchy, x, t.three_c) for t in todo for x in layers(t)]
    if work:  # the driver compiles (or loads) the kernels once; the workers load them
        if on_start is not None:
            on_start([j.geometry() for j in work], work)
        else:
            engine.warm_up(engine.units_for([], work))
    ex = make() if todo else None  # reaching a cluster may fail: nothing is written yet
    try:
        with store.Store(path, flag="--db") as st:
            outcome = executors.run_sweep(sw, st, ex, progress)
    finally:
        if ex is not None:
            ex.close()
    return SweepResult(sw, outcome, str(path))


class ResultsTable:
    """The rows of a results store: a point each, its axes as columns (`axes`), then what it
    measured (accounting.sweep_row)."""

    def __init__(self, db: str, rows: list[dict], axes: list[str], sweeps: list[str]):
        self.db, self.rows, self.axes, self.sweeps = db, rows, axes, sweeps

    def to_dict(self) -> dict:
        return {"simcache": __version__, "db": self.db, "sweeps": self.sweeps,
                "axes": self.axes, "rows": self.rows}


def _matches(axes: dict, where: dict[str, str]) -> bool:
    return all(k in axes and str(axes[k]) == str(v) for k, v in where.items())


def results(db: str | Path, *, sweep: str | None = None, where: dict[str, str] | None = None,
            status: str | None = None) -> ResultsTable:
    """The points of a store (all its sweeps, or one), filtered by axis values (`where`:
    {'config': 'server', 'batch': '4'}, compared as text) and by status ('done', 'failed')."""
    from .accounting import sweep_row
    from .store import Store

    if status not in (None, "done", "failed"):
        raise SimcacheError([f"--status: {status!r}: give done or failed"])
    with Store(db, writable=False) as st:
        known = st.sweeps()
        if sweep is not None and sweep not in known:
            raise SimcacheError([f"--sweep: the store holds no sweep {sweep!r} (it holds: "
                                 f"{', '.join(known) or 'none'})"])
        points = st.points(sweep, status)
    axes: list[str] = []
    for p in points:
        axes += [a for a in p["axes"] if a not in axes]
    where = where or {}
    unknown = [k for k in where if k not in axes]
    if unknown:
        raise SimcacheError([f"--where: {k}: not an axis of these results (axes: "
                             f"{', '.join(axes) or 'none'})" for k in unknown])
    rows = []
    for p in points:
        if _matches(p["axes"], where):
            row = sweep_row(p["axes"], p["result"], p["status"], p["error"])
            if len(known) > 1 and sweep is None:
                row = {"sweep": p["sweep"], **row}
            rows.append(row)
    return ResultsTable(str(db), rows, axes, known if sweep is None else [sweep])

# ---------------------------------------------------------------- mrc (miss-ratio curves)


class MrcResult:
    """Miss-ratio curves of one cache level from one pass over its requests (`simcache
    mrc`): `fully_associative` (a dict per capacity: size, lines, misses, miss_ratio) and
    `set_associative` (per ways: size, ways, sets, misses, miss_ratio), both LRU with the
    level's line, the second with its sets; `level`, `requests`; `curves` holds the
    distance histograms (mrc.Curves)."""

    def __init__(self, doc: dict, curves: Any):
        self._doc = doc
        m = doc["mrc"]
        self.level: dict = m["level"]
        self.requests: int = m["requests"]
        self.fully_associative: list[dict] = m["fully_associative"]
        self.set_associative: list[dict] = m["set_associative"]
        self.curves = curves

    def to_dict(self) -> dict:
        """The JSON document (docs/formats.md, mrc)."""
        return self._doc

    def __repr__(self) -> str:
        return (f"<MrcResult {self.level['name']}: {self.requests} requests, "
                f"{len(self.fully_associative)} + {len(self.set_associative)} points>")


def mrc(config: Hierarchy | str | Path, layer: str | Layer | None = None, *,
        level: str | None = None, trace: str | Path | None = None,
        trace_format: str | None = None, skip_bad: bool = False,
        sizes: Sequence[int | str] = (), max_size: int | str | None = None,
        max_ways: int | None = None, preset: str | None = None,
        progress: Progress | None = None, on_start: OnStart | None = None,
        **dims: Any) -> MrcResult:
    """The miss ratio of cache level `level` against its capacity, from one pass over the
    requests that reach it (run phase) in a layer or a trace file: LRU stack distances,
    exact for a fully associative LRU cache of every size up to `max_size` (default: 4x the
    level, or the config's largest cache) and for an LRU cache of the level's sets and line
    with every number of ways up to `max_ways` (default: 4x its ways, at least 16).
    `sizes`: more capacities for the table (bytes, or '48KiB'). `dims` as for `simulate`;
    with a trace, only dtype_bytes. docs/model.md, Miss-ratio curves."""
    from . import mrc as M
    from .config import parse_size

    def source() -> tuple[Any, Any]:
        if (layer is None) == (trace is None):
            raise SimcacheError(["--layer/--trace: give a layer type or a trace file, not "
                                 f"{'both' if layer is not None else 'neither'}"])
        if layer is not None:
            return _one_layer(layer, preset, dims), None
        return None, _trace_reader(trace, trace_format, skip_bad, preset, dims)

    def size_of(value: Any, flag: str) -> int:
        try:
            n = parse_size(value)
        except ValueError as exc:
            raise SimcacheError([f"{flag}: {exc}"]) from None
        if n < 1:
            raise SimcacheError([f"{flag}: {value!r} is not a positive size"])
        return n

    (h, path), (lay, reader) = gather(lambda: load_config(config), source)
    element = lay.dtype_bytes if lay is not None else dims.get("dtype_bytes", 4)
    k, = gather(lambda: M.level_index(h, level))
    geometry = h.geometry(element)
    g = geometry[k]
    lines_default, ways_default = M.default_bounds(h, g, geometry)

    def bounds() -> tuple[int, int]:
        lines = lines_default
        if max_size is not None:
            n = size_of(max_size, "--max-size")
            if n % g.line or not 1 <= n // g.line <= M.MAX_LINES:
                raise SimcacheError([f"--max-size: {n:,} B is not a whole number of {g.name}'s "
                                     f"{g.line}-byte lines from 1 to {M.MAX_LINES:,}"])
            lines = n // g.line
        ways = ways_default
        if max_ways is not None:
            if isinstance(max_ways, bool) or not isinstance(max_ways, int) \
                    or not 1 <= max_ways <= M.MAX_WAYS:
                raise SimcacheError([f"--max-ways: {max_ways!r} is not a whole number from 1 "
                                     f"to {M.MAX_WAYS}"])
            ways = max_ways
        return lines, ways

    def asked() -> list[int]:
        out = []
        for v in sizes:
            n = size_of(v, "--sizes")
            if n % g.line:
                raise SimcacheError([f"--sizes: {v} is not a whole number of {g.name}'s "
                                     f"{g.line}-byte lines"])
            out.append(n)
        return out

    (lines, ways), extra = gather(bounds, asked)
    if any(n // g.line > lines for n in extra):
        raise SimcacheError([f"--sizes: {n:,} B is larger than --max-size ({lines * g.line:,} B)"
                             for n in extra if n // g.line > lines])
    if on_start is not None:  # the levels above k run, the layer's nests in them
        on_start([geometry[:k]], [Job(h, lay, False)] if lay is not None else [])
    if lay is not None:
        curves = M.measure(h, k, element, lines, ways, layer=lay, progress=progress)
    else:
        def chunks():
            for chunk in ahead(reader):
                if progress is not None:
                    progress(reader.position(), reader.size)
                yield chunk
        curves = M.measure(h, k, element, lines, ways, chunks=chunks())
    doc = {"simcache": __version__,
           "config": {"name": h.name, "description": h.description, "path": path},
           "layer": None, "trace": None,
           "mrc": M.document(curves, h, element, extra)}
    if lay is not None:
        doc["layer"] = {**lay.model_dump(), "F_out": lay.F_out}
    else:
        doc["trace"] = {"path": str(trace), "format": reader.fmt + (".gz" if reader.gz else ""),
                        "accesses": reader.accesses, "skipped": reader.skipped}
    return MrcResult(doc, curves)


# ---------------------------------------------------------------- compiling the kernels


def kernel_families(names: Iterable[str] = ()) -> list[str]:
    """The kernel families named (engine.FAMILIES; a variant's name, such as `pf`, stands
    for its three), in engine order; every family when none is named. SimcacheError, one
    line listing the valid names, for an unknown one."""
    names = list(names)
    unknown = [n for n in names if n not in engine.FAMILIES and n not in engine.VARIANTS]
    if unknown:
        valid = ", ".join((*engine.VARIANTS, *engine.FAMILIES))
        raise SimcacheError([f"FAMILY: {', '.join(repr(n) for n in unknown)}: no such kernel "
                             f"famil{'ies' if len(unknown) > 1 else 'y'}; the families are "
                             f"{valid}"])
    if not names:
        return list(engine.FAMILIES)
    wanted = {f for n in names for f in engine.FAMILIES if n in (f, f.partition("-")[0])}
    return [f for f in engine.FAMILIES if f in wanted]


_QUEUE = None  # a compile worker's way back to the parent (compile_kernels)


def _worker_init(queue) -> None:
    global _QUEUE
    _QUEUE = queue


def _compile_group(units: list[tuple[str, bool]]) -> None:
    engine.compile_units(units, lambda *item: _QUEUE.put(item))


def compile_kernels(families: Iterable[str] = (), jobs: int | None = None,
                    done: Callable[[tuple[str, bool], float, bool], None] | None = None,
                    on_start: Callable[[int, int, float], None] | None = None
                    ) -> list[tuple[tuple[str, bool], float, bool]]:
    """Compile (or load from the cache) the kernel families named (`kernel_families`), for
    both kinds of first level, on up to `jobs` processes (default: the cores available;
    each variant's units in one process, as they share its request path; Numba's cache on
    disk is shared). `done(unit, seconds, compiled now)` is called as each unit finishes,
    `on_start(units, processes, estimated seconds)` once before. Returns what `done` got,
    in the order the units finished."""
    from .study import default_workers

    units = engine.all_units(kernel_families(families))
    groups: dict[str, list] = {}
    for u in units:
        groups.setdefault(u[0].partition("-")[0], []).append(u)
    missing = [u for u in units if not engine.unit_cached(u)]
    cost = {v: engine.compile_estimate([u for u in missing if u in g])
            + engine._LOAD_S * len(g) for v, g in groups.items()}
    workers = max(1, min(jobs or default_workers(), len(groups)))
    loads = [0.0] * workers  # the longest groups first, each to the least loaded process
    for v in sorted(groups, key=cost.get, reverse=True):
        loads[loads.index(min(loads))] += cost[v]
    out: list = []

    def record(*item) -> None:
        out.append(item)
        if done is not None:
            done(*item)

    if workers == 1:
        if on_start is not None:
            on_start(len(units), workers, max(loads))
        engine.compile_units(units, record)
        return out
    import multiprocessing as mp
    import queue as queues

    ctx = mp.get_context("spawn")  # a fresh interpreter: nothing inherited mid-compile
    q = ctx.Queue()
    pool = None
    try:
        pool = ctx.Pool(workers, initializer=_worker_init, initargs=(q,))
        if on_start is not None:  # after the workers exist: an interrupt stops them all
            on_start(len(units), workers, max(loads))
        order = sorted(groups.values(), key=lambda g: -cost[g[0][0].partition("-")[0]])
        pending = pool.map_async(_compile_group, order, chunksize=1)
        while len(out) < len(units):
            try:
                record(*q.get(timeout=0.2))
            except queues.Empty:
                if pending.ready():
                    pending.get()  # raises a worker's error
                    while len(out) < len(units):  # the last items still in the pipe
                        record(*q.get(timeout=5))
        pool.close()
        pool.join()
    finally:
        if pool is not None:
            pool.terminate()  # an interrupt or an error: stop the workers now
    return out


def host_config(*, quick: bool = False, sysfs: str | Path | None = None,
                cpuinfo: str | None = None, progress: Callable[[str], None] | None = None):
    """A config of the machine this runs on (`simcache host`): the cache levels from sysfs,
    the clock, latencies, DRAM bandwidth and the core's figures measured by calibration
    loops in C (simcache/host.py). Returns a host.HostResult (`render("yaml"|"json")`);
    its `problems` list the fields sysfs did not give (the config has the rest)."""
    from . import host

    return host.host(quick=quick, sysfs=sysfs, cpuinfo=cpuinfo,
                     progress=progress or (lambda s: None))
