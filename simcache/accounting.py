"""Cycles and energy from counts × the config's tables. Kernels count; this prices.

`summarize` turns a Result into the plain nested dict that every report format renders
(the JSON schema of the README).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, shipped
from . import kernels as K
from .config import Geometry, Hierarchy
from .engine import Result
from .layers import metrics
from .loopnest import NONE, TENSOR_NAMES


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _counts(run: np.ndarray, flush: np.ndarray) -> dict:
    """Counters of one level (summed over the tensors chosen) as named fields."""
    reads, writes = int(run[K.READS]), int(run[K.WRITES])
    hits = int(run[K.READ_HITS] + run[K.WRITE_HITS])
    return {
        "reads": reads,
        "writes": writes,
        "hits": hits,
        "misses": reads + writes - hits,
        "hit_rate": _ratio(hits, reads + writes),
        "writebacks": int(run[K.WRITEBACKS]),
        "flush_writebacks": int(flush[K.WRITEBACKS]),
        "bytes_read": int(run[K.BYTES_READ]),
        "bytes_written": int(run[K.BYTES_WRITTEN]),
        "served": int(run[K.SERVED]),
    }


def _three_c(c: np.ndarray) -> dict:
    """The misses of one level (summed over the tensors chosen) by kind."""
    return {"compulsory": int(c[K.COMPULSORY]), "capacity": int(c[K.CAPACITY]),
            "conflict": int(c[K.CONFLICT])}


def _energy(c: np.ndarray, read_pj: tuple[float, float], write_pj: tuple[float, float]) -> dict:
    """pJ of the requests in counters c: per 64-bit access, scaled by bytes / 8."""
    rb, wb = c[K.BYTES_READ] / 8, c[K.BYTES_WRITTEN] / 8
    return {"low": float(rb * read_pj[0] + wb * write_pj[0]),
            "high": float(rb * read_pj[1] + wb * write_pj[1])}


def _prefetch(pf: np.ndarray, left: int, policy: str, distance: int,
              read_pj: tuple[float, float]) -> dict:
    """A prefetching level's prefetches (run and flush phases summed, pf[kind]); each
    lookup is priced as one 64-bit read at the level (docs/model.md, "Prefetch")."""
    issued, evicted = int(pf[K.PF_ISSUED]), int(pf[K.PF_UNUSED])
    return {"policy": policy, "distance": distance, "issued": issued,
            "misses": int(pf[K.PF_MISSES]), "useful": int(pf[K.PF_USEFUL]),
            "never_used": evicted + left, "evicted_unused": evicted, "left_unused": left,
            "energy_pj": {"low": issued * read_pj[0], "high": issued * read_pj[1]}}


def _add(a: dict, b: dict) -> dict:
    return {"low": a["low"] + b["low"], "high": a["high"] + b["high"]}


def tensors_present(result: Result) -> list[int]:
    """Tensor categories to break down: the layer's, and any other that has a count (in a
    warm inference a step can evict, back-invalidate or leave unused the prefetched lines
    of a tensor it does not access); for a trace, those it touched."""
    touched = result.counters.sum(axis=(0, 1, 3))
    for extra in (result.prefetch, result.inclusion):
        if extra is not None:
            touched = touched + extra.sum(axis=(0, 1, 3))
    if result.prefetch_left is not None:
        touched = touched + result.prefetch_left.sum(axis=0)
    ids = [t for t in range(K.NTENSORS) if touched[t] and t != NONE]
    if result.plan is not None:
        return sorted({t.category for t in result.plan.tensors} | set(ids))
    # a trace without tensor ids has no per-tensor breakdown
    return ids + [NONE] if ids and touched[NONE] else ids


def summarize(result: Result, hierarchy: Hierarchy, config_path: str | None = None) -> dict:
    """Counts, cycles and energy per level and per tensor, and the totals."""
    ctr, ccc = result.counters, result.three_c
    tensors = tensors_present(result)
    specs = list(hierarchy.levels) + [hierarchy.memory]
    levels, total_energy, memory_cycles = [], {"low": 0.0, "high": 0.0}, 0

    def prefetching(lv: int) -> bool:
        return (result.prefetch is not None and lv < len(result.geometry)
                and result.geometry[lv].prefetch != "none")

    for lv, (name, spec) in enumerate(zip(result.level_names, specs, strict=True)):
        read_pj = spec.energy
        write_pj = spec.write_energy or spec.energy
        latency = int(spec.latency)

        def block(ts: list[int], lv: int = lv, latency: int = latency,
                  read_pj=read_pj, write_pj=write_pj) -> dict:
            run = ctr[0, lv, ts].sum(axis=0)
            fl = ctr[1, lv, ts].sum(axis=0)
            out = _counts(run, fl)
            if ccc is not None and lv < len(result.geometry):  # a cache level, classified
                out["three_c"] = _three_c(ccc[0, lv, ts].sum(axis=0))
            out["cycles"] = int(run[K.SERVED]) * latency
            run_e, flush_e = _energy(run, read_pj, write_pj), _energy(fl, read_pj, write_pj)
            out["energy_pj"] = _add(run_e, flush_e)
            if prefetching(lv):
                g = result.geometry[lv]
                pf = _prefetch(result.prefetch[:, lv, ts].sum(axis=(0, 1)),
                               int(result.prefetch_left[lv, ts].sum()), g.prefetch,
                               g.prefetch_distance, read_pj)
                out["energy_pj"] = _add(out["energy_pj"], pf["energy_pj"])
                out["prefetch"] = pf
            if result.inclusion is not None and lv < len(result.geometry):
                inc = result.inclusion[:, lv, ts].sum(axis=(0, 1))
                out["inclusion"] = {
                    "back_invalidated": int(inc[K.X_INVALIDATED - K.NPF]),
                    "victims_in": int(inc[K.X_VICTIMS - K.NPF]),
                    "moved_up": int(inc[K.X_PROMOTED - K.NPF])}
            out["flush"] = {
                "reads": int(fl[K.READS]),
                "writes": int(fl[K.WRITES]),
                "hits": int(fl[K.READ_HITS] + fl[K.WRITE_HITS]),
                "misses": int(fl[K.READS] + fl[K.WRITES] - fl[K.READ_HITS] - fl[K.WRITE_HITS]),
                "bytes_read": int(fl[K.BYTES_READ]),
                "bytes_written": int(fl[K.BYTES_WRITTEN]),
                "energy_pj": flush_e,
            }
            if "three_c" in out:
                out["flush"]["three_c"] = _three_c(ccc[1, lv, ts].sum(axis=0))
            return out

        entry = {"name": name, "latency": latency, **block(list(range(K.NTENSORS)))}
        if lv < len(result.geometry):
            g = result.geometry[lv]
            entry["geometry"] = {"size": g.size, "line": g.line, "ways": g.ways, "sets": g.sets,
                                 "policy": g.policy, "write_back": g.write_back,
                                 "write_allocate": g.write_allocate}
            if g.inclusion != "nine":
                entry["geometry"]["inclusion"] = g.inclusion
        entry["by_tensor"] = {TENSOR_NAMES[t]: block([t]) for t in tensors}
        levels.append(entry)
        total_energy = _add(total_energy, entry["energy_pj"])
        memory_cycles += entry["cycles"]

    macs = result.macs
    mac_cycles = macs * hierarchy.mac_cycles
    dram_block = _dram(levels, result, hierarchy, tensors, memory_cycles + mac_cycles)
    if dram_block is not None:
        memory_cycles = sum(lv["cycles"] for lv in levels)
        total_energy = {"low": sum(lv["energy_pj"]["low"] for lv in levels),
                        "high": sum(lv["energy_pj"]["high"] for lv in levels)}
    mac_energy = {"low": macs * hierarchy.mac_energy[0], "high": macs * hierarchy.mac_energy[1]}
    mem = levels[-1]
    totals = {
        "cycles": _num(memory_cycles + mac_cycles),
        "memory_cycles": memory_cycles,
        "mac_cycles": _num(mac_cycles),
        "amat": _ratio(memory_cycles, result.accesses),
        "energy_pj": _add(total_energy, mac_energy),
        "memory_energy_pj": total_energy,
        "mac_energy_pj": mac_energy,
        "macs": macs,
        "dram_bytes": mem["bytes_read"] + mem["bytes_written"] + mem["flush"]["bytes_read"]
        + mem["flush"]["bytes_written"],
    }
    totals["traffic"] = traffic(result, totals["dram_bytes"])
    if dram_block is not None:
        totals["dram"] = dram_block
    time = timing(levels, totals, hierarchy)
    time = with_ecm(time, result, levels, hierarchy,
                    dram_block["bound_cycles"] if dram_block is not None else None)
    if time is not None:
        totals["time"] = time
    if dram_block is not None:
        _dram_over_quoted_time(totals, levels, hierarchy)
    element = result.layer.dtype_bytes if result.layer is not None else 8
    out = {
        "simcache": __version__,
        "config": {"name": hierarchy.name, "description": hierarchy.description,
                   "path": config_path,
                   **({"copied_from": hierarchy.copied_from}
                      if getattr(hierarchy, "copied_from", None) else {})},
        "layer": layer_info(result) if result.layer is not None else None,
        "accesses": result.accesses,
        "levels": levels,
        "totals": totals,
        "roofline": roofline(hierarchy, result.geometry, element),
        "seconds": round(result.seconds, 3),
    }
    return out


def _dram(levels: list[dict], result: Result, hierarchy: Hierarchy, tensors: list[int],
          cycles: float) -> dict | None:
    """Memory as DRAM (docs/model.md, "DRAM"): price the DRAM model's counts, and put its
    latencies and energy in place of the memory level's `served × latency` cycles and
    energy per access (in `levels[-1]` and its tensors). None without `memory.dram`."""
    counts = getattr(result, "dram", None)
    spec = getattr(hierarchy.memory, "dram", None)
    if counts is None or spec is None:
        return None
    from .dram import price

    mem = levels[-1]
    block = price(counts, spec, hierarchy.clock, cycles - mem["cycles"], tensors)
    mem["cycles"] = _num(block["latency_cycles"])
    mem["energy_pj"] = {"low": block["energy_pj"]["total"], "high": block["energy_pj"]["total"]}
    for name, entry in mem["by_tensor"].items():
        b = block["by_tensor"].get(name)
        if b is not None:
            entry["cycles"] = _num(b["latency_cycles"])
            e = sum(b["energy_pj"].values())
            entry["energy_pj"] = {"low": e, "high": e}
    return block


def _dram_over_quoted_time(totals: dict, levels: list[dict], hierarchy: Hierarchy) -> None:
    """Background and refresh energy over the time to quote (docs/model.md, "DRAM"): the
    ECM estimate when there is one (the blocking time, priced by dram.price, otherwise).
    Updates the DRAM block, the memory level's energy and the totals in place."""
    ecm_model = (totals.get("time") or {}).get("ecm")
    if not ecm_model or not ecm_model.get("cycles") or not hierarchy.clock:
        return
    from .dram import standing_pj

    block = totals["dram"]
    t_ns = ecm_model["cycles"] / hierarchy.clock
    e = dict(block["energy_pj"])
    e.update(standing_pj(hierarchy.memory.dram, np.asarray(block["activations_by_rank"]), t_ns))
    e["total"] = sum(v for k, v in e.items() if k != "total")
    delta = e["total"] - block["energy_pj"]["total"]
    block.update(energy_pj=e, time_ns=t_ns, time_model="ecm")
    mem = levels[-1]
    mem["energy_pj"] = {"low": mem["energy_pj"]["low"] + delta,
                        "high": mem["energy_pj"]["high"] + delta}
    for key in ("energy_pj", "memory_energy_pj"):
        totals[key] = {"low": totals[key]["low"] + delta, "high": totals[key]["high"] + delta}


