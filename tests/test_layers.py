"""Layer validation, presets and the layer → nest planner."""

import pytest

from simcache.layers import PRESETS, LayerError, build_layer, make_layer, metrics
from simcache.loopnest import plan


def problems(**kw):
    with pytest.raises(LayerError) as info:
        build_layer(**kw)
    return info.value.problems


def test_defaults_are_the_early_preset():
    layer = build_layer("spatial")
    assert (layer.M, layer.N, layer.F, layer.K, layer.B) == (32, 32, 112, 3, 1)
    assert layer.F_out == 112


def test_type_fixed_dimensions_replace_the_preset():
    assert build_layer("pointwise", "late").K == 1
    fc = build_layer("fc", "late")
    assert (fc.F, fc.K, fc.M, fc.N) == (1, 1, 512, 512)
    assert build_layer("depthwise", M=8).N == 8
    assert build_layer("group").G == PRESETS["early"]["G"]
    assert build_layer("spatial").G == 1


def test_flags_override_defaults_but_not_a_named_preset():
    assert build_layer("spatial", F=9).F == 9
    lines = problems(type="spatial", preset="late", F=9, M=512)
    assert lines == ["F: 9 contradicts preset 'late' (F = 7)"]


@pytest.mark.parametrize("kw,expect", [
    (dict(type="spatial", F=2, K=7, pad=0), "K: kernel 7 is larger than the padded input"),
    (dict(type="group", G=5), "G: 5 groups do not divide M = 32"),
    (dict(type="spatial", G=2), "G: only a group convolution takes G"),
    (dict(type="depthwise", M=4, N=8), "N: a depthwise convolution has N = M = 4"),
    (dict(type="pointwise", K=3), "K: a pointwise convolution has K = 1"),
    (dict(type="fc", F=7), "F: a fully connected layer has F = 1"),
    (dict(type="fc", pad=2), "pad: a fully connected layer takes no padding"),
    (dict(type="spatial", order="bijnmpp"), "order: 'bijnmpp' is not a permutation"),
    (dict(type="spatial", B=0), "B: Input should be greater than or equal to 1"),
    (dict(type="spatial", B=True), "B: Input should be a valid integer"),
    (dict(type="spatial", stride=2.0), "stride: Input should be a valid integer"),
    (dict(type="spatial", dtype_bytes=True), "dtype_bytes: expected 1, 2, 4 or 8 bytes"),
    (dict(type="fc", M=1 << 40, N=1 << 40), "dimensions: B=1 M=1099511627776"),
    (dict(type="conv3d"), "layer: unknown layer type 'conv3d'"),
    (dict(type="spatial", preset="middle"), "preset: unknown preset 'middle'"),
])
def test_bad_layers(kw, expect):
    lines = problems(**kw)
    assert any(expect in line for line in lines), lines


def test_tensors_are_4k_aligned_in_order():
    p = plan(make_layer(type="separable", M=3, N=5, F=6, K=3))
    assert [t.name for t in p.tensors] == ["x", "w1", "w2", "y", "t"]
    assert p.tensors[0].base == 0x10000
    for a, b in zip(p.tensors, p.tensors[1:], strict=False):
        assert b.base % 4096 == 0 and b.base >= a.base + a.nbytes


@pytest.mark.parametrize("kind", ["spatial", "pointwise", "group", "depthwise", "fc",
                                  "separable"])
def test_explicit_padding_performs_every_mac(kind):
    layer = build_layer(kind, F=6 if kind != "fc" else None, M=4, N=4, G=2 if kind == "group"
                        else None, padding="explicit")
    assert plan(layer).iterations == metrics(layer).macs


def test_group_split_keeps_the_filter_order():
    p = plan(make_layer(type="group", M=4, N=6, F=3, K=1, G=2, order="nbijmpq"))
    nest = p.nests[0]
    assert nest.dims[:2] == ("g", "n") and list(nest.ext[:2]) == [2, 3]
