"""Figures of results: each is a function of a result document (`result.to_dict()`, the
JSON that `--format json` prints), never of kernel state.

matplotlib is optional (`pip install 'simcache[plot]'`) and imported only inside the
functions that draw, with the non-interactive Agg backend. `figure(doc)` chooses the
figure for a run, a study, a comparison or a network; `plot(doc, path)` draws and writes
it whole or not at all (the format comes from the file's suffix).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .errors import SimcacheError
from .outfile import atomic_output, check_target
from .report import ENERGY_RATIO, describe_layer

# formats the Agg canvas writes without anything outside matplotlib (pgf needs LaTeX)
FORMATS = ("png", "svg", "pdf", "eps", "ps")
INSTALL = "pip install 'simcache[plot]'"
TENSOR_COLORS = {"x": "#4477aa", "w": "#ee6677", "y": "#228833", "t": "#ccbb44", "-": "#777777"}
TENSOR_NAMES = {"x": "x (input)", "w": "w (weights)", "y": "y (output)",
                "t": "t (intermediate)", "-": "untagged"}
THREE_C = (("compulsory", "#66ccee"), ("capacity", "#aa3377"), ("conflict", "#ccbb44"))
MAC_COLOR = "#bbbbbb"
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
DASHES = ("-", "--", "-.", ":")


# ---------------------------------------------------------------- checks, before simulating


def _matplotlib(needs: str = "drawing a figure"):
    """The pyplot module on the Agg backend, or a SimcacheError saying how to install it:
    `needs` says what wants it, in the words of the command at hand ("--plot: drawing the
    figure", "simcache plot")."""
    try:
        import matplotlib
    except ImportError:
        raise SimcacheError([f"{needs} needs matplotlib, which is not installed: "
                             f"{INSTALL}"]) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def check_plot(value: str, flag: str = "--plot", needs: str | None = None) -> Path:
    """The figure's path once matplotlib is there, the suffix names a format it writes
    and a file can be written there; else a SimcacheError with one line naming `flag`
    (`needs`: what wants matplotlib, for its line; default: `flag`'s figure)."""
    _matplotlib(needs or f"{flag}: drawing the figure")
    if Path(value).expanduser().is_dir():
        check_target(value, flag)  # says it is a directory
    suffix = Path(value).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        shown = f"unknown figure format '.{suffix}'" if suffix else "no suffix"
        raise SimcacheError([f"{flag}: {value}: {shown}; the suffix chooses the format: "
                             f"{', '.join('.' + f for f in FORMATS)}"])
    return check_target(value, flag)


# ---------------------------------------------------------------- helpers


def _describe(lay: dict | None) -> str:
    return describe_layer(lay) if lay else "trace"


def _subject(doc: dict) -> str:
    """What a run simulated: the layer, or the trace file."""
    if doc.get("layer"):
        return _describe(doc["layer"])
    trace = doc.get("trace") or {}
    return f"trace {Path(trace.get('path', '?')).name}"


def _caches(doc: dict) -> list[dict]:
    return [lv for lv in doc["levels"] if "geometry" in lv]


def _pct(rate: float | None) -> float:
    return math.nan if rate is None else 100.0 * rate


def _joules(pj: float) -> float:
    return pj * 1e-12


def _eng(ax, unit: str, axis: str = "y") -> None:
    from matplotlib.ticker import EngFormatter
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(EngFormatter(unit=unit,
                                                                             places=None))


def _spans_decades(values: list[float], factor: float = 30.0) -> bool:
    pos = [v for v in values if v is not None and v > 0 and not math.isnan(v)]
    return len(pos) > 1 and max(pos) / min(pos) >= factor


def _new(plt, rows: int, cols: int, width: float, height: float):
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False,
                             layout="constrained")
    return fig, [ax for row in axes for ax in row]


def _tensors(doc: dict) -> list[str]:
    names: list[str] = []
    for lv in doc["levels"]:
        for t in lv.get("by_tensor", {}):
            if t not in names:
                names.append(t)
    return names


def _stack(ax, labels: list[str], series: list[tuple[str, list[float], str]],
           width: float = 0.7) -> list[float]:
    """Bars stacked in the order of `series` (label, heights, colour); returns the tops."""
    bottom = [0.0] * len(labels)
    for label, heights, color in series:
        ax.bar(labels, heights, width, bottom=bottom, label=label, color=color,
               edgecolor="white", linewidth=0.5)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    return bottom


def _legend_right(ax, stacked: bool = False) -> None:
    """A legend beside the panel, where it covers no bar; for stacked bars, top segment
    first, as the stack reads."""
    handles, labels = ax.get_legend_handles_labels()
    if stacked:
        bars = [k for k, h in enumerate(handles) if hasattr(h, "patches")]
        order = bars[::-1] + [k for k in range(len(handles)) if k not in bars]
        handles, labels = [handles[k] for k in order], [labels[k] for k in order]
    ax.legend(handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0, framealpha=1.0)  # opaque: PostScript has no transparency


def _rotate(ax, many: bool) -> None:
    if many:
        ax.tick_params(axis="x", labelrotation=60)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _layout(plt, top: int, top_cols: int, bottom: int = 0, bottom_cols: int = 1,
            width: float = 11.0, top_h: float = 3.6, bottom_h: float = 3.6):
    """Axes for `top` panels in rows of `top_cols` and, below them, `bottom` panels in rows
    of `bottom_cols`, both across the figure's whole width; only the panels asked for."""
    cols = math.lcm(top_cols, bottom_cols)
    trows, brows = math.ceil(top / top_cols), math.ceil(bottom / bottom_cols)
    fig = plt.figure(figsize=(width, top_h * trows + bottom_h * brows), layout="constrained")
    grid = fig.add_gridspec(trows + brows, cols, height_ratios=[top_h] * trows + [bottom_h] * brows)
    axes = []
    for count, per_row, first in ((top, top_cols, 0), (bottom, bottom_cols, trows)):
        span = cols // per_row
        for k in range(count):
            r, c = divmod(k, per_row)
            axes.append(fig.add_subplot(grid[first + r, c * span:(c + 1) * span]))
    return fig, axes


def panels_figure(count: int, cols: int, width: float, height: float):
    """A figure of `count` panels in rows of `cols` (each row `height` inches), for figures
    composed outside this module (docs/labs/code/lab_figure.py): (figure, axes)."""
    return _layout(_matplotlib(), count, cols, width=width, top_h=height)


def units(ax, unit: str, axis: str = "y") -> None:
    """Tick labels with engineering prefixes and `unit` (k, M, G; '' for counts)."""
    _eng(ax, unit, axis)


