"""The run-time estimate against measured times (BENCHMARKS.md, "Estimates").

    python benchmarks/estimates.py network CONFIG MODEL      # a warm network
    python benchmarks/estimates.py run CONFIG TYPE '{"M": 64, "N": 64, "F": 112}'

Prints one JSON line: the thread CPU time of the simulation (what the estimate's constants
model: one core to itself), the wall time, the load average before and after, and the
estimate (study.estimate_seconds) for an idle core and for the load at the start; and per
entry the CPU time (the engine's timer swapped for the thread's CPU clock), which is what
the constants in simcache/study.py were fitted to. The kernels are loaded (or compiled)
first, outside the times.
"""

from __future__ import annotations

import json
import os
import sys
import time
import types

from simcache import api, engine
from simcache.chain import build_chain
from simcache.layers import build_layer
from simcache.study import Job, busy_factor, estimate_seconds


def main(kind: str, config: str, what: str, dims: str = "{}") -> dict:
    engine.warm_up(needs=("nest", "trace"))
    h, _ = api.load_config(config)
    if kind == "network":
        net, _ = api.load_model(what)
        jobs = [Job(h, layer, chain=0, op_accesses=ops)
                for layer, ops in api._with_ops(build_chain(net))]
    else:
        jobs = [Job(h, build_layer(what, None, **json.loads(dims)))]
    engine.time = types.SimpleNamespace(perf_counter=time.thread_time)  # per-entry CPU
    load0 = os.getloadavg()[0]
    w0, c0 = time.perf_counter(), time.thread_time()
    if kind == "network":
        res = api.network(h, what)
        runs = res.runs + [res.flush_run]
    else:
        res = api.simulate(h, jobs[0].layer)
        runs = [res]
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    idle = estimate_seconds(jobs, 1, load=0.0) / busy_factor(1, 0.0)
    return {
        "command": " ".join(sys.argv[1:]), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                 time.gmtime()),
        "accesses": sum(r.accesses for r in runs), "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2), "load_before": load0, "load_after": os.getloadavg()[0],
        "estimate_idle_s": round(idle, 2),
        "estimate_at_load_s": round(estimate_seconds(jobs, 1, load=load0), 2),
        "entries": [{"name": (r.to_dict().get("entry") or {}).get("name", what),
                     "accesses": r.accesses, "cpu_s": r.seconds} for r in runs],
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
