"""Miss-ratio curves (simcache mrc): the stack-distance kernel against the plain-Python
stacks of tests/naive.py, and every point of both curves against a separate engine
simulation of the hierarchy with the level resized, count for count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_differential import SETTINGS, trace

import naive
from helpers import hierarchy
from simcache import engine, mrc
from simcache import kernels as K
from simcache.config import Geometry
from simcache.layers import make_layer


def histogram(distances, bound):
    """hist[d] for d < bound, hist[bound]: first uses and distances of bound or more."""
    h = np.zeros(bound + 1, dtype=np.int64)
    for d in distances:
        h[bound if d is None or d >= bound else d] += 1
    return h


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 3000), st.sampled_from([1, 4, 8, 16, 40, 200]),
                          st.booleans()), min_size=1, max_size=500),
       st.sampled_from([4, 16, 64]), st.sampled_from([1, 2, 3, 4, 8]),
       st.integers(1, 40), st.integers(1, 9), st.lists(st.integers(0, 500), max_size=3))
def test_stacks_match_reference(records, line, sets, max_lines, max_ways, cuts):
    """The kernel's distances (all lines, and within the set) are the reference's, whatever
    the bounds and however the records are cut into calls: the clock compacts every
    2·max_lines + 2 requests, lines beyond max_lines are forgotten."""
    g = Geometry("L", line * sets * 2, line, 2, sets, "lru", True, True)
    stacks = mrc.Stacks(g, max_lines, max_ways)
    recs = np.array([(a, n, K.F_WRITE if w else 0) for a, n, w in records], dtype=np.int64)
    for part in np.split(recs, sorted(cuts)):
        stacks.feed(part.reshape(-1), len(part))
    lines = naive.split_lines(records, line)
    assert stacks.sc[mrc.C_REQ] == len(lines)
    assert stacks.sc[mrc.C_WRITES] == len(naive.split_lines([r for r in records if r[2]], line))
    assert np.array_equal(stacks.hist, histogram(naive.stack_distances(lines), max_lines))
    if sets > 1:
        assert np.array_equal(stacks.shist,
                              histogram(naive.set_stack_distances(lines, sets), max_ways))


def misses_at(specs, k, source, element=4):
    """Run-phase misses and requests of level k, from a separate engine simulation."""
    h = hierarchy(specs)
    if isinstance(source, list):
        arr = np.array(source, dtype=np.int64)
        r = engine.simulate_trace(h, [(arr[:, 0], arr[:, 1], arr[:, 2].astype(np.uint8),
                                       arr[:, 3].astype(np.int8))], element)
    else:
        r = engine.simulate(h, source)
    c = r.counters[0, k].sum(axis=0)
    requests = int(c[K.READS] + c[K.WRITES])
    return requests - int(c[K.READ_HITS] + c[K.WRITE_HITS]), requests


def resized(specs, k, **change):
    out = [dict(s) for s in specs]
    out[k].update(change)
    return out


def assert_curves_exact(specs, k, source, max_lines, max_ways, element=4):
    """Every point of both curves equals a simulation of that size: a fully associative
    level of C lines for every C, and of the level's sets with a ways for every a."""
    h = hierarchy(specs)
    source_kw = {"chunks": [_arrays(source)]} if isinstance(source, list) else {"layer": source}
    curves = mrc.measure(h, k, element, max_lines, max_ways, **source_kw)
    g = h.geometry(element)[k]
    line, sets = g.line, g.sets
    _, requests = misses_at(specs, k, source, element)
    assert curves.requests == requests
    for c in range(1, max_lines + 1):
        want, _ = misses_at(resized(specs, k, size=c * line, ways=c), k, source, element)
        assert curves.fa_misses(c) == want, f"fully associative, {c} lines"
    if sets > 1:
        for a in range(1, max_ways + 1):
            want, _ = misses_at(resized(specs, k, size=sets * a * line, ways=a), k, source,
                                element)
            assert curves.set_misses(a) == want, f"{sets} sets, {a} ways"
    return curves


