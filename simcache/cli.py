"""The simcache command line: parse, call the Python API (api.py), render.

The only place that prints errors and chooses exit codes: 2 for bad input (one line per
problem), 130 for Ctrl-C, 128 + N for signal N; never a traceback for a user's mistake.
"""

import codecs
import errno
import functools
import inspect
import io
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__, api, engine, kernels, report, shipped
from .errors import SimcacheError
from .layers import LAYER_TYPES, PRESETS, build_layer
from .loopnest import plan
from .outfile import check_target
from .report import print_table, render, write_atomic
from .study import busy_factor, default_workers, estimate_seconds
from .traces import FORMATS as TRACE_FORMATS
from .traces import TraceError, write_trace

app = typer.Typer(
    name="simcache",
    help="Show exactly what a neural-network layer does to a memory hierarchy: the layer's "
    "loop nest is replayed through registers, caches and DRAM, and every level reports "
    "hits, misses, write-backs, cycles and energy. Configs and models are given by path or "
    "by a shipped name (`simcache configs` lists them).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

err = Console(stderr=True, highlight=False)

# the document's symbols, as flags
FLAG_NAMES = {"B": "-B/--batch", "M": "-M", "N": "-N", "F": "-F", "K": "-K", "G": "-G",
              "stride": "--stride", "padding": "--padding", "pad": "--pad", "order": "--order",
              "tiles": "--tile", "dtype_bytes": "--dtype-bytes", "preset": "--preset",
              "layer": "--layer", "type": "--layer"}


def _flag_problems(problems: list[str]) -> list[str]:
    """'K: message' → '-K: message'."""
    out = []
    for p in problems:
        field, sep, msg = p.partition(": ")
        out.append(f"{FLAG_NAMES.get(field, field)}: {msg}" if sep else p)
    return out


# ---------------------------------------------------------------- value types


def whole(low: int = 1):
    """A parser of whole numbers written in ASCII digits (int() would take '١٢'), at least
    `low`."""
    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            text = str(value).strip()
            if not re.fullmatch(r"[0-9]+", text):
                raise typer.BadParameter(f"{value!r} is not a whole number (digits 0-9)")
            n = int(text)
        if n < low:
            raise typer.BadParameter(f"must be at least {low}, got {n}")
        return n
    return parse


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An enum whose values are `values`, so that --help lists them."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)  # type: ignore


Format = _choices("Format", report.FORMATS)
Padding = _choices("Padding", ("skip", "explicit"))
Preset = _choices("Preset", tuple(PRESETS))
LayerType = _choices("LayerType", LAYER_TYPES)
TraceFormat = _choices("TraceFormat", TRACE_FORMATS)
SKIP = Padding("skip")


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Enum) else v


# ---------------------------------------------------------------- shared options


def _opt(panel: str, *names: str, help: str, low: int | None = None, **kw: Any) -> Any:
    if low is not None:
        kw["parser"] = whole(low)
    return typer.Option(*names, help=help, show_default=kw.pop("show_default", False),
                        rich_help_panel=panel, **kw)


# option groups: each is (parameter name, annotation, default); a command decorated with
# @_with(GROUP) receives the group's values as one dict named after the group
_layer = functools.partial(_opt, "Layer dimensions")
_output = functools.partial(_opt, "Output")
_running = functools.partial(_opt, "Running")
DIMS = [
    ("preset", Annotated[Preset | None, _layer(
        "--preset", help="Dimensions of Table 2.2: early (M=N=32, F=112, K=3) or late "
        "(M=N=512, F=7, K=3), G=4; or vgg16-fc1 (fc, M=7·7·512, N=4096). Without it the "
        "early dimensions are defaults that each flag overrides; with it, a contradicting "
        "flag is an error.")], None),
    ("F", Annotated[int | None, _layer("-F", help="Input height and width F.", low=1)], None),
    ("M", Annotated[int | None, _layer("-M", help="Input channels M.", low=1)], None),
    ("N", Annotated[int | None, _layer("-N", help="Output channels (filters) N.", low=1)],
     None),
    ("K", Annotated[int | None, _layer("-K", help="Kernel height and width K.", low=1)], None),
    ("G", Annotated[int | None, _layer("-G", help="Groups G (group convolution).", low=1)],
     None),
    ("stride", Annotated[int, _layer("--stride", help="Stride S.", low=1, show_default=True)],
     1),
    ("padding", Annotated[Padding, _layer(
        "--padding", help="skip: taps outside the input make no access; explicit: the input "
        "is stored pre-padded and every tap reads memory.", show_default=True)], SKIP),
    ("pad", Annotated[int | None, _layer(
        "--pad", help="Symmetric padding amount (default: K//2 before, K-1-K//2 after, which "
        "keeps F' = F at stride 1).", low=0)], None),
    ("order", Annotated[str, _layer(
        "--order", help="Loop order, outermost first: a permutation of b i j n m p q "
        "(batch, output row, output col, filter, channel, kernel row, kernel col); with "
        "--tile, upper-case letters place the tile loops.", show_default=True)], "bijnmpq"),
    ("tiles", Annotated[str | None, _layer(
        "--tile", metavar="LOOP=SIZE,...", help="Tile loops: `n=8,m=16` splits n into a "
        "tile loop N over the tiles and n over the 8 filters of a tile, and m likewise (the "
        "last tile is shorter when the size does not divide the extent). Loops b, i, j, n, "
        "m; a size from 1 to the loop's extent. In --order an upper-case letter places a "
        "tile loop: `--tile m=16 --order bMijnmpq`; an order without upper-case letters "
        "puts the tile loops outermost (classic tiling). MACs and the set of accesses stay "
        "the same; their order changes.")], None),
    ("dtype_bytes", Annotated[int, _layer(
        "--dtype-bytes", help="Bytes per element: 1, 2, 4 or 8.", low=1, show_default=True)],
     4),
]
OUTPUT = [
    ("fmt", Annotated[Format | None, _output(
        "--format", "-f", help="table (for people), json or csv (for programs). Default: "
        "table, or the --output file's extension.")], None),
    ("output", Annotated[str | None, _output(
        "--output", "-o", metavar="FILE", help="Write the result to this file (whole or not "
        "at all; a device such as /dev/null is written to as it is) instead of standard "
        "output.")], None),
    ("plot", Annotated[str | None, _output(
        "--plot", metavar="FILE", help="Also draw the result as a figure: .png, .svg, .pdf "
        "(or .eps, .ps), from the suffix; drawn from the same document --format json "
        "writes, after it. Needs matplotlib: `pip install 'simcache[plot]'`.")], None),
]
RUNNING = [
    ("jobs", Annotated[int | None, _running(
        "--jobs", "-j", help="Simulations run at once when there are several (default: the "
        "cores available).", low=1)], None),
    ("progress", Annotated[bool, _running(
        "--progress/--no-progress", help="Show a progress bar on long runs (terminal only).",
        show_default=True)], True),
]
GROUPS = {"dims": DIMS, "out": OUTPUT, "running": RUNNING}


def _with(*group_names: str, drop: tuple[str, ...] = ()):
    """Add option groups to a command: its parameters named in `group_names` receive the
    group's values as a dict (`drop` leaves options out of a group for this command)."""
    def deco(fn):
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name not in group_names]
        added = {g: [o for o in GROUPS[g] if o[0] not in drop] for g in group_names}
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                   annotation=ann)
                 for g in group_names for name, ann, default in added[g]]

        @functools.wraps(fn)
        def wrapper(**kw):
            for g in group_names:
                kw[g] = {name: _value(kw.pop(name)) for name, _, _ in added[g]}
            return fn(**kw)

        params = own + extra
        wrapper.__signature__ = sig.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must see the new signature, not fn's
        return wrapper
    return deco


ConfigArg = Annotated[str, typer.Argument(
    metavar="CONFIG", help="Hardware config: a shipped name (mobile_soc, server, thesis) or a "
    "YAML file (cache levels innermost first, then memory; see configs/thesis.yaml).",
    show_default=False)]
LayerOpt = Annotated[str, typer.Option(
    "--layer", "-l", help=f"Layer type: {', '.join(LAYER_TYPES)}; several separated by "
    "commas, or 'all'.", show_default=False)]
OneLayerOpt = Annotated[LayerType, typer.Option("--layer", "-l", help="Layer type.",
                                                show_default=False)]
BatchOpt = Annotated[str, typer.Option(
    "-B", "--batch", help="Batch size B; several separated by commas (1,2,4,8) for a study.")]
OneBatchOpt = Annotated[int, typer.Option("-B", "--batch", help="Batch size B.",
                                          parser=whole(1))]
ByTensorOpt = Annotated[bool, typer.Option(
    "--by-tensor", help="Break every level down by tensor (x, w, y) in the table.")]
ThreeCOpt = Annotated[bool, typer.Option(
    "--3c", help="Classify every cache level's misses as compulsory (the line's first), "
    "capacity (a fully associative cache of the same size would miss too) or conflict "
    "(it would hit), as Dinero IV's -Tccc does; about 2-3x slower.")]
