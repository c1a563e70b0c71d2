"""The simcache command line. The only place that prints errors and chooses exit codes."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__, engine
from .accounting import summarize
from .config import ConfigError, Hierarchy, load_hierarchy
from .layers import LAYER_TYPES, Layer, LayerError, build_layer
from .report import FORMATS, print_table, render, write_atomic

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
    "--layer", "-l", help=f"Layer type: {', '.join(LAYER_TYPES)}.", show_default=False)]
PresetOpt = Annotated[str | None, typer.Option(
    "--preset", help="Dimensions of Table 2.2: early (M=N=32, F=112, K=3) or late "
    "(M=N=512, F=7, K=3), G=4. Without it the early dimensions are defaults that each "
    "flag overrides; with it, a contradicting flag is an error.", show_default=False)]
BatchOpt = Annotated[int, typer.Option("-B", "--batch", help="Batch size B.")]
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


def _prepare() -> None:
    """Load (or on the first run, compile) the kernels, saying so when it takes a while."""
    if err.is_terminal:
        with err.status("loading the simulation kernels (compiled once, then cached)…"):
            seconds, compiled = engine.warm_up()
    else:
        seconds, compiled = engine.warm_up()
    if compiled:
        err.print(f"simcache: compiled the simulation kernels in {seconds:.1f} s "
                  "(first run only; later runs reuse the cache)")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomic(output, text)


# ---------------------------------------------------------------- commands


@app.command()
def run(
    config: ConfigArg,
    layer: LayerOpt,
    preset: PresetOpt = None,
    batch: BatchOpt = 1,
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
    progress: ProgressOpt = True,
) -> None:
    """Simulate one layer on one hardware config and report every level.

    Example: [bold]simcache run configs/mobile_soc.yaml --layer depthwise[/bold]
    """
    problems: list[str] = []
    try:
        hierarchy = _load(config)
    except UserError as exc:
        problems += exc.problems
    try:
        lay = _layer(layer, preset, B=batch, M=M, N=N, F=F, K=K, G=G, stride=stride,
                     padding=padding, pad=pad, order=order, dtype_bytes=dtype_bytes)
    except UserError as exc:
        problems += exc.problems
    try:
        fmt = _format(fmt, output)
        _check_output(output)
    except UserError as exc:
        problems += exc.problems
    if problems:
        raise UserError(problems)

    _prepare()
    with _progress(progress, f"{lay.type} on {hierarchy.name}") as update:
        result = engine.simulate(hierarchy, lay, progress=update)
    summary = summarize(result, hierarchy, str(config))
    if fmt == "table" and output is None:
        print_table(summary, Console(highlight=False), by_tensor)
    else:
        _emit(render(summary, fmt, by_tensor), output)


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
