"""The in-core ECM model (simcache/ecm.py, docs/model.md §4 "The in-core (ECM) model"):
each chain kind and each bound on nests whose cycles are computed by hand here, the ECM
combination, Spearman's rank correlation, and the fields in the JSON, the text report and
compare's rows and CSV."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from helpers import cli_output
from simcache import ecm
from simcache.api import simulate
from simcache.layers import make_layer
from simcache.loopnest import plan


def core(**edit):
    c = dict(add_latency=4.0, store_forward_latency=6.0, loads_per_cycle=2,
             stores_per_cycle=1, issue_width=4, fma_latency=None)
    c.update(edit)
    return SimpleNamespace(**c)


def only_nest(**layer):
    p = plan(make_layer(**layer))
    assert len(p.nests) == 1
    return p.nests[0]


# ---------------------------------------------------------------- chain kinds


def test_y_invariant_and_no_test_inside_is_a_register_chain_of_adds():
    # fc, order b n m: m innermost, y[n] the same for all M iterations: M adds in a chain
    nest = only_nest(type="fc", M=12, N=5, F=1, K=1, order="bnmijpq")
    b = ecm.body(nest)
    assert (b.chain, b.run, b.guarded) == ("register", 12, False)
    got = ecm.nest_cycles(nest, core())
    assert got["per_iteration"]["chain"] == 4.0  # add_latency, nothing else
    assert got["binds"] == "chain"
    assert got["cycles"] == 4.0 * 12 * 5


def test_a_register_chain_that_outlives_the_innermost_loop_pays_a_forward_per_loop():
    # explicit padding (no tests), order ...q m: m innermost (M = 3), q outside it leaves y
    # alone, so y is stored after each m loop and loaded by the next: + sf / M per iteration
    nest = only_nest(type="spatial", M=3, N=2, F=4, K=3, padding="explicit",
                     order="bijnpqm")
    b = ecm.body(nest)
    assert b.chain == "register" and b.run == 3 * 3 * 3  # m, q, p leave y alone
    got = ecm.nest_cycles(nest, core())
    assert got["per_iteration"]["chain"] == pytest.approx(4.0 + 6.0 / 3)


def test_a_skipped_tap_test_inside_the_loop_sends_y_through_memory():
    # padding skip, q innermost: y invariant, but the column test sits in the q loop and
    # gcc -O2 keeps y in memory: load, add, store on the same y, sf + add per iteration
    nest = only_nest(type="spatial", M=3, N=2, F=4, K=3, order="bijnmpq")
    b = ecm.body(nest)
    assert (b.chain, b.guarded, b.run) == ("memory", True, 3 * 3 * 3)
    assert (b.uops, b.loads, b.stores) == (ecm.UOPS["memory-guarded"], 3.0, 1.0)
    got = ecm.nest_cycles(nest, core())
    assert got["per_iteration"]["chain"] == 10.0
    assert got["cycles"] == 10.0 * nest.iterations


def test_chains_through_memory_overlap_by_the_measured_iterations():
    # depthwise, taps innermost (padding skip): y[g, i, j] is the same over p and q, a chain
    # of K * K = 9 store->load steps; with chain_overlap = 11 the core runs 11 iterations of
    # the next outputs' chains while one waits: 9 steps of sf + add = 10 cycles take 9 + 11
    # iterations, 10 * 9 / 20 = 4.5 cycles an iteration
    nest = only_nest(type="depthwise", M=4, N=4, F=6, K=3, order="bijnmpq")
    b = ecm.body(nest)
    assert (b.chain, b.run) == ("memory", 9)
    got = ecm.nest_cycles(nest, core(chain_overlap=11.0))
    assert got["per_iteration"]["chain"] == pytest.approx(4.5)
    assert got["binds"] == "chain"  # issue 9 / 4 = 2.25, loads 3 / 2 = 1.5
    assert got["cycles"] == pytest.approx(4.5 * nest.iterations)
    # a longer chain overlaps less: K = 5 gives 25 steps, 10 * 25 / 36 cycles
    nest5 = only_nest(type="depthwise", M=2, N=2, F=6, K=5, order="bijnmpq")
    got5 = ecm.nest_cycles(nest5, core(chain_overlap=11.0))
    assert got5["per_iteration"]["chain"] == pytest.approx(10.0 * 25 / 36)
    # without the field the chains do not overlap (the model before it)
    assert ecm.nest_cycles(nest, core())["per_iteration"]["chain"] == 10.0


def test_chain_overlap_leaves_register_and_interleaved_chains_alone():
    fc = only_nest(type="fc", M=12, N=5, F=1, K=1, order="bnmijpq")
    assert ecm.nest_cycles(fc, core(chain_overlap=11.0))["per_iteration"]["chain"] == 4.0
    nest = only_nest(type="fc", M=4, N=8, F=1, K=1, order="bmnijpq")
    assert ecm.body(nest).chain == "interleaved"
    assert (ecm.nest_cycles(nest, core(chain_overlap=11.0))["per_iteration"]["chain"]
            == ecm.nest_cycles(nest, core())["per_iteration"]["chain"])


@pytest.mark.parametrize("value, said", [
    (0, "must be positive"), (-3, "must be positive"), (float("inf"), "positive and finite"),
    (1e9, "at most 4096 iterations"), ("eleven", "a number of iterations")])
def test_a_bad_chain_overlap_is_refused_naming_the_field(tmp_path, value, said):
    from simcache.config import ConfigError, load_hierarchy

    doc = yaml.safe_load(open("configs/thesis.yaml"))
    doc["core"] = {"add_latency": 4, "store_forward_latency": 5, "loads_per_cycle": 2,
                   "stores_per_cycle": 1, "issue_width": 4, "chain_overlap": value,
                   "source": "s"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as err:
        load_hierarchy(str(path))
    text = "\n".join(err.value.problems)
    assert "chain_overlap" in text and said in text


def test_a_chain_overlap_needs_its_source(tmp_path):
    from simcache.config import ConfigError, load_hierarchy

    doc = yaml.safe_load(open("configs/thesis.yaml"))
    fields = {"add_latency": 4, "store_forward_latency": 5, "loads_per_cycle": 2,
              "stores_per_cycle": 1, "issue_width": 4}
    doc["core"] = {**fields, "chain_overlap": 11,
                   "source": {k: "measured" for k in fields}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as err:
        load_hierarchy(str(path))
    assert "no source for chain_overlap" in "\n".join(err.value.problems)
    doc["core"]["source"]["chain_overlap"] = "measured"
    path.write_text(yaml.safe_dump(doc))
    assert load_hierarchy(str(path)).core.chain_overlap == 11.0


def test_y_varying_and_revisited_after_l_iterations_divides_the_chain_by_l():
    # fc, order b m n: n innermost moves y; m outside it revisits every y after N = 5
    nest = only_nest(type="fc", M=12, N=5, F=1, K=1, order="bmnijpq")
    b = ecm.body(nest)
    assert (b.chain, b.revisit) == ("interleaved", 5)
    got = ecm.nest_cycles(nest, core(issue_width=64, loads_per_cycle=64,
                                     stores_per_cycle=64))
    assert got["per_iteration"]["chain"] == pytest.approx(10.0 / 5)
    assert got["binds"] == "chain"


def test_the_revisit_spans_every_loop_that_moves_y():
    # fc with a batch, order m b n: n and b both move y, m revisits after B·N iterations
    nest = only_nest(type="fc", M=4, N=5, F=1, K=1, B=3, order="mbnijpq")
    assert ecm.body(nest).revisit == 15


def test_no_loop_revisits_y_no_chain():
    # fc with M = 1: every loop moves y, nothing is added to twice
    nest = only_nest(type="fc", M=1, N=5, F=1, K=1, B=3, order="bnmijpq")
    b = ecm.body(nest)
    assert b.chain == "none"
    assert ecm.nest_cycles(nest, core())["per_iteration"]["chain"] == 0.0


def test_unit_strides_and_a_multiple_of_four_vectorise_the_multiply():
    vec = ecm.body(only_nest(type="fc", M=16, N=2, F=1, K=1, order="bnmijpq"))
    odd = ecm.body(only_nest(type="fc", M=15, N=2, F=1, K=1, order="bnmijpq"))
    strided = ecm.body(only_nest(type="pointwise", M=16, N=2, F=3, K=1, order="bnijmpq"))
    assert vec.vector and vec.uops == ecm.UOPS["register-vector"] and vec.loads == 0.5
    assert not odd.vector and odd.uops == ecm.UOPS["register"] and odd.loads == 2.0
    assert not strided.vector
    # y varying with unit stride (the output plane innermost, w invariant): vectorised too
    plane = ecm.body(only_nest(type="pointwise", M=2, N=2, F=4, K=1, order="bnmpqij"))
    assert plane.vector and plane.uops == ecm.UOPS["memory-vector"]
    assert (plane.loads, plane.stores) == (0.5, 0.25)  # x and y, one store, per 4 MACs
    odd_plane = ecm.body(only_nest(type="pointwise", M=2, N=2, F=3, K=1, order="bnmpqij"))
    assert not odd_plane.vector and odd_plane.uops == ecm.UOPS["memory"]
    # m innermost, j just outside it with y and x of unit stride and 4 | extent: gcc
    # vectorises j, four y in one register, the chain a quarter of an add per MAC
    outer = only_nest(type="pointwise", M=3, N=2, F=4, K=1, order="bnijmpq")
    b = ecm.body(outer)
    assert (b.chain, b.lanes, b.uops, b.loads) == ("register", 4, 7 / 4, 0.5)
    assert ecm.nest_cycles(outer, core(issue_width=64))["per_iteration"]["chain"] == 1.0
    assert ecm.body(only_nest(type="pointwise", M=3, N=2, F=3, K=1,
                              order="bnijmpq")).lanes == 1  # 3 % 4: scalar
    # a test in j (padding skip) keeps j scalar: spatial with m innermost
    assert ecm.body(only_nest(type="spatial", M=3, N=2, F=4, K=3,
                              order="bnpqijm")).lanes == 1
    # filters innermost with M = 1: w of unit stride, x invariant, but y strided: scalar
    filters = ecm.body(only_nest(type="pointwise", M=1, N=4, F=2, K=1, order="bijmpqn"))
    assert filters.chain == "none" and not filters.vector


# ---------------------------------------------------------------- bounds


@pytest.mark.parametrize("edit,binds,per", [
    (dict(issue_width=1, add_latency=1.0, store_forward_latency=1.0), "issue", 7.0),
    (dict(loads_per_cycle=1, add_latency=0.1, store_forward_latency=0.1, issue_width=64),
     "loads", 2.0),
    (dict(stores_per_cycle=1, loads_per_cycle=64, add_latency=0.1,
          store_forward_latency=0.1, issue_width=64), "stores", 1.0),
])
def test_each_throughput_bound_binds_when_it_is_the_largest(edit, binds, per):
    # fc b m n: the body loads w and y (x hoisted: invariant in n), stores y, 7 uops
    nest = only_nest(type="fc", M=12, N=5, F=1, K=1, order="bmnijpq")
    got = ecm.nest_cycles(nest, core(**edit))
    assert got["binds"] == binds
    assert got["cycles_per_iteration"] == pytest.approx(per)


def test_the_ecm_rule_adds_the_transfers_to_the_larger_of_core_and_ports():
    levels = [{"name": n, "bytes_read": r, "bytes_written": 0,
               "flush": {"bytes_read": 0, "bytes_written": w}}
              for n, r, w in (("L1", 10**6, 0), ("L2", 640, 0), ("DRAM", 320, 64))]
    # L1's bandwidth is the core's ports: not counted; L2 640 / 64 = 10; DRAM 384 / 8 = 48
    got = ecm.combine(100.0, 30.0, levels, [1.0, 64.0, 8.0])
    assert got["transfer_cycles"] == {"L2": 10.0, "DRAM": 48.0}
    assert got["cycles"] == 158.0 and got["binds"] == "core"
    got = ecm.combine(20.0, 30.0, levels, [1.0, 64.0, 8.0])
    assert got["cycles"] == 88.0 and got["binds"] == "DRAM"  # ports 30 + 58
    got = ecm.combine(50.0, 60.0, levels, [None, None, None])
    assert got["cycles"] == 60.0 and got["binds"] == "L1 ports"


def test_memory_as_dram_takes_at_least_the_dram_bound():
    levels = [{"name": n, "bytes_read": r, "bytes_written": 0,
               "flush": {"bytes_read": 0, "bytes_written": w}}
              for n, r, w in (("L1", 10**6, 0), ("L2", 640, 0), ("DRAM", 320, 64))]
    # DRAM's bytes over its bandwidth: 48 cycles; a DRAM bound of 70 (banks) replaces it,
    # one of 20 does not; without a bandwidth the bound alone counts
    assert ecm.combine(100.0, 30.0, levels, [1.0, 64.0, 8.0], 70.0)["cycles"] == 180.0
    assert ecm.combine(100.0, 30.0, levels, [1.0, 64.0, 8.0], 20.0)["cycles"] == 158.0
    got = ecm.combine(100.0, 30.0, levels, [1.0, 64.0, None], 70.0)
    assert got["transfer_cycles"] == {"L2": 10.0, "DRAM": 70.0}


# ---------------------------------------------------------------- spearman


@pytest.mark.parametrize("a,b,rho", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], 0.8),  # 1 - 6·4 / (5·24)
    ([1, 2, 2, 3], [1, 2, 3, 4], 0.9486832980505138),  # ties: ranks 1, 2.5, 2.5, 4
])
def test_spearman_by_hand(a, b, rho):
    assert ecm.spearman(a, b) == pytest.approx(rho)


def test_spearman_of_a_constant_or_a_single_value_is_none():
    assert ecm.spearman([1, 1, 1], [1, 2, 3]) is None
    assert ecm.spearman([1], [2]) is None
    with pytest.raises(ValueError):
        ecm.spearman([1, 2], [1])


# ---------------------------------------------------------------- reports


def host_config(tmp_path, with_core=True):
    data = {"name": "h", "source": "s", "mac_cycles": 1, "mac_energy": 1, "clock": "2 GHz",
            "levels": [{"name": "L1", "size": "4KiB", "line": 64, "ways": 4, "latency": 4,
                        "energy": 1, "source": "s"},
                       {"name": "L2", "size": "64KiB", "line": 64, "ways": 8, "latency": 12,
                        "energy": 1, "bandwidth": 32, "source": "s"}],
            "memory": {"latency": 200, "energy": 100, "bandwidth": "8 B/cycle", "source": "s"}}
    if with_core:
        data["core"] = {"add_latency": 4, "store_forward_latency": 6, "loads_per_cycle": 2,
                        "stores_per_cycle": 1, "issue_width": 4, "source": "s"}
    path = tmp_path / ("core.yaml" if with_core else "nocore.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_json_carries_the_model_by_hand(tmp_path):
    doc = simulate(host_config(tmp_path), "fc", M=12, N=5, order="bnmijpq").to_dict()
    model = doc["totals"]["time"]["ecm"]
    # core: 60 iterations × 4 cycles (the add chain); vectorised (unit strides, 12 % 4 == 0):
    # 2 vector loads per 4 MACs, ports 60 × 0.5 / 2 = 15 cycles
    assert model["core_cycles"] == 240.0 and model["port_cycles"] == 15.0
    levels = doc["levels"]
    l2 = levels[1]["bytes_read"] + levels[1]["bytes_written"] + levels[1]["flush"][
        "bytes_read"] + levels[1]["flush"]["bytes_written"]
    assert model["transfer_cycles"]["L2"] == l2 / 32
    assert model["cycles"] == 240.0 + model["data_cycles"]
    assert model["us"] == pytest.approx(model["cycles"] * 1e-3 / 2)
    assert model["nests"][0]["chain"] == "register"
    assert doc["totals"]["time"]["blocking_us"] is not None  # the other models stay


def test_without_a_core_the_report_says_why(tmp_path, capsys):
    doc = simulate(host_config(tmp_path, False), "fc", M=12, N=5).to_dict()
    assert doc["totals"]["time"]["ecm"] is None
    assert "core:" in doc["totals"]["time"]["ecm_missing"]
    code, out, _ = cli_output(capsys, "run", str(host_config(tmp_path, False)), "--layer",
                              "fc", "-M", "12", "-N", "5")
    assert code == 0
    assert "time (ecm): not computed: the config has no core: section" in out


def test_the_text_report_quotes_the_ecm_time_first(tmp_path, capsys):
    code, out, _ = cli_output(capsys, "run", str(host_config(tmp_path)), "--layer", "fc",
                              "-M", "12", "-N", "5", "--order", "bnmijpq")
    assert code == 0
    lines = out.splitlines()
    at = next(k for k, line in enumerate(lines) if line.startswith("time (ecm, the estimate"))
    assert "bound by core" in lines[at]
    assert "innermost loop m: y in a register, a chain of 12 adds; 4 cycles per iteration, " \
           "bound by chain" in lines[at + 1]
    assert lines.index(next(x for x in lines if x.startswith("time (blocking"))) > at


def test_compare_rows_and_csv_carry_the_ecm_time(tmp_path, capsys):
    a, b = host_config(tmp_path), host_config(tmp_path, False)
    out_csv = tmp_path / "c.csv"
    code, _, err = cli_output(capsys, "compare", str(a), str(b), "--layer", "fc", "-M", "12",
                              "-N", "5", "--format", "csv", "-o", str(out_csv))
    assert code == 0, err
    head, first, second = out_csv.read_text().splitlines()[:3]
    cols = head.split(",")
    assert "time_ecm_us" in cols and "time_ecm_bound" in cols and "time_ecm_ratio" in cols
    k = cols.index("time_ecm_us")
    assert float(first.split(",")[k]) > 0 and second.split(",")[k] == ""
    out_json = tmp_path / "c.json"
    code, _, err = cli_output(capsys, "compare", str(a), str(b), "--layer", "fc", "-M", "12",
                              "-N", "5", "--format", "json", "-o", str(out_json))
    assert code == 0, err
    text = out_json.read_text()
    assert '"time_ecm_us"' in text and '"ecm"' in text


def test_an_operator_gets_a_streaming_body_by_hand():
    # 400 loads and 100 stores: uops 400 + 100 + 2·400/4 = 700 → 175 cycles at 4 per cycle;
    # loads 400 / 2 = 200 (binds); stores 100 / 1 = 100
    s = ecm.streaming_cycles(400, 100, core())
    assert s["bounds_cycles"] == {"issue": 175.0, "loads": 200.0, "stores": 100.0}
    assert s["binds"] == "loads" and s["cycles"] == 200.0
    levels = [{"name": n, "bytes_read": r, "bytes_written": 0,
               "flush": {"bytes_read": 0, "bytes_written": 0}}
              for n, r in (("L1", 2000), ("DRAM", 6400))]
    h = SimpleNamespace(core=core(), clock=2.0, bandwidths=lambda: [None, 16.0])
    got = ecm.ecm_streaming(400, 100, levels, h)
    # T_OL = issue 175; T_nOL = ports 200; T_data = 6400 / 16 = 400 → 200 + 400 = 600
    # cycles = 0.3 µs
    assert got["cycles"] == 600.0 and got["binds"] == "DRAM"
    assert got["us"] == pytest.approx(0.3)
    assert got["nests"][0]["chain"] == "none"


def test_a_warm_network_sums_its_entries_and_operators_stream(tmp_path, capsys):
    from helpers import TINY_NET
    from simcache.api import network

    model = tmp_path / "tiny.yaml"
    model.write_text(TINY_NET)
    doc = network(host_config(tmp_path), model).to_dict()
    runs = [r["totals"]["time"]["ecm"] for r in doc["runs"]] + [
        doc["flush_run"]["totals"]["time"]["ecm"]]
    assert doc["totals"]["time"]["ecm_us"] == pytest.approx(sum(m["us"] for m in runs))
    bodies = [m["nests"][0]["body"] for m in runs]
    assert bodies.count("streaming (no loop-carried chain)") >= 2  # relu, the pool, flush
    assert any("adds" in b or "memory" in b or "revisited" in b for b in bodies)
    # an operator's body: a load per element its first level read, a store per element
    # written (loads_per_cycle 2, stores_per_cycle 1 in host_config)
    for r in doc["runs"]:
        m = r["totals"]["time"]["ecm"]
        if m["nests"][0]["chain"] == "none" and "streaming" in m["nests"][0]["body"]:
            first = r["levels"][0]
            assert m["nests"][0]["bounds_cycles"]["loads"] == first["reads"] / 2
            assert m["nests"][0]["bounds_cycles"]["stores"] == first["writes"] / 1
            assert first["writes"] > 0
    code, out, _ = cli_output(capsys, "network", str(host_config(tmp_path)), str(model))
    assert code == 0 and "by the in-core ECM model, the estimate to quote" in out
    # without a core, no ecm total and no such line
    doc = network(host_config(tmp_path, False), model).to_dict()
    assert "ecm_us" not in doc["totals"]["time"]


def test_a_register_file_above_l1_moves_the_core_ports_to_l1():
    """With a register file (line: element) above the L1, the L1's traffic is the core's
    loads and stores (T_nOL), not a transfer: its bandwidth is not counted again."""
    from simcache.config import load_hierarchy

    assert ecm.first_cache(load_hierarchy("configs/mobile_soc.yaml")) == 1
    assert ecm.first_cache(load_hierarchy("docs/labs/configs/l1-4k.yaml")) == 0
    levels = [{"name": n, "bytes_read": r, "bytes_written": 0,
               "flush": {"bytes_read": 0, "bytes_written": 0}}
              for n, r in (("registers", 10**6), ("L1", 6400), ("L2", 640), ("DRAM", 320))]
    got = ecm.combine(100.0, 30.0, levels, [None, 64.0, 64.0, 8.0], first_cache=1)
    assert got["transfer_cycles"] == {"L2": 10.0, "DRAM": 40.0}
    got = ecm.combine(100.0, 30.0, levels, [None, 64.0, 64.0, 8.0])
    assert got["transfer_cycles"] == {"L1": 100.0, "L2": 10.0, "DRAM": 40.0}