def _level_bytes(lv: dict) -> int:
    """Bytes a level moved through its port: the requests that reached it, run and flush."""
    return (lv["bytes_read"] + lv["bytes_written"] + lv["flush"]["bytes_read"]
            + lv["flush"]["bytes_written"])


def timing(levels: list[dict], totals: dict, hierarchy: Hierarchy) -> dict | None:
    """Time of the two models (docs/model.md §4, "Time and bandwidth"), when the config
    gives what they need: the blocking model's cycles at the clock, and the overlapped
    estimate, the largest of the compute bound (MACs at `macs_per_cycle`) and each level's
    bytes over its bandwidth; the bound that binds is named. None when the config gives
    no clock, no `macs_per_cycle` and no bandwidth."""
    clock = getattr(hierarchy, "clock", None)
    peak = getattr(hierarchy, "macs_per_cycle", None)
    widths = hierarchy.bandwidths() if hasattr(hierarchy, "bandwidths") else []
    if clock is None and peak is None and not any(w is not None for w in widths):
        return None
    bounds: dict[str, float] = {}
    if peak is not None:
        bounds["compute"] = totals["macs"] / peak
    for lv, width in zip(levels, widths, strict=False):
        if width is not None:
            bounds[lv["name"]] = _level_bytes(lv) / width
    if totals.get("dram") is not None:  # docs/model.md, "DRAM": banks and bus
        bounds[f"{levels[-1]['name']} (DRAM)"] = totals["dram"]["bound_cycles"]
    out: dict[str, Any] = {"clock_ghz": clock, "macs_per_cycle": peak}
    binding = max(bounds, key=bounds.get) if bounds else None
    overlapped = {"cycles": bounds[binding] if binding else None, "bound": binding,
                  "bounds_cycles": bounds,
                  "complete": peak is not None and all(w is not None for w in widths)}
    if clock is not None:
        us = 1e-3 / clock  # microseconds per cycle
        out["blocking_us"] = totals["cycles"] * us
        overlapped["us"] = overlapped["cycles"] * us if binding else None
    out["overlapped"] = overlapped
    return out


