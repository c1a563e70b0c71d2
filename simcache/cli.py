"""The simcache command line. The only place that prints errors and chooses exit codes."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__, engine, report
from .accounting import (
    compare_rows,
    metrics_row,
    network_rows,
    network_totals,
    study_row,
    summarize,
)
from .config import ConfigError, Geometry, Hierarchy, load_hierarchy
from .layers import (
    CONV_TYPES,
    LAYER_TYPES,
    PRESET_TYPES,
    TABLE_2_2,
    Layer,
    LayerError,
    as_printed,
    build_layer,
)
from .network import NetworkError, load_network
from .report import FORMATS, print_table, render, write_atomic
from .study import Job, default_workers, estimate_seconds, run_jobs
from .traces import FORMATS as TRACE_FORMATS
from .traces import TraceError, TraceReader, write_trace

app = typer.Typer(
    name="simcache",
    help="Show exactly what a neural-network layer does to a memory hierarchy: the layer's "
    "loop nest is replayed through registers, caches and DRAM, and every level reports "
    "hits, misses, write-backs, cycles and energy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

err = Console(stderr=True, highlight=False)


class UserError(Exception):
    """Bad input: one line per problem, exit code 2."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# the document's symbols, as flags
FLAG_NAMES = {"B": "-B/--batch", "M": "-M", "N": "-N", "F": "-F", "K": "-K", "G": "-G",
              "stride": "--stride", "padding": "--padding", "pad": "--pad", "order": "--order",
              "dtype_bytes": "--dtype-bytes", "preset": "--preset", "layer": "--layer",
              "type": "--layer"}


def _flag_problems(problems: list[str]) -> list[str]:
    """'K: message' → '-K: message'."""
    out = []
    for p in problems:
        field, sep, msg = p.partition(": ")
        out.append(f"{FLAG_NAMES.get(field, field)}: {msg}" if sep else p)
    return out


# ---------------------------------------------------------------- shared options

ConfigArg = Annotated[Path, typer.Argument(
    help="Hardware config (YAML): cache levels innermost first, then memory. "
    "See configs/thesis.yaml.", show_default=False)]
LayerOpt = Annotated[str, typer.Option(
    "--layer", "-l", help=f"Layer type: {', '.join(LAYER_TYPES)}; several separated by "
    "commas, or 'all'.", show_default=False)]
OneLayerOpt = Annotated[str, typer.Option(
    "--layer", "-l", help=f"Layer type: {', '.join(LAYER_TYPES)}.", show_default=False)]
PresetOpt = Annotated[str | None, typer.Option(
    "--preset", help="Dimensions of Table 2.2: early (M=N=32, F=112, K=3) or late "
    "(M=N=512, F=7, K=3), G=4; or vgg16-fc1 (fc, M=7·7·512, N=4096). Without it the early "
    "dimensions are defaults that each flag overrides; with it, a contradicting flag is an "
    "error.", show_default=False)]
BatchOpt = Annotated[str, typer.Option(
    "-B", "--batch", help="Batch size B; several separated by commas (1,2,4,8) for a study.")]
OneBatchOpt = Annotated[int, typer.Option("-B", "--batch", help="Batch size B.")]
JobsOpt = Annotated[int | None, typer.Option(
    "--jobs", "-j", help="Simulations run at once when there are several (default: the "
    "cores available).", show_default=False)]
DimF = Annotated[int | None, typer.Option("-F", help="Input height and width F.",
                                          show_default=False)]
DimM = Annotated[int | None, typer.Option("-M", help="Input channels M.", show_default=False)]
DimN = Annotated[int | None, typer.Option("-N", help="Output channels (filters) N.",
                                          show_default=False)]
DimK = Annotated[int | None, typer.Option("-K", help="Kernel height and width K.",
                                          show_default=False)]
DimG = Annotated[int | None, typer.Option("-G", help="Groups G (group convolution).",
                                          show_default=False)]
StrideOpt = Annotated[int, typer.Option("--stride", help="Stride S.")]
PaddingOpt = Annotated[str, typer.Option(
    "--padding", help="skip: taps outside the input make no access; explicit: the input is "
    "stored pre-padded and every tap reads memory.")]