DramTraceOpt = Annotated[Path | None, typer.Option(
    "--dram-trace", metavar="FILE", help="Write the requests that reach a DRAM memory "
    "(the config's memory.dram) to FILE in DRAMsim3's trace format: hex address, READ or "
    "WRITE, memory cycle (written whole or not at all).", show_default=False)]
DramGapOpt = Annotated[int, typer.Option(
    "--dram-trace-gap", metavar="CYCLES", help="Space the --dram-trace requests this many "
    "memory cycles apart (0: when the blocking model issues them).")]
TraceFormatOpt = Annotated[TraceFormat | None, typer.Option(
    "--trace-format", help="Trace file format (default: from the file name; .gz adds gzip). "
    "--format stays the report's format.", show_default=False)]


def _version(value: bool) -> None:
    if value:
        print(f"simcache {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")]
        = False) -> None:
    pass


# ---------------------------------------------------------------- helpers


def _api(call, *args, **kw):
    """Call the API; its problems become ours, with flags for layer fields."""
    try:
        return call(*args, **kw)
    except SimcacheError as exc:
        raise SimcacheError(_flag_problems(exc.problems)) from None


def _format(fmt: str | None, output: str | None) -> str:
    if fmt is None:
        suffix = Path(output).suffix.lower().lstrip(".") if output else ""
        return suffix if suffix in ("json", "csv") else "table"
    return fmt


def _out(out: dict) -> tuple[str, Path | None]:
    """The report format and the output path, once the path is known to be writable."""
    path = check_target(out["output"], "--output") if out["output"] is not None else None
    return _format(out["fmt"], out["output"]), path


def _plot_target(out: dict) -> Path | None:
    """The --plot file, checked (matplotlib there, a format it writes, a writable place)
    before anything is simulated."""
    if out.get("plot") is None:
        return None
    from .plots import check_plot

    path = check_plot(out["plot"])
    if out["output"] is not None and Path(out["output"]).expanduser().resolve() == \
            path.expanduser().resolve():
        raise SimcacheError([f"--plot: {out['plot']} is also the --output file; give two "
                             "names"])
    return path


def _draw(path: Path | None, doc: dict) -> None:
    """The figure of a result document, once the result itself is written."""
    if path is None:
        return
    from . import plots

    plots.plot(doc, path)
    _say(f"simcache: drew the figure in {path}")


def _gather(*steps):
    """Run every check, then raise all problems together (one line each, with flags)."""
    return _api(api.gather, *steps)


PROGRESS_INTERVAL = 10.0  # seconds between plain progress lines (stderr not a terminal)


def _progress_interval() -> float:
    """Seconds between plain progress lines: SIMCACHE_PROGRESS_INTERVAL (0: at every update,
    as tests use it), else PROGRESS_INTERVAL."""
    given = os.environ.get("SIMCACHE_PROGRESS_INTERVAL", "")
    try:
        return max(0.0, float(given)) if given else PROGRESS_INTERVAL
    except ValueError:
        return PROGRESS_INTERVAL


def _span(seconds: float) -> str:
    """A duration as the estimates say it: '40 s', '4 min', '2.5 h'."""
    if seconds < 120:
        return f"{max(1, round(seconds))} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class PlainProgress:
    """Progress as a line of text every `interval` seconds, for a stderr that is not a
    terminal (a log file, a pipe): '41% · 3.2 G of 7.8 G accesses · 4 min left'. The time
    left comes from the rate measured since the first update (not from the estimate), so
    that it corrects itself; nothing for a run shorter than `interval`. `unit` names what
    the counts are (e.g. 'accesses'), `scale` turns the callers' counts into them (4
    accesses per loop iteration)."""

    def __init__(self, say: Callable[[str], None], what: str = "", unit: str | None = None,
                 scale: int = 1, interval: float = PROGRESS_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.say, self.what, self.unit, self.scale = say, what, unit, scale
        self.interval, self.clock = interval, clock
        self.first: tuple[float, int] | None = None  # (time, done) at the first update
        self.last = 0.0  # when the last line was printed (or the first update came)

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.first is None:
            self.first, self.last = (now, done), now
            if self.interval > 0:
                return
        if now - self.last < self.interval or not total:
            return
        self.last = now
        self.say(self.line(done, total, now))

    def line(self, done: int, total: int, now: float) -> str:
        parts = [f"{100 * done / total:.0f}%"]
        if self.unit:
            parts.append(f"{report.count(done * self.scale, True)} of "
                         f"{report.count(total * self.scale, True)} {self.unit}")
        t0, d0 = self.first or (now, done)
        if done > d0 and now > t0 and done < total:
            parts.append(f"{_span((total - done) * (now - t0) / (done - d0))} left")
        head = f"simcache: {self.what}: " if self.what else "simcache: "
        return head + " · ".join(parts)


@contextmanager
def _progress(enabled: bool, what: str, unit: str | None = None, scale: int = 1):
    """A progress callback: a bar on a terminal; elsewhere a plain line every few seconds
    (PlainProgress), `unit` and `scale` naming the counts."""
    if not enabled:
        yield None
        return
    if not err.is_terminal:
        yield PlainProgress(_say, what, unit, scale, _progress_interval())
        return
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _say(text: str) -> None:
    err.print(text, soft_wrap=True, markup=False)


def _prepare(geometries, jobs, needs=("nest",), workers: int | None = None,
             ccc: bool = False) -> None:
    """Before simulating: load (or on the first run, compile) exactly the kernel families
    these hierarchies and jobs run (engine.units_for: plain, 3C with `ccc` or jobs that
    ask for it, prefetch/inclusion; guarded nests; the trace loop for `needs` "trace"),
    saying so in a line before and a line after a compile; then say when the runs will
    take a while."""
    _warm(engine.units_for(geometries, jobs, needs, ccc))
    if jobs:
        _announce(jobs, workers)


def _warm(units) -> None:
    if kernels.CACHE_NOTE:
        _say(kernels.CACHE_NOTE)
    engine.warm_up(units, announce=_say)
    _ready()


def _ready() -> None:
    """With SIMCACHE_READY set, one line on stderr once the signal handlers are in place
    and the kernels are loaded, just before the work starts: what a test waits for before
    it sends a signal (README, Development)."""
    if os.environ.get("SIMCACHE_READY"):
        _say("simcache: ready")


def _prepare_trace(ccc: bool):
    return lambda geometries, jobs: _prepare(geometries, jobs, needs=("trace",), ccc=ccc)


def _announce(jobs, workers: int | None) -> None:
    """Say beforehand when a run will take a while (study.estimate_seconds: the model's
    time on an idle core, stretched by the machine's load); the progress then shows the
    time left from the measured rate."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    seconds = estimate_seconds(jobs, workers, load)
    if seconds < 10:
        return
    chains = {j.chain for j in jobs if j.chain is not None}
    pieces = len(chains) + sum(1 for j in jobs if j.chain is None)
    w = max(1, min(workers or default_workers(), pieces))
    if chains:
        what = (f"{len(chains)} inference{'s' if len(chains) > 1 else ''} ({len(jobs)} "
                "layers and their operators, one after another)")
    else:
        what = f"{len(jobs)} simulation{'s' if len(jobs) > 1 else ''}"
    busy = (f"; the machine is busy, load {load:.1f} on {default_workers()} cores"
            if busy_factor(w, load) > 1.05 * busy_factor(w, 0.0) else "")
    _say(f"simcache: {what} on {w} core{'s' if w > 1 else ''}: about {_span(seconds)} "
         f"(estimate{busy})")


def _on_start(workers: int | None, needs=("nest",)):
    """What the API calls once the inputs are valid: `_prepare` for `workers` at once."""
    return lambda geometries, jobs: _prepare(geometries, jobs, needs, workers=workers)


def _stdout(text: str) -> None:
    """Write to standard output; a closed or full one is an error, not a traceback."""
    if sys.stdout is None:
        raise SimcacheError(["standard output: it is closed; give -o FILE"])
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        _silence_stdout()
        why = ("it was closed before the result was written" if exc.errno == errno.EPIPE
               else exc.strerror or str(exc))
        raise SimcacheError([f"standard output: {why}"]) from None


def _silence_stdout() -> None:
    """After a failed write, send what Python still flushes at exit nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        _stdout(text)
        return
    try:
        write_atomic(output, text)
    except OSError as exc:
        raise SimcacheError([f"--output: {output}: {exc.strerror or exc}"]) from None


def _show(render_to) -> None:
    """Render with `render_to(console)` into text (styled on a terminal, at its width;
    plain elsewhere), then write it to standard output in one piece."""
    tty = bool(sys.stdout) and sys.stdout.isatty()
    width = shutil.get_terminal_size((80, 24)).columns if tty else 80
    buf = io.StringIO()
    render_to(Console(file=buf, width=width, highlight=False, force_terminal=tty,
                      color_system="auto" if tty else None))
    _stdout(buf.getvalue())


def _emit_rendered(fmt: str, output: Path | None, doc: dict, rows: list[dict], build,
                   title: str, footer: list[str] = (), csv_text: str | None = None) -> None:
    """A table (built to fit), the JSON document, or the rows as CSV. A partial document
    (`interrupted`) says so: in the table's title and footer, in a last CSV row."""
    done = doc.get("finished")
    if doc.get("interrupted") and done:
        what = next(k for k in done if k != "of")
        note = f"interrupted: {done[what]} of {done['of']} {what} finished"
        title = f"{title} · {note}"
        footer = [*footer, f"{note}; the rows are those that finished"
                  + ("; no flush (a warm inference flushes at its end): the totals are the "
                     "rows' sums" if doc.get("warm") else "")]
        csv_text = report.interrupted_csv(
            csv_text if csv_text is not None else report.rows_to_csv(rows), note)
    if fmt == "table":
        if output is None:
            _show(lambda c: report.show(c, title, build, footer))
        else:
            _emit(report.text(title, build, footer), output)
    elif fmt == "json":
        _emit(report.to_json(doc), output)
    else:
        _emit(csv_text if csv_text is not None else report.rows_to_csv(rows), output)


def _api_keeping(call, *args, **kw):
    """`_api(call, ...)` and None; or, after an interrupt (Ctrl-C, a signal) that left
    some work finished, the partial result the API kept (marked interrupted) and the exit
    code to leave with once it is written (130 for Ctrl-C, 128 + N for signal N)."""
    try:
        return _api(call, *args, **kw), None
    except BaseException as exc:
        partial = getattr(exc, "partial", None)
        if partial is None or isinstance(exc, Exception):
            raise
        return partial, 128 + getattr(exc, "signum", signal.SIGINT)


_STOPPED: dict[str, bool] = {}  # "said": an interrupted command said what it kept


def _stop_partial(code: int | None, result, output: Path | None) -> None:
    """After writing a partial result: say what was kept, and leave with `code`."""
    if code is None:
        return
    done = result.to_dict()["finished"]
    what = next(k for k in done if k != "of")
    where = output if output is not None else "standard output"
    why = "interrupted" if code == 130 else f"stopped by signal {code - 128}"
    _say(f"simcache: {why}: wrote the {done[what]} of {done['of']} {what} that finished "
         f"to {where}, marked interrupted")
    _STOPPED["said"] = True
    raise typer.Exit(code)


def _emit_run(result: api.RunResult, fmt: str, output: Path | None, by_tensor: bool) -> None:
    summary = result.to_dict()
    if fmt == "table" and output is None:
        _show(lambda c: print_table(summary, c, by_tensor))
    else:
        _emit(render(summary, fmt, by_tensor), output)


def _batches(text: str) -> list[int]:
    out, bad = [], []
    for part in text.split(","):
        part = part.strip()
        if re.fullmatch(r"[0-9]+", part) and int(part) > 0:
            out.append(int(part))
        else:
            bad.append(part)
    if bad:
        shown = ", ".join(repr(b) for b in bad)
        raise SimcacheError([f"-B/--batch: {shown} is not a positive whole number "
                             "(digits 0-9, e.g. -B 1,2,4)"])
    return list(dict.fromkeys(out))


def _types(text: str) -> list[str]:
    if text.strip() == "all":
        return list(LAYER_TYPES)
    types = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in types if t not in LAYER_TYPES]
    if bad or not types:
        raise SimcacheError([f"--layer: unknown layer type {b!r}; choose from "
                             f"{', '.join(LAYER_TYPES)} or all" for b in bad or [text]])
    return list(dict.fromkeys(types))


