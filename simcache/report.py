"""A summary (accounting.summarize) → table, JSON or CSV; outputs written whole or not at all.

No table ever cuts a figure or a name. On a terminal a table is shown at the terminal's
width: in full if it fits, else with compact figures (14.3M), else split into parts that
each fit, the row names repeated in every part; a part that still cannot fit (one very long
name) is printed whole, wider than the terminal. Piped or written to a file, a table is
printed in full at its natural width. Titles and footers wrap at spaces on a terminal and
are single lines elsewhere. JSON is strict: no NaN or infinity ever reaches it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .accounting import KINDS_3C, network_total_row
from .errors import SimcacheError
from .outfile import atomic_output

FORMATS = ("table", "json", "csv")
CSV_COLUMNS = ("level", "tensor", "reads", "writes", "hits", "misses", "hit_rate", "writebacks",
               "flush_writebacks", "bytes_read", "bytes_written", "served", "cycles",
               "energy_pj_low", "energy_pj_high", "macs", "dram_bytes", "min_dram_bytes",
               "amplification", "intensity", "intensity_eq24")


# ---------------------------------------------------------------- numbers for people


def fmt_sig(v: float, digits: int = 3) -> str:
    """`digits` significant digits and never an exponent: 0.00286, 26.4, 999.7 → 1,000;
    from 1,000 up, every whole digit with thousands separators (1,570, 12,346)."""
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    r = float(f"{v:.{digits}g}")
    if abs(r) >= 1000:
        return f"{v:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(r))))
    out = f"{r:.{decimals}f}"
    return out.rstrip("0").rstrip(".") if "." in out else out


def _with_unit(v: float, units: tuple[tuple[float, str], ...], sep: str = "") -> str:
    """v in the largest unit it reaches, three digits; a value that rounds up to 1,000 of
    one unit moves to the next (999,999 → 1M, not 1e+03k)."""
    k = max((i for i, (u, _) in enumerate(units) if abs(v) >= u), default=0)
    while True:
        unit, name = units[k]
        shown = fmt_sig(v / unit)
        if k + 1 < len(units) and abs(float(shown.replace(",", ""))) >= 1000:
            k += 1
            continue
        return f"{shown}{sep}{name}"


_COUNT_UNITS = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"))


def count(n: int | float | None, compact: bool = False) -> str:
    """12,345,678 exactly, or 12.3M when space is short (JSON and CSV stay exact)."""
    if n is None:
        return "–"
    if isinstance(n, float) and not math.isfinite(n):
        return str(n)
    if compact and abs(n) >= 10_000:
        return _with_unit(n, _COUNT_UNITS)
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.1f}"
    return f"{int(n):,}"


def rate(r: float | None, decimals: int = 2) -> str:
    return "–" if r is None else f"{100 * r:.{decimals}f}%"


_ENERGY_UNITS = ((1.0, "pJ"), (1e3, "nJ"), (1e6, "µJ"), (1e9, "mJ"), (1e12, "J"))


def energy(e: dict) -> str:
    """'3.1–6.2 µJ', or one value when the config gives no range: both ends in the unit of
    the higher one."""
    hi = _with_unit(e["high"], _ENERGY_UNITS, " ")
    if e["low"] == e["high"]:
        return hi
    value, name = hi.split(" ")
    unit = dict((n, u) for u, n in _ENERGY_UNITS)[name]
    return f"{fmt_sig(e['low'] / unit)}–{value} {name}"


_BYTE_UNITS = ((1, "B"), (1 << 10, "KiB"), (1 << 20, "MiB"), (1 << 30, "GiB"), (1 << 40, "TiB"))


def nbytes(n: float) -> str:
    if abs(n) < 1024:
        return f"{int(n)} B"
    return _with_unit(n, _BYTE_UNITS, " ")


# ---------------------------------------------------------------- formats


def to_json(doc: dict) -> str:
    """Strict JSON: numpy numbers become Python numbers, and a NaN or an infinity anywhere
    raises SimcacheError naming the field (JSON has neither; Python would write `Infinity`)."""
    return json.dumps(json_ready(doc), indent=2, allow_nan=False) + "\n"


def json_ready(value, where: str = ""):
    """A copy of `value` that json.dumps(allow_nan=False) accepts, or SimcacheError."""
    if isinstance(value, dict):
        return {str(k): json_ready(v, f"{where}.{k}" if where else str(k))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, f"{where}[{k}]") for k, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist(), where)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            raise SimcacheError([f"JSON output: {where or 'value'} is {v}, which JSON cannot "
                                 "carry (a config figure too large, or not a finite number?)"])
        return v
    if isinstance(value, Path):
        return str(value)
    return value


def csv_rows(summary: dict) -> list[dict]:
    rows = []
    for lv in summary["levels"]:
        for tensor, block in [("all", lv)] + list(lv["by_tensor"].items()):
            row = {k: block[k] for k in CSV_COLUMNS[2:13]}
            row.update(block.get("three_c", {}))
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


def interrupted_csv(text: str, marker: str) -> str:
    """A partial result's CSV (docs/formats.md, "Interrupted runs"): its rows, then one
    marker row, `marker` ('interrupted: 3 of 4 runs finished') in the first column and the
    others empty, so that every row keeps the header's columns."""
    columns = len(next(csv.reader([text.splitlines()[0]]))) if text else 1
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([marker] + [""] * (columns - 1))
    return text + buf.getvalue()


def to_csv(summary: dict) -> str:
    columns = CSV_COLUMNS
    if any("three_c" in lv for lv in summary["levels"]):  # after the misses they split
        at = columns.index("misses") + 1
        columns = columns[:at] + KINDS_3C + columns[at:]
    return rows_to_csv(csv_rows(summary), columns)


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
                 f" · order {layer['order']}{tiles_note(layer)}")
    return head


