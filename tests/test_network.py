"""Network files: the shipped models, shape checking, and `simcache network`."""

import json
from pathlib import Path

import pytest

from helpers import cli
from simcache.layers import metrics
from simcache.network import NetworkError, load_network

ROOT = Path(__file__).parent.parent
THESIS = str(ROOT / "configs" / "thesis.yaml")


@pytest.mark.parametrize("name,layers,params,macs", [
    # parameters and multiply-adds as the papers state them (biases not counted here)
    ("vgg16", 16, 138.3e6, 15.47e9),  # Simonyan & Zisserman: 138M parameters
    ("squeezenet", 26, 1.24e6, 0.833e9),  # Iandola et al.: 1.2M parameters
    ("mobilenetv2", 53, 3.47e6, 0.301e9),  # Sandler et al. Table 3: 3.4M, 300M MACs
])
def test_shipped_models(name, layers, params, macs):
    net = load_network(ROOT / "models" / f"{name}.yaml")
    assert len(net.simulated) == layers
    m = [metrics(x.layer) for x in net.simulated]
    assert sum(x.params for x in m) == pytest.approx(params, rel=5e-3)
    assert sum(x.macs for x in m) == pytest.approx(macs, rel=5e-3)
    assert (net.layers[-1].channels, net.layers[-1].size) == (1000, 1)
    assert all(x.skipped for x in net.skipped)


def _make_divisible(v: float, d: int = 8) -> int:
    """The reference implementation's channel rounding (TF-slim nets/mobilenet, Keras,
    torchvision): the nearest multiple of d, at least d, and never 10 % below v."""
    r = max(d, int(v + d / 2) // d * d)
    return r + d if r < 0.9 * v else r


# Sandler et al., Table 2: (expansion t, channels c, repeats n, first stride s)
MOBILENETV2_TABLE2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def test_lab_mobilenetv2_035_96():
    """Lab 12's small MobileNetV2 (width 0.35, 96x96): Table 2's channels scaled and rounded
    as the reference implementation rounds them, 1280 kept for the last 1x1 convolution.
    Its parameters and multiply-adds against the checkpoint table of Keras's MobileNetV2
    (tensorflow/python/keras/applications/mobilenet_v2.py docstring, also the API docs of
    tf.keras.applications.mobilenet_v2, r2.4): 'mobilenet_v2_0.35_96 | 11 | 1.66', MACs and
    parameters in millions. The paper gives no figure for this variant. That table's MACs
    are whole millions cut, not rounded: the shipped 1.0/224 file counts 300,774,272
    (test_shipped_models) against the table's 300."""
    a = 0.35
    net = load_network(ROOT / "docs" / "labs" / "models" / "mobilenetv2-035-96.yaml")
    assert net.input == (3, 96)
    by_name = {x.name: x.layer for x in net.simulated}
    assert by_name["conv1"].N == _make_divisible(32 * a) == 16
    want = [_make_divisible(c * a) for _, c, n, _ in MOBILENETV2_TABLE2 for _ in range(n)]
    assert [x.layer.N for x in net.simulated if x.name.endswith("/project")] == want
    strides = [s if r == 0 else 1 for _, _, n, s in MOBILENETV2_TABLE2 for r in range(n)]
    assert [x.layer.stride for x in net.simulated if x.name.endswith("/depthwise")] == strides
    expands = [x.layer for x in net.simulated if x.name.endswith("/expand")]
    assert all(x.N == 6 * x.M for x in expands) and len(expands) == 16
    assert by_name["conv2"].N == 1280 and by_name["classifier"].M == 1280
    assert len(net.simulated) == 53
    assert (net.layers[-1].channels, net.layers[-1].size) == (1000, 1)
    m = [metrics(x.layer) for x in net.simulated]
    assert round(sum(x.params for x in m) / 1e6, 2) == 1.66
    assert sum(x.macs for x in m) // 10**6 == 11


TINY = """\
name: tiny
source: test
input: {channels: 4, size: 8}
layers:
  - {name: c1, type: spatial, M: 4, N: 8, F: 8, K: 3}
  - {name: r1, type: relu}
  - {name: p1, type: maxpool, K: 2, stride: 2}
  - {name: a, type: pointwise, M: 8, N: 4, F: 4}
  - {name: b, type: depthwise, M: 8, F: 4, K: 3, input: p1}
  - {name: cat, type: concat, input: [a, b]}
  - {name: g, type: group, M: 12, N: 12, F: 4, K: 3, G: 3}
  - {name: pool, type: globalavgpool}
  - {name: fc, type: fc, M: 12, N: 10}
"""


def test_shapes_are_followed_through_the_graph(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    net = load_network(p)
    assert [x.name for x in net.simulated] == ["c1", "a", "b", "g", "fc"]
    assert [x.name for x in net.skipped] == ["r1", "p1", "cat", "pool"]
    cat = next(x for x in net.layers if x.name == "cat")
    assert (cat.channels, cat.size) == (12, 4)


@pytest.mark.parametrize("edit,expect", [
    (("M: 8, N: 4, F: 4}", "M: 9, N: 4, F: 4}"),
     "layers.3 (a): M = 9, F = 4 but its input provides 8 channels of size 4"),
    (("type: relu", "type: swish"), "layers.1.type: Input should be"),
    (("input: p1}", "input: nowhere}"), "layers.4 (b): input nowhere is not an earlier layer"),
    (("{name: a, type: pointwise, M: 8, N: 4, F: 4}", "{name: a, type: pointwise, M: 8, F: 4}"),
     "layers.3 (a): pointwise needs N"),
    (("M: 12, N: 12, F: 4, K: 3, G: 3", "M: 12, N: 12, F: 4, K: 3, G: 5"),
     "layers.6 (g): G: 5 groups do not divide M = 12"),
])
def test_bad_network_names_file_line_and_entry(tmp_path, edit, expect):
    p = tmp_path / "bad.yaml"
    p.write_text(TINY.replace(*edit))
    with pytest.raises(NetworkError) as info:
        load_network(p)
    lines = info.value.problems
    assert any(expect in line for line in lines), lines
    assert all(line.startswith(f"{p}:") for line in lines)
    line_no = int(lines[0].split(":")[1])
    assert edit[1].split(",")[0].split("{")[-1].strip() in p.read_text().splitlines()[line_no - 1]



def test_network_command(capsys, tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    assert cli("network", THESIS, str(p), "-f", "json", "--cold") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in doc["rows"]] == ["c1", "a", "b", "g", "fc"]
    assert [s["name"] for s in doc["skipped"]] == ["r1", "p1", "cat", "pool"]
    assert doc["totals"]["cycles"] == sum(r["cycles"] for r in doc["rows"])
    assert sum(r["cycles_share"] for r in doc["rows"]) == pytest.approx(1.0)


def test_network_table_and_error_exit(capsys, tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY)
    assert cli("network", THESIS, str(p), "--cold") == 0
    out = capsys.readouterr().out
    assert "dominant layers (cycles)" in out and "skipped 4 layers" in out
    p.write_text(TINY.replace("M: 12, N: 10", "M: 13, N: 10"))
    assert cli("network", THESIS, str(p)) == 2
    assert "layers.8 (fc): M = 13, F = 1 but its input provides 12 channels" in \
        capsys.readouterr().err
