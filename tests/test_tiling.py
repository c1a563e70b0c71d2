"""Tiled loop nests (docs/model.md §1, "Tiling") against plain nested loops over tiles.

The reference (naive.tiled_layer_trace) walks tile starts and positions within tiles as
plain Python loops; it knows nothing of loopnest's linear forms and guards. The trace of
every tiled layer must equal it access for access, and the kernels' counts must equal the
plain-Python simulator's on it, with first levels of one-element and of wide lines (the
kernel's repeated-hit shortcut then runs along the innermost loop into tile ends and
guards). MACs never change with tiling.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_differential import SMALL, assert_same
from test_shortcut import SECOND, first_level

import naive
import simcache
from helpers import assert_refused, cli_output, examples, hierarchy
from simcache.engine import simulate
from simcache.errors import SimcacheError
from simcache.layers import LayerError, make_layer
from simcache.loopnest import plan, trace_chunks
from simcache.traces import TraceReader

DIMS = {  # extents of 2 to 5: room for tiles that divide them and tiles that do not
    "spatial": dict(M=3, N=5, F=4, K=3),
    "separable": dict(M=3, N=2, F=4, K=3),
    "pointwise": dict(M=5, N=3, F=4, K=1),
    "group": dict(M=4, N=6, F=4, K=3, G=2),
    "depthwise": dict(M=5, N=5, F=4, K=3),
    "fc": dict(M=7, N=5, F=1, K=1),
}
KINDS = list(DIMS)

# (tiles, order): sizes are numbers, or "E" (the loop's extent) and "E-1", resolved per
# layer and kept from 1 to the extent; an order of None leaves the tile loops outermost
TILINGS = [
    ({"n": 2}, None),  # classic: N outermost
    ({"m": 2}, "bMijnmpq"),
    ({"i": 3, "j": 2}, "bIJijnmpq"),  # two spatial tiles, 3 does not divide F' = 4
    ({"n": 1}, "bijNnmpq"),  # tile 1: the loop within the tile does nothing
    ({"n": "E", "m": "E"}, "NMbijnmpq"),  # one tile each
    ({"b": 1, "n": 2, "m": "E-1"}, "bNijMnmpqB"),  # a tile loop innermost
    ({"n": "E-1", "j": 3}, "bijJnNmpq"),  # a position loop outside its tile loop
    ({"m": 2}, "bijnpqMm"),  # the split loop innermost: the shortcut meets the guard
    ({"i": "E-1", "m": 3, "n": 4}, "IbMNijnmpq"),
    ({"j": 2, "n": 3}, "nbiJjNmpq"),
    # j innermost (x and y step by an element): the shortcut runs into the last tile's end
    ({"j": 3}, "bJinmpqj"),
    ({"j": "E-1"}, "bijnmpqJ"),  # the tile loop innermost, with a shorter last tile
]
# the group convolution's filter loop (N = 6 in 2 groups of 3): tiles of whole groups (3,
# 6), within a group (1), and across group boundaries (2, 4, 5), tile loop before and
# after its loop
GROUP_TILINGS = [({"n": t}, order) for t in (1, 2, 3, 4, 5, 6)
                 for order in ("bNijnmpq", "bijnmpqN", "nbijmNpq")]
PADDINGS = [(1, "skip"), (2, "skip"), (1, "explicit"), (2, "explicit")]


def sizes(layer_fields: dict, tiles: dict) -> dict:
    """Resolve "E" and "E-1" against the untiled layer's extents."""
    ext = make_layer(**layer_fields).loop_extents()
    out = {}
    for loop, t in tiles.items():
        e = ext[loop][0]
        t = {"E": e, "E-1": e - 1}.get(t, t)
        out[loop] = max(1, min(t, e))
    return out


def case_for(kind: str, tiles: dict, order: str | None, stride: int, padding: str,
             **extra) -> dict:
    base = dict(type=kind, B=2, stride=stride, padding=padding, **DIMS[kind], **extra)
    case = dict(base, tiles=sizes(base, tiles))
    if order is not None:
        case["order"] = order
    return case


def reference(case: dict):
    kw = {k: v for k, v in case.items() if k != "type"}
    return naive.tiled_layer_trace(case["type"], **kw)


