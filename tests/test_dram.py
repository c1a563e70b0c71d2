"""The DRAM model (docs/model.md, "DRAM"): config refusals, the row-buffer post-pass against
the plain-Python reference in tests/naive.py (random mappings and streams, and small
hand-counted examples), its energy arithmetic, and a layer run end to end."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

import naive
from helpers import cli_output
from simcache import dram as D
from simcache import kernels as K
from simcache.config import ConfigError, Dram, load_hierarchy

HERE = Path(__file__).parent
CONFIG = HERE / "data" / "dram_ddr4.yaml"
FIELDS = ("column", "channel", "rank", "bank_group", "bank", "row")


def spec(**over) -> dict:
    """The test config's dram: section, changed by `over`."""
    d = yaml.safe_load(CONFIG.read_text())["memory"]["dram"]
    d.update(over)
    return d


def naive_dict(d: Dram, mapping: list[str]) -> dict:
    return {"channels": d.channels, "ranks": d.ranks, "banks": d.banks,
            "bank_groups": d.bank_groups, "rows": d.rows, "columns": d.columns,
            "bus_width": d.bus_width, "device_width": d.device_width,
            "burst_length": d.burst_length, "mapping": mapping, "page_policy": d.page_policy,
            "xor_bank": d.xor_bank, "data_rate": d.data_rate, "VDD": d.VDD,
            "cycles": {t: d.cycles(t) for t in ("tCL", "tRCD", "tRP", "tRAS", "tRFC",
                                                "tREFI", "tBurst")},
            "currents": {i: getattr(d, i) for i in ("IDD0", "IDD2N", "IDD3N", "IDD4R",
                                                    "IDD4W", "IDD5B")}}


def records(requests) -> np.ndarray:
    """Tap records (address, size, flags | tensor << 8) of naive-style requests."""
    out = []
    for addr, size, w, demand, tensor in requests:
        out += [addr, size, (K.F_WRITE if w else 0) | (K.F_DEMAND if demand else 0)
                | (tensor << 8)]
    return np.array(out, dtype=np.int64)


def run_both(d: Dram, mapping: list[str], requests, chunk: int = 7):
    state = D.DramState(d)
    rec = records(requests)
    n = len(requests)
    for i in range(0, n, chunk):  # in pieces: the bank state carries over
        m = min(chunk, n - i)
        state.feed(np.ascontiguousarray(rec[3 * i:3 * (i + m)]), m)
    return state.counts, naive.dram_simulate(naive_dict(d, mapping), requests)


def compare(c: D.DramCounts, ref: dict, d: Dram) -> None:
    kinds = {"hit": D.HIT, "empty": D.EMPTY, "conflict": D.CONFLICT}
    got = {(t, bool(w), k): int(c.cnt[t, w, o]) for t in range(K.NTENSORS) for w in (0, 1)
           for k, o in kinds.items() if c.cnt[t, w, o]}
    assert got == ref["outcomes"]
    acts = {}
    for ch in range(d.channels):
        for rk in range(d.ranks):
            for b in range(d.banks):
                v = int(c.acts[(ch * d.ranks + rk) * d.banks + b])
                if v:
                    acts[(ch, rk, b)] = v
    assert acts == ref["acts"]
    assert {ch: int(v) for ch, v in enumerate(c.bursts) if v} == ref["bursts"]
    assert {t: [int(c.dem[t, 0]), int(c.dem[t, 1])] for t in range(K.NTENSORS)
            if c.dem[t, 0]} == ref["demand"]


# ---------------------------------------------------------------- config


def test_config_loads_and_derives():
    d = load_hierarchy(CONFIG).memory.dram
    assert d.capacity == 8 << 30 and d.burst_bytes == 64
    assert d.widths() == {"offset": 6, "column": 7, "channel": 0, "rank": 0, "bank_group": 2,
                          "bank": 2, "row": 16}
    assert d.bit_positions()["bank_group"] == [13, 14]
    assert d.cycles("tRCD") == 19


