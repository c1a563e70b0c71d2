"""A summary (accounting.summarize) → table, JSON or CSV; outputs written whole or not at all."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .outfile import atomic_output

FORMATS = ("table", "json", "csv")
CSV_COLUMNS = ("level", "tensor", "reads", "writes", "hits", "misses", "hit_rate", "writebacks",
               "flush_writebacks", "bytes_read", "bytes_written", "served", "cycles",
               "energy_pj_low", "energy_pj_high", "macs", "dram_bytes", "min_dram_bytes",
               "amplification", "intensity", "intensity_eq24")


# ---------------------------------------------------------------- numbers for people


def count(n: int | float | None, compact: bool = False) -> str:
    """12,345,678 exactly, or 12.3M when space is short (JSON and CSV stay exact)."""
    if n is None:
        return "–"
    if compact and abs(n) >= 10_000:
        for unit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(n) >= unit:
                return f"{n / unit:.3g}{suffix}"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.1f}"
    return f"{int(n):,}"


def rate(r: float | None) -> str:
    return "–" if r is None else f"{100 * r:.2f}%"


def _scaled(pj: float, unit: float, name: str) -> str:
    v = pj / unit
    return f"{v:.3g} {name}"


def _energy_unit(pj: float) -> tuple[float, str]:
    for unit, name in ((1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ")):
        if pj >= unit:
            return unit, name
    return 1.0, "pJ"


def energy(e: dict) -> str:
    """'3.1–6.2 µJ', or one value when the config gives no range."""
    unit, name = _energy_unit(e["high"])
    if e["low"] == e["high"]:
        return _scaled(e["high"], unit, name)
    return f"{e['low'] / unit:.3g}–{_scaled(e['high'], unit, name)}"


def nbytes(n: float) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= unit:
            return f"{n / unit:.3g} {name}"
    return f"{int(n)} B"


# ---------------------------------------------------------------- formats


def to_json(summary: dict) -> str:
    return json.dumps(summary, indent=2) + "\n"


def csv_rows(summary: dict) -> list[dict]:
    rows = []
    for lv in summary["levels"]:
        for tensor, block in [("all", lv)] + list(lv["by_tensor"].items()):
            row = {k: block[k] for k in CSV_COLUMNS[2:13]}
            row.update(level=lv["name"], tensor=tensor,
                       energy_pj_low=block["energy_pj"]["low"],
                       energy_pj_high=block["energy_pj"]["high"])
            rows.append(row)
    t = summary["totals"]
    tr = t["traffic"]
    rows.append({"level": "total", "tensor": "all", "cycles": t["cycles"],
                 "energy_pj_low": t["energy_pj"]["low"], "energy_pj_high": t["energy_pj"]["high"],
                 "macs": t["macs"], "dram_bytes": tr["dram_bytes"],
                 "min_dram_bytes": tr["min_bytes"], "amplification": tr["amplification"],
                 "intensity": tr["intensity"], "intensity_eq24": tr["intensity_eq24"]})
    return rows


def rows_to_csv(rows: list[dict], columns: tuple[str, ...] | None = None) -> str:
    """CSV with a header; columns default to the union of the rows' keys in first-seen order."""
    if columns is None:
        columns = tuple(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def to_csv(summary: dict) -> str:
    return rows_to_csv(csv_rows(summary), CSV_COLUMNS)


def title(summary: dict) -> str:
    cfg = summary["config"]
    head = f"simcache {summary['simcache']} · {cfg['name']}"
    layer = summary.get("layer")
    if layer:
        dims = f"B={layer['B']} M={layer['M']} N={layer['N']} F={layer['F']} K={layer['K']}"
        if layer["type"] == "group":
            dims += f" G={layer['G']}"
        extra = f" stride={layer['stride']}" if layer["stride"] != 1 else ""
        head += (f" · {layer['type']} {dims}{extra} · padding {layer['padding']}"
                 f" · order {layer['order']}")
    return head


def _sig(v: float) -> str:
    """Three significant digits without exponents: 0.00286, 26.4, 1,570."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _table_unit(summary: dict) -> tuple[float, str]:
    """The smallest energy unit in which the largest figure stays under 10,000."""
    top = summary["totals"]["energy_pj"]["high"]
    for unit, name in ((1.0, "pJ"), (1e3, "nJ"), (1e6, "µJ")):
        if top / unit < 10_000:
            return unit, name
    return 1e9, "mJ"


def levels_table(summary: dict, by_tensor: bool = False, compact: bool = False) -> Table:
    unit, uname = _table_unit(summary)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    table.add_column("\nlevel", no_wrap=True)
    for name in ("\naccesses", "\nhits", "\nmisses", "hit\nrate", "write-\nbacks",
                 "flush\nwrite-b.", "\ncycles", f"energy\n{uname}"):
        table.add_column(name, justify="right", no_wrap=True)

    def joules(e: dict) -> str:
        lo, hi = e["low"] / unit, e["high"] / unit
        return _sig(hi) if lo == hi else f"{_sig(lo)}–{_sig(hi)}"

    def add(name: str, b: dict, style: str | None = None) -> None:
        table.add_row(name, count(b["reads"] + b["writes"], compact), count(b["hits"], compact),
                      count(b["misses"], compact), rate(b["hit_rate"]),
                      count(b["writebacks"], compact), count(b["flush_writebacks"], compact),
                      count(b["cycles"], compact), joules(b["energy_pj"]), style=style)

    for lv in summary["levels"]:
        add(lv["name"], lv, "bold" if by_tensor else None)
        if by_tensor:
            for t, b in lv["by_tensor"].items():
                add(f"  {t}", b, "dim" if not (b["reads"] + b["writes"]) else None)
    t = summary["totals"]
    table.add_row("total", "", "", "", "", "", "", count(t["cycles"], compact),
                  joules(t["energy_pj"]), style="bold")
    return table


def footer(summary: dict) -> list[str]:
    t, n = summary["totals"], summary["accesses"]
    lines = []
    layer = summary.get("layer")
    macs = f"{count(t['macs'])} MACs"
    if layer and layer["macs_nominal"] != t["macs"]:
        macs += f" ({count(layer['macs_nominal'])} with every tap, Eq. 2.1; padded taps skipped)"
    amat = "–" if t["amat"] is None else f"{t['amat']:.3g}"
    if layer:
        lines.append(f"{count(n)} accesses · {macs}")
        per_mac = f" · {t['cycles'] / t['macs']:.3g} cycles/MAC" if t["macs"] else ""
        lines.append(f"cycles {count(t['cycles'])} = memory {count(t['memory_cycles'])} + MACs "
                     f"{count(t['mac_cycles'])} · AMAT {amat} cycles{per_mac}")
        lines.append(f"energy {energy(t['energy_pj'])} = memory "
                     f"{energy(t['memory_energy_pj'])} + MACs {energy(t['mac_energy_pj'])}")
    else:  # a trace: accesses only, no MACs
        lines.append(f"{count(n)} accesses · cycles {count(t['cycles'])} · AMAT {amat} cycles "
                     f"· energy {energy(t['energy_pj'])}")
    trace = summary.get("trace")
    if trace:
        extra = ""
        if trace["instructions"]:
            extra += f" · {count(trace['instructions'])} instruction fetches left out"
        if trace["skipped"]:
            extra += f" · {count(trace['skipped'])} bad records skipped"
        lines.append(f"trace {trace['path']} ({trace['format']}){extra}")
        lines += [f"  skipped: {e}" for e in trace["examples"]]
    tr = t["traffic"]
    if tr["min_bytes"] is None:
        lines.append(f"DRAM traffic {nbytes(tr['dram_bytes'])}")
    else:
        lines.append(f"DRAM traffic {nbytes(tr['dram_bytes'])} = {tr['amplification']:.2f} × "
                     f"the minimum {nbytes(tr['min_bytes'])} (parameters and inputs read once, "
                     "outputs read and written once)")
        measured = "–" if tr["intensity"] is None else f"{tr['intensity']:.3g}"
        lines.append(f"arithmetic intensity {measured} MACs per DRAM byte measured vs "
                     f"{tr['intensity_eq24']:.3g} by Eq. 2.4")
    if layer:
        bases = ", ".join(f"{x['name']} {x['base_hex']}" for x in layer["tensors"])
        lines.append(f"tensor bases: {bases}")
    secs = summary.get("seconds") or 0
    speed = f" ({n / secs / 1e6:.1f} M accesses/s)" if secs > 0 else ""
    verb = "simulated" if layer else "read and replayed"
    lines.append(f"{verb} in {secs:.2f} s{speed}")
    return lines


def fitting(build, width: int) -> Table:
    """build(compact=False) if it fits in `width` columns, else build(compact=True)."""
    table = build(False)
    probe = Console(file=io.StringIO(), width=1000, color_system=None)
    probe.print(table)
    if max(map(len, probe.file.getvalue().splitlines())) > width:
        table = build(True)
    return table


def show(console: Console, head: str, build, footer: list[str] = ()) -> None:
    """A title, a table that fits the console, and footer lines."""
    console.print(head, style="bold", highlight=False, soft_wrap=True)
    console.print(fitting(build, console.width))
    for line in footer:
        console.print(line, highlight=False, soft_wrap=True)


def text(head: str, build, footer: list[str] = (), width: int = 160) -> str:
    """The same as plain text, for a file."""
    buf = io.StringIO()
    show(Console(file=buf, width=width, color_system=None), head, build, footer)
    return buf.getvalue()


def print_table(summary: dict, console: Console, by_tensor: bool = False) -> None:
    show(console, title(summary), lambda c: levels_table(summary, by_tensor, c),
         footer(summary))


def to_table(summary: dict, by_tensor: bool = False, width: int = 120) -> str:
    return text(title(summary), lambda c: levels_table(summary, by_tensor, c), footer(summary),
                width)


def render(summary: dict, fmt: str, by_tensor: bool = False) -> str:
    if fmt == "json":
        return to_json(summary)
    if fmt == "csv":
        return to_csv(summary)
    return to_table(summary, by_tensor)


def write_atomic(path: str | Path, text: str) -> None:
    """Write the whole file or nothing."""
    with atomic_output(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- studies and comparisons


def _per(v: float | None, digits: str = ".3g") -> str:
    return "–" if v is None else format(v, digits)


def _range(lo: float | None, hi: float | None) -> str:
    if lo is None:
        return "–"
    return _sig(hi) if lo == hi else f"{_sig(lo)}–{_sig(hi)}"


def study_table(rows: list[dict], level_names: list[str], compact: bool = False) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1),
                  title="hit rate per level, then per MAC: cycles, energy, DRAM bytes"
                  if compact else None, title_justify="left", title_style="")
    table.add_column("layer" if compact else "\nlayer", no_wrap=True)
    table.add_column("B" if compact else "\nB", justify="right", no_wrap=True)
    for name in level_names:
        table.add_column(name if compact else f"hit rate\n{name}", justify="right",
                         no_wrap=True)
    heads = (("cycles", "pJ", "bytes", "÷ min") if compact else
             ("cycles\n/MAC", "energy\npJ/MAC", "DRAM\nB/MAC", "traffic\n÷ min"))
    for name in heads:
        table.add_column(name, justify="right", no_wrap=True)
    digits = ".1%" if compact else ".2%"
    for r in rows:
        rates = ["–" if r[f"hit_rate_{k + 1}"] is None else format(r[f"hit_rate_{k + 1}"], digits)
                 for k in range(len(level_names))]
        amp = "–" if r["amplification"] is None else f"{r['amplification']:.2f}×"
        table.add_row(r["layer"], str(r["batch"]), *rates, _per(r["cycles_per_mac"]),
                      _range(r["energy_per_mac_pj_low"], r["energy_per_mac_pj_high"]),
                      _per(r["dram_bytes_per_mac"]), amp)
    return table


def compare_table(rows: list[dict], compact: bool = False) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    table.add_column("")
    for r in rows:
        table.add_column(r["config"], justify="right", no_wrap=True)
    depth = max(len([k for k in r if k.startswith("hit_rate_")]) for r in rows)
    for k in range(1, depth + 1):
        cells = [f"{r[f'level_{k}']} {rate(r[f'hit_rate_{k}'])}" if f"level_{k}" in r else "–"
                 for r in rows]
        table.add_row(f"level {k} hit rate", *cells)

    def with_ratio(value: str, ratio: float | None, first: bool) -> str:
        return value if first or ratio is None else f"{value} ({ratio:.2f}×)"

    table.add_row("cycles", *[with_ratio(count(r["cycles"], True), r["cycles_ratio"], k == 0)
                              for k, r in enumerate(rows)])
    table.add_row("cycles/MAC", *[_per(r["cycles_per_mac"]) for r in rows])
    table.add_row("energy", *[with_ratio(energy({"low": r["energy_pj_low"],
                                                 "high": r["energy_pj_high"]}),
                                         r["energy_ratio_high"], k == 0)
                              for k, r in enumerate(rows)])
    table.add_row("DRAM traffic", *[with_ratio(nbytes(r["dram_bytes"]), r["dram_ratio"], k == 0)
                                    for k, r in enumerate(rows)])
    table.add_row("traffic ÷ minimum", *[_per(r["amplification"], ".2f") + "×" for r in rows])
    return table


def metrics_table(rows: list[dict], compact: bool = False) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    for name in ("\nlayer", "\nB", "\nMACs", "\nparams", "acti-\nvations", "MACs per\nelement",
                 "params\nbytes", "activation\nbytes", "MACs per\nbyte"):
        table.add_column(name, justify="left" if "layer" in name else "right", no_wrap=True)
    for r in rows:
        table.add_row(r["layer"], str(r["batch"]), count(r["macs"], compact),
                      count(r["params"], compact), count(r["activations"], compact),
                      f"{r['intensity']:.4g}", nbytes(r["params_bytes"]),
                      nbytes(r["activations_bytes"]), f"{r['intensity_per_byte']:.4g}")
    return table


def table_2_2(rows: list[dict], compact: bool = False) -> Table:
    """Our figures in the document's layout and precision; * marks a cell that differs from
    the printed one, and a dim row under each layer repeats the printed figures."""
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    table.add_column("\n", no_wrap=True)
    for what in ("Params", "MACs", "Intensity"):
        for p in presets:
            table.add_column(f"{what}\n{p}", justify="right", no_wrap=True)
    by = {(r["layer"], r["preset"]): r for r in rows}
    for layer in dict.fromkeys(r["layer"] for r in rows):
        ours, printed = [], []
        for k in range(3):  # params, MACs, intensity
            for p in presets:
                r = by[(layer, p)]
                mark = "" if r["ours"][k] == r["printed"][k] else "*"
                ours.append(r["ours"][k] + mark)
                printed.append(r["printed"][k] + (" " if mark else ""))
        table.add_row(layer, *ours)
        table.add_row("  printed", *printed, style="dim")
    return table


def _short_type(r: dict) -> str:
    """conv3x3, 1x1, dw3x3, group3x3, sep3, fc."""
    k = r["K"]
    return {"spatial": f"conv{k}x{k}", "pointwise": "1x1", "depthwise": f"dw{k}x{k}",
            "group": f"group{k}x{k}", "separable": f"sep{k}", "fc": "fc"}[r["type"]]


def network_table(rows: list[dict], totals: dict, compact: bool = False) -> Table:
    unit, uname = _table_unit({"totals": {"energy_pj": totals["energy_pj"]}})
    bunit, bname = next(((u, n) for u, n in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
                         if totals["dram_bytes"] >= 10 * u), (1, "B"))
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
    heads = ("layer", "type", "M→N", "F/S", "MACs", "cycles", "%", f"energy {uname}",
             f"DRAM {bname}")
    for k, name in enumerate(heads):
        table.add_column(name, justify="left" if k < 2 else "right", no_wrap=True,
                         max_width=12 if compact and k == 0 else None, overflow="ellipsis")
    digits = ".2g" if compact else ".3g"

    def sig(v: float) -> str:
        return f"{v:,.0f}" if v >= 100 else format(v, digits)

    def joules(lo: float, hi: float) -> str:
        lo, hi = lo / unit, hi / unit
        return sig(hi) if lo == hi else f"{sig(lo)}–{sig(hi)}"

    for r in rows:
        size = f"{r['F']}/{r['stride']}" if r["stride"] != 1 else str(r["F"])
        table.add_row(r["name"], _short_type(r), f"{r['M']}→{r['N']}", size,
                      count(r["macs"], compact), count(r["cycles"], compact),
                      f"{100 * r['cycles_share']:.1f}",
                      joules(r["energy_pj_low"], r["energy_pj_high"]),
                      f"{r['dram_bytes'] / bunit:.3g}")
    e = totals["energy_pj"]
    table.add_row("total", "", "", "", count(totals["macs"], compact),
                  count(totals["cycles"], compact), "100", joules(e["low"], e["high"]),
                  f"{totals['dram_bytes'] / bunit:.3g}", style="bold")
    return table


def network_footer(rows: list[dict], totals: dict, skipped: list[dict]) -> list[str]:
    lines = [f"{totals['layers']} layers simulated; F/S: input size / stride; types: convKxK "
             "spatial, 1x1 pointwise, dwKxK depthwise, groupKxK, sepK separable, fc"]
    top = sorted(rows, key=lambda r: r["cycles"], reverse=True)[:3]
    if top:
        lines.append("dominant layers (cycles): " + ", ".join(
            f"{r['name']} {100 * r['cycles_share']:.1f}%" for r in top))
    if totals["min_dram_bytes"]:
        lines.append(f"DRAM traffic {nbytes(totals['dram_bytes'])} = "
                     f"{totals['dram_bytes'] / totals['min_dram_bytes']:.2f} × the layers' "
                     f"minimum {nbytes(totals['min_dram_bytes'])}; each layer starts with cold "
                     "caches")
    if skipped:
        kinds: dict[str, int] = {}
        for x in skipped:
            kinds[x["type"]] = kinds.get(x["type"], 0) + 1
        lines.append(f"skipped {len(skipped)} layers that are not loop nests: " + ", ".join(
            f"{n} {k}" for k, n in kinds.items()) + " (listed in --format json)")
    secs = totals["seconds"]
    lines.append(f"simulated {count(totals['accesses'])} accesses in {secs:.1f} s of "
                 "simulation time")
    return lines
