"""Run DRAMsim3 (umd-memsys/DRAMsim3, built locally; its trace-driven `dramsim3main`) on a
trace simcache writes (`--dram-trace`), with an .ini that matches simcache's `memory.dram`
(organisation, address mapping, page policy), and compare the row-buffer counts
(docs/model.md, "DRAM", and §8).

The .ini gives DRAMsim3 a unified transaction queue (reads and writes in arrival order) and
a tREFI longer than the trace (simcache's refresh is an average stretch and closes no row;
DRAMsim3's refresh precharges every bank). With the requests far enough apart
(`--dram-trace-gap`), DRAMsim3's scheduler never holds two of them, so it cannot reorder.

    python tests/dramsim3_peer.py       # needs DRAMSIM3=/path/to/dramsim3main; prints a table
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

# DRAMsim3's field names, and simcache's
_FIELD = {"channel": "ch", "rank": "ra", "bank_group": "bg", "bank": "ba", "row": "ro",
          "column": "co"}
GAP = 200  # memory cycles between requests: more than any request's service in DRAMsim3


def ini_text(dram) -> str:
    """A DRAMsim3 .ini for a simcache `Dram` (whole fields in the mapping, no XOR)."""
    if dram.xor_bank or any(bits is not None for _, bits in dram.mapping):
        raise ValueError("DRAMsim3 maps whole fields and has no XOR bank hashing")
    order = [_FIELD[name] for name, _ in dram.mapping if name != "offset"]
    order += [f for f in _FIELD.values() if f not in order]  # zero-width fields, any place
    mapping = "".join(reversed(order))  # DRAMsim3 lists them from the top bit down
    c = {t: dram.cycles(t) for t in ("tCL", "tRCD", "tRP", "tRAS", "tRFC", "tBurst")}
    per_channel_mb = dram.capacity // dram.channels >> 20
    return f"""[dram_structure]