def test_timing_in_ns_rounds_up():
    d = Dram.model_validate(spec(tRCD="13.75 ns"))  # 13.75 / 0.75 = 18.33 -> 19
    assert d.cycles("tRCD") == 19
    assert Dram.model_validate(spec(tRCD="13.5 ns")).cycles("tRCD") == 18


def test_split_field_mapping():
    d = Dram.model_validate(spec(mapping=["offset", "column:3", "bank", "column", "bank_group",
                                          "row"]))
    pos = d.bit_positions()
    assert pos["column"] == [6, 7, 8, 11, 12, 13, 14]
    assert pos["bank"] == [9, 10] and pos["bank_group"] == [15, 16]


BAD = [
    ({"rows": 32768}, "memory.dram: 1 channels x 1 ranks x 16 banks x 32768 rows"),
    ({"tRP": 0}, "memory.dram.tRP: a timing of zero"),
    ({"tRCD": "0 ns"}, "memory.dram.tRCD: a timing of zero"),
    ({"mapping": ["offset", "column", "bank", "rank", "channel", "row"]},
     "memory.dram.mapping: bank_group has 2 bits and the mapping gives it 0: it leaves 2 "
     "bits unused"),
    ({"mapping": ["offset", "column", "bank_group", "bank:2", "row", "bank:1"]},
     "memory.dram.mapping: bank has 2 bits and the mapping gives it more: it uses 1 bit "
     "twice"),
    ({"mapping": ["offset", "column", "bank_group", "bank", "row", "bank"]},
     "memory.dram.mapping: bank has 2 bits and the mapping gives it more: it uses"),
    ({"mapping": ["offset", "column:3", "bank_group", "bank", "row"]},
     "memory.dram.mapping: column has 7 bits and the mapping gives it 3: it leaves 4 bits"),
    ({"page_policy": "sometimes"}, "memory.dram.page_policy: Input should be 'open' or"),
    ({"banks": 12}, "memory.dram.banks: must be a power of two"),
    ({"tRFC": 20000}, "memory.dram.tRFC: tRFC (20000 cycles) must be shorter than tREFI"),
    ({"IDD0": 10}, "memory.dram.IDD0: IDD0 (10 mA) must exceed IDD3N"),
    ({"xor_bank": [20]}, "memory.dram.xor_bank: the bank index has 4 bits"),
]


@pytest.mark.parametrize(("change", "line"), BAD)
def test_bad_dram_one_line_exit_2(tmp_path, capsys, change, line):
    data = yaml.safe_load(CONFIG.read_text())
    data["memory"]["dram"].update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_hierarchy(path)
    lines = err.value.args[0] if isinstance(err.value.args[0], list) else [str(err.value)]
    assert len(lines) == 1, lines
    assert line in lines[0], lines
    out = tmp_path / "out.json"
    code, stdout, stderr = cli_output(capsys, "run", str(path), "--layer", "fc",
                                      "-M", "8", "-N", "8", "-o", str(out))
    assert code == 2 and stdout == "" and not out.exists()
    assert len(stderr.strip().splitlines()) == 1 and line in stderr
    assert "Traceback" not in stderr


