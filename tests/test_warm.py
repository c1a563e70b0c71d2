"""Warm networks (docs/model.md §6): one inference over one hierarchy, against the
plain-Python reference (tests/naive.py network_trace + simulate), count for count."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import naive
from helpers import assert_refused, cli, cli_output, hierarchy
from simcache import api, engine
from simcache.chain import build_chain
from simcache.layers import make_layer
from simcache.loopnest import plan, rebase, trace_chunks
from simcache.network import load_network

# conv → relu → pool → two branches → concat → add (residual) → pool → fc → softmax
NET_A = """\
name: a
source: test
input: {channels: 2, size: 6}
layers:
  - {name: c1, type: spatial, M: 2, N: 4, F: 6, K: 3}
  - {name: r1, type: relu}
  - {name: p1, type: maxpool, K: 2, stride: 2}
  - {name: e1, type: pointwise, M: 4, N: 2, F: 3}
  - {name: e3, type: depthwise, M: 4, F: 3, K: 3, input: p1}
  - {name: cat, type: concat, input: [e1, e3]}
  - {name: c2, type: pointwise, M: 4, N: 6, F: 3, input: p1}
  - {name: s, type: add, input: [cat, c2, cat]}
  - {name: gap, type: globalavgpool}
  - {name: fl, type: flatten}
  - {name: d, type: dropout}
  - {name: fc, type: fc, M: 6, N: 5}
  - {name: sm, type: softmax}
"""
# strided and padded pooling, a separable and a group layer, batchnorm and relu6
NET_B = """\
name: b
source: test
input: {channels: 4, size: 5}
layers:
  - {name: sep, type: separable, M: 4, N: 4, F: 5, K: 3, stride: 2}
  - {name: bn, type: batchnorm}
  - {name: r6, type: relu6}
  - {name: ap, type: avgpool, K: 3, stride: 2, pad: 1}
  - {name: g, type: group, M: 4, N: 6, F: 2, K: 3, G: 2}
  - {name: mp, type: maxpool, K: 2, stride: 1}
  - {name: fl, type: flatten}
  - {name: fc, type: fc, M: 6, N: 3}
"""
NETS = {"a": NET_A, "b": NET_B}

L1_L2 = [dict(size=256, line=16, ways=2, policy="lru", write_back=True, write_allocate=True),
         dict(size=2048, line=32, ways=32, policy="lru", write_back=True,
              write_allocate=True)]
REGS_L1 = [dict(size=64, line=4, ways=16, policy="lru", write_back=True, write_allocate=True),
           dict(size=512, line=16, ways=4, policy="fifo", write_back=True,
                write_allocate=True)]
THROUGH = [dict(size=192, line=8, ways=3, policy="random", write_back=False,
                write_allocate=False)]
PREFETCHING = [dict(L1_L2[0], prefetch="tagged", prefetch_distance=2),
               dict(L1_L2[1], prefetch="miss")]
# an inclusive L2; an exclusive L2 between an L1 and an L3 inclusive of both, the L1
# prefetching
INCLUDING = [L1_L2[0], dict(size=1024, line=32, ways=4, policy="lru", write_back=True,
                            write_allocate=True, inclusion="inclusive")]
EXCLUDING = [dict(L1_L2[0], prefetch="tagged"),
             dict(size=512, line=16, ways=4, policy="fifo", write_back=True,
                  write_allocate=False, inclusion="exclusive"),
             dict(size=4096, line=32, ways=8, policy="lru", write_back=True,
                  write_allocate=True, inclusion="inclusive")]
# a register file of 32 ways (hashed, with the outbox: kernels._defer), where operators'
# output writes miss whole lines
HASHED_REGS = [dict(REGS_L1[0], size=128, ways=32), REGS_L1[1]]
HIERARCHIES = {"l1-l2": L1_L2, "regs-l1": REGS_L1, "hashed-regs": HASHED_REGS,
               "through": THROUGH,
               "prefetch": PREFETCHING, "inclusive": INCLUDING, "exclusive": EXCLUDING}


def _file(tmp_path, text, name="net.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _entries(text):
    doc = yaml.safe_load(text)
    return doc["layers"], doc["input"]["channels"], doc["input"]["size"]


def _engine_trace(chain):
    """The chain's whole trace from the vectorised generators (layers: trace_chunks)."""
    out = []
    for step in chain.steps:
        chunks = trace_chunks(step.plan) if step.plan is not None else step.chunks(chunk=64)
        got = [np.stack([c.astype(np.int64) for c in chunk], axis=1) for chunk in chunks]
        arr = np.concatenate(got) if got else np.zeros((0, 4), dtype=np.int64)
        out.append(arr)
    return out


