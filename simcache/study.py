"""Many simulations at once: layers × batch sizes, or one layer on several configs.

The kernels release the GIL, so independent runs share the cores on threads; each run
owns its state arrays. Results come back in the order the jobs were given.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import engine
from .config import Geometry, Hierarchy
from .engine import Result
from .layers import Layer
from .loopnest import plan


@dataclass(frozen=True)
class Job:
    hierarchy: Hierarchy
    layer: Layer
    three_c: bool = False  # classify the misses (engine.simulate(ccc=True))

    def geometry(self) -> list[Geometry]:
        """The hierarchy's cache levels for this layer's element size."""
        return self.hierarchy.geometry(self.layer.dtype_bytes)


# Single-thread cost of one loop iteration (four accesses) in nanoseconds, by layer type,
# with a register file (one-element lines) first: measured 2026-12-01 on the 2-core
# development machine (BENCHMARKS.md, "Estimates"), the minimum over the three shipped
# configs. Depthwise layers (one channel per filter) and spatial ones (K x K taps) cost
# more per iteration than the others.
NS_PER_ITERATION = {"spatial": 28.0, "separable": 23.0, "pointwise": 23.0, "group": 24.5,
                    "depthwise": 38.0, "fc": 24.0}
# A first level of wide lines (a cache first) takes the nest's repeated-hit shortcut and
# its lookups are cheaper: about this much faster (the ratio of the earlier rates, 130e6
# and 60e6 accesses per second, BENCHMARKS.md; not re-measured).
CACHE_FIRST_SPEEDUP = 2.2
# Classifying misses (--3c) walks every access through a shadow cache per level
# (BENCHMARKS.md, "3C")
CCC_SLOWDOWN = 2.5
JOB_OVERHEAD = 0.005  # seconds per job: planning, state arrays, the flush
# Two threads on the two cores run each a little slower than one alone (shared caches and
# memory bandwidth, and the other users of a shared machine; measured with run -B 1,2,4,8).
PARALLEL_SLOWDOWN = 1.3


def job_seconds(job: Job) -> float:
    """About how long one job takes on one thread by itself."""
    geometry = job.geometry()
    ns = NS_PER_ITERATION.get(job.layer.type, 28.0)
    if geometry and geometry[0].line > job.layer.dtype_bytes:
        ns /= CACHE_FIRST_SPEEDUP
    if job.three_c:
        ns *= CCC_SLOWDOWN
    return JOB_OVERHEAD + plan(job.layer).iterations * ns * 1e-9


def estimate_seconds(jobs: list[Job], workers: int | None = None) -> float:
    """About how long `run_jobs` takes: each job's time (`job_seconds`), handed out in
    order to the first free worker, as the thread pool does; the last to finish ends the
    run."""
    workers = max(1, min(workers or default_workers(), len(jobs) or 1))
    slow = PARALLEL_SLOWDOWN if workers > 1 else 1.0
    free = [0.0] * workers
    for j in jobs:
        k = free.index(min(free))
        free[k] += job_seconds(j) * slow
    return max(free)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Cancelled(Exception):
    """A job stopped early because another failed or the run was interrupted."""


def _in_parallel(sizes: list[int], run: Callable[[int, Callable[[int, int], None]], Any],
                 workers: int | None, progress: Callable[[int, int], None] | None) -> list:
    """`run(k, update)` for every k, on threads, results in order; each run reports its
    own progress through `update` (`sizes[k]` in all), added up into `progress`. An
    interrupt or a failure stops the other runs at their next `update`, and leaves on the
    exception it raises, as `finished`, what had finished (`Finished`)."""
    total = sum(sizes)
    done = [0] * len(sizes)
    lock = threading.Lock()
    stop = threading.Event()
    results: dict[int, Any] = {}

    def one(k: int):
        def update(n: int, _total: int) -> None:
            if stop.is_set():
                raise Cancelled
            with lock:
                done[k] = n
                if progress is not None:
                    progress(sum(done), total)

        results[k] = run(k, update)
        return results[k]

    workers = max(1, min(workers or default_workers(), len(sizes)))
    if workers == 1:
        try:
            return [one(k) for k in range(len(sizes))]
        except BaseException as exc:
            exc.finished = Finished(dict(results), _steps(exc, len(results)))
            raise
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = []
    try:
        futures = [pool.submit(one, k) for k in range(len(sizes))]
        return [f.result() for f in futures]
    except BaseException as exc:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)  # the others stop at their next update
        steps = {}
        for k, f in enumerate(futures):
            if k not in results and f.done() and not f.cancelled() and f.exception():
                steps.update(_steps(f.exception(), k))
        exc.finished = Finished(dict(results), steps)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Finished:
    """What an interrupted `run_jobs` or `run_chains` had finished: `results` by job index;
    `steps`, for a chain stopped part way, the results of its steps that had finished
    (engine.simulate_chain's `finished_steps`), by job index."""

    results: dict[int, Any]
    steps: dict[int, list]


def _steps(exc: BaseException, k: int) -> dict[int, list]:
    """The finished steps an exception from job `k` carries, if any."""
    steps = getattr(exc, "finished_steps", None)
    return {k: steps} if steps is not None else {}


def run_jobs(jobs: list[Job], workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[Result]:
    """Simulate every job; progress is reported in loop iterations over all jobs.

    An interrupt (Ctrl-C, a signal) or a failure stops the running jobs at their next
    chunk of loop iterations, instead of waiting for them to finish."""
    def run(k: int, update) -> Result:
        return engine.simulate(jobs[k].hierarchy, jobs[k].layer, progress=update,
                               ccc=jobs[k].three_c)

    return _in_parallel([plan(j.layer).iterations for j in jobs], run, workers, progress)


@dataclass(frozen=True)
class ChainJob:
    """One inference of a warm network (chain.Chain) on one hierarchy."""

    hierarchy: Hierarchy
    chain: object  # chain.Chain (not imported: study sits below it)
    dtype_bytes: int = 4
    three_c: bool = False

    def geometry(self) -> list[Geometry]:
        return self.hierarchy.geometry(self.dtype_bytes)


def run_chains(jobs: list[ChainJob], workers: int | None = None,
               progress: Callable[[int, int], None] | None = None
               ) -> list[tuple[list[Result], Result]]:
    """Simulate every inference (engine.simulate_chain), independent of each other, on a
    thread each as run_jobs does; progress in trace accesses over all of them. An
    interrupt or a failure stops the others at their next chunk."""
    def run(k: int, update):
        j = jobs[k]
        return engine.simulate_chain(j.hierarchy, j.chain.steps, j.dtype_bytes,
                                     j.chain.window, update, j.three_c)

    return _in_parallel([sum(s.accesses for s in j.chain.steps) for j in jobs], run,
                        workers, progress)
