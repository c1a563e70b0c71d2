"""Sum a network comparison by kind of entry: where each config's time, energy and DRAM
traffic go.

    python docs/labs/code/by_kind.py out/lab12-warm.json -o out/lab12-warm-kinds.json

The input is the JSON of `simcache compare A B ... --network MODEL` (warm or --cold). Each
entry of the network is one kind: its layer type (spatial, pointwise, depthwise, ...),
`operators` for the pooling, additions, activations and softmax of a warm inference, or
`flush` for its end. For every config and kind the output gives the entries, MACs, cycles,
the blocking and overlapped time (docs/model.md section 4), the overlapped time by the bound
that binds each entry, energy and DRAM bytes, and each one's share of the config's total;
the entry with the most cycles, energy and DRAM bytes on each config (`most`); and the
energy of the entries by level and for the MACs (`energy_by_level`; a warm inference's
flush is left out there, as a compare keeps only its total); the bytes of every weight
tensor (`weight_bytes`), and the bytes the entries read from and wrote to DRAM
(`dram_read_bytes`, `dram_written_bytes`, the flush again left out).
It prints the same as a table. Run it from the root of a clone, after the compare.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SUMMED = ("entries", "macs", "cycles", "blocking_us", "overlapped_us", "energy_pj_low",
          "energy_pj_high", "dram_bytes")
SHARED = ("cycles", "blocking_us", "overlapped_us", "energy_pj_high", "dram_bytes")


def kind(row: dict) -> str:
    if row["type"] == "flush":
        return "flush"
    return "operators" if row.get("op") else row["type"]


def add(kinds: dict, ghz: float, name: str, fig: dict, overlapped_us: float,
        bound: str | None) -> None:
    """Add one entry's figures on one config to the sums of its kind."""
    k = kinds.setdefault(name, {"name": name, **{f: 0 for f in SUMMED}, "by_bound_us": {}})
    k["entries"] += 1
    k["macs"] += fig.get("macs", 0) or 0
    k["cycles"] += fig["cycles"]
    k["blocking_us"] += fig["cycles"] / (ghz * 1e3)
    k["overlapped_us"] += overlapped_us
    k["energy_pj_low"] += fig["energy_pj_low"]
    k["energy_pj_high"] += fig["energy_pj_high"]
    k["dram_bytes"] += fig["dram_bytes"]
    if bound is not None:
        k["by_bound_us"][bound] = k["by_bound_us"].get(bound, 0.0) + overlapped_us


def by_kind(doc: dict) -> list[dict]:
    out = []
    for c, total in enumerate(doc["totals"]):
        time = total.get("time")
        if not time:
            sys.exit(f"error: {total['config']}: no clock in the config, so no time")
        ghz = time["clock_ghz"]
        runs = doc["runs"][c]
        layer_rows = [r for r in doc["rows"] if r["type"] != "flush"]
        if len(runs) != len(layer_rows):
            sys.exit("error: the runs do not match the rows; is this a compare --network JSON?")
        kinds: dict[str, dict] = {}

        for row, run in zip(layer_rows, runs, strict=True):
            fig = row["configs"][c]
            ov = run["totals"]["time"]["overlapped"]
            add(kinds, ghz, kind(row), {**fig, "macs": row["macs"]}, ov["us"] or 0.0, ov["bound"])
        flush = [r for r in doc["rows"] if r["type"] == "flush"]
        if flush:
            # the flush's own document is not kept in a compare: its overlapped time is what
            # the inference's total has beyond its entries'
            rest = time["overlapped_us"] - sum(k["overlapped_us"] for k in kinds.values())
            by = dict(time["by_bound_us"])
            for k in kinds.values():
                for b, us in k["by_bound_us"].items():
                    by[b] -= us
            bound = max(by, key=by.get) if by and max(by.values()) > 1e-9 else None
            add(kinds, ghz, "flush", flush[0]["configs"][c], rest, bound)
        totals = {f: sum(k[f] for k in kinds.values()) for f in SUMMED}
        for k in kinds.values():
            for f in SHARED:
                k[f"{f}_share"] = k[f] / totals[f] if totals[f] else None
            k["bound"] = (max(k["by_bound_us"], key=k["by_bound_us"].get)
                          if k["by_bound_us"] else None)
        levels: dict[str, dict] = {}
        for run in runs:
            parts = [(lv["name"], lv["energy_pj"]) for lv in run["levels"]]
            parts.append(("MACs", run["totals"]["mac_energy_pj"]))
            for name, e in parts:
                lv = levels.setdefault(name, {"name": name, "energy_pj_low": 0.0,
                                              "energy_pj_high": 0.0})
                lv["energy_pj_low"] += e["low"]
                lv["energy_pj_high"] += e["high"]
        memory = [run["levels"][-1] for run in runs]
        weights = sum(t["bytes"] for run in runs if run.get("layer")
                      for t in run["layer"]["tensors"] if t["name"].startswith("w"))
        figs = [(r["name"], r["configs"][c]) for r in doc["rows"]]
        most = {f: max(figs, key=lambda nf, f=f: nf[1][f])[0]
                for f in ("cycles", "energy_pj_high", "dram_bytes")}
        out.append({"config": total["config"], "totals": totals, "most": most,
                    "energy_by_level": list(levels.values()),
                    "weight_bytes": weights,
                    "dram_read_bytes": sum(m["bytes_read"] for m in memory),
                    "dram_written_bytes": sum(m["bytes_written"] for m in memory),
                    "kinds": sorted(kinds.values(), key=lambda k: -k["blocking_us"])})
    return out


def table(configs: list[dict]) -> None:
    head = ["config", "kind", "entries", "MACs", "blocking ms", "share", "overlapped ms",
            "share", "bound", "energy µJ (high)", "DRAM KiB"]
    rows = [head]
    for c in configs:
        for k in c["kinds"]:
            rows.append([c["config"], k["name"], f"{k['entries']}", f"{k['macs']:,}",
                         f"{k['blocking_us'] / 1e3:.3f}", f"{k['blocking_us_share']:.1%}",
                         f"{k['overlapped_us'] / 1e3:.3f}",
                         "–" if k["overlapped_us_share"] is None
                         else f"{k['overlapped_us_share']:.1%}",
                         k["bound"] or "–", f"{k['energy_pj_high'] / 1e6:,.1f}",
                         f"{k['dram_bytes'] / 1024:,.1f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(x.rjust(w) if i > 1 else x.ljust(w)
                        for i, (x, w) in enumerate(zip(r, widths, strict=True))).rstrip())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("compare", type=Path, help="JSON of simcache compare ... --network")
    ap.add_argument("-o", "--output", type=Path, help="write the sums as JSON here")
    args = ap.parse_args(argv)
    if not args.compare.exists():
        sys.exit(f"error: {args.compare}: not there; run the lab's commands first")
    doc = json.loads(args.compare.read_text(encoding="utf-8"))
    if "rows" not in doc or "runs" not in doc or "network" not in doc:
        sys.exit(f"error: {args.compare}: not the JSON of simcache compare --network")
    configs = by_kind(doc)
    table(configs)
    if args.output:
        args.output.write_text(json.dumps({"network": doc["network"]["name"],
                                           "warm": doc.get("warm"), "configs": configs},
                                          indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