NO_CORE = "the config has no core: section (docs/model.md §4, the in-core model)"


def with_ecm(time: dict | None, result: Result, levels: list[dict],
             hierarchy: Hierarchy, dram_cycles: float | None = None) -> dict | None:
    """totals.time with the in-core ECM estimate (docs/model.md §4) as `ecm`, the one to
    quote; `ecm` is None, and `ecm_missing` says why, when the config has no `core:`."""
    from . import ecm

    core = getattr(hierarchy, "core", None)
    if core is None:
        if time is not None:
            time["ecm"], time["ecm_missing"] = None, NO_CORE
        return time
    if result.layer is not None:
        from .loopnest import plan

        model = ecm.ecm(plan(result.layer), levels, hierarchy, dram_cycles)
    else:  # an operator of a warm network (or a trace): a streaming body, no nest
        first = levels[0]
        model = ecm.ecm_streaming(first["reads"], first["writes"], levels, hierarchy,
                                  dram_cycles)
    time = dict(time) if time is not None else {"clock_ghz": hierarchy.clock}
    time["ecm"] = model
    return time


def roofline(hierarchy: Hierarchy, geometry: list[Geometry], element: int = 4) -> dict:
    """The roofs of a config: its peak MAC rate (1 / mac_cycles) and its DRAM bandwidth,
    both per cycle. A config that gives no bandwidth (`memory.bandwidth`, bytes per cycle)
    gets an assumption, marked as such: one line of the last cache level (an element
    without caches) per memory latency, the rate at which the blocking model of §4 moves
    lines when every access misses."""
    mem = hierarchy.memory
    peak = getattr(hierarchy, "macs_per_cycle", None)
    if peak is not None:
        out = {"peak_macs_per_cycle": float(peak),
               "peak_source": f"config: macs_per_cycle = {peak:g}", "memory": mem.name}
    else:
        out = {"peak_macs_per_cycle": 1.0 / hierarchy.mac_cycles,
               "peak_source": f"config: mac_cycles = {hierarchy.mac_cycles:g} (no "
               "macs_per_cycle)", "memory": mem.name}
    given = hierarchy.bandwidths()[-1] if hasattr(hierarchy, "bandwidths") else None
    if given is not None:
        out.update(bandwidth_bytes_per_cycle=float(given), bandwidth_assumed=False,
                   bandwidth_source=f"config: {mem.name} bandwidth = {float(given):.4g} "
                   "B/cycle")
    else:
        line = geometry[-1].line if geometry else element
        latency = int(mem.latency)
        out.update(bandwidth_bytes_per_cycle=line / latency, bandwidth_assumed=True,
                   bandwidth_source=f"assumption (the config gives no bandwidth): one "
                   f"{line}-byte line per {latency}-cycle {mem.name} access, as the blocking "
                   "model moves them")
    out["ridge_intensity"] = out["peak_macs_per_cycle"] / out["bandwidth_bytes_per_cycle"]
    return out