@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("B", [1, 2])
def test_map_and_trace_equal_the_reference(tmp_path, net, B):
    chain = build_chain(load_network(_file(tmp_path, NETS[net]), batch=B))
    entries, c, s = _entries(NETS[net])
    trace, spans, regions = naive.network_trace(entries, c, s, B=B)
    assert [(r.name, r.base, r.shape) for r in chain.regions] == \
        [(k, base, shape) for k, (base, shape) in regions.items()]
    got = _engine_trace(chain)
    for step, arr, (name, lo, hi) in zip(chain.steps, got, spans, strict=True):
        assert step.entry.name == name
        want = np.array(trace[lo:hi], dtype=np.int64).reshape(-1, 4)
        assert np.array_equal(arr, want), name
        if step.op:
            assert step.accesses == hi - lo, name


@pytest.mark.parametrize("kind,dims", [
    ("spatial", dict(M=3, N=2, F=5, K=3)),
    ("separable", dict(M=2, N=3, F=4, K=3, stride=2)),
    ("group", dict(M=4, N=4, F=3, K=3, G=2)),
    ("fc", dict(M=5, N=3, F=1, K=1)),
])
@pytest.mark.parametrize("padding", ["skip", "explicit"])
def test_rebase_moves_every_tensor(kind, dims, padding):
    if kind == "fc" and padding == "explicit":
        pytest.skip("fc has no padding")
    lay = make_layer(type=kind, B=2, padding=padding, **dims)
    p = plan(lay)
    names = [t.name for t in p.tensors]
    # new places, in another order than §1's, far apart
    bases = {n: 0x100000 * (len(names) - k) + 0x40 * k for k, n in enumerate(names)}
    moved = rebase(p, bases)
    assert [t.base for t in moved.tensors] == [bases[n] for n in names]
    want, _ = naive.layer_trace(kind, B=2, padding=padding, bases=bases,
                                **{"G": 1, **dims})
    got = np.concatenate([np.stack([c.astype(np.int64) for c in ch], axis=1)
                          for ch in trace_chunks(moved)])
    assert np.array_equal(got, np.array(want, dtype=np.int64))
    with pytest.raises(ValueError, match="no tensor z"):
        rebase(p, {"z": 0})


def _reference(text, specs, seed, B=1):
    entries, c, s = _entries(text)
    trace, spans, _ = naive.network_trace(entries, c, s, B=B)
    marks = [lo for _, lo, _ in spans] + [len(trace)]
    counters, _, snaps = naive.simulate(specs, trace, seed=seed, marks=marks)
    rows = [b - a for a, b in zip(snaps, snaps[1:], strict=False)]
    return rows, counters - snaps[-1], counters


@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("name", sorted(HIERARCHIES))
def test_warm_network_equals_the_reference(tmp_path, net, name):
    specs = HIERARCHIES[name]
    h = hierarchy(specs, seed=7)
    chain = build_chain(load_network(_file(tmp_path, NETS[net])))
    results, flush = engine.simulate_chain(h, chain.steps, 4, chain.window)
    rows, fl, total = _reference(NETS[net], specs, 7)
    for step, r, want in zip(chain.steps, results, rows, strict=True):
        assert np.array_equal(r.counters, want), step.entry.name
        assert not r.counters[1].any()  # a row is run phase only
    assert np.array_equal(flush.counters, fl)
    assert not flush.counters[0].any()
    assert np.array_equal(sum(r.counters for r in results) + flush.counters, total)


