"""Where a sweep's points run: in this process, in local worker processes, or on a
dask.distributed cluster (imported only when asked for). The driver alone writes the store.

Each executor hands out `Task`s (simcache.sweep) and gives back `(ok, document or error)`
per point, as they finish. The driver keeps at most a few points per worker in flight, so
that an interrupt stops submitting at once; on Ctrl-C the points still running are
abandoned (a later run of the same sweep does them again), and every finished point is
already committed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent import futures as cf
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SimcacheError
from .store import Store
from .sweep import Point, Sweep, Task, _shown, run_task_safely

INSTALL_DASK = "pip install 'simcache[dask]'"
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler before saying it is unreachable


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C to the driver (the terminal sends it to them all)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Inline:
    """Points one after the other in this process (`--jobs 1`)."""

    workers = 1
    where = "this process"

    def __init__(self) -> None:
        self._done: list[tuple[Any, tuple[bool, Any]]] = []

    def submit(self, task: Task) -> Any:
        handle = object()
        self._done.append((handle, run_task_safely(task)))
        return handle

    def wait(self, handles: list[Any]) -> list[tuple[Any, tuple[bool, Any]]]:
        out, self._done = self._done, []
        return out

    def close(self, abandon: bool = False) -> None:
        pass


class _Processes:
    """A pool of local worker processes, started fresh (spawn): each loads the kernels the
    driver compiled from Numba's cache."""

    def __init__(self, workers: int):
        self.workers = workers
        self.where = f"{workers} local worker processes"
        self.pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return cf.ProcessPoolExecutor(self.workers, mp_context=ctx,
                                      initializer=_ignore_interrupts)

    def submit(self, task: Task) -> Any:
        try:
            return self.pool.submit(run_task_safely, task)
        except cf.process.BrokenProcessPool:  # a worker died: the next points get a new pool
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
            return self.pool.submit(run_task_safely, task)

    def wait(self, handles: list[Any]) -> list[tuple[Any, tuple[bool, Any]]]:
        done, _ = cf.wait(handles, timeout=0.5, return_when=cf.FIRST_COMPLETED)
        out = []
        for f in done:
            try:
                out.append((f, f.result()))
            except cf.process.BrokenProcessPool:
                out.append((f, (False, "a worker process died while this point was running "
                                "or waiting (killed, or out of memory); run the sweep again "
                                "to retry it")))
            except Exception as exc:  # noqa: BLE001 - a task that could not be sent or returned
                out.append((f, (False, f"{type(exc).__name__}: {exc}")))
        return out

    def close(self, abandon: bool = False) -> None:
        if abandon:
            procs = list(getattr(self.pool, "_processes", {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                p.kill()
            for p in procs:
                p.join(5)
        else:
            self.pool.shutdown(wait=True)


class _Dask:
    """A dask.distributed cluster: a running scheduler, or a local cluster started here."""

    def __init__(self, scheduler: str | None, cluster: int | None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            flag = "--scheduler" if scheduler else "--cluster"
            raise SimcacheError([f"{flag}: dask.distributed is not installed; "
                                 f"{INSTALL_DASK}"]) from None
        self.cluster = None
        try:
            if cluster is not None:
                self.cluster = LocalCluster(n_workers=cluster, threads_per_worker=1,
                                            processes=True, dashboard_address=None,
                                            silence_logs=50)
                self.client = Client(self.cluster)
                self.where = f"a local Dask cluster of {cluster} workers"
            elif scheduler is not None and Path(scheduler).is_file():
                self.client = Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT)
                self.where = f"the Dask cluster of {scheduler}"
            else:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
                self.where = f"the Dask scheduler at {scheduler}"
        except Exception as exc:  # noqa: BLE001 - any failure to connect is the flag's problem
            if self.cluster is not None:
                self.cluster.close()
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            flag = "--cluster" if cluster is not None else "--scheduler"
            what = f"start a local cluster of {cluster}" if cluster is not None else \
                f"reach {scheduler}"
            raise SimcacheError([f"{flag}: cannot {what}: {why}"]) from None
        self.workers = max(1, sum(self.client.nthreads().values()))

    def submit(self, task: Task) -> Any:
        return self.client.submit(run_task_safely, task, pure=False)

    def wait(self, handles: list[Any]) -> list[tuple[Any, tuple[bool, Any]]]:
        from dask.distributed import wait

        try:
            done, _ = wait(handles, timeout=0.5, return_when="FIRST_COMPLETED")
        except TimeoutError:  # none finished in the time: the driver looks again
            return []
        out = []
        for f in done:
            try:
                out.append((f, f.result()))
            except Exception as exc:  # noqa: BLE001 - a worker died or the task was lost
                out.append((f, (False, f"{type(exc).__name__}: {exc}")))
        return out

    def close(self, abandon: bool = False) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def executor(jobs: int | None = None, scheduler: str | None = None,
             cluster: str | None = None) -> Any:
    """The executor the flags ask for: `--cluster local:N`, `--scheduler ADDRESS|FILE`, or
    `--jobs N` local processes (1: in this process)."""
    given = [f for f, v in (("--jobs", jobs), ("--scheduler", scheduler), ("--cluster", cluster))
             if v is not None]
    if len(given) > 1:
        raise SimcacheError([f"{' and '.join(given)}: give one of them"])
    if cluster is not None:
        kind, _, n = cluster.partition(":")
        if kind != "local" or not n.isdigit() or not 1 <= int(n) <= 256:
            raise SimcacheError([f"--cluster: {cluster!r}: give local:N with N workers from 1 "
                                 "to 256 (a remote cluster is --scheduler ADDRESS)"])
        return lambda: _Dask(None, int(n))
    if scheduler is not None:
        if not scheduler.strip():
            raise SimcacheError(["--scheduler: give an address (tcp://host:8786) or a "
                                 "scheduler file"])
        return lambda: _Dask(scheduler, None)
    n = jobs if jobs is not None else default_jobs()
    return (lambda: _Inline()) if n == 1 else (lambda: _Processes(n))


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Outcome:
    """What a sweep did: points run now, failed now, found done, and left (interrupted)."""

    total: int
    done_before: int
    ran: int = 0
    failed: int = 0
    left: int = 0
    interrupted: bool = False
    errors: list[str] | None = None
    seconds: float = 0.0
    where: str = ""


Progress = Callable[[int, int, float, float], None]  # points done, total, est. done, est. total


def run_sweep(sweep: Sweep, store: Store, ex: Any, progress: Progress | None = None) -> Outcome:
    """Run every point the store does not hold as done on the executor `ex` (None when
    every point is known to be done or invalid); commit each as it finishes. The caller
    closes the executor."""
    t0 = time.perf_counter()
    finished = store.done()
    todo = [(k, p) for k, p in enumerate(sweep.points) if p.id not in finished]
    out = Outcome(len(sweep.points), len(sweep.points) - len(todo), errors=[])
    est_total = sum(p.estimate for p in sweep.points) or 1.0
    est_done = sum(p.estimate for p in sweep.points if p.id in finished)
    count = out.done_before

    def report() -> None:
        if progress is not None:
            progress(count, out.total, est_done, est_total)

    def keep(k: int, p: Point, ok: bool, value: Any, seconds: float) -> None:
        nonlocal count, est_done
        if ok:
            store.record(p.id, sweep.name, k, p.axes, seconds, doc=value)
            out.ran += 1
        else:
            store.record(p.id, sweep.name, k, p.axes, seconds, error=value)
            out.failed += 1
            out.errors.append(value if p.task is None else f"{_shown(p.axes)}: {value}")
        count += 1
        est_done += p.estimate
        report()

    report()
    runnable = []
    for k, p in todo:  # invalid points are recorded at once, without a worker
        if p.task is None:
            keep(k, p, False, p.error, 0.0)
        else:
            runnable.append((k, p))
    if not runnable:
        out.seconds = time.perf_counter() - t0
        return out
    out.where = ex.where
    pending: dict[Any, tuple[int, Point, float]] = {}
    queue = list(reversed(runnable))
    abandon = False
    try:
        while queue or pending:
            while queue and len(pending) < 2 * ex.workers:
                k, p = queue.pop()
                pending[ex.submit(p.task)] = (k, p, time.perf_counter())
            for handle, (ok, value) in ex.wait(list(pending)):
                k, p, started = pending.pop(handle)
                keep(k, p, ok, value, time.perf_counter() - started)
    except KeyboardInterrupt:
        abandon = True
        out.interrupted = True
        out.left = len(queue) + len(pending)
    except BaseException:
        abandon = True
        raise
    finally:
        if abandon:
            ex.close(abandon=True)
        out.seconds = time.perf_counter() - t0
    return out