def traffic(result: Result, dram_bytes: int) -> dict:
    """Measured DRAM traffic against the least the layer's metrics allow (Eq. 2.2–2.4)."""
    out = {"dram_bytes": dram_bytes, "min_bytes": None, "amplification": None,
           "intensity": _ratio(result.macs, dram_bytes), "intensity_eq24": None}
    if result.layer is not None:
        m = metrics(result.layer)
        out["min_bytes"] = m.min_traffic_bytes
        out["amplification"] = _ratio(dram_bytes, m.min_traffic_bytes)
        out["intensity_eq24"] = m.intensity_bytes
    return out


def hit_rates(summary: dict) -> list[float | None]:
    return [lv["hit_rate"] for lv in summary["levels"][:-1]]


KINDS_3C = ("compulsory", "capacity", "conflict")


def three_c_columns(summary: dict) -> dict:
    """Each cache level's misses by kind, as row columns (`conflict_1` for the first
    level), when they were classified; none otherwise."""
    return {f"{kind}_{k + 1}": lv["three_c"][kind]
            for k, lv in enumerate(summary["levels"][:-1]) if "three_c" in lv
            for kind in KINDS_3C}


def study_row(summary: dict) -> dict:
    """One line of a batch or layer study: what changes with B and with the layer type."""
    t, layer = summary["totals"], summary["layer"]
    macs = t["macs"]
    row = {"layer": layer["type"], "batch": layer["B"], "macs": macs,
           "accesses": summary["accesses"]}
    row.update({f"hit_rate_{k + 1}": r for k, r in enumerate(hit_rates(summary))})
    row.update({
        "cycles": t["cycles"],
        "cycles_per_mac": _ratio(t["cycles"], macs),
        "energy_pj_low": t["energy_pj"]["low"],
        "energy_pj_high": t["energy_pj"]["high"],
        "energy_per_mac_pj_low": _ratio(t["energy_pj"]["low"], macs),
        "energy_per_mac_pj_high": _ratio(t["energy_pj"]["high"], macs),
        "dram_bytes": t["dram_bytes"],
        "dram_bytes_per_mac": _ratio(t["dram_bytes"], macs),
        "min_dram_bytes": t["traffic"]["min_bytes"],
        "amplification": t["traffic"]["amplification"],
        **three_c_columns(summary),
    })
    return row


