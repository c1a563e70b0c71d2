"""A network's trace (`simcache trace --network`): one warm inference written as a trace
file; replaying it gives what `network` reports, its rows and its flush row summed,
counter for counter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import TINY_NET, assert_refused, cli_output, hierarchy
from simcache import api, engine
from simcache.chain import build_chain, chain_chunks, chain_length
from simcache.network import load_network
from simcache.traces import TraceReader

ROOT = Path(__file__).parent.parent

# a residual block, a concat of two branches, pooling, batchnorm and softmax: every kind
# of operator stream between the layers
NET_OPS = """\
name: ops
source: test
input: {channels: 2, size: 6}
layers:
  - {name: c1, type: spatial, M: 2, N: 4, F: 6, K: 3}
  - {name: r1, type: relu}
  - {name: p1, type: maxpool, K: 2, stride: 2}
  - {name: e1, type: pointwise, M: 4, N: 2, F: 3}
  - {name: e3, type: depthwise, M: 4, F: 3, K: 3, input: p1}
  - {name: cat, type: concat, input: [e1, e3]}
  - {name: bn, type: batchnorm}
  - {name: c2, type: pointwise, M: 4, N: 6, F: 3, input: p1}
  - {name: s, type: add, input: [bn, c2]}
  - {name: gap, type: globalavgpool}
  - {name: fl, type: flatten}
  - {name: fc, type: fc, M: 6, N: 5}
  - {name: sm, type: softmax}
"""

L1 = dict(size=256, line=16, ways=2, policy="lru", write_back=True, write_allocate=True)
HIERARCHIES = {
    # a register file (line: element) above an L1 and a FIFO L2
    "regs": [dict(size=128, line=4, ways=16, policy="lru", write_back=True,
                  write_allocate=True, register=True),
             L1, dict(size=1024, line=32, ways=4, policy="fifo", write_back=True,
                      write_allocate=True)],
    "prefetch": [dict(L1, prefetch="tagged", prefetch_distance=2),
                 dict(size=2048, line=32, ways=32, policy="lru", write_back=True,
                      write_allocate=True, prefetch="miss")],
    # a prefetching L1, an exclusive L2, an L3 inclusive of both
    "inclusion": [dict(L1, prefetch="tagged"),
                  dict(size=512, line=16, ways=4, policy="fifo", write_back=True,
                       write_allocate=False, inclusion="exclusive"),
                  dict(size=4096, line=32, ways=8, policy="lru", write_back=True,
                       write_allocate=True, inclusion="inclusive")],
    "random": [dict(size=192, line=8, ways=3, policy="random", write_back=False,
                    write_allocate=False)],
}


def _model(tmp_path, text=TINY_NET):
    p = tmp_path / "net.yaml"
    p.write_text(text)
    return p


def _ints(doc):
    """The integer leaves of a document, by path (floats, rates and energies left out)."""
    out = {}

    def walk(x, path):
        if isinstance(x, bool) or path[-1:] == ("distance",):  # a setting, not a count
            return
        if isinstance(x, int):
            out[path] = x
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, (*path, k))
        elif isinstance(x, list):
            for k, v in enumerate(x):
                walk(v, (*path, k))

    walk(doc, ())
    return out


def _summed(docs):
    total: dict = {}
    for d in docs:
        for k, v in _ints(d).items():
            total[k] = total.get(k, 0) + v
    return total


def _levels(doc, tensors=True):
    """Each level's integer counts (and by tensor, if `tensors`), without the latency
    (a constant, not a count)."""
    levels = []
    for lv in doc["levels"]:
        keep = {k: v for k, v in lv.items() if k not in ("name", "latency", "geometry")
                and (tensors or k != "by_tensor")}
        levels.append(keep)
    return levels


def _assert_replay_is_network(tmp_path, specs, text, ext, dtype=4, order="bijnmpq", B=1,
                              h=None):
    h = h or hierarchy(specs)
    model = _model(tmp_path, text)
    path = tmp_path / f"net.{ext}"
    info = api.trace_network(model, path, batch=B, order=order, dtype_bytes=dtype)
    net = api.network(h, model, batch=B, order=order, dtype_bytes=dtype)
    got = api.replay(h, path, dtype_bytes=dtype).to_dict()
    tensors = not ext.startswith("bin")  # Dinero's binary records have no tensor ids
    want = _summed([_levels(r.to_dict(), tensors) for r in net.runs]
                   + [_levels(net.flush_run.to_dict(), tensors)])
    assert got["trace"]["accesses"] == info["accesses"] == sum(r.accesses for r in net.runs)
    assert _ints(_levels(got, tensors)) == want
    return got, net


@pytest.mark.parametrize("name", sorted(HIERARCHIES))
@pytest.mark.parametrize("text", [TINY_NET, NET_OPS], ids=["tiny", "ops"])
def test_replay_of_the_npz_trace_is_network_counter_for_counter(tmp_path, name, text):
    _assert_replay_is_network(tmp_path, HIERARCHIES[name], text, "npz")


@pytest.mark.parametrize("ext", ["din", "din.gz", "bin", "bin.gz"])
def test_every_format_replays_to_network(tmp_path, ext):
    got, _ = _assert_replay_is_network(tmp_path, HIERARCHIES["inclusion"], NET_OPS, ext)
    assert bool(got["levels"][0].get("by_tensor")) == (not ext.startswith("bin"))


def test_element_lines_need_the_networks_element_size(tmp_path):
    """A register file (line: element) with 2-byte elements, batch 2 and another loop
    order: the replay equals the network when given the same --dtype-bytes."""
    _assert_replay_is_network(tmp_path, HIERARCHIES["regs"], NET_OPS, "npz", dtype=2,
                              order="bjinmqp", B=2)


def test_engine_counts_equal_arrays_and_all(tmp_path):
    """Below the documents: the chain's counters, prefetch and inclusion arrays, its
    steps and its flush summed, are the replay's."""
    h = hierarchy(HIERARCHIES["inclusion"])
    chain = build_chain(load_network(_model(tmp_path, NET_OPS)))
    steps, flush = engine.simulate_chain(h, chain.steps, 4, chain.window)
    got = engine.simulate_trace(h, chain_chunks(chain, chunk=100))
    assert got.accesses == chain_length(chain) == sum(r.accesses for r in steps)
    for field in ("counters", "prefetch", "inclusion"):
        want = sum(getattr(r, field) for r in steps) + getattr(flush, field)
        assert np.array_equal(getattr(got, field), want), field
    assert np.array_equal(got.prefetch_left, flush.prefetch_left)


