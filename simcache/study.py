"""Many simulations at once: layers × batch sizes, or one layer on several configs.

The kernels release the GIL, so independent runs share the cores on threads; each run
owns its state arrays. Results come back in the order the jobs were given.
"""

from __future__ import annotations

import math
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
    # a layer of a warm inference (api.warm_networks): which one (its layers run one after
    # another on one thread), and the trace accesses of the operators that follow it there
    chain: int | None = None
    op_accesses: int = 0
    # the byte range the state's direct lookup covers: a warm inference's whole map
    # (chain.Chain.window); None: the layer's own tensors
    window: tuple[int, int] | None = None
    # memory.dram: where to write the DRAM requests in DRAMsim3's format (dram.TraceWriter,
    # called with each buffer), and the gap between them (0: blocking issue times)
    dram_trace: object | None = None
    dram_gap: int = 0

    def geometry(self) -> list[Geometry]:
        """The hierarchy's cache levels for this layer's element size."""
        return self.hierarchy.geometry(self.layer.dtype_bytes)


# The estimate (`estimate_seconds`, BENCHMARKS.md "Estimates"): every trace access costs a
# time on one core that depends on what the kernels do with it, the product of the pieces
# below (`access_factors`); the jobs are handed out to the workers as the thread pool
# does; and the machine's other work stretches the whole (`busy_factor`).
#
# CPU time per trace access (ns) by layer type, through a register file first (hashed
# sets) and a plain hierarchy (no prefetch, no inclusion): thread CPU time of warm networks
# (squeezenet, mobilenetv2) and large layers on thesis, mobile_soc and server, the 2-core
# development machine, 2026-12-07 (BENCHMARKS.md, "Estimates"); separable, group and fc
# in the earlier ratios to pointwise. Between those three hierarchies the same layers
# differed by up to 14 % (thesis the slowest), not in the order of their sizes (server's
# 38.5 MiB L3 cost less than thesis's 10 MiB: squeezenet's layers stay in its 1 MiB L2),
# so the size of the hierarchy is not a factor. Per layer, pointwise ones ranged from 6.3
# to 12.5 ns with their shape (not with their tensors' size), spatial ones 6.3 to 9.1.
NS_PER_ACCESS = {"spatial": 8.0, "separable": 9.5, "pointwise": 9.5, "group": 10.0,
                 "depthwise": 13.7, "fc": 9.8}
# an operator's access (pooling, add, concat, activations): its trace arrays are built in
# NumPy chunk by chunk, then replayed
NS_PER_OP_ACCESS = 55.0
# A first level of wide lines (a cache first) takes the nest's repeated-hit shortcut and
# its lookups are cheaper: about this much faster (the ratio of the earlier rates, 130e6
# and 60e6 accesses per second, BENCHMARKS.md; not re-measured: no shipped config has one).
CACHE_FIRST_SPEEDUP = 2.2
# Prefetching or inclusive/exclusive levels run the extended kernels: rpi4 (L1 prefetch)
# against the plain hierarchies, the same networks, 2.1 (depthwise) to 2.8 (pointwise)
EXTENDED_SLOWDOWN = 2.45
# Classifying misses (--3c) walks every access through a shadow cache per level
# (BENCHMARKS.md, "3C")
CCC_SLOWDOWN = 2.5
# A first level of many ways (hashed) over a window of more lines than the engine's direct
# lookup holds (engine.WINDOW_LIMIT: a warm inference whose map is large, as VGG16's
# weights make it) finds its lines through its hash table alone: the same 64 -> 64
# spatial layer at 56 x 56 took 4.9 times its CPU time in a chain with a 400 MB fc after
# it (BENCHMARKS.md, "Estimates"); that fc's accesses 1.8 times (operators: taken alike)
WIDE_WINDOW_SLOWDOWN = {"layer": 4.9, "fc": 1.8, "op": 1.8}
JOB_OVERHEAD = 0.005  # seconds per job: planning, state arrays, the flush
# Two threads on the two cores run each a little slower than one alone (shared caches and
# memory bandwidth; measured with run -B 1,2,4,8).
PARALLEL_SLOWDOWN = 1.3


def wide_window(geometry: list[Geometry], window: tuple[int, int]) -> bool:
    """Whether a hashed first level's window (bytes) holds more lines than the engine's
    direct lookup does (engine._level_words)."""
    if not engine.hashed_first_level(geometry):
        return False
    lbits = geometry[0].line.bit_length() - 1
    return ((window[1] - 1) >> lbits) - (window[0] >> lbits) + 1 > engine.WINDOW_LIMIT