def _arrays(tr):
    arr = np.array(tr, dtype=np.int64)
    return arr[:, 0], arr[:, 1], arr[:, 2].astype(np.uint8), arr[:, 3].astype(np.int8)


def lvl(size, line, ways, policy="lru", wb=True, wa=True):
    return dict(size=size, line=line, ways=ways, policy=policy, write_back=wb,
                write_allocate=wa)


REG = lvl(32, 4, 8)  # a register file of 8 elements, fully associative
REG32 = lvl(128, 4, 32)  # hashed: more than 16 ways
CASES = {
    # name: (levels, index of the level measured)
    "first level": ([lvl(128, 16, 2), lvl(1024, 32, 4)], 0),
    "first level, fully associative": ([lvl(128, 16, 8)], 0),
    "below registers": ([REG, lvl(256, 16, 2), lvl(2048, 32, 4)], 1),
    "below hashed registers": ([REG32, lvl(256, 16, 2)], 1),
    "L2 below L1": ([REG, lvl(128, 16, 2), lvl(512, 16, 2), lvl(4096, 64, 4)], 2),
    "below a write-through L1": ([lvl(128, 16, 2, wb=False), lvl(512, 16, 2)], 1),
    "below a no-allocate L1": ([lvl(128, 16, 2, wa=False), lvl(512, 32, 2)], 1),
    "a write-through level": ([lvl(64, 16, 2), lvl(512, 16, 2, wb=False)], 1),
    "wide lines above narrow": ([lvl(256, 64, 2), lvl(512, 16, 2)], 1),
    "below FIFO and random": ([lvl(64, 16, 2, "random"), lvl(256, 16, 2, "fifo"),
                               lvl(1024, 32, 2)], 2),
    "above a random level": ([lvl(128, 16, 2), lvl(512, 16, 2), lvl(2048, 32, 2, "random")],
                             1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_layer_curves_equal_simulations(name):
    specs, k = CASES[name]
    layer = make_layer(type="spatial", B=1, M=3, N=4, F=5, K=3)
    curves = assert_curves_exact(specs, k, layer, max_lines=40, max_ways=6)
    assert curves.fa_misses(1) > curves.fa_misses(40)  # the sizes do differ here


@pytest.mark.parametrize("name", ["below registers", "L2 below L1", "below a no-allocate L1"])
def test_tiled_layer_with_guards(name):
    """A tile that does not divide its loop: the nest kernel with guard forms taps too."""
    specs, k = CASES[name]
    layer = make_layer(type="group", B=1, M=4, N=6, F=4, K=3, G=2, tiles={"n": 4, "m": 2})
    assert engine.guarded(layer)
    assert_curves_exact(specs, k, layer, max_lines=24, max_ways=4)


@pytest.mark.parametrize("name", ["below registers", "L2 below L1", "first level"])
def test_small_buffer_stops_and_goes_on(name, monkeypatch):
    """A tap buffer that fills every few iterations (or accesses): the kernels stop after
    the iteration under way and go on from there; the curves are the same."""
    specs, k = CASES[name]
    layer = make_layer(type="depthwise", B=1, M=4, N=4, F=6, K=3)
    h = hierarchy(specs)
    whole = mrc.measure(h, k, 4, 30, 5, layer=layer)
    tr = [(a, 4, w, 0) for a, w in zip(range(0x1000, 0x1000 + 4 * 300, 4), [0, 1] * 150,
                                       strict=True)] * 2
    whole_trace = mrc.measure(h, k, 4, 30, 5, chunks=[_arrays(tr)])
    monkeypatch.setattr(mrc, "TAP_RECORDS", 1)
    small = mrc.measure(h, k, 4, 30, 5, layer=layer)
    small_trace = mrc.measure(h, k, 4, 30, 5, chunks=[_arrays(tr)])
    for a, b in ((whole, small), (whole_trace, small_trace)):
        assert np.array_equal(a.hist, b.hist) and a.requests == b.requests > 0
        assert (a.set_hist is None) == (b.set_hist is None)
        if a.set_hist is not None:
            assert np.array_equal(a.set_hist, b.set_hist)


@st.composite
def allocating_case(draw):
    """Random hierarchies, and a level of them that allocates and is LRU (the exact case),
    without random levels both above it and at or below it."""
    n = draw(st.integers(1, 3))
    specs = []
    for _ in range(n):
        line = draw(st.sampled_from([4, 8, 16, 32]))
        ways = draw(st.sampled_from([1, 2, 4, 17]))
        sets = draw(st.sampled_from([1, 2, 3, 4]))
        specs.append(lvl(line * ways * sets, line, ways,
                         draw(st.sampled_from(["lru", "fifo", "random"])),
                         draw(st.booleans()), draw(st.booleans())))
    k = draw(st.integers(0, n - 1))
    specs[k].update(policy="lru", write_allocate=True)
    if any(s["policy"] == "random" for s in specs[:k]):
        for s in specs[k:]:
            s["policy"] = "lru" if s["policy"] == "random" else s["policy"]
    return specs, k


@SETTINGS
@given(allocating_case(), trace())
def test_trace_curves_equal_simulations(case, tr):
    specs, k = case
    assert_curves_exact(specs, k, tr, max_lines=12, max_ways=4)


# ---------------------------------------------------------------- API, CLI, figure

import json  # noqa: E402
from pathlib import Path  # noqa: E402

from helpers import assert_refused, cli_output  # noqa: E402
from simcache import api  # noqa: E402

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")
SMALL = ["-F", "6", "-M", "4", "-N", "4"]


def test_api_curves_equal_simulations_of_the_thesis_config():
    """simcache.api.mrc on a shipped config: its L1 points at L1's own size, and a few
    others, equal `run`'s L1 misses with L1 resized."""
    from simcache.config import Hierarchy, load_hierarchy
    r = api.mrc(THESIS, "depthwise", level="L1", F=6, M=4, N=4)
    h = load_hierarchy(THESIS)
    doc = r.to_dict()["mrc"]
    assert doc["level"]["name"] == "L1" and doc["exact"] and doc["note"] is None
    lay = make_layer(type="depthwise", B=1, M=4, N=4, F=6, K=3)
    fa = {p["lines"]: p for p in r.fully_associative}
    sa = {p["ways"]: p for p in r.set_associative}
    assert 512 in fa and 8 in sa  # L1: 32 KiB of 64 B lines, 8 ways
    for lines, ways in ((1, 1), (4, 2), (512, 8), (100, 3)):
        for p, change in ((fa.get(lines), dict(size=lines * 64, ways="full")),
                          (sa.get(ways), dict(size=64 * ways * 64, ways=ways))):
            if p is None:
                continue
            d = h.model_dump()
            d["levels"][1].update(change)
            run = engine.simulate(Hierarchy.model_validate(d), lay)
            c = run.counters[0, 1].sum(axis=0)
            assert c[K.READS] + c[K.WRITES] == r.requests
            assert p["misses"] == c[K.READS] + c[K.WRITES] - c[K.READ_HITS] - c[K.WRITE_HITS]
            assert p["miss_ratio"] == p["misses"] / r.requests


def test_cli_json_table_csv(capsys, tmp_path):
    code, out, err = cli_output(capsys, "mrc", THESIS, "--layer", "depthwise", *SMALL,
                                "--level", "L2", "-f", "json", "--sizes", "48KiB")
    assert code == 0, err
    doc = json.loads(out)
    m = doc["mrc"]
    assert m["level"]["name"] == "L2" and m["requests"] > 0
    assert 48 * 1024 in [p["size"] for p in m["fully_associative"]]
    assert [c["name"] for c in m["cache_sizes"] if c["this"]] == ["L2"]
    assert [p["ways"] for p in m["set_associative"]] == list(range(1, m["max_ways"] + 1))
    code, out, err = cli_output(capsys, "mrc", THESIS, "--layer", "depthwise", *SMALL,
                                "--level", "L2")
    assert code == 0, err
    assert "Miss-ratio curves of L2" in out and "◀ L2*" in out and "◀ L1" in out
    csv_file = tmp_path / "c.csv"
    code, out, err = cli_output(capsys, "mrc", THESIS, "--layer", "depthwise", *SMALL,
                                "--level", "L2", "-o", str(csv_file))
    assert code == 0, err
    rows = csv_file.read_text().splitlines()
    assert rows[0].startswith("curve,size,lines,ways,sets,misses,miss_ratio,mark")
    assert len(rows) == 1 + len(m["fully_associative"]) + len(m["set_associative"])


def test_cli_trace(capsys):
    code, out, err = cli_output(capsys, "mrc", THESIS, "--trace",
                                str(ROOT / "traces" / "spatial_f8.din"), "--level", "L1",
                                "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["trace"]["accesses"] == doc["mrc"]["accesses"] > 0


def test_fifo_level_says_the_curve_is_lrus(capsys, tmp_path):
    cfg = tmp_path / "fifo.yaml"
    import yaml

    from simcache.config import load_hierarchy
    d = yaml.safe_load((ROOT / "configs" / "thesis.yaml").read_text())
    d["levels"][1]["policy"] = "fifo"
    cfg.write_text(yaml.safe_dump(d))
    load_hierarchy(cfg)
    code, out, err = cli_output(capsys, "mrc", str(cfg), "--layer", "depthwise", *SMALL,
                                "--level", "L1")
    assert code == 0, err
    assert "L1 replaces fifo: the curve is LRU's" in out


@pytest.mark.parametrize("args, expect", [
    (["--level", "L9"], ["error: --level: no cache level 'L9'"]),
    (["--level", "DRAM"], ["error: --level: DRAM is main memory"]),
    ([], ["error: --level: name the cache level"]),
    (["--level", "L1", "--max-size", "100"], ["error: --max-size: 100 B is not a whole"]),
    (["--level", "L1", "--sizes", "96,64KiB"], ["error: --sizes: 96 is not a whole"]),
    (["--level", "L1", "--sizes", "1GiB"], ["error: --sizes: 1,073,741,824 B is larger"]),
    (["--level", "L1", "--trace", "traces/spatial_f8.din"],
     ["error: --layer/--trace: give a layer type or a trace file, not both"]),
])
def test_bad_input_is_one_line(capsys, tmp_path, args, expect):
    target = tmp_path / "out.json"
    code, out, err = cli_output(capsys, "mrc", THESIS, "--layer", "depthwise", *SMALL,
                                "-o", str(target), *args)
    assert_refused(code, out, err, expect, target)


def test_no_allocate_and_random_levels_are_refused(capsys, tmp_path):
    import yaml
    d = yaml.safe_load((ROOT / "configs" / "thesis.yaml").read_text())
    d["levels"][2]["write_allocate"] = False
    d["levels"][1]["policy"] = "random"
    d["levels"][3]["policy"] = "random"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(d))
    target = tmp_path / "out.json"
    code, out, err = cli_output(capsys, "mrc", str(cfg), "--layer", "depthwise", *SMALL,
                                "--level", "L2", "-o", str(target))
    assert_refused(code, out, err, ["error: --level: L2 does not allocate on a write miss",
                                    "error: --level: L2: levels above it and at or below"],
                   target)


def test_figure_plots_the_documents_numbers(tmp_path):
    pytest.importorskip("matplotlib")
    from simcache import plots
    doc = api.mrc(THESIS, "depthwise", level="L1", F=6, M=4, N=4).to_dict()
    m = doc["mrc"]
    fig = plots.figure(doc)
    (ax,) = fig.axes
    lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    fa, sa = m["fully_associative"], m["set_associative"]
    (fa_line,) = [ln for k, ln in lines.items() if k.startswith("fully associative")]
    (sa_line,) = [ln for k, ln in lines.items() if k.startswith("LRU, 64 sets")]
    assert list(fa_line.get_xdata()) == [p["size"] for p in fa]
    assert list(fa_line.get_ydata()) == pytest.approx([100 * p["miss_ratio"] for p in fa])
    assert list(sa_line.get_xdata()) == [p["size"] for p in sa]
    assert list(sa_line.get_ydata()) == pytest.approx([100 * p["miss_ratio"] for p in sa])
    assert ax.get_xscale() == "log" and "bytes" in ax.get_xlabel()
    assert "%" in ax.get_ylabel()
    title = ax.get_title()
    assert "thesis" in title and "L1" in title and "depthwise" in title
    # a vertical mark at every cache size inside the axis, the level's own solid
    marks = {ln.get_xdata()[0]: ln.get_linestyle() for ln in ax.get_lines()
             if ln.get_label().startswith("_") and len(set(ln.get_xdata())) == 1}
    lo, hi = min(p["size"] for p in fa + sa), max(p["size"] for p in fa + sa)
    want = {c["size"]: "-" if c["this"] else ":" for c in m["cache_sizes"]
            if lo <= c["size"] <= hi}
    assert marks == want and 32 * 1024 in want
    texts = [t.get_text() for t in ax.texts]
    assert "L1 32 KiB (this level)" in texts
    path = tmp_path / "m.png"
    plots.plot(doc, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@SETTINGS
@given(st.lists(st.builds(lvl, st.just(0), st.sampled_from([4, 16, 64]), st.just(1),
                          st.sampled_from(["lru", "random"]), st.booleans(), st.booleans()),
                min_size=0, max_size=3),
       trace())
def test_records_per_access_bounds_every_access(specs, tr):
    """What one access sends below the levels above L never exceeds the bound that sizes
    the tap's buffer (a larger count would stop the run with 'the tap's buffer is full')."""
    for s in specs:  # one or two sets of two ways: evictions and write-backs are frequent
        s.update(size=s["line"] * 2 * (1 + (s["line"] == 16)), ways=2)
    h = hierarchy(specs) if specs else None
    above = h.geometry(4) if h else []
    state = mrc.TapState(above, 1, None, K.MAX_ACCESS, 1 << 20)
    hashed = engine.hashed_first_level(above)
    row = K.HDR + len(above) * K.NGEO
    for a, n, w, t in tr:
        one = [np.array([v], dtype=d) for v, d in ((a, np.int64), (n, np.int64),
                                                   (w, np.uint8), (t, np.int8))]
        K.RUN_TRACE_TAP[hashed](state.S, *one)
        got = int(state.S[row + K.G_FILL])
        assert got <= mrc.records_per_access(above, n)
        state.S[row + K.G_FILL] = 0
        state.S[K.H_GROW] = 0


def test_prefetching_levels_down_to_the_level_are_refused(capsys, tmp_path):
    """A prefetch adds requests that depend on a level's contents: no one-pass curve; a
    level below the one measured may prefetch (it never changes what reaches it)."""
    import yaml
    d = yaml.safe_load((ROOT / "configs" / "thesis.yaml").read_text())
    d["levels"][1].update(prefetch="miss")
    d["levels"][1]["source"]["prefetch"] = "test"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(d))
    target = tmp_path / "out.json"
    code, out, err = cli_output(capsys, "mrc", str(cfg), "--layer", "depthwise", *SMALL,
                                "--level", "L2", "-o", str(target))
    assert_refused(code, out, err, ["error: --level: L2: L1 prefetches"], target)
    code, _, err = cli_output(capsys, "mrc", str(cfg), "--layer", "depthwise", *SMALL,
                              "--level", "registers", "-o", str(target))
    assert code == 0, err