def tiles_note(layer: dict, sep: str = " · ") -> str:
    """' · tiles n=8,m=16' for a tiled layer's title ('' when it has no tiles)."""
    tiles = layer.get("tiles") or {}
    return f"{sep}tiles {','.join(f'{k}={v}' for k, v in tiles.items())}" if tiles else ""


def describe_layer(lay: dict) -> str:
    """A layer document in one line: type, dimensions, stride, padding, order, tiles."""
    s = f"{lay['type']} B={lay['B']} M={lay['M']} N={lay['N']} F={lay['F']} K={lay['K']}"
    if lay["type"] == "group":
        s += f" G={lay['G']}"
    if lay["stride"] != 1:
        s += f" stride={lay['stride']}"
    return s + f" padding={lay['padding']} order={lay['order']}{tiles_note(lay, ' ')}"


def _sig(v: float) -> str:
    """Three significant digits without exponents: 0.00286, 26.4, 1,570."""
    return fmt_sig(v, 3)


def _table_unit(summary: dict) -> tuple[float, str]:
    """The smallest energy unit in which the largest figure stays under 10,000."""
    top = summary["totals"]["energy_pj"]["high"]
    for unit, name in ((1.0, "pJ"), (1e3, "nJ"), (1e6, "µJ")):
        if top / unit < 10_000:
            return unit, name
    return 1e9, "mJ"


# ---------------------------------------------------------------- tables that never cut


class Grid(Table):
    """A borderless table whose first `keys` columns name the row: when the table is too
    wide it is split into parts, each repeating those columns. Cells are plain text (a
    layer or config name is never read as markup), every column keeps its cells on one
    line, and a column rich is ever forced to narrow folds instead of cutting. `note` is a
    line printed above the table (wrapped like a footer)."""

    def __init__(self, keys: int = 1, note: str | None = None, **kw) -> None:
        for k, v in dict(box=None, header_style="bold", pad_edge=False,
                         padding=(0, 1)).items():
            kw.setdefault(k, v)
        super().__init__(**kw)
        self.keys = keys
        self.note = note

    def add_column(self, header="", *, justify="left", **kw) -> None:  # noqa: D102
        kw.setdefault("no_wrap", True)
        kw.setdefault("overflow", "fold")
        super().add_column(Text(header) if isinstance(header, str) else header,
                           justify=justify, **kw)

    def add_row(self, *cells, **kw) -> None:  # noqa: D102
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kw)


_PROBE = Console(file=io.StringIO(), width=1 << 20, color_system=None, legacy_windows=False)


def natural_width(table: Table) -> int:
    """The columns a table takes when nothing limits it."""
    return _PROBE.measure(table).maximum


def _plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _part(table: Table, columns: list, first: bool) -> Table:
    """A table of some of `table`'s columns (rows whose shown cells are all empty left out)."""
    keys = getattr(table, "keys", 1)
    keep = [i for i in range(table.row_count)
            if any(_plain(c._cells[i]) for c in columns[keys:])] if columns[keys:] else []
    part = Grid(keys=keys, note=getattr(table, "note", None) if first else None,
                box=table.box, header_style=table.header_style, pad_edge=table.pad_edge,
                padding=table.padding, show_header=table.show_header,
                title=table.title if first else None, title_justify=table.title_justify,
                title_style=table.title_style, caption=table.caption,
                show_edge=table.show_edge, collapse_padding=table.collapse_padding)
    part.columns = [dataclasses.replace(c, _index=k, _cells=[c._cells[i] for i in keep])
                    for k, c in enumerate(columns)]
    if all(_plain(c.header).startswith("\n") for c in part.columns):  # a blank header line
        for c in part.columns:
            c.header = Text(_plain(c.header)[1:])
    part.rows = [table.rows[i] for i in keep]
    return part


def split(table: Table, width: int) -> list[Table]:
    """`table` if it fits in `width` columns, else parts of it that each fit: the key
    columns, then as many further columns as fit, in order. A part of the key columns and
    one more column that is still too wide is kept whole: it is printed wider than `width`
    rather than cut."""
    if natural_width(table) <= width:
        return [table]
    keys = getattr(table, "keys", 1)
    head, rest = table.columns[:keys], table.columns[keys:]
    if not rest:
        return [table]
    groups: list[list] = [[]]
    for col in rest:
        trial = groups[-1] + [col]
        if groups[-1] and natural_width(_part(table, head + trial, False)) > width:
            groups.append([col])
        else:
            groups[-1] = trial
    return [_part(table, head + g, k == 0) for k, g in enumerate(groups)]


Build = Callable[[int], Table]
# How hard a table builder squeezes: every figure in full; counts to three digits (14.3M);
# also shorter headers and hit rates to one decimal (the builders that can). Builders take
# it as their `compact` argument; True is COMPACT.
FULL, COMPACT, NARROW = 0, 1, 2


def layout(build: Build, width: int | None) -> list[Table]:
    """The tables to print for `width` columns (None: no limit): the first of
    build(FULL), build(COMPACT), build(NARROW) that fits, else the last split into parts."""
    if width is None:
        return [build(FULL)]
    return split(_squeezed(build, width), width)


def fitting(build: Build, width: int | None) -> Table:
    """The one table for `width` columns, as squeezed as it must be, before any split."""
    return layout(build, width)[0] if width is None else _squeezed(build, width)


def _squeezed(build: Build, width: int) -> Table:
    table = build(FULL)
    for level in (COMPACT, NARROW):
        if natural_width(table) <= width:
            break
        table = build(level)
    return table