def _where_from(path: str | None) -> str:
    """A config's file in a label: `shipped` for a shipped config, else the path relative
    to the working directory when it is below it, else as given."""
    if not path:
        return "loaded"
    p = Path(path)
    folder = shipped.folder("configs")
    try:
        if folder is not None and p.resolve().parent == folder.resolve():
            return "shipped"
        rel = os.path.relpath(p.resolve(), Path.cwd())
    except (OSError, ValueError):
        return str(path)
    return str(path) if rel.startswith("..") else rel


def config_labels(configs: list[dict]) -> list[str]:
    """What names each config in one command's tables, JSON and figures (docs/model.md,
    "Configs of one name"): its name; when two configs share a name, `name (where)`,
    where is `shipped` or its file; when that is the same too (one config given twice),
    `name #k` (k from 1, in the order given)."""
    names = [c["name"] for c in configs]
    labels = [n if names.count(n) == 1 else f"{n} ({_where_from(c.get('path'))})"
              for n, c in zip(names, configs, strict=True)]
    out, seen = [], {}
    for label in labels:
        if labels.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            label = f"{label} #{seen[label]}"
        out.append(label)
    return out


def compare_rows(summaries: list[dict]) -> list[dict]:
    """One line per config, with ratios to the first; `config` is the config's label
    (config_labels: its name, told apart from another of the same name)."""
    rows = []
    labels = config_labels([s["config"] for s in summaries])
    for s, label in zip(summaries, labels, strict=True):
        t = s["totals"]
        row = {"config": label, "path": s["config"]["path"]}
        for k, lv in enumerate(s["levels"][:-1]):
            row[f"level_{k + 1}"] = lv["name"]
            row[f"hit_rate_{k + 1}"] = lv["hit_rate"]
        row.update({
            "cycles": t["cycles"],
            "cycles_per_mac": _ratio(t["cycles"], t["macs"]),
            "energy_pj_low": t["energy_pj"]["low"],
            "energy_pj_high": t["energy_pj"]["high"],
            "dram_bytes": t["dram_bytes"],
            "amplification": t["traffic"]["amplification"],
            # time (docs/model.md §4), None where the config gives no clock
            "time_blocking_us": (t.get("time") or {}).get("blocking_us"),
            "time_overlapped_us": ((t.get("time") or {}).get("overlapped") or {}).get("us"),
            "time_bound": ((t.get("time") or {}).get("overlapped") or {}).get("bound"),
            "time_ecm_us": ((t.get("time") or {}).get("ecm") or {}).get("us"),
            "time_ecm_bound": ((t.get("time") or {}).get("ecm") or {}).get("binds"),
            **three_c_columns(s),
        })
        rows.append(row)
    return with_ratios(rows)


# (figure, its ratio's name, the column the ratio follows)
RATIOS = (("cycles", "cycles_ratio", "cycles"),
          ("energy_pj_low", "energy_ratio_low", "energy_pj_high"),
          ("energy_pj_high", "energy_ratio_high", "energy_pj_high"),
          ("dram_bytes", "dram_ratio", "dram_bytes"),
          ("time_blocking_us", "time_blocking_ratio", "time_blocking_us"),
          ("time_overlapped_us", "time_overlapped_ratio", "time_overlapped_us"),
          ("time_ecm_us", "time_ecm_ratio", "time_ecm_us"))


def with_ratios(rows: list[dict]) -> list[dict]:
    """The rows (one per config), each with cycles, energy and DRAM bytes as ratios to the
    first row's, each ratio after the column it divides (both energy ratios after
    energy_pj_high)."""
    first = rows[0] if rows else {}
    out = []
    for row in rows:
        new = {}
        for k, v in row.items():
            new[k] = v
            for key, name, after in RATIOS:
                if k == after:
                    num, den = row[key], first.get(key)
                    new[name] = None if num is None or den is None else _ratio(num, den)
        out.append(new)
    return out