def our_trace(layer) -> list[tuple]:
    return [tuple(int(v) for v in row) for c in trace_chunks(plan(layer), chunk=64)
            for row in zip(*c, strict=True)]


def _trace_cases():
    """Every layer type x every tiling, each with skip and explicit padding and with
    strides 1 and 2 (in two of the four pairs, alternating)."""
    out = []
    for kind in KINDS:
        tilings = TILINGS + (GROUP_TILINGS if kind == "group" else [])
        for k, (tiles, order) in enumerate(tilings):
            for stride, padding in (PADDINGS[k % 2], PADDINGS[2 + (k + 1) % 2]):
                if kind in ("fc", "pointwise") and padding == "explicit":
                    continue  # K = 1: the same as skip
                if kind == "fc" and stride == 2:
                    continue
                shown = ",".join(f"{x}{v}" for x, v in tiles.items())
                out.append(pytest.param(kind, tiles, order, stride, padding,
                                        id=f"{kind}-{shown}-{order}-s{stride}-{padding}"))
    return out


@pytest.mark.parametrize("kind, tiles, order, stride, padding", _trace_cases())
def test_trace_equals_tiled_reference(kind, tiles, order, stride, padding):
    case = case_for(kind, tiles, order, stride, padding)
    layer = make_layer(**case)
    want, info = reference(case)
    assert our_trace(layer) == [(a, s, int(w), t) for a, s, w, t in want]
    assert {t.name: t.base for t in plan(layer).tensors} == info["bases"]


@st.composite
def tiled_case(draw):
    kind = draw(st.sampled_from(KINDS))
    dims = dict(DIMS[kind])
    if kind == "group":  # 6 filters in 2 or 3 groups
        dims.update(M=6, N=6, G=draw(st.sampled_from([2, 3])))
    base = dict(type=kind, B=draw(st.integers(1, 3)),
                stride=1 if kind == "fc" else draw(st.integers(1, 2)),
                padding=draw(st.sampled_from(["skip", "explicit"])),
                dtype_bytes=draw(st.sampled_from([2, 4, 8])), **dims)
    ext = make_layer(**base).loop_extents()
    loops = draw(st.lists(st.sampled_from("bijnm"), min_size=1, max_size=5, unique=True))
    tiles = {x: draw(st.integers(1, ext[x][0])) for x in loops}
    order = list(draw(st.permutations("bijnmpq")))
    if draw(st.booleans()):  # place the tile loops; else they go outermost
        for x in loops:
            order.insert(draw(st.integers(0, len(order))), x.upper())
    return dict(base, tiles=tiles, order="".join(order))


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiled_case())
def test_random_tilings_equal_reference(case):
    layer = make_layer(**case)
    want, _ = reference(case)
    assert our_trace(layer) == [(a, s, int(w), t) for a, s, w, t in want]


def test_exact_order_of_a_tiled_fc_layer():
    """fc, M = 3, N = 2, m in tiles of 2 with the tile loop outermost: the weights are read
    in (n, m) order (0,0) (0,1) (1,0) (1,1) for the first tile, then (0,2) (1,2)."""
    layer = make_layer(type="fc", M=3, N=2, F=1, K=1, tiles={"m": 2})
    assert layer.order == "Mbijnmpq"
    w = next(t for t in plan(layer).tensors if t.name == "w")
    reads = [a for a, _, _, t in our_trace(layer)[1::4]]
    assert reads == [w.base + 4 * (3 * n + m)
                     for n, m in [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2)]]


def test_same_accesses_as_untiled():
    """Tiling reorders the accesses; it adds or drops none."""
    for kind in KINDS:
        for tiles, order in TILINGS:
            case = case_for(kind, tiles, order, 1, "skip")
            plain = dict(case, tiles={}, order="bijnmpq")
            assert sorted(our_trace(make_layer(**case))) == sorted(our_trace(make_layer(**plain)))


