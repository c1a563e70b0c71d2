"""simcache benchmarks: `make bench` (or `python benchmarks/bench.py [names]`).

Prints Markdown with the command, machine and date, ready for BENCHMARKS.md. Every figure
is measured in this run, after a warm-up that compiles or loads the kernels. Each speed is
the best of REPEAT runs, for every simulator alike: a shared virtual machine slows runs
by up to half, in spells of seconds to minutes, so the runs against pycachesim go in rounds
that time every path once each. Speeds are measured in CPU time of this process (`clock`),
which leaves out the time the host gives the virtual CPU to others; every run is on one
thread. The network and memory sections report wall time.
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
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from helpers import loadstore_items  # noqa: E402  (pycachesim's batched format)

clock = time.process_time  # see the module's docstring


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
        dt = float("inf")
        for _ in range(REPEAT):
            t0 = clock()
            r = engine.simulate(h, layer)
            dt = min(dt, clock() - t0)
        rows.append(f"| {kind} | {r.accesses:,} | {dt:.2f} | {r.accesses / dt / 1e6:.1f} |")
    return rows


# ---------------------------------------------------------------- against pycachesim

PREFIX = 8_000_000  # accesses of each trace given to the peer (its per-access path: 2 M)
REPEAT = 5  # every path of both simulators is timed this often; the best run counts


def caches_only():
    """The thesis hierarchy without the register level: pycachesim has none."""
    from simcache.config import Hierarchy
    d = load_hierarchy(CONFIG).model_dump()
    d["levels"] = d["levels"][1:]
    return Hierarchy.model_validate(d)


def pycachesim_hierarchy(geometry):
    from cachesim import Cache, CacheSimulator, MainMemory
    below, levels = None, []
    for g in reversed(geometry):
        below = Cache(g.name, g.sets, g.ways, g.line, "LRU", load_from=below, store_to=below)
        levels.insert(0, below)
    mem = MainMemory()
    mem.load_to(levels[-1])
    mem.store_from(levels[-1])
    return CacheSimulator(levels[0], mem), levels


def layer_prefix(layer, n):
    from simcache.loopnest import plan, trace_chunks
    parts, have = [], 0
    for chunk in trace_chunks(plan(layer), chunk=1 << 20):
        parts.append(chunk)
        have += len(chunk[0])
        if have >= n:
            break
    return [np.concatenate([c[k] for c in parts])[:n] for k in range(4)]


def bench_peers() -> list[str]:
    """The same address streams through the same L1/L2/L3 (LRU, write-back), one core."""
    h = caches_only()
    geometry = h.geometry(4)
    rows = ["| layer (early preset) | simulator and path | accesses timed | M accesses/s |"
            " simcache ÷ this |", "|---|---|---:|---:|---:|"]
    for kind in ("spatial", "pointwise", "depthwise"):
        rows += peer_rows(kind, h, geometry)
    return rows


def peer_rows(kind, h, geometry) -> list[str]:
    """One layer's rows of bench_peers: every path timed REPEAT times, the best kept.

    The runs go in rounds, one run of every path per round, so that a slow spell of the
    shared machine (which lasts seconds to minutes) falls on all of them alike."""
    import gc

    from simcache.engine import State
    rows = []
    layer = build_layer(kind, "early")
    addr, size, is_write, tensor = layer_prefix(layer, PREFIX)
    n = len(addr)

    # simcache, replaying the materialised trace (arrays in memory), from cold caches
    def sc_replay():
        state = State(geometry)
        t0 = clock()
        state.replay(addr, size, is_write, tensor)
        return n / (clock() - t0)

    # simcache, the whole layer with addresses generated in the kernel
    accesses = []

    def sc_layer():
        t0 = clock()
        r = engine.simulate(h, layer)
        accesses.append(r.accesses)
        return r.accesses / (clock() - t0)
    # pycachesim, fastest correct per-access call (its load()/store() mis-parse addresses)
    m = min(n, 2_000_000)
    aa, ww = addr[:m].tolist(), is_write[:m].tolist()

    def pcs_per_access():
        _, lv = pycachesim_hierarchy(geometry)
        load, store = lv[0].backend.iterload, lv[0].backend.iterstore
        t0 = clock()
        for a, w in zip(aa, ww, strict=True):
            (store if w else load)((a,), 4)
        return m / (clock() - t0)

    # pycachesim, batched C call: lists built per 1 M accesses, core time and end to end
    def pcs_batched():
        _, lv = pycachesim_hierarchy(geometry)
        core = total = 0.0
        for k in range(0, n, 1 << 20):
            t0 = clock()
            items = loadstore_items(addr[k:k + (1 << 20)], is_write[k:k + (1 << 20)])
            t1 = clock()
            lv[0].backend.loadstore(items, 4)
            t2 = clock()
            core += t2 - t1
            total += t2 - t0
        return n / core, n / total

    gc.disable()
    rounds = [(sc_layer(), sc_replay(), pcs_per_access(), *pcs_batched())
              for _ in range(REPEAT)]
    gc.enable()
    sc_nest, sc_trace, pcs_one, pcs_core, pcs_e2e = (max(col) for col in zip(*rounds, strict=True))
    for path, timed, rate in (
        ("simcache, in-kernel layer (whole layer)", accesses[0], sc_nest),
        ("simcache, trace arrays", n, sc_trace),
        ("pycachesim, per access (`iterload`/`iterstore`)", m, pcs_one),
        ("pycachesim, `loadstore` end to end (lists built)", n, pcs_e2e),
        ("pycachesim, `loadstore` C call only", n, pcs_core),
    ):
        ratios = "" if path.startswith("simcache") else \
            f"{sc_trace / rate:.1f}× (trace) · {sc_nest / rate:.1f}× (layer)"
        rows.append(f"| {kind} | {path} | {timed:,} | {rate / 1e6:.1f} | {ratios} |")
    return rows


# ---------------------------------------------------------------- replaying trace files

REPLAY_FC = dict(type="fc", M=2048, N=1024, F=1, K=1)  # 8,388,608 accesses
REPLAY_DIR = os.environ.get("SIMCACHE_BENCH_DIR", "/tmp/simcache-bench")


def replay_hierarchy():
    """L1/L2/L3 of the thesis config without registers, L3 8 MiB: Dinero IV takes only
    power-of-two sizes, so every simulator gets this one."""
    from simcache.config import Hierarchy
    d = caches_only().model_dump()
    d["levels"][2]["size"] = 8 << 20
    return Hierarchy.model_validate(d)


def dinero_flags(geometry) -> list[str]:
    flags = []
    for k, g in enumerate(geometry, 1):
        c = "d" if k == 1 else "u"
        flags += [f"-l{k}-{c}size", str(g.sets * g.ways * g.line), f"-l{k}-{c}bsize",
                  str(g.line), f"-l{k}-{c}assoc", str(g.ways), f"-l{k}-{c}repl", "l",
                  f"-l{k}-{c}wback", "a", f"-l{k}-{c}walloc", "a"]
    return flags


def dinero_misses(text: str) -> list[int]:
    """Demand misses per level ('Demand Misses' total column) from Dinero IV's report."""
    return [int(float(line.split()[2])) for line in text.splitlines()
            if line.startswith(" Demand Misses")]


