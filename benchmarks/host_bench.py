"""`python benchmarks/bench.py host [--config FILE] [--quick] [--runs N]` (issue 22, item 2).

Each layer × loop order is generated in C with simcache's exact nest (simcache.native),
compiled with this machine's cc at -O2 and at -O3 -march=native, and timed cold (clflush of
its tensors before each run), the best of up to --runs runs; simcache simulates the same
layer on a config of this machine, and each time model's prediction (ecm, the one to quote;
blocking; overlapped) is set against the measured -O2 time: the ratio measured ÷ predicted
per layer, their geometric mean, Spearman's rank correlation over all rows, and whether
each layer's loop orders are ranked as measured. The model is never fitted: its inputs are
the config's fields and the nest. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import subprocess
import sys
import time

from simcache import native
from simcache.api import simulate
from simcache.config import ConfigError, load_hierarchy
from simcache.ecm import geomean, spearman
from simcache.layers import make_layer

# without --config: `simcache host` writes a config of this machine at the start of the run
# (clock, latencies, core fields measured then), kept beside the output
HOST_CONFIG = "benchmarks/host-measured.yaml"

# early and late sizes of each type, scaled so that C runs each in about 0.1-15 ms and
# simcache simulates each in about a second
LAYERS = {
    "spatial-early": dict(type="spatial", M=16, N=16, F=28, K=3),
    "spatial-late": dict(type="spatial", M=64, N=64, F=7, K=3),
    "pointwise-early": dict(type="pointwise", M=32, N=32, F=28, K=1),
    "pointwise-late": dict(type="pointwise", M=256, N=256, F=7, K=1),
    "depthwise-early": dict(type="depthwise", M=32, N=32, F=56, K=3),
    "depthwise-late": dict(type="depthwise", M=256, N=256, F=7, K=3),
    "fc-early": dict(type="fc", M=1024, N=1024, F=1, K=1),
    "fc-late": dict(type="fc", M=4096, N=256, F=1, K=1),
}
# five loop orders: q innermost (y invariant, the taps' tests inside), n outer of it, the
# output plane innermost (y varies), filters innermost (y varies, revisited), channels
# innermost (y invariant, no test)
ORDERS = ("bijnmpq", "bnijmpq", "bnmpqij", "bijpqmn", "bnpqijm")
QUICK_ORDERS = ("bijnmpq", "bijpqmn")
MODELS = ("ecm", "blocking", "overlapped")
# the ECM overlap hypotheses compared on the same parts (docs/model.md §4, "What overlaps
# with what"); simcache uses the first
RULES = {
    "max(T_OL, T_nOL) + T_data (no overlap; simcache)": lambda ol, nol, data: max(ol, nol) + data,
    "max(T_OL, T_nOL + T_data) (Intel)": lambda ol, nol, data: max(ol, nol + data),
    "max(T_OL, T_nOL, T_data) (full overlap)": lambda ol, nol, data: max(ol, nol, data),
}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def predictions(config, layer) -> dict:
    doc = simulate(config, layer).to_dict()
    t = doc["totals"]["time"]
    ecm = t.get("ecm") or {}
    us = 1e-3 / config.clock
    parts = (ecm.get("core_cycles", 0.0), ecm.get("port_cycles", 0.0),
             ecm.get("data_cycles", 0.0))
    return {"ecm": ecm.get("us"), "blocking": t.get("blocking_us"),
            "rules": {rule: f(*parts) * us for rule, f in RULES.items()},
            "overlapped": (t.get("overlapped") or {}).get("us"),
            "ecm_binds": ecm.get("binds"),
            "chain": "; ".join(f"{n['innermost']}: {n['chain']}" + (
                f" {n['run']}" if n["chain"] in ("register", "memory") else "")
                + f" ({n['binds']})" for n in ecm.get("nests", []))}


def pct(r: float) -> str:
    return f"{(r - 1) * 100:+.0f}%"


def concordant(measured: list[float], predicted: list[float], margin: float = 0.10) -> tuple:
    """Pairs of loop orders whose measured times differ by more than `margin`, and how many
    of them the prediction orders the same way."""
    pairs = same = 0
    for a in range(len(measured)):
        for b in range(a + 1, len(measured)):
            lo, hi = sorted((measured[a], measured[b]))
            if hi <= lo * (1 + margin):
                continue
            pairs += 1
            same += (measured[a] < measured[b]) == (predicted[a] < predicted[b])
    return pairs, same


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="bench.py host", description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=None,
                    help=f"a config of this machine (default: run `simcache host` first and "
                         f"write {HOST_CONFIG})")
    ap.add_argument("--quick", action="store_true", help=f"orders {' '.join(QUICK_ORDERS)} only")
    ap.add_argument("--runs", type=int, default=40, help="timed runs per build (best of)")
    args = ap.parse_args(argv)
    if native.compiler() is None:
        raise SystemExit("bench.py host: no C compiler (cc, gcc or clang) on PATH")
    from simcache import host as H

    if args.config is None:
        from simcache.api import host_config

        print("bench.py host: measuring this machine (simcache host) ...", file=sys.stderr)
        result = host_config()
        with open(HOST_CONFIG, "w") as f:
            f.write(result.render("yaml"))
        args.config = HOST_CONFIG
    clock0 = H.measure_clock()
    try:
        config = load_hierarchy(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        raise SystemExit(2) from None
    if config.core is None or config.clock is None:
        print(f"error: {args.config}: the host benchmark needs a config with a clock and a "
              f"core: section (docs/model.md §4)", file=sys.stderr)
        raise SystemExit(2)
    orders = QUICK_ORDERS if args.quick else ORDERS
    load0, start = os.getloadavg(), time.time()
    rows = []
    for name, dims in LAYERS.items():
        for order in orders:
            layer = make_layer(**dims, order=order)
            pred = predictions(config, layer)
            o2 = native.time_layer(layer, "O2", runs=args.runs, budget=1.0)
            o3 = native.time_layer(layer, "O3", runs=args.runs, budget=1.0)
            rows.append({"layer": name, "order": order, "macs": layer_macs(layer),
                         "o2_us": o2.seconds * 1e6, "o3_us": o3.seconds * 1e6,
                         "runs": o2.runs, "load": o2.load[0], **pred})
    print(f"## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC: "
          f"bench.py host\n")
    print(f"- command: `python benchmarks/bench.py host {' '.join(argv)}`".rstrip() + "")
    print(f"- machine: {cpu_model()}, {len(os.sched_getaffinity(0))} CPUs; cc: "
          f"{native.compiler()}; config: `{args.config}`")
    clock1 = H.measure_clock()
    print(f"- clock measured (simcache host's loop) {clock0:.2f} GHz before the timings, "
          f"{clock1:.2f} GHz after; the config's {config.clock:g} GHz converts the model's "
          f"cycles")
    print(f"- load average at start {load0[0]:.2f}, at end {os.getloadavg()[0]:.2f}; each time "
          f"the best of up to {args.runs} cold runs (clflush before each); "
          f"{time.time() - start:.0f} s in all\n")
    print("| layer | order | MACs | -O2 µs | -O3 µs | ecm µs | -O2 ÷ ecm | -O3 ÷ ecm | "
          "-O2 ÷ blocking | -O2 ÷ overlapped | ecm: innermost loop, chain (bound) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['layer']} | {r['order']} | {r['macs']:,} | {r['o2_us']:.0f} | "
              f"{r['o3_us']:.0f} | {r['ecm']:.0f} | {pct(r['o2_us'] / r['ecm'])} | "
              f"{pct(r['o3_us'] / r['ecm'])} | {r['o2_us'] / r['blocking']:.2f}× | "
              f"{r['o2_us'] / r['overlapped']:.2f}× | {r['chain']}, {r['ecm_binds']} |")
    print()
    print("| model | build | geomean measured ÷ predicted | within ±30 % | worst | "
          "Spearman (per MAC, all rows) | order pairs ranked as measured |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in MODELS:
        for build in ("o2", "o3"):
            ratios = [r[f"{build}_us"] / r[model] for r in rows]
            within = sum(0.7 <= x <= 1.3 for x in ratios)
            worst = max(ratios, key=lambda x: abs(math.log(x)))
            rho = spearman([r[f"{build}_us"] / r["macs"] for r in rows],
                           [r[model] / r["macs"] for r in rows])
            pairs = same = 0
            for name in LAYERS:
                mine = [r for r in rows if r["layer"] == name]
                p, s = concordant([r[f"{build}_us"] for r in mine], [r[model] for r in mine])
                pairs, same = pairs + p, same + s
            print(f"| {model} | -{build.upper()} | {geomean(ratios):.2f} | "
                  f"{within}/{len(rows)} | {worst:.2f} | "
                  f"{'–' if rho is None else f'{rho:.2f}'} | {same}/{pairs} |")
    rule_rows(rows)


def rule_rows(rows: list[dict]) -> None:
    print()
    print("| ECM overlap rule (same counts, -O2) | geomean measured ÷ predicted | "
          "within ±30 % | Spearman |")
    print("|---|---:|---:|---:|")
    for rule in RULES:
        ratios = [r["o2_us"] / r["rules"][rule] for r in rows]
        rho = spearman([r["o2_us"] / r["macs"] for r in rows],
                       [r["rules"][rule] / r["macs"] for r in rows])
        print(f"| {rule} | {geomean(ratios):.2f} | {sum(0.7 <= x <= 1.3 for x in ratios)}/"
              f"{len(rows)} | {'–' if rho is None else f'{rho:.2f}'} |")


def layer_macs(layer) -> int:
    from simcache.loopnest import plan

    return plan(layer).iterations