def _lines(line: str, width: int | None) -> list[str]:
    """One line of prose, wrapped to `width` at spaces, never inside a word or a number (a
    word longer than the width gets a line of its own). A clause after ' · ' that does not
    fit on a line already half full starts the next line. Continuation lines are indented
    two spaces past the line's own indent."""
    if width is None or len(line) <= width:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    more = indent + "  "
    clauses = line[len(indent):].split(" · ")
    out, cur = [], indent
    for k, clause in enumerate(clauses):
        words = clause.split(" ")
        if k + 1 < len(clauses):
            words[-1] += " ·"
        whole = " ".join(words)
        if (cur.strip() and len(cur) + 1 + len(whole) > width and len(cur) >= width // 2
                and len(more) + len(whole) <= width):
            out.append(cur)
            cur = more
        for word in words:
            if not cur.strip():
                cur += word
            elif len(cur) + 1 + len(word) <= width:
                cur += " " + word
            else:
                out.append(cur)
                cur = more + word
    out.append(cur)
    return out


def _say(console: Console, line: str, width: int | None, style: str | None = None) -> None:
    for piece in _lines(line, width):
        console.print(piece, style=style, highlight=False, markup=False, emoji=False,
                      soft_wrap=True)


def _print_whole(console: Console, table: Table) -> None:
    """Print a table at its natural width, even when that is wider than the console."""
    need = natural_width(table)
    if need <= console.width:
        console.print(table)
        return
    old = console.width
    console.width = need
    try:
        console.print(table)
    finally:
        console.width = old


def show(console: Console, head: str, build: Build, footer: Iterable[str] = (),
         fit: bool | None = None) -> None:
    """A title, the table (made to fit the console's width when `fit`; by default when the
    console is a terminal), and footer lines. Nothing is ever cut: see the module's doc."""
    fit = console.is_terminal if fit is None else fit
    width = console.width if fit else None
    _say(console, head, width, "bold")
    tables = layout(build, width)
    for k, table in enumerate(tables):
        note = getattr(table, "note", None)
        if note:
            _say(console, note, width)
        if k:
            console.print()
        _print_whole(console, table)
    for line in footer:
        _say(console, line, width)


def text(head: str, build: Build, footer: Iterable[str] = (), width: int | None = None) -> str:
    """The same as plain text, for a file: at the table's natural width (width=None), or
    made to fit `width` columns."""
    buf = io.StringIO()
    console = Console(file=buf, width=width or 80, color_system=None, legacy_windows=False)
    show(console, head, build, footer, fit=width is not None)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def _levels_build(summary: dict, by_tensor: bool) -> Build:
    return lambda compact: levels_table(summary, by_tensor, compact)


def print_table(summary: dict, console: Console, by_tensor: bool = False,
                fit: bool | None = None) -> None:
    show(console, title(summary), _levels_build(summary, by_tensor), footer(summary), fit)


def to_table(summary: dict, by_tensor: bool = False, width: int | None = None) -> str:
    return text(title(summary), _levels_build(summary, by_tensor), footer(summary), width)


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


# ---------------------------------------------------------------- a run's table and footer


def levels_table(summary: dict, by_tensor: bool = False, compact: int = FULL) -> Table:
    unit, uname = _table_unit(summary)
    narrow = compact >= NARROW
    classified = any("three_c" in lv for lv in summary["levels"])
    table = Grid()
    table.add_column("\nlevel")
    heads = ["\naccesses", "\nhits", "\nmisses"]
    if classified:  # the misses by kind (--3c)
        heads += (["comp-\nulsory", "capa-\ncity", "con-\nflict"] if narrow
                  else ["\ncompulsory", "\ncapacity", "\nconflict"])
    heads += ["hit\nrate", "write-\nbacks", "\nflush" if narrow else "flush\nwrite-b.",
              "\ncycles", f"energy\n{uname}"]
    for name in heads:
        table.add_column(name, justify="right")

    def add(name: str, b: dict, style: str | None = None) -> None:
        kinds = []
        if classified:
            c = b.get("three_c")
            kinds = [count(c[k], compact) if c else "" for k in KINDS_3C]
        table.add_row(name, count(b["reads"] + b["writes"], compact), count(b["hits"], compact),
                      count(b["misses"], compact), *kinds,
                      rate(b["hit_rate"], 1 if narrow else 2),
                      count(b["writebacks"], compact), count(b["flush_writebacks"], compact),
                      count(b["cycles"], compact), energy_cell(b["energy_pj"], unit),
                      style=style)

    for lv in summary["levels"]:
        add(lv["name"], lv, "bold" if by_tensor else None)
        if by_tensor:
            for t, b in lv["by_tensor"].items():
                add(f"  {t}", b, "dim" if not (b["reads"] + b["writes"]) else None)
    t = summary["totals"]
    table.add_row("total", *[""] * (len(heads) - 2), count(t["cycles"], compact),
                  energy_cell(t["energy_pj"], unit), style="bold")
    return table


def energy_cell(e: dict, unit: float) -> str:
    """An energy range in a table's unit (the unit is in the column's header)."""
    lo, hi = e["low"] / unit, e["high"] / unit
    return _sig(hi) if lo == hi else f"{_sig(lo)}–{_sig(hi)}"


def _trace_requests(summary: dict) -> str | None:
    """Why the first level received more (or fewer) requests than the trace has accesses,
    with the numbers; None when they agree and no lackey M record was doubled."""
    trace, n = summary["trace"], summary["accesses"]
    first = summary["levels"][0]
    requests = first["reads"] + first["writes"]
    modifies = trace.get("modifies", 0) or 0
    if requests == n and not modifies:
        return None
    parts = []
    if modifies:
        parts.append(f"the {count(n)} accesses count each of the {count(modifies)} lackey M "
                     f"(modify) records as a read and a write ({count(n - modifies)} records)")
    if requests != n:
        line = (first.get("geometry") or {}).get("line")
        size = f" ({first['name']} lines are {line} bytes)" if line else ""
        if requests > n:
            parts.append(f"{first['name']} received {count(requests)} requests for the "
                         f"{count(n)} accesses: {count(requests - n)} more, as an access that "
                         f"straddles lines{size} becomes one request per line")
        else:
            parts.append(f"{first['name']} received {count(requests)} requests for the "
                         f"{count(n)} accesses")
    return "; ".join(parts)


