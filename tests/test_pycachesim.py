"""Count for count against pycachesim (PyPI), per level, on the traces where the two
models cannot differ (docs/model.md, "pycachesim"):

- pycachesim does not refresh LRU recency on a store hit; simcache does. With FIFO, or
  when every store follows a load of the same line (a layer's `y += ...`), it cannot matter;
  below L1 the stores are write-backs, so LRU levels there must never evict.
- pycachesim fetches a line on a write miss at a write-allocate level, whole line or not;
  simcache (as Dinero IV) installs a whole line without a fetch at a write-allocate level,
  and forwards any write miss at a level without write-allocate. The L1 stores here (4
  bytes) are shorter than L1's lines; below L1 only whole-line write-backs arrive, so
  simcache's lower levels, all write-allocate, are built in pycachesim *without*
  write-allocate, which installs such a write-back without a fetch as simcache does.
- Only the run phase is compared: pycachesim does not flush by itself.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import examples, loadstore_items
from simcache import kernels as K
from simcache.config import Geometry
from simcache.engine import State
from simcache.layers import make_layer
from simcache.loopnest import plan, trace_chunks

cachesim = pytest.importorskip("cachesim")

POLICY = {"lru": "LRU", "fifo": "FIFO"}


def build(geometry: list[Geometry]):
    below, levels = None, []
    for k in range(len(geometry) - 1, -1, -1):
        g = geometry[k]
        # simcache's write-allocate lower level <-> pycachesim's level without it (above)
        assert k == 0 or g.write_allocate, "a lower level without write-allocate differs"
        assert k > 0 or g.line > 4, "an L1 of 4-byte lines would take whole-line stores"
        wa = g.write_allocate if k == 0 else False
        below = cachesim.Cache(g.name, g.sets, g.ways, g.line, POLICY[g.policy],
                               write_back=g.write_back, write_allocate=wa,
                               load_from=below, store_to=below)
        levels.insert(0, below)
    mem = cachesim.MainMemory()
    mem.load_to(levels[-1])
    mem.store_from(levels[-1])
    return levels


def replay(levels, addr, is_write) -> None:
    levels[0].backend.loadstore(loadstore_items(addr, is_write), 4)


def observed(levels, geometry, is_write) -> dict:
    """pycachesim's statistics as simcache's run-phase counters, per level."""
    stats = [c.stats() for c in levels]
    out = {}
    for k, (s, g) in enumerate(zip(stats, geometry, strict=True)):
        from_above = int((is_write == 0).sum()) if k == 0 else stats[k - 1]["MISS_count"]
        allocate = s["LOAD_count"] - from_above  # this level's own write-allocate fetches
        level = {
            "reads": s["HIT_count"] + s["MISS_count"] - allocate,
            "read_hits": s["HIT_count"],
            "writes": int(is_write.sum()) if k == 0 else s["STORE_count"],
            "writebacks": s["EVICT_count"],
            "bytes_read": s["LOAD_byte"] - allocate * g.line,
            "bytes_written": s["STORE_byte"],
        }
        if k == 0:
            level["write_hits"] = level["writes"] - allocate
        out[g.name] = level
    last = stats[-1]
    out["memory"] = {"reads": last["MISS_count"], "writes": last["EVICT_count"],
                     "bytes_read": last["MISS_count"] * geometry[-1].line,
                     "bytes_written": last["EVICT_byte"]}
    return out


def simcache_counts(geometry, addr, size, is_write) -> dict:
    state = State(geometry)
    state.replay(addr, size, is_write, np.zeros(len(addr), np.int8))
    run = state.counters[0].sum(axis=1)  # run phase, all tensors
    names = {"reads": K.READS, "read_hits": K.READ_HITS, "writes": K.WRITES,
             "write_hits": K.WRITE_HITS, "writebacks": K.WRITEBACKS,
             "bytes_read": K.BYTES_READ, "bytes_written": K.BYTES_WRITTEN}
    levels = [g.name for g in geometry] + ["memory"]
    return {name: {k: int(run[lv, i]) for k, i in names.items()}
            for lv, name in enumerate(levels)}


def agree(geometry, addr, size, is_write) -> None:
    levels = build(geometry)
    replay(levels, addr, is_write)
    theirs = observed(levels, geometry, is_write)
    ours = simcache_counts(geometry, addr, size, is_write)
    for level, counts in theirs.items():
        for key, value in counts.items():
            assert ours[level][key] == value, (level, key, ours[level][key], value)


def geo(name, size, line, ways, policy):
    return Geometry(name, size, line, ways, size // (line * ways), policy, True, True)


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from([(256, 2), (512, 4), (768, 3), (1024, 8)]), min_size=n,
             max_size=n),
    st.sampled_from([16, 32, 64]))),
    st.lists(st.tuples(st.integers(0, 4095), st.booleans()), min_size=1, max_size=600))
def test_fifo_hierarchies_on_random_traces(shape, accesses):
    sizes, line = shape
    geometry = [geo(f"L{k + 1}", size * (k + 1), line, ways, "fifo")
                for k, (size, ways) in enumerate(sizes)]
    addr = np.array([a & ~3 for a, _ in accesses], dtype=np.int64)
    is_write = np.array([w for _, w in accesses], dtype=np.uint8)
    agree(geometry, addr, np.full(len(addr), 4, np.int64), is_write)


THREE = [("L1", 1024, 32, 2), ("L2", 4096, 32, 4), ("L3", 12288, 32, 3)]


@pytest.mark.parametrize("kind", ["spatial", "separable", "pointwise", "group", "depthwise",
                                  "fc"])
@pytest.mark.parametrize("lower", ["fifo", "lru-large"])
def test_every_layer_type(kind, lower):
    layer = make_layer(type=kind, M=4, N=4 if kind == "depthwise" else 8,
                       F=1 if kind == "fc" else 6,
                       K=1 if kind in ("fc", "pointwise") else 3,
                       G=2 if kind == "group" else 1)
    a, s, w, _ = (np.concatenate(c) for c in zip(*trace_chunks(plan(layer)), strict=True))
    if lower == "fifo":  # LRU where it cannot matter (every store follows its load), FIFO below
        geometry = [geo(n, size, line, ways, "lru" if n == "L1" else "fifo")
                    for n, size, line, ways in THREE]
    else:  # all LRU, with lower levels that never evict
        geometry = [geo("L1", 1024, 32, 2, "lru"), geo("L2", 1 << 16, 32, 16, "lru"),
                    geo("L3", 1 << 17, 32, 16, "lru")]
    agree(geometry, a, s, w)


def test_shipped_cache_geometry_on_a_conv_trace():
    """The thesis caches (64 B lines, 64 / 512 / 10,240 sets) on a small conv layer."""
    layer = make_layer(type="spatial", M=8, N=8, F=12, K=3)
    a, s, w, _ = (np.concatenate(c) for c in zip(*trace_chunks(plan(layer)), strict=True))
    geometry = [geo("L1", 32768, 64, 8, "lru"), geo("L2", 262144, 64, 8, "lru"),
                geo("L3", 10 << 20, 64, 16, "lru")]
    agree(geometry, a, s, w)
