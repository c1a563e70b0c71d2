"""Shared test helpers: hierarchies from plain level specs, engine runs with contents."""

from __future__ import annotations

import numpy as np

from simcache.config import Hierarchy
from simcache.engine import State

# a network of three simulated layers (a spatial, a pointwise, an fc) and two skipped ones
TINY_NET = """\
name: tiny
source: test
input: {channels: 4, size: 8}
layers:
  - {name: first_conv, type: spatial, M: 4, N: 8, F: 8, K: 3}
  - {name: relu, type: relu}
  - {name: squeeze, type: pointwise, M: 8, N: 4, F: 8}
  - {name: pool, type: globalavgpool}
  - {name: fc, type: fc, M: 4, N: 10}
"""


def policies_for(ways: int, random: bool = True) -> list[str]:
    """The replacement policies a level of `ways` ways takes (docs/model.md §2): lru, fifo
    (and random, unless `random` is False), and the policies of real chips where the
    shape allows them (at most 16 ways; plru a power of two)."""
    out = ["lru", "fifo"] + (["random"] if random else [])
    if ways <= 16:
        out += ["bitplru", "srrip", "brrip"] + (["plru"] if ways & (ways - 1) == 0 else [])
    return out


def hierarchy(specs: list[dict], seed: int = 1) -> Hierarchy:
    """A Hierarchy from naive-style level dicts (size, line, ways, policy, write flags,
    prefetch, inclusion; `register`: a register file, line: element, whose element the
    caller makes the dict's line)."""
    levels = [
        dict(
            name=f"L{k + 1}",
            size=s["size"],
            line="element" if s.get("register") else s["line"],
            ways=s["ways"],
            policy=s["policy"],
            write_back=s["write_back"],
            write_allocate=s["write_allocate"],
            prefetch=s.get("prefetch", "none"),
            prefetch_distance=s.get("prefetch_distance", 1),
            inclusion=s.get("inclusion", "nine"),
            latency=1 + k,
            energy=1.0,
            source="test",
        )
        for k, s in enumerate(specs)
    ]
    return Hierarchy(
        name="test", source="test", mac_cycles=1, mac_energy=1.0, seed=seed, levels=levels,
        memory=dict(latency=100, energy=100.0, source="test"),
    )


def run_engine(specs: list[dict], trace: list[tuple], seed: int = 1, element: int = 4,
               window: tuple[int, int] | None = None, cuts: list[int] | None = None,
               box: int | None = None):
    """Replay a list of (addr, size, is_write, tensor) through the engine.

    Returns (counters, contents before the flush), like naive.simulate. `window`: the byte
    range where levels with many ways use their direct lookup table. `cuts`: replay the
    trace in chunks, split before these indices. `box`: entries of the first level's
    outbox (engine.State)."""
    state, contents = replayed(specs, trace, seed, element, window, cuts, box)
    return state.counters, contents


def replayed(specs: list[dict], trace: list[tuple], seed: int = 1, element: int = 4,
             window: tuple[int, int] | None = None, cuts: list[int] | None = None,
             box: int | None = None):
    """`run_engine`'s replay: (the State after the flush, its contents before it)."""
    h = hierarchy(specs, seed)
    state = State(h.geometry(element), h.seed, window, box=box)
    if trace:
        arr = np.array(trace, dtype=np.int64)
        for c in np.split(arr, sorted(cuts or [])):
            state.replay(c[:, 0], c[:, 1], c[:, 2].astype(np.uint8), c[:, 3].astype(np.int8))
    contents = state.contents()
    state.flush()
    return state, contents


def cli(*args: str) -> int:
    """Run the simcache command line in this process; its exit code."""
    from simcache.cli import main
    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code or 0
    return 0


def cli_output(capsys, *args: str) -> tuple[int, str, str]:
    """Run the command line in this process: (exit code, standard output, standard error)."""
    code = cli(*args)
    out = capsys.readouterr()
    return code, out.out, out.err


def loadstore_items(addr, is_write) -> list:
    """A trace in pycachesim's batched format, in trace order: [(loads, stores), ...],
    each item's loads before its stores, so a new item starts at every load that follows a
    store. (Shared by tests/test_pycachesim.py and benchmarks/bench.py.)"""
    items, loads, stores = [], [], []
    for a, w in zip(addr.tolist(), is_write.tolist(), strict=True):
        if w:
            stores.append(a)
        else:
            if stores:
                items.append((loads, stores))
                loads, stores = [], []
            loads.append(a)
    items.append((loads, stores))
    return items


def assert_refused(code: int, out: str, err: str, expect: list[str], target) -> None:
    """Exit 2, one error line per expected prefix (in order), nothing on standard output
    and no output file."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == len(expect), lines
    for line, want in zip(lines, expect, strict=True):
        assert line.startswith(want)
    assert out == "" and not target.exists()


def examples(n: int, profile: str | None = None) -> int:
    """A property test's example count `n` (as in the `full` profile) scaled by the
    Hypothesis profile loaded (tests/conftest.py), or by `profile`: the whole of it under
    `full`, a quarter under the default `quick`; at least 5."""
    from hypothesis import settings

    current = settings() if profile is None else settings.get_profile(profile)
    return max(5, round(n * current.max_examples / 100))