def _count(n: float) -> str:
    """A count in three figures: 987, 33.0k, 1.25M."""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def three_c_counts(ax, labels: list[str], counts: list[dict], level: str,
                   xlabel: str) -> None:
    """One cache level's misses by kind, a stacked bar per run (`counts[i]` is the run's
    `three_c`: compulsory, capacity, conflict), in misses, with each bar's total above it.

    The axis is linear even when the totals span decades: on a log axis a segment's
    height would no longer be its count; the totals written above keep small bars legible."""
    series = [(kind, [float(c[kind]) for c in counts], color) for kind, color in THREE_C]
    tops = _stack(ax, labels, series)
    many = len(labels) > 8
    for i, top in enumerate(tops):
        ax.annotate(_count(top), (i, top), ha="center", va="bottom", fontsize="x-small",
                    rotation=90 if many else 0, xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(0, (1.25 if many else 1.12) * max(max(tops, default=0.0), 1.0))
    _eng(ax, "")
    ax.set_ylabel("misses (run phase)")
    ax.set_xlabel(xlabel)
    ax.set_title(f"{level}: misses by kind (3C)")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    _legend_right(ax, stacked=True)
    _rotate(ax, many or max((len(x) for x in labels), default=0) > 10)
    ax.set_label(f"three_c:{level}")


def _three_c_levels(runs: list[dict]) -> list[str]:
    """The names of the cache levels that carry 3C counts in any run, innermost first."""
    names: list[str] = []
    for run in runs:
        for lv in _caches(run):
            if "three_c" in lv and lv["name"] not in names:
                names.append(lv["name"])
    return names


def _level(run: dict, name: str) -> dict | None:
    return next((lv for lv in run["levels"] if lv["name"] == name and "three_c" in lv), None)


# ---------------------------------------------------------------- one run


def _hit_rate_panel(ax, doc: dict) -> None:
    caches = _caches(doc)
    names = [lv["name"] for lv in caches]
    tensors = _tensors(doc)
    ax.set_label("hit_rate")
    if not caches:
        ax.text(0.5, 0.5, "no cache levels:\nevery access goes to memory", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_ylim(0, 105)
        ax.set_ylabel("hit rate (%)")
        ax.set_xlabel("cache level")
        ax.set_title("Hit rate per level")
        return
    groups = [("all", [_pct(lv["hit_rate"]) for lv in caches], "#333333")]
    groups += [(TENSOR_NAMES.get(t, t),
                [_pct(lv["by_tensor"].get(t, {}).get("hit_rate")) for lv in caches],
                TENSOR_COLORS.get(t, "#999999")) for t in tensors]
    _grouped_rates(ax, names, groups)
    ax.set_xlabel("cache level")
    ax.set_title("Hit rate per level (–: no access)")
    _legend_right(ax)
    ax.set_label("hit_rate")


def _grouped_rates(ax, names: list[str], groups: list[tuple[str, list[float], Any]]) -> None:
    """Hit rates in percent: a group of bars per level, a bar per (label, heights, colour)."""
    width = 0.8 / len(groups)
    for k, (label, heights, color) in enumerate(groups):
        xs = [i + (k - (len(groups) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, heights, width, label=label, color=color)
        for x, h in zip(xs, heights, strict=True):
            if math.isnan(h) or h == 0:  # say so: an empty bar and a missing one look alike
                ax.annotate("–" if math.isnan(h) else "0", (x, 0), ha="center", va="bottom",
                            fontsize="x-small", xytext=(0, 1), textcoords="offset points")
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.5, len(names) - 0.5)  # the marks of missing bars at the ends stay in
    ax.set_ylim(0, 105)
    ax.set_ylabel("hit rate (%)")


def _cost_panel(ax, doc: dict, what: str) -> None:
    """Cycles or energy: a bar per level (and one for the MACs), stacked by tensor."""
    levels = doc["levels"]
    macs = doc["totals"]["macs"] > 0  # a trace has none
    names = [lv["name"] for lv in levels] + (["MACs"] if macs else [])
    tensors = _tensors(doc)
    if what == "cycles":
        value = (lambda d: d["cycles"])  # noqa: E731
        mac = doc["totals"]["mac_cycles"]
    else:
        value = (lambda d: _joules(d["energy_pj"]["low"]))  # noqa: E731
        mac = _joules(doc["totals"]["mac_energy_pj"]["low"])
    pad = [0.0] if macs else []
    series = [(TENSOR_NAMES.get(t, t),
               [value(lv["by_tensor"][t]) if t in lv.get("by_tensor", {}) else 0.0
                for lv in levels] + pad, TENSOR_COLORS.get(t, "#999999")) for t in tensors]
    # what the tensors do not account for (an untagged trace has no by_tensor)
    rest = [value(lv) - sum(s[1][i] for s in series) for i, lv in enumerate(levels)]
    if any(abs(r) > 1e-9 * max(1.0, value(lv)) for r, lv in zip(rest, levels, strict=True)):
        series.append(("not by tensor", rest + pad, "#999999"))
    if macs:
        series.append(("MACs", [0.0] * len(levels) + [mac], MAC_COLOR))
    tops = _stack(ax, names, series)
    total = sum(tops) or 1.0
    heads = list(tops)
    if what == "cycles":
        _eng(ax, "")
        ax.set_ylabel("cycles (in-order, blocking)")
        ax.set_title("Cycles by the level that serves each access (% of all)")
    else:
        energy = doc["totals"]["energy_pj"]
        highs = [_joules(lv["energy_pj"]["high"]) for lv in levels] + (
            [_joules(doc["totals"]["mac_energy_pj"]["high"])] if macs else [])
        if energy["high"] != energy["low"]:
            ax.errorbar(range(len(names)), tops,
                        yerr=[[0.0] * len(names), [h - t for h, t in zip(highs, tops,
                                                                         strict=True)]],
                        fmt="none", ecolor="black", capsize=3, linewidth=0.8,
                        label="range up to the\nhigh estimate")
            heads = [max(t, h) for t, h in zip(tops, highs, strict=True)]
        _eng(ax, "J")
        ax.set_ylabel("energy (J, low estimate)")
        ax.set_title("Energy by level (% of all, low estimate)")
    for i, (top, head) in enumerate(zip(tops, heads, strict=True)):
        share = f"{top / total:.0%}" if top == 0 or top / total >= 0.005 else "<1%"
        ax.annotate(share, (i, head), ha="center", va="bottom",
                    fontsize="small", xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(0, 1.12 * max(max(heads), 1e-30))
    ax.set_xlabel("level")
    _legend_right(ax, stacked=True)
    ax.set_label(what)


def _three_c_panel(ax, doc: dict) -> None:
    caches = [lv for lv in _caches(doc) if "three_c" in lv]
    names = [lv["name"] for lv in caches]
    series = []
    for kind, color in THREE_C:
        series.append((kind, [100.0 * lv["three_c"][kind] / lv["misses"] if lv["misses"]
                              else 0.0 for lv in caches], color))
    tops = _stack(ax, names, series)
    for i, lv in enumerate(caches):
        ax.annotate(f"{lv['misses']:,}\nmisses", (i, tops[i]), ha="center", va="bottom",
                    fontsize="small", xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(0, 118)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("share of the level's misses (%)")
    ax.set_xlabel("cache level")
    ax.set_title("Misses by kind (3C, run phase)")
    _legend_right(ax, stacked=True)
    ax.set_label("three_c")


def run_figure(doc: dict):
    """One run: hit rates per level, cycles and energy by level and tensor, with --3c the
    kinds of misses, and for a layer its roofline. Returns the matplotlib Figure."""
    plt = _matplotlib()
    ccc = any("three_c" in lv for lv in _caches(doc))
    roof = _has_roofline(doc)
    panels = 3 + ccc + roof
    cols = 2 if panels > 3 else 3
    rows = math.ceil(panels / cols)
    n = len(doc["levels"])
    width = max((6.5 if cols == 2 else 5.5) * cols, 0.6 * n * cols + 2 * cols)
    fig, axes = _new(plt, rows, cols, width, 4.2 * rows)
    _hit_rate_panel(axes[0], doc)
    _cost_panel(axes[1], doc, "cycles")
    _cost_panel(axes[2], doc, "energy")
    if ccc:
        _three_c_panel(axes[3], doc)
    for ax in axes[:3 + ccc]:
        _rotate(ax, n > 6)
    if roof:
        _roofline_panel(axes[3 + ccc], doc)
    for ax in axes[panels:]:
        ax.set_visible(False)
    tot = doc["totals"]
    macs = f", {tot['macs']:,} MACs" if tot["macs"] else ""
    fig.suptitle(f"{_subject(doc)} on {doc['config']['name']}: {tot['cycles']:,} cycles, "
                 f"{doc['accesses']:,} accesses{macs}")
    return fig


# ---------------------------------------------------------------- study: layers × batches


def _study_title(doc: dict) -> str:
    """The layer types, the config and the dimensions each run really had: what all types
    share on the first line, what a type fixes for itself (K = 1 for pointwise, F = K = 1
    for fc, N = M for depthwise; api._FIXED) on the second."""
    first: dict[str, list[str]] = {}
    for run in doc["runs"]:
        lay = run.get("layer")
        if lay and lay["type"] not in first:
            # every word of the description but the type and B (the axis)
            first[lay["type"]] = describe_layer(lay).replace("tiles ", "tiles=").split()[2:]
    common = [w for w in next(iter(first.values()), []) if all(w in ws for ws in first.values())]
    head = f"{', '.join(first)} on {doc['config']['name']}: {' '.join(common)}"
    own = [f"{t} {' '.join(w for w in ws if w not in common)}" for t, ws in first.items()
           if any(w not in common for w in ws)]
    return head + ("\n" + " · ".join(own) if own else "")


def _run_labels(rows: list[dict]) -> tuple[list[str], str]:
    """A bar label per study row, and the axis label: the layer type and the batch size, or
    whichever of the two varies."""
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    batches = list(dict.fromkeys(r["batch"] for r in rows))
    if len(batches) == 1:
        return [r["layer"] for r in rows], f"layer type (B = {batches[0]})"
    if len(layers) == 1:
        return [f"B={r['batch']}" for r in rows], f"batch size ({layers[0]})"
    return [f"{r['layer']} B={r['batch']}" for r in rows], "layer type and batch size"


def _log_y(ax) -> None:
    from matplotlib.ticker import FormatStrFormatter, LogLocator
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter(""))


def trend_lines(ax, series: list[tuple[str, Any, Any]], xlabel: str, log_y: bool | None = None,
                scale: float = 1.0, refs: list[tuple[str, float]] = ()) -> None:
    """One quantity against a varied parameter: a line per (label, xs, ys) series, markers
    and dashes differing (series with equal values overlap); `refs` are dashed horizontal
    lines (label, value). The x axis is logarithmic (base 2) when the xs span a factor of
    ten, and the y axis when the values span a factor of 30 (`log_y=None`)."""
    xs_all: list[float] = []
    values: list[float] = []
    for k, (label, xs, ys) in enumerate(series):
        ys = [math.nan if v is None else v * scale for v in ys]
        ax.plot(list(xs), ys, marker=MARKERS[k % len(MARKERS)],
                linestyle=DASHES[k % len(DASHES)],
                markerfacecolor="none" if k % 2 else None, label=label)
        xs_all += [x for x in xs if x not in xs_all]
        values += ys
    for k, (label, value) in enumerate(refs):
        ax.axhline(value * scale, color="#555555", linestyle=(0, (4, 2 + 2 * k)),
                   linewidth=1.0, label=label)
        values.append(value * scale)
    xs_all.sort()
    if _spans_decades(xs_all, 10.0):
        ax.set_xscale("log", base=2)
        ax.minorticks_off()
    ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
    ax.set_xlabel(xlabel)
    _rotate(ax, len(xs_all) > 8)
    if log_y or (log_y is None and _spans_decades(values, 30.0)):
        _log_y(ax)
    ax.grid(color="#e0e0e0")


def study_figure(doc: dict):
    """Several layer types or batch sizes on one config: every cache level's hit rate and
    the DRAM bytes per MAC, against the batch size, a line per layer type; every run on
    the config's roofline; with --3c, a panel per cache level of its misses by kind, a
    stacked bar per run."""
    plt = _matplotlib()
    rows = doc["rows"]
    caches = [lv["name"] for lv in _caches(doc["runs"][0])]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    metrics = [(f"hit_rate_{k + 1}", f"{name} hit rate (%)", 100.0)
               for k, name in enumerate(caches)]
    metrics.append(("dram_bytes_per_mac", "DRAM bytes per MAC", 1.0))
    ccc = _three_c_levels(doc["runs"])
    roof = _has_roofline(doc)
    top = len(metrics) + roof
    cols = min(3, top)
    ccc_cols = 1 if len(rows) > 12 else 2
    width = max(4.4 * cols, 0.42 * len(rows) * ccc_cols + 3.0 * ccc_cols if ccc else 0.0)
    fig, axes = _layout(plt, top, cols, len(ccc), ccc_cols, width, 3.6, 3.9)
    for ax, (key, label, scale) in zip(axes, metrics, strict=False):
        if len(batches) == 1:
            values = [next(r[key] for r in rows if r["layer"] == t) for t in layers]
            ax.bar(layers, [math.nan if v is None else v * scale for v in values],
                   color="#4477aa")
            ax.set_xlabel(f"layer type (B = {batches[0]})")
            _rotate(ax, len(layers) > 3)
        else:
            trend_lines(ax, [(t, *zip(*sorted((r["batch"], r[key]) for r in rows
                                             if r["layer"] == t), strict=True))
                             for t in layers], "batch size B", log_y=False, scale=scale)
        if key.startswith("hit_rate"):
            ax.set_ylim(-3, 103)  # a line at 0 % stays visible above the axis
        elif _spans_decades([r[key] for r in rows], 30.0):
            _log_y(ax)
        ax.set_ylabel(label)
        ax.set_title(label[0].upper() + label[1:].replace(" (%)", ""))
        ax.grid(color="#e0e0e0")
        ax.set_label(key)
    if roof:
        _roofline_panel(axes[len(metrics)], doc)
    labels, xlabel = _run_labels(rows)
    for ax, name in zip(axes[top:], ccc, strict=True):
        three_c_counts(ax, labels, [_level(run, name)["three_c"] for run in doc["runs"]],
                       name, xlabel)
    if len(batches) > 1:
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", title="layer",
                   fontsize="small", framealpha=1.0)
    fig.suptitle(_study_title(doc))
    return fig


# ---------------------------------------------------------------- compare: configs


TICK_WHERE = 32  # characters of a tick's `(where)` line, its end kept


def config_ticks(names: list[str]) -> list[str]:
    """Configs' labels as tick labels: a label that tells two configs of one name apart,
    `name (where)`, on two lines, so that it needs no rotation, and a long `(where)` cut to
    its last TICK_WHERE characters (the legend keeps it whole) while the ticks stay
    distinct."""
    two = [n.replace(" (", "\n(", 1) for n in names]
    cut = []
    for t in two:
        head, sep, where = t.partition("\n")
        cut.append(f"{head}\n(…{where[-(TICK_WHERE - 2):]}" if sep and len(where) > TICK_WHERE
                   else t)
    return cut if len(set(cut)) == len(set(two)) else two


def _longest_line(labels: list[str]) -> int:
    return max((len(line) for x in labels for line in x.split("\n")), default=0)


def compare_figure(doc: dict):
    """One layer on several configs, side by side: cycles, energy, DRAM traffic and every
    cache level's hit rate."""
    plt = _matplotlib()
    rows = doc["rows"]
    names = [r["config"] for r in rows]
    ccc = _three_c_levels(doc["runs"])
    width = max(11.0, 1.6 * len(names) + 7)
    fig, axes = _layout(plt, 4, 2, len(ccc), 2, width, 4.0, 3.6)
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(names))]
    cticks = config_ticks(names)
    # rotated when the labels, side by side, would not fit a panel (about 0.08 in a letter)
    many = len(names) > 4 or 0.08 * _longest_line(cticks) * len(names) > width / 2 - 1.2

    ax = axes[0]
    ax.bar(names, [r["cycles"] for r in rows], color=colors)
    for i, r in enumerate(rows):
        ax.annotate(f"×{r['cycles_ratio']:.2f}", (i, r["cycles"]), ha="center", va="bottom",
                    fontsize="small", xytext=(0, 2), textcoords="offset points")
    _eng(ax, "")
    ax.set_ylabel("cycles")
    ax.set_title(f"Cycles (ratio to {names[0]})")
    ax.set_label("cycles")

    ax = axes[1]
    lows = [_joules(r["energy_pj_low"]) for r in rows]
    highs = [_joules(r["energy_pj_high"]) for r in rows]
    ax.bar(names, lows, color=colors)
    for i, r in enumerate(rows):  # the ratio of the high ends, at the high end (ENERGY_RATIO)
        ax.annotate(f"×{r['energy_ratio_high']:.2f}", (i, max(lows[i], highs[i])),
                    ha="center", va="bottom", fontsize="small", xytext=(0, 2),
                    textcoords="offset points")
    if highs != lows:
        ax.errorbar(range(len(names)), lows,
                    yerr=[[0.0] * len(names), [h - lo for h, lo in zip(highs, lows,
                                                                       strict=True)]],
                    fmt="none", ecolor="black", capsize=4, linewidth=0.8,
                    label="range up to the\nhigh estimate")
        _legend_right(ax)
    _eng(ax, "J")
    ax.set_ylabel("energy (J, low estimate to high)")
    ax.set_title(f"Energy (ratio to {names[0]};\n{ENERGY_RATIO})")
    ax.set_label("energy")

    ax = axes[2]
    ax.bar(names, [r["dram_bytes"] for r in rows], color=colors)
    least = [run["totals"]["traffic"]["min_bytes"] for run in doc["runs"]]
    ax.hlines(least, [i - 0.4 for i in range(len(names))], [i + 0.4 for i in range(len(names))],
              colors="black", linestyles="dashed", linewidth=1.2,
              label="minimum:\nevery byte once")
    for i, r in enumerate(rows):
        ax.annotate(f"×{r['dram_ratio']:.2f}", (i, r["dram_bytes"]), ha="center",
                    va="bottom", fontsize="small", xytext=(0, 2), textcoords="offset points")
    _eng(ax, "B")
    ax.set_ylabel("DRAM traffic (bytes, run and flush)")
    ax.set_title(f"DRAM traffic (ratio to {names[0]})")
    _legend_right(ax)
    ax.set_label("dram_bytes")

    ax = axes[3]
    depth = max(sum(1 for k in r if k.startswith("hit_rate_")) for r in rows)
    ticks = []
    for k in range(depth):
        level_names = list(dict.fromkeys(r[f"level_{k + 1}"] for r in rows
                                         if f"level_{k + 1}" in r))
        ticks.append(" / ".join(level_names))
    _grouped_rates(ax, ticks, [(r["config"], [_pct(r.get(f"hit_rate_{k + 1}"))
                                              for k in range(depth)], colors[c])
                               for c, r in enumerate(rows)])
    ax.set_xlabel("cache level (innermost first)")
    ax.set_title("Hit rate per level (–: no access)")
    _legend_right(ax)
    ax.set_label("hit_rate")

    for ax in axes[:3]:
        ax.set_xticks(range(len(names)), cticks)
        ax.set_xlabel("config")
        ax.margins(y=0.1)
        _rotate(ax, many)
    # a panel per level name: the configs that have a level of that name, side by side
    for ax, name in zip(axes[4:], ccc, strict=True):
        have = [(r["config"], _level(run, name)) for r, run in zip(rows, doc["runs"],
                                                                  strict=True)]
        have = [(c, lv) for c, lv in have if lv is not None]
        three_c_counts(ax, [c for c, _ in have], [lv["three_c"] for _, lv in have], name,
                       "config")
    fig.suptitle(f"{_describe(doc.get('layer'))} on {len(names)} configs")
    return fig


# ---------------------------------------------------------------- network: layer by layer


def network_figure(doc: dict):
    """Every layer of a network, in order: its cycles and its energy, stacked by level; a
    warm network's operators too, and its end-of-inference flush as a last bar."""
    plt = _matplotlib()
    rows, runs = doc["rows"], doc["runs"]
    labels = [r["name"] for r in rows]
    if doc.get("flush_run") is not None:
        labels, runs = labels + ["flush"], runs + [doc["flush_run"]]
    levels = [lv["name"] for lv in runs[0]["levels"]] if runs else []
    cmap = plt.get_cmap("viridis")
    colors = [cmap(k / max(1, len(levels) - 1) * 0.9) for k in range(len(levels))]
    width = max(10.0, 0.32 * len(labels) + 3)
    ccc = _three_c_levels(runs)
    fig, axes = _layout(plt, 2, 1, len(ccc), 1, width, 4.25, 3.4)
    for ax, what in zip(axes, ("cycles", "energy"), strict=False):
        if what == "cycles":
            series = [(name, [run["levels"][k]["cycles"] for run in runs], colors[k])
                      for k, name in enumerate(levels)]
            series.append(("MACs", [run["totals"]["mac_cycles"] for run in runs], MAC_COLOR))
        else:
            series = [(name, [_joules(run["levels"][k]["energy_pj"]["low"]) for run in runs],
                       colors[k]) for k, name in enumerate(levels)]
            series.append(("MACs", [_joules(run["totals"]["mac_energy_pj"]["low"])
                                    for run in runs], MAC_COLOR))
        _stack(ax, labels, series, width=0.8)
        if what == "cycles":
            _eng(ax, "")
            ax.set_ylabel("cycles")
            ax.set_title("Cycles per layer, by the level that serves each access")
        else:
            _eng(ax, "J")
            ax.set_ylabel("energy (J, low estimate)")
            ax.set_title("Energy per layer, by level")
        ax.set_xlabel("layer (in network order)" + (", then the final flush"
                                                     if doc.get("flush_run") else ""))
        ax.set_xlim(-0.6, len(labels) - 0.4)
        _legend_right(ax, stacked=True)
        ax.margins(y=0.05)
        _rotate(ax, len(labels) > 4 or max((len(x) for x in labels), default=0) > 8)
        ax.set_label(what)
    for ax, name in zip(axes[2:], ccc, strict=True):
        three_c_counts(ax, labels, [_level(run, name)["three_c"] for run in runs], name,
                       "layer (in network order)")
    net = doc["network"]
    cfg = (doc.get("config") or {}).get("name", "?")
    b = rows[0]["batch"] if rows else "?"
    tot = doc["totals"]
    if doc.get("warm"):
        ops = sum(1 for r in rows if r.get("op"))
        what = (f"{len(rows)} entries ({len(rows) - ops} layers, {ops} operators in grey), "
                f"{tot['cycles']:,} cycles (one inference, warm caches)")
        for ax in axes:  # the operators' names in grey
            for tick, r in zip(ax.get_xticklabels(), rows, strict=False):
                if r.get("op"):
                    tick.set_color("0.45")
    else:
        what = f"{len(rows)} layers, {tot['cycles']:,} cycles (each layer with cold caches)"
    fig.suptitle(f"{net['name']} on {cfg}, B={b}: {what}")
    return fig


# ---------------------------------------------------------------- network on several configs


# the three figures compared: (key, row field, title, axis label, unit, scale, its ratio)
_NET_COMPARED = (("cycles", "cycles", "Cycles", "cycles", "", 1.0, "cycles_ratio"),
                 ("energy", "energy_pj_high", "Energy", "energy (J, high estimate)", "J", 1e-12,
                  "energy_ratio_high"),
                 ("dram_bytes", "dram_bytes", "DRAM traffic",
                  "DRAM traffic (bytes, run and flush)", "B", 1.0, "dram_ratio"))
# a network comparison of more entries than this draws them summed by kind of entry
MAX_ENTRY_BARS = 24


def entry_kind(row: dict) -> str:
    """The kind of a network row, for a figure that sums a network by kind: a layer's type
    (spatial, pointwise, depthwise, ...), `op: TYPE` for an operator of a warm inference
    (op: add, op: maxpool), `flush` for its end."""
    if row.get("op"):
        return f"op: {row['type']}"
    return row["type"]


def kind_label(kind: str, entries: int) -> str:
    """A kind's tick label, its name over how many entries it sums: `depthwise` over
    `17 layers`, `add` over `10 ops`; the flush alone."""
    if kind == "flush":
        return kind
    op = kind.startswith("op: ")
    noun = ("op" if op else "layer") + ("s" if entries != 1 else "")
    return f"{kind.removeprefix('op: ')}\n{entries} {noun}"


def entry_groups(rows: list[dict]) -> list[tuple[str, list[int]]]:
    """The kinds of entry in the order they first appear, each with its rows' indices."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(entry_kind(r), []).append(i)
    return list(groups.items())


def network_compare_figure(doc: dict):
    """A network on several configs: per entry (a network of at most MAX_ENTRY_BARS
    entries) or summed per kind of entry (a larger one, so that the figure fits a page),
    grouped bars with a bar per config; and in total, a bar per config labelled with its
    ratio to the first; for cycles, energy (the high estimate, as the ratio) and DRAM
    traffic."""
    plt = _matplotlib()
    rows, totals = doc["rows"], doc["totals"]
    names = [t["config"] for t in totals]
    by_kind = len(rows) > MAX_ENTRY_BARS
    if by_kind:
        groups = entry_groups(rows)
        labels = [kind_label(kind, len(idx)) for kind, idx in groups]
    else:
        groups = [(r["name"], [i]) for i, r in enumerate(rows)]
        labels = [r["name"] for r in rows]
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(names))]
    width = min(18.0, max(11.0, 0.25 * len(labels) * max(2, len(names)) + 5))
    fig, grid = plt.subplots(3, 2, figsize=(width, 10.5), squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [4, 1]})
    bar = 0.8 / len(names)
    for (key, field, what, label, unit, scale, ratio), (ax, tax) in zip(_NET_COMPARED, grid,
                                                                        strict=True):
        values = [[sum(rows[i]["configs"][c][field] for i in idx) * scale for _, idx in groups]
                  for c in range(len(names))]
        for c, name in enumerate(names):
            xs = [i + (c - (len(names) - 1) / 2) * bar for i in range(len(groups))]
            ax.bar(xs, values[c], bar, label=name, color=colors[c])
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        _log_if_decades(ax, [v for vs in values for v in vs])
        if ax.get_yscale() == "log":  # a zero has no bar on a log axis: say it is zero
            for c in range(len(names)):
                for i, v in enumerate(values[c]):
                    if v == 0:
                        ax.annotate("0", (i + (c - (len(names) - 1) / 2) * bar, 0),
                                    xycoords=("data", "axes fraction"), ha="center",
                                    va="bottom", fontsize="small")
        _eng(ax, unit)
        ax.set_ylabel(label)
        ax.set_xlabel("kind of entry, in order of first appearance (a bar is the sum of its "
                      "entries)" if by_kind else
                      f"{'entry' if doc.get('warm') else 'layer'} (in network order)")
        ax.set_title(f"{what} {'by kind of entry' if by_kind else 'per entry'}"
                     + (" (log scale)" if ax.get_yscale() == "log" else ""))
        _rotate(ax, len(labels) > 12 or _longest_line(labels) * len(labels) > 9 * width)
        ax.grid(axis="y", color="#e0e0e0")
        ax.set_axisbelow(True)
        ax.set_label(key)

        heights = [t[field] * scale for t in totals]
        tax.bar(range(len(names)), heights, color=colors)
        tax.set_xticks(range(len(names)), config_ticks(names))
        for i, t in enumerate(totals):
            shown = "–" if t[ratio] is None else f"×{t[ratio]:.2f}"
            tax.annotate(shown, (i, heights[i]), ha="center", va="bottom", fontsize="small",
                         xytext=(0, 2), textcoords="offset points")
        _eng(tax, unit)
        tax.margins(y=0.12)
        tax.set_ylabel(label)
        tax.set_xlabel("config")
        tax.set_title(f"{what} in total\n(ratio to {names[0]})" if key != "energy" else
                      f"{what} in total (ratio to\n{names[0]}, of the high estimates)")
        _rotate(tax, sum(_longest_line([n]) + 2 for n in config_ticks(names)) > 20)
        tax.set_label(f"total_{key}")
    handles, shown = grid[0][0].get_legend_handles_labels()
    fig.legend(handles, shown, loc="outside right upper", title="config", fontsize="small",
               framealpha=1.0)
    opts = doc.get("options", {})
    what = (f"{len(rows)} entries, one inference with warm caches" if doc.get("warm")
            else f"{len(rows)} layers, each with cold caches")
    fig.suptitle(f"{doc['network']['name']}, B={opts.get('batch', '?')}, on "
                 f"{', '.join(names)}: {what}")
    return fig


def _log_if_decades(ax, values: list[float]) -> None:
    """A log y axis when the values span a factor of 30 (grouped bars, not stacked)."""
    if _spans_decades(values, 30.0):
        ax.set_yscale("log")
        low = min(v for v in values if v > 0)
        ax.set_ylim(bottom=10 ** math.floor(math.log10(low)))  # a labelled tick below


# ---------------------------------------------------------------- roofline


def roofline_points(doc: dict) -> list[dict]:
    """The roofline's points of a run or a study (every run of a layer, in order): its
    measured intensity (MACs per DRAM byte), its Eq. 2.4 intensity per byte, and its
    measured performance (MACs per cycle of the blocking model), with the layer's name
    and batch."""
    runs = doc.get("runs") or [doc]
    out = []
    for run in runs:
        lay, t = run.get("layer"), run["totals"]
        if not lay or not t["macs"] or not t["cycles"]:
            continue
        out.append({"layer": lay["type"], "batch": lay["B"],
                    "measured": t["traffic"]["intensity"],
                    "eq24": t["traffic"]["intensity_eq24"],
                    "performance": t["macs"] / t["cycles"]})
    return out


def _has_roofline(doc: dict) -> bool:
    first = (doc.get("runs") or [doc])[0]
    return "roofline" in first and bool(roofline_points(doc))


def _roofs(ax, roof: dict, xs: list[float]) -> None:
    """The two roofs over the panel's intensities: the DRAM bandwidth's slope up to the
    ridge, then the peak MAC rate; an assumed roof is dashed and says so."""
    peak, bw = roof["peak_macs_per_cycle"], roof["bandwidth_bytes_per_cycle"]
    ridge = peak / bw
    pos = [x for x in xs if x is not None and x > 0] or [ridge]
    lo = 10 ** math.floor(math.log10(min(min(pos), ridge) / 3))
    hi = 10 ** math.ceil(math.log10(max(max(pos), ridge) * 3))
    assumed = roof["bandwidth_assumed"]
    ax.plot([lo, ridge], [lo * bw, peak], color="black", linestyle="--" if assumed else "-",
            linewidth=1.4, gid="roof_bandwidth",
            label=f"{roof['memory']} {bw:.3g} B/cycle ({'assumed' if assumed else 'config'})")
    ax.plot([ridge, hi], [peak, peak], color="black", linewidth=1.4, gid="roof_peak",
            label=f"peak {peak:.3g} MAC/cycle ({roof['peak_source'].split(': ', 1)[1]})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (MACs per DRAM byte)")
    ax.set_ylabel("performance (MACs per cycle)")
    if assumed:
        text = roof["bandwidth_source"].replace("assumption (the config gives no bandwidth): ",
                                                f"assumed {roof['memory']} bandwidth:\n")
        # above the slope, where no layer can be
        ax.text(0.02, 0.97, text.replace(" access, ", " access,\n"), transform=ax.transAxes,
                ha="left", va="top", fontsize="x-small", color="#444444",
                bbox={"facecolor": "white", "edgecolor": "#bbbbbb", "pad": 2})
    ax.grid(which="major", color="#e0e0e0")


def _roofline_panel(ax, doc: dict) -> None:
    """Each layer run at its measured and at its Eq. 2.4 intensity, at its measured MACs
    per cycle, joined; a colour per layer type; with several batches, a larger marker for a
    larger batch."""
    from matplotlib.lines import Line2D

    roof = (doc.get("runs") or [doc])[0]["roofline"]
    pts = roofline_points(doc)
    layers = list(dict.fromkeys(p["layer"] for p in pts))
    batches = sorted({p["batch"] for p in pts})
    _roofs(ax, roof, [p["measured"] for p in pts] + [p["eq24"] for p in pts])
    span = math.log2(batches[-1] / batches[0]) or 1.0

    def size(b: int) -> float:  # marker area grows with log B, where batches differ
        return 36.0 if len(batches) == 1 else 14.0 + 80.0 * math.log2(b / batches[0]) / span

    handles = []
    for k, name in enumerate(layers):
        mine = [p for p in pts if p["layer"] == name]
        color = f"C{k % 10}"
        for p in mine:
            ax.plot([p["eq24"], p["measured"]], [p["performance"]] * 2, color=color,
                    linewidth=0.8, alpha=0.6)
        sizes = [size(p["batch"]) for p in mine]
        ax.scatter([p["measured"] for p in mine], [p["performance"] for p in mine], s=sizes,
                   color=color, gid=f"measured:{name}", zorder=3)
        ax.scatter([p["eq24"] for p in mine], [p["performance"] for p in mine], s=sizes,
                   facecolors="none", edgecolors=color, gid=f"eq24:{name}", zorder=3)
        handles.append(Line2D([], [], marker="o", linestyle="none", color=color, label=name))
    handles += [Line2D([], [], marker="o", linestyle="none", color="#555555",
                       label="measured: MACs / DRAM bytes"),
                Line2D([], [], marker="o", linestyle="none", color="#555555",
                       markerfacecolor="none", label="Eq. 2.4: MACs / (params +\n"
                       "activations), per byte")]
    if len(batches) > 1:
        handles += [Line2D([], [], marker="o", linestyle="none", color="#999999",
                           markersize=math.sqrt(size(b)), label=f"B = {b}")
                    for b in (batches[0], batches[-1])]
    top = max([roof["peak_macs_per_cycle"]] + [p["performance"] for p in pts])
    low = min(p["performance"] for p in pts)
    ax.set_ylim(10 ** math.floor(math.log10(low / 3)), top * 3)
    ax.set_title("Roofline (performance of the blocking model)")
    roofs, names = ax.get_legend_handles_labels()
    ax.legend(roofs + handles, names + [h.get_label() for h in handles], fontsize="small",
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              framealpha=1.0)
    ax.set_label("roofline")


def metrics_figure(doc: dict):
    """The theoretical metrics' layers on a roofline: each at its Eq. 2.4 intensity per
    byte, at the MAC rate the roofs allow there, under the roofs of `doc['roofline']`."""
    plt = _matplotlib()
    roof, rows = doc["roofline"], doc["rows"]
    fig, (ax,) = _new(plt, 1, 1, 9.5, 5.5)
    xs = [r["intensity_per_byte"] for r in rows]
    _roofs(ax, roof, xs)
    peak, bw = roof["peak_macs_per_cycle"], roof["bandwidth_bytes_per_cycle"]
    keys = [r["layer"] + (f" {r['preset']}" if r.get("preset") else "") for r in rows]
    names = list(dict.fromkeys(keys))
    many_b = len({r["batch"] for r in rows}) > 1
    for k, name in enumerate(names):
        mine = [r for r, key in zip(rows, keys, strict=True) if key == name]
        x = [r["intensity_per_byte"] for r in mine]
        ax.plot(x, [min(peak, v * bw) for v in x], MARKERS[k % len(MARKERS)],
                color=f"C{k % 10}", gid=f"eq24:{name}", label=name, markersize=7)
        if many_b:
            for r, v in zip(mine, x, strict=True):
                ax.annotate(f"B={r['batch']}", (v, min(peak, v * bw)), fontsize="x-small",
                            xytext=(3, -9), textcoords="offset points")
    ax.set_ylim(min(min(peak, v * bw) for v in xs) / 3, peak * 3)
    ax.set_xlabel("arithmetic intensity, Eq. 2.4 (MACs per byte of parameters and "
                  "activations)")
    ax.set_ylabel("attainable performance (MACs per cycle)")
    ax.set_title("Each layer at its Eq. 2.4 intensity, on the roof")
    _legend_right(ax)
    ax.set_label("roofline")
    cfg = doc.get("config", {}).get("name", "?")
    fig.suptitle(f"Roofline of the theoretical metrics under {cfg}'s roofs "
                 f"({rows[0]['dtype_bytes']}-byte elements)")
    return fig


# ---------------------------------------------------------------- choose, draw, write


def figure(doc: dict):
    """The figure of any result document."""
    if "network" in doc and "configs" in doc:
        return network_compare_figure(doc)

    if "mrc" in doc:
        return mrc_figure(doc)
    if "network" in doc:
        return network_figure(doc)
    if "rows" in doc and "layer" in doc:
        return compare_figure(doc)
    if "rows" in doc and "roofline" in doc:
        return metrics_figure(doc)
    if "rows" in doc:
        return study_figure(doc)
    return run_figure(doc)


DATA_KEY = "simcache:figure"  # the PNG text chunk that holds a figure's plotted numbers


def _num(v: Any) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def figure_data(fig: Any) -> dict:
    """What a figure shows, read back from its artists: the title, and per labelled panel
    its titles, axis labels and scales, tick labels, notes, each bar series' heights and
    each labelled line's points (null where nothing is drawn)."""
    panels = {}
    for ax in fig.axes:
        key = ax.get_label()
        if not ax.get_visible() or not key or key.startswith("<"):
            continue
        panels[key] = {
            "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "xscale": ax.get_xscale(), "yscale": ax.get_yscale(),
            "xticks": [t.get_text() for t in ax.get_xticklabels()],
            "notes": [t.get_text() for t in ax.texts],
            "bars": {c.get_label(): [_num(v) for v in c.datavalues] for c in ax.containers
                     if hasattr(c, "datavalues")},
            "lines": {ln.get_label(): [[_num(x), _num(y)] for x, y in
                                       zip(ln.get_xdata(), ln.get_ydata(), strict=True)]
                      for ln in ax.get_lines() if not ln.get_label().startswith("_")},
        }
    return {"title": fig.get_suptitle(), "panels": panels}


def read_figure_data(path: str | Path) -> dict | None:
    """The plotted numbers a PNG written by `save` carries (None if it carries none)."""
    from PIL import Image  # matplotlib's own dependency
    with Image.open(path) as img:
        text = getattr(img, "text", {}).get(DATA_KEY)
    return None if text is None else json.loads(text)


def save(fig: Any, path: Path, flag: str = "--plot") -> None:
    """Write the figure whole or not at all, in the format of the path's suffix; a PNG
    also carries `figure_data(fig)` as JSON in its text chunk `simcache:figure`."""
    fmt = path.suffix.lower().lstrip(".")
    extra = {"metadata": {DATA_KEY: json.dumps(figure_data(fig))}} \
        if fmt == "png" else {}
    try:
        with atomic_output(path, "wb") as f:
            fig.savefig(f, format=fmt, dpi=110 if fmt == "png" else None, **extra)
    except OSError as exc:
        raise SimcacheError([f"{flag}: {path}: {exc.strerror or exc}"]) from None


def plot(doc: dict, path: str | Path, flag: str = "--plot"):
    """Draw the document's figure and write it to `path`; returns the Figure (closed to
    pyplot, its data still readable)."""
    plt = _matplotlib()
    fig = figure(doc)
    try:
        save(fig, Path(path), flag)
    finally:
        plt.close(fig)
    return fig


# ---------------------------------------------------------------- sweeps (simcache plot DB)

METRIC_LABELS = {"cycles": "cycles", "cycles_per_mac": "cycles per MAC",
                 "energy_pj_low": "energy, low (pJ)", "energy_pj_high": "energy, high (pJ)",
                 "energy_per_mac_pj_high": "energy per MAC, high (pJ)",
                 "dram_bytes": "DRAM traffic (bytes)",
                 "dram_bytes_per_mac": "DRAM bytes per MAC", "macs": "MACs",
                 "accesses": "accesses"}
MAX_LINES = 12


def _axis_number(value: Any) -> float | None:
    """An axis value as a number (sizes such as '32KiB' in bytes), or None."""
    from .config import parse_size

    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(parse_size(value))
    except Exception:  # noqa: BLE001 - not a number: the axis is categorical
        return None


def _metric_label(y: str) -> str:
    level, _, what = y.rpartition(".")
    if level:
        return f"{level} {what.replace('_', ' ')}" + (" (%)" if what == "hit_rate" else "")
    return METRIC_LABELS.get(y, y.replace("_", " "))


def sweep_figure(doc: dict, x: str, y: str, hue: str | None = None):
    """METRIC `y` against axis `x` over a store's done points (`api.results(...).to_dict()`),
    one line per value of `hue` (colour) and of every other axis that varies (line style)."""
    plt = _matplotlib()
    rows, axes = doc["rows"], doc["axes"]
    problems = []
    if x not in axes:
        problems.append(f"--x: {x!r} is not an axis of these results (axes: {', '.join(axes)})")
    if hue is not None and hue not in axes:
        problems.append(f"--hue: {hue!r} is not an axis of these results (axes: "
                        f"{', '.join(axes)})")
    if hue is not None and hue == x:
        problems.append("--hue: the same axis as --x")
    metrics = [k for k in dict.fromkeys(k for r in rows for k in r)
               if k not in axes and k not in ("sweep", "status", "error")]
    if rows and y not in metrics:
        problems.append(f"--y: {y!r} is not a column of these results (columns: "
                        f"{', '.join(metrics)})")
    if not rows:
        problems.append("DB: no finished point to draw (with these --where filters)")
    if problems:
        raise SimcacheError(problems)
    others = [a for a in axes if a not in (x, hue) and len({str(r.get(a)) for r in rows}) > 1]
    fixed = [a for a in axes if a not in (x, hue) and a not in others]
    lines: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (str(r.get(hue)) if hue else "",) + tuple(str(r.get(a)) for a in others)
        lines.setdefault(key, []).append(r)
    if len(lines) > MAX_LINES:
        raise SimcacheError([f"--hue: {len(lines)} lines (one per value of "
                             f"{', '.join(([hue] if hue else []) + others)}); at most "
                             f"{MAX_LINES}: fix some axes with --where AXIS=VALUE"])
    xs_all = list(dict.fromkeys(r.get(x) for r in rows))
    numbers = [_axis_number(v) for v in xs_all]
    numeric = all(n is not None for n in numbers)
    position = ({str(v): n for v, n in zip(xs_all, numbers, strict=True)} if numeric else
                {str(v): float(k) for k, v in enumerate(xs_all)})
    scale = 100.0 if y.endswith("hit_rate") else 1.0
    fig, (ax,) = _new(plt, 1, 1, 7.5, 4.6)
    hues = list(dict.fromkeys(k[0] for k in lines))
    styles = list(dict.fromkeys(k[1:] for k in lines))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for key, pts in lines.items():
        pts = sorted(pts, key=lambda r: position[str(r.get(x))])
        xs = [position[str(r.get(x))] for r in pts]
        ys = [math.nan if r.get(y) is None else r[y] * scale for r in pts]
        k = styles.index(key[1:])
        label = ", ".join(([f"{hue}={key[0]}"] if hue else []) +
                          [f"{a}={v}" for a, v in zip(others, key[1:], strict=True)])
        ax.plot(xs, ys, marker=MARKERS[k % len(MARKERS)], linestyle=DASHES[k % len(DASHES)],
                color=colors[hues.index(key[0]) % len(colors)], label=label or None)
    if numeric and _spans_decades([p for p in position.values()], 8.0):
        ax.set_xscale("log", base=2)
    if numeric:
        ax.set_xticks(sorted(set(position.values())))
        ax.set_xticklabels([str(v) for v in sorted(xs_all, key=lambda v: position[str(v)])])
        ax.minorticks_off()
    else:
        ax.set_xticks(list(position.values()))
        ax.set_xticklabels([str(v) for v in xs_all])
        _rotate(ax, len(xs_all) > 6)
    values = [r[y] for r in rows if isinstance(r.get(y), (int, float))]
    if not y.endswith("hit_rate") and _spans_decades(values):
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(_metric_label(y))
    ax.grid(True, alpha=0.3)
    names = ", ".join(doc.get("sweeps") or []) or Path(doc.get("db", "")).stem
    same = "".join(f" · {a}={rows[0].get(a)}" for a in fixed)
    ax.set_title(f"{_metric_label(y)} against {x}\nsweep {names}{same}", fontsize="medium")
    if any(ax.get_legend_handles_labels()[1]):
        _legend_right(ax)
    return fig


# ---------------------------------------------------------------- mrc (miss-ratio curves)


def _bytes_label(n: float, _pos: Any = None) -> str:
    """A capacity in B, KiB, MiB or GiB (powers of two)."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= unit:
            v = n / unit
            return f"{v:g} {name}" if v == int(v) else f"{v:.3g} {name}"
    return f"{n:g} B"


def mrc_figure(doc: dict):
    """Miss ratio against capacity (bytes, log2 axis when the sizes span a factor of 30):
    the fully associative curve (`mrc.fully_associative`) and the one with the level's
    sets (`mrc.set_associative`), both LRU; a vertical line at every cache size of the
    config (`mrc.cache_sizes`) inside the axis, the level's own solid."""
    plt = _matplotlib()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    m = doc["mrc"]
    g = m["level"]
    fig, (ax,) = _new(plt, 1, 1, 9.0, 5.2)
    fa, sa = m["fully_associative"], m["set_associative"]
    ax.plot([p["size"] for p in fa], [_pct(p["miss_ratio"]) for p in fa], marker="o",
            markersize=3.5, color="#4477aa", label=f"fully associative LRU, {g['line']} B lines")
    ax.plot([p["size"] for p in sa], [_pct(p["miss_ratio"]) for p in sa], marker="s",
            markersize=3.5, linestyle="--", color="#ee6677",
            label=f"LRU, {g['sets']:,} sets of {g['line']} B lines (1 to {m['max_ways']} ways)")
    xs = [p["size"] for p in fa + sa]
    lo, hi = min(xs), max(xs)
    if _spans_decades(xs):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(LogLocator(base=2))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(_bytes_label))
    top = max([_pct(p["miss_ratio"]) for p in fa + sa if p["miss_ratio"] is not None] or [1])
    for c in m["cache_sizes"]:
        if not lo <= c["size"] <= hi:
            continue
        own = c["this"]
        ax.axvline(c["size"], color="#222222" if own else "#999999",
                   linestyle="-" if own else ":", linewidth=1.6 if own else 1.0)
        ax.annotate(f"{c['name']} {_bytes_label(c['size'])}" + (" (this level)" if own else ""),
                    (c["size"], 0.98), xycoords=("data", "axes fraction"), rotation=90,
                    ha="right", va="top", fontsize=8, color="#222222" if own else "#666666")
    ax.set_xlabel("capacity (bytes, log scale)" if ax.get_xscale() == "log" else
                  "capacity (bytes)")
    ratios = [_pct(p["miss_ratio"]) for p in fa + sa]
    if _spans_decades(ratios):
        ax.set_yscale("log")
        ax.set_ylabel("miss ratio (%, log scale)")
        ax.set_ylim(min(r for r in ratios if r > 0) / 1.5, top * 1.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    else:
        ax.set_ylabel("miss ratio (%)")
        ax.set_ylim(0, top * 1.05 if top > 0 else 1)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    policy = "" if m["exact"] else f" — {g['name']} is {g['policy']}: LRU's curve"
    ax.set_title(f"{doc['config']['name']}: miss-ratio curves of {g['name']} "
                 f"({_bytes_label(g['size'])}, {g['ways']} ways, {g['sets']:,} sets){policy}\n"
                 f"{_subject(doc)} · {m['requests']:,} requests", fontsize=9)
    return fig