# ---------------------------------------------------------------- commands


@app.command()
@_with("dims", "out", "running")
def run(config: ConfigArg, layer: LayerOpt, batch: BatchOpt = "1",
        by_tensor: ByTensorOpt = False, three_c: ThreeCOpt = False,
        dram_trace: DramTraceOpt = None, dram_trace_gap: DramGapOpt = 0, dims=None, out=None,
        running=None) -> None:
    """Simulate a layer on a hardware config and report every level.

    One layer and one batch size give the full report; several (--layer all, -B 1,2,4,8)
    give one row each: hit rates, cycles, energy and DRAM bytes per MAC.

    Example: **simcache run mobile_soc --layer depthwise**; with a figure of hit rates,
    cycles, energy and the kinds of misses: **simcache run mobile_soc --layer depthwise
    --3c --plot depthwise.png**
    """
    preset = dims.pop("preset")
    types, batches, (fmt, output), figure = _gather(
        lambda: _types(layer), lambda: _batches(batch), lambda: _out(out),
        lambda: _plot_target(out))
    if len(types) == 1 and len(batches) == 1:
        trace = {} if dram_trace is None else {"dram_trace": dram_trace,
                                               "dram_trace_gap": dram_trace_gap}
        with _progress(running["progress"], "simulating", "accesses", 4) as update:
            result = _api(api.simulate, config, types[0], preset=preset, B=batches[0],
                          three_c=three_c, progress=update, on_start=_on_start(1),
                          **trace, **dims)
        _emit_run(result, fmt, output, by_tensor)
        _draw(figure, result.to_dict())
        return
    if dram_trace is not None:
        raise SimcacheError(["--dram-trace: one layer and one batch size (the trace is one "
                             "run's requests)"])
    with _progress(running["progress"], "simulating", "accesses", 4) as update:
        study, code = _api_keeping(api.study, config, types, batches, preset=preset,
                                   jobs=running["jobs"], three_c=three_c, progress=update,
                                   on_start=_on_start(running["jobs"]), **dims)
    first = study.runs[0].layer
    title = (f"simcache {__version__} · {study.runs[0].config} · M={first['M']} "
             f"N={first['N']} F={first['F']} K={first['K']} · padding {first['padding']} · "
             f"order {first['order']}{report.tiles_note(first)}")
    doc = study.to_dict()
    _emit_rendered(fmt, output, doc, study.rows,
                   lambda c: report.study_table(study.rows, study.level_names, c), title)
    _stop_partial(code, study, output)
    _draw(figure, doc)


ModelArg = Annotated[str, typer.Argument(
    metavar="MODEL", help="Network: a shipped name (mobilenetv2, squeezenet, vgg16) or a "
    "layer list such as models/vgg16.yaml.", show_default=False)]
# with --network, the layer-dimension flags that a network file gives for every layer
_NETWORK_FIXES = ("preset", "F", "M", "N", "K", "G", "pad", "tiles")


@app.command()
@_with("dims", "out", "running")
def compare(
    configs: Annotated[list[str], typer.Argument(
        metavar="CONFIG...", help="Two or more hardware configs (shipped names or files); "
        "ratios are to the first.", show_default=False)],
    layer: Annotated[LayerType | None, typer.Option(
        "--layer", "-l", help="Layer type to compare (or give --network).",
        show_default=False)] = None,
    network: Annotated[str | None, typer.Option(
        "--network", metavar="MODEL", help="Compare every layer of this network (a shipped "
        "name such as squeezenet, or a file such as models/vgg16.yaml) instead of one "
        "layer; takes -B, --padding, --order and --dtype-bytes, not the layer's dimensions.",
        show_default=False)] = None,
    batch: OneBatchOpt = 1,
    three_c: ThreeCOpt = False,
    cold: Annotated[bool, typer.Option(
        "--cold", help="With --network: every layer on its own with cold caches, instead of "
        "one inference with warm caches.")] = False,
    dims=None, out=None, running=None,
) -> None:
    """The same layer, or every layer of a network, on several hardware configs, side by
    side.

    Examples: **simcache compare mobile_soc server --layer depthwise**;
    **simcache compare thesis mobile_soc server --network squeezenet** (per layer and in
    total: cycles, energy and DRAM traffic)
    """
    preset = dims.pop("preset")

    def source() -> None:
        if (layer is None) == (network is None):
            raise SimcacheError(["--layer/--network: give a layer type or a network, not "
                                 f"{'both' if layer is not None else 'neither'}"])
        if network is None and cold:
            raise SimcacheError(["--cold: only with --network (a single layer always starts "
                                 "cold)"])
        if network is not None:
            given = [FLAG_NAMES[k] for k in _NETWORK_FIXES
                     if (preset if k == "preset" else dims[k]) is not None]
            given += ["--stride"] if dims["stride"] != 1 else []
            if given:
                raise SimcacheError([f"{g}: a network gives every layer's dimensions; drop "
                                     f"{g}" for g in given])

    _, (fmt, output), figure = _gather(source, lambda: _out(out), lambda: _plot_target(out))
    if network is not None:
        _compare_network(configs, network, batch, three_c, cold, dims, fmt, output, figure,
                         running)
        return
    with _progress(running["progress"], "comparing", "accesses", 4) as update:
        result = _api(api.compare, configs, layer.value, preset=preset, B=batch,
                      jobs=running["jobs"], three_c=three_c, progress=update,
                      on_start=_on_start(running["jobs"]), **dims)
    lay = result.runs[0].layer
    title = f"simcache {__version__} · compare · {report.describe_layer(lay)}"
    doc = result.to_dict()
    _emit_rendered(fmt, output, doc, result.rows,
                   lambda c: report.compare_table(result.rows, c), title,
                   report.compare_footer(result.rows,
                                         [r.to_dict()["config"] for r in result.runs]))
    _draw(figure, doc)


