"""Figures of results: each is a function of a result document (`result.to_dict()`, the
JSON that `--format json` prints), never of kernel state.

matplotlib is optional (`pip install 'simcache[plot]'`) and imported only inside the
functions that draw, with the non-interactive Agg backend. `figure(doc)` chooses the
figure for a run, a study, a comparison or a network; `plot(doc, path)` draws and writes
it whole or not at all (the format comes from the file's suffix).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import SimcacheError
from .outfile import atomic_output, check_target
from .report import describe_layer

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


def _matplotlib():
    """The pyplot module on the Agg backend, or a SimcacheError saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise SimcacheError([f"--plot: matplotlib is not installed; {INSTALL}"]) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def check_plot(value: str, flag: str = "--plot") -> Path:
    """The figure's path once matplotlib is there, the suffix names a format it writes
    and a file can be written there; else a SimcacheError with one line naming `flag`."""
    _matplotlib()
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
    """One run: hit rates per level, cycles and energy by level and tensor, and with --3c
    the kinds of misses. Returns the matplotlib Figure."""
    plt = _matplotlib()
    ccc = any("three_c" in lv for lv in _caches(doc))
    panels = 4 if ccc else 3
    cols = 2 if ccc else 3
    rows = 2 if ccc else 1
    n = len(doc["levels"])
    width = max((6.5 if ccc else 5.5) * cols, 0.6 * n * cols + 2 * cols)
    fig, axes = _new(plt, rows, cols, width, 4.2 * rows)
    _hit_rate_panel(axes[0], doc)
    _cost_panel(axes[1], doc, "cycles")
    _cost_panel(axes[2], doc, "energy")
    if ccc:
        _three_c_panel(axes[3], doc)
    for ax in axes[:panels]:
        _rotate(ax, n > 6)
    tot = doc["totals"]
    macs = f", {tot['macs']:,} MACs" if tot["macs"] else ""
    fig.suptitle(f"{_subject(doc)} on {doc['config']['name']}: {tot['cycles']:,} cycles, "
                 f"{doc['accesses']:,} accesses{macs}")
    return fig


# ---------------------------------------------------------------- study: layers × batches


def study_figure(doc: dict):
    """Several layer types or batch sizes on one config: every cache level's hit rate and
    the DRAM bytes per MAC, against the batch size, a line per layer type."""
    plt = _matplotlib()
    rows = doc["rows"]
    caches = [lv["name"] for lv in _caches(doc["runs"][0])]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    metrics = [(f"hit_rate_{k + 1}", f"{name} hit rate (%)", 100.0)
               for k, name in enumerate(caches)]
    metrics.append(("dram_bytes_per_mac", "DRAM bytes per MAC", 1.0))
    cols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = _new(plt, nrows, cols, 4.4 * cols, 3.6 * nrows)
    log_x = _spans_decades([float(b) for b in batches], 10.0)
    for ax, (key, label, scale) in zip(axes, metrics, strict=False):
        if len(batches) == 1:
            values = [next(r[key] for r in rows if r["layer"] == t) for t in layers]
            ax.bar(layers, [math.nan if v is None else v * scale for v in values],
                   color="#4477aa")
            ax.set_xlabel(f"layer type (B = {batches[0]})")
            _rotate(ax, len(layers) > 3)
        else:
            for k, t in enumerate(layers):
                pts = sorted((r["batch"], r[key]) for r in rows if r["layer"] == t)
                # markers and dashes differ too: layers with equal values overlap
                ax.plot([b for b, _ in pts],
                        [math.nan if v is None else v * scale for _, v in pts],
                        marker=MARKERS[k % len(MARKERS)], linestyle=DASHES[k % len(DASHES)],
                        markerfacecolor="none" if k % 2 else None, label=t)
            if log_x:
                ax.set_xscale("log", base=2)
                ax.minorticks_off()
            ax.set_xticks(batches, [str(b) for b in batches])
            ax.set_xlabel("batch size B")
            _rotate(ax, len(batches) > 8)
        if key.startswith("hit_rate"):
            ax.set_ylim(-3, 103)  # a line at 0 % stays visible above the axis
        elif _spans_decades([r[key] for r in rows], 30.0):
            from matplotlib.ticker import FormatStrFormatter, LogLocator
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(FormatStrFormatter(""))
        ax.set_ylabel(label)
        ax.set_title(label[0].upper() + label[1:].replace(" (%)", ""))
        ax.grid(color="#e0e0e0")
        ax.set_label(key)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    if len(batches) > 1:
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside right upper", title="layer",
                   fontsize="small", framealpha=1.0)
    lay = doc["runs"][0].get("layer") or {}
    fig.suptitle(f"{', '.join(layers)} on {doc['config']['name']}: M={lay.get('M')} "
                 f"N={lay.get('N')} F={lay.get('F')} K={lay.get('K')}, order "
                 f"{lay.get('order')}")
    return fig


# ---------------------------------------------------------------- compare: configs


def compare_figure(doc: dict):
    """One layer on several configs, side by side: cycles, energy, DRAM traffic and every
    cache level's hit rate."""
    plt = _matplotlib()
    rows = doc["rows"]
    names = [r["config"] for r in rows]
    fig, axes = _new(plt, 2, 2, max(11.0, 1.6 * len(names) + 7), 8.0)
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(names))]
    many = len(names) > 4 or max(len(n) for n in names) > 12

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
    for i, r in enumerate(rows):
        ax.annotate(f"×{r['energy_ratio_low']:.2f}", (i, max(lows[i], highs[i])), ha="center",
                    va="bottom", fontsize="small", xytext=(0, 2), textcoords="offset points")
    if highs != lows:
        ax.errorbar(range(len(names)), lows,
                    yerr=[[0.0] * len(names), [h - lo for h, lo in zip(highs, lows,
                                                                       strict=True)]],
                    fmt="none", ecolor="black", capsize=4, linewidth=0.8,
                    label="range up to the\nhigh estimate")
        _legend_right(ax)
    _eng(ax, "J")
    ax.set_ylabel("energy (J, low estimate)")
    ax.set_title(f"Energy (low estimate's ratio to {names[0]})")
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
        ax.set_xlabel("config")
        ax.margins(y=0.1)
        _rotate(ax, many)
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
    fig, axes = _new(plt, 2, 1, width, 8.5)
    for ax, what in zip(axes, ("cycles", "energy"), strict=True):
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


# ---------------------------------------------------------------- choose, draw, write


def figure(doc: dict):
    """The figure of any result document."""
    if "network" in doc:
        return network_figure(doc)
    if "rows" in doc and "layer" in doc:
        return compare_figure(doc)
    if "rows" in doc:
        return study_figure(doc)
    return run_figure(doc)


def save(fig: Any, path: Path, flag: str = "--plot") -> None:
    """Write the figure whole or not at all, in the format of the path's suffix."""
    fmt = path.suffix.lower().lstrip(".")
    try:
        with atomic_output(path, "wb") as f:
            fig.savefig(f, format=fmt, dpi=110 if fmt == "png" else None)
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