def footer(summary: dict) -> list[str]:
    t, n = summary["totals"], summary["accesses"]
    lines = []
    layer = summary.get("layer")
    macs = f"{count(t['macs'])} MACs"
    if layer and layer["macs_nominal"] != t["macs"]:
        macs += f" ({count(layer['macs_nominal'])} with every tap, Eq. 2.1; padded taps skipped)"
    amat = "–" if t["amat"] is None else _sig(t["amat"])
    if layer:
        lines.append(f"{count(n)} accesses · {macs}")
        per_mac = f" · {_sig(t['cycles'] / t['macs'])} cycles/MAC" if t["macs"] else ""
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
        why = _trace_requests(summary)
        if why:
            lines.append(why)
    tr = t["traffic"]
    if tr["min_bytes"] is None:
        lines.append(f"DRAM traffic {nbytes(tr['dram_bytes'])}")
    else:
        amp = "–" if tr["amplification"] is None else f"{tr['amplification']:.2f}"
        lines.append(f"DRAM traffic {nbytes(tr['dram_bytes'])} = {amp} × "
                     f"the minimum {nbytes(tr['min_bytes'])} (parameters and inputs read once, "
                     "outputs read and written once)")
        measured = "–" if tr["intensity"] is None else _sig(tr["intensity"])
        lines.append(f"arithmetic intensity {measured} MACs per DRAM byte measured vs "
                     f"{_sig(tr['intensity_eq24'])} by Eq. 2.4")
    for lv in summary["levels"]:
        pf = lv.get("prefetch")
        if pf:
            lines.append(f"{lv['name']} prefetch ({pf['policy']}, {pf['distance']} "
                         f"line{'s' if pf['distance'] > 1 else ''} ahead): "
                         f"{count(pf['issued'])} issued, {count(pf['misses'])} fetched, "
                         f"{count(pf['useful'])} used, {count(pf['never_used'])} never used")
    lines += time_lines(t.get("time"))
    if t.get("dram"):  # docs/model.md, "DRAM"
        from .dram import summary_line
        lines.append(summary_line(t["dram"]))
    lines += inclusion_lines(summary["levels"])
    if layer:
        bases = ", ".join(f"{x['name']} {x['base_hex']}" for x in layer["tensors"])
        lines.append(f"tensor bases: {bases}")
    secs = summary.get("seconds") or 0
    speed = f" ({n / secs / 1e6:.1f} M accesses/s)" if secs > 0 else ""
    verb = "simulated" if layer else "read and replayed"
    lines.append(f"{verb} in {secs:.2f} s{speed}")
    return lines


def duration(us: float | None) -> str:
    """Microseconds as ns, µs, ms or s, three significant digits."""
    if us is None:
        return "–"
    for scale, unit in ((1e6, "s"), (1e3, "ms"), (1.0, "µs")):
        if us >= scale:
            return f"{fmt_sig(us / scale)} {unit}"
    return f"{fmt_sig(us * 1e3)} ns"


def inclusion_lines(levels: list[dict]) -> list[str]:
    """What inclusion did, a line per cache level it touched (docs/model.md §2)."""
    lines = []
    for lv in levels:
        inc, kind = lv.get("inclusion"), (lv.get("geometry") or {}).get("inclusion", "nine")
        if inc is None:
            continue
        parts = []
        if inc["back_invalidated"]:
            parts.append(f"{count(inc['back_invalidated'])} lines back-invalidated")
        if kind == "exclusive":
            parts.append(f"{count(inc['victims_in'])} lines filled from above, "
                         f"{count(inc['moved_up'])} moved up")
        if parts:
            lines.append(f"{lv['name']}{f' ({kind})' if kind != 'nine' else ''}: "
                         + ", ".join(parts))
    return lines


def time_lines(time: dict | None) -> list[str]:
    """The time of both models and the bound that binds (totals.time), when the config
    gives a clock, a peak MAC rate or bandwidths."""
    if not time:
        return []
    lines = ecm_lines(time)
    ov = time.get("overlapped")
    if ov is None:
        return lines
    if time.get("blocking_us") is not None:
        lines.append(f"time (blocking: every access waits) {duration(time['blocking_us'])} at "
                     f"{fmt_sig(time['clock_ghz'])} GHz")
    if ov["bound"] is not None:
        def one(name: str, cycles: float) -> str:
            span = duration(cycles * 1e-3 / time["clock_ghz"]) if time.get("clock_ghz") \
                else f"{count(round(cycles))} cycles"
            return f"{name} {span}"

        head = (duration(ov["us"]) if ov.get("us") is not None
                else f"{count(round(ov['cycles']))} cycles")
        each = ", ".join(one(k, v) for k, v in ov["bounds_cycles"].items())
        note = "" if ov["complete"] else " (the config leaves some bounds out)"
        lines.append(f"time (overlapped: the slowest of compute and each level's bytes over "
                     f"its bandwidth) {head}, bound by {ov['bound']}: {each}{note}")
    return lines