PadOpt = Annotated[int | None, typer.Option(
    "--pad", help="Symmetric padding amount (default: K//2 before, K-1-K//2 after, which "
    "keeps F' = F at stride 1).", show_default=False)]
OrderOpt = Annotated[str, typer.Option(
    "--order", help="Loop order, outermost first: a permutation of b i j n m p q "
    "(batch, output row, output col, filter, channel, kernel row, kernel col).")]
DtypeOpt = Annotated[int, typer.Option("--dtype-bytes", help="Bytes per element: 1, 2, 4 or 8.")]
FormatOpt = Annotated[str | None, typer.Option(
    "--format", "-f", help="table (for people), json or csv (for programs). Default: table, "
    "or the --output file's extension.", show_default=False)]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write the result to this file (whole or not at all) instead of "
    "standard output.", show_default=False)]
ByTensorOpt = Annotated[bool, typer.Option(
    "--by-tensor", help="Break every level down by tensor (x, w, y) in the table.")]
ProgressOpt = Annotated[bool, typer.Option(
    "--progress/--no-progress", help="Show a progress bar on long runs (terminal only).")]


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


def _load(config: Path) -> Hierarchy:
    try:
        return load_hierarchy(config)
    except ConfigError as exc:
        raise UserError(exc.problems) from None


def _layer(layer: str, preset: str | None, **dims) -> Layer:
    try:
        return build_layer(layer, preset, **dims)
    except LayerError as exc:
        raise UserError(_flag_problems(exc.problems)) from None


def _format(fmt: str | None, output: Path | None) -> str:
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output else ""
        return suffix if suffix in ("json", "csv") else "table"
    if fmt not in FORMATS:
        raise UserError([f"--format: {fmt!r} is not one of {', '.join(FORMATS)}"])
    return fmt


def _output(fmt: str | None, output: Path | None) -> str:
    """The report format, once the output path is known to be writable."""
    _check_output(output)
    return _format(fmt, output)


def _check_output(output: Path | None) -> None:
    if output is not None and not output.parent.is_dir():
        raise UserError([f"--output: directory {str(output.parent)!r} does not exist"])


@contextmanager
def _progress(enabled: bool, what: str):
    """A progress callback: a bar on a terminal, nothing otherwise."""
    if not (enabled and err.is_terminal):
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _prepare(geometries: list[list[Geometry]]) -> None:
    """Load (or on the first run, compile) the kernels these hierarchies need, saying so
    when it takes a while."""
    kinds = {engine.hashed_first_level(g) for g in geometries}
    if err.is_terminal:
        with err.status("loading the simulation kernels (compiled once, then cached)…"):
            seconds, compiled = engine.warm_up(kinds)
    else:
        seconds, compiled = engine.warm_up(kinds)
    if compiled:
        err.print(f"simcache: compiled the simulation kernels in {seconds:.1f} s "
                  "(first run only; later runs reuse the cache)")


def _announce(jobs: list[Job], workers: int | None) -> None:
    """Say beforehand when a run will take a while."""
    seconds = estimate_seconds(jobs, workers)
    if seconds >= 10:
        w = max(1, min(workers or default_workers(), len(jobs)))
        span = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
        err.print(f"simcache: {len(jobs)} simulation{'s' if len(jobs) > 1 else ''} on {w} "
                  f"core{'s' if w > 1 else ''}: about {span} (estimate)")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text)


def _batches(text: str) -> list[int]:
    out, bad = [], []
    for part in text.split(","):
        part = part.strip()
        if part.isdigit() and int(part) > 0:
            out.append(int(part))
        else:
            bad.append(part)
    if bad:
        shown = ", ".join(repr(b) for b in bad)
        raise UserError([f"-B/--batch: {shown} is not a positive whole number (e.g. -B 1,2,4)"])
    return list(dict.fromkeys(out))


def _types(text: str) -> list[str]:
    if text.strip() == "all":
        return list(LAYER_TYPES)
    types = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in types if t not in LAYER_TYPES]
    if bad or not types:
        raise UserError([f"--layer: unknown layer type {b!r}; choose from "
                         f"{', '.join(LAYER_TYPES)} or all" for b in bad or [text]])
    return list(dict.fromkeys(types))


# dimensions a layer type fixes, left to the type when several types run at once
_FIXED = {"pointwise": ("K",), "fc": ("F", "K"), "depthwise": ("N",)}


