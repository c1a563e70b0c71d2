"""The structure of the run-time estimate (study.estimate_seconds), not its accuracy."""

from __future__ import annotations

import pytest

from helpers import hierarchy
from simcache.layers import make_layer
from simcache.study import Job, estimate_seconds, job_seconds

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
    one = estimate_seconds(jobs, 1)
    assert one == pytest.approx(sum(job_seconds(j) for j in jobs))
    parallel = estimate_seconds(jobs, workers)
    assert one / workers < parallel < one / workers * 2  # shared cores run a bit slower


def test_the_longest_job_bounds_the_run():
    big, small = job(B=8, M=8, N=8, F=16, K=3), job(B=1, M=8, N=8, F=4, K=3)
    assert estimate_seconds([big, small, small], 2) >= job_seconds(big)
    assert estimate_seconds([big, small], 8) == estimate_seconds([big, small], 2)
