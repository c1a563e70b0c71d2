"""Tables that never cut a number, strict JSON, the network CSV's totals and the replay
footer. Every table type is rendered at several widths (fitted, as on a terminal) and
unlimited (as into a pipe or a file); every figure it shows must appear whole.

The summaries come from real, tiny simulations."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from simcache import api, engine, report
from simcache.accounting import (
    compare_rows,
    metrics_row,
    network_rows,
    network_totals,
    study_row,
    summarize,
)
from simcache.config import load_hierarchy
from simcache.errors import SimcacheError
from simcache.layers import CONV_TYPES, TABLE_2_2, as_printed, build_layer
from simcache.network import load_network
from simcache.traces import TraceReader

ROOT = Path(__file__).parent.parent
CONFIGS = {n: load_hierarchy(ROOT / "configs" / f"{n}.yaml")
           for n in ("thesis", "mobile_soc", "server")}
WIDTHS = [40, 60, 80, 100, 160]


def _run(config: str, type_: str, **dims) -> dict:
    h = CONFIGS[config]
    return summarize(engine.simulate(h, build_layer(type_, None, **dims)), h, config)


@pytest.fixture(scope="module")
def run_summary() -> dict:
    # ~74k accesses: enough for counts above 10,000 (compact 12.3k) and energies in nJ
    return _run("mobile_soc", "depthwise", M=8, N=8, F=16, K=3)


# ---------------------------------------------------------------- rendering and checking


def render(show, width: int | None) -> str:
    """Output of show(console, fit) on a terminal of `width` columns, or into a pipe (None:
    a console that is not a terminal, its width left at rich's default of 80)."""
    buf = io.StringIO()
    if width is None:
        show(Console(file=buf, width=80, color_system=None), None)
    else:
        show(Console(file=buf, width=width, color_system=None, force_terminal=True), None)
    return buf.getvalue()


def shows(out: str, cell: str) -> bool:
    """`cell` appears whole: not inside a longer run of non-space characters."""
    return re.search(r"(?<!\S)" + re.escape(cell.strip()) + r"(?!\S)", out) is not None


def assert_whole(out: str, options: list[list[str]], pipe: bool) -> None:
    """Each entry of `options` lists the acceptable renderings of one figure (full first):
    one of them appears whole; into a pipe, the full one. Nothing is ellipsized."""
    assert "…" not in out and "..." not in out
    for alts in options:
        want = alts[:1] if pipe else alts
        assert any(shows(out, a) for a in want), (want, out)


def assert_prose_wraps(out: str, lines: list[str], width: int | None, widest: int) -> None:
    """Title and footer lines: every word appears whole, and on a terminal no output line
    is wider than the terminal, unless it is a table part that cannot be narrower."""
    for line in lines:
        for word in line.split():
            assert shows(out, word), (word, out)
    if width is not None:
        for row in out.splitlines():
            assert len(row.rstrip()) <= max(width, widest), (row, width)


def _narrowest_part(build) -> int:
    """The widest part a split could need: the row-name columns and one more column."""
    t = build(report.NARROW)
    keys = t.columns[:t.keys]
    return max(report.natural_width(report._part(t, keys + [c], True))
               for c in t.columns[t.keys:])


def counts(*values) -> list[list[str]]:
    return [[report.count(v), report.count(v, True)] for v in values]


def check(show, build, options, prose, widths=WIDTHS):
    """Render at every width and into a pipe; check figures and prose."""
    for width in widths + [None]:
        out = render(show, width)
        assert_whole(out, options, pipe=width is None)
        assert_prose_wraps(out, prose, width, _narrowest_part(build))


def level_options(summary: dict, by_tensor: bool) -> list[list[str]]:
    unit, _ = report._table_unit(summary)
    opts = []
    blocks = []
    for lv in summary["levels"]:
        opts.append([lv["name"]])
        blocks.append(lv)
        if by_tensor:
            blocks += list(lv["by_tensor"].values())
    for b in blocks:
        opts += counts(b["reads"] + b["writes"], b["hits"], b["misses"], b["writebacks"],
                       b["flush_writebacks"], b["cycles"])
        opts.append([report.rate(b["hit_rate"]), report.rate(b["hit_rate"], 1)])
        opts.append([report.energy_cell(b["energy_pj"], unit)])
    t = summary["totals"]
    opts += counts(t["cycles"])
    opts.append([report.energy_cell(t["energy_pj"], unit)])
    return opts


# ---------------------------------------------------------------- the run's table


@pytest.mark.parametrize("by_tensor", [False, True])
def test_levels_table_shows_every_figure_whole(run_summary, by_tensor):
    s = run_summary
    build = report._levels_build(s, by_tensor)
    check(lambda c, fit: report.print_table(s, c, by_tensor, fit), build,
          level_options(s, by_tensor), [report.title(s)] + report.footer(s))


def test_levels_table_into_a_pipe_or_file_is_exact_and_whole(run_summary):
    s = run_summary
    piped = render(lambda c, fit: report.print_table(s, c, True), None)
    filed = report.to_table(s, by_tensor=True)
    # a file and a pipe get the same text (files have no trailing spaces)
    assert [x.rstrip() for x in piped.splitlines()] == filed.splitlines()
    assert report.render(s, "table", True) == filed
    for line in report.footer(s) + [report.title(s)]:
        assert line in filed.splitlines()  # one line each, never wrapped nor cut
    assert "14,279,168" not in filed  # (sanity: the numbers are this run's own)
    assert report.count(s["levels"][0]["reads"] + s["levels"][0]["writes"]) in filed


def test_main_job_at_80_columns_is_one_table(run_summary):
    """The README's table: at 80 columns, compact figures, one table, every line ≤ 80."""
    out = render(lambda c, fit: report.print_table(run_summary, c), 80)
    assert max(len(x.rstrip()) for x in out.splitlines()) <= 80
    lines = out.splitlines()
    assert sum(x.startswith("level ") for x in lines) == 1, out
    assert "\n\n" not in out


# ---------------------------------------------------------------- studies and comparisons


@pytest.fixture(scope="module")
def study():
    dims = {"spatial": dict(N=4, F=8, K=3), "separable": dict(N=4, F=8, K=3),
            "pointwise": dict(N=4, F=8), "group": dict(N=4, F=8, K=3, G=2),
            "depthwise": dict(F=8, K=3), "fc": dict(N=4)}
    runs = [_run("server", t, B=b, M=4, **d) for t, d in dims.items() for b in (1, 3)]
    rows = [study_row(s) for s in runs]
    return rows, CONFIGS["server"].level_names[:-1]


def test_study_table(study):
    rows, names = study
    opts = []
    for r in rows:
        opts += [[r["layer"]], [str(r["batch"])], [report._per(r["cycles_per_mac"])],
                 [report._range(r["energy_per_mac_pj_low"], r["energy_per_mac_pj_high"])],
                 [report._per(r["dram_bytes_per_mac"])], [report._times(r["amplification"])]]
        for k in range(len(names)):
            v = r[f"hit_rate_{k + 1}"]
            opts.append([format(v, ".2%"), format(v, ".1%")])

    def build(c):
        return report.study_table(rows, names, c)

    def show(con, fit):
        report.show(con, "study of server", build, [], fit)

    check(show, build, opts, [])
    assert report.STUDY_NOTE in render(show, 80)  # the compact headers' legend
    assert report.STUDY_NOTE not in render(show, None)


@pytest.mark.parametrize("configs", [
    ["thesis", "mobile_soc"], ["thesis", "mobile_soc", "server"],
    ["thesis", "mobile_soc", "server", "thesis"]])
def test_compare_table(configs):
    runs = [_run(c, "depthwise", M=4, N=4, F=10, K=3) for c in configs]
    rows = compare_rows(runs)
    opts = [[c] for c in configs] + [[f"level {k} hit rate"] for k in (1, 2, 3, 4)]
    for k, r in enumerate(rows):
        first = k == 0
        for j in range(1, 5):
            opts.append([f"{r[f'level_{j}']} {report.rate(r[f'hit_rate_{j}'])}"])
        ratio = "" if first else f" ({r['cycles_ratio']:,.2f}×)"
        opts.append([report.count(r["cycles"]) + ratio, report.count(r["cycles"], True) + ratio])
        e = report.energy({"low": r["energy_pj_low"], "high": r["energy_pj_high"]})
        opts.append([e + ("" if first else f" ({r['energy_ratio_high']:,.2f}×)")])
        opts.append([report.nbytes(r["dram_bytes"])
                     + ("" if first else f" ({r['dram_ratio']:,.2f}×)")])
        opts.append([report._per(r["cycles_per_mac"])])

    def build(c):
        return report.compare_table(rows, c)

    prose = [f"{r['config']}: {s['config']['description']}" for r, s in zip(rows, runs,
                                                                           strict=True)]
    check(lambda con, fit: report.show(con, "compare", build, prose, fit), build, opts, prose)


def test_metrics_table():
    layers = [build_layer(t, None, B=b) for t in ("spatial", "depthwise") for b in (1, 64)]
    layers.append(build_layer("fc", "vgg16-fc1", B=256))
    rows = [metrics_row(x) for x in layers]
    opts = []
    for r in rows:
        opts += counts(r["macs"], r["params"], r["activations"])
        opts += [[r["layer"]], [report.fmt_sig(r["intensity"], 4)],
                 [report.nbytes(r["params_bytes"])], [report.nbytes(r["activations_bytes"])],
                 [report.fmt_sig(r["intensity_per_byte"], 4)]]

    def build(c):
        return report.metrics_table(rows, c)

    check(lambda con, fit: report.show(con, "metrics", build, [], fit), build, opts, [])


def test_table_2_2():
    rows = []
    for t in CONV_TYPES:
        for p in ("early", "late"):
            r = metrics_row(build_layer(t, p), p)
            r["printed"] = list(TABLE_2_2[(t, p)])
            r["ours"] = [as_printed(v, c) for v, c in
                         zip((r["params"], r["macs"], r["intensity"]), r["printed"], strict=True)]
            rows.append(r)
    opts = [[t] for t in CONV_TYPES]
    for r in rows:
        opts += [[x + ("" if x == y else "*")] for x, y in zip(r["ours"], r["printed"],
                                                                strict=True)]
        opts += [[y] for y in r["printed"]]

    def build(c):
        return report.table_2_2(rows, c)

    check(lambda con, fit: report.show(con, "Table 2.2", build, [], fit), build, opts, [])


# ---------------------------------------------------------------- networks

MODEL = """\
name: longnames
source: test
input: {channels: 4, size: 6}
layers:
  - {name: conv1, type: spatial, M: 4, N: 8, F: 6, K: 3}
  - {name: fire2/squeeze1x1, type: pointwise, M: 8, N: 4, F: 6}
  - {name: fire2/expand1x1, type: pointwise, M: 4, N: 8, F: 6, input: fire2/squeeze1x1}
  - {name: fire2/expand3x3, type: spatial, M: 4, N: 8, F: 6, K: 3, input: fire2/squeeze1x1}
  - {name: fire2/concat, type: concat, input: [fire2/expand1x1, fire2/expand3x3]}
  - {name: pool, type: globalavgpool}
  - {name: classifier/a_rather_long_layer_name, type: fc, M: 16, N: 10}
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "longnames.yaml"
    path.write_text(MODEL)
    network = load_network(path)
    h = CONFIGS["thesis"]
    runs = [summarize(engine.simulate(h, x.layer), h, "thesis") for x in network.simulated]
    rows = network_rows(network, runs)
    skipped = [{"name": x.name, "type": x.type, "reason": x.skipped} for x in network.skipped]
    return path, rows, network_totals(rows, runs), skipped


def test_network_table_keeps_long_names_whole(net):
    _, rows, totals, skipped = net
    unit, _, bunit, _ = report.network_units(totals)
    opts = []
    for r in rows + [dict(totals, name="total", energy_pj_low=totals["energy_pj"]["low"],
                          energy_pj_high=totals["energy_pj"]["high"])]:
        opts += [[r["name"]], *counts(r["macs"], r["cycles"]),
                 [report.network_energy_cell(r["energy_pj_low"], r["energy_pj_high"], unit),
                  report.network_energy_cell(r["energy_pj_low"], r["energy_pj_high"], unit,
                                             True)],
                 [report.fmt_sig(r["dram_bytes"] / bunit)]]
    assert any(shows(r["name"], "fire2/expand3x3") for r in rows)
    foot = report.network_footer(rows, totals, skipped)

    def build(c):
        return report.network_table(rows, totals, c)

    check(lambda con, fit: report.show(con, "network longnames", build, foot, fit), build,
          opts, foot)


def test_network_command_into_a_pipe_and_a_file(net, capsys, tmp_path):
    from helpers import cli
    path, rows, _, _ = net
    thesis = str(ROOT / "configs" / "thesis.yaml")
    assert cli("network", thesis, str(path), "--cold") == 0
    piped = capsys.readouterr().out
    target = tmp_path / "x.txt"
    assert cli("network", thesis, str(path), "-o", str(target), "--cold") == 0
    for out in (piped, target.read_text()):
        assert "…" not in out
        for r in rows:
            assert shows(out, r["name"]) and shows(out, report.count(r["cycles"]))


def test_warm_network_table_shows_every_entry_and_the_flush(net, capsys, tmp_path):
    from helpers import cli
    path = net[0]
    thesis = str(ROOT / "configs" / "thesis.yaml")
    res = api.network(thesis, path)
    target = tmp_path / "x.txt"
    assert cli("network", thesis, str(path), "-o", str(target)) == 0
    out = target.read_text()
    assert "…" not in out
    for r in res.rows + [res.flush]:
        assert shows(out, r["name"]) and shows(out, report.count(r["cycles"]))
        assert shows(out, report.fmt_sig(r["dram_bytes"] / 1024))
    assert shows(out, "op:concat") and shows(out, "op:gap")
    assert shows(out, report.count(res.totals["cycles"]))


def test_network_csv_ends_with_the_totals(net):
    _, rows, totals, _ = net
    text = report.network_csv(rows, totals)
    got = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == report.rows_to_csv(rows).splitlines()[0]  # same columns
    assert [r["name"] for r in got] == [r["name"] for r in rows] + ["total"]
    total = got[-1]
    for key in ("macs", "accesses", "cycles", "dram_bytes", "min_dram_bytes"):
        assert int(total[key]) == sum(int(r[key]) for r in got[:-1]) == totals[key]
    for key in ("energy_pj_low", "energy_pj_high"):
        assert float(total[key]) == pytest.approx(sum(float(r[key]) for r in got[:-1]))
    assert float(total["cycles_share"]) == 1.0
    assert float(total["amplification"]) == pytest.approx(
        totals["dram_bytes"] / totals["min_dram_bytes"])
    assert total["type"] == "" and total["batch"] == "1"


# ---------------------------------------------------------------- replay's footer


def replayed(trace, fmt: str, modifies: int) -> dict:
    """The summary `simcache replay thesis TRACE` renders."""
    reader = TraceReader(trace)
    h = CONFIGS["thesis"]
    s = summarize(engine.simulate_trace(h, iter(reader)), h, "thesis")
    s["trace"] = {"path": str(trace), "format": fmt, "accesses": reader.accesses,
                  "instructions": reader.instructions, "skipped": 0, "examples": [],
                  "modifies": modifies}
    return s


def test_replay_footer_explains_split_accesses_and_lackey_modifies(tmp_path):
    """Registers hold one 4-byte element per line: an 8-byte access is two requests. A
    lackey M record is a read and a write."""
    trace = tmp_path / "t.lackey"
    trace.write_text("I  04000000,3\n L 1000,4\n M 2000,8\n S 3000,4\n L 3002,4\n M 4000,4\n")
    s = replayed(trace, "lackey", modifies=2)
    first = s["levels"][0]
    assert s["accesses"] == 7  # L, M (2), S, L, M (2)
    assert first["reads"] + first["writes"] == 10  # M 8 bytes: 2 × 2; L 3002,4 straddles
    text = report.to_table(s)
    assert ("the 7 accesses count each of the 2 lackey M (modify) records as a read and a "
            "write (5 records)") in text
    assert ("registers received 10 requests for the 7 accesses: 3 more, as an access that "
            "straddles lines (registers lines are 4 bytes) becomes one request per line") in text

    s["trace"].pop("modifies")  # a reader that does not count them
    assert "lackey M" not in report.to_table(s)


def test_replay_footer_is_silent_when_requests_match(tmp_path):
    trace = tmp_path / "t.din"
    trace.write_text("0 1000\n1 1004\n0 2000\n")
    s = replayed(trace, "din", modifies=0)
    text = report.to_table(s)
    assert "received" not in text and "lackey" not in text


# ---------------------------------------------------------------- JSON


def test_json_is_strict_and_round_trips(run_summary):
    text = report.to_json(run_summary)
    assert json.loads(text) == json.loads(json.dumps(run_summary))
    assert "Infinity" not in text and "NaN" not in text


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, np.float64("inf")])
def test_json_refuses_what_json_cannot_carry(run_summary, bad):
    doc = json.loads(json.dumps(run_summary))
    doc["levels"][1]["by_tensor"]["w"]["energy_pj"]["high"] = bad
    with pytest.raises(SimcacheError) as exc:
        report.to_json(doc)
    [problem] = exc.value.problems
    assert problem.startswith(f"JSON output: levels[1].by_tensor.w.energy_pj.high is {bad}")


def test_json_takes_numpy_numbers():
    doc = {"a": np.int64(3), "b": [np.float32(0.5), np.bool_(True)], "c": np.arange(3),
           "d": (1, 2), "e": Path("x/y")}
    assert json.loads(report.to_json(doc)) == {"a": 3, "b": [0.5, True], "c": [0, 1, 2],
                                               "d": [1, 2], "e": "x/y"}


# ---------------------------------------------------------------- figures for people


def test_compact_counts():
    assert report.count(14_279_168, True) == "14.3M"
    assert report.count(14_279_168) == "14,279,168"
    assert report.count(9_999, True) == "9,999"
    assert report.count(999_999, True) == "1M"  # not 1e+03k
    assert report.count(999_400, True) == "999k"
    assert report.count(4_000_000_000_000_000, True) == "4,000T"
    assert report.fmt_sig(999.7) == "1,000" and report.fmt_sig(0.0000123) == "0.0000123"
    assert report.fmt_sig(2.0) == "2" and report.fmt_sig(26.44) == "26.4"
    assert report.nbytes(1023.9 * 1024) == "1 MiB" and report.nbytes(1000) == "1000 B"
    assert report.energy({"low": 5.35e6, "high": 16.4e6}) == "5.35–16.4 µJ"
    assert report.energy({"low": 1000, "high": 999_700}) == "0.001–1 µJ"


def _value(text: str) -> float:
    units = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "pJ": 1, "nJ": 1e3, "µJ": 1e6,
             "mJ": 1e9, "J": 1e12, "B": 1, "KiB": 1024, "MiB": 1 << 20, "GiB": 1 << 30,
             "TiB": 1 << 40}
    m = re.fullmatch(r"(-?[\d,]+(?:\.\d+)?) ?([a-zA-Zµ]*)", text)
    assert m, text
    return float(m.group(1).replace(",", "")) * units.get(m.group(2), 1)


@given(st.floats(min_value=1e-9, max_value=1e17))
def test_figures_never_use_exponents_and_stay_within_rounding(v):
    """Three significant digits at least, no 'e+03', whatever the magnitude."""
    for text, value in ((report.count(int(v), True), int(v)), (report.fmt_sig(v), v),
                        (report.nbytes(int(v)), int(v)),
                        (report.energy({"low": v, "high": v}), v)):
        assert "e" not in text, text  # no unit has an e in it
        assert _value(text) == pytest.approx(value, rel=5e-3, abs=1e-12), text


def test_prose_wraps_at_spaces_and_after_clauses():
    line = ("cycles 3,539,704 = memory 3,324,536 + MACs 215,168 · AMAT 3.86 cycles · "
            "16.5 cycles/MAC")
    assert report._lines(line, 80) == [
        "cycles 3,539,704 = memory 3,324,536 + MACs 215,168 · AMAT 3.86 cycles ·",
        "  16.5 cycles/MAC"]
    for width in (10, 20, 33, 47):
        pieces = report._lines("  " + line + " traces/a_very_long_trace_file_name.din", width)
        assert " ".join(p.strip() for p in pieces) == line.strip() + \
            " traces/a_very_long_trace_file_name.din"
        assert all(len(p) <= width or " " not in p.strip().removesuffix(" ·")
                   for p in pieces), pieces
        assert all(p.startswith("    ") and not p.strip().startswith("·") for p in pieces[1:])
    assert report._lines(line, None) == [line]


def test_names_are_shown_as_written_not_as_markup(net):
    _, rows, totals, _ = net
    odd = [dict(r, name=f"[bold]{r['name']}[/bold]:fire:") for r in rows]
    out = report.text("[red]title[/red]", lambda c: report.network_table(odd, totals, c),
                      ["footer [x]"])
    assert out.startswith("[red]title[/red]\n") and "footer [x]" in out
    for r in odd:
        assert shows(out, r["name"])


def test_tables_show_a_non_finite_figure_rather_than_fail(run_summary):
    """JSON refuses inf and NaN (above); a table shows them as they are."""
    s = json.loads(json.dumps(run_summary))
    s["totals"]["cycles"] = math.inf
    s["levels"][0]["energy_pj"] = {"low": math.nan, "high": math.inf}
    out = report.to_table(s)
    assert shows(out, "inf") and "nan–inf" in out
    assert report.count(math.inf, True) == "inf" and report.nbytes(math.inf) == "inf TiB"