def ecm_lines(time: dict) -> list[str]:
    """The in-core ECM estimate (totals.time.ecm, docs/model.md §4), the time to quote: its
    total, the core and data parts, what binds, and each nest's loop-carried chain; or one
    line saying why it is not computed."""
    if "ecm" not in time:
        return []
    model = time["ecm"]
    if model is None:
        return [f"time (ecm): not computed: {time.get('ecm_missing', '')}"]
    clock = time.get("clock_ghz")

    def span(cycles: float) -> str:
        return duration(cycles * 1e-3 / clock) if clock else f"{count(round(cycles))} cycles"

    data = ", ".join(f"{k} {span(v)}" for k, v in model["transfer_cycles"].items())
    note = "" if model["complete"] else " (the config gives some levels no bandwidth)"
    lines = [f"time (ecm, the estimate to quote) {span(model['cycles'])}, bound by "
             f"{model['binds']}: the slower of core {span(model['core_cycles'])} and L1 "
             f"ports {span(model['port_cycles'])} + transfers {data or '–'}{note}"]
    for k, n in enumerate(model["nests"]):
        where = f"nest {k + 1} " if len(model["nests"]) > 1 else ""
        if "per_iteration" in n:
            lines.append(f"  {where}innermost loop {n['innermost']}: {n['body']}; "
                         f"{n['cycles_per_iteration']:.3g} cycles per iteration, bound by "
                         f"{n['binds']}")
        else:
            lines.append(f"  {where}{n['body']}, bound by {n['binds']}")
    return lines


# ---------------------------------------------------------------- studies and comparisons


def _per(v: float | None) -> str:
    return "–" if v is None else _sig(v)


def _range(lo: float | None, hi: float | None) -> str:
    if lo is None:
        return "–"
    return _sig(hi) if lo == hi else f"{_sig(lo)}–{_sig(hi)}"


def _times(v: float | None) -> str:
    """A ratio: 1.23×."""
    return "–" if v is None else f"{v:,.2f}×"


STUDY_NOTE = "hit rate per level, then per MAC: cycles, energy, DRAM bytes"


def _classified(rows: list[dict]) -> list[int]:
    """The cache levels (1, 2, ...) whose misses the rows classify (--3c)."""
    return sorted({int(k.split("_")[1]) for r in rows for k in r if k.startswith("conflict_")})


def _kinds_cell(r: dict, k: int, compact: int = FULL) -> str:
    """compulsory/capacity/conflict misses of level k, in one cell."""
    if f"conflict_{k}" not in r:
        return "–"
    return "/".join(count(r[f"{kind}_{k}"], True if compact else False) for kind in KINDS_3C)


def _kinds_head(name: str, compact: int) -> str:
    return f"{name} misses\ncomp/cap/confl" if not compact else f"{name} c/c/c"


def study_table(rows: list[dict], level_names: list[str], compact: int = FULL) -> Table:
    table = Grid(keys=2, note=STUDY_NOTE if compact else None)
    table.add_column("layer" if compact else "\nlayer")
    table.add_column("B" if compact else "\nB", justify="right")
    for name in level_names:
        table.add_column(name if compact else f"hit rate\n{name}", justify="right")
    heads = (("cycles", "pJ", "bytes", "÷ min") if compact else
             ("cycles\n/MAC", "energy\npJ/MAC", "DRAM\nB/MAC", "traffic\n÷ min"))
    for name in heads:
        table.add_column(name, justify="right")
    kinds = _classified(rows)
    for k in kinds:
        table.add_column(_kinds_head(level_names[k - 1], compact), justify="right")
    digits = ".1%" if compact else ".2%"
    for r in rows:
        rates = ["–" if r[f"hit_rate_{k + 1}"] is None else format(r[f"hit_rate_{k + 1}"], digits)
                 for k in range(len(level_names))]
        table.add_row(r["layer"], str(r["batch"]), *rates, _per(r["cycles_per_mac"]),
                      _range(r["energy_per_mac_pj_low"], r["energy_per_mac_pj_high"]),
                      _per(r["dram_bytes_per_mac"]), _times(r["amplification"]),
                      *[_kinds_cell(r, k, compact) for k in kinds])
    return table


def compare_table(rows: list[dict], compact: int = FULL) -> Table:
    table = Grid()
    table.add_column("")
    for r in rows:
        table.add_column(r["config"], justify="right")
    depth = max(len([k for k in r if k.startswith("hit_rate_")]) for r in rows)
    for k in range(1, depth + 1):
        cells = [f"{r[f'level_{k}']} {rate(r[f'hit_rate_{k}'])}" if f"level_{k}" in r else "–"
                 for r in rows]
        table.add_row(f"level {k} hit rate", *cells)
    for k in _classified(rows):
        table.add_row(f"level {k} misses: comp/cap/confl",
                      *[_kinds_cell(r, k, compact) for r in rows])

    def with_ratio(value: str, ratio: float | None, first: bool) -> str:
        return value if first or ratio is None else f"{value} ({ratio:,.2f}×)"

    table.add_row("cycles", *[with_ratio(count(r["cycles"], compact), r["cycles_ratio"], k == 0)
                              for k, r in enumerate(rows)])
    table.add_row("cycles/MAC", *[_per(r["cycles_per_mac"]) for r in rows])
    table.add_row("energy", *[with_ratio(energy({"low": r["energy_pj_low"],
                                                 "high": r["energy_pj_high"]}),
                                         r["energy_ratio_high"], k == 0)
                              for k, r in enumerate(rows)])
    table.add_row("DRAM traffic", *[with_ratio(nbytes(r["dram_bytes"]), r["dram_ratio"], k == 0)
                                    for k, r in enumerate(rows)])
    table.add_row("traffic ÷ minimum", *[_times(r["amplification"]) for r in rows])
    # time where a config gives a clock (docs/model.md §4); "–" for one that gives none
    for label, model, bound in (("time, blocking", "blocking", None),
                                ("time, ecm (quote)", "ecm", "time_ecm_bound"),
                                ("time, overlapped", "overlapped", "time_bound")):
        key = f"time_{model}_us"
        if any(r.get(key) is not None for r in rows):
            table.add_row(label, *[
                "–" if r.get(key) is None else
                with_ratio(duration(r[key]) + (f" by {r[bound]}" if bound else ""),
                           r[f"time_{model}_ratio"], k == 0)
                for k, r in enumerate(rows)])
    return table


# the one rule for an energy range's ratio, in every comparison's table and figure
ENERGY_RATIO = "energy ratios are of the high estimates"


