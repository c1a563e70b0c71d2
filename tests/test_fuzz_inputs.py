"""Hostile inputs: the YAML reader, strict values, overflow and state limits, the engine's
checks of what it hands a kernel, and a flat memory (no cache levels)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
from helpers import examples, hierarchy
from simcache import engine
from simcache import kernels as K
from simcache.config import ConfigError, Hierarchy, load_hierarchy
from simcache.errors import SimcacheError
from simcache.layers import LayerError, build_layer, make_layer
from simcache.network import Network, NetworkError, load_network
from simcache.traces import TraceError

FUZZ = settings(max_examples=examples(300), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

CONFIG = """\
name: t
source: s
mac_cycles: 1
mac_energy: 1
levels:
  - {name: L1, size: 1KiB, line: 64, ways: 2, latency: 3, energy: [10, 100], source: s}
memory: {latency: 200, energy: 1.3 nJ, source: s}
"""
MODEL = """\
name: tiny
source: test
input: {channels: 4, size: 8}
layers:
  - {name: c1, type: spatial, M: 4, N: 8, F: 8, K: 3}
  - {name: p1, type: maxpool, K: 2, stride: 2}
  - {name: fl, type: flatten, input: p1}
  - {name: fc, type: fc, M: 128, N: 10}
"""


def _problems(tmp_path, name: str, text: str | bytes, load, error) -> list[str]:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(error) as info:
        load(p)
    return info.value.problems


def config_problems(tmp_path, text: str | bytes) -> list[str]:
    return _problems(tmp_path, "c.yaml", text, load_hierarchy, ConfigError)


def model_problems(tmp_path, text: str | bytes) -> list[str]:
    return _problems(tmp_path, "m.yaml", text, load_network, NetworkError)


# ---------------------------------------------------------------- the reader


def test_the_samples_load(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "m.yaml").write_text(MODEL)
    assert load_hierarchy(tmp_path / "c.yaml").levels[0].ways == 2
    assert len(load_network(tmp_path / "m.yaml").simulated) == 2


@pytest.mark.parametrize("load,error", [(load_hierarchy, ConfigError),
                                        (load_network, NetworkError)])
def test_not_regular_files_are_refused_without_blocking(tmp_path, load, error):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for a blocking read would hang
    for path in (tmp_path, fifo, "/dev/zero", "/dev/null"):
        with pytest.raises(error) as info:
            load(path)
        assert "directory" in info.value.problems[0] or "not a regular file" in \
            info.value.problems[0]


def test_over_the_size_limit(tmp_path):
    lines = config_problems(tmp_path, "# " + "x" * (1 << 20) + "\n" + CONFIG)
    assert "the limit is 1,048,576" in lines[0]


@pytest.mark.parametrize("text,expect", [
    (CONFIG.replace("name: t", "name: t\xff").encode("latin-1"), ":1:8: not UTF-8"),
    (CONFIG + "mac_cycles: 2\n", ":8:1: invalid YAML: duplicate key 'mac_cycles'"),
    (CONFIG.replace("ways: 2,", "ways: 2, ways: 4,"), ":6:47: invalid YAML: duplicate key"),
    (CONFIG + "1: x\n", ":8:1: invalid YAML: key '1' is not a string"),
    (CONFIG + "on: x\n", ":8:1: invalid YAML: key 'on' is not a string"),
    ("a: &x [1]\nb: *x\n" + CONFIG, ":2:4: invalid YAML: YAML aliases (*x)"),
    ("x: " + "[" * 60 + "]" * 60 + "\n" + CONFIG, "nested more than 50 levels"),
    ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 50 levels"),
    (CONFIG + "seed: " + "9" * 5000 + "\n", ":8:7: invalid YAML: cannot read this value"),
    (CONFIG + "x: \x07\n", ":8:4: invalid YAML: character U+0007"),
    (CONFIG + "---\nname: u\n", ":8:1: invalid YAML: but found another document"),
])
def test_bad_yaml_names_file_line_and_column(tmp_path, text, expect):
    lines = config_problems(tmp_path, text)
    assert len(lines) == 1 and expect in lines[0], lines
    assert lines[0].startswith(str(tmp_path / "c.yaml") + ":")


def test_a_model_with_bad_bytes_or_duplicates(tmp_path):
    assert ":2:9: not UTF-8" in model_problems(tmp_path, b"name: x\nsource: \xfe\n")[0]
    dup = MODEL.replace("K: 3}", "K: 3, K: 5}")
    assert ":5:55: invalid YAML: duplicate key 'K'" in model_problems(tmp_path, dup)[0]


# ---------------------------------------------------------------- strict values


@pytest.mark.parametrize("old,new,expect", [
    ("ways: 2", "ways: true", "levels.0.ways: expected a whole number of ways"),
    ("ways: 2", "ways: 2.0", "levels.0.ways: expected a whole number of ways"),
    ("ways: 2", "ways: 2.5", "levels.0.ways: expected a whole number of ways"),
    ("size: 1KiB", "size: true", "levels.0.size: expected a size"),
    ("size: 1KiB", "size: 1024.0", "levels.0.size: expected a size"),
    ("size: 1KiB", "size: 2TiB", "levels.0.size: at most"),
    ("line: 64", "line: true", "levels.0.line: expected a size"),
    ("line: 64", "line: 2MiB", "levels.0.line: at most 1,048,576"),
    ("latency: 3", "latency: true", "levels.0.latency: expected a whole number of cycles"),
    ("latency: 3", "latency: 3.0", "levels.0.latency: expected a whole number of cycles"),
    ("latency: 3", "latency: .inf", "levels.0.latency: expected a whole number"),
    ("mac_cycles: 1", "mac_cycles: .inf", "mac_cycles: must be a finite number"),
    ("mac_cycles: 1", "mac_cycles: .nan", "mac_cycles: must be a finite number"),
    ("mac_cycles: 1", "mac_cycles: true", "mac_cycles: expected a number of cycles"),
    ("mac_cycles: 1", "mac_cycles: 1e9", "mac_cycles: expected cycles"),  # YAML 1.1: a str
    ("mac_cycles: 1", "mac_cycles: 1.0e+9", "mac_cycles: at most"),
    ("mac_energy: 1", "mac_energy: .inf", "mac_energy: must be a finite number"),
    ("mac_energy: 1", "mac_energy: [1, .nan]", "mac_energy: must be a finite number"),
    ("mac_energy: 1", "mac_energy: true", "mac_energy: expected an energy"),
    ("mac_energy: 1", "mac_energy: 1.0e+300", "mac_energy: at most"),
    ("source: s", "source: s\nseed: true", "seed: expected an integer"),
    ("source: s", "source: s\nseed: 0", "seed: must be from 1"),
    ("source: s", "source: s\nseed: -3", "seed: must be from 1"),
    ("source: s", "source: s\nseed: 18446744073709551616", "seed: must be from 1"),
    ("{name: L1,", "{name: L1, write_back: 1,", "levels.0.write_back: Input should be a valid"),
    ("{name: L1,", "{name: '',", "levels.0.name: a name must not be empty"),
    ("{name: L1,", "{name: \"L\\n1\",", "levels.0.name: a name must be printable"),
    ("{name: L1,", "{name: " + "L" * 65 + ",", "levels.0.name: a name has at most 64"),
    ("name: t", "name: 5", "name: a name is a string"),
    ("ways: 2,", "ways: 32, line: 64, size: 1KiB,", "duplicate key"),
    ("size: 1KiB, line: 64, ways: 2", "size: 64, line: 64, ways: 2", "levels.0: size 64 B"),
])
def test_strict_config_values(tmp_path, old, new, expect):
    assert old in CONFIG
    lines = config_problems(tmp_path, CONFIG.replace(old, new, 1))
    assert any(expect in line for line in lines), lines


@pytest.mark.parametrize("old,new,expect", [
    ("M: 4, N: 8", "M: true, N: 8", "layers.0.M: Input should be a valid integer"),
    ("M: 4, N: 8", "M: 4.0, N: 8", "layers.0.M: Input should be a valid integer"),
    ("K: 2, stride: 2", "K: 2, stride: true", "layers.1.stride: Input should be a valid"),
    ("N: 10", "N: .inf", "layers.3.N: Input should be a valid integer"),
    ("channels: 4", "channels: '4'", "input.channels: Input should be a valid integer"),
    ("{name: p1,", "{name: \"p\\t1\",", "layers.1.name: a name must be printable"),
    ("K: 2, stride: 2", "K: 9, stride: 2", "layers.1 (p1): a 9-wide window does not fit"),
    ("M: 4, N: 8, F: 8", "M: 4, N: 999999999999999, F: 8",
     "layers.0 (c1): dimensions: B=1 M=4 N=999999999999999"),
])
def test_strict_model_values(tmp_path, old, new, expect):
    assert old in MODEL
    lines = model_problems(tmp_path, MODEL.replace(old, new, 1))
    assert any(expect in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "m.yaml") + ":") for line in lines)


# ---------------------------------------------------------------- fuzz


def _yaml_value():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=True), st.text(max_size=12),
                        st.sampled_from(["32KiB", "element", "full", "lru", "3 cycles",
                                         "1.3 nJ", "64", "0", "-1"]))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=20)


def _check_loads(path, load, error, ok):
    try:
        got = load(path)
    except error as exc:
        assert exc.problems and all(isinstance(p, str) and "\n" not in p
                                    for p in exc.problems), exc.problems
    else:
        assert isinstance(got, ok)


@FUZZ
@given(st.one_of(st.binary(max_size=300),
                 st.text(alphabet="{}[]:,-?&*!|>'\"#%@\n\t ab1.~", max_size=200)
                 .map(str.encode)))
def test_fuzz_random_bytes(tmp_path, data):
    """Random bytes, and random text made of YAML's punctuation."""
    for name, load, error, ok in (("c.yaml", load_hierarchy, ConfigError, Hierarchy),
                                  ("m.yaml", load_network, NetworkError, Network)):
        p = tmp_path / name
        p.write_bytes(data)
        _check_loads(p, load, error, ok)


