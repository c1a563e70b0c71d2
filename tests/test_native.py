"""The C nest of simcache.native (issue 22, item 2): for small layers of every type, order,
stride, padding mode, tiling and batch, the y the compiled C leaves equals numpy's
convolution / matmul of the same inputs (whole numbers, so every fp32 sum is exact and the
comparison is exact). Skipped with a reason when there is no C compiler."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from simcache import native
from simcache.layers import make_layer

pytestmark = pytest.mark.skipif(native.compiler() is None,
                                reason="no C compiler (cc, gcc or clang) on PATH")


def conv2d(x, w, G, stride, pad_h, pad_w):
    """y[b, n, i, j] = Σ over the group's channels m and taps p, q of
    w[n, m, p, q] · x[b, g·M/G + m, i·Sh + p − pad_top, j·Sw + q − pad_left], zeros outside."""
    B, M, H, Wd = x.shape
    N, Mg, Kh, Kw = w.shape
    Sh, Sw = stride
    xp = np.zeros((B, M, H + sum(pad_h), Wd + sum(pad_w)), dtype=np.float64)
    xp[:, :, pad_h[0]:pad_h[0] + H, pad_w[0]:pad_w[0] + Wd] = x
    Ho = (H + sum(pad_h) - Kh) // Sh + 1
    Wo = (Wd + sum(pad_w) - Kw) // Sw + 1
    y = np.zeros((B, N, Ho, Wo))
    Ng = N // G
    for g in range(G):
        xs = xp[:, g * Mg:(g + 1) * Mg]
        ws = w[g * Ng:(g + 1) * Ng].astype(np.float64)
        for p in range(Kh):
            for q in range(Kw):
                patch = xs[:, :, p:p + Sh * (Ho - 1) + 1:Sh, q:q + Sw * (Wo - 1) + 1:Sw]
                y[:, g * Ng:(g + 1) * Ng] += np.einsum("bmij,nm->bnij", patch, ws[:, :, p, q])
    return y


def reference(layer, x: dict) -> np.ndarray:
    if layer.type == "fc":
        return x["x"].astype(np.float64) @ x["w"].astype(np.float64).T
    pads, none, S = layer.pads, (0, 0), layer.stride
    if layer.type == "separable":
        t = conv2d(x["x"], x["w1"], 1, (S, 1), pads, none)
        return conv2d(t, x["w2"], 1, (1, S), none, pads)
    return conv2d(x["x"], x["w"], layer.groups, (S, S), pads, pads)


CASES = [
    dict(type="spatial", M=3, N=4, F=6, K=3),
    dict(type="spatial", M=3, N=4, F=6, K=3, order="nmpqbij", B=2),
    dict(type="spatial", M=2, N=3, F=7, K=3, stride=2, padding="explicit"),
    dict(type="spatial", M=2, N=3, F=7, K=4, pad=2, order="qpmnjib"),
    dict(type="pointwise", M=5, N=6, F=4, K=1, order="bnijmpq"),
    dict(type="pointwise", M=5, N=6, F=4, K=1, order="bijmnpq", B=2),
    dict(type="depthwise", M=4, N=4, F=6, K=3, order="bnijmpq"),
    dict(type="depthwise", M=4, N=4, F=6, K=3, padding="explicit", order="bmnpqij"),
    dict(type="group", M=8, N=8, F=5, K=3, G=4),
    dict(type="group", M=8, N=12, F=5, K=3, G=4, tiles={"n": 2},
         order="bNijnmpq"),
    dict(type="group", M=8, N=12, F=5, K=3, G=4, tiles={"n": 5}),
    dict(type="separable", M=3, N=4, F=6, K=3),
    dict(type="separable", M=3, N=4, F=7, K=3, stride=2, padding="explicit",
         order="mnbijpq"),
    dict(type="fc", M=20, N=7, F=1, K=1),
    dict(type="fc", M=20, N=7, F=1, K=1, B=3, order="mbnijpq"),
    dict(type="spatial", M=4, N=6, F=6, K=3, tiles={"n": 4, "m": 3, "j": 4}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(
    f"{k}{v}" for k, v in c.items() if k not in ("M", "N", "F", "K")))
def test_the_c_nest_computes_the_layer(case):
    layer = make_layer(**case)
    y, x = native.output(layer)
    want = reference(layer, x)
    assert y.shape == want.reshape(y.shape).shape
    assert np.array_equal(y.astype(np.float64), want.reshape(y.shape))
    assert np.abs(want).sum() > 0  # the inputs are not all zero


def test_the_o3_build_computes_the_same():
    layer = make_layer(type="spatial", M=3, N=4, F=6, K=3, stride=2)
    y, x = native.output(layer, opt="O3")
    assert np.array_equal(y.astype(np.float64), reference(layer, x).reshape(y.shape))


def test_a_timing_reports_the_best_of_its_runs_and_the_load():
    t = native.time_layer(make_layer(type="fc", M=64, N=16, F=1, K=1), runs=5, budget=0.5)
    assert 3 <= t.runs <= 5
    assert 0 < t.seconds <= t.mean_seconds
    assert len(t.load) == 3 and t.opt == "O2" and t.flags == ("-O2",)


def test_the_c_keeps_the_plans_order_and_layout():
    layer = make_layer(type="pointwise", M=5, N=6, F=4, K=1, order="bnijmpq")
    src = native.c_source(layer)
    loops = [line.split("/* ")[1].split(" ")[0] for line in src.splitlines()
             if line.strip().startswith("for (long l")]
    assert loops == ["n", "i", "j", "m"]  # b, p and q have extent 1 and are left out
    assert "restrict" in src


def test_only_fp32_is_generated():
    with pytest.raises(ValueError, match="fp32"):
        native.c_source(make_layer(type="fc", M=4, N=4, F=1, K=1, dtype_bytes=8))


def test_a_skipped_tap_is_tested_after_the_innermost_loop_that_moves_it():
    # plain code: the row check right inside p (it reads i and p), the column's inside q
    src = native.c_source(make_layer(type="spatial", M=2, N=3, F=5, K=3)).splitlines()
    p_loop = next(k for k, line in enumerate(src) if line.rstrip().endswith("/* p */"))
    q_loop = next(k for k, line in enumerate(src) if line.rstrip().endswith("/* q */"))
    assert "continue" in src[p_loop + 1] and "l4" in src[p_loop + 1]
    assert "continue" in src[q_loop + 1] and "l5" in src[q_loop + 1]


def _gcc12_x86() -> bool:
    import platform
    import subprocess

    cc = native.compiler()
    if cc is None or platform.machine() != "x86_64":
        return False
    text = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    return "Free Software Foundation" in text and ") 12." in text  # gcc 12


@pytest.mark.skipif(not _gcc12_x86(), reason="the body counts of docs/model.md §4 were read "
                    "in gcc 12's x86-64 assembly")
def test_the_assembly_the_in_core_model_rests_on():
    def nest0(**layer) -> str:
        asm = native.assembly(make_layer(**layer))
        return asm.split("nest0:")[1].split(".size")[0]

    # y invariant, unit strides: the multiply vectorised, the adds kept scalar and in order
    fc = nest0(type="fc", M=64, N=8, F=1, K=1, order="bnmijpq")
    assert "mulps" in fc and "addss" in fc and "addps" not in fc
    # the loop just outside vectorised instead: a broadcast w and addps on four y
    pw = nest0(type="pointwise", M=32, N=8, F=28, K=1, order="bnijmpq")
    assert "shufps\t$0" in pw and "addps" in pw
    # a skipped tap's test inside the loop: y added from memory and stored, every iteration
    sp = nest0(type="spatial", M=4, N=4, F=8, K=3, order="bijnmpq")
    assert "addss\t(" in sp and "mulps" not in sp


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="2 MiB pages: Linux only")
def test_the_buffer_asks_for_2_mib_pages_under_the_build_flags(tmp_path):
    # the nests' buffer is madvise'd MADV_HUGEPAGE (docs/model.md §4: the machine's physical
    # cache index then equals simcache's virtual one within a page); the build's -std=c11
    # hides MADV_HUGEPAGE unless the source asks for _DEFAULT_SOURCE: preprocess it with the
    # very flags build() uses and see the call survive
    src = tmp_path / "n.c"
    src.write_text(native.c_source(make_layer(type="fc", M=4, N=4, F=1, K=1)))
    cmd = [native.compiler(), *native.OPT_FLAGS["O2"], "-std=c11",
           "-D_POSIX_C_SOURCE=200112L", "-E", str(src)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "madvise(buf, bytes," in out
    assert "aligned_alloc(2097152" in out