def compare_footer(rows: list[dict], configs: list[dict]) -> list[str]:
    """Under a comparison's table: what the ratios are (one rule for energy, the figure's
    too), what the times mean when there are any, then each config's description."""
    first = rows[0]["config"] if rows else "?"
    lines = [f"ratios (×) are to {first}; energy is a low–high estimate, and {ENERGY_RATIO}"]
    if any(r.get("time_blocking_us") is not None for r in rows):
        lines.append("time at each config's clock: blocking, every access waits; overlapped, "
                     "the slowest of compute and each level's bytes over its bandwidth, "
                     "with the bound that binds (docs/model.md §4)")
    for r, c in zip(rows, configs, strict=True):
        origin = f" (copied from {c['copied_from']})" if c.get("copied_from") else ""
        lines.append(f"{r['config']}{origin}: {c.get('description', '')}")
    return lines


def metrics_table(rows: list[dict], compact: int = FULL) -> Table:
    table = Grid(keys=2)
    for name in ("\nlayer", "\nB", "\nMACs", "\nparams", "acti-\nvations", "MACs per\nelement",
                 "params\nbytes", "activation\nbytes", "MACs per\nbyte"):
        table.add_column(name, justify="left" if "layer" in name else "right")
    for r in rows:
        table.add_row(r["layer"], str(r["batch"]), count(r["macs"], compact),
                      count(r["params"], compact), count(r["activations"], compact),
                      fmt_sig(r["intensity"], 4), nbytes(r["params_bytes"]),
                      nbytes(r["activations_bytes"]), fmt_sig(r["intensity_per_byte"], 4))
    return table


def table_2_2(rows: list[dict], compact: int = FULL) -> Table:
    """Our figures in the document's layout and precision; * marks a cell that differs from
    the printed one, and a dim row under each layer repeats the printed figures."""
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    table = Grid()
    table.add_column("\n")
    for what in ("Params", "MACs", "Intensity"):
        for p in presets:
            table.add_column(f"{what}\n{p}", justify="right")
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


_OPS = {"maxpool": "maxpool", "avgpool": "avgpool", "globalavgpool": "gap", "add": "add",
        "concat": "concat", "flatten": "flatten", "relu": "relu", "relu6": "relu6",
        "batchnorm": "bn", "dropout": "dropout", "softmax": "softmax"}


def _short_type(r: dict) -> str:
    """conv3x3, 1x1, dw3x3, group3x3, sep3, fc; an operator as op:maxpool3x3, op:add..."""
    k = r.get("K")
    if r["type"] == "flush":
        return "flush"
    if r.get("op"):
        pool = r["type"] in ("maxpool", "avgpool")
        return f"op:{_OPS[r['type']]}" + (f"{k}x{k}" if pool else "")
    return {"spatial": f"conv{k}x{k}", "pointwise": "1x1", "depthwise": f"dw{k}x{k}",
            "group": f"group{k}x{k}", "separable": f"sep{k}", "fc": "fc"}[r["type"]]


def network_units(totals: dict) -> tuple[float, str, float, str]:
    """The network table's energy unit and DRAM unit: (unit, name, byte unit, name)."""
    unit, uname = _table_unit({"totals": {"energy_pj": totals["energy_pj"]}})
    bunit, bname = next(((u, n) for u, n in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
                         if totals["dram_bytes"] >= 10 * u), (1, "B"))
    return unit, uname, bunit, bname


def network_energy_cell(lo: float, hi: float, unit: float, compact: bool = False) -> str:
    digits = 2 if compact else 3

    def sig(v: float) -> str:
        return f"{v:,.0f}" if v >= 100 else fmt_sig(v, digits)

    lo, hi = lo / unit, hi / unit
    return sig(hi) if lo == hi else f"{sig(lo)}–{sig(hi)}"


def network_table(rows: list[dict], totals: dict, compact: int = FULL,
                  flush: dict | None = None) -> Table:
    unit, uname, bunit, bname = network_units(totals)
    table = Grid()
    heads = ("layer", "type", "M→N", "F/S", "MACs", "cycles", "%", f"energy {uname}",
             f"DRAM {bname}")
    for k, name in enumerate(heads):
        table.add_column(name, justify="left" if k < 2 else "right")
    kinds = _classified(rows)
    for k in kinds:
        table.add_column(_kinds_head(f"level {k}", compact), justify="right")

    for r in rows:
        size = f"{r['F']}/{r['stride']}" if r["stride"] != 1 else str(r["F"])
        table.add_row(r["name"], _short_type(r), f"{r['M']}→{r['N']}", size,
                      count(r["macs"], compact), count(r["cycles"], compact),
                      f"{100 * r['cycles_share']:.1f}",
                      network_energy_cell(r["energy_pj_low"], r["energy_pj_high"], unit, compact),
                      fmt_sig(r["dram_bytes"] / bunit),
                      *[_kinds_cell(r, k, compact) for k in kinds],
                      style="dim" if r.get("op") else None)
    if flush is not None:
        table.add_row("flush", "", "", "", "", count(flush["cycles"], compact),
                      f"{100 * flush['cycles'] / (totals['cycles'] or 1):.1f}",
                      network_energy_cell(flush["energy_pj_low"], flush["energy_pj_high"], unit,
                                          compact),
                      fmt_sig(flush["dram_bytes"] / bunit), *[""] * len(kinds))
    e = totals["energy_pj"]
    table.add_row("total", "", "", "", count(totals["macs"], compact),
                  count(totals["cycles"], compact), "100",
                  network_energy_cell(e["low"], e["high"], unit, compact),
                  fmt_sig(totals["dram_bytes"] / bunit), *[""] * len(kinds), style="bold")
    return table