def bench_replay() -> list[str]:
    """One fc trace as din, lackey, bin and din.gz, replayed through the same L1/L2/L3 by
    simcache (CPU time and wall time, best of three, kernels compiled before; a gzipped
    file is inflated on a second thread, so its CPU time includes that work), Dinero IV
    (wall time of the process, start included) and pycachesim (the batched C call, lists
    built outside the timing)."""
    import gzip
    import shutil
    import subprocess

    from simcache import kernels as K
    from simcache.api import replay
    from simcache.layers import make_layer
    from simcache.loopnest import plan, trace_chunks
    from simcache.traces import TraceReader, write_trace
    os.makedirs(REPLAY_DIR, exist_ok=True)
    layer = make_layer(**REPLAY_FC)
    paths = {ext: os.path.join(REPLAY_DIR, f"fc.{ext}") for ext in ("din", "bin", "din.gz",
                                                                    "lackey")}
    for ext in ("din", "bin", "din.gz"):
        if not os.path.exists(paths[ext]):
            write_trace(plan(layer), paths[ext])
    if not os.path.exists(paths["lackey"]):
        with open(paths["lackey"], "w") as f:
            for a, s, w, _ in trace_chunks(plan(layer), 1 << 20):
                f.write("".join(f" {'S' if wi else 'L'} {ai:08x},{si}\n" for ai, si, wi in
                                zip(a.tolist(), s.tolist(), w.tolist(), strict=True)))
    h = replay_hierarchy()
    geometry = h.geometry(4)
    rows = ["| file | MB | simulator | seconds | read MB/s (uncompressed) | M accesses/s "
            "| L1 / L2 / L3 misses |", "|---|---:|---|---:|---:|---:|---|"]

    def mb(p):
        return os.path.getsize(p) / 1e6

    def misses(r):
        c = r.counters[0].sum(axis=1)  # run phase, summed over tensors
        return [int(c[lv, K.READS] + c[lv, K.WRITES] - c[lv, K.READ_HITS] - c[lv, K.WRITE_HITS])
                for lv in range(len(geometry))]

    ours = {}
    for ext in ("din", "lackey", "bin", "din.gz"):
        p = paths[ext]
        t0 = clock()
        n = sum(len(c[0]) for c in TraceReader(p))
        parse = clock() - t0
        dt = wall = float("inf")
        for _ in range(3):  # best of three, in CPU time and in wall time
            t0, w0 = clock(), time.perf_counter()
            r = replay(h, p)  # as `simcache replay` runs it: parsing a chunk ahead
            dt, wall = min(dt, clock() - t0), min(wall, time.perf_counter() - w0)
        ours[ext] = [r.levels[g.name].misses for g in geometry]
        text_mb = mb(paths["din"]) if ext == "din.gz" else mb(p)  # bytes parsed
        rows.append(f"| fc.{ext} | {mb(p):.0f} | simcache | {dt:.2f} ({wall:.2f} wall) | "
                    f"{text_mb / parse:.0f} | {n / dt / 1e6:.1f} | "
                    f"{' / '.join(f'{m:,}' for m in ours[ext])} |")
    with open(paths["din.gz"], "rb") as raw:
        t0 = clock()
        f = gzip.GzipFile(fileobj=raw)
        size = 0
        while block := f.read(1 << 20):
            size += len(block)
        gz_s = clock() - t0
    rows.append(f"| fc.din.gz | {mb(paths['din.gz']):.0f} | gzip decompression alone "
                f"(Python zlib) | {gz_s:.2f} | {size / 1e6 / gz_s:.0f} (out) | | |")

    dinero = os.environ.get("DINEROIV") or shutil.which("dineroIV")
    if not dinero or not os.access(dinero, os.X_OK):
        rows.append("")
        rows.append("Dinero IV skipped: set DINEROIV or put dineroIV on PATH (build it from "
                    "d4-7.tar.gz of github.com/danluu/dineroIV: ./configure && make).")
    else:
        for ext, informat in (("din", "d"), ("bin", "b")):
            with open(paths[ext], "rb") as f:
                t0 = time.perf_counter()
                out = subprocess.run([dinero, "-informat", informat, *dinero_flags(geometry)],
                                     stdin=f, capture_output=True, text=True, check=True).stdout
                dt = time.perf_counter() - t0
            m = dinero_misses(out)
            same = "agree" if m == ours["din"] else "DIFFER"
            rows.append(f"| fc.{ext} | {mb(paths[ext]):.0f} | Dinero IV | {dt:.2f} | "
                        f"{mb(paths[ext]) / dt:.0f} (whole run) | {n / dt / 1e6:.1f} | "
                        f"{' / '.join(f'{x:,}' for x in m)} ({same} with simcache) |")

    r = TraceReader(paths["bin"])
    chunks = list(r)
    _, lv = pycachesim_hierarchy(geometry)
    core = 0.0
    for a, _s, w, _t in chunks:
        for k in range(0, len(a), 1 << 20):
            items = loadstore_items(a[k:k + (1 << 20)], w[k:k + (1 << 20)])
            t0 = clock()
            lv[0].backend.loadstore(items, 4)
            core += clock() - t0
    pm = [c.stats()["MISS_count"] for c in lv]  # its own count (write-allocate loads)
    rows.append(f"| (arrays) | | pycachesim, `loadstore` C call only | {core:.2f} | | "
                f"{n / core / 1e6:.1f} | {' / '.join(f'{x:,}' for x in pm)} |")
    return rows