def _layers(types: list[str], batches: list[int], preset: str | None, **dims) -> list[Layer]:
    """Every (type, batch) layer, or every problem with them."""
    layers, problems = [], []
    for t in types:
        given = dict(dims)
        if len(types) > 1:
            for d in _FIXED.get(t, ()):
                given[d] = None
            if t != "group":
                given["G"] = None
            if t not in PRESET_TYPES.get(preset, (t,)):
                continue  # a preset of one layer type (vgg16-fc1) applies to that type only
        for b in batches:
            try:
                layers.append(_layer(t, preset, B=b, **given))
            except UserError as exc:
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise UserError(problems)
    return layers


def _gather(*steps):
    """Run every check, then raise all problems together (one line each)."""
    problems, values = [], []
    for step in steps:
        try:
            values.append(step())
        except UserError as exc:
            problems += exc.problems
            values.append(None)
    if problems:
        raise UserError(problems)
    return values


def _emit_rendered(fmt: str, output: Path | None, doc: dict, rows: list[dict], build,
                   title: str, footer: list[str] = ()) -> None:
    """A table (built to fit), the JSON document, or the rows as CSV."""
    if fmt == "table":
        if output is None:
            report.show(Console(highlight=False), title, build, footer)
        else:
            _emit(report.text(title, build, footer), output)
    elif fmt == "json":
        _emit(report.to_json(doc), output)
    else:
        _emit(report.rows_to_csv(rows), output)