def network_csv(rows: list[dict], totals: dict, flush: dict | None = None) -> str:
    """A row per simulated layer (warm: per entry), then (warm) a `flush` row, then a
    `total` row (sums of MACs, accesses, cycles, energy and DRAM bytes, the flush included;
    traffic over the layers' minimum). Columns as the layer rows'."""
    total = network_total_row(rows, totals)
    columns = tuple(dict.fromkeys(k for r in rows for k in r)) or tuple(total)
    extra = [flush] if flush is not None else []
    return rows_to_csv(rows + [{k: v for k, v in r.items() if k in columns}
                               for r in extra + [total]], columns)


def network_compare_table(rows: list[dict], totals: list[dict], compact: int = FULL) -> Table:
    """A row per layer and a total row; for cycles, energy and DRAM traffic a column per
    config, side by side, each after the first with its ratio to the first."""
    unit, uname, bunit, bname = network_units({
        "energy_pj": {"high": max((t["energy_pj_high"] for t in totals), default=0.0)},
        "dram_bytes": max((t["dram_bytes"] for t in totals), default=0)})
    names = [t["config"] for t in totals]
    table = Grid(keys=2)
    for k, head in enumerate(("\nlayer", "\ntype", "\nMACs")):
        table.add_column(head, justify="left" if k < 2 else "right")
    what = (("cycles", "cycles", "cycles_ratio", lambda r: count(r["cycles"], compact)),
            (f"energy {uname}", "energy", "energy_ratio_high",
             lambda r: network_energy_cell(r["energy_pj_low"], r["energy_pj_high"], unit,
                                           compact)),
            (f"DRAM {bname}", "dram", "dram_ratio", lambda r: fmt_sig(r["dram_bytes"] / bunit)))
    for head, _, _, _ in what:
        for name in names:
            table.add_column(f"{head}\n{name}", justify="right")

    def cells(entries: list[dict]) -> list[str]:
        out = []
        for _, _, ratio, show in what:
            out += [show(e) if k == 0 or e[ratio] is None else f"{show(e)} ({e[ratio]:,.2f}×)"
                    for k, e in enumerate(entries)]
        return out

    for r in rows:
        table.add_row(r["name"], _short_type(r), count(r["macs"], compact), *cells(r["configs"]))
    table.add_row("total", "", count(totals[0]["macs"], compact) if totals else "",
                  *cells(totals), style="bold")
    return table


def network_compare_csv(rows: list[dict], totals: list[dict]) -> str:
    """A row per (layer, config): the layer's columns, then the config's; then a `total`
    row per config."""
    flat = [{**{k: v for k, v in r.items() if k != "configs"}, **e}
            for r in rows for e in r["configs"]]
    ends = [{"name": t["name"], "batch": t["batch"], "macs": t["macs"],
             **{k: v for k, v in t.items() if k not in ("name", "batch", "macs", "path")}}
            for t in totals]
    columns = tuple(dict.fromkeys(k for r in flat + ends for k in r))
    return rows_to_csv(flat + ends, columns)


def network_compare_footer(result_totals: list[dict], skipped: list[dict],
                           descriptions: list[str], warm: bool = False) -> list[str]:
    first = result_totals[0]["config"] if result_totals else "?"
    how = ("one inference per config with warm caches (op: rows are operators, the flush "
           "row the end of the inference)" if warm else
           f"{len(skipped)} layers skipped (not loop nests); each layer starts with cold "
           "caches")
    lines = [f"{how}; ratios (×) are to {first}, and {ENERGY_RATIO}; types: convKxK spatial, "
             "1x1 pointwise, dwKxK depthwise, groupKxK, sepK separable, fc"]
    for t in result_totals:
        lines += [f"{t['config']}: {x}" for x in network_time_lines(t.get("time"))]
    lines += [f"{t['config']}: {d}" for t, d in zip(result_totals, descriptions, strict=True)]
    return lines


def network_time_lines(time: dict | None) -> list[str]:
    """One inference's time in both models, its rate, and the bound that binds most."""
    if not time:
        return []
    lines = []
    if time.get("ecm_us") is not None:
        lines.append(f"one inference {duration(time['ecm_us'])} by the in-core ECM model, the "
                     f"estimate to quote ({fmt_sig(time['inferences_per_s_ecm'])}/s)")
    lines += [f"one inference {duration(time['blocking_us'])} blocking "
             f"({fmt_sig(time['inferences_per_s_blocking'])}/s) at "
             f"{fmt_sig(time['clock_ghz'])} GHz"]
    if time["overlapped_us"] is not None:
        each = ", ".join(f"{k} {duration(v)}" for k, v in
                         sorted(time["by_bound_us"].items(), key=lambda kv: -kv[1]))
        note = "" if time["complete"] else "; the config leaves some bounds out"
        lines.append(f"overlapped {duration(time['overlapped_us'])} "
                     f"({fmt_sig(time['inferences_per_s_overlapped'])}/s), bound mostly by "
                     f"{time['bound']} (time of the entries each bound: {each}{note})")
    return lines


def network_footer(rows: list[dict], totals: dict, skipped: list[dict],
                   warm: bool = False, flushed: bool = True) -> list[str]:
    """`flushed` False: a warm inference interrupted before its flush."""
    lines = [f"{totals['layers']} layers simulated; F/S: input size / stride; types: convKxK "
             "spatial, 1x1 pointwise, dwKxK depthwise, groupKxK, sepK separable, fc"]
    if warm and not flushed:
        lines.append(f"one inference, warm caches: {totals['operators']} operators (op:, dim; "
                     "their own reads and writes, no MACs); interrupted before its flush")
    elif warm:
        lines.append(f"one inference, warm caches: {totals['operators']} operators (op:, dim; "
                     "their own reads and writes, no MACs), one flush at the end (its row); "
                     "totals include it")
    top = sorted(rows, key=lambda r: r["cycles"], reverse=True)[:3]
    if top:
        lines.append("dominant layers (cycles): " + ", ".join(
            f"{r['name']} {100 * r['cycles_share']:.1f}%" for r in top))
    if totals["min_dram_bytes"]:
        lines.append(f"DRAM traffic {nbytes(totals['dram_bytes'])} = "
                     f"{totals['dram_bytes'] / totals['min_dram_bytes']:.2f} × the layers' "
                     f"minimum {nbytes(totals['min_dram_bytes'])}; " + (
                         "each entry's minimum as if alone, caches carry over" if warm else
                         "each layer starts with cold caches"))
    lines += network_time_lines(totals.get("time"))
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


