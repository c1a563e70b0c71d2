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


def study_figure(doc: dict):
    """Several layer types or batch sizes on one config: every cache level's hit rate and
    the DRAM bytes per MAC, against the batch size, a line per layer type; and every run
    on the config's roofline."""
    plt = _matplotlib()
    rows = doc["rows"]
    caches = [lv["name"] for lv in _caches(doc["runs"][0])]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    metrics = [(f"hit_rate_{k + 1}", f"{name} hit rate (%)", 100.0)
               for k, name in enumerate(caches)]
    metrics.append(("dram_bytes_per_mac", "DRAM bytes per MAC", 1.0))
    roof = _has_roofline(doc)
    cols = min(3, len(metrics) + roof)
    nrows = math.ceil((len(metrics) + roof) / cols)
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
    if roof:
        _roofline_panel(axes[len(metrics)], doc)
    for ax in axes[len(metrics) + roof:]:
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
    """Every layer of a network, in order: its cycles and its energy, stacked by level."""
    plt = _matplotlib()
    rows, runs = doc["rows"], doc["runs"]
    labels = [r["name"] for r in rows]
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
        ax.set_xlabel("layer (in network order)")
        ax.set_xlim(-0.6, len(labels) - 0.4)
        _legend_right(ax, stacked=True)
        ax.margins(y=0.05)
        _rotate(ax, len(labels) > 4 or max((len(x) for x in labels), default=0) > 8)
        ax.set_label(what)
    net = doc["network"]
    cfg = (doc.get("config") or {}).get("name", "?")
    b = rows[0]["batch"] if rows else "?"
    tot = doc["totals"]
    fig.suptitle(f"{net['name']} on {cfg}, B={b}: {len(rows)} layers, "
                 f"{tot['cycles']:,} cycles")
    return fig


# ---------------------------------------------------------------- network on several configs


# the three figures compared: (key, row field, title, axis label, unit, scale)
_NET_COMPARED = (("cycles", "cycles", "Cycles", "cycles", "", 1.0),
                 ("energy", "energy_pj_low", "Energy", "energy (J, low estimate)", "J", 1e-12),
                 ("dram_bytes", "dram_bytes", "DRAM traffic",
                  "DRAM traffic (bytes, run and flush)", "B", 1.0))


def network_compare_figure(doc: dict):
    """Every layer of a network on several configs: per layer (grouped bars, a bar per
    config) and in total (a bar per config, labelled with its ratio to the first), for
    cycles, energy and DRAM traffic."""
    plt = _matplotlib()
    rows, totals = doc["rows"], doc["totals"]
    names = [t["config"] for t in totals]
    labels = [r["name"] for r in rows]
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(names))]
    width = max(11.0, 0.25 * len(labels) * max(2, len(names)) + 5)
    fig, grid = plt.subplots(3, 2, figsize=(width, 10.5), squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [4, 1]})
    bar = 0.8 / len(names)
    for (key, field, what, label, unit, scale), (ax, tax) in zip(_NET_COMPARED, grid,
                                                                 strict=True):
        values = [[r["configs"][c][field] * scale for r in rows] for c in range(len(names))]
        for c, name in enumerate(names):
            xs = [i + (c - (len(names) - 1) / 2) * bar for i in range(len(rows))]
            ax.bar(xs, values[c], bar, label=name, color=colors[c])
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        _log_if_decades(ax, [v for vs in values for v in vs])
        _eng(ax, unit)
        ax.set_ylabel(label)
        ax.set_xlabel("layer (in network order)")
        ax.set_title(f"{what} per layer"
                     + (" (log scale)" if ax.get_yscale() == "log" else ""))
        _rotate(ax, len(labels) > 4 or max((len(x) for x in labels), default=0) > 8)
        ax.grid(axis="y", color="#e0e0e0")
        ax.set_axisbelow(True)
        ax.set_label(key)

        ratio = {"cycles": "cycles_ratio", "energy_pj_low": "energy_ratio_low",
                 "dram_bytes": "dram_ratio"}[field]
        heights = [t[field] * scale for t in totals]
        tax.bar(names, heights, color=colors)
        for i, t in enumerate(totals):
            shown = "–" if t[ratio] is None else f"×{t[ratio]:.2f}"
            tax.annotate(shown, (i, heights[i]), ha="center", va="bottom", fontsize="small",
                         xytext=(0, 2), textcoords="offset points")
        _eng(tax, unit)
        tax.margins(y=0.12)
        tax.set_ylabel(label)
        tax.set_xlabel("config")
        tax.set_title(f"{what} in total\n(ratio to {names[0]})")
        _rotate(tax, sum(len(n) + 2 for n in names) > 20)
        tax.set_label(f"total_{key}")
    handles, shown = grid[0][0].get_legend_handles_labels()
    fig.legend(handles, shown, loc="outside right upper", title="config", fontsize="small",
               framealpha=1.0)
    opts = doc.get("options", {})
    fig.suptitle(f"{doc['network']['name']}, B={opts.get('batch', '?')}, on "
                 f"{', '.join(names)}: {len(rows)} layers, each with cold caches")
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
    if "network" in doc:
        return network_figure(doc)
    if "rows" in doc and "layer" in doc:
        return compare_figure(doc)
    if "rows" in doc and "roofline" in doc:
        return metrics_figure(doc)
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