def _mutate(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


CONFIG_FIELDS = [("name",), ("mac_cycles",), ("mac_energy",), ("seed",), ("levels",),
                 ("levels", 0, "size"), ("levels", 0, "line"), ("levels", 0, "ways"),
                 ("levels", 0, "latency"), ("levels", 0, "energy"), ("levels", 0, "name"),
                 ("levels", 0, "write_back"), ("levels", 0, "policy"), ("memory", "latency"),
                 ("memory", "size"), ("memory",)]
MODEL_FIELDS = [("input", "channels"), ("input", "size"), ("layers", 0, "M"),
                ("layers", 0, "K"), ("layers", 1, "stride"), ("layers", 2, "input"),
                ("layers", 0, "name"), ("layers",), ("layers", 1, "K"), ("layers", 0, "pad")]


@FUZZ
@given(st.sampled_from(CONFIG_FIELDS), _yaml_value(), st.sampled_from(MODEL_FIELDS),
       _yaml_value())
def test_fuzz_well_formed_but_wrong_values(tmp_path, cfield, cvalue, mfield, mvalue):
    for text, field, value, name, load, error, ok in (
            (CONFIG, cfield, cvalue, "c.yaml", load_hierarchy, ConfigError, Hierarchy),
            (MODEL, mfield, mvalue, "m.yaml", load_network, NetworkError, Network)):
        doc = yaml.safe_load(text)
        _mutate(doc, field, value)
        p = tmp_path / name
        p.write_text(yaml.safe_dump(doc))
        _check_loads(p, load, error, ok)


@FUZZ
@given(_yaml_value())
def test_fuzz_random_documents(tmp_path, doc):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(doc))
    _check_loads(p, load_hierarchy, ConfigError, Hierarchy)
    _check_loads(p, load_network, NetworkError, Network)


