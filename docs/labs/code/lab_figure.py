"""Draw the trend of a lab from the JSON results its page's commands wrote under out/.

    python docs/labs/code/lab_figure.py 03      # writes out/lab03-line-size.png
    python docs/labs/code/lab_figure.py 12      # out/lab12-time.png

Run it from the root of a clone, after the lab's commands. It prints the numbers it plots,
a line per point, and writes a PNG that carries those numbers too (simcache.plots.save);
tests/test_labs.py compares them with the figure committed under docs/labs/figures/.
The figure is drawn with simcache.plots' own panels (trend_lines, three_c_counts).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from simcache import plots

OUT = Path("out")


def load(name: str) -> dict:
    path = OUT / name
    if not path.exists():
        sys.exit(f"error: {path}: not there; run the lab's commands first")
    return json.loads(path.read_text(encoding="utf-8"))


def level(doc: dict, name: str) -> dict:
    return next(lv for lv in doc["levels"] if lv["name"] == name)


def cache(doc: dict) -> str:
    """The L1 of a lab config in words: 4 KiB, 4-way, 64 B lines, LRU."""
    g = level(doc, "L1")["geometry"]
    ways = "fully associative" if g["sets"] == 1 else f"{g['ways']}-way"
    return f"{g['size'] // 1024} KiB {ways} L1, {g['line']} B lines, {g['policy'].upper()}"


def layer(doc: dict) -> str:
    lay = doc["layer"]
    dims = f"B={lay['B']} M={lay['M']} N={lay['N']}"
    return f"{lay['type']} {dims}" + (f" F={lay['F']}" if lay["type"] != "fc" else "")


def table(head: list[str], rows: list[list]) -> None:
    """The plotted numbers, right-aligned under their heads."""
    cells = [head] + [[f"{v:,}" if isinstance(v, int) else
                       f"{v:.4g}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(head))]
    for r in cells:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)).rstrip())


# ---------------------------------------------------------------- one function per lab


def lab03():
    """Weight misses and DRAM traffic against the line size, in both orders."""
    lines = [16, 64, 256]
    orders = [("mn", "bijnmpq (m innermost: along rows)"),
              ("nm", "bijmnpq (n innermost: down columns)")]
    docs = {o: [load(f"lab03-{o}-line{n}.json") for n in lines] for o, _ in orders}
    fig, (miss, dram) = plots.panels_figure(2, 2, 11.0, 4.2)
    plots.trend_lines(miss, [(label, lines, [level(d, "L1")["by_tensor"]["w"]["misses"]
                                             for d in docs[o]]) for o, label in orders],
                      "L1 line size (bytes)")
    plots.units(miss, "")
    miss.set_ylabel("weight misses in L1")
    miss.set_title("Weight (w) misses in L1")
    miss.set_label("w_misses")
    plots.trend_lines(dram, [(label, lines, [d["totals"]["dram_bytes"] for d in docs[o]])
                             for o, label in orders], "L1 line size (bytes)")
    plots.units(dram, "B")
    dram.set_ylabel("DRAM traffic (bytes, run and flush)")
    dram.set_title("Bytes to and from DRAM")
    dram.set_label("dram_bytes")
    miss.legend(fontsize="small", title="loop order")
    first = docs["mn"][0]
    fig.suptitle(f"Lab 3: {layer(first)}, 4 KiB 4-way LRU L1 over DRAM: "
                 "longer lines help only the row order")
    table(["order", "line", "w misses", "DRAM bytes"],
          [[d["layer"]["order"], n, level(d, "L1")["by_tensor"]["w"]["misses"],
            d["totals"]["dram_bytes"]] for o, _ in orders for n, d in zip(lines, docs[o],
                                                                         strict=True)])
    return fig, "lab03-line-size.png"


def lab04():
    """The L1's misses by kind against the number of ways, for both input sizes."""
    cases = [(32, ["1way", "2way", "4way", "8way", "16way", "full"]), (28, ["1way", "4way"])]
    fig, axes = plots.panels_figure(2, 2, 12.0, 4.4)
    rows = []
    for ax, (f, names) in zip(axes, cases, strict=True):
        docs = [load(f"lab04-f{f}-{n}.json") for n in names]
        geo = [level(d, "L1")["geometry"] for d in docs]
        labels = [f"{g['ways']} (full)" if g["sets"] == 1 else str(g["ways"]) for g in geo]
        counts = [level(d, "L1")["three_c"] for d in docs]
        plots.three_c_counts(ax, labels, counts, "L1", "ways of the 4 KiB L1 (64 B lines, LRU)")
        ax.set_title(f"L1 misses by kind (3C), input {f} × {f}")
        ax.set_label(f"three_c:L1 F={f}")
        rows += [[f, lab, c["compulsory"], c["capacity"], c["conflict"]]
                 for lab, c in zip(labels, counts, strict=True)]
    d = load("lab04-f32-1way.json")
    fig.suptitle(f"Lab 4: {layer(d)}: conflict misses fall as the ways grow")
    table(["F", "ways", "compulsory", "capacity", "conflict"], rows)
    return fig, "lab04-ways-3c.png"


