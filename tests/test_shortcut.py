"""Whole layers through a first level of 16-64 B lines, against the plain-Python reference.

tests/test_differential.py puts a register file (one-element lines) first, where no two
iterations of the innermost loop share a first-level line, so the nest's repeated-hit
shortcut (kernels.run_nest, docs/model.md §7 "Repeated hits along the innermost loop")
never fires there. Here the first level is a cache of wide lines, so it fires whenever an
iteration's four accesses hit a write-back first level and the innermost loop stays in
the same lines; the padding bounds (skipped taps) must then stop it exactly where the
reference stops counting. Every counter must equal the reference's.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_differential import assert_same

import naive
from helpers import examples, hierarchy, policies_for
from simcache.engine import simulate
from simcache.layers import make_layer

KINDS = ["spatial", "separable", "pointwise", "group", "depthwise", "fc"]
DIMS = {  # tiny, but with a few iterations of every loop
    "spatial": dict(M=2, N=2, F=5, K=3),
    "separable": dict(M=2, N=2, F=5, K=3),
    "pointwise": dict(M=3, N=2, F=4, K=1),
    "group": dict(M=4, N=4, F=4, K=3, G=2),
    "depthwise": dict(M=3, N=3, F=5, K=3),
    "fc": dict(M=9, N=5, F=1, K=1),
}
# the innermost loop of each order: q, j, m, n, b, p
ORDERS = ["bijnmpq", "bnmpqij", "bijnpqm", "bijmpqn", "ijnmpqb", "bijnmqp"]


def first_level(line: int, policy: str, write_back: bool, write_allocate: bool,
                hashed: bool) -> dict:
    """A first level of `line`-byte lines: 2 sets of 4 ways (scanned), or 32 ways in one
    set (hashed: the kernels for many ways)."""
    ways, sets = (32, 1) if hashed else (4, 2)
    return dict(size=line * ways * sets, line=line, ways=ways, policy=policy,
                write_back=write_back, write_allocate=write_allocate)


SECOND = dict(size=1024, line=64, ways=4, policy="lru", write_back=True, write_allocate=True)


def check(case: dict, specs: list[dict]) -> None:
    layer = make_layer(**case)
    kw = {k: v for k, v in case.items() if k != "type"}
    tr, info = naive.layer_trace(case["type"], **kw)
    want, _ = naive.simulate(specs, tr)
    result = simulate(hierarchy(specs), layer)
    assert_same(result.counters, want)
    assert result.macs == info["macs"]
    assert result.accesses == len(tr)


def _cases():
    """Every layer type x every innermost loop x stride 1 and 2 x padding skip and
    explicit; the first level's line, policy, write flags and kind rotate over the cases
    (a write-back first level, where the shortcut can fire, in three cases of four)."""
    lines = itertools.cycle([16, 32, 64])
    policies = itertools.cycle(["lru", "fifo", "random", "lru", "fifo"])
    flags = itertools.cycle([(True, True), (True, False), (True, True), (False, True),
                             (True, True), (False, False)])
    hashed = itertools.cycle([False, False, True])
    dtypes = itertools.cycle([4, 2, 8, 4])
    out = []
    for kind in KINDS:
        for order in ORDERS:
            for stride, padding in [(1, "skip"), (2, "skip"), (1, "explicit"), (2, "explicit")]:
                if kind in ("fc", "pointwise") and padding == "explicit":
                    continue  # K = 1: no padding, the same as skip
                if kind == "fc" and stride == 2:
                    continue
                wb, wa = next(flags)
                spec = first_level(next(lines), next(policies), wb, wa, next(hashed))
                case = dict(type=kind, B=2, stride=stride, padding=padding, order=order,
                            dtype_bytes=next(dtypes), **DIMS[kind])
                out.append(pytest.param(case, spec, id=f"{kind}-{order}-s{stride}-{padding}-"
                                        f"{spec['line']}B-{spec['policy']}-"
                                        f"{'wb' if wb else 'wt'}{'-wa' if wa else ''}"
                                        f"{'-hashed' if spec['ways'] > 16 else ''}"))
    return out


@pytest.mark.parametrize("case, spec", _cases())
def test_layer_through_wide_lines(case, spec):
    check(case, [spec, SECOND])


def state_cases():
    """The policies of real chips (docs/model.md §2) at a scanned, write-back first level
    (where the repeated-hit shortcut fires, except under bitplru) and at the second level:
    every layer type, two innermost loops (q and m), stride 1 and 2."""
    out = []
    lines = itertools.cycle([16, 32, 64])
    for policy in ("plru", "bitplru", "srrip", "brrip"):
        for kind in KINDS:
            for order, stride in [("bijnmpq", 1), ("bijnpqm", 2)]:
                if kind == "fc":
                    stride = 1
                spec = first_level(next(lines), policy, True, True, False)
                case = dict(type=kind, B=2, stride=stride, padding="skip", order=order,
                            dtype_bytes=4, **DIMS[kind])
                out.append(pytest.param(case, spec, id=f"{kind}-{order}-s{stride}-"
                                        f"{spec['line']}B-{policy}"))
    return out


@pytest.mark.parametrize("case, spec", state_cases())
def test_layer_under_the_policies_of_chips(case, spec):
    check(case, [spec, dict(SECOND, policy=spec["policy"])])


@pytest.mark.parametrize("line", [16, 32, 64])
@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("order", ["bijnmpq", "bnmpqij"])
@pytest.mark.parametrize("kind", ["spatial", "depthwise", "group", "separable"])
def test_pad_amounts(kind, order, pad, line):
    """Skipped taps at both edges of rows and columns, for each pad: the shortcut along q
    (order ...q) or j (order ...j) must stop at the first tap outside x."""
    case = dict(type=kind, B=1, stride=1, padding="skip", pad=pad, order=order,
                dtype_bytes=4, **DIMS[kind])
    check(case, [first_level(line, "lru", True, True, False), SECOND])


@pytest.mark.parametrize("line", [16, 64])
def test_one_wide_level(line):
    """A single cache level over memory: its hits and misses are every access's."""
    case = dict(type="spatial", B=1, stride=1, padding="skip", order="bnmijpq",
                dtype_bytes=4, M=2, N=2, F=6, K=3)
    check(case, [first_level(line, "lru", True, True, False)])


@st.composite
def wide_case(draw):
    kind = draw(st.sampled_from(KINDS))
    dims = dict(DIMS[kind])
    if kind not in ("fc", "pointwise"):
        dims["K"] = draw(st.sampled_from([2, 3]))
        dims["F"] = draw(st.integers(dims["K"], 6))
    case = dict(type=kind, B=draw(st.integers(1, 2)),
                stride=1 if kind == "fc" else draw(st.integers(1, 2)),
                padding=draw(st.sampled_from(["skip", "explicit"])),
                order="".join(draw(st.permutations("bijnmpq"))),
                dtype_bytes=draw(st.sampled_from([2, 4, 8])), **dims)
    if kind not in ("fc", "pointwise") and draw(st.booleans()):
        case["pad"] = draw(st.integers(0, dims["K"] - 1))
    hashed = draw(st.booleans())
    spec = first_level(draw(st.sampled_from([16, 32, 64])),
                       draw(st.sampled_from(policies_for(32 if hashed else 4))),
                       draw(st.booleans()), draw(st.booleans()), hashed)
    return case, spec


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_case())
def test_random_layers_through_wide_lines(drawn):
    case, spec = drawn
    check(case, [spec, SECOND])