@pytest.mark.parametrize("net", sorted(NETS))
def test_warm_prefetch_counts_add_up_to_the_reference(tmp_path, net):
    """Each step's prefetches are the change while it ran; with the flush's they add up
    to one run of the whole inference's trace, and the lines left unused are the flush's."""
    h = hierarchy(PREFETCHING, seed=7)
    chain = build_chain(load_network(_file(tmp_path, NETS[net])))
    results, flush = engine.simulate_chain(h, chain.steps, 4, chain.window)
    entries, c, sz = _entries(NETS[net])
    trace, _, _ = naive.network_trace(entries, c, sz)
    pf = np.zeros((2, 3, 5, 4), dtype=np.int64)
    left = np.zeros((3, 5), dtype=np.int64)
    naive.simulate(PREFETCHING, trace, seed=7, prefetch=pf, prefetch_left=left)
    assert pf.sum() > 0
    assert np.array_equal(sum(r.prefetch for r in results) + flush.prefetch, pf)
    assert np.array_equal(flush.prefetch_left, left)
    assert not any(r.prefetch_left.any() for r in results)


# an inclusive L2 that prefetches (its prefetches evict, and so back-invalidate, L1 lines)
PREFETCH_INCLUDING = [dict(L1_L2[0], prefetch="miss"),
                      dict(INCLUDING[1], prefetch="always", prefetch_distance=2)]


@pytest.mark.parametrize("net", sorted(NETS))
@pytest.mark.parametrize("name", ["exclusive", "prefetch-inclusive"])
def test_warm_prefetch_and_inclusion_counts_per_step(tmp_path, net, name):
    """Each step's counters, prefetch and inclusion counts are what the reference counted
    between its first and its last access (the change while it ran, not the totals so
    far); the flush's are what it counted in the flush, with the lines left unused."""
    from test_inclusion import assert_same_inc
    from test_prefetch import assert_same_pf
    specs = {"exclusive": EXCLUDING, "prefetch-inclusive": PREFETCH_INCLUDING}[name]
    chain = build_chain(load_network(_file(tmp_path, NETS[net])))
    results, flush = engine.simulate_chain(hierarchy(specs, seed=7), chain.steps, 4,
                                           chain.window)
    entries, c, sz = _entries(NETS[net])
    trace, spans, _ = naive.network_trace(entries, c, sz)
    n = len(specs) + 1
    pf, inc = np.zeros((2, n, 5, 4), dtype=np.int64), np.zeros((2, n, 5, 3), dtype=np.int64)
    left, marked = np.zeros((n, 5), dtype=np.int64), []
    total, _, snaps = naive.simulate(specs, trace, seed=7,
                                     marks=[lo for _, lo, _ in spans] + [len(trace)],
                                     prefetch=pf, prefetch_left=left, inclusion=inc,
                                     extra_snapshots=marked)
    busy = [0, 0]  # steps with prefetches, with lines removed or moved
    for step, r, (pf0, inc0), (pf1, inc1), c0, c1 in zip(
            chain.steps, results, marked[:-1], marked[1:], snaps[:-1], snaps[1:], strict=True):
        assert np.array_equal(r.counters, c1 - c0), step.entry.name
        assert_same_pf(r.prefetch, pf1 - pf0)
        assert_same_inc(r.inclusion, inc1 - inc0)
        assert not r.prefetch_left.any(), step.entry.name
        busy[0] += bool(r.prefetch.any())
        busy[1] += bool(r.inclusion.any())
    assert np.array_equal(flush.counters, total - snaps[-1])
    assert_same_pf(flush.prefetch, pf - marked[-1][0])
    assert_same_inc(flush.inclusion, inc - marked[-1][1])
    assert np.array_equal(flush.prefetch_left, left)
    assert min(busy) >= 2  # totals so far would differ from changes