def network_rows(net, summaries: list[dict], entries: list | None = None) -> list[dict]:
    """One row per simulated layer of a network (or per one of `entries`, those of its
    layers that finished), with its share of the totals."""
    total_cycles = sum(s["totals"]["cycles"] for s in summaries) or 1
    total_energy = sum(s["totals"]["energy_pj"]["high"] for s in summaries) or 1
    rows = []
    for x, s in zip(net.simulated if entries is None else entries, summaries, strict=True):
        lay, t = x.layer, s["totals"]
        rows.append({
            "name": x.name, "type": lay.type, "M": lay.M, "N": lay.N, "F": lay.F, "K": lay.K,
            "stride": lay.stride, "F_out": lay.F_out, "batch": lay.B, "macs": t["macs"],
            "accesses": s["accesses"], "cycles": t["cycles"],
            "cycles_share": t["cycles"] / total_cycles,
            "energy_pj_low": t["energy_pj"]["low"], "energy_pj_high": t["energy_pj"]["high"],
            "energy_share": t["energy_pj"]["high"] / total_energy,
            "dram_bytes": t["dram_bytes"], "min_dram_bytes": t["traffic"]["min_bytes"],
            "amplification": t["traffic"]["amplification"],
            **{f"hit_rate_{k + 1}": r for k, r in enumerate(hit_rates(s))},
            **three_c_columns(s),
        })
    return rows


def network_totals(rows: list[dict], summaries: list[dict]) -> dict:
    macs = sum(r["macs"] for r in rows)
    return {
        "layers": len(rows), "macs": macs, "accesses": sum(r["accesses"] for r in rows),
        "cycles": sum(r["cycles"] for r in rows),
        "energy_pj": {"low": sum(r["energy_pj_low"] for r in rows),
                      "high": sum(r["energy_pj_high"] for r in rows)},
        "dram_bytes": sum(r["dram_bytes"] for r in rows),
        "min_dram_bytes": sum(r["min_dram_bytes"] for r in rows),
        "seconds": round(sum(s["seconds"] for s in summaries), 3),
    }


def network_total_row(rows: list[dict], totals: dict) -> dict:
    """The network CSV's last row: the sums, under the layer rows' column names."""
    batches = {r["batch"] for r in rows}
    mins = totals.get("min_dram_bytes")
    return {
        "name": "total", "batch": batches.pop() if len(batches) == 1 else None,
        "macs": totals["macs"], "accesses": totals["accesses"], "cycles": totals["cycles"],
        "cycles_share": 1.0 if totals["cycles"] else 0.0,
        "energy_pj_low": totals["energy_pj"]["low"], "energy_pj_high": totals["energy_pj"]["high"],
        "energy_share": 1.0 if totals["energy_pj"]["high"] else 0.0,
        "dram_bytes": totals["dram_bytes"], "min_dram_bytes": mins,
        "amplification": totals["dram_bytes"] / mins if mins else None,
    }



def network_compare(configs: list[dict], tables: list[list[dict]],
                    totals: list[dict]) -> tuple[list, list]:
    """A network on several configs (`configs`: each one's name and path; `tables`: each
    one's network rows, in network order, a warm inference's flush row last; `totals`: each
    one's network totals): a row per entry, its dimensions and a `configs` list of its
    figures on each config, with ratios to the first; and a totals row per config
    (network_total_row), with ratios to the first."""
    rows = []
    labels = config_labels(configs)
    for i, r in enumerate(tables[0] if tables else []):
        head = {k: r.get(k) for k in LAYER_KEYS}
        entries = [{"config": label, **{k: v for k, v in t[i].items() if k not in head}}
                   for label, t in zip(labels, tables, strict=True)]
        rows.append({**head, "configs": with_ratios(entries)})
    ends = []
    for c, label, t, tot in zip(configs, labels, tables, totals, strict=True):
        end = {"config": label, "path": c["path"],
               **network_total_row([r for r in t if r.get("type") != "flush"], tot)}
        if tot.get("time"):
            end["time"] = tot["time"]
        ends.append(end)
    return rows, with_ratios(ends)


def network_time(summaries: list[dict]) -> dict | None:
    """One inference's time from its entries' run documents (and the flush's), which run
    one after the other: the blocking times add up; so do the overlapped ones, each entry
    bound by its own resource. The inference's binding bound is the one whose entries take
    the most of the overlapped time (`by_bound`). None without a clock."""
    times = [s["totals"].get("time") for s in summaries]
    if not times or any(t is None or t.get("blocking_us") is None for t in times):
        return None
    blocking = sum(t["blocking_us"] for t in times)
    by_bound: dict[str, float] = {}
    for t in times:
        ov = t["overlapped"]
        if ov["bound"] is not None:
            by_bound[ov["bound"]] = by_bound.get(ov["bound"], 0.0) + ov["us"]
    overlapped = sum(by_bound.values()) if by_bound else None
    out = _network_ecm(times)
    return {**out, "clock_ghz": times[0]["clock_ghz"], "blocking_us": blocking,
            "overlapped_us": overlapped,
            "bound": max(by_bound, key=by_bound.get) if by_bound else None,
            "by_bound_us": by_bound,
            "complete": all(t["overlapped"]["complete"] for t in times),
            "inferences_per_s_blocking": 1e6 / blocking if blocking else None,
            "inferences_per_s_overlapped": 1e6 / overlapped if overlapped else None}


