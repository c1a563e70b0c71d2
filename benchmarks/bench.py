"""simcache benchmarks: `make bench` (or `python benchmarks/bench.py [names]`).

Prints Markdown with the command, machine and date, ready for BENCHMARKS.md. Every figure
is measured in this run, after a warm-up that compiles or loads the kernels.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import sys
import time

import numba
import numpy as np

from simcache import engine
from simcache.config import load_hierarchy
from simcache.layers import build_layer

CONFIG = "configs/thesis.yaml"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    return (f"{cpu}, {cores} cores available; Python {platform.python_version()}, "
            f"NumPy {np.__version__}, Numba {numba.__version__}")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_engine() -> list[str]:
    """The `early` layers of Table 2.2 through registers, L1, L2, L3 and DRAM (one core)."""
    h = load_hierarchy(CONFIG)
    rows = ["| layer (early preset) | accesses | seconds | M accesses/s |", "|---|---:|---:|---:|"]
    for kind in ("spatial", "depthwise", "pointwise"):
        layer = build_layer(kind, "early")
        t0 = time.perf_counter()
        r = engine.simulate(h, layer)
        dt = time.perf_counter() - t0
        rows.append(f"| {kind} | {r.accesses:,} | {dt:.2f} | {r.accesses / dt / 1e6:.1f} |")
    return rows


BENCHES = {"engine": bench_engine}


def main(names: list[str]) -> None:
    seconds, compiled = engine.warm_up()
    print(f"## {datetime.date.today().isoformat()}\n")
    print(f"- command: `{' '.join(['python', 'benchmarks/bench.py', *names])}`")
    print(f"- machine: {machine()}")
    print(f"- kernels: {'compiled' if compiled else 'loaded from cache'} in {seconds:.1f} s "
          "(not counted below)")
    print(f"- config: `{CONFIG}`\n")
    for name in names or list(BENCHES):
        print(f"### {name}\n")
        print("\n".join(BENCHES[name]()))
        print()
    print(f"Peak resident memory of the whole run: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main(sys.argv[1:])