def _count_cases():
    """Every layer type x every tiling; stride, padding and the first level rotate (a
    register file, or 16-64 B lines, write-back or not, scanned or hashed)."""
    pads = itertools.cycle(PADDINGS)
    lines = itertools.cycle([16, 32, 64])
    policies = itertools.cycle(["lru", "fifo", "random", "lru"])
    flags = itertools.cycle([(True, True), (True, False), (False, True), (True, True)])
    hashed = itertools.cycle([False, False, True])
    firsts = itertools.cycle(["wide", "wide", "registers"])
    out = []
    for kind in KINDS:
        tilings = TILINGS + (GROUP_TILINGS[::2] if kind == "group" else [])
        for tiles, order in tilings:
            stride, padding = next(pads)
            if kind in ("fc", "pointwise"):
                stride, padding = (1 if kind == "fc" else stride), "skip"
            if next(firsts) == "registers":
                specs, what = SMALL, "registers"
            else:
                wb, wa = next(flags)
                spec = first_level(next(lines), next(policies), wb, wa, next(hashed))
                specs = [spec, SECOND]
                what = f"{spec['line']}B-{spec['policy']}{'-wb' if wb else '-wt'}"
            shown = ",".join(f"{k}{v}" for k, v in tiles.items())
            out.append(pytest.param(kind, tiles, order, stride, padding, specs,
                                    id=f"{kind}-{shown}-{order}-s{stride}-{padding}-{what}"))
    return out


@pytest.mark.parametrize("kind, tiles, order, stride, padding, specs", _count_cases())
def test_counts_equal_reference(kind, tiles, order, stride, padding, specs):
    dtype = 4
    case = case_for(kind, tiles, order, stride, padding, dtype_bytes=dtype)
    if specs is SMALL:
        specs = [dict(SMALL[0], line=dtype)] + SMALL[1:]
    layer = make_layer(**case)
    tr, info = reference(case)
    want, _ = naive.simulate(specs, tr)
    result = simulate(hierarchy(specs), layer)
    assert_same(result.counters, want)
    assert result.accesses == len(tr)
    untiled = simulate(hierarchy(specs), make_layer(**dict(case, tiles={}, order="bijnmpq")))
    assert result.macs == info["macs"] == untiled.macs


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiled_case(), st.sampled_from([16, 32, 64]), st.sampled_from(["lru", "fifo", "random"]),
       st.booleans(), st.booleans())
def test_random_tilings_count_as_reference(case, line, policy, wb, hashed):
    specs = [first_level(line, policy, wb, True, hashed), SECOND]
    tr, info = reference(case)
    want, _ = naive.simulate(specs, tr)
    result = simulate(hierarchy(specs), make_layer(**case))
    assert_same(result.counters, want)
    assert result.macs == info["macs"]


@pytest.mark.parametrize("kind, tiles, order", [
    ("spatial", {"j": 3}, "bJinmpqj"), ("group", {"n": 4}, "bijnmpqN"),
    ("fc", {"m": 2}, "bijnpqMm"), ("separable", {"i": 3, "m": 2}, "IbMijnmpq")])
def test_three_c_of_tiled_layers(kind, tiles, order):
    """--3c classifies a tiled nest's misses as the reference does on the tiled trace."""
    case = case_for(kind, tiles, order, 1, "skip")
    specs = [first_level(16, "lru", True, True, False), SECOND]
    tr, _ = reference(case)
    ccc = np.zeros((2, len(specs) + 1, 5, 3), dtype=np.int64)
    want, _ = naive.simulate(specs, tr, three_c=ccc)
    result = simulate(hierarchy(specs), make_layer(**case), ccc=True)
    assert_same(result.counters, want)
    assert np.array_equal(result.three_c, ccc)


# ---------------------------------------------------------------- the layer and its reports


def test_tile_loops_go_outermost_in_the_order_of_their_loops():
    layer = make_layer(type="spatial", **DIMS["spatial"], order="bnmijpq", tiles="m=2,n=3")
    assert layer.order == "NMbnmijpq"
    assert layer.tiles == {"m": 2, "n": 3}
    assert layer.describe().endswith("order=NMbnmijpq tiles m=2,n=3")


def test_a_tile_as_large_as_the_loop_is_one_tile():
    p = plan(make_layer(type="spatial", **DIMS["spatial"], tiles={"n": 5, "i": 4}))
    assert p.nests[0].dims == ("i", "j", "n", "m", "p", "q")  # N and I of extent 1
    assert p.nests[0].limits == ()