# ---------------------------------------------------------------- overflow and state


@pytest.mark.parametrize("dims,expect", [
    (dict(type="spatial", M=1 << 20, N=1 << 20, F=1 << 12, K=3), "dimensions: "),
    (dict(type="fc", M=1 << 31, N=1 << 31, F=1, K=1), "accesses of 4 B"),
    (dict(type="pointwise", B=1 << 40, M=1 << 10, N=1, F=1 << 6, K=1), "dimensions: "),
    (dict(type="spatial", M=1, N=1, F=1, K=1, stride=1 << 40, padding="explicit",
          pad=1 << 40), "place tensors up to address"),  # 9 iterations, x is 2^82 B
])
def test_layers_that_overflow_64_bits_are_refused(dims, expect):
    with pytest.raises(LayerError) as info:
        make_layer(**dims)
    assert any(expect in p for p in info.value.problems), info.value.problems


def test_a_layer_just_below_the_limits_is_planned():
    from simcache.loopnest import plan

    layer = make_layer(type="fc", M=1 << 28, N=1 << 28, F=1, K=1, dtype_bytes=1)
    assert plan(layer).iterations == 1 << 56  # exact: no 64-bit product wrapped
    skip = make_layer(type="spatial", M=1, N=1, F=1, K=1, stride=1 << 40, pad=1 << 40)
    assert plan(skip).iterations == 9  # padding that is skipped takes no memory


def test_a_level_too_big_for_memory_is_refused_before_allocation(tmp_path, monkeypatch):
    big = CONFIG.replace("size: 1KiB, line: 64, ways: 2", "size: 64GiB, line: 64, ways: 8")
    monkeypatch.setenv("SIMCACHE_STATE_LIMIT", str(1 << 30))
    lines = config_problems(tmp_path, big)
    assert lines == [f"{tmp_path / 'c.yaml'}:6: levels.0 (L1).size: 68,719,476,736 B in lines "
                     "of 64 B needs 18.0 GiB of simulator state; the limit is 1.0 GiB (half "
                     "the physical memory, or SIMCACHE_STATE_LIMIT)"]
    h = Hierarchy.model_validate(yaml.safe_load(big))  # past the loader: the engine refuses
    with pytest.raises(ConfigError, match=r"levels.0 \(L1\).size"):
        engine.State(h.geometry(4))