def _compare_network(configs, model, batch, three_c, cold, dims, fmt, output, figure,
                     running) -> None:
    """`compare --network`: every layer of a network on several configs."""
    needs = ("nest",) if cold else ("nest", "trace")
    with _progress(running["progress"], f"{model} on {len(configs)} configs", "accesses",
                   4 if cold else 1) as update:
        result, code = _api_keeping(
            api.compare_network, configs, model, batch=batch, padding=dims["padding"],
            order=dims["order"], dtype_bytes=dims["dtype_bytes"], jobs=running["jobs"],
            three_c=three_c, progress=update, on_start=_on_start(running["jobs"], needs),
            cold=cold)
    if not result.rows and figure is not None:
        raise SimcacheError([f"--plot: {result.name} has no simulated layer to draw"])
    title = (f"simcache {__version__} · compare · {result.name} on "
             f"{', '.join(c['label'] for c in result.configs)} · B={batch} · "
             f"{'warm' if result.warm else 'cold'} caches · padding {dims['padding']} · "
             f"order {dims['order']}")
    doc = result.to_dict()
    _emit_rendered(fmt, output, doc, result.rows,
                   lambda c: report.network_compare_table(result.rows, result.totals, c),
                   title,
                   report.network_compare_footer(
                       result.totals, result.skipped,
                       [(f"(copied from {c['copied_from']}) " if c.get("copied_from") else "")
                        + c["description"] for c in result.configs], result.warm),
                   report.network_compare_csv(result.rows, result.totals))
    _stop_partial(code, result, output)
    _draw(figure, doc)


@app.command()
@_with("out", "running")
def network(
    config: ConfigArg,
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help="Network: a shipped name (mobilenetv2, squeezenet, vgg16) or a "
        "layer list such as models/vgg16.yaml.", show_default=False)],
    batch: OneBatchOpt = 1,
    padding: Annotated[Padding, typer.Option(
        "--padding", help="skip: taps outside the input make no access; explicit: every tap "
        "reads memory.")] = SKIP,
    order: Annotated[str, typer.Option("--order", help="Loop order of every layer.")]
    = "bijnmpq",
    dtype_bytes: Annotated[int, typer.Option("--dtype-bytes", help="Bytes per element.",
                                             parser=whole(1))] = 4,
    three_c: ThreeCOpt = False,
    cold: Annotated[bool, typer.Option(
        "--cold", help="Every convolution and fc layer on its own, with cold caches and its "
        "own flush (in parallel); pooling, additions and the like skipped.")] = False,
    out=None, running=None,
) -> None:
    """Every layer of a network on one hardware config: a row per layer, and the totals.

    By default one inference with warm caches: the layers run in order over one
    hierarchy, each reading the previous output where it was written and finding what
    the layer before left in the caches; pooling, additions, concatenations and
    elementwise layers make their own reads and writes; one flush at the end. With
    --cold each layer starts with cold caches, as if run alone.

    Example: **simcache network thesis squeezenet**
    """
    (fmt, output), figure = _gather(lambda: _out(out), lambda: _plot_target(out))
    needs = ("nest",) if cold else ("nest", "trace")
    with _progress(running["progress"], f"{model} on {config}", "accesses",
                   4 if cold else 1) as update:
        result, code = _api_keeping(
            api.network, config, model, batch=batch, padding=padding.value, order=order,
            dtype_bytes=dtype_bytes, jobs=running["jobs"], three_c=three_c, progress=update,
            # warm: one inference, its layers one after another on one core
            on_start=_on_start(running["jobs"] if cold else 1, needs), cold=cold)
    cfg = result.runs[0].config if result.runs else config
    title = (f"simcache {__version__} · {result.name} on {cfg} · B={batch} · "
             f"{'cold' if cold else 'warm'} caches · padding {padding.value} · order {order}")
    csv_text = report.network_csv(result.rows, result.totals, result.flush)
    doc = result.to_dict()
    _emit_rendered(fmt, output, doc, result.rows,
                   lambda c: report.network_table(result.rows, result.totals, c,
                                                  result.flush), title,
                   report.network_footer(result.rows, result.totals, result.skipped,
                                         result.warm, flushed=not result.interrupted),
                   csv_text)
    _stop_partial(code, result, output)
    if not result.runs and figure is not None:
        raise SimcacheError([f"--plot: {result.name} has no simulated layer to draw"])
    _draw(figure, doc)


@app.command()
@_with("dims", "running", drop=("jobs",))
def trace(
    output: Annotated[str, typer.Option(
        "--output", "-o", help="Trace file to write: .din (Dinero IV text, with tensor "
        "names), .bin (Dinero IV binary), .npz (simcache, with tensor ids); .gz on .din or "
        ".bin adds gzip.", show_default=False)],
    layer: Annotated[LayerType | None, typer.Option(
        "--layer", "-l", help="Layer type (or give --network).", show_default=False)] = None,
    network: Annotated[str | None, typer.Option(
        "--network", metavar="MODEL", help="Write one warm inference of this network (a "
        "shipped name such as squeezenet, or a file such as models/vgg16.yaml) instead of "
        "one layer: every layer and operator in order over the network's address map, as "
        "`simcache network` simulates it (the end-of-run flush is no access). Takes -B, "
        "--padding skip, --order and --dtype-bytes, not the layer's dimensions.",
        show_default=False)] = None,
    batch: OneBatchOpt = 1,
    trace_format: TraceFormatOpt = None,
    dims=None, running=None,
) -> None:
    """Write a layer's address stream, or a network's (one warm inference), to a trace
    file, streamed (whole or not at all).

    Examples: **simcache trace --layer depthwise -F 28 -o /tmp/depthwise.din**;
    **simcache trace --network squeezenet -o /tmp/squeezenet.npz** (replay it with
    `simcache replay CONFIG /tmp/squeezenet.npz`: the counts of `simcache network CONFIG
    squeezenet`, rows and flush summed)
    """
    from .loopnest import plan as make_plan
    from .traces import detect

    preset = dims.pop("preset")
    fmt_name = _value(trace_format)

    def target() -> Path:
        path = check_target(output, "--output")
        detect(path, fmt_name)
        return path

    def source() -> None:
        if (layer is None) == (network is None):
            raise SimcacheError(["--layer/--network: give a layer type or a network, not "
                                 f"{'both' if layer is not None else 'neither'}"])
        if network is not None:
            given = [FLAG_NAMES[k] for k in _NETWORK_FIXES
                     if (preset if k == "preset" else dims[k]) is not None]
            given += ["--stride"] if dims["stride"] != 1 else []
            if given:
                raise SimcacheError([f"{g}: does not go with --network (a network gives every "
                                     f"layer's dimensions); drop {g} or --network"
                                     for g in given])

    if network is not None:
        _, path = _gather(source, target)
        with _progress(running["progress"], f"writing {path.name}") as update:
            info = _trace_call(path, api.trace_network, network, path, batch=batch,
                               padding=dims["padding"], order=dims["order"],
                               dtype_bytes=dims["dtype_bytes"], trace_format=fmt_name,
                               progress=_ready_at_first(update))
        what = f"one inference of {info['network']} (B={batch})"
        n = info["accesses"]
    else:
        _, lay, path = _gather(source, lambda: None if layer is None else build_layer(
            layer.value, preset, B=batch, **dims), target)
        p = make_plan(lay)
        with _progress(running["progress"], f"writing {path.name}") as update:
            n = _trace_call(path, write_trace, p, path, fmt_name, _ready_at_first(update))
        what = lay.describe()
    size = path.stat().st_size if path.is_file() else None
    shown = f" ({report.nbytes(size)})" if size is not None else ""
    _say(f"simcache: wrote {n:,} accesses of {what} to {path}{shown}")


def _ready_at_first(update):
    """A progress callback that says `_ready` at its first call (the file is being written),
    then passes each update on."""
    first = [True]

    def written(done: int, total: int) -> None:
        if first:
            first.clear()
            _ready()
        if update is not None:
            update(done, total)

    return written


def _trace_call(path: Path, call, *args, **kw):
    """Write a trace file: its problems as one line each, an OSError naming --output."""
    try:
        return _api(call, *args, **kw)
    except TraceError as exc:
        raise SimcacheError(exc.problems) from None
    except OSError as exc:
        raise SimcacheError([f"--output: {path}: {exc.strerror or exc}"]) from None