def test_guard_only_where_the_tile_does_not_divide():
    p = plan(make_layer(type="spatial", **DIMS["spatial"], tiles={"n": 2, "i": 2}))
    assert p.nests[0].dims[:4] == ("I", "N", "i", "j")  # in the order of i and n
    assert p.nests[0].limits == (5,)  # n: 5 in tiles of 2; i: 4 in tiles of 2, no guard


@pytest.mark.parametrize("fields, expect", [
    (dict(tiles={"n": 0}), ["tiles: n=0: a tile size is at least 1"]),
    (dict(tiles={"n": -2}), ["tiles: n=-2: a tile size is at least 1"]),
    (dict(tiles={"n": 6}), ["tiles: n=6 is larger than the spatial layer's n loop, of "
                                   "extent 5 (N)"]),
    (dict(tiles={"i": 5}), ["tiles: i=5 is larger than the spatial layer's i loop, of "
                                   "extent 4 (F')"]),
    (dict(tiles={"p": 2}), ["tiles: p runs over the kernel and cannot be tiled"]),
    (dict(tiles={"z": 2}), ["tiles: 'z' is not a loop that can be tiled"]),
    (dict(tiles="n=2,n=3"), ["tiles: n is tiled twice"]),
    (dict(tiles="n"), ["tiles: 'n': write loop=size"]),
    (dict(tiles="n=two"), ["tiles: 'n=two': the size 'two' is not a whole number"]),
    (dict(tiles={"n": 0, "m": 9}), ["tiles: n=0", "tiles: m=9 is larger"]),
    (dict(tiles={"n": 2}, order="bMijnmpq"), ["order: 'bMijnmpq' names the tile loop M",
                                                "order: 'bMijnmpq' does not place the tile "
                                                "loop N"]),
    (dict(tiles={"n": 2, "m": 2}, order="bMijnmpq"), ["order: 'bMijnmpq' does not place"]),
    (dict(order="Nbijnmpq"), ["order: 'Nbijnmpq' names the tile loop N but n is not tiled"]),
    (dict(tiles={"n": 2}, order="NbijnNmpq"), ["order: 'NbijnNmpq' repeats the tile loop N"]),
    (dict(tiles={"n": 2}, order="Nbbijnmpq"), ["order: 'Nbbijnmpq' is not a permutation"]),
    (dict(tiles={"n": 2}, order="NbijnmpqP"), ["order: 'NbijnmpqP': P is not a tile loop"]),
])
def test_bad_tiles(fields, expect):
    with pytest.raises(LayerError) as exc:
        make_layer(type="spatial", **DIMS["spatial"], **fields)
    assert len(exc.value.problems) == len(expect), exc.value.problems
    for line, want in zip(exc.value.problems, expect, strict=True):
        assert line.startswith(want)


@pytest.mark.parametrize("kind, tiles, ok", [
    ("depthwise", {"m": 1}, True),  # m has extent 1: its one tile is legal, and a no-op
    ("depthwise", {"m": 2}, False),
    ("group", {"m": 2}, True),  # m runs over the M/G = 2 channels of a group
    ("group", {"m": 3}, False),
    ("fc", {"i": 1, "j": 1}, True),
    ("fc", {"i": 2}, False),
    ("separable", {"m": 3}, True),  # M = 3 in the K×1 nest, N = 2 (one tile) in the 1×K
    ("separable", {"m": 4}, False),
])
def test_extents_per_layer_type(kind, tiles, ok):
    fields = dict(type=kind, **DIMS[kind], tiles=tiles)
    if ok:
        make_layer(**fields)
    else:
        with pytest.raises(LayerError, match=r"^tiles: .* is larger than"):
            make_layer(**fields)


def test_depthwise_m_tile_changes_nothing():
    plain = make_layer(type="depthwise", **DIMS["depthwise"])
    tiled = make_layer(type="depthwise", **DIMS["depthwise"], tiles={"m": 1})
    assert our_trace(tiled) == our_trace(plain)