def _network_ecm(times: list[dict]) -> dict:
    """The in-core ECM time of one inference (docs/model.md §4): its entries' (layers,
    operators with their streaming body, and the flush) one after the other; empty when an
    entry has none (a config without `core:`)."""
    models = [t.get("ecm") for t in times]
    if not models or any(m is None or m.get("us") is None for m in models):
        return {}
    total = sum(m["us"] for m in models)
    return {"ecm_us": total, "inferences_per_s_ecm": 1e6 / total if total else None}


# what a network row says about the layer itself, the same on every config
LAYER_KEYS = ("name", "type", "op", "M", "N", "F", "K", "stride", "F_out", "batch", "macs")


def _op_shape(step) -> dict:
    """An operator row's M, N, F, K, stride, F_out: input and output channels and sizes."""
    x = step.entry
    M = sum(c for _, c, _ in step.inputs) if x.type == "concat" else step.inputs[0][1]
    K = step.inputs[0][2] if x.type == "globalavgpool" else x.K
    stride = x.stride if x.type in ("maxpool", "avgpool") else 1
    return {"M": M, "N": step.output[1], "F": step.inputs[0][2], "K": K, "stride": stride,
            "F_out": step.output[2]}


# an inference interrupted before its flush: none to add
NO_FLUSH = {"totals": {"cycles": 0, "energy_pj": {"low": 0.0, "high": 0.0}, "dram_bytes": 0},
            "seconds": 0.0}


def warm_rows(steps, summaries: list[dict], flush: dict | None) -> list[dict]:
    """One row per entry of a warm network (chain.Step), layers and operators (`op`), each
    with its share of the inference's totals (which include the flush; an interrupted
    inference, `flush` None: the finished entries' totals)."""
    flush = flush or NO_FLUSH
    total_cycles = (sum(s["totals"]["cycles"] for s in summaries)
                    + flush["totals"]["cycles"]) or 1
    total_energy = (sum(s["totals"]["energy_pj"]["high"] for s in summaries)
                    + flush["totals"]["energy_pj"]["high"]) or 1
    rows = []
    for step, s in zip(steps, summaries, strict=True):
        t, x = s["totals"], step.entry
        if step.op:
            shape = _op_shape(step)
            least = step.min_bytes
        else:
            lay = x.layer
            shape = {"M": lay.M, "N": lay.N, "F": lay.F, "K": lay.K, "stride": lay.stride,
                     "F_out": lay.F_out}
            least = t["traffic"]["min_bytes"]
        rows.append({
            "name": x.name, "type": x.type, "op": step.op, **shape,
            "batch": step.output[0].shape[0], "macs": t["macs"], "accesses": s["accesses"],
            "cycles": t["cycles"], "cycles_share": t["cycles"] / total_cycles,
            "energy_pj_low": t["energy_pj"]["low"], "energy_pj_high": t["energy_pj"]["high"],
            "energy_share": t["energy_pj"]["high"] / total_energy,
            "dram_bytes": t["dram_bytes"], "min_dram_bytes": least,
            "amplification": _ratio(t["dram_bytes"], least),
            **{f"hit_rate_{k + 1}": r for k, r in enumerate(hit_rates(s))},
            **three_c_columns(s),
        })
    return rows


def flush_row(flush: dict, rows: list[dict]) -> dict:
    """The end-of-inference flush as a row: its energy, DRAM bytes and each level's flush
    write-backs (it costs no cycles: write-backs are buffered)."""
    t = flush["totals"]
    energy = (sum(r["energy_pj_high"] for r in rows) + t["energy_pj"]["high"]) or 1
    return {"name": "flush", "type": "flush", "cycles": t["cycles"],
            "energy_pj_low": t["energy_pj"]["low"], "energy_pj_high": t["energy_pj"]["high"],
            "energy_share": t["energy_pj"]["high"] / energy, "dram_bytes": t["dram_bytes"],
            **{f"flush_writebacks_{k + 1}": lv["flush_writebacks"]
               for k, lv in enumerate(flush["levels"][:-1])}}


