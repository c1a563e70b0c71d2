"""benchmarks/cacti_energies.py: the chip configs' energies at their node (issue 22 item 5).

Without CACTI: the node scaling against the authors' published value, the unit conversion and
the request widths against a stand-in CACTI whose answers are computed here by hand, and the
register and MAC figures of every chip config. With CACTI 7 (env CACTI, or `cacti` on PATH):
the script's table must be what the configs hold.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from simcache.config import load_hierarchy

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("cacti_energies",
                                              ROOT / "benchmarks" / "cacti_energies.py")
ce = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ce)


def test_the_32nm_factor_is_the_one_of_the_authors_corrigendum():
    # Stillmaker & Baas's corrigendum: 0.8367(0.9)^2 - 0.4341(0.9) + 0.1701 = 0.4571
    assert round(ce.energy_factor(32), 4) == 0.4571


def test_factors_fall_with_the_node_and_stop_at_7nm():
    nodes = [45, 40, 32, 28, 22, 20, 16, 14, 10, 7]
    f = [ce.energy_factor(n) for n in nodes]
    assert all(a > b for a, b in zip(f, f[1:], strict=False))
    assert ce.energy_factor(5) == ce.energy_factor(7)  # the table ends at 7 nm
    # between two rows, linear in the node: 28 nm is a third of the way from 32 to 20 nm
    f32, f20 = ce.energy_factor(32), ce.energy_factor(20)
    assert ce.energy_factor(28) == pytest.approx(f32 + (28 - 32) / (20 - 32) * (f20 - f32))
    with pytest.raises(ValueError):
        ce.energy_factor(65)


def test_cacti_runs_at_the_node_it_models_and_at_22nm_below():
    assert [ce.cacti_node(n) for n in (40, 28, 22, 14, 7, 5)] == [40, 28, 22, 22, 22, 22]


def test_registers_and_macs_of_every_chip_config_are_horowitz_scaled_to_its_node():
    for config, (nm, _) in ce.NODES.items():
        h = load_hierarchy(ROOT / "configs" / f"{config}.yaml")
        f = ce.energy_factor(nm) / ce.energy_factor(45)
        regs = next(lv for lv in h.levels if lv.line == "element")
        assert list(regs.energy) == [float(f"{e * f:.3g}") for e in (0.4, 3.7)], config
        assert list(h.mac_energy) == [float(f"{e * f:.3g}") for e in (1.5, 4.6)], config
        assert f < 1


def test_thesis_keeps_the_documents_45nm_figures():
    h = load_hierarchy(ROOT / "configs" / "thesis.yaml")
    assert list(h.mac_energy) == [1.5, 4.6]
    assert [list(lv.energy) for lv in h.levels] == [[0.4, 3.7]] + [[10, 100]] * 3
    assert "thesis" not in ce.NODES


def test_every_chip_config_cites_cacti_or_the_node_scaling_for_each_energy():
    for config in ce.NODES:
        h = load_hierarchy(ROOT / "configs" / f"{config}.yaml")
        for lv in h.levels:
            text = lv.source["energy"] if isinstance(lv.source, dict) else lv.source
            assert "Stillmaker" in text or "CACTI" in text, (config, lv.name)
            if lv.write_energy is not None:
                assert "CACTI" in lv.source["write_energy"], (config, lv.name)


def test_each_cache_energy_is_the_cacti_figure_its_source_states_scaled_to_the_node():
    # without CACTI: the raw figure a level's source.energy quotes, scaled by this script's
    # factor and rounded, must be the figure the level holds (and write_energy likewise)
    import re
    for config, (nm, _) in ce.NODES.items():
        h = load_hierarchy(ROOT / "configs" / f"{config}.yaml")
        f = ce.scale(ce.cacti_node(nm), nm)
        for lv in h.levels:
            if lv.line == "element":
                continue
            for field, value in (("energy", lv.energy), ("write_energy", lv.write_energy)):
                if value is None:
                    continue
                text = " ".join(lv.source[field].split())
                raw = float(re.search(r"= ([0-9.]+) pJ per 64-bit access at", text).group(1))
                assert list(value) == [float(f"{raw * f:.3g}")] * 2, (config, lv.name, field)


def test_a_line_request_costs_one_cacti_access_and_is_priced_once():
    # the conversion assumes every request below the first cache level is one whole line of
    # the level above (a fill or a write-back), so that bytes / 8 x (pJ per line / (line / 8))
    # is one CACTI access per request; and that the first cache level sees element requests
    from simcache import api
    h = load_hierarchy(ROOT / "configs" / "zen4.yaml")
    r = api.simulate(h, "depthwise", M=16, N=16, F=28).to_dict()
    lv = {x["name"]: x for x in r["levels"]}
    for name in ("L2", "L3"):
        for phase in (lv[name], lv[name]["flush"]):
            assert phase["bytes_read"] == 64 * phase["reads"], name
            assert phase["bytes_written"] == 64 * phase["writes"], name
        spec = next(x for x in h.levels if x.name == name)
        per_request = spec.energy[0] * 64 / 8  # the CACTI per-line figure, scaled
        requests = lv[name]["reads"] + lv[name]["flush"]["reads"]
        wrequests = lv[name]["writes"] + lv[name]["flush"]["writes"]
        wper = (spec.write_energy or spec.energy)[0] * 64 / 8
        pf = lv[name].get("prefetch", {}).get("energy_pj", {"low": 0})["low"]
        assert lv[name]["energy_pj"]["low"] == pytest.approx(
            requests * per_request + wrequests * wper + pf)
    assert lv["L1D"]["bytes_read"] == 4 * lv["L1D"]["reads"]  # fp32 elements from registers


CANNED = """
    Total dynamic read energy per access (nJ): 0.0219589
    Total dynamic write energy per access (nJ): 0.0259906
    Total leakage power of a bank (mW): 45.6105
