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

from . import engine
from .config import Geometry, Hierarchy
from .engine import Result
from .layers import Layer
from .loopnest import plan


@dataclass(frozen=True)
class Job:
    hierarchy: Hierarchy
    layer: Layer

    def geometry(self) -> list[Geometry]:
        """The hierarchy's cache levels for this layer's element size."""
        return self.hierarchy.geometry(self.layer.dtype_bytes)


# Rough single-core speeds (accesses per second) behind the estimate printed before long
# runs, from BENCHMARKS.md: a register file as the first level costs most.
RATE_WITH_REGISTERS = 60e6
RATE_CACHES_ONLY = 130e6


def estimate_seconds(jobs: list[Job], workers: int | None = None) -> float:
    """About how long the jobs take (loop iterations × 4 accesses at the rates above)."""
    total = 0.0
    for j in jobs:
        geometry = j.geometry()
        registers = bool(geometry) and geometry[0].line <= 8
        rate = RATE_WITH_REGISTERS if registers else RATE_CACHES_ONLY
        total += 4 * plan(j.layer).iterations / rate
    workers = max(1, min(workers or default_workers(), len(jobs)))
    return total / workers


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Cancelled(Exception):
    """A job stopped early because another failed or the run was interrupted."""


def run_jobs(jobs: list[Job], workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[Result]:
    """Simulate every job; progress is reported in loop iterations over all jobs.

    An interrupt (Ctrl-C, a signal) or a failure stops the running jobs at their next
    chunk of loop iterations, instead of waiting for them to finish."""
    sizes = [plan(j.layer).iterations for j in jobs]
    total = sum(sizes)
    done = [0] * len(jobs)
    lock = threading.Lock()
    stop = threading.Event()

    def one(k: int) -> Result:
        def update(n: int, _total: int) -> None:
            if stop.is_set():
                raise Cancelled
            with lock:
                done[k] = n
                if progress is not None:
                    progress(sum(done), total)

        return engine.simulate(jobs[k].hierarchy, jobs[k].layer, progress=update)

    workers = max(1, min(workers or default_workers(), len(jobs)))
    if workers == 1:
        return [one(k) for k in range(len(jobs))]
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(one, k) for k in range(len(jobs))]
        return [f.result() for f in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