# ---------------------------------------------------------------- 3C classification


def bench_ccc() -> list[str]:
    """What --3c costs: the early layers with and without classification (in-kernel, CPU
    time, best of REPEAT), through the thesis hierarchy (registers first) and through its
    L1/L2/L3 alone; and Dinero IV on the fc din trace with and without -Tccc (wall time of
    the process), where DINEROIV is set."""
    import shutil
    import subprocess

    from simcache.layers import make_layer
    from simcache.loopnest import plan
    from simcache.traces import write_trace
    engine.warm_up(ccc=True)
    rows = ["| hierarchy | layer (early preset) | accesses | plain s | --3c s | --3c ÷ plain |",
            "|---|---|---:|---:|---:|---:|"]
    for name, h in (("thesis (registers, L1, L2, L3)", load_hierarchy(CONFIG)),
                    ("L1, L2, L3", caches_only())):
        for kind in ("spatial", "depthwise", "pointwise"):
            layer = build_layer(kind, "early")
            best = {}
            for _ in range(REPEAT):
                for ccc in (False, True):
                    t0 = clock()
                    r = engine.simulate(h, layer, ccc=ccc)
                    best[ccc] = min(best.get(ccc, float("inf")), clock() - t0)
            rows.append(f"| {name} | {kind} | {r.accesses:,} | {best[False]:.2f} | "
                        f"{best[True]:.2f} | {best[True] / best[False]:.2f}× |")
    dinero = os.environ.get("DINEROIV") or shutil.which("dineroIV")
    if dinero and os.access(dinero, os.X_OK):
        os.makedirs(REPLAY_DIR, exist_ok=True)
        path = os.path.join(REPLAY_DIR, "fc.din")
        if not os.path.exists(path):
            write_trace(plan(make_layer(**REPLAY_FC)), path)
        geometry = replay_hierarchy().geometry(4)
        times = {}
        for ccc in (False, True):
            flags = dinero_flags(geometry)
            if ccc:
                flags += [f"-l{k}-{'d' if k == 1 else 'u'}ccc" for k in range(1, 4)]
            with open(path, "rb") as f:
                t0 = time.perf_counter()
                subprocess.run([dinero, "-informat", "d", *flags], stdin=f,
                               capture_output=True, check=True)
                times[ccc] = time.perf_counter() - t0
        from simcache.api import replay
        for ccc in (False, True):
            t0 = time.perf_counter()
            replay(replay_hierarchy(), path, three_c=ccc)
            times[("simcache", ccc)] = time.perf_counter() - t0
        rows += ["", "| fc.din (8.4 M accesses), L1/L2/L3, wall s | plain | 3C | 3C ÷ plain |",
                 "|---|---:|---:|---:|",
                 f"| Dinero IV (-Tccc) | {times[False]:.2f} | {times[True]:.2f} | "
                 f"{times[True] / times[False]:.2f}× |",
                 f"| simcache replay (--3c) | {times[('simcache', False)]:.2f} | "
                 f"{times[('simcache', True)]:.2f} | "
                 f"{times[('simcache', True)] / times[('simcache', False)]:.2f}× |"]
    return rows