protocol = DDR4
bankgroups = {dram.bank_groups}
banks_per_group = {dram.banks // dram.bank_groups}
rows = {dram.rows}
columns = {dram.columns}
device_width = {dram.device_width}
BL = {dram.burst_length}

[timing]
tCK = {dram.tck_ns:.6f}
AL = 0
CL = {c['tCL']}
CWL = {max(1, c['tCL'] - 4)}
tRCD = {c['tRCD']}
tRP = {c['tRP']}
tRAS = {c['tRAS']}
tRFC = {c['tRFC']}
tRFC2 = {c['tRFC']}
tRFC4 = {c['tRFC']}
tREFI = 1000000000
tRPRE = 1
tWPRE = 1
tRRD_S = 4
tRRD_L = 6
tWTR_S = 4
tWTR_L = 9
tFAW = 26
tWR = 18
tWR2 = 19
tRTP = 9
tCCD_S = 4
tCCD_L = 6
tCKE = 6
tCKESR = 7
tXS = 300
tXP = 7
tRTRS = 1

[power]
VDD = {dram.VDD}
IDD0 = {dram.IDD0}
IPP0 = 3.0
IDD2P = {dram.IDD2N}
IDD2N = {dram.IDD2N}
IDD3P = {dram.IDD3N}
IDD3N = {dram.IDD3N}
IDD4W = {dram.IDD4W}
IDD4R = {dram.IDD4R}
IDD5AB = {dram.IDD5B}
IDD6x = 30

[system]
channel_size = {per_channel_mb}
channels = {dram.channels}
bus_width = {dram.bus_width}
address_mapping = {mapping}
queue_structure = PER_BANK
refresh_policy = RANK_LEVEL_STAGGERED
row_buf_policy = {'OPEN_PAGE' if dram.page_policy == 'open' else 'CLOSE_PAGE'}
unified_queue = true
cmd_queue_size = 8
trans_queue_size = 32

[other]
epoch_period = 1000000000
output_level = 1
"""


def run_dramsim3(binary: str, dram, trace: Path, workdir: Path) -> dict:
    """DRAMsim3's counts on `trace`, summed over channels: row hits, activations, reads,
    writes."""
    ini = workdir / "simcache.ini"
    ini.write_text(ini_text(dram))
    last = 0
    with open(trace) as f:
        for line in f:
            last = int(line.split()[2])
    out = workdir / "out"
    out.mkdir(exist_ok=True)
    subprocess.run([binary, str(ini), "-c", str(last + 20 * GAP), "-t", str(trace),
                    "-o", str(out)], check=True, capture_output=True, timeout=1800)
    stats = json.loads((out / "dramsim3.json").read_text())
    total = {"row_hits": 0, "activations": 0, "reads": 0, "writes": 0}
    for ch in stats.values():
        total["row_hits"] += ch["num_read_row_hits"] + ch["num_write_row_hits"]
        total["activations"] += ch["num_act_cmds"]
        total["reads"] += ch["num_read_cmds"]
        total["writes"] += ch["num_write_cmds"]
    return total


def simcache_counts(doc: dict) -> dict:
    d = doc["totals"]["dram"]
    return {"row_hits": d["row_hits"], "activations": d["activations"], "reads": d["reads"],
            "writes": d["writes"]}


def layer_case(binary: str, config: str, layer: str, dims: dict, workdir: Path):
    """simcache's counts for a layer and DRAMsim3's on the trace simcache wrote."""
    import simcache

    trace = workdir / "layer.trc"
    doc = simcache.simulate(config, layer, dram_trace=trace, dram_trace_gap=GAP,
                            **dims).to_dict()
    from simcache.config import load_hierarchy
    dram = load_hierarchy(config).memory.dram if not hasattr(config, "memory") \
        else config.memory.dram
    return simcache_counts(doc), run_dramsim3(binary, dram, trace, workdir)


def random_case(binary: str, dram, n: int, seed: int, workdir: Path):
    """A random burst stream (hot rows and random addresses, reads and writes) through
    simcache's DRAM model and through DRAMsim3."""
    import numpy as np

    from simcache import dram as D
    from simcache import kernels as K

    rng = random.Random(seed)
    hot = [rng.randrange(dram.capacity) for _ in range(8)]
    rec = []
    for _ in range(n):
        a = rng.choice(hot) + rng.randrange(0, 1 << 14) if rng.random() < 0.7 \
            else rng.randrange(dram.capacity)
        a = (a % dram.capacity) & ~(dram.burst_bytes - 1)
        rec += [a, dram.burst_bytes, (K.F_WRITE if rng.random() < 0.3 else K.F_DEMAND)]
    trace = workdir / "random.trc"
    writer = D.TraceWriter(trace)
    state = D.DramState(dram, writer, GAP)
    state.feed(np.array(rec, dtype=np.int64), n)
    writer.close()
    c = state.counts.cnt.sum(axis=0)
    ours = {"row_hits": int(c[:, D.HIT].sum()), "activations": int(state.counts.acts.sum()),
            "reads": int(c[0].sum()), "writes": int(c[1].sum())}
    return ours, run_dramsim3(binary, dram, trace, workdir)


CASES = [  # (label, layer, dims): small layers of Table 2.1's types
    ("pointwise M=N=64 F=16", "pointwise", {"M": 64, "N": 64, "F": 16}),
    ("depthwise M=64 F=32 K=3", "depthwise", {"M": 64, "F": 32, "K": 3}),
    ("fc M=1024 N=256", "fc", {"M": 1024, "N": 256}),
]


def main() -> None:
    binary = os.environ.get("DRAMSIM3")
    if not binary:
        sys.exit("set DRAMSIM3 to the dramsim3main binary")
    from simcache.config import Dram, load_hierarchy

    config = str(HERE / "data" / "dram_ddr4.yaml")
    h = load_hierarchy(config)
    print(f"{'case':32} {'policy':7} {'simcache hits/acts':>20} {'DRAMsim3 hits/acts':>20}")
    for policy in ("open", "closed"):
        spec = h.memory.dram.model_dump()
        spec["page_policy"] = policy
        hh = h.model_copy(update={"memory": h.memory.model_copy(
            update={"dram": Dram.model_validate(spec)})})
        for label, layer, dims in CASES:
            with tempfile.TemporaryDirectory() as tmp:
                ours, theirs = layer_case(binary, hh, layer, dims, Path(tmp))
            print(f"{label:32} {policy:7} {ours['row_hits']:>9}/{ours['activations']:<10} "
                  f"{theirs['row_hits']:>9}/{theirs['activations']:<10}")
        with tempfile.TemporaryDirectory() as tmp:
            ours, theirs = random_case(binary, hh.memory.dram, 20000, 1, Path(tmp))
        print(f"{'random 20000 bursts':32} {policy:7} {ours['row_hits']:>9}/"
              f"{ours['activations']:<10} {theirs['row_hits']:>9}/{theirs['activations']:<10}")


if __name__ == "__main__":
    main()
