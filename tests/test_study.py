"""The structure of the run-time estimate (study.estimate_seconds), not its accuracy
(BENCHMARKS.md, "Estimates", measures that): its pieces add up, and each thing that decides
the rate moves it the right way."""

from __future__ import annotations

import math

import pytest

from helpers import hierarchy
from simcache import api
from simcache.chain import build_chain
from simcache.layers import make_layer
from simcache.loopnest import plan
from simcache.study import (
    JOB_OVERHEAD,
    Job,
    access_factors,
    access_ns,
    busy_factor,
    estimate_seconds,
    job_seconds,
)

REG = dict(size=64, line=4, ways="full", policy="lru", write_back=True, write_allocate=True)
L1 = dict(size=1024, line=64, ways=4, policy="lru", write_back=True, write_allocate=True)


def job(first=REG, **dims) -> Job:
    return Job(hierarchy([first, L1]), make_layer(**{"type": "spatial", **dims}))


def test_more_iterations_take_longer():
    times = [job_seconds(job(B=b, M=8, N=8, F=16, K=3)) for b in (1, 2, 4, 8)]
    assert times == sorted(times) and times[0] < times[-1]


def test_a_cache_first_is_faster_than_a_register_file():
    assert job_seconds(job(L1, M=8, N=8, F=16, K=3)) < job_seconds(job(M=8, N=8, F=16, K=3))


@pytest.mark.parametrize("workers", [2, 4])
def test_equal_jobs_share_the_workers(workers):
    jobs = [job(M=8, N=8, F=16, K=3)] * (2 * workers)
    one = estimate_seconds(jobs, 1, load=0.0)
    assert one == pytest.approx(sum(job_seconds(j) for j in jobs))
    parallel = estimate_seconds(jobs, workers, load=0.0) / busy_factor(workers, 0.0)
    assert one / workers < parallel < one / workers * 2  # shared cores run a bit slower


def test_the_longest_job_bounds_the_run():
    big, small = job(B=8, M=8, N=8, F=16, K=3), job(B=1, M=8, N=8, F=4, K=3)
    assert estimate_seconds([big, small, small], 2, load=0.0) >= job_seconds(big)
    assert estimate_seconds([big, small], 8, load=0.0) == \
        estimate_seconds([big, small], 2, load=0.0)


def test_the_pieces_add_up():
    """A job: the overhead, plus its layer's accesses (4 per loop iteration) and the
    operators' after it, each at the product of its access factors."""
    h, _ = api.load_config("thesis")
    lay = make_layer(type="depthwise", M=16, N=16, F=16, K=3)
    j = Job(h, lay, op_accesses=1000)
    g = j.geometry()
    layer_ns = math.prod(access_factors(g, "depthwise").values())
    op_ns = math.prod(access_factors(g, "op").values())
    assert layer_ns == access_ns(g, "depthwise") and op_ns == access_ns(g, "op")
    assert job_seconds(j) == pytest.approx(
        JOB_OVERHEAD + (4 * plan(lay).iterations * layer_ns + 1000 * op_ns) * 1e-9)


def _ns(config, kind="pointwise", three_c=False):
    h, _ = api.load_config(config)
    return access_ns(h.geometry(4), kind, three_c)


def test_what_decides_the_rate():
    # the hierarchy: prefetching (rpi4's L1), or a plru level (mobile_soc's L1D) without
    # --3c, runs the extended kernels; lru, fifo and random levels do not (server)
    def factor(config, three_c=False):
        return access_factors(api.load_config(config)[0].geometry(4), "pointwise",
                              three_c)["prefetch/inclusion"]
    assert factor("rpi4") > 1 and _ns("rpi4") > _ns("server")
    assert factor("mobile_soc") > 1 and factor("mobile_soc", three_c=True) == 1
    assert factor("server") == 1
    # --3c, operators, depthwise layers
    assert _ns("thesis", three_c=True) > _ns("thesis")
    assert _ns("thesis", "op") > _ns("thesis", "depthwise") > _ns("thesis", "spatial")


def test_a_warm_inference_is_one_piece_of_work(tmp_path):
    """Its layers run one after another on one thread, whatever the workers; its operators
    are counted, each with the layer before it (those before the first: with the first)."""
    from helpers import TINY_NET

    net = tmp_path / "tiny.yaml"
    net.write_text(TINY_NET.replace("layers:\n", "layers:\n  - {name: pre, type: relu}\n"))
    seen = []
    api.network("thesis", net, on_start=lambda g, jobs: seen.extend(jobs))
    chain = build_chain(api.load_model(net)[0])
    assert {j.chain for j in seen} == {0} and len(seen) == 3
    assert all(j.window == chain.window for j in seen)  # the state's window: the whole map
    assert sum(4 * plan(j.layer).iterations + j.op_accesses for j in seen) == \
        sum(s.accesses for s in chain.steps)
    assert sum(j.op_accesses for j in seen) == sum(s.accesses for s in chain.steps if s.op) > 0
    one = estimate_seconds(seen, 1, load=0.0)
    assert one == pytest.approx(sum(job_seconds(j) for j in seen))
    assert estimate_seconds(seen, 2, load=0.0) == pytest.approx(one)  # not split
    cold = [Job(j.hierarchy, j.layer) for j in seen]
    assert estimate_seconds(cold, 3, load=0.0) < one


def test_a_busy_machine_stretches_the_estimate():
    assert busy_factor(1, 0.0, 2) == 1.0 and busy_factor(2, 0.0, 2) == 1.0
    assert busy_factor(1, 10.0, 2) == 5.5 and busy_factor(2, 10.0, 8) == 1.5
    jobs = [job(M=8, N=8, F=16, K=3)]
    idle = estimate_seconds(jobs, 1, load=0.0) / busy_factor(1, 0.0)
    assert estimate_seconds(jobs, 1, load=10.0) == pytest.approx(idle * busy_factor(1, 10.0))


def test_a_window_too_wide_for_the_direct_lookup_is_slower():
    """A warm inference whose map holds more lines than a hashed first level's direct
    lookup takes (engine.WINDOW_LIMIT) runs that level through its hash table alone."""
    from simcache import engine
    from simcache.study import WIDE_WINDOW_SLOWDOWN

    h, _ = api.load_config("thesis")  # a register file of 256 ways: hashed
    lay = make_layer(type="spatial", M=8, N=8, F=16, K=3)
    own = Job(h, lay)
    wide = Job(h, lay, window=(0, 4 * (engine.WINDOW_LIMIT + 1)))
    just = Job(h, lay, window=(0, 4 * engine.WINDOW_LIMIT))
    assert job_seconds(just) == pytest.approx(job_seconds(own))
    assert job_seconds(wide) - JOB_OVERHEAD == pytest.approx(
        (job_seconds(own) - JOB_OVERHEAD) * WIDE_WINDOW_SLOWDOWN["layer"])
    few = Job(hierarchy([REG, L1]), lay, window=wide.window)  # 16 ways: scanned, no table
    assert job_seconds(few) == job_seconds(Job(few.hierarchy, lay))