def test_api_takes_tile_or_tiles(tmp_path):
    dims = dict(M=3, N=5, F=4, K=3)
    a = simcache.simulate("thesis", "spatial", tile="n=2,m=2", **dims)
    b = simcache.simulate("thesis", "spatial", tiles={"n": 2, "m": 2}, **dims)
    assert a.layer["tiles"] == b.layer["tiles"] == {"n": 2, "m": 2}
    assert a.layer["order"] == "NMbijnmpq"
    assert a.to_dict()["levels"] == b.to_dict()["levels"]
    with pytest.raises(SimcacheError, match="tiles: n=9 is larger"):
        simcache.study("thesis", ["spatial"], tile="n=9", **dims)


def test_layers_stay_hashable():
    a = make_layer(type="spatial", **DIMS["spatial"], tiles="n=2")
    b = make_layer(type="spatial", **DIMS["spatial"], tiles={"n": 2})
    c = make_layer(type="spatial", **DIMS["spatial"])
    assert a == b != c and len({a, b, c}) == 2


def test_trace_command_writes_the_tiled_order(capsys, tmp_path):
    path = tmp_path / "t.npz"
    code, _, err = cli_output(capsys, "trace", "--layer", "group", "-M", "4", "-N", "6",
                              "-F", "4", "-K", "3", "-G", "2", "--tile", "n=4,j=3",
                              "--order", "bJNijnmpq", "-o", str(path), "--no-progress")
    assert code == 0 and "order=bJNijnmpq tiles n=4,j=3" in err
    chunks = list(TraceReader(path))
    got = list(zip(*(np.concatenate([c[k] for c in chunks]).tolist() for k in range(4)),
                   strict=True))
    want, _ = reference(dict(type="group", B=1, **DIMS["group"], tiles={"n": 4, "j": 3},
                             order="bJNijnmpq"))
    assert got == [(a, s, int(w), t) for a, s, w, t in want]


def _run(capsys, *args):
    return cli_output(capsys, "run", "thesis", "--layer", "spatial", "-M", "3", "-N", "5",
                      "-F", "4", "-K", "3", "--no-progress", *args)


def test_title_and_json_show_the_tiling(capsys):
    code, out, _ = _run(capsys, "--tile", "n=2,m=2", "--order", "bMijNnmpq")
    assert code == 0
    assert out.splitlines()[0].endswith("· order bMijNnmpq · tiles n=2,m=2")
    code, out, _ = _run(capsys, "--tile", "n=2", "--format", "json")
    layer = json.loads(out)["layer"]
    assert (layer["order"], layer["tiles"]) == ("Nbijnmpq", {"n": 2})
    code, out, _ = _run(capsys, "--format", "json")
    assert json.loads(out)["layer"]["tiles"] == {}


@pytest.mark.parametrize("args, expect", [
    (["--tile", "n=0"], ["error: --tile: n=0: a tile size is at least 1"]),
    (["--tile", "n=-1"], ["error: --tile: n=-1: a tile size is at least 1"]),
    (["--tile", "n=6"], ["error: --tile: n=6 is larger than the spatial layer's n "
                              "loop, of extent 5 (N)"]),
    (["--tile", "q=2"], ["error: --tile: q runs over the kernel"]),
    (["--tile", "x=2"], ["error: --tile: 'x' is not a loop that can be tiled"]),
    (["--tile", "n=0,m=4"], ["error: --tile: n=0", "error: --tile: m=4 is larger"]),
    (["--tile", "n:2"], ["error: --tile: 'n:2': write loop=size"]),
    (["--tile", "n=2,m=2", "--order", "bNijnmpq"],
     ["error: --order: 'bNijnmpq' does not place the tile loop M"]),
    (["--tile", "n=2", "--order", "bNijnnmpq"], ["error: --order: 'bNijnnmpq' is not a "
                                                  "permutation of 'bijnmpq'"]),
    (["--order", "bIijnmpq"], ["error: --order: 'bIijnmpq' names the tile loop I but i is "
                               "not tiled"]),
])
def test_cli_errors_are_one_line_each(capsys, tmp_path, args, expect):
    target = tmp_path / "out.json"
    assert_refused(*_run(capsys, *args, "-o", str(target)), expect, target)