@app.command()
def run(
    config: ConfigArg,
    layer: LayerOpt,
    preset: PresetOpt = None,
    batch: BatchOpt = "1",
    F: DimF = None,
    M: DimM = None,
    N: DimN = None,
    K: DimK = None,
    G: DimG = None,
    stride: StrideOpt = 1,
    padding: PaddingOpt = "skip",
    pad: PadOpt = None,
    order: OrderOpt = "bijnmpq",
    dtype_bytes: DtypeOpt = 4,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    by_tensor: ByTensorOpt = False,
    jobs: JobsOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Simulate a layer on a hardware config and report every level.

    One layer and one batch size give the full report; several (--layer all, -B 1,2,4,8)
    give one row each: hit rates, cycles, energy and DRAM bytes per MAC.

    Example: [bold]simcache run configs/mobile_soc.yaml --layer depthwise[/bold]
    """
    dims = dict(M=M, N=N, F=F, K=K, G=G, stride=stride, padding=padding, pad=pad, order=order,
                dtype_bytes=dtype_bytes)
    hierarchy, layers, fmt = _gather(
        lambda: _load(config),
        lambda: _layers(_types(layer), _batches(batch), preset, **dims),
        lambda: _output(fmt, output),
    )
    work = [Job(hierarchy, lay) for lay in layers]
    _prepare([j.geometry() for j in work])
    _announce(work, jobs)
    with _progress(progress, f"simulating on {hierarchy.name}") as update:
        results = run_jobs(work, jobs, update)
    summaries = [summarize(r, hierarchy, str(config)) for r in results]
    if len(summaries) == 1:
        summary = summaries[0]
        if fmt == "table" and output is None:
            print_table(summary, Console(highlight=False), by_tensor)
        else:
            _emit(render(summary, fmt, by_tensor), output)
        return
    rows = [study_row(s) for s in summaries]
    names = hierarchy.level_names[:-1]
    doc = {"simcache": __version__, "config": summaries[0]["config"], "rows": rows,
           "runs": summaries}
    first = summaries[0]["layer"]
    title = (f"simcache {__version__} · {hierarchy.name} · M={first['M']} N={first['N']} "
             f"F={first['F']} K={first['K']} · padding {first['padding']} · order "
             f"{first['order']}")
    _emit_rendered(fmt, output, doc, rows, lambda c: report.study_table(rows, names, c), title)


@app.command()
def compare(
    configs: Annotated[list[Path], typer.Argument(
        help="Two or more hardware configs; ratios are to the first.", show_default=False)],
    layer: OneLayerOpt,
    preset: PresetOpt = None,
    batch: OneBatchOpt = 1,
    F: DimF = None,
    M: DimM = None,
    N: DimN = None,
    K: DimK = None,
    G: DimG = None,
    stride: StrideOpt = 1,
    padding: PaddingOpt = "skip",
    pad: PadOpt = None,
    order: OrderOpt = "bijnmpq",
    dtype_bytes: DtypeOpt = 4,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    jobs: JobsOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """The same layer on several hardware configs, side by side.

    Example: [bold]simcache compare configs/mobile_soc.yaml configs/server.yaml --layer
    depthwise[/bold]
    """
    def load_all() -> list[Hierarchy]:
        if len(configs) < 2:
            raise UserError(["CONFIG: compare needs two or more configs"])
        out, problems = [], []
        for c in configs:
            try:
                out.append(_load(c))
            except UserError as exc:
                problems += exc.problems
        if problems:
            raise UserError(problems)
        return out

    hierarchies, lay, fmt = _gather(
        load_all,
        lambda: _layer(layer, preset, B=batch, M=M, N=N, F=F, K=K, G=G, stride=stride,
                       padding=padding, pad=pad, order=order, dtype_bytes=dtype_bytes),
        lambda: _output(fmt, output),
    )
    work = [Job(h, lay) for h in hierarchies]
    _prepare([j.geometry() for j in work])
    _announce(work, jobs)
    with _progress(progress, f"{lay.type} on {len(hierarchies)} configs") as update:
        results = run_jobs(work, jobs, update)
    summaries = [summarize(r, h, str(c)) for r, h, c in zip(results, hierarchies, configs,
                                                           strict=True)]
    rows = compare_rows(summaries)
    doc = {"simcache": __version__, "layer": summaries[0]["layer"], "rows": rows,
           "runs": summaries}
    title = f"simcache {__version__} · compare · {lay.describe()}"
    _emit_rendered(fmt, output, doc, rows, lambda c: report.compare_table(rows, c), title,
                   [f"{r['config']}: {s['config']['description']}" for r, s in
                    zip(rows, summaries, strict=True)])


@app.command()
def network(
    config: ConfigArg,
    model: Annotated[Path, typer.Argument(
        help="Network file: a layer list such as models/vgg16.yaml.", show_default=False)],
    batch: OneBatchOpt = 1,
    padding: PaddingOpt = "skip",
    order: OrderOpt = "bijnmpq",
    dtype_bytes: DtypeOpt = 4,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    jobs: JobsOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Every layer of a network on one hardware config: a row per layer, and the totals.

    Each layer starts with cold caches, as if run alone, so layers run in parallel.
    Layers that are not loop nests (pooling, concatenation, additions, activations) are
    listed as skipped.

    Example: [bold]simcache network configs/thesis.yaml models/squeezenet.yaml[/bold]
    """
    def load_net():
        try:
            return load_network(model, batch=batch, padding=padding, order=order,
                                dtype_bytes=dtype_bytes)
        except NetworkError as exc:
            raise UserError(exc.problems) from None

    hierarchy, net, fmt = _gather(
        lambda: _load(config),
        load_net,
        lambda: _output(fmt, output),
    )
    work = [Job(hierarchy, x.layer) for x in net.simulated]
    _prepare([j.geometry() for j in work])
    _announce(work, jobs)
    with _progress(progress, f"{net.name} on {hierarchy.name}") as update:
        results = run_jobs(work, jobs, update)
    summaries = [summarize(r, hierarchy, str(config)) for r in results]
    rows = network_rows(net, summaries)
    totals = network_totals(rows, summaries)
    skipped = [{"name": x.name, "type": x.type, "reason": x.skipped} for x in net.skipped]
    doc = {"simcache": __version__, "network": {"name": net.name, "source": net.source,
                                                "path": str(model)},
           "config": summaries[0]["config"] if summaries else None, "rows": rows,
           "totals": totals, "skipped": skipped, "runs": summaries}
    title = (f"simcache {__version__} · {net.name} on {hierarchy.name} · B={batch} · "
             f"padding {padding} · order {order}")
    _emit_rendered(fmt, output, doc, rows, lambda c: report.network_table(rows, totals, c),
                   title, report.network_footer(rows, totals, skipped))


TraceFormatOpt = Annotated[str | None, typer.Option(
    "--trace-format", help=f"Trace file format: {', '.join(TRACE_FORMATS)} (default: from the "
    "file name; .gz adds gzip). --format stays the report's format.", show_default=False)]


@app.command()
def trace(
    layer: OneLayerOpt,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Trace file to write: .din (Dinero IV text), .bin (Dinero IV "
        "binary), .npz (simcache, with tensor ids); .gz on .din or .bin adds gzip.",
        show_default=False)],
    preset: PresetOpt = None,
    batch: OneBatchOpt = 1,
    F: DimF = None,
    M: DimM = None,
    N: DimN = None,
    K: DimK = None,
    G: DimG = None,
    stride: StrideOpt = 1,
    padding: PaddingOpt = "skip",
    pad: PadOpt = None,
    order: OrderOpt = "bijnmpq",
    dtype_bytes: DtypeOpt = 4,
    trace_format: TraceFormatOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Write a layer's address stream to a trace file, streamed (whole or not at all).

    Example: [bold]simcache trace --layer depthwise -F 28 -o traces/depthwise.din[/bold]
    """
    from .loopnest import plan as make_plan
    from .traces import detect

    def fmt_ok():
        try:
            detect(output, trace_format)
        except TraceError as exc:
            raise UserError(exc.problems) from None
        _check_output(output)

    lay, _ = _gather(
        lambda: _layer(layer, preset, B=batch, M=M, N=N, F=F, K=K, G=G, stride=stride,
                       padding=padding, pad=pad, order=order, dtype_bytes=dtype_bytes),
        fmt_ok,
    )
    p = make_plan(lay)
    with _progress(progress, f"writing {output.name}") as update:
        try:
            n = write_trace(p, output, trace_format, update)
        except TraceError as exc:
            raise UserError(exc.problems) from None
    err.print(f"simcache: wrote {n:,} accesses of {lay.describe()} to {output} "
              f"({report.nbytes(output.stat().st_size)})")


@app.command()
def replay(
    config: ConfigArg,
    trace_file: Annotated[Path, typer.Argument(
        metavar="TRACE", help="Trace file: .din, .bin, .npz, .lackey (or --trace-format), "
        "optionally .gz.", show_default=False)],
    trace_format: TraceFormatOpt = None,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Skip records that do not parse, and count them, instead of "
        "stopping at the first.")] = False,
    dtype_bytes: Annotated[int, typer.Option(
        "--dtype-bytes", help="Element size, for levels whose line is 'element'.")] = 4,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    by_tensor: ByTensorOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Replay a trace file through a hardware config; report as `run` does.

    Example: [bold]simcache replay configs/thesis.yaml traces/spatial_small.din[/bold]
    """
    def open_trace() -> TraceReader:
        try:
            return TraceReader(trace_file, trace_format, skip_bad)
        except TraceError as exc:
            raise UserError(exc.problems) from None

    def dtype_ok() -> None:
        if dtype_bytes not in (1, 2, 4, 8):
            raise UserError([f"--dtype-bytes: {dtype_bytes} is not 1, 2, 4 or 8"])

    hierarchy, reader, fmt, _ = _gather(
        lambda: _load(config), open_trace,
        lambda: _output(fmt, output), dtype_ok,
    )
    _prepare([hierarchy.geometry(dtype_bytes)])
    with _progress(progress, f"replaying {trace_file.name}") as update:
        def chunks():
            for chunk in reader:
                if update is not None:
                    update(reader.position(), reader.size)
                yield chunk
        try:
            result = engine.simulate_trace(hierarchy, chunks(), dtype_bytes)
        except TraceError as exc:
            raise UserError(exc.problems) from None
    summary = summarize(result, hierarchy, str(config))
    summary["trace"] = {"path": str(trace_file), "format": reader.fmt + (".gz" if reader.gz
                                                                        else ""),
                        "accesses": reader.accesses, "instructions": reader.instructions,
                        "skipped": reader.skipped, "examples": reader.examples}
    if fmt == "table" and output is None:
        print_table(summary, Console(highlight=False), by_tensor)
    else:
        _emit(render(summary, fmt, by_tensor), output)


@app.command()
def metrics(
    layer: Annotated[str | None, typer.Option(
        "--layer", "-l", help="Layer type(s), comma separated, or 'all'.",
        show_default=False)] = None,
    table: Annotated[bool, typer.Option(
        "--all", help="Table 2.2 of the document: the five convolution types, early and late "
        "(or the --preset given), beside the printed figures.")] = False,
    preset: PresetOpt = None,
    batch: BatchOpt = "1",
    F: DimF = None,
    M: DimM = None,
    N: DimN = None,
    K: DimK = None,
    G: DimG = None,
    stride: StrideOpt = 1,
    pad: PadOpt = None,
    dtype_bytes: DtypeOpt = 4,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
) -> None:
    """Theoretical metrics (Eq. 2.1–2.4): MACs, parameters, activations, arithmetic intensity.

    Examples: [bold]simcache metrics --all[/bold] (Table 2.2);
    [bold]simcache metrics --layer fc --preset vgg16-fc1 -B 1,2,4,8,16,64,256[/bold]
    """
    dims = dict(M=M, N=N, F=F, K=K, G=G, stride=stride, pad=pad, dtype_bytes=dtype_bytes)
    if table:
        given = [name for name, v in (("--layer", layer), ("-B/--batch", batch != "1" or None))
                 if v is not None]
        given += [f"-{d}" for d in "MNFKG" if dims[d] is not None]
        problems = [f"{g}: --all prints Table 2.2 (B = 1, its own dimensions); drop {g}"
                    for g in given]
        if preset not in (None, "early", "late"):
            problems.append(f"--preset: Table 2.2 has early and late, not {preset!r}")
        fmt = _gather(lambda: _output(fmt, output))[0]
        if problems:
            raise UserError(problems)
        presets = [preset] if preset else ["early", "late"]
        rows = []
        for t in CONV_TYPES:
            for p in presets:
                r = metrics_row(build_layer(t, p), p)
                printed = TABLE_2_2[(t, p)]
                r["printed"] = list(printed)
                r["ours"] = [as_printed(v, c) for v, c in
                             zip((r["params"], r["macs"], r["intensity"]), printed, strict=True)]
                rows.append(r)
        footer = ["* differs from the printed Table 2.2 (the dim row); docs/model.md "
                  "explains each difference:",
                  "  spatial intensity: the document divided the rounded 1.16e8 MACs;",
                  "  separable: both factors (K×1 and 1×K) are counted, the document counts one;",
                  "  group late params: 589,824 rounds to 5.90e5; the document truncated it."]
        flat = [{k: (";".join(v) if isinstance(v, list) else v) for k, v in r.items()}
                for r in rows]
        _emit_rendered(fmt, output, {"simcache": __version__, "rows": rows}, flat,
                       lambda c: report.table_2_2(rows, c),
                       "Table 2.2 (Wu 2019): theoretical metrics, B = 1, G = 4", footer)
        return
    layers, fmt = _gather(
        lambda: _layers(_types(layer or "spatial"), _batches(batch), preset, **dims),
        lambda: _output(fmt, output),
    )
    rows = [metrics_row(lay, preset) for lay in layers]
    footer = []
    for t in dict.fromkeys(r["layer"] for r in rows):
        limit = next(r["intensity_limit"] for r in rows if r["layer"] == t)
        if sum(r["layer"] == t for r in rows) > 1:
            footer.append(f"{t}: as B grows, intensity approaches {limit:.4g} MACs per element "
                          "(parameters are shared by the batch; Section 2.3)")
    _emit_rendered(fmt, output, {"simcache": __version__, "rows": rows}, rows,
                   lambda c: report.metrics_table(rows, c), "Theoretical metrics (Eq. 2.1–2.4)",
                   footer)


# ---------------------------------------------------------------- entry point


def _is_usage_error(exc: Exception) -> bool:
    # Typer raises click's UsageError, or (typer >= 0.20) its vendored copy: same interface.
    return getattr(exc, "exit_code", None) == 2 and hasattr(exc, "format_message")


def main(argv: list[str] | None = None) -> None:
    """Console script: one line per problem and exit code 2 on bad input, never a traceback."""
    try:
        app(args=argv, prog_name="simcache", standalone_mode=False)
    except UserError as exc:
        for line in exc.problems:
            err.print(f"error: {line}", soft_wrap=True, markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted; nothing was written")
        sys.exit(130)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err.print(f"error: {exc.format_message()}{hint}", soft_wrap=True, markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
