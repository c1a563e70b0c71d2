"""Lab 13: time a layer's loop nest as C on this machine (simcache.native), beside simcache.

    python docs/labs/code/native_time.py --config FILE --layer pointwise -M 32 -N 32 -F 28 \
        -o out/lab13-native.json

The nest is the one simcache simulates (same order, layout and padding), compiled with the
machine's cc (-O2, or --opt O3 for -O3 -march=native) and run cold, the best of --runs
runs. The JSON holds the layer, the measured seconds (best and mean), the
machine's load when it ran, the time in cycles at the config's clock, and the config's
core: figures.
A measured time is never the same twice on a shared machine: compare it with simcache's
prediction, do not copy it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simcache import native
from simcache.config import load_hierarchy
from simcache.layers import build_layer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="a config with a clock (simcache host's)")
    ap.add_argument("--layer", required=True)
    for dim in ("M", "N", "F", "K"):
        ap.add_argument(f"-{dim}", type=int)
    ap.add_argument("--order", default="bijnmpq")
    ap.add_argument("--opt", choices=sorted(native.OPT_FLAGS), default="O2")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    if native.compiler() is None:
        print("native_time: no C compiler (cc); set CC", file=sys.stderr)
        return 2
    dims = {d: getattr(a, d) for d in ("M", "N", "F", "K") if getattr(a, d) is not None}
    layer = build_layer(a.layer, None, order=a.order, **dims)
    config = load_hierarchy(a.config)
    clock = config.clock
    t = native.time_layer(layer, a.opt, runs=a.runs)
    doc = {"layer": {"type": a.layer, "order": a.order, **dims}, "opt": a.opt,
           "flags": list(t.flags), "seconds": t.seconds, "mean_seconds": t.mean_seconds,
           "runs": t.runs, "load": list(t.load), "cold": t.cold, "clock_ghz": clock,
           "cycles": t.seconds * clock * 1e9 if clock else None,
           # the config's in-core figures (simcache host measures them), for the page's checks
           "core": config.core.model_dump(exclude={"source"}) if config.core else None}
    Path(a.output).write_text(json.dumps(doc, indent=2) + "\n")
    per = f", {doc['cycles']:,.0f} cycles at {clock:g} GHz" if clock else ""
    print(f"{a.layer} -{a.opt}: best of {t.runs} cold runs {t.seconds * 1e3:.3f} ms{per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