@app.command()
@_with("out", "running", drop=("jobs",))
def replay(
    config: ConfigArg,
    trace_file: Annotated[str, typer.Argument(
        metavar="TRACE", help="Trace file: .din, .bin, .npz, .lackey (or --trace-format), "
        "optionally .gz; or - for standard input, or a pipe such as <(zcat t.din.gz), read "
        "as a stream (format from --trace-format, else from the first bytes; not npz).",
        show_default=False)],
    trace_format: TraceFormatOpt = None,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Skip records that do not parse, and count them, instead of "
        "stopping at the first.")] = False,
    dtype_bytes: Annotated[int, typer.Option(
        "--dtype-bytes", help="Element size, for levels whose line is 'element'.",
        parser=whole(1))] = 4,
    by_tensor: ByTensorOpt = False,
    three_c: ThreeCOpt = False,
    out=None, running=None,
) -> None:
    """Replay a trace file through a hardware config; report as `run` does.

    Examples: **simcache replay thesis traces/spatial_f8.din**;
    **zcat t.din.gz | simcache replay thesis -**; **simcache replay thesis <(zcat t.din.gz)**
    """
    (fmt, output), figure = _gather(lambda: _out(out), lambda: _plot_target(out))
    name = "standard input" if trace_file == "-" else Path(trace_file).name
    with _replay_progress(running["progress"], f"replaying {name}") as update:
        result = _api(api.replay, config, trace_file, trace_format=_value(trace_format),
                      skip_bad=skip_bad, dtype_bytes=dtype_bytes, three_c=three_c,
                      progress=update, on_start=_prepare_trace(three_c))
    _emit_run(result, fmt, output, by_tensor)
    _draw(figure, result.to_dict())


@contextmanager
def _replay_progress(enabled: bool, what: str):
    """`_progress` for a replay: a file's bar in bytes read, or for a stream, whose length
    is not known (total 0), the accesses read so far."""
    if not (enabled and err.is_terminal):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[shown]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(what, total=None, shown="")

        def update(done: int, total: int) -> None:
            shown = f"{100 * done / total:3.0f}%" if total else f"{done:,} accesses read"
            bar.update(task, completed=done if total else 0, total=total or None, shown=shown)

        yield update


@app.command()
@_with("dims", "out", drop=("padding", "order", "tiles"))
def metrics(
    layer: Annotated[str | None, typer.Option(
        "--layer", "-l", help="Layer type(s), comma separated, or 'all'.",
        show_default=False)] = None,
    table: Annotated[bool, typer.Option(
        "--all", help="Table 2.2 of the document: the five convolution types, early and late "
        "(or the --preset given), beside the printed figures.")] = False,
    batch: BatchOpt = "1",
    config: Annotated[str | None, typer.Option(
        "--config", metavar="CONFIG", help="Hardware config whose roofs (peak MACs per "
        "cycle, DRAM bytes per cycle) the --plot roofline draws the layers under, and "
        "--format json records (default with --plot: thesis, the document's Figure 2.1).",
        show_default=False, rich_help_panel="Output")] = None,
    dims=None, out=None,
) -> None:
    """Theoretical metrics (Eq. 2.1–2.4): MACs, parameters, activations, arithmetic intensity.

    With --plot, a roofline: each layer at its Eq. 2.4 intensity per byte, on the roofs
    of --config (the DRAM bandwidth is an assumption where the config gives none).

    Examples: **simcache metrics --all** (Table 2.2);
    **simcache metrics --layer fc --preset vgg16-fc1 -B 1,2,4,8,16,64,256 --plot fc1.png**
    """
    preset = dims.pop("preset")
    figure = _gather(lambda: _plot_target(out))[0]

    def roofs() -> dict:
        if config is None and figure is None:
            return {}
        try:
            return api.roofline(config or "thesis", dims["dtype_bytes"])
        except SimcacheError as exc:  # the config is a flag here, not an argument
            raise SimcacheError([re.sub(r"^CONFIG: ", "--config: ", p)
                                 for p in exc.problems]) from None

    if table:
        given = [name for name, v in (("--layer", layer), ("-B/--batch", batch != "1" or None))
                 if v is not None]
        given += [f"-{d}" for d in "MNFKG" if dims[d] is not None]
        problems = [f"{g}: --all prints Table 2.2 (B = 1, its own dimensions); drop {g}"
                    for g in given]
        def flags_ok() -> None:
            if problems:
                raise SimcacheError(problems)

        _, rows, (fmt, output), extra = _gather(
            flags_ok, lambda: api.table_2_2([preset] if preset else ["early", "late"]),
            lambda: _out(out), roofs)
        footer = ["* differs from the printed Table 2.2 (the dim row); docs/model.md "
                  "explains each difference:",
                  "  spatial intensity: the document divided the rounded 1.16e8 MACs;",
                  "  separable: both factors (K×1 and 1×K) are counted, the document counts one;",
                  "  group late params: 589,824 rounds to 5.90e5; the document truncated it."]
        flat = [{k: (";".join(v) if isinstance(v, list) else v) for k, v in r.items()}
                for r in rows]
        doc = {"simcache": __version__, "rows": rows, **extra}
        _emit_rendered(fmt, output, doc, flat,
                       lambda c: report.table_2_2(rows, c),
                       "Table 2.2 (Wu 2019): theoretical metrics, B = 1, G = 4", footer)
        _draw(figure, doc)
        return
    rows, (fmt, output), extra = _gather(
        lambda: api.metrics(_types(layer or "spatial"), _batches(batch), preset=preset, **dims),
        lambda: _out(out), roofs,
    )
    footer = []
    for t in dict.fromkeys(r["layer"] for r in rows):
        limit = next(r["intensity_limit"] for r in rows if r["layer"] == t)
        if sum(r["layer"] == t for r in rows) > 1:
            footer.append(f"{t}: as B grows, intensity approaches {limit:.4g} MACs per element "
                          "(parameters are shared by the batch; Section 2.3)")
    doc = {"simcache": __version__, "rows": rows, **extra}
    _emit_rendered(fmt, output, doc, rows,
                   lambda c: report.metrics_table(rows, c), "Theoretical metrics (Eq. 2.1–2.4)",
                   footer)
    _draw(figure, doc)


@app.command()
def configs(
    name: Annotated[str | None, typer.Argument(
        metavar="NAME", help="A shipped config or model to copy out (with --copy) or to "
        "print.", show_default=False)] = None,
    copy: Annotated[str | None, typer.Option(
        "--copy", help="Copy NAME to this file or directory to edit it (an existing file is "
        "not replaced).", show_default=False)] = None,
    fmt: Annotated[Format | None, typer.Option(
        "--format", "-f", help="table (for people), json or csv.", show_default=False)] = None,
) -> None:
    """The hardware configs and network models that ship with simcache.

    Without NAME: a line each. With NAME: the file itself; with NAME --copy PATH: a copy to
    edit. Every command takes a shipped name where it takes a file.

    Examples: **simcache configs**; **simcache configs mobile_soc --copy
    out/my_soc.yaml**
    """
    if name is None:
        if copy is not None:
            raise SimcacheError(["--copy: give the NAME of the config or model to copy"])
        items = shipped.listing()
        rows = [{"kind": s.kind[:-1], "name": s.name, "description": s.description,
                 "path": str(s.path)} for s in items]
        f = _value(fmt) or "table"
        if f == "json":
            _stdout(report.to_json({"simcache": __version__, "shipped": rows}))
        elif f == "csv":
            _stdout(report.rows_to_csv(rows))
        else:
            lines = []
            for kind in ("config", "model"):
                mine = [r for r in rows if r["kind"] == kind]
                lines.append(f"{kind}s (simcache {'run' if kind == 'config' else 'network'} "
                             f"{'NAME' if kind == 'config' else 'CONFIG NAME'} ...):")
                width = max((len(r["name"]) for r in mine), default=0)
                lines += [f"  {r['name']:<{width}}  {r['description']}" for r in mine]
            lines.append("copy one to edit: simcache configs NAME --copy FILE")
            _stdout("\n".join(lines) + "\n")
        return
    item = shipped.find(name)
    if copy is None:
        _stdout(item.path.read_text(encoding="utf-8"))
        return
    dest = Path(copy)
    if dest.is_dir():
        dest = dest / item.path.name
    if dest.exists() or dest.is_symlink():
        raise SimcacheError([f"--copy: {dest} exists; give another name or remove it first"])
    path = check_target(str(dest), "--copy")
    text = shipped.copy_text(item, path)
    _emit(text, path)
    if item.kind == "configs":
        _say(f"simcache: copied config {item.name} to {path}, named {path.stem} (copied_from: "
             f"{item.name})")
    else:
        _say(f"simcache: copied {item.kind[:-1]} {item.name} to {path}")


# ---------------------------------------------------------------- csim: Cache Lab's csim-ref


