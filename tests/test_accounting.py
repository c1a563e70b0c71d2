"""Cycles and energy from counts, checked by hand on a trace small enough to follow."""

import numpy as np
import pytest

from helpers import hierarchy
from simcache.accounting import summarize
from simcache.config import Hierarchy
from simcache.engine import simulate, simulate_trace
from simcache.layers import make_layer


def tiny() -> Hierarchy:
    spec = dict(size=32, line=16, ways=2, policy="lru", write_back=True, write_allocate=True)
    h = hierarchy([spec]).model_dump()
    h["levels"][0].update(latency=2, energy=[10, 20])
    h["memory"].update(latency=50, energy=100, write_energy=200)
    h.update(mac_cycles=2, mac_energy=[1, 3])
    return Hierarchy.model_validate(h)


def test_cycles_and_energy_by_hand():
    # one set of two 16-byte lines
    # R 0x00 miss (fetch 16 B from memory) · R 0x04 hit · W 0x04 hit, dirty
    # R 0x40 miss (fetch) · R 0x80 miss (fetch), LRU victim line 0 is dirty: 16 B written back
    trace = [(0x00, 0), (0x04, 0), (0x04, 1), (0x40, 0), (0x80, 0)]
    addr = np.array([a for a, _ in trace])
    chunks = [(addr, np.full(5, 4), np.array([w for _, w in trace]), np.zeros(5, np.int8))]
    s = summarize(simulate_trace(tiny(), chunks), tiny())
    l1, mem = s["levels"]
    assert (l1["reads"], l1["writes"], l1["hits"], l1["misses"]) == (4, 1, 2, 3)
    assert (l1["served"], l1["writebacks"], l1["flush_writebacks"]) == (2, 1, 0)
    assert (mem["reads"], mem["writes"], mem["served"]) == (3, 1, 3)
    # served × latency: 2 × 2 + 3 × 50
    assert (l1["cycles"], mem["cycles"], s["totals"]["cycles"]) == (4, 150, 154)
    assert s["totals"]["amat"] == pytest.approx(154 / 5)
    # L1: 16 B read + 4 B written = 2.5 64-bit units × [10, 20] pJ
    assert l1["energy_pj"] == {"low": 25.0, "high": 50.0}
    # memory: 48 B read × 100 pJ / 8 B + 16 B written × 200 pJ / 8 B
    assert mem["energy_pj"] == {"low": 1000.0, "high": 1000.0}
    assert s["totals"]["energy_pj"] == {"low": 1025.0, "high": 1050.0}
    assert s["totals"]["dram_bytes"] == 64


def test_macs_are_priced_and_flush_energy_is_counted():
    layer = make_layer(type="pointwise", M=2, N=2, F=2, K=1)
    s = summarize(simulate(tiny(), layer), tiny())
    t = s["totals"]
    assert t["macs"] == 2 * 2 * 2 * 2
    assert t["mac_cycles"] == 2 * t["macs"]
    assert t["cycles"] == t["memory_cycles"] + t["mac_cycles"]
    assert t["energy_pj"]["low"] == pytest.approx(t["memory_energy_pj"]["low"] + t["macs"])
    assert t["energy_pj"]["high"] == pytest.approx(t["memory_energy_pj"]["high"] + 3 * t["macs"])
    mem = s["levels"][-1]
    # y (16 B = one line) is dirty at the end: the flush writes it to memory, and pays for it
    assert mem["flush"]["bytes_written"] == 16
    assert mem["flush"]["energy_pj"]["low"] == pytest.approx(16 / 8 * 200)


@pytest.mark.parametrize("kind", ["spatial", "separable", "pointwise", "group", "depthwise",
                                  "fc"])
def test_every_access_is_served_once_and_tensors_add_up(kind):
    layer = make_layer(type=kind, M=4, N=4, F=1 if kind == "fc" else 5,
                       K=1 if kind in ("fc", "pointwise") else 3, G=2 if kind == "group" else 1)
    s = summarize(simulate(tiny(), layer), tiny())
    assert sum(lv["served"] for lv in s["levels"]) == s["accesses"]
    for lv in s["levels"]:
        for key in ("reads", "writes", "hits", "writebacks", "flush_writebacks", "cycles"):
            assert sum(b[key] for b in lv["by_tensor"].values()) == lv[key]