def test_dram_needs_clock(tmp_path):
    data = yaml.safe_load(CONFIG.read_text())
    del data["clock"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_hierarchy(path)
    assert len(err.value.problems) == 1 and "needs the core's clock" in err.value.problems[0]


# ---------------------------------------------------------------- hand-counted


def small(**over) -> tuple[Dram, list[str]]:
    """One channel, two ranks of 4 banks, 8 rows of 8 columns, 8-bit bus, BL2: a burst is
    2 B, a row 8 B; mapping [offset, column, bank, rank, row] = bits 0 | 1-2 | 3-4 | 5 |
    6-8."""
    mapping = over.pop("mapping", ["offset", "column", "bank", "rank", "row"])
    d = Dram.model_validate(spec(ranks=2, banks=4, bank_groups=1, rows=8, columns=8,
                                 device_width=8, bus_width=8, burst_length=2, mapping=mapping,
                                 **over))
    return d, mapping


def test_hand_counted_open_page():
    d, m = small()
    # bank 0 rank 0 row 0; same row (hit); bank 0 row 1 (conflict); bank 1 (empty);
    # rank 1 bank 0 (empty: another rank); bank 0 rank 0 row 1 again (hit); a 4-byte
    # request over two bursts of one row (empty, then hit)
    reqs = [(0x000, 2, 0, 1, 0), (0x002, 2, 0, 1, 0), (0x040, 2, 1, 0, 2),
            (0x008, 2, 0, 1, 1), (0x020, 2, 0, 1, 1), (0x044, 2, 0, 1, 0),
            (0x010, 4, 0, 1, 1)]
    c, ref = run_both(d, m, reqs, chunk=3)
    compare(c, ref, d)
    o = c.cnt.sum(axis=(0, 1))
    assert (int(o[D.HIT]), int(o[D.EMPTY]), int(o[D.CONFLICT])) == (3, 4, 1)
    cl, rcd, _rp = 19, 19, 19
    # demand latencies of x (tensor 0): empty, hit, hit; of w (1): empty, empty, empty + tBurst
    assert c.dem[0].tolist() == [3, (rcd + cl) + cl + cl]
    assert c.dem[1].tolist() == [3, 3 * (rcd + cl) + 4]
    assert c.dem[2].tolist() == [0, 0]  # the write was no demand
    assert c.acts.tolist() == [2, 1, 1, 0, 1, 0, 0, 0]


def test_hand_counted_closed_page_and_xor():
    d, m = small(page_policy="closed")
    c, ref = run_both(d, m, [(0, 2, 0, 1, 0)] * 3)
    compare(c, ref, d)
    assert int(c.cnt[0, 0, D.EMPTY]) == 3 and int(c.acts.sum()) == 3
    # xor: bank ^= row's lowest two bits: rows 1 and 2 of "bank 0" land in banks 1 and 2
    d, m = small(xor_bank=True)
    c, ref = run_both(d, m, [(0x000, 2, 0, 1, 0), (0x040, 2, 0, 1, 0), (0x080, 2, 0, 1, 0)])
    compare(c, ref, d)
    assert int(c.cnt[0, 0, D.EMPTY]) == 3 and int(c.cnt[0, 0, D.CONFLICT]) == 0
    assert c.acts.tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


# ---------------------------------------------------------------- differential


def random_dram(rng: random.Random) -> tuple[Dram, list[str]]:
    bl = rng.choice([2, 4, 8])
    d = {"channels": rng.choice([1, 2, 4, 3, 6]), "ranks": rng.choice([1, 2]),
         "bank_groups": rng.choice([1, 2]), "rows": rng.choice([4, 16, 64]),
         "columns": bl * rng.choice([1, 2, 8]), "bus_width": rng.choice([16, 32, 64]),
         "burst_length": bl, "page_policy": rng.choice(["open", "open", "closed"])}
    d["banks"] = d["bank_groups"] * rng.choice([1, 2, 4])
    d["device_width"] = d["bus_width"] // rng.choice([1, 2])
    widths = naive.dram_field_widths({**d})
    pieces = []
    binary = d["channels"] & (d["channels"] - 1) == 0
    for f in FIELDS:
        w = widths[f]
        if f == "channel" and not binary:  # a digit of radix 3 or 6: given once, whole
            pieces.append(f)
        elif w >= 2 and rng.random() < 0.4:  # split the field in two
            k = rng.randrange(1, w)
            pieces += [f"{f}:{k}", f]
        elif w or rng.random() < 0.5:
            pieces.append(f)
    rng.shuffle(pieces)
    # a split field's named piece must come before its rest in bit order only by choice:
    # the model takes `name:N` and the bare rest wherever they are, as does naive
    mapping = ["offset", *pieces]
    nbank = widths["bank_group"] + widths["bank"]
    xor: bool | list[int] = False
    if rng.random() < 0.3 and widths["row"] >= nbank:
        xor = True
    dd = Dram.model_validate(spec(**d, mapping=mapping, xor_bank=xor))
    if rng.random() < 0.3 and nbank and binary:
        bank_bits = set(dd.bit_positions()["bank"] + dd.bit_positions()["bank_group"])
        others = [b for b in range(sum(widths.values())) if b not in bank_bits]
        dd = Dram.model_validate(spec(**d, mapping=mapping,
                                      xor_bank=[rng.choice(others) for _ in range(nbank)]))
    return dd, mapping


@pytest.mark.parametrize("seed", range(40))
def test_differential_random(seed):
    rng = random.Random(seed)
    d, mapping = random_dram(rng)
    top = d.capacity * 2  # addresses beyond the capacity wrap
    hot = [rng.randrange(top) for _ in range(6)]
    reqs = []
    for _ in range(rng.randrange(1, 300)):
        base = rng.choice(hot) + rng.randrange(-256, 256) if rng.random() < 0.7 \
            else rng.randrange(top)
        reqs.append((max(base, 0), rng.choice([1, 4, 8, 64, 128, 200]), rng.random() < 0.3,
                     rng.random() < 0.7, rng.randrange(5)))
    c, ref = run_both(d, mapping, reqs, chunk=rng.randrange(1, 50))
    compare(c, ref, d)


# ---------------------------------------------------------------- energy and pricing


def test_energy_matches_naive_arithmetic():
    d = load_hierarchy(CONFIG).memory.dram
    for policy in ("open", "closed"):
        dd = Dram.model_validate({**spec(), "page_policy": policy})
        reqs = [(a * 64, 64, a % 3 == 0, a % 3 != 0, a % 3) for a in range(0, 4000, 7)]
        c, _ = run_both(dd, spec()["mapping"], reqs)
        clock = 2.0
        block = D.price(c, dd, clock, 1e6, [0, 1, 2])
        t_ns = block["time_ns"]
        acts = int(c.acts.sum())
        active = [t_ns if acts else 0.0] if policy == "open" else \
            [min(t_ns, acts * dd.cycles("tRAS") * dd.tck_ns)]
        ref = naive.dram_energy_pj(naive_dict(dd, spec()["mapping"]), acts,
                                   int(c.cnt[:, 0].sum()), int(c.cnt[:, 1].sum()), t_ns, active)
        for k, v in ref.items():
            assert block["energy_pj"][k] == pytest.approx(v, rel=1e-12), k
        # the blocking time: other cycles plus memory's latencies, refresh-stretched
        f = dd.cycles("tREFI") / (dd.cycles("tREFI") - dd.cycles("tRFC"))
        lat = int(c.dem[:, 1].sum()) * dd.tck_ns * f
        assert t_ns == pytest.approx((1e6 + lat * clock) / clock)
    assert d.page_policy == "open"


def test_bound_pays_for_activations():
    d, m = small(page_policy="closed")
    reqs = [(0, 2, 0, 1, 0)] * 10  # one bank, ten activations
    c, _ = run_both(d, m, reqs)
    block = D.price(c, d, 1.0, 0, [0])
    f = D.refresh_factor(d)
    trc = d.cycles("tRAS") + d.cycles("tRP")
    assert block["bound"] == "bank activations"
    assert block["bound_memory_cycles"] == pytest.approx(10 * trc * f)
    d2, _ = small()
    for n, bound in ((10, "bank activations"), (30, "data bus")):
        # open page: one activation, n bursts on the bus (tRC = 62, tBurst = 4 cycles)
        c2, _ = run_both(d2, m, [(0, 2, 0, 1, 0)] * n)
        b2 = D.price(c2, d2, 1.0, 0, [0])
        assert b2["bound"] == bound and b2["bound_memory_cycles"] == \
            pytest.approx(max(trc, n * d2.cycles("tBurst")) * f)


# ---------------------------------------------------------------- a layer end to end


def test_layer_run_prices_memory_as_dram():
    import simcache

    doc = simcache.simulate(str(CONFIG), layer="fc", M=64, N=48).to_dict()
    mem, t = doc["levels"][-1], doc["totals"]
    dram = t["dram"]
    moved = mem["bytes_read"] + mem["bytes_written"] + mem["flush"]["bytes_read"] \
        + mem["flush"]["bytes_written"]
    assert dram["bursts"] == moved // 64  # every request is a whole 64 B line here
    assert dram["demand_requests"] == mem["served"]
    assert dram["reads"] == mem["reads"] + mem["flush"]["reads"]
    assert dram["row_hits"] + dram["empties"] + dram["conflicts"] == dram["bursts"]
    assert mem["cycles"] == pytest.approx(dram["latency_cycles"])
    assert mem["energy_pj"]["high"] == pytest.approx(dram["energy_pj"]["total"])
    assert sum(b["bursts"] for b in dram["by_tensor"].values()) == dram["bursts"]
    assert t["time"]["overlapped"]["bounds_cycles"]["DDR4 (DRAM)"] == dram["bound_cycles"]
    plain = copy.deepcopy(yaml.safe_load(CONFIG.read_text()))
    del plain["memory"]["dram"]
    assert "dram" not in simcache.simulate(load_plain(plain), layer="fc", M=64,
                                           N=48).to_dict()["totals"]


def load_plain(data: dict):
    from simcache.config import Hierarchy
    return Hierarchy.model_validate(data)


NET = """\
name: dramnet
source: test
input: {channels: 8, size: 32}
layers:
  - {name: c1, type: spatial, M: 8, N: 16, F: 32, K: 3}
  - {name: r1, type: relu}
  - {name: p1, type: maxpool, K: 2, stride: 2}
  - {name: c2, type: pointwise, M: 16, N: 32, F: 16}
  - {name: gap, type: globalavgpool}
  - {name: fl, type: flatten}
  - {name: fc, type: fc, M: 32, N: 10}
"""


def test_warm_network_each_entry_and_flush(tmp_path):
    """A warm inference: every entry (layers and operators) and the flush get the DRAM
    counts of the requests they sent to memory, through one DRAM state (rows stay open
    from one entry to the next)."""
    import simcache

    model = tmp_path / "net.yaml"
    model.write_text(NET)
    res = simcache.network(str(CONFIG), str(model))
    runs = [r.to_dict() for r in res.runs] + [res.flush_run.to_dict()]
    flush = runs[-1]
    assert len(runs) == 8
    total = 0
    for r in runs:
        mem = r["levels"][-1]
        moved = mem["bytes_read"] + mem["bytes_written"] + mem["flush"]["bytes_read"] \
            + mem["flush"]["bytes_written"]
        d = r["totals"]["dram"]
        assert d["bursts"] == moved // 64, r.get("layer")
        assert d["demand_requests"] == mem["served"]
        total += d["bursts"]
    assert total > 0 and flush["totals"]["dram"]["writes"] > 0
    # one DRAM state: an entry that starts where the previous left a row open may hit
    # first; the empties over the inference are at most one per bank touched
    empties = sum(r["totals"]["dram"]["empties"] for r in runs)
    assert empties <= 16


# ---------------------------------------------------------------- --dram-trace


def test_dram_trace_format_and_gap(tmp_path, capsys):
    out = tmp_path / "t.trc"
    code, stdout, err = cli_output(capsys, "run", str(CONFIG), "--layer", "fc", "-M", "64",
                                   "-N", "48", "--dram-trace", str(out),
                                   "--dram-trace-gap", "100", "--format", "json")
    assert code == 0, err
    import json
    d = json.loads(stdout)["totals"]["dram"]
    lines = out.read_text().splitlines()
    assert len(lines) == d["bursts"]
    writes = 0
    for k, line in enumerate(lines):  # DRAMsim3's reader: hex address, kind, decimal cycle
        addr, kind, cycle = line.split()
        assert addr.startswith("0x") and int(addr, 16) % 64 == 0
        assert kind in ("READ", "WRITE") and int(cycle) == 100 * k
        writes += kind == "WRITE"
    assert writes == d["writes"]
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left


def test_dram_trace_blocking_issue_times(tmp_path):
    import simcache

    out = tmp_path / "t.trc"
    doc = simcache.simulate(str(CONFIG), "fc", M=64, N=48, dram_trace=out).to_dict()
    cycles = [int(line.split()[2]) for line in out.read_text().splitlines()]
    assert cycles == sorted(cycles) and cycles[0] == 0
    d = doc["totals"]["dram"]
    # the clock advances by each demand request's latency (before refresh); the last
    # bursts are the flush's write-backs, which issue after every demand request
    assert d["writes"] > 0 and out.read_text().splitlines()[-1].split()[1] == "WRITE"
    assert cycles[-1] == round(d["latency_cycles"] / (d["tck_ns"] * 2.0 * d["refresh_factor"]))


def test_dram_trace_refusals(tmp_path, capsys):
    out = tmp_path / "t.trc"
    code, stdout, err = cli_output(capsys, "run", "thesis", "--layer", "fc", "--dram-trace",
                                   str(out))
    assert code == 2 and stdout == "" and not out.exists()
    assert err.strip().splitlines() == [
        "error: --dram-trace: thesis's memory has no dram: section; the trace lists DRAM "
        "bursts (docs/model.md, DRAM)"]
    code, stdout, err = cli_output(capsys, "run", str(CONFIG), "--layer", "fc,pointwise",
                                   "--dram-trace", str(out))
    assert code == 2 and not out.exists() and "--dram-trace: one layer" in err


def test_dram_trace_failed_run_leaves_nothing(tmp_path, monkeypatch):
    import simcache
    from simcache import dram

    def broken(hierarchy, layer, state):
        state.trace(np.array([0x40, 0], dtype=np.int64))  # something written, then a stop
        raise RuntimeError("stopped")

    monkeypatch.setattr(dram, "run_layer", broken)
    out = tmp_path / "t.trc"
    with pytest.raises(RuntimeError):
        simcache.simulate(str(CONFIG), "fc", M=64, N=48, dram_trace=out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("prefetch", "inclusion"), [("tagged", "nine"), ("miss", "inclusive"),
                                                     ("none", "exclusive")])
def test_prefetch_and_inclusion_stream_is_complete(prefetch, inclusion):
    """With prefetching or inclusive/exclusive levels the stream comes from the tap's
    prefetch variant: it must hold exactly the requests the plain run counted at memory."""
    import simcache

    data = yaml.safe_load(CONFIG.read_text())
    data["levels"][0].update(prefetch=prefetch, prefetch_distance=2)
    if prefetch == "none":
        del data["levels"][0]["prefetch_distance"]
    data["levels"][1]["inclusion"] = inclusion
    h = load_plain(data)
    for layer, dims in (("depthwise", {"M": 8, "F": 16}), ("fc", {"M": 256, "N": 32})):
        doc = simcache.simulate(h, layer, **dims).to_dict()
        mem, d = doc["levels"][-1], doc["totals"]["dram"]
        moved = mem["bytes_read"] + mem["bytes_written"] + mem["flush"]["bytes_read"] \
            + mem["flush"]["bytes_written"]
        assert d["bursts"] == moved // 64 and d["demand_requests"] == mem["served"]
        assert d["reads"] == mem["reads"] + mem["flush"]["reads"]


def test_hand_counted_three_channels():
    """Three channels: the channel is the burst number's digit of radix 3 (mapping
    [offset, channel, column, bank, rank, row]); bursts 0, 1, 2 go to channels 0, 1, 2,
    burst 3 back to channel 0 at the next column (a hit there)."""
    d, m = small(channels=3, mapping=["offset", "channel", "column", "bank", "rank", "row"])
    assert d.capacity == 3 * 2 * 4 * 8 * 8
    reqs = [(2 * b, 2, 0, 1, 0) for b in range(4)] + [(2 * 3 * 4, 2, 0, 1, 0)]
    c, ref = run_both(d, m, reqs)
    compare(c, ref, d)
    assert c.bursts.tolist() == [3, 1, 1]
    # bursts 0 and 3 share channel 0's bank 0 row 0 (columns 0 and 1); burst 12 is
    # channel 0, column 0, bank 1: another bank, empty
    o = c.cnt.sum(axis=(0, 1))
    assert (int(o[D.HIT]), int(o[D.EMPTY]), int(o[D.CONFLICT])) == (1, 4, 0)


def test_three_channels_refusals():
    with pytest.raises(ValueError, match="not a power of two: the channel is one digit"):
        small(channels=3, mapping=["offset", "channel:1", "column", "bank", "rank", "row"])
    with pytest.raises(ValueError, match="xor_bank: true"):
        small(channels=3, mapping=["offset", "channel", "column", "bank", "rank", "row"],
              xor_bank=[6, 7])


def test_background_only_for_ranks_used():
    """Two ranks, one used: background and refresh are charged for one rank."""
    d, m = small()  # two ranks
    c, _ = run_both(d, m, [(0, 2, 0, 1, 0)] * 3)  # rank 0 only
    block = D.price(c, d, 1.0, 1e5, [0])
    assert block["ranks_used"] == 1
    t_ns = block["time_ns"]
    ref = naive.dram_energy_pj(naive_dict(d, m), 1, 3, 0, t_ns, [t_ns])
    assert block["energy_pj"]["background"] == pytest.approx(ref["background"])
    assert block["energy_pj"]["refresh"] == pytest.approx(ref["refresh"])
    c2, _ = run_both(d, m, [(0, 2, 0, 1, 0), (0x20, 2, 0, 1, 0)])  # both ranks
    b2 = D.price(c2, d, 1.0, 1e5, [0])
    assert b2["ranks_used"] == 2


def test_background_over_the_ecm_time_when_the_config_has_a_core():
    """With a `core:` section the standing energy (background, refresh) is priced over the
    ECM estimate, the time to quote, not the blocking time (docs/model.md, "DRAM")."""
    import simcache

    data = copy.deepcopy(yaml.safe_load(CONFIG.read_text()))
    blocking = simcache.simulate(load_plain(data), layer="fc", M=64, N=48).to_dict()["totals"]
    assert blocking["dram"]["time_model"] == "blocking"
    data["core"] = {"add_latency": 4, "store_forward_latency": 5, "loads_per_cycle": 2,
                    "stores_per_cycle": 1, "issue_width": 4, "source": "test figures"}
    doc = simcache.simulate(load_plain(data), layer="fc", M=64, N=48).to_dict()
    t, clock = doc["totals"], data["clock"]
    block, ecm_cycles = t["dram"], t["time"]["ecm"]["cycles"]
    assert block["time_model"] == "ecm"
    # the ECM estimate's memory transfer is at least the DRAM bound (docs/model.md §4)
    mem = doc["levels"][-1]
    widths = load_plain(data).bandwidths()
    moved = mem["bytes_read"] + mem["bytes_written"] + mem["flush"]["bytes_read"] \
        + mem["flush"]["bytes_written"]
    by_bytes = moved / widths[-1] if widths[-1] is not None else 0.0
    assert t["time"]["ecm"]["transfer_cycles"][mem["name"]] == pytest.approx(
        max(by_bytes, block["bound_cycles"]))
    assert block["time_ns"] == pytest.approx(ecm_cycles / float(str(clock).split()[0]))
    assert block["time_ns"] < blocking["dram"]["time_ns"]
    d = load_plain(data).memory.dram
    acts = block["activations_by_rank"]
    ref = naive.dram_energy_pj(naive_dict(d, data["memory"]["dram"]["mapping"]),
                               sum(acts), block["reads"], block["writes"], block["time_ns"],
                               [block["time_ns"]] * len(acts))
    for k in ("background", "refresh"):
        assert block["energy_pj"][k] == pytest.approx(ref[k], rel=1e-12), k
    # the accesses' energy is the same either way; memory's and the totals carry the change
    for k in ("activate", "read", "write"):
        assert block["energy_pj"][k] == pytest.approx(blocking["dram"]["energy_pj"][k])
    mem = doc["levels"][-1]
    assert mem["energy_pj"]["high"] == pytest.approx(block["energy_pj"]["total"])
    assert t["energy_pj"]["high"] == pytest.approx(
        sum(lv["energy_pj"]["high"] for lv in doc["levels"]) + t["mac_energy_pj"]["high"])