def results_table(rows: list[dict], axes: list[str], compact: int = FULL) -> Table:
    """A sweep's points: their axis values, then cycles, energy and DRAM traffic per MAC
    and each cache level's hit rate (levels by name, as the configs call them)."""
    levels: list[str] = []
    for r in rows:
        levels += [k[:-len(".hit_rate")] for k in r if k.endswith(".hit_rate")
                   and k[:-len(".hit_rate")] not in levels]
    lead = (["sweep"] if any("sweep" in r for r in rows) else []) + list(axes)
    table = Grid(keys=len(lead))
    for a in lead:
        table.add_column(a)
    heads = (("cycles", "pJ", "bytes") if compact else
             ("cycles\n/MAC", "energy\npJ/MAC", "DRAM\nB/MAC"))
    for h in heads:
        table.add_column(h, justify="right")
    for name in levels:
        table.add_column(name if compact else f"hit rate\n{name}", justify="right")
    digits = ".1%" if compact else ".2%"
    for r in rows:
        keys = [str(r.get(a, "–")) for a in lead]
        if r["status"] != "done":
            table.add_row(*keys, "failed", *[""] * (len(heads) + len(levels) - 1))
            continue
        lo = _ratio_of(r["energy_pj_low"], r["macs"])
        table.add_row(*keys, _per(r["cycles_per_mac"]), _range(lo, r["energy_per_mac_pj_high"]),
                      _per(r["dram_bytes_per_mac"]),
                      *["–" if r.get(f"{n}.hit_rate") is None else
                        format(r[f"{n}.hit_rate"], digits) for n in levels])
    return table


def _ratio_of(num: float, den: float) -> float | None:
    return num / den if den else None

# ---------------------------------------------------------------- mrc (miss-ratio curves)


def _kib(n: int) -> str:
    """Bytes in KiB: 32, 0.0625, 10,240."""
    k = n / 1024
    return f"{k:,.0f}" if k == int(k) else f"{k:,.6f}".rstrip("0")


def mrc_rows(doc: dict) -> list[dict]:
    """Both curves as CSV rows: curve, size, lines, ways, sets, misses, miss_ratio, mark
    (the config's cache levels of that size)."""
    m = doc["mrc"]
    names = {}
    for c in m["cache_sizes"]:
        names.setdefault(c["size"], []).append(c["name"])
    out = []
    for p in m["fully_associative"]:
        out.append({"curve": "fully_associative", "size": p["size"], "lines": p["lines"],
                    "ways": p["lines"], "sets": 1, "misses": p["misses"],
                    "miss_ratio": p["miss_ratio"], "mark": " ".join(names.get(p["size"], []))})
    for p in m["set_associative"]:
        out.append({"curve": "set_associative", "size": p["size"],
                    "lines": p["ways"] * p["sets"], "ways": p["ways"], "sets": p["sets"],
                    "misses": p["misses"], "miss_ratio": p["miss_ratio"],
                    "mark": " ".join(names.get(p["size"], []))})
    return out


def mrc_title(doc: dict) -> str:
    m = doc["mrc"]
    g = m["level"]
    what = describe_layer(doc["layer"]) if doc.get("layer") else \
        f"trace {Path(doc['trace']['path']).name}"
    return (f"Miss-ratio curves of {g['name']} ({_kib(g['size'])} KiB, {g['ways']} ways, "
            f"{g['sets']:,} sets, {g['line']} B lines) · {doc['config']['name']} · {what}")


def mrc_footer(doc: dict) -> list[str]:
    m = doc["mrc"]
    g = m["level"]
    lines = [f"{m['requests']:,} requests reached {g['name']} in the run phase "
             f"({m['reads']:,} reads, {m['writes']:,} writes); {m['beyond']:,} of them found "
             f"their line beyond the {m['max_lines']:,} most recent (first uses included)",
             f"fully associative: LRU, {g['line']} B lines, exact from 1 to "
             f"{m['max_lines']:,} lines · set-associative: LRU, {g['sets']:,} sets of "
             f"{g['line']} B lines, exact from 1 to {m['max_ways']} ways · ◀ marks the "
             f"config's cache sizes, * {g['name']} itself"]
    if m["note"]:
        lines.append(m["note"])
    return lines


def mrc_table(doc: dict, compact: int = FULL) -> Table:
    """Both curves: size (KiB), lines or ways, misses, miss ratio, and the config's cache
    sizes marked (the level's own with *)."""
    m = doc["mrc"]
    own = m["level"]["name"]
    table = Grid(keys=2)
    table.add_column("curve")
    table.add_column("size (KiB)", justify="right")
    table.add_column("lines / ways", justify="right")
    table.add_column("misses", justify="right")
    table.add_column("miss ratio", justify="right")
    table.add_column("")
    sets = m["level"]["sets"]
    for r in mrc_rows(doc):
        fa = r["curve"] == "fully_associative"
        mark = ""
        if r["mark"]:
            mark = "◀ " + " ".join(n + ("*" if n == own else "") for n in r["mark"].split())
        ratio = "–" if r["miss_ratio"] is None else f"{r['miss_ratio']:.4f}"
        misses = f"{r['misses']:,}"
        table.add_row("fully assoc." if fa else f"{sets:,} sets", _kib(r["size"]),
                      f"{r['lines']:,} lines" if fa else f"{r['ways']} ways", misses, ratio,
                      mark)
    return table