"""


def test_parse_output_reads_nj_and_mw():
    assert ce.parse_output(CANNED) == {"read_nj": 0.0219589, "write_nj": 0.0259906,
                                       "leak_mw": 45.6105}
    with pytest.raises(ValueError):
        ce.parse_output("ERROR: no valid organisation")


TEMPLATE = """# a cache.cfg
-size (bytes) 131072
-block size (bytes) 64
-associativity 2
-technology (u) 0.090
-output/input bus width 512
-Add ECC - "true"
"""


def test_write_cfg_replaces_only_the_levels_lines():
    text = ce.write_cfg(TEMPLATE, 16384, 32, 4, 40, 8)
    assert text.splitlines() == ["# a cache.cfg", "-size (bytes) 16384", "-block size (bytes) 32",
                                 "-associativity 4", "-technology (u) 0.040",
                                 "-output/input bus width 64", '-Add ECC - "true"']
    with pytest.raises(ValueError):
        ce.write_cfg("-size (bytes) 1\n", 16384, 32, 4, 40, 8)


# A stand-in for CACTI: it reads the .cfg it is given and answers
#   read nJ  = 0.001 x ways + 0.0005 x bus width in 64-bit words + 0.002 (fixed)
#   write nJ = the read + 0.001
# so that the per-64-bit figure depends on the width (a fixed part) and on the ways.
FAKE = """#!{python}
import re, sys
cfg = open(sys.argv[2]).read()
ways = int(re.search(r"^-associativity (\\d+)", cfg, re.M).group(1))
bits = int(re.search(r"^-output/input bus width (\\d+)", cfg, re.M).group(1))
read = 0.001 * ways + 0.0005 * bits / 64 + 0.002
print("Total dynamic read energy per access (nJ): %.9f" % read)
print("Total dynamic write energy per access (nJ): %.9f" % (read + 0.001))
print("Total leakage power of a bank (mW): 1.0")
"""


@pytest.fixture
def fake_cacti(tmp_path):
    d = tmp_path / "cacti"
    d.mkdir()
    (d / "cache.cfg").write_text(TEMPLATE)
    exe = d / "cacti"
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def expected_read_pj(ways: int, width: int) -> float:
    """The stand-in's read energy per 64-bit access: nJ per `width` bytes, in pJ per 8 B."""
    nj = 0.001 * ways + 0.0005 * width / 8 + 0.002
    return nj * 1000 / (width / 8)