@pytest.mark.parametrize("config", ["zen4", "rpi4", "mobile_soc"])
def test_shipped_configs(tmp_path, config):
    """The shipped configs: zen4 has a register file, prefetchers, an inclusive L2 and an
    exclusive L3; rpi4 a register file and a miss prefetcher."""
    h, _ = api.load_config(config)
    # replay has no DRAM model yet (docs/model.md, "DRAM"): compare the caches' counts with
    # the memory's plain latency on both sides
    h = h.model_copy(update={"memory": h.memory.model_copy(update={"dram": None})})
    for dtype in (4, 1):
        _assert_replay_is_network(tmp_path, None, NET_OPS, "npz", dtype=dtype, h=h)


def test_cli_writes_the_network_trace(tmp_path, capsys):
    model = _model(tmp_path)
    path = tmp_path / "tiny.din.gz"
    code, out, err = cli_output(capsys, "trace", "--network", str(model), "-o", str(path),
                                "-B", "2", "--no-progress")
    assert code == 0, err
    n = build_chain(load_network(model, batch=2))
    assert f"wrote {chain_length(n):,} accesses" in err
    reader = TraceReader(path)
    assert sum(len(c[0]) for c in reader) == chain_length(n)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("flags,names", [
    (["--layer", "depthwise"], ["--layer/--network"]),
    (["-F", "8"], ["-F"]),
    (["-F", "8", "--tile", "n=2"], ["-F", "--tile"]),
    (["--stride", "2"], ["--stride"]),
    (["--preset", "early"], ["--preset"]),
])
def test_layer_flags_with_network_are_refused(tmp_path, capsys, flags, names):
    model = _model(tmp_path)
    path = tmp_path / "t.din"
    code, out, err = cli_output(capsys, "trace", "--network", str(model), "-o", str(path),
                                *flags)
    assert_refused(code, out, err, [f"error: {n}: " for n in names], path)
    for line, n in zip(err.strip().splitlines(), names, strict=True):
        assert "--network" in line and n in line


def test_trace_needs_a_layer_or_a_network(tmp_path, capsys):
    path = tmp_path / "t.din"
    code, out, err = cli_output(capsys, "trace", "-o", str(path))
    assert_refused(code, out, err, ["error: --layer/--network: "], path)


def test_network_trace_refusals(tmp_path, capsys):
    model = _model(tmp_path)
    path = tmp_path / "t.lackey"
    code, out, err = cli_output(capsys, "trace", "--network", str(model), "-o", str(path))
    assert_refused(code, out, err, [f"error: {path}: simcache reads lackey"], path)
    path = tmp_path / "t.din"
    code, out, err = cli_output(capsys, "trace", "--network", str(model), "-o", str(path),
                                "--padding", "explicit")
    assert_refused(code, out, err, ["error: --padding: "], path)
    code, out, err = cli_output(capsys, "trace", "--network", str(tmp_path / "none.yaml"),
                                "-o", str(path))
    assert code == 2 and not path.exists() and len(err.strip().splitlines()) == 1


def test_binary_traces_hold_32_bit_addresses(tmp_path, capsys):
    """A network whose map passes 4 GiB cannot go to .bin: refused before writing."""
    model = _model(tmp_path, """\
name: big
source: test
input: {channels: 64, size: 4096}
layers:
  - {name: r, type: relu}
""")
    path = tmp_path / "big.bin"
    code, out, err = cli_output(capsys, "trace", "--network", str(model), "-o", str(path))
    assert_refused(code, out, err, [f"error: {path}: the network's addresses reach"], path)
    assert "write .din or .npz" in err


@pytest.mark.parametrize("ext", ["npz", "din.gz"])
def test_progress_reaches_the_total_and_ctrl_c_leaves_nothing(tmp_path, ext):
    model = _model(tmp_path, NET_OPS)
    seen = []
    path = tmp_path / f"t.{ext}"
    info = api.trace_network(model, path, progress=lambda n, total: seen.append((n, total)))
    total = chain_length(build_chain(load_network(model)))
    assert seen[-1] == (info["accesses"], total) == (total, total)
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)

    def stop(n, total):
        if n > total // 2:
            raise KeyboardInterrupt

    path.unlink()
    with pytest.raises(KeyboardInterrupt):
        api.trace_network(model, path, progress=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.yaml"]
