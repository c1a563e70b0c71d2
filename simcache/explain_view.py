"""The text view of `simcache explain`: an explain document (api.explain(...).to_dict()) →
lines for people, styled on a terminal and plain ASCII elsewhere.

Per access: its index, read or write, tensor, address and loop indices; the address's
tag | set | offset at the level shown; a line for every level the access reached (hits,
misses with their 3C kind, the lines evicted and whether they were written back); the
touched set after it, in the kernels' order. A summary line ends the window.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text

from . import __version__
from .report import describe_layer

SHOW_WAYS = 16  # ways listed per set; a longer set (a register file) ends "+N more"
STYLES = {"index": "bold cyan", "hit": "green", "miss": "bold red", "kind": "yellow",
          "victim": "magenta", "dirty": "bold", "dim": "dim", "level": "bold"}


def _n(k: int, word: str, plural: str | None = None) -> str:
    return f"{k} {word}" if k == 1 else f"{k:,} {plural or word + 's'}"


def _kinds(three_c: dict | None) -> str:
    if not three_c:
        return ""
    return ", ".join(f"{v} {k}" if sum(three_c.values()) > 1 else k
                     for k, v in three_c.items() if v)


def _size(n: int) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n} B"


def head(doc: dict) -> list[Text]:
    cfg = doc["config"]["name"]
    what = (describe_layer(doc["layer"]) if doc["layer"] else
            f"trace {doc['trace']['path']} ({doc['trace']['format']})")
    w = doc["window"]
    of = f" of {doc['accesses']:,}" if doc["accesses"] is not None else ""
    lines = [Text(f"simcache {__version__} explain: {cfg} | {what}", style="bold")]
    stepped = _n(w["steps"], "access", "accesses")
    span = (f"accesses {w['start']:,} to {w['end'] - 1:,}{of} ({stepped} stepped, "
            f"{w['shown']:,} shown)")
    if w["steps"] < w["asked"]:
        span += f"; the {'layer' if doc['layer'] else 'trace'} ends there"
    lines.append(Text(span))
    g = doc["level"]
    if g is not None:
        ways = "fully associative" if g["sets"] == 1 and g["ways"] > 1 else f"{g['ways']}-way"
        lines.append(Text(
            f"{g['name']}: {_size(g['size'])}, {g['line']} B lines, {ways}, "
            f"{_n(g['sets'], 'set')}, {g['policy'].upper()}; addresses split as "
            f"tag | set | offset there; * marks a dirty line", style=STYLES["dim"]))
    else:
        lines.append(Text("no cache level: every access goes to memory", style=STYLES["dim"]))
    return lines


def _event(ev: dict, memory: bool) -> Text:
    t = Text()
    if memory:
        parts = []
        if ev["reads"]:
            parts.append(f"read {ev['bytes_read']:,} B" if ev["reads"] == 1
                         else f"{ev['reads']} reads, {ev['bytes_read']:,} B")
        if ev["writes"]:
            parts.append(f"write {ev['bytes_written']:,} B" if ev["writes"] == 1
                         else f"{ev['writes']} writes, {ev['bytes_written']:,} B")
        t.append(", ".join(parts))
        return t
    first = True
    for op, n, hits in (("read", ev["reads"], ev["read_hits"]),
                        ("write", ev["writes"], ev["write_hits"])):
        for k, word, style in ((hits, "hit", "hit"), (n - hits, "miss", "miss")):
            if k:
                if not first:
                    t.append(", ")
                first = False
                many = f"{k} {op} {word}{'es' if word == 'miss' else 's'}"
                t.append(f"{op} {word}" if k == 1 else many, style=STYLES[style])
    kinds = _kinds(ev.get("three_c")) if ev["misses"] else ""
    if kinds:
        t.append(f" ({kinds})", style=STYLES["kind"])
    for v in ev.get("victims", []):
        t.append(", evicts ")
        t.append(f"{v['addr']:#x}", style=STYLES["victim"])
        t.append(f" (tag {v['tag']:#x}, {v['tensor']}, ")
        t.append("dirty: written back" if v["dirty"] else "clean",
                 style=STYLES["dirty"] if v["dirty"] else None)
        t.append("; installed again)" if v.get("again") else ")")
    extra = ev["writebacks"] - sum(v["dirty"] for v in ev.get("victims", []))
    if extra > 0:  # cannot happen if the victims are read right; said rather than hidden
        t.append(f", {extra} more write-back{'s' if extra > 1 else ''}")
    return t


def _ways(s: dict, limit: int = SHOW_WAYS) -> Text:
    t = Text()
    ways = s["ways"]
    for k, w in enumerate(ways[:limit]):
        if k:
            t.append(" | ")
        if s["policy"] not in ("lru", "fifo"):  # listed by way: say which
            t.append(f"w{w['way']} ", style=STYLES["dim"])
        t.append(f"{w['tag']:#x} {w['tensor']}")
        if w["dirty"]:
            t.append("*", style=STYLES["dirty"])
    if len(ways) > limit:
        t.append(f" | ... +{len(ways) - limit} more")
    if not ways:
        t.append("empty")
    elif s["empty"]:
        t.append(f"  (+{s['empty']} empty)", style=STYLES["dim"])
    return t


def step_lines(step: dict, doc: dict) -> list[Text]:
    first = Text()
    first.append(f"#{step['index']:,}", style=STYLES["index"])
    first.append(f"  {step['op']} {step['tensor']}  {step['addr']:#x}")
    if step["size"] != (doc["layer"] or {}).get("dtype_bytes"):
        first.append(f" ({step['size']} B)")
    if step["loops"] is not None:
        nest = f"nest {step['nest'] + 1}: " if doc["layer"]["type"] == "separable" else ""
        first.append("  " + nest + " ".join(f"{k}={v}" for k, v in step["loops"].items()),
                     style=STYLES["dim"])
    lines = [first]
    pad = "    "
    if step["split"] is not None:
        sp = step["split"]
        lines.append(Text(f"{pad}{sp['level']}: tag {sp['tag']:#x} | set {sp['set']} | "
                          f"offset {sp['offset']}", style=STYLES["dim"]))
    names = doc["levels"]
    width = max(len(n) for n in names)
    for k, ev in enumerate(step["levels"]):
        if ev["reads"] + ev["writes"] == 0:
            continue
        line = Text(pad)
        line.append(f"{ev['name']:<{width}}", style=STYLES["level"])
        line.append("  ")
        line.append_text(_event(ev, k == len(names) - 1))
        lines.append(line)
    for s in step["sets"]:
        line = Text(f"{pad}{s['level']} set {s['set']} after, {s['order']}: ",
                    style=STYLES["dim"])
        line.append_text(_ways(s))
        lines.append(line)
    return lines


def summary_line(doc: dict) -> Text:
    w = doc["window"]
    t = Text(f"window: {_n(w['steps'], 'access', 'accesses')}, {w['shown']:,} shown",
             style="bold")
    for k, lv in enumerate(doc["summary"]):
        t.append(" | ")
        t.append(lv["name"], style=STYLES["level"])
        if k == len(doc["summary"]) - 1:
            t.append(f" {_n(lv['reads'], 'read')}, {_n(lv['writes'], 'write')}")
            continue
        t.append(f" {_n(lv['hits'], 'hit')}, ")
        t.append(_n(lv["misses"], "miss", "misses"),
                 style=STYLES["miss"] if lv["misses"] else None)
        kinds = _kinds(lv.get("three_c")) if lv["misses"] else ""
        if kinds:
            t.append(f" ({kinds})", style=STYLES["kind"])
    return t


def lines(doc: dict) -> list[Text]:
    out = head(doc)
    for step in doc["steps"]:
        out.append(Text(""))
        out += step_lines(step, doc)
    out.append(Text(""))
    out.append(summary_line(doc))
    return out


def show(console: Console, doc: dict) -> None:
    """Print the view on `console` (styled if it is a terminal)."""
    for line in lines(doc):
        console.print(line, soft_wrap=True, highlight=False)


def text(doc: dict) -> str:
    """The view as plain text (for a file)."""
    buf = io.StringIO()
    show(Console(file=buf, width=10_000, color_system=None, force_terminal=False,
                 highlight=False), doc)
    return buf.getvalue()