def test_warm_totals_are_one_inference(tmp_path):
    p = _file(tmp_path, NET_A)
    h = hierarchy(L1_L2)
    res = api.network(h, p)
    doc = res.to_dict()
    assert doc["warm"] is True and doc["skipped"] == []
    assert [r["name"] for r in doc["rows"]] == [e["name"] for e in _entries(NET_A)[0]]
    ops = {r["name"] for r in doc["rows"] if r["op"]}
    assert ops == {"r1", "p1", "cat", "s", "gap", "fl", "d", "sm"}
    assert all(r["macs"] == 0 for r in doc["rows"] if r["op"])
    assert {r["accesses"] for r in doc["rows"] if r["type"] in ("flatten", "dropout")} == {0}
    t, f = doc["totals"], doc["flush"]
    assert f["dram_bytes"] > 0 and f["cycles"] == 0
    assert t["cycles"] == sum(r["cycles"] for r in doc["rows"]) + f["cycles"]
    assert t["dram_bytes"] == sum(r["dram_bytes"] for r in doc["rows"]) + f["dram_bytes"]
    for end in ("low", "high"):
        assert t["energy_pj"][end] == pytest.approx(
            sum(r[f"energy_pj_{end}"] for r in doc["rows"]) + f[f"energy_pj_{end}"])
    assert sum(r["energy_share"] for r in doc["rows"]) + f["energy_share"] == pytest.approx(1)
    # against the reference's counters, priced the same way: memory's bytes
    rows, fl, _ = _reference(NET_A, L1_L2, 1)
    mem = len(L1_L2)
    dram = [int(c[:, mem, :, [naive.BYTES_READ, naive.BYTES_WRITTEN]].sum()) for c in rows]
    assert [r["dram_bytes"] for r in doc["rows"]] == dram
    assert f["dram_bytes"] == int(fl[:, mem, :, [naive.BYTES_READ, naive.BYTES_WRITTEN]].sum())
    assert [m["name"] for m in doc["map"]][:3] == ["input", "c1.w", "c1.y"]


@pytest.mark.parametrize("kind,dims", [
    ("spatial", dict(M=3, N=4, F=6, K=3)),
    ("separable", dict(M=2, N=3, F=5, K=3)),
    ("depthwise", dict(M=4, F=5, K=3, stride=2)),
    ("fc", dict(M=7, N=3)),
])
@pytest.mark.parametrize("name", ["l1-l2", "regs-l1"])
def test_one_layer_network_equals_simulate(tmp_path, kind, dims, name):
    """The map of a one-layer network is the layer's own placement (input = x at
    0x10000, then w, y, t): rows + flush = simulate's counters, exactly."""
    F = dims.get("F", 1)
    entry = {"name": "only", "type": kind, **dims}
    text = yaml.safe_dump({"name": "one", "source": "test",
                           "input": {"channels": dims["M"], "size": F}, "layers": [entry]})
    h = hierarchy(HIERARCHIES[name])
    warm = api.network(h, _file(tmp_path, text))
    lay = make_layer(type=kind, B=1, **{"N": dims["M"], "F": 1, "K": 1, **dims})
    alone = engine.simulate(h, lay)
    chain = build_chain(load_network(_file(tmp_path, text)))
    results, flush = engine.simulate_chain(h, chain.steps, 4, chain.window)
    assert np.array_equal(results[0].counters + flush.counters, alone.counters)
    assert warm.totals["cycles"] == api.simulate(h, lay).totals.cycles
    assert [t.base for t in results[0].plan.tensors] == [t.base for t in alone.plan.tensors]


def test_cold_is_each_layer_alone(tmp_path):
    p = _file(tmp_path, NET_A)
    h = hierarchy(L1_L2)
    cold = api.network(h, p, cold=True).to_dict()
    assert cold["warm"] is False and cold["flush"] is None
    net = load_network(p)
    assert [r["name"] for r in cold["rows"]] == [x.name for x in net.simulated]
    assert [r["cycles"] for r in cold["rows"]] == \
        [api.simulate(h, x.layer).totals.cycles for x in net.simulated]
    assert {s["name"] for s in cold["skipped"]} == {"r1", "p1", "cat", "s", "gap", "fl", "d",
                                                   "sm"}


def test_warm_and_cold_differ_where_caches_carry_over(tmp_path):
    """A cache that holds the whole network: warm, a layer's input is already there."""
    p = _file(tmp_path, NET_A)
    big = [dict(size=1 << 16, line=64, ways=8, policy="lru", write_back=True,
                write_allocate=True)]
    h = hierarchy(big)
    warm = api.network(h, p).to_dict()
    e1 = next(r for r in warm["rows"] if r["name"] == "e1")
    # its input p1.y is cached (p1 wrote it); its weights (32 B) and its new output y
    # (72 B, read first by y += x·w) are fetched, a 64-byte line each from 4 KiB bases
    assert e1["dram_bytes"] == 64 * (1 + 2)
    cold = {r["name"]: r for r in api.network(h, p, cold=True).to_dict()["rows"]}
    # alone: x too (144 B: 3 lines), and the flush writes y back (2 lines)
    assert cold["e1"]["dram_bytes"] == 64 * (3 + 1 + 2 + 2)


