"""Each config's energy for a layer with its node's figures and with the 45 nm figures it
shipped with before (issue 22), from one compare run.

    python docs/labs/code/node_energy.py out/lab09-nodes.json -o out/lab09-nodes-energy.json

The input is the JSON of `simcache compare CONFIG ... --layer TYPE`. simcache's kernels
count and its accounting prices (docs/model.md section 4), so the counts of the run can be
priced again with other figures: every request that reached a cache level costs its read
figure x bytes_read / 8 and its write figure x bytes_written / 8, run and flush, each
prefetch one 64-bit read, each MAC the MAC figure. The script first prices the run with the
figures of the config file the run names and stops if that does not give the energies the
run printed (so the pricing here is simcache's), then with the figures of BEFORE below.
Main memory keeps the config's figure in both columns: only the cache levels, the registers
and the MACs change with the node. Run it from the root of a clone, after the compare.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from simcache.config import load_hierarchy  # noqa: E402

# The 45 nm figures every chip config shipped with before it had its node's (git b019620,
# configs/*.yaml): Horowitz, ISSCC 2014, Fig. 1.1.9, 45 nm, and the document's register
# range after it, pJ per 64-bit access [low, high]. A level not here keeps its figure.
H = (0.4, 3.7), (1.5, 4.6)  # registers, MAC
BEFORE = {
    "thesis": {"mac": H[1], "registers": H[0], "L1": (10, 100), "L2": (10, 100),
               "L3": (10, 100)},
    "cortex_m7": {"mac": H[1], "registers": H[0], "L1D": (10, 20)},
    "rpi4": {"mac": H[1], "registers": H[0], "L1D": (20, 20), "L2": (100, 100)},
    "mobile_soc": {"mac": H[1], "registers": H[0], "L1D": (20, 28), "L2": (72, 100),
                   "L3": (100, 138)},
    "server": {"mac": H[1], "registers": H[0], "L1D": (20, 20), "L2": (100, 100),
               "L3": (100, 545)},
    "zen4": {"mac": H[1], "registers": H[0], "L1D": (20, 20), "L2": (100, 100),
             "L3": (100, 500)},
}


def price_level(level: dict, read: tuple, write: tuple) -> tuple[float, float]:
    """pJ (low, high) of one level's requests, run and flush, and its prefetches."""
    rb = level["bytes_read"] + level["flush"]["bytes_read"]
    wb = level["bytes_written"] + level["flush"]["bytes_written"]
    issued = level.get("prefetch", {}).get("issued", 0)
    return tuple(rb / 8 * read[i] + wb / 8 * write[i] + issued * read[i] for i in (0, 1))


def on_chip(run: dict, figures: dict) -> tuple[float, float]:
    """pJ (low, high) of the cache levels, registers and MACs with `figures`:
    name -> (read, write) pairs of (low, high), and 'mac' -> (low, high)."""
    total = [run["totals"]["macs"] * figures["mac"][i] for i in (0, 1)]
    for lv in run["levels"][:-1]:  # the last is main memory
        read, write = figures[lv["name"]]
        e = price_level(lv, read, write)
        total = [total[i] + e[i] for i in (0, 1)]
    return total[0], total[1]


def config_figures(path: str) -> dict:
    h = load_hierarchy(ROOT / path)
    out = {"mac": h.mac_energy}
    for lv in h.levels:
        out[lv.name] = (lv.energy, lv.write_energy or lv.energy)
    return out


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def rows(doc: dict) -> list[dict]:
    out = []
    for run in doc["runs"]:
        name, path = run["config"]["name"], run["config"]["path"]
        now = config_figures(path)
        mem = run["levels"][-1]["energy_pj"]
        after = on_chip(run, now)
        printed = run["totals"]["energy_pj"]
        if not (close(after[0] + mem["low"], printed["low"])
                and close(after[1] + mem["high"], printed["high"])):
            sys.exit(f"error: {name}: pricing the counts with {path} gives "
                     f"{after[0] + mem['low']:.6g}-{after[1] + mem['high']:.6g} pJ, the run "
                     f"printed {printed['low']:.6g}-{printed['high']:.6g} pJ")
        old = {k: ((v, v) if k != "mac" else v) for k, v in BEFORE[name].items()}
        before = on_chip(run, {**now, **old})
        macs = run["totals"]["macs"]
        out.append({
            "config": name, "macs": macs,
            "on_chip_before_pj_low": before[0], "on_chip_before_pj_high": before[1],
            "on_chip_after_pj_low": after[0], "on_chip_after_pj_high": after[1],
            "memory_pj_low": mem["low"], "memory_pj_high": mem["high"],
            "total_before_pj_high": before[1] + mem["high"],
            "total_after_pj_high": after[1] + mem["high"],
            "per_mac_before_pj_high": (before[1] + mem["high"]) / macs,
            "per_mac_after_pj_high": (after[1] + mem["high"]) / macs,
            "on_chip_ratio_high": after[1] / before[1],
        })
    return out


def render(table: list[dict]) -> str:
    heads = ("on-chip 45 nm µJ", "on-chip node µJ", "memory µJ", "total 45 nm µJ",
             "total node µJ", "pJ/MAC 45 nm", "pJ/MAC node")
    lines = [f"{'config':<11}" + "".join(f"{h:>18}" for h in heads)]
    for r in table:
        cells = (f"{r['on_chip_before_pj_low'] / 1e6:.1f}–{r['on_chip_before_pj_high'] / 1e6:.1f}",
                 f"{r['on_chip_after_pj_low'] / 1e6:.1f}–{r['on_chip_after_pj_high'] / 1e6:.1f}",
                 f"{r['memory_pj_high'] / 1e6:.1f}", f"{r['total_before_pj_high'] / 1e6:.1f}",
                 f"{r['total_after_pj_high'] / 1e6:.1f}", f"{r['per_mac_before_pj_high']:.1f}",
                 f"{r['per_mac_after_pj_high']:.1f}")
        lines.append(f"{r['config']:<11}" + "".join(f"{c:>18}" for c in cells))
    lines.append("on-chip: cache levels, registers and MACs (low–high); memory, totals and per "
                 "MAC: high ends")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("compare_json")
    ap.add_argument("-o", "--output", help="write the rows as JSON here")
    args = ap.parse_args()
    table = rows(json.loads(Path(args.compare_json).read_text()))
    print(render(table))
    if args.output:
        Path(args.output).write_text(json.dumps({"rows": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