def lab05():
    """DRAM traffic and the L1 misses of x and w against the filters per tile."""
    tiles = [2, 4, 8, 16, 32]
    docs = [load(f"lab05-n{n}.json") for n in tiles]
    untiled = load("lab05-untiled.json")
    fig, (dram, miss) = plots.panels_figure(2, 2, 11.0, 4.2)
    plots.trend_lines(dram, [("tiled (order bNijnmpq)", tiles,
                              [d["totals"]["dram_bytes"] for d in docs])],
                      "filters per tile (--tile n=...)",
                      refs=[("untiled (order bijnmpq)", untiled["totals"]["dram_bytes"])])
    plots.units(dram, "B")
    dram.set_ylim(bottom=0)
    dram.set_ylabel("DRAM traffic (bytes, run and flush)")
    dram.set_title("Bytes to and from DRAM")
    dram.set_label("dram_bytes")
    dram.legend(fontsize="small")
    plots.trend_lines(miss, [(f"{t} ({name})", tiles,
                              [level(d, "L1")["by_tensor"][t]["misses"] for d in docs])
                             for t, name in (("x", "input"), ("w", "weights"))],
                      "filters per tile (--tile n=...)")
    plots.units(miss, "")
    miss.set_ylabel("misses in L1")
    miss.set_title("L1 misses of the input and the weights")
    miss.set_label("l1_misses")
    miss.legend(fontsize="small", title="tensor")
    fig.suptitle(f"Lab 5: {layer(untiled)}, {cache(untiled)}: "
                 "tiles of up to 8 filters keep the weights in the cache")
    table(["tile n", "DRAM bytes", "x misses", "w misses"],
          [["none", untiled["totals"]["dram_bytes"],
            level(untiled, "L1")["by_tensor"]["x"]["misses"],
            level(untiled, "L1")["by_tensor"]["w"]["misses"]]] +
          [[n, d["totals"]["dram_bytes"], level(d, "L1")["by_tensor"]["x"]["misses"],
            level(d, "L1")["by_tensor"]["w"]["misses"]] for n, d in zip(tiles, docs,
                                                                         strict=True)])
    return fig, "lab05-tiling.png"