def test_cli_warm_json_and_cold_table(tmp_path, capsys):
    p = _file(tmp_path, NET_A)
    assert cli("network", "thesis", str(p), "-f", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["warm"] and doc["flush"]["name"] == "flush"
    assert len(doc["runs"]) == len(doc["rows"])
    assert [r["entry"]["name"] for r in doc["runs"]] == [r["name"] for r in doc["rows"]]
    assert cli("network", "thesis", str(p)) == 0
    out = capsys.readouterr().out
    assert "warm caches" in out and "op:maxpool2x2" in out and "op:concat" in out
    assert any(line.startswith("flush ") for line in out.splitlines())
    assert cli("network", "thesis", str(p), "--cold") == 0
    out = capsys.readouterr().out
    assert "cold caches" in out and "op:" not in out and "skipped 8 layers" in out
    assert cli("network", "thesis", str(p), "-f", "csv") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("flush,") and lines[-1].startswith("total,")


def test_explicit_padding_is_refused_warm(tmp_path, capsys):
    p = _file(tmp_path, NET_A)
    out = tmp_path / "out.json"
    assert_refused(*cli_output(capsys, "network", "thesis", str(p), "--padding", "explicit",
                               "-o", str(out)),
                   ["error: --padding: explicit padding stores each layer's input pre-padded, "
                    "which does not chain from the layer before; use --cold"], out)
    assert cli("network", "thesis", str(p), "--padding", "explicit", "--cold") == 0


def test_mobilenetv2_state_fits():
    """The window covers every tensor of an inference; the state it takes stays small."""
    net = load_network(api.shipped.resolve("mobilenetv2", "models", "MODEL"))
    chain = build_chain(net)
    lo, hi = chain.window
    assert lo == 0x10000 and hi >= max(r.base + r.nbytes for r in chain.regions)
    for cfg in ("thesis", "mobile_soc", "server"):
        h, _ = api.load_config(cfg)
        engine.check_state(h.geometry(4), chain.window, 4)


@pytest.mark.parametrize("name", ["l1-l2", "regs-l1"])
def test_warm_3c_rows_add_up_to_the_reference(tmp_path, name):
    """--3c on a warm network: each row's misses by kind add up to its misses, and rows
    plus flush give the reference's classification of the whole inference."""
    from simcache import kernels as K
    specs = HIERARCHIES[name]
    h = hierarchy(specs, seed=3)
    chain = build_chain(load_network(_file(tmp_path, NET_B)))
    results, flush = engine.simulate_chain(h, chain.steps, 4, chain.window, ccc=True)
    for r in results:
        c = r.counters[0, :len(specs)].sum(axis=1)
        misses = c[:, K.READS] + c[:, K.WRITES] - c[:, K.READ_HITS] - c[:, K.WRITE_HITS]
        assert np.array_equal(r.three_c[0, :len(specs)].sum(axis=(1, 2)), misses)
    entries, c, s = _entries(NET_B)
    trace, _, _ = naive.network_trace(entries, c, s)
    want = np.zeros((2, len(specs) + 1, 5, 3), dtype=np.int64)
    naive.simulate(specs, trace, seed=3, three_c=want)
    assert np.array_equal(sum(r.three_c for r in results) + flush.three_c, want)


def test_batch_two_and_progress(tmp_path):
    """B = 2 through the same reference; progress ends at its total (trace accesses, a
    layer's nest iterations counting four)."""
    h = hierarchy(L1_L2, seed=5)
    chain = build_chain(load_network(_file(tmp_path, NET_A), batch=2))
    seen = []
    results, flush = engine.simulate_chain(h, chain.steps, 4, chain.window,
                                           progress=lambda d, t: seen.append((d, t)))
    rows, fl, _ = _reference(NET_A, L1_L2, 5, B=2)
    for step, r, want in zip(chain.steps, results, rows, strict=True):
        assert np.array_equal(r.counters, want), step.entry.name
    assert np.array_equal(flush.counters, fl)
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1][0] == seen[-1][1] == \
        sum(s.accesses for s in chain.steps)