@app.command()
def csim(
    s: Annotated[int, typer.Option(
        "-s", metavar="S", help="Set index bits: the cache has 2^s sets (0: one set).",
        parser=whole(0), show_default=False)],
    E: Annotated[int, typer.Option(
        "-E", metavar="E", help="Lines per set (the associativity), 1 or more.",
        parser=whole(1), show_default=False)],
    b: Annotated[int, typer.Option(
        "-b", metavar="B", help="Block offset bits: blocks of 2^b bytes (s + b ≤ 64).",
        parser=whole(0), show_default=False)],
    t: Annotated[str, typer.Option(
        "-t", metavar="TRACEFILE", help="The trace to replay: valgrind lackey output, "
        "lines such as ` L 7ff000398,8` (.gz adds gzip).", show_default=False)],
    v: Annotated[bool, typer.Option(
        "-v", help="Verbose: one line per data record, what each of its accesses did "
        "(`hit`, `miss`, `miss eviction`).")] = False,
) -> None:
    """CS:APP Cache Lab's reference cache simulator, `csim-ref`: the same flags, the same
    output line for line, and the same `.csim_results` file.

    The cache: 2^s sets of E lines, blocks of 2^b bytes, LRU replacement, and a store is
    placed as a load is (write-allocate). In the trace, `I` lines are left out, `M` is a
    load then a store of the same address, and an access touches only the block that
    holds its address (its size is printed, never simulated).

    The last line is **hits:H misses:M evictions:V**. With -v, each data record first
    gets a line of what its accesses did: `L 10,1 miss eviction`, `M 20,1 miss hit`
    (each word followed by one space, as csim-ref prints it). Like Cache Lab's
    printSummary, the command also writes `H M V` to the file **.csim_results** in the
    current directory (whole, or not at all when the run fails), where Cache Lab's
    test-csim reads it. It runs on simcache's own engine: check your own simulator
    against it, or grade with it.

    Where it departs from csim-ref: s = 0 and b = 0 are caches (csim-ref takes 0 for a
    missing flag); a line csim-ref would skip in silence (anything but an `I`, `L`, `S`
    or `M` record, a blank line or one of valgrind's `==` lines) stops the run, named by
    file:line; addresses are 63-bit; bad input is one line on standard error and exit
    code 2. docs/model.md ("csim: a Cache Lab reference") has the details.

    Examples: **simcache csim -s 4 -E 1 -b 4 -t traces/yi.trace**, and with one line per
    record: **simcache csim -v -s 4 -E 1 -b 4 -t traces/yi.trace**
    """
    from . import csim as cachelab

    cache = _api(cachelab.Cache, s, E, b)
    if Path(cachelab.RESULTS).is_dir():
        raise SimcacheError([f"{cachelab.RESULTS}: is a directory here; csim writes its counts "
                             "to a file of that name in the current directory, as csim-ref "
                             "does"])
    results = check_target(cachelab.RESULTS, cachelab.RESULTS)
    _prepare_trace(False)([[cache.geometry]], [])
    if not v:
        totals = _api(cache.replay, t)
        _stdout(totals.summary() + "\n")
    else:
        block: list[str] = []

        def emit(line: str) -> None:
            block.append(line)
            if len(block) >= 4096:
                _stdout("\n".join(block) + "\n")
                block.clear()

        totals = _api(cache.verbose, t, emit)
        _stdout("".join(line + "\n" for line in block) + totals.summary() + "\n")
    try:
        write_atomic(results, totals.results())
    except OSError as exc:
        raise SimcacheError([f"{cachelab.RESULTS}: {exc.strerror or exc}"]) from None


# ---------------------------------------------------------------- explain (step-through)

TensorName = _choices("TensorName", ("x", "w", "y", "t"))
ExplainFormat = _choices("ExplainFormat", ("table", "json"))


def _layer_or_trace(trace_file: str | None, layer, preset, batch: int, dims: dict,
                    dtype_bytes: int, tile: bool = False) -> dict:
    """The layer's dimensions for the API; with a trace instead, only its element size,
    once no layer flag was given with it (`tile`: --tile counts as one)."""
    if trace_file is None:
        return {**dims, "dtype_bytes": dtype_bytes, "B": batch}
    given = {"--padding": dims["padding"] != "skip", "--stride": dims["stride"] != 1,
             "--order": dims["order"] != "bijnmpq", "-B/--batch": batch != 1,
             "--preset": preset is not None,
             **({"--tile": dims["tiles"] is not None} if tile else {}),
             **{FLAG_NAMES[d]: dims[d] is not None for d in ("F", "M", "N", "K", "G", "pad")}}
    bad = [name for name, on in given.items() if on]
    if bad and layer is None:
        raise SimcacheError([f"{b}: a trace has no layer dimensions; drop {b}" for b in bad])
    return {"dtype_bytes": dtype_bytes}


@app.command()
@_with("dims", "running", drop=("jobs",))
def explain(
    config: ConfigArg,
    layer: Annotated[LayerType | None, typer.Option(
        "--layer", "-l", help="Layer type to step through (or give --trace).",
        show_default=False)] = None,
    trace_file: Annotated[str | None, typer.Option(
        "--trace", metavar="FILE", help="A trace file to step through instead of a layer "
        "(.din, .bin, .npz, .lackey, optionally .gz).", show_default=False)] = None,
    trace_format: TraceFormatOpt = None,
    batch: OneBatchOpt = 1,
    start: Annotated[int, typer.Option(
        "--start", help="Index of the first access shown (0 is the first of the layer or "
        "trace); everything before it is simulated, at full speed.", parser=whole(0),
        rich_help_panel="Window")] = 0,
    steps: Annotated[int, typer.Option(
        "--steps", "-n", help="Accesses stepped through, from --start (at most 10,000).",
        parser=whole(0), rich_help_panel="Window")] = 20,
    level: Annotated[str | None, typer.Option(
        "--level", help="Cache level whose tag | set | offset split and set contents are "
        "shown (default: the first).", show_default=False, rich_help_panel="Window")] = None,
    set_index: Annotated[int | None, typer.Option(
        "--set", help="Show only the accesses that touch this set of the level shown.",
        parser=whole(0), show_default=False, rich_help_panel="Window")] = None,
    tensor: Annotated[TensorName | None, typer.Option(
        "--tensor", help="Show only the accesses of this tensor.", show_default=False,
        rich_help_panel="Window")] = None,
    misses_only: Annotated[bool, typer.Option(
        "--misses-only", help="Show only the accesses that miss at the level shown.",
        rich_help_panel="Window")] = False,
    fmt: Annotated[ExplainFormat | None, typer.Option(
        "--format", "-f", help="table (a step-through for people) or json (the same, for "
        "programs; docs/formats.md). Default: table, or the --output file's extension.",
        show_default=False, rich_help_panel="Output")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write to this file (whole or not at all) "
        "instead of standard output.", show_default=False, rich_help_panel="Output")] = None,
    dims=None, running=None,
) -> None:
    """Step through a layer's (or a trace's) accesses one at a time: what each did at
    every level, and the touched set after it.

    For each access of the window: its index, read or write, tensor, address and loop
    indices; the address's tag | set | offset at the level shown; at every level it
    reached, hit or miss (a miss with its 3C kind: compulsory, capacity or conflict),
    the line evicted and whether it was written back; then the set's lines, most recent first
    (LRU), newest first (FIFO) or by way (random). A summary line ends the window. The
    filters choose which of the window's accesses are shown; the summary counts them all.

    Examples:

    **simcache explain thesis --layer depthwise -F 8 -M 4** (the first 20 accesses)

    **simcache explain thesis --layer spatial --preset early --start 1000000 --steps 8
    --level L1** (deep inside a large layer: what comes before is simulated)

    **simcache explain thesis --layer depthwise -F 32 -M 16 --steps 300 --level L1 --set 0
    --misses-only** (the misses of one set: 16 channels of 4 KiB compete for it)

    **simcache explain thesis --trace traces/spatial_f8.din --steps 10 -f json**
    """
    preset = dims.pop("preset")
    dtype_bytes = dims.pop("dtype_bytes")

    def target() -> tuple[str, Path | None]:
        path = check_target(output, "--output") if output is not None else None
        f = _value(fmt) or ("json" if output and output.lower().endswith(".json") else "table")
        return f, path

    (f, path), = _gather(target)
    layer_dims = _layer_or_trace(trace_file, layer, preset, batch, dims, dtype_bytes)
    with _progress(running["progress"], "simulating up to --start") as update:
        result = _api(api.explain, config, _value(layer), trace=trace_file,
                      trace_format=_value(trace_format), start=start, steps=steps,
                      level=level, set_index=set_index, tensor=_value(tensor),
                      misses_only=misses_only, preset=preset, progress=update,
                      on_start=_prepare_trace(True), **layer_dims)
    from . import explain_view

    doc = result.to_dict()
    if f == "json":
        _emit(report.to_json(doc), path)
    elif path is None:
        _show(lambda c: explain_view.show(c, doc))
    else:
        _emit(explain_view.text(doc), path)


# ---------------------------------------------------------------- studies


@contextmanager
def _sweep_progress(enabled: bool, name: str):
    """A bar of a sweep's points: done and failed, and the time left from the points'
    estimated costs (a slow point counts for more than a fast one)."""
    if not (enabled and err.is_terminal):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[points]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"sweep {name}", total=None, points="")

        def update(done: int, total: int, est_done: float, est_total: float) -> None:
            bar.update(task, completed=est_done, total=est_total,
                       points=f"{done}/{total} points")

        yield update


SWEEP_TABLE_ROWS = 100  # a larger sweep's rows are left to `simcache results`


