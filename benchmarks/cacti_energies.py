"""The per-access energies of the shipped chip configs, from CACTI 7 and a node scaling.

    CACTI=/path/to/cacti python benchmarks/cacti_energies.py          # the table
    python benchmarks/cacti_energies.py --cacti /path/to/cacti --check  # ... and compare
    ... --horowitz      # also CACTI at 45 nm beside Horowitz's 45 nm points (the calibration)

(`make energies CACTI=/path/to/cacti` runs it with --check.) CACTI 7
(github.com/HewlettPackard/cacti, commit 1ffd8df, "Version 7", built with `make opt`, its
cacti.mk's opt flags with -O2 for -g) is run once per cache level of every shipped
config except thesis (which keeps the document's 45 nm figures). Its input is the `cache.cfg`
that CACTI ships next to its binary, with these lines replaced: size, block size (the level's
line), associativity (the level's ways; 0 = fully associative), technology, and
output/input bus width = the bytes of one request that reaches the level in simcache: a
64-bit word (8 B) for the first cache level (the registers ask it for one element, priced as
a 64-bit access), the line of the level above for the others (a line fill, a write-back).
Everything else is CACTI's file as shipped: one bank, one read/write port, itrs-hp cells and
periphery, ECC on, 360 K, UCA, ED^2 optimisation. The .cfg files go to a temporary directory
(--keep DIR keeps them, with CACTI's output); CACTI runs in its own directory (it reads
tech_params/ from there).

Units: CACTI prints nJ per access of `width` bytes. simcache prices `energy` per 64-bit
access times bytes / 8 (docs/model.md section 4), so

    pJ per 64-bit access = 1000 x nJ / (width / 8)

and a request of `width` bytes costs exactly one CACTI access (a 64-byte fill = 8 units
x (nJ / 8)): nothing is counted twice, and the fill is priced once, at the level that
serves it (simcache does not price the install in the level above).

Node: CACTI 7 models 22-45 nm itself (it interpolates its 22, 32 and 45 nm technology files).
A chip at 22-45 nm runs at its own node. Below 22 nm CACTI runs at 22 nm, and the energy is
scaled by Stillmaker & Baas's energy factors (below) from 22 nm to the chip's node. The
register file and the MAC keep Horowitz's 45 nm figures (ISSCC 2014, Fig. 1.1.9, 45 nm,
0.9 V), scaled from 45 nm to the node by the same factors.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simcache.config import load_hierarchy  # noqa: E402

# The chip's process node (nm) and where it is stated; thesis is not here (45 nm figures).
NODES = {
    "cortex_m7": (40, "ST community forum, 'My own bootloader for STM32H750: is this possible?', "
                      "19 Mar 2019 (https://community.st.com/t5/stm32-mcus-embedded-software/"
                      "my-own-bootloader-for-stm32h750-is-this-possible/m-p/400677): 'It's not in "
                      "current process technology. It's 40nm' (a forum reply about the STM32H7, "
                      "not an ST datasheet)"),
    "rpi4": (28, "Eben Upton to IEEE Spectrum, quoted by EIS, 29 Aug 2019 "
                 "(https://www.integrated-circuit.com/technologies/show.html?id=166): 'We "
                 "realized we needed to go to a 28-nm process node' (the BCM2711 of the Pi 4)"),
    "server": (14, "Tam et al., 'SkyLake-SP: A 14nm 28-Core Xeon Processor', ISSCC 2018, "
                   "doi:10.1109/ISSCC.2018.8310170: 'fabricated on the Intel 14nm tri-gate CMOS "
                   "technology'"),
    "mobile_soc": (7, "WikiChip, 'Snapdragon 855 - Qualcomm' "
                      "(https://en.wikichip.org/wiki/qualcomm/snapdragon_800/855): 'Fabricated on "
                      "TSMC 7nm process'"),
    "zen4": (5, "TechPowerUp, 'AMD EPYC Genoa Zen 4 Processor Multi-Chip Module Pictured', 10 Apr "
                "2022 (https://techpowerup.com/293771): 'The \"Zen 4\" CCDs, built on the TSMC N5 "
                "(5 nm EUV) process'"),
}

# A level an access reaches only one slice of: CACTI models the slice (the interconnect
# between slices is not priced). (config, level) -> (slice bytes, why).
SLICES = {
    ("server", "L3"): (1441792, "one 1.375 MiB 11-way slice of the 28 (Intel: '1.375 MB LLC per "
                                "core'; an address maps to one slice), mesh not included"),
    ("zen4", "L3"): (4194304, "assumption: one 4 MiB 16-way slice of the CCX's eight (AMD: 4 MB "
                              "of L3 per core, 32 MB in all), interconnect not included"),
}

# Stillmaker & Baas, 'Scaling equations for the accurate prediction of CMOS device performance
# from 180 nm to 7 nm', Integration, the VLSI Journal 58 (2017) 74-81,
# doi:10.1016/j.vlsi.2017.02.002: energy per operation as a x Vdd^2 + b x Vdd + c, per node,
# the high-performance rows (PTM HP for 45 and 32 nm, ITRS HP for 20 nm and below). The 32 nm
# row is the one of the authors' corrigendum (0.8367 x 0.9^2 - 0.4341 x 0.9 + 0.1701 = 0.4571).
ENERGY_COEFFS = {
    45: (1.018, -0.3107, 0.1539),
    32: (0.8367, -0.4341, 0.1701),
    20: (0.373, -0.1582, 0.04104),
    16: (0.2958, -0.1241, 0.03024),
    14: (0.2363, -0.09675, 0.02239),
    10: (0.2068, -0.09311, 0.02375),
    7: (0.1776, -0.09097, 0.02447),
}
# assumption: every node at Horowitz's 0.9 V (constant-voltage scaling: the factor is the
# node's devices and wires, not a lower supply; a chip run at a lower Vdd uses less).
VDD = 0.9
CACTI_MIN_NM, CACTI_MAX_NM = 22, 45

# Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V), as in thesis.yaml, pJ [low, high]
HOROWITZ_REGISTER = (0.4, 3.7)   # the document's Figure 2.1 register range, after Horowitz
HOROWITZ_MAC = (1.5, 4.6)        # FP mult + add: fp16 1.1 + 0.4, fp32 3.7 + 0.9

SIG = 3  # significant digits of every figure written into a config


def rounded(x: float) -> float:
    return float(f"{x:.{SIG}g}")


def energy_factor(nm: float) -> float:
    """Stillmaker & Baas's energy factor at `nm` and VDD; between two rows of the table,
    linear in the node; below 7 nm (the table's end), the 7 nm factor."""
    nodes = sorted(ENERGY_COEFFS)
    if nm > nodes[-1]:
        raise ValueError(f"{nm} nm is above the table ({nodes[-1]} nm)")
    nm = max(nm, nodes[0])

    def f(n: int) -> float:
        a, b, c = ENERGY_COEFFS[n]
        return a * VDD ** 2 + b * VDD + c

    if nm in ENERGY_COEFFS:
        return f(int(nm))
    lo = max(n for n in nodes if n < nm)
    hi = min(n for n in nodes if n > nm)
    t = (nm - lo) / (hi - lo)
    return f(lo) + t * (f(hi) - f(lo))


def scale(from_nm: float, to_nm: float) -> float:
    """Energy at to_nm / energy at from_nm."""
    return energy_factor(to_nm) / energy_factor(from_nm)


def cacti_node(nm: float) -> float:
    return min(max(nm, CACTI_MIN_NM), CACTI_MAX_NM)


def write_cfg(template: str, size: int, line: int, ways: int, nm: float, width: int) -> str:
    """CACTI's cache.cfg with the level's lines replaced (every other line as shipped)."""
    values = {"-size (bytes)": str(size), "-block size (bytes)": str(line),
              "-associativity": str(ways), "-technology (u)": f"{nm / 1000:.3f}",
              "-output/input bus width": str(width * 8)}
    out, seen = [], set()
    for text in template.splitlines():
        for key, val in values.items():
            if text.startswith(key + " "):
                text = f"{key} {val}"
                seen.add(key)
        out.append(text)
    missing = set(values) - seen
    if missing:
        raise ValueError(f"CACTI's cache.cfg has no line for {', '.join(sorted(missing))}")
    return "\n".join(out) + "\n"


_FIELDS = {"read_nj": r"Total dynamic read energy per access \(nJ\):\s*([0-9.eE+-]+)",
           "write_nj": r"Total dynamic write energy per access \(nJ\):\s*([0-9.eE+-]+)",
           "leak_mw": r"Total leakage power of a bank \(mW\):\s*([0-9.eE+-]+)"}


def parse_output(text: str) -> dict[str, float]:
    """CACTI's per-access read and write energy (nJ) and a bank's leakage (mW)."""
    out = {}
    for key, pattern in _FIELDS.items():
        m = re.search(pattern, text)
        if not m:
            raise ValueError(f"CACTI printed no '{pattern.split(chr(92))[0].strip()}'")
        out[key] = float(m.group(1))
    return out


def run_cacti(binary: Path, cfg_text: str, workdir: Path, name: str) -> dict[str, float]:
    cfg = workdir / f"{name}.cfg"
    cfg.write_text(cfg_text)
    proc = subprocess.run([str(binary), "-infile", str(cfg)], cwd=binary.parent,
                          capture_output=True, text=True, timeout=600)
    (workdir / f"{name}.out").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise RuntimeError(f"CACTI failed on {cfg} (exit {proc.returncode}; its output is in "
                           f"{cfg.with_suffix('.out')})")
    try:
        return parse_output(proc.stdout)
    except ValueError as exc:
        raise ValueError(f"{cfg}: {exc}") from None


def price(binary: Path, template: str, workdir: Path, name: str, lv: dict,
          nm: float) -> dict[str, float]:
    """CACTI's figures for one level. CACTI takes only a power-of-two associativity: for
    other ways (Skylake-SP's 11-way L3) it runs the powers of two either side, same size and
    line, and interpolates linearly in the ways (an approximation, stated in the config)."""
    ways = lv["ways"]
    if ways == 0 or ways & (ways - 1) == 0:
        cfg = write_cfg(template, lv["size"], lv["line"], ways, nm, lv["width"])
        return run_cacti(binary, cfg, workdir, name)
    lo = 1 << (ways.bit_length() - 1)
    hi = 2 * lo
    r_lo, r_hi = (run_cacti(binary, write_cfg(template, lv["size"], lv["line"], w, nm,
                                              lv["width"]), workdir, f"{name}-{w}way")
                  for w in (lo, hi))
    t = (ways - lo) / (hi - lo)
    return {k: r_lo[k] + t * (r_hi[k] - r_lo[k]) for k in r_lo}


def levels_to_price(config: str) -> list[dict]:
    """The cache levels CACTI prices: name, size (the slice if any), line, ways, width."""
    h = load_hierarchy(ROOT / "configs" / f"{config}.yaml")
    rows, request = [], 8  # the first cache level is asked for one element: a 64-bit unit
    for lv in h.levels:
        if lv.line == "element":
            continue
        size, note = SLICES.get((config, lv.name), (lv.size, ""))
        ways = 0 if lv.ways == "full" else lv.ways
        rows.append({"level": lv.name, "size": size, "line": lv.line, "ways": ways,
                     "width": max(request, 8), "note": note})
        request = lv.line
    return rows


def core_figures(config: str) -> dict[str, list[float]]:
    """The register file's and the MAC's energies at the config's node, [low, high] pJ."""
    nm = NODES[config][0]
    f = scale(45, nm)
    return {"registers": [rounded(e * f) for e in HOROWITZ_REGISTER],
            "mac": [rounded(e * f) for e in HOROWITZ_MAC]}


def table(binary: Path, workdir: Path) -> list[dict]:
    template = (binary.parent / "cache.cfg").read_text()
    rows = []
    for config, (nm, _) in NODES.items():
        run_nm = cacti_node(nm)
        f = scale(run_nm, nm)
        for lv in levels_to_price(config):
            res = price(binary, template, workdir, f"{config}-{lv['level']}", lv, run_nm)
            units = lv["width"] / 8
            read = res["read_nj"] * 1000 / units
            write = res["write_nj"] * 1000 / units
            rows.append({**lv, "config": config, "node": nm, "cacti_node": run_nm, "factor": f,
                         "read_pj": read, "write_pj": write, "leak_mw": res["leak_mw"],
                         "energy": rounded(read * f), "write_energy": rounded(write * f)})
    return rows


# Horowitz's 45 nm points (ISSCC 2014, Fig. 1.1.9, pJ per 64-bit access) against CACTI at
# 45 nm for the same size: (size, line, ways, width bytes, Horowitz pJ). The ways and line
# are assumptions (Horowitz gives only the size).
HOROWITZ_POINTS = ((32768, 64, 8, 8, 20.0), (1048576, 64, 16, 64, 100.0))


def horowitz_check(binary: Path, workdir: Path) -> list[str]:
    """CACTI at 45 nm beside Horowitz's 45 nm figures: the calibration of the method."""
    template = (binary.parent / "cache.cfg").read_text()
    out = ["| size B | line B | ways | width B | CACTI 45 nm pJ/64b | Horowitz 45 nm pJ/64b |",
           "|---|---|---|---|---|---|"]
    for size, line, ways, width, horowitz in HOROWITZ_POINTS:
        res = run_cacti(binary, write_cfg(template, size, line, ways, 45, width), workdir,
                        f"horowitz-{size}")
        out.append(f"| {size} | {line} | {ways} | {width} | "
                   f"{res['read_nj'] * 1000 / (width / 8):.4g} | {horowitz:g} |")
    return out


# write_energy is written into a config only where CACTI's write differs from its read by
# more than this fraction (otherwise `energy` prices writes too)
WRITE_DIFFERS = 0.10


def config_energies(rows: list[dict]) -> dict[tuple[str, str], tuple[float, float | None]]:
    """(config, level) -> (energy, write_energy or None), as the configs should hold them."""
    out = {}
    for r in rows:
        w = r["write_energy"] if abs(r["write_pj"] / r["read_pj"] - 1) > WRITE_DIFFERS else None
        out[(r["config"], r["level"])] = (r["energy"], w)
    return out


def check(rows: list[dict]) -> list[str]:
    """Differences between the configs and what this script computes (empty: they agree)."""
    problems = []
    want = config_energies(rows)
    for config in NODES:
        h = load_hierarchy(ROOT / "configs" / f"{config}.yaml")
        core = core_figures(config)
        for lv in h.levels:
            got = list(lv.energy)
            wgot = None if lv.write_energy is None else list(lv.write_energy)
            if lv.line == "element":
                exp, wexp = core["registers"], None
            else:
                e, w = want[(config, lv.name)]
                exp, wexp = [e, e], (None if w is None else [w, w])
            if got != exp or wgot != wexp:
                problems.append(f"{config} {lv.name}: config energy {got} write_energy {wgot}, "
                                f"computed {exp} write_energy {wexp}")
        if list(h.mac_energy) != core["mac"]:
            problems.append(f"{config} mac_energy: config {list(h.mac_energy)}, "
                            f"computed {core['mac']}")
    return problems


def render(rows: list[dict]) -> str:
    head = ("| config | level | size B | line B | ways | width B | node nm | CACTI nm | "
            "read pJ/64b | write pJ/64b | leakage mW | factor | energy pJ | write pJ |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['level']} | {r['size']} | {r['line']} | {r['ways']} | "
            f"{r['width']} | {r['node']} | {r['cacti_node']} | {r['read_pj']:.4g} | "
            f"{r['write_pj']:.4g} | {r['leak_mw']:.4g} | {r['factor']:.4g} | {r['energy']} | "
            f"{r['write_energy']} |")
    lines.append("")
    lines.append("| config | node nm | factor from 45 nm | registers pJ | MAC pJ |")
    lines.append("|---|---|---|---|---|")
    for config, (nm, _) in NODES.items():
        core = core_figures(config)
        lines.append(f"| {config} | {nm} | {scale(45, nm):.4g} | {core['registers']} | "
                     f"{core['mac']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cacti", default=os.environ.get("CACTI"),
                    help="CACTI 7's binary (default: env CACTI)")
    ap.add_argument("--keep", metavar="DIR", help="write the .cfg and CACTI outputs here")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a shipped config's energies differ from the table")
    ap.add_argument("--horowitz", action="store_true",
                    help="also print CACTI at 45 nm beside Horowitz's 45 nm figures")
    args = ap.parse_args(argv)
    if not args.cacti:
        print("error: give CACTI's binary with --cacti PATH or env CACTI", file=sys.stderr)
        return 2
    binary = Path(args.cacti).resolve()
    if not binary.is_file() or not (binary.parent / "cache.cfg").is_file():
        print(f"error: --cacti {args.cacti}: not CACTI's binary next to its cache.cfg",
              file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(args.keep or tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            rows = table(binary, workdir)
            print(render(rows))
            if args.horowitz:
                print()
                print("\n".join(horowitz_check(binary, workdir)))
    except KeyboardInterrupt:
        print("interrupted" + (f"; the inputs and outputs so far are in {args.keep}"
                               if args.keep else ""), file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        problems = check(rows)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