def test_state_bytes_is_the_state_allocated():
    for specs, window in (([dict(size=4096, line=64, ways=4)], None),
                          ([dict(size=1024, line=4, ways="full"), dict(size=8192, line=64,
                            ways=32)], (0x10000, 0x30000))):
        h = hierarchy([dict(policy="lru", write_back=True, write_allocate=True, **s)
                       for s in specs])
        g = h.geometry(4)
        state = engine.State(g, window=window)
        assert state.S.nbytes <= engine.state_bytes(g, window) <= state.S.nbytes + 16 * 1024


# ---------------------------------------------------------------- the engine's checks


def _chunk(**over):
    c = dict(addr=np.array([0, 64, 128], np.int64), size=np.array([4, 4, 4], np.int64),
             is_write=np.array([0, 1, 0], np.uint8), tensor=np.array([0, 1, 2], np.int8))
    c.update(over)
    return c


@pytest.mark.parametrize("over,expect", [
    (dict(tensor=np.array([0, 5, 2], np.int8)), "access 1: tensor id must be 0 to 4"),
    (dict(tensor=np.array([0, -1, 2], np.int8)), "access 1: tensor id"),
    (dict(tensor=np.array([0, 300, 2], np.int64)), "access 1: tensor id"),  # not cut to int8
    (dict(is_write=np.array([0, 2, 0], np.int64)), "access 1: is_write must be 0 or 1"),
    (dict(is_write=np.array([0, 256, 0], np.int64)), "access 1: is_write"),
    (dict(addr=np.array([0, -64, 128], np.int64)), "access 1: negative address"),
    (dict(addr=np.array([0, 2**63, 128], np.uint64)), "access 1: address above"),
    (dict(addr=np.array([0, 2**63 - 2, 128], np.int64)), "access 1: the access ends past"),
    (dict(size=np.array([4, 0, 4], np.int64)), "access 1: size must be 1 to 65536"),
    (dict(size=np.array([4, 1 << 40, 4], np.int64)), "access 1: size must be 1 to 65536"),
    (dict(size=np.array([4, 4], np.int64)), "arrays of different lengths"),
    (dict(addr=np.array([0.0, 64.0, 128.0])), "addr holds float64, not integers"),
    (dict(addr=np.zeros((3, 1), np.int64)), "addr has 2 dimensions"),
])
def test_replay_refuses_what_a_kernel_cannot_take(over, expect):
    h = hierarchy([dict(size=1024, line=64, ways=2, policy="lru", write_back=True,
                        write_allocate=True)])
    state = engine.State(h.geometry(4))
    before = state.S.copy()
    with pytest.raises(SimcacheError) as info:
        state.replay(**_chunk(**over))
    assert any(expect in p for p in info.value.problems), info.value.problems
    assert np.array_equal(state.S, before)  # nothing reached the kernel
    if "access" in expect:
        assert isinstance(info.value, TraceError)


def test_the_last_byte_of_the_address_space_is_accepted():
    h = hierarchy([dict(size=1024, line=64, ways=2, policy="lru", write_back=True,
                        write_allocate=True)])
    state = engine.State(h.geometry(4))
    state.replay(**_chunk(addr=np.array([0, 2**63 - 4, 128], np.int64)))
    assert state.counters[0, 0, :, K.READS].sum() == 2


# ---------------------------------------------------------------- no cache levels


FLAT = dict(name="flat", source="s", mac_cycles=1, mac_energy=1, levels=[],
            memory=dict(latency=200, energy=1, source="s"))


def test_no_cache_levels_is_a_flat_memory_trace():
    h = Hierarchy.model_validate(FLAT)
    rng = np.random.default_rng(3)
    tr = [(int(a), int(s), int(w), int(t)) for a, s, w, t in zip(
        rng.integers(0, 4096, 200), rng.choice([1, 4, 8, 64, 100], 200),
        rng.integers(0, 2, 200), rng.integers(0, 5, 200), strict=True)]
    want, _ = naive.simulate([], tr)
    a = np.array(tr, dtype=np.int64).T
    got = engine.simulate_trace(h, [(a[0], a[1], a[2].astype(np.uint8), a[3].astype(np.int8))])
    assert np.array_equal(got.counters, want)


def test_no_cache_levels_is_a_flat_memory_layer():
    from simcache.accounting import summarize

    h = Hierarchy.model_validate(FLAT)
    layer = build_layer("spatial", M=2, N=3, F=5, K=3, padding="explicit")
    r = engine.simulate(h, layer)
    mem = r.counters[0, 0].sum(axis=0)
    macs = 2 * 3 * 5 * 5 * 9
    assert (mem[K.READS], mem[K.WRITES], mem[K.SERVED]) == (3 * macs, macs, 4 * macs)
    assert mem[K.BYTES_READ] == 12 * macs and r.counters[1].sum() == 0
    s = summarize(r, h)
    assert s["totals"]["amat"] == 200 and s["totals"]["dram_bytes"] == 16 * macs
