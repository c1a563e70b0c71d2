"""Kernel families: every command loads (or compiles, announced) exactly the kernels it
runs, and `simcache compile` compiles or loads them ahead (engine.FAMILIES)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TINY_NET, cli_output
from simcache import dram as D
from simcache import engine
from simcache import kernels as K
from simcache import mrc as M

ROOT = Path(__file__).resolve().parents[1]
FC = ["--layer", "fc", "-M", "8", "-N", "8"]
DIN = str(ROOT / "traces" / "spatial_f8.din")
# the kernels the engine and mrc pick at call time (module attributes)
SPIED = ("RUN_NEST", "RUN_TRACE", "RUN_NEST_CCC", "RUN_TRACE_CCC", "RUN_NEST_GUARDED",
         "RUN_NEST_PF", "RUN_TRACE_PF", "RUN_NEST_GUARDED_PF", "FLUSH_LEVEL", "FLUSH_LEVEL_PF",
         "RUN_TRACE_TAP", "RUN_NEST_TAP", "RUN_TRACE_TAP_PF", "RUN_NEST_TAP_PF",
         "FLUSH_LEVEL_TAP", "FLUSH_LEVEL_TAP_PF")


class Spy:
    """A kernel that notes each call (its name, in the phase under way) and forwards it."""

    def __init__(self, name, kernel, calls):
        self.name, self.kernel, self.calls = name, kernel, calls

    def __call__(self, *args):
        self.calls[self.calls["phase"]].add(self.name)
        return self.kernel(*args)

    def __getattr__(self, attr):
        return getattr(self.kernel, attr)


def _spy(name, value, calls):
    if isinstance(value, tuple):
        return tuple(_spy(f"{name}[{k}]", v, calls) for k, v in enumerate(value))
    return Spy(name, value, calls)


@pytest.fixture
def calls(monkeypatch):
    """{'warm': kernels the warm-up called, 'run': kernels called after it}."""
    log = {"phase": "run", "warm": set(), "run": set(), "warmed": 0}
    for name in SPIED:
        monkeypatch.setattr(K, name, _spy(name, getattr(K, name), log))
    monkeypatch.setattr(M, "_feed", Spy("mrc._feed", M._feed, log))
    monkeypatch.setattr(D, "_feed", Spy("dram._feed", D._feed, log))
    real = engine.warm_up

    def warm_up(*args, **kw):
        log["phase"], log["warmed"] = "warm", log["warmed"] + 1
        try:
            return real(*args, **kw)
        finally:
            log["phase"] = "run"

    monkeypatch.setattr(engine, "warm_up", warm_up)
    return log


def _net(tmp_path) -> str:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_NET)
    return str(p)


COMMANDS = {
    "run plain": ["run", "thesis", *FC],
    "run rpi4 (prefetch)": ["run", "rpi4", *FC],
    "run zen4 (inclusion)": ["run", "zen4", *FC],
    "run cortex_m7": ["run", "cortex_m7", *FC],
    "run --3c": ["run", "thesis", *FC, "--3c"],
    "run guarded": ["run", "mobile_soc", "--layer", "fc", "-M", "10", "-N", "8", "--tile",
                    "m=4"],
    "run server (DRAM)": ["run", "server", *FC],
    "network mobile_soc (DRAM)": ["network", "mobile_soc", "{net}"],
    "run guarded rpi4": ["run", "rpi4", "--layer", "fc", "-M", "10", "-N", "8", "--tile",
                         "m=4"],
    "compare": ["compare", "thesis", "rpi4", *FC],
    "network rpi4": ["network", "rpi4", "{net}"],
    "network --3c": ["network", "thesis", "{net}", "--3c"],
    "replay": ["replay", "thesis", DIN],
    "replay rpi4": ["replay", "rpi4", DIN],
    "replay --3c": ["replay", "mobile_soc", DIN, "--3c"],
    "explain": ["explain", "thesis", *FC],
    "explain rpi4": ["explain", "rpi4", *FC],
    "explain a trace": ["explain", "mobile_soc", "--trace", DIN],
    "mrc": ["mrc", "thesis", *FC, "--level", "L2"],
    "mrc guarded": ["mrc", "mobile_soc", "--layer", "fc", "-M", "10", "-N", "8", "--tile",
                    "m=4", "--level", "L2"],
    "mrc a trace": ["mrc", "thesis", "--trace", DIN, "--level", "L1"],
    "csim": ["csim", "-v", "-s", "4", "-E", "1", "-b", "4", "-t",
             str(ROOT / "traces" / "yi.trace")],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_warms_up_the_kernels_it_runs(calls, capsys, tmp_path, monkeypatch,
                                                    name):
    """What a command's warm-up loads (or compiles, saying so) is what it then runs: no
    kernel is first called, so compiled unannounced, after the warm-up."""
    monkeypatch.chdir(tmp_path)  # csim writes .csim_results
    args = [a.format(net=_net(tmp_path)) for a in COMMANDS[name]]
    code, _, err = cli_output(capsys, *args, "-f", "json") if args[0] in (
        "run", "compare", "network", "replay") else cli_output(capsys, *args)
    assert code == 0, err
    assert calls["warmed"] == 1 and calls["run"], calls
    assert calls["run"] <= calls["warm"], calls["run"] - calls["warm"]


@pytest.mark.parametrize("config", ["rpi4", "zen4"])  # cortex_m7: neither
def test_prefetch_and_inclusion_configs_are_the_pf_family(config):
    from simcache.api import load_config
    h, _ = load_config(config)
    g = h.geometry(4)
    assert engine.variant_of(g) == engine.variant_of(g, ccc=True) == "pf"
    assert {f for f, _ in engine.units_for([g], needs=("trace",))} == {"pf-trace"}


def test_the_announcement_names_the_families_and_their_estimate(monkeypatch):
    said = []
    monkeypatch.setattr(engine, "_cached", lambda kernel, args: False)
    units = [("pf-nest", True), ("pf-trace", True)]
    engine.warm_up(units, said.append)
    about = round(engine.compile_estimate(units) / 5) * 5
    assert said[0] == ("simcache: compiling the simulation kernels pf-nest (hashed), "
                       f"pf-trace (hashed) (first run only, about {about} s)…")
    assert said[1].startswith("simcache: ") and " the simulation kernels in " in said[1]


def test_the_estimate_table_has_every_unit():
    assert set(engine._PATH_S) == set(engine.VARIANTS)
    assert set(engine._LOOP_S) == set(engine.FAMILIES)
    assert all(len(t) == 2 and min(t) > 0 for t in engine._LOOP_S.values())


# ---------------------------------------------------------------- simcache compile


def test_compile_an_unknown_family_is_one_line_and_writes_nothing(capsys, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli_output(capsys, "compile", "plain-nest", "pf-loops")
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, (code, lines)
    assert lines[0].startswith("error: FAMILY: 'pf-loops': no such kernel family; the "
                               "families are plain, 3c, pf, mrc, dram, drampf, plain-nest,")
    assert os.listdir(tmp_path) == []


def test_compile_names_a_line_per_family(capsys):
    code, out, err = cli_output(capsys, "compile", "plain", "-j", "1")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("simcache: 3 kernel families (6 units) on 1 process")
    done = [line.split(":")[1].strip() for line in lines[1:]]
    assert done == ["plain-nest", "plain-guarded", "plain-trace"], lines
    assert all(" in " in line and line.split(": ")[2].split()[0] in ("compiled", "loaded")
               for line in lines[1:])
    assert all(engine.unit_cached(u) for u in engine.all_units(("plain-trace",)))


def test_compile_on_two_processes_leaves_a_cache_every_process_loads(tmp_path):
    """Two variants compiled at once by two processes into the one cache on disk: a third
    process then finds every unit there (Numba's index files stayed whole)."""
    exe = Path(sys.executable).parent / "simcache"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "simcache"]
    done = subprocess.run(cmd + ["compile", "plain-trace", "3c-trace", "-j", "2"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "on 2 processes" in lines[0]
    assert sorted(line.split(":")[1].strip() for line in lines[1:]) == ["3c-trace",
                                                                          "plain-trace"]
    probe = ("from simcache import engine; print(all(engine.unit_cached(u) for u in "
             "engine.all_units(('plain-trace', '3c-trace'))))")
    check = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           cwd=ROOT, check=True)
    assert check.stdout.strip() == "True"


def test_example_counts_follow_the_hypothesis_profile():
    """tests/conftest.py: `quick` (the default) runs a quarter of each property test's
    examples, `full` the counts the tests name."""
    from helpers import examples
    assert examples(150, "full") == 150 and examples(300, "full") == 300
    assert examples(150, "quick") == 38 and examples(8, "quick") == 5


def test_a_plru_config_is_the_pf_family_unless_classifying():
    """mobile_soc's L1D is plru: its runs take the pf kernels, and with --3c the 3c ones
    (docs/model.md §7); a config of lru levels keeps the plain ones."""
    from simcache.api import load_config
    g = load_config("mobile_soc")[0].geometry(4)
    assert engine.variant_of(g) == "pf" and engine.variant_of(g, ccc=True) == "3c"
    assert engine.variant_of(load_config("server")[0].geometry(4)) == "plain"