# ---------------------------------------------------------------- whole networks, memory


def bench_vgg16() -> list[str]:
    """Every VGG16 layer exactly through registers, L1, L2, L3 and DRAM, on both cores."""
    from simcache.accounting import summarize
    from simcache.network import load_network
    from simcache.study import Job, default_workers, run_jobs
    h = load_hierarchy(CONFIG)
    net = load_network("models/vgg16.yaml")
    jobs = [Job(h, x.layer) for x in net.simulated]
    t0 = time.perf_counter()
    results = run_jobs(jobs)
    wall = time.perf_counter() - t0
    rows = ["| layer | accesses | simulation s | M accesses/s | cycles |",
            "|---|---:|---:|---:|---:|"]
    conv_s = conv_n = 0
    for x, r in zip(net.simulated, results, strict=True):
        cycles = summarize(r, h)["totals"]["cycles"]
        rows.append(f"| {x.name} | {r.accesses:,} | {r.seconds:.1f} | "
                    f"{r.accesses / r.seconds / 1e6:.1f} | {cycles:,} |")
        if x.type != "fc":
            conv_s += r.seconds
            conv_n += r.accesses
    rows.append("")
    rows.append(f"Conv stack (13 layers): {conv_n:,} accesses, {conv_s:.0f} s of simulation "
                f"({conv_n / conv_s / 1e6:.1f} M accesses/s per core). Whole network "
                f"(16 layers) on {default_workers()} workers: {wall:.0f} s wall time.")
    return rows