def access_factors(geometry: list[Geometry], kind: str, three_c: bool = False,
                   element: int = 4, wide: bool = False) -> dict:
    """The pieces of one access's time (ns) on one core: `base` by layer type (`kind`, or
    'op' for an operator), times each factor; `access_ns` is their product. A first level
    of lines wider than an `element` is a cache first; `wide`: a window too wide for the
    direct lookup (`wide_window`)."""
    cache_first = bool(geometry) and geometry[0].line > element and kind != "op"
    slow = WIDE_WINDOW_SLOWDOWN.get(kind, WIDE_WINDOW_SLOWDOWN["layer"])
    return {
        "base": NS_PER_OP_ACCESS if kind == "op" else NS_PER_ACCESS.get(kind, 9.0),
        "first level": 1 / CACHE_FIRST_SPEEDUP if cache_first else 1.0,
        # (also plru, bitplru, srrip, brrip without --3c: they take the same kernels)
        "prefetch/inclusion": EXTENDED_SLOWDOWN if engine.general(geometry, three_c) else 1.0,
        "3c": CCC_SLOWDOWN if three_c else 1.0,
        "window": slow if wide else 1.0,
    }


def access_ns(geometry: list[Geometry], kind: str, three_c: bool = False,
              element: int = 4, wide: bool = False) -> float:
    return math.prod(access_factors(geometry, kind, three_c, element, wide).values())


def job_seconds(job: Job) -> float:
    """About how long one job takes on one thread of an idle machine: its layer's trace
    accesses (4 per loop iteration) and the operators' that follow it in a warm
    inference, each at `access_ns`."""
    geometry, element, p = job.geometry(), job.layer.dtype_bytes, plan(job.layer)
    wide = wide_window(geometry, job.window or engine.window_of(p))
    layer = 4 * p.iterations * access_ns(geometry, job.layer.type, job.three_c, element, wide)
    ops = job.op_accesses * access_ns(geometry, "op", job.three_c, element, wide)
    return JOB_OVERHEAD + (layer + ops) * 1e-9


def busy_factor(workers: int, load: float | None = None, cores: int | None = None) -> float:
    """How much longer than on an idle machine: the cores are shared by the `workers`
    threads and the other runnable processes (the 1-minute load average)."""
    cores = cores or default_workers()
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1.0, (load + workers) / cores)


def estimate_seconds(jobs: list[Job], workers: int | None = None,
                     load: float | None = None) -> float:
    """About how long `run_jobs` (or `run_chains`) takes: each job's time (`job_seconds`;
    the layers of one warm inference, `chain`, one after another as one piece of work),
    handed out in order to the first free worker, as the thread pool does; the last to
    finish ends the run; stretched by the machine's other work (`busy_factor`, from
    `load`, the load average, or the system's)."""
    pieces: dict[object, float] = {}
    for k, j in enumerate(jobs):
        key = ("chain", j.chain) if j.chain is not None else k
        pieces[key] = pieces.get(key, 0.0) + job_seconds(j)
    workers = max(1, min(workers or default_workers(), len(pieces) or 1))
    slow = PARALLEL_SLOWDOWN if workers > 1 else 1.0
    free = [0.0] * workers
    for seconds in pieces.values():
        k = free.index(min(free))
        free[k] += seconds * slow
    return max(free) * busy_factor(workers, load)


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
        r = engine.simulate(jobs[k].hierarchy, jobs[k].layer, progress=update,
                            ccc=jobs[k].three_c)
        if jobs[k].hierarchy.memory.dram is not None:  # docs/model.md, "DRAM"
            from . import dram
            state = dram.DramState(jobs[k].hierarchy.memory.dram, jobs[k].dram_trace,
                                   jobs[k].dram_gap)
            r.dram = dram.run_layer(jobs[k].hierarchy, jobs[k].layer, state)
        return r

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
        dram_memory = j.hierarchy.memory.dram is not None  # docs/model.md, "DRAM"
        try:
            out = engine.simulate_chain(j.hierarchy, j.chain.steps, j.dtype_bytes,
                                        j.chain.window, update, j.three_c)
        except BaseException as exc:
            done = getattr(exc, "finished_steps", None)
            if dram_memory and done:  # the entries kept are priced as a whole run's are
                from . import dram
                steps, _ = dram.run_chain(j.hierarchy, j.chain.steps[:len(done)],
                                          j.dtype_bytes, j.chain.window)
                for r, d in zip(done, steps, strict=True):
                    r.dram = d
            raise
        if dram_memory:
            from . import dram
            steps, flush = dram.run_chain(j.hierarchy, j.chain.steps, j.dtype_bytes,
                                          j.chain.window)
            for r, d in zip(out[0], steps, strict=True):
                r.dram = d
            out[1].dram = flush
        return out

    return _in_parallel([sum(s.accesses for s in j.chain.steps) for j in jobs], run,
                        workers, progress)