def warm_totals(rows: list[dict], flush: dict | None, summaries: list[dict]) -> dict:
    """One inference: the rows' sums plus the flush (None: an interrupted inference, the
    rows' sums)."""
    flush = flush or NO_FLUSH
    f = flush["totals"]
    return {
        "layers": sum(1 for r in rows if not r["op"]), "entries": len(rows),
        "operators": sum(1 for r in rows if r["op"]),
        "macs": sum(r["macs"] for r in rows), "accesses": sum(r["accesses"] for r in rows),
        "cycles": sum(r["cycles"] for r in rows) + f["cycles"],
        "energy_pj": {"low": sum(r["energy_pj_low"] for r in rows) + f["energy_pj"]["low"],
                      "high": sum(r["energy_pj_high"] for r in rows) + f["energy_pj"]["high"]},
        "dram_bytes": sum(r["dram_bytes"] for r in rows) + f["dram_bytes"],
        "min_dram_bytes": sum(r["min_dram_bytes"] for r in rows),
        "seconds": round(sum(s["seconds"] for s in summaries) + flush["seconds"], 3),
    }


def metrics_row(layer, preset: str | None = None) -> dict:
    """Eq. 2.1–2.4 of one layer, in elements and in bytes."""
    m = metrics(layer)
    return {
        "layer": layer.type, "preset": preset, "batch": layer.B, "M": layer.M, "N": layer.N,
        "F": layer.F, "K": layer.K, "G": layer.groups, "stride": layer.stride,
        "F_out": layer.F_out, "dtype_bytes": layer.dtype_bytes,
        "macs": m.macs, "params": m.params, "activations": m.activations,
        "inputs": m.inputs, "outputs": m.outputs, "intermediate": m.intermediate,
        "intensity": m.intensity, "params_bytes": m.params_bytes,
        "activations_bytes": m.activations_bytes, "intensity_per_byte": m.intensity_bytes,
        "min_traffic_bytes": m.min_traffic_bytes,
        # as B grows: MACs and activations grow with B, parameters stay (Section 2.3)
        "intensity_limit": m.macs / m.activations,
    }


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def layer_info(result: Result) -> dict:
    layer, p = result.layer, result.plan
    m = metrics(layer)
    info = layer.model_dump()
    info.update({
        "F_out": layer.F_out,
        "macs": result.macs,
        "macs_nominal": m.macs,
        "tensors": [{"name": t.name, "base": t.base, "base_hex": hex(t.base),
                     "shape": list(t.shape), "bytes": t.nbytes} for t in p.tensors],
    })
    return info


SWEEP_LEVEL_COLUMNS = ("hit_rate", "hits", "misses", "writebacks")


def sweep_row(axes: dict, doc: dict | None, status: str = "done", error: str | None = None
              ) -> dict:
    """One line of a sweep's results: the point's axis values, then what it measured.

    Levels are columns by name (`L1D.hit_rate`, `L1D.misses`, ...), so that configs with
    different levels share the columns they have in common. A network's point carries the
    totals of its layers (counts summed over the layers, hit rates of the sums)."""
    row = {**{k: v for k, v in axes.items()}, "status": status}
    if doc is None:
        row["error"] = error
        return row
    runs = doc["runs"] if "network" in doc else [doc]
    macs = sum(r["totals"]["macs"] for r in runs)
    cycles = sum(r["totals"]["cycles"] for r in runs)
    low = sum(r["totals"]["energy_pj"]["low"] for r in runs)
    high = sum(r["totals"]["energy_pj"]["high"] for r in runs)
    dram = sum(r["totals"]["dram_bytes"] for r in runs)
    row.update({"macs": macs, "accesses": sum(r["accesses"] for r in runs), "cycles": cycles,
                "cycles_per_mac": _ratio(cycles, macs), "energy_pj_low": low,
                "energy_pj_high": high, "energy_per_mac_pj_high": _ratio(high, macs),
                "dram_bytes": dram, "dram_bytes_per_mac": _ratio(dram, macs)})
    names = [lv["name"] for lv in runs[0]["levels"][:-1]] if runs else []  # not memory
    for k, name in enumerate(names):
        levels = [r["levels"][k] for r in runs]
        hits = sum(lv["hits"] for lv in levels)
        misses = sum(lv["misses"] for lv in levels)
        row[f"{name}.hit_rate"] = _ratio(hits, hits + misses)
        row[f"{name}.hits"] = hits
        row[f"{name}.misses"] = misses
        row[f"{name}.writebacks"] = sum(lv["writebacks"] for lv in levels)
        if all("three_c" in lv for lv in levels):
            for kind in KINDS_3C:
                row[f"{name}.{kind}"] = sum(lv["three_c"][kind] for lv in levels)
    return row