def test_table_converts_nj_per_request_to_pj_per_64_bits(fake_cacti, tmp_path):
    rows = {(r["config"], r["level"]): r for r in ce.table(fake_cacti, tmp_path)}
    # rpi4: L1D 2-way asked for one 64-bit word; L2 16-way asked for the L1D's 64-byte lines
    assert rows[("rpi4", "L1D")]["width"] == 8
    assert rows[("rpi4", "L1D")]["read_pj"] == pytest.approx(expected_read_pj(2, 8))
    assert rows[("rpi4", "L2")]["width"] == 64
    assert rows[("rpi4", "L2")]["read_pj"] == pytest.approx(expected_read_pj(16, 64))
    assert rows[("rpi4", "L2")]["write_pj"] == pytest.approx(
        expected_read_pj(16, 64) + 1000 * 0.001 / 8)
    # cortex_m7's L1D has 32-byte lines, but it is the first cache level: 8-byte requests
    assert rows[("cortex_m7", "L1D")]["width"] == 8
    # 28 nm and 40 nm run at their node, unscaled; 14 nm runs at 22 nm and is scaled
    assert rows[("rpi4", "L2")]["cacti_node"] == 28
    assert rows[("rpi4", "L2")]["energy"] == float(f"{expected_read_pj(16, 64):.3g}")
    server_l2 = rows[("server", "L2")]
    assert server_l2["cacti_node"] == 22
    assert server_l2["factor"] == pytest.approx(ce.energy_factor(14) / ce.energy_factor(22))
    assert server_l2["energy"] == float(
        f"{expected_read_pj(16, 64) * server_l2['factor']:.3g}")
    # the 11-way L3 slice: linear between the 8- and 16-way runs, i.e. the stand-in at 11 ways
    l3 = rows[("server", "L3")]
    assert l3["size"] == 1441792
    assert l3["read_pj"] == pytest.approx(expected_read_pj(11, 64))
    # zen4 prices one 4 MiB slice of its L3
    assert rows[("zen4", "L3")]["size"] == 4 << 20


def test_horowitz_check_runs_cacti_at_45nm_for_his_two_sizes(fake_cacti, tmp_path):
    lines = ce.horowitz_check(fake_cacti, tmp_path)
    assert lines[2] == f"| 32768 | 64 | 8 | 8 | {expected_read_pj(8, 8):.4g} | 20 |"
    assert lines[3] == f"| 1048576 | 64 | 16 | 64 | {expected_read_pj(16, 64):.4g} | 100 |"
    assert "-technology (u) 0.045" in (tmp_path / "horowitz-32768.cfg").read_text()


def test_config_energies_gives_write_energy_only_where_it_differs(fake_cacti, tmp_path):
    rows = ce.table(fake_cacti, tmp_path)
    got = ce.config_energies(rows)
    for r in rows:
        e, w = got[(r["config"], r["level"])]
        assert e == r["energy"]
        differs = abs(r["write_pj"] / r["read_pj"] - 1) > 0.10
        assert (w is not None) == differs
        if differs:
            assert w == r["write_energy"]


def test_check_reports_a_config_that_differs(fake_cacti, tmp_path):
    # the stand-in's figures are not the configs': every chip config's caches differ
    problems = ce.check(ce.table(fake_cacti, tmp_path))
    assert any(p.startswith("zen4 L1D:") for p in problems)
    assert not any("registers" in p or "mac_energy" in p for p in problems)


def test_check_compares_energy_and_write_energy(monkeypatch):
    # the table as the configs hold it: check finds nothing; one write_energy less: one line
    want = {}
    for config in ce.NODES:
        for lv in load_hierarchy(ROOT / "configs" / f"{config}.yaml").levels:
            if lv.line != "element":
                w = None if lv.write_energy is None else lv.write_energy[0]
                want[(config, lv.name)] = (lv.energy[0], w)
    monkeypatch.setattr(ce, "config_energies", lambda rows: dict(want))
    assert ce.check([]) == []
    assert want[("server", "L2")][1] is not None
    want[("server", "L2")] = (want[("server", "L2")][0], None)
    problems = ce.check([])
    assert len(problems) == 1 and problems[0].startswith("server L2:")


def test_refuses_a_missing_binary(capsys):
    assert ce.main(["--cacti", "/nonexistent/cacti"]) == 2
    assert "--cacti /nonexistent/cacti" in capsys.readouterr().err


def test_a_cacti_that_prints_no_energy_is_one_line_and_exit_1(tmp_path, capsys):
    d = tmp_path / "notcacti"
    d.mkdir()
    (d / "cache.cfg").write_text(TEMPLATE)
    exe = d / "cacti"
    exe.write_text(f"#!{sys.executable}\nprint('Associativity must be a power of 2')\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    assert ce.main(["--cacti", str(exe)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "printed no 'Total dynamic read energy per access'" in err[0]


def _real_cacti() -> str | None:
    return os.environ.get("CACTI") or shutil.which("cacti")


@pytest.mark.skipif(not _real_cacti(), reason="CACTI 7 not found: set CACTI=path/to/cacti "
                                               "(github.com/HewlettPackard/cacti, make opt)")
def test_the_configs_hold_what_cacti_gives(capsys):
    code = ce.main(["--cacti", _real_cacti(), "--check"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "| zen4 | L3 | 4194304 |" in out