def lab06():
    """DRAM bytes and cycles per MAC against the batch size, batch loop outside or inside."""
    orders = [("bijnmpq", "bijnmpq (batch outermost)"), ("nmbijpq", "nmbijpq (batch inside)")]
    docs = {o: load(f"lab06-{o}.json") for o, _ in orders}
    fig, (dram, cyc) = plots.panels_figure(2, 2, 11.0, 4.2)
    for ax, key, label in ((dram, "dram_bytes_per_mac", "DRAM bytes per MAC"),
                           (cyc, "cycles_per_mac", "cycles per MAC")):
        plots.trend_lines(ax, [(name, [r["batch"] for r in docs[o]["rows"]],
                                [r[key] for r in docs[o]["rows"]]) for o, name in orders],
                          "batch size B", log_y=False)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(label)
        ax.set_title(label[0].upper() + label[1:])
        ax.set_label(key)
    dram.legend(fontsize="small", title="loop order")
    run = docs["bijnmpq"]["runs"][0]
    fc = layer(run).replace(" B=1", "")  # the batch is the axis
    fig.suptitle(f"Lab 6: {fc}, {cache(run)}: the batch reuses the weights only when its "
                 "loop is inside")
    table(["order", "B", "DRAM B/MAC", "cycles/MAC"],
          [[o, r["batch"], r["dram_bytes_per_mac"], r["cycles_per_mac"]]
           for o, _ in orders for r in docs[o]["rows"]])
    return fig, "lab06-batch.png"


def lab12():
    """One warm inference per chip: blocking and overlapped time by kind of entry, and the
    overlapped time by the resource that binds it (main memory named DRAM on both)."""
    doc = load("lab12-warm-kinds.json")
    warm = load("lab12-warm.json")
    chips = [c["config"] for c in doc["configs"]]
    kinds = [k["name"] for k in doc["configs"][0]["kinds"]]
    memories = {lv["name"] for run in warm["runs"] for lv in run[0]["levels"][-1:]}

    def bound(name: str) -> str:
        return "DRAM" if name in memories else name

    fig, axes = plots.panels_figure(3, 3, 14.0, 4.4)
    for ax, key, title in ((axes[0], "blocking_us", "Blocking time by kind of entry"),
                           (axes[1], "overlapped_us", "Overlapped time by kind of entry")):
        bottom = [0.0] * len(chips)
        for kind in kinds:
            ms = [next(k[key] for k in c["kinds"] if k["name"] == kind) / 1000
                  for c in doc["configs"]]
            ax.bar(chips, ms, bottom=bottom, label=kind)
            bottom = [b + v for b, v in zip(bottom, ms, strict=True)]
        ax.set_ylim(0, 1.08 * max(bottom))
        ax.set_ylabel("ms per inference")
        ax.set_title(title)
        ax.set_label(key)
    axes[1].legend(fontsize="small", title="entries")
    by = [{bound(n): us for n, us in t["time"]["by_bound_us"].items()}
          for t in (next(x for x in warm["totals"] if x["config"] == c) for c in chips)]
    names = sorted({n for b in by for n in b}, key=lambda n: -max(b.get(n, 0) for b in by))
    bottom = [0.0] * len(chips)
    for name in names:
        ms = [b.get(name, 0.0) / 1000 for b in by]
        axes[2].bar(chips, ms, bottom=bottom, label=name)
        bottom = [x + v for x, v in zip(bottom, ms, strict=True)]
    axes[2].set_ylim(0, 1.08 * max(bottom))
    axes[2].set_ylabel("ms per inference")
    axes[2].set_title("Overlapped time by what binds")
    axes[2].set_label("bound")
    axes[2].legend(fontsize="small", title="bound")
    fig.suptitle("Lab 12: MobileNetV2 0.35/96, one inference with warm caches, "
                 f"{' against '.join(chips)}: where the time goes")
    table(["chip", "kind", "blocking ms", "overlapped ms"],
          [[c["config"], k["name"], k["blocking_us"] / 1000, k["overlapped_us"] / 1000]
           for c in doc["configs"] for k in c["kinds"]])
    return fig, "lab12-time.png"


LABS = {"03": lab03, "04": lab04, "05": lab05, "06": lab06, "12": lab12}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in LABS:
        print(f"usage: python docs/labs/code/lab_figure.py {{{','.join(LABS)}}}",
              file=sys.stderr)
        return 2
    fig, name = LABS[argv[0]]()
    plots.save(fig, OUT / name)
    print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