def _spec_name(spec: str) -> str:
    return Path(spec).stem


@app.command()
def sweep(
    spec: Annotated[str, typer.Argument(
        metavar="SPEC", help="A sweep spec (YAML): `axes` (config, layer or network, batch, "
        "order, tiles, layer dimensions, LEVEL.FIELD overrides such as L1D.size), "
        "optionally `zip` (axes that advance together) and `fixed` (values for every "
        "point). See docs/model.md, Sweeps, and docs/studies/.", show_default=False)],
    db: Annotated[str | None, typer.Option(
        "--db", metavar="FILE", help="The results store (SQLite), created if missing; "
        "points it holds are not run again. Default: the spec's path with the suffix .db.",
        show_default=False)] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", help="Local worker processes (default: the cores available; 1: "
        "run in this process).", parser=whole(1), show_default=False)] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", metavar="ADDRESS|FILE", help="Send the points to a running Dask "
        "cluster: its scheduler's address (tcp://host:8786) or scheduler file. Needs "
        "`pip install 'simcache[dask]'`.", show_default=False)] = None,
    cluster: Annotated[str | None, typer.Option(
        "--cluster", metavar="local:N", help="Start a local Dask cluster of N worker "
        "processes for this sweep (no dashboard).", show_default=False)] = None,
    progress: Annotated[bool, typer.Option(
        "--progress/--no-progress", help="Show a progress bar (terminal only).")] = True,
) -> None:
    """Run every point of a sweep spec into a results store, point by point.

    Each point (a combination of axis values) is committed as soon as it finishes: run the
    same command again after an interrupt (Ctrl-C) or a failure and only the missing
    points run. A point whose values make an invalid config or layer is recorded as
    failed, with its error, and the others run. The results: **simcache results DB**.

    Example: **simcache sweep docs/studies/l1-size.yaml --jobs 2**
    """
    name = _spec_name(spec)
    with _sweep_progress(progress, name) as update:
        try:
            result = _api(api.sweep, spec, db, jobs=jobs, scheduler=scheduler,
                          cluster=cluster, progress=update, on_start=_on_start(jobs))
        except Terminated as exc:
            _say(f"simcache: stopped by signal {exc.signum}; every finished point is in the "
                 "store: run the same command again to finish")
            raise typer.Exit(128 + exc.signum) from None
    o = result.outcome
    where = f" on {o.where}" if o.where else ""
    kept = (f"{o.done_before + o.ran + o.failed} of {result.points} points in {result.db}")
    if result.interrupted:
        _say(f"simcache: interrupted: {kept} ({o.ran} finished now, {o.left} not run); run "
             "the same command again to finish")
        _STOPPED["said"] = True
        raise typer.Exit(130)
    dup = f", {result.duplicates} listed twice" if result.duplicates else ""
    _say(f"simcache: sweep {result.name}: {result.points} points{dup}: {o.ran} run now"
         f"{where} in {o.seconds:.1f} s, {o.failed} failed, {o.done_before} done before; "
         f"results: simcache results {result.db}")
    table = api.results(result.db, sweep=result.name)
    if len(table.rows) <= SWEEP_TABLE_ROWS:
        title = f"simcache {__version__} · sweep {result.name} · {result.db}"
        _show(lambda c: report.show(c, title, lambda compact: report.results_table(
            table.rows, table.axes, compact)))
    if result.errors:
        raise SimcacheError([f"point {e}" for e in result.errors])


def _where(items: list[str] | None) -> dict[str, str]:
    out, bad = {}, []
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            bad.append(f"--where: {item!r}: give AXIS=VALUE (batch=4, config=server)")
        else:
            out[key.strip()] = value.strip()
    if bad:
        raise SimcacheError(bad)
    return out


WhereOpt = Annotated[list[str] | None, typer.Option(
    "--where", "-w", metavar="AXIS=VALUE", help="Only the points with this axis value "
    "(compared as written in the spec); repeat for several.", show_default=False)]
SweepOpt = Annotated[str | None, typer.Option(
    "--sweep", help="Only this sweep's points (a store may hold several).",
    show_default=False)]
DbArg = Annotated[str, typer.Argument(metavar="DB", help="A results store written by "
                                      "simcache sweep.", show_default=False)]


@app.command()
def results(
    db: DbArg,
    where: WhereOpt = None,
    sweep_name: SweepOpt = None,
    failed: Annotated[bool, typer.Option(
        "--failed", help="Only the failed points, with their errors.")] = False,
    fmt: Annotated[Format | None, typer.Option(
        "--format", "-f", help="table, json or csv (default: table, or the --output file's "
        "extension).", show_default=False)] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write to this file instead of standard "
        "output.", show_default=False)] = None,
) -> None:
    """The points of a results store: a row each, the axes as columns, then cycles,
    energy, DRAM traffic and every level's hits, misses and hit rate (json and csv give
    every column).

    Example: **simcache results docs/studies/l1-size.db --where batch=4 --format csv**
    """
    (fmt_, path), wh = _gather(lambda: _out({"fmt": _value(fmt), "output": output}),
                               lambda: _where(where))
    table = _api(api.results, db, sweep=sweep_name, where=wh,
                 status="failed" if failed else None)
    title = f"simcache {__version__} · results · {db}"
    errors = [f"{', '.join(f'{a}={r.get(a)}' for a in table.axes if a in r)}: {r['error']}"
              for r in table.rows if r["status"] != "done"]
    if fmt_ == "table" and not table.rows:
        _say("simcache: no point matches" if where or failed else "simcache: the store "
             "holds no point")
    _emit_rendered(fmt_, path, table.to_dict(), table.rows,
                   lambda compact: report.results_table(table.rows, table.axes, compact),
                   title, [f"failed: {e}" for e in errors])


@app.command()
def plot(
    db: DbArg,
    x: Annotated[str, typer.Option("--x", metavar="AXIS", help="The axis along x "
                                   "(batch, L1D.size, config, ...).", show_default=False)],
    y: Annotated[str, typer.Option(
        "--y", metavar="METRIC", help="What to plot: a column of `simcache results DB "
        "--format csv` (cycles_per_mac, dram_bytes_per_mac, energy_per_mac_pj_high, "
        "L1D.hit_rate, L2.misses, ...).", show_default=False)],
    hue: Annotated[str | None, typer.Option(
        "--hue", metavar="AXIS", help="One line (colour) per value of this axis; the other "
        "axes that vary give one line each too.", show_default=False)] = None,
    where: WhereOpt = None,
    sweep_name: SweepOpt = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="The figure: .png, .svg, .pdf (or .eps, "
        ".ps). Default: DB's name with -Y-by-X.png, beside it.", show_default=False)] = None,
) -> None:
    """Draw a sweep's results: METRIC against AXIS, a line per value of --hue.

    Example: **simcache plot docs/studies/l1-size.db --x batch --y dram_bytes_per_mac
    --hue L1D.size --where config=mobile_soc**
    """
    from . import plots

    wh = _api(_where, where)
    target = output or str(Path(db).with_name(
        f"{Path(db).stem}-{re.sub(r'[^A-Za-z0-9_.-]', '_', y)}-by-"
        f"{re.sub(r'[^A-Za-z0-9_.-]', '_', x)}.png"))
    path = _api(plots.check_plot, target, "--output", "simcache plot")
    table = _api(api.results, db, sweep=sweep_name, where=wh, status="done")
    fig = _api(plots.sweep_figure, table.to_dict(), x, y, hue)
    plots.save(fig, path, "--output")
    _say(f"simcache: drew the figure in {path}")


# ---------------------------------------------------------------- compile


@app.command(name="compile")
def compile_(
    families: Annotated[list[str] | None, typer.Argument(
        metavar="[FAMILY]...", help="Kernel families: plain-nest, plain-guarded, plain-trace, "
        "3c-..., pf-..., mrc-... (or a variant, such as pf, for its three). Default: all.",
        show_default=False)] = None,
    every: Annotated[bool, typer.Option(
        "--all", help="Every family (the default when none is named).")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", help="Processes that compile at once (default: the cores "
        "available).", parser=whole(1), show_default=False)] = None,
) -> None:
    """Compile the simulation kernels now (or load them from the cache), so that no later
    command compiles: one line per family, compiled or loaded, with the time it took.

    Each family (a variant of the request path and one of its loops) is compiled for a
    first level of few ways and of many. For users before a lab, for lab machines and for
    CI: **simcache compile --all**
    """
    names = families or []
    if every and names:
        raise SimcacheError(["--all: give --all or FAMILY names, not both"])
    chosen = _api(api.kernel_families, names)
    if kernels.CACHE_NOTE:
        _say(kernels.CACHE_NOTE)
    seen: dict[str, list] = {}

    def start(units: int, workers: int, seconds: float) -> None:
        about = f", about {seconds:.0f} s" if seconds >= 10 else ""
        fams = f"{len(chosen)} kernel famil{'ies' if len(chosen) > 1 else 'y'}"
        _say(f"simcache: {fams} ({units} units) on {workers} "
             f"process{'es' if workers > 1 else ''}{about}")
        _ready()

    def done(unit, seconds: float, compiled: bool) -> None:
        family, _ = unit
        seen.setdefault(family, []).append((seconds, compiled))
        if len(seen[family]) == 2:  # both kinds of first level
            took = sum(t for t, _ in seen[family])
            what = "compiled" if any(c for _, c in seen[family]) else "loaded"
            _say(f"simcache: {family}: {what} in {took:.1f} s")

    _api(api.compile_kernels, chosen, jobs=jobs, done=done, on_start=start)