def bench_memory() -> list[str]:
    """Peak resident memory of a fresh process simulating one large layer."""
    import subprocess
    cases = [("VGG16 fc6 (411 MB of weights)", "--layer fc -M 25088 -N 4096"),
             ("VGG16 conv1_2 (224², 64→64)", "--layer spatial -M 64 -N 64 -F 224 -K 3")]
    rows = ["| layer | command | peak RSS MiB | seconds |", "|---|---|---:|---:|"]
    for name, flags in cases:
        cmd = f"simcache run {CONFIG} {flags} -f json --no-progress"
        code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
                f"subprocess.run({cmd.split()!r}, check=True, stdout=subprocess.DEVNULL); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
                "time.perf_counter() - t)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        rows.append(f"| {name} | `{cmd}` | {float(out[0]):.0f} | {float(out[1]):.1f} |")
    return rows


# ---------------------------------------------------------------- miss-ratio curves


def bench_mrc() -> list[str]:
    """`simcache mrc` on two early layers, for each level of the thesis hierarchy: CPU
    time of the stack-distance pass alone (mrc.Stacks.feed) per request of the level, of
    the whole measurement (the tap kernels over the levels above, and the stacks) per
    request, and against one plain run of the whole hierarchy (engine.simulate). Best of
    MRC_REPEAT; default bounds (docs/model.md, Miss-ratio curves)."""
    from simcache import kernels as K
    from simcache import mrc

    h = load_hierarchy(CONFIG)
    spent = [0.0]
    real_feed = mrc.Stacks.feed

    def timed_feed(self, recs, n):
        t0 = clock()
        real_feed(self, recs, n)
        spent[0] += clock() - t0

    rows = ["| layer (early) | level | max lines, ways | requests | stacks ns/request | "
            "mrc ns/request | mrc s | plain run s | mrc ÷ run |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    mrc.Stacks.feed = timed_feed
    try:
        for kind in ("depthwise", "pointwise"):
            layer = build_layer(kind, "early")
            run = min(_cpu(lambda lay=layer: engine.simulate(h, lay)) for _ in range(MRC_REPEAT))
            for k, g in enumerate(h.geometry(4)):
                lines, ways = mrc.default_bounds(h, g, h.geometry(4))
                best_all = best_feed = float("inf")
                for _ in range(MRC_REPEAT):
                    spent[0] = 0.0
                    t0 = clock()
                    c = mrc.measure(h, k, 4, lines, ways, layer=layer)
                    best_all = min(best_all, clock() - t0)
                    best_feed = min(best_feed, spent[0])
                rows.append(f"| {kind} | {g.name} | {lines:,}, {ways} | {c.requests:,} | "
                            f"{1e9 * best_feed / c.requests:.0f} | "
                            f"{1e9 * best_all / c.requests:.0f} | {best_all:.2f} | "
                            f"{run:.2f} | {best_all / run:.2f}× |")
    finally:
        mrc.Stacks.feed = real_feed
    assert K.RUN_NEST_TAP  # the tap kernels were the ones timed
    return rows


def _cpu(fn) -> float:
    t0 = clock()
    fn()
    return clock() - t0


MRC_REPEAT = 3

def with_prefetch(h, level: int, policy: str, distance: int = 1):
    """`h` with level `level` prefetching."""
    from simcache.config import Hierarchy
    d = h.model_dump()
    d["levels"][level].update(prefetch=policy, prefetch_distance=distance)
    return Hierarchy.model_validate(d)


def bench_prefetch() -> list[str]:
    """What prefetch costs: the depthwise and pointwise early layers (in-kernel, CPU time,
    best of 3), plain and with the L1 prefetching (each policy, distance 1), through the
    thesis hierarchy (registers first; L1 is its second level) and through its L1/L2/L3
    alone (L1 first)."""
    rows = ["| hierarchy | layer (early preset) | accesses | plain s | always s | miss s | "
            "tagged s | tagged ÷ plain |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, h, l1 in (("thesis (registers, L1, L2, L3)", load_hierarchy(CONFIG), 1),
                        ("L1, L2, L3", caches_only(), 0)):
        hs = {"plain": h, **{p: with_prefetch(h, l1, p) for p in ("always", "miss", "tagged")}}
        for kind in ("depthwise", "pointwise"):
            layer = build_layer(kind, "early")
            engine.simulate(hs["tagged"], layer)  # compiles the prefetch kernels
            best = {}
            for _ in range(3):
                for key, hh in hs.items():
                    t0 = clock()
                    r = engine.simulate(hh, layer)
                    best[key] = min(best.get(key, float("inf")), clock() - t0)
            rows.append(f"| {name} | {kind} | {r.accesses:,} | " + " | ".join(
                f"{best[k]:.2f}" for k in hs) + f" | {best['tagged'] / best['plain']:.1f}× |")
    return rows


COMPILE_PROBE = """
import json, sys, time
from simcache import engine
for family, hashed in json.loads(sys.argv[1]):
    steps, run = engine.unit_steps(family, hashed)
    c0, w0 = time.process_time(), time.perf_counter()
    run()
    print(json.dumps([family, hashed, time.process_time() - c0, time.perf_counter() - w0]))
"""


def _compile_run(units: list, jobs: int = 1) -> list:
    """Compile `units` in order in a fresh process with an empty Numba cache: [family,
    hashed, CPU s, wall s] each."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run([sys.executable, "-c", COMPILE_PROBE, json.dumps(units)],
                              capture_output=True, text=True, check=True,
                              env=dict(os.environ, NUMBA_CACHE_DIR=cache))
    return [json.loads(line) for line in done.stdout.splitlines()]


def bench_compile() -> list[str]:
    """Cold compile of every kernel family (engine.FAMILIES): each variant's units, in
    engine order, in a fresh process with an empty Numba cache, the variants at once (CPU
    time of each compiling process: Numba compiles on one thread, so the others' load
    does not count). A unit's own loop is its time when the variant's request path is
    compiled already: for the first unit (a nest, scanned), the time of the same family's
    hashed unit stands in; the request path and flush, the first unit's time less that.
    Gives engine._PATH_S and _LOOP_S."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [engine.all_units(f"{v}-{lp}" for lp in engine.LOOPS) for v in engine.VARIANTS]
    with ThreadPoolExecutor(len(jobs)) as pool:
        runs = list(pool.map(_compile_run, jobs))
    rows = ["| family | first level | loop CPU s | wall s |", "|---|---|---:|---:|"]
    path, table = {}, {}
    for v, run in zip(engine.VARIANTS, runs, strict=True):
        print(v, run, file=sys.stderr, flush=True)
        first, second = run[0], run[1]  # the same family, scanned then hashed
        path[v] = (first[2] - second[2], first[3] - second[3])
        run[0] = [first[0], first[1], second[2], second[3]]
        for f, h, cpu, wall in run:
            table.setdefault(f, [0.0, 0.0])[h] = round(cpu, 1)
            rows.append(f"| {f} | {engine.KIND[h]} | {cpu:.1f} | {wall:.1f} |")
    rows += ["", "| variant | request path and flush, CPU s | wall s |", "|---|---:|---:|"]
    rows += [f"| {v} | {c:.1f} | {w:.1f} |" for v, (c, w) in path.items()]
    rows += ["", "engine.py:", "", "    _PATH_S = " + repr({v: round(c, 1) for v, (c, _) in
                                                        path.items()}),
             "    _LOOP_S = " + repr({f: tuple(t) for f, t in table.items()})]
    return rows


BENCHES = {"compile": bench_compile, "engine": bench_engine, "prefetch": bench_prefetch,
           "peers": bench_peers, "memory": bench_memory, "vgg16": bench_vgg16,
           "replay": bench_replay, "ccc": bench_ccc, "mrc": bench_mrc}
DEFAULT = ("engine", "peers", "memory", "replay", "ccc")  # vgg16 takes minutes: ask for it by name


def main(names: list[str]) -> None:
    seconds, compiled = engine.warm_up()
    print(f"## {datetime.date.today().isoformat()}\n")
    print(f"- command: `{' '.join(['python', 'benchmarks/bench.py', *names])}`")
    print(f"- machine: {machine()}")
    print(f"- kernels: {'compiled' if compiled else 'loaded from cache'} in {seconds:.1f} s "
          "(not counted below)")
    print(f"- config: `{CONFIG}`\n")
    for name in names or DEFAULT:
        print(f"### {name}\n")
        print("\n".join(BENCHES[name]()))
        print()
    print(f"Peak resident memory of the whole run: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["host"]:  # measured against predicted on this machine (issue 22)
        sys.path.insert(0, os.path.dirname(__file__))
        import host_bench

        host_bench.main(sys.argv[2:])
    else:
        main(sys.argv[1:])