# ---------------------------------------------------------------- host


HostFormat = _choices("HostFormat", ("yaml", "json"))


@app.command()
def host(
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write the config to this file (whole, once "
        "every measurement is done) instead of standard output.", show_default=False)] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Fewer repetitions of each calibration loop (about 5 s instead of "
        "10 s; noisier on a loaded machine).")] = False,
    fmt: Annotated[HostFormat | None, typer.Option(
        "--format", "-f", help="yaml (with a comment header) or json. Default: yaml, or "
        "the --output file's extension.", show_default=False)] = None,
    sysfs: Annotated[str | None, typer.Option(
        "--sysfs", hidden=True, help="Another root for /sys/devices/system/cpu (tests); "
        "also SIMCACHE_SYSFS_ROOT.")] = None,
) -> None:
    """Write a config of the machine this runs on, for `simcache run FILE`: cache sizes,
    ways and lines from /sys/devices/system/cpu; the clock, every level's latency, main
    memory's latency and bandwidth, and the core's latencies and widths measured by small C
    loops compiled with the machine's cc. Each field's source says measured (how, when),
    read (which file) or assumed (energies: Horowitz's 45 nm figures).

    Example: **simcache host -o out/host.yaml**, then **simcache run out/host.yaml --layer
    depthwise**
    """
    path = check_target(output, "--output") if output is not None else None
    kind = _value(fmt) or ("json" if output and output.lower().endswith(".json") else "yaml")
    result = _api(api.host_config, quick=quick, sysfs=sysfs,
                  progress=lambda text: _say(f"simcache host: {text}"))
    _emit(result.render(kind), path)
    if path is not None:
        _say(f"simcache host: wrote {path}")
    if result.problems:
        where = path if path is not None else "standard output"
        raise SimcacheError([*result.problems, f"simcache host: wrote the config to {where} "
                             f"without what is missing above"])


# ---------------------------------------------------------------- entry point


def _is_usage_error(exc: Exception) -> bool:
    # Typer raises click's UsageError, or (typer >= 0.20) its vendored copy: same interface.
    return getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message")


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so that temporary files are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame):
    raise Terminated(signum)


_PLAIN = {"–": "-", "—": "-", "·": "|", "µ": "u", "×": "x", "÷": "/", "→": "->", "…": "...",
          "≥": ">=", "≤": "<=", "²": "^2", "Σ": "sum", "’": "'"}


def _plain(exc: UnicodeError):
    """An encoding error handler: typography a terminal cannot show becomes ASCII."""
    text = exc.object[exc.start:exc.end]
    return "".join(_PLAIN.get(ch, "?") for ch in text), exc.end


codecs.register_error("simcache-plain", _plain)


def _plain_streams() -> None:
    """Standard output and error that cannot encode '–' or '·' print ASCII for them."""
    for stream in (sys.stdout, sys.stderr):
        enc = getattr(stream, "encoding", None)
        if not enc or not hasattr(stream, "reconfigure"):
            continue
        try:
            "–·µ×÷→".encode(enc)
        except UnicodeEncodeError:
            stream.reconfigure(errors="simcache-plain")
        except LookupError:
            pass


def _problems(lines: list[str]) -> None:
    for line in lines:
        err.print(f"error: {line}", soft_wrap=True, markup=False)


def main(argv: list[str] | None = None) -> None:
    """Console script: one line per problem and exit code 2 on bad input, never a traceback;
    130 on Ctrl-C, 128 + N on signal N, leaving no temporary file."""
    handlers = {}  # first of all: a signal from now on unwinds (exit 128 + N, no file left)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            handlers[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not the main thread
            pass
    _plain_streams()
    _STOPPED.clear()
    try:
        code = app(args=argv, prog_name="simcache", standalone_mode=False)
    except SimcacheError as exc:
        _problems(exc.problems)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except Terminated as exc:
        _say(f"simcache: stopped by signal {exc.signum}; nothing was written")
        sys.exit(128 + exc.signum)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err.print(f"error: {exc.format_message()}{hint}", soft_wrap=True, markup=False)
        sys.exit(2)
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)
    if code == 130 and not _STOPPED.pop("said", False):  # typer turns Ctrl-C into 130;
        # a command that kept what finished has said so (_stop_partial, sweep)
        _say("simcache: interrupted; nothing was written")
    if isinstance(code, int) and code:
        sys.exit(code)



# ---------------------------------------------------------------- mrc (miss-ratio curves)


def _mrc_prepare(geometries, jobs, trace: bool) -> None:
    """Load (or compile, saying so) the mrc kernels: the tap loops for the levels above
    the measured one (a layer's nests, guarded or not, or trace arrays) and the stacks."""
    hashed = engine.hashed_first_level(geometries[0])
    if trace:
        loops = {"trace"}
    else:
        loops = {"guarded" if n.limits else "nest" for j in jobs for n in plan(j.layer).nests}
    _warm({(f"mrc-{loop}", hashed) for loop in loops})


@app.command()
@_with("dims", "out", "running", drop=("jobs",))
def mrc(
    config: ConfigArg,
    level: Annotated[str | None, typer.Option(
        "--level", help="The cache level whose miss-ratio curves are measured (its name in "
        "the config).", show_default=False, rich_help_panel="Curves")] = None,
    layer: Annotated[LayerType | None, typer.Option(
        "--layer", "-l", help="Layer type (or give --trace).", show_default=False)] = None,
    trace_file: Annotated[str | None, typer.Option(
        "--trace", metavar="FILE", help="A trace file instead of a layer (.din, .bin, .npz, "
        ".lackey, optionally .gz).", show_default=False)] = None,
    trace_format: TraceFormatOpt = None,
    batch: OneBatchOpt = 1,
    sizes: Annotated[str | None, typer.Option(
        "--sizes", metavar="SIZE,...", help="More capacities to list, in bytes or with a "
        "unit (48KiB,96KiB); each a whole number of the level's lines.", show_default=False,
        rich_help_panel="Curves")] = None,
    max_size: Annotated[str | None, typer.Option(
        "--max-size", metavar="SIZE", help="The largest fully associative capacity measured "
        "(default: 4x the level, or the config's largest cache if larger); memory grows "
        "with it, 72 to 104 B per line.", show_default=False, rich_help_panel="Curves")] = None,
    max_ways: Annotated[int | None, typer.Option(
        "--max-ways", help="The most ways measured with the level's sets (default: 4x its "
        "ways, at least 16).", parser=whole(1), show_default=False,
        rich_help_panel="Curves")] = None,
    dims=None, out=None, running=None,
) -> None:
    """Miss ratio of one cache level against its capacity, for every size at once: one pass
    over the requests that reach the level, with LRU stack distances.

    Two curves, both LRU with the level's line: fully associative, exact for every number
    of lines, and with the level's number of sets, exact for every number of ways. A
    FIFO or random level gets LRU's curve (the output says so); a level that does not
    allocate on write misses is refused.

    Examples:

    **simcache mrc thesis --layer depthwise -F 56 --level L1 --plot l1.png**

    **simcache mrc thesis --trace traces/spatial_f8.din --level L2 -f json**
    """
    preset = dims.pop("preset")
    dtype_bytes = dims.pop("dtype_bytes")

    def sizes_list() -> list[str]:
        if sizes is None:
            return []
        parts = [p.strip() for p in sizes.split(",")]
        if not all(parts):
            raise SimcacheError([f"--sizes: {sizes!r} has an empty entry"])
        return parts

    (fmt, output), figure, extra = _gather(lambda: _out(out), lambda: _plot_target(out),
                                           sizes_list)
    layer_dims = _layer_or_trace(trace_file, layer, preset, batch, dims, dtype_bytes,
                                 tile=True)
    with _progress(running["progress"], "measuring stack distances") as update:
        result = _api(api.mrc, config, _value(layer), level=level, trace=trace_file,
                      trace_format=_value(trace_format), sizes=extra, max_size=max_size,
                      max_ways=max_ways, preset=preset, progress=update,
                      on_start=lambda geometries, jobs: _mrc_prepare(
                          geometries, jobs, trace_file is not None),
                      **layer_dims)
    doc = result.to_dict()
    if fmt == "csv":
        _emit(report.rows_to_csv(report.mrc_rows(doc)), output)
    else:
        _emit_rendered(fmt, output, doc, report.mrc_rows(doc),
                       lambda compact: report.mrc_table(doc, compact), report.mrc_title(doc),
                       report.mrc_footer(doc))
    _draw(figure, doc)


if __name__ == "__main__":
    main()
