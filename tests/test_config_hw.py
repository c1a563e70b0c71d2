"""Config fields for hardware realism (issue 15): clock, macs_per_cycle, bandwidth,
prefetch and inclusion. Parsing of every unit, and every refusal as the exact line a user
reads (file:line, field, message), through load_hierarchy and through the command line."""

from pathlib import Path

import pytest
import yaml

from helpers import assert_refused, cli_output
from simcache.config import Bandwidth, ConfigError, Hierarchy, load_hierarchy

CONFIGS = Path(__file__).parent.parent / "configs"


def level(name: str, size: str, line=64, **extra) -> dict:
    return {"name": name, "size": size, "line": line, "ways": 2, "latency": 3, "energy": 10,
            **extra, "source": "s"}


def base(**top) -> dict:
    return {"name": "t", "source": "s", "mac_cycles": 1, "mac_energy": 1, **top,
            "levels": [level("L1", "1KiB"), level("L2", "4KiB")],
            "memory": {"latency": 200, "energy": 1000, "source": "s"}}


def write(tmp_path, data: dict) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def line_of(path: Path, key: str, nth: int = 1) -> int:
    """1-based line of the nth line of the file that starts with `key:` (after indent)."""
    hits = [k + 1 for k, text in enumerate(path.read_text().splitlines())
            if text.strip().lstrip("- ").startswith(f"{key}:")]
    return hits[nth - 1]


def refusal(tmp_path, data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_hierarchy(write(tmp_path, data))
    return info.value.problems


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("given,ghz", [
    (2.84, 2.84), (3, 3.0), ("2.84 GHz", 2.84), ("480 MHz", 0.48), ("480MHz", 0.48),
    ("1500 mhz", 1.5), (" 2.84 GHz ", 2.84), ("32768 Hz", 32768e-9), ("216 kHz", 216e-6),
    ("10 GHz", 10.0),
])
def test_clock_units(given, ghz):
    h = Hierarchy.model_validate(base(clock=given))
    assert h.clock == pytest.approx(ghz, rel=1e-12)


def test_no_clock_and_no_macs_per_cycle_by_default():
    h = Hierarchy.model_validate(base())
    assert h.clock is None and h.macs_per_cycle is None
    assert h.bandwidths() == [None, None, None]
    assert [(lv.prefetch, lv.prefetch_distance, lv.inclusion) for lv in h.levels] == \
        [("none", 1, "nine")] * 2


@pytest.mark.parametrize("given,per_cycle", [
    (32, 32.0), (0.5, 0.5), ("64 B/cycle", 64.0), ("64B/cycle", 64.0), ("16 B/cycles", 16.0),
    ("8 B/clk", 8.0),
    # rates at the 2 GHz clock below: decimal prefixes are 1000-based, binary ones 1024-based
    ("34.1 GB/s", 34.1e9 / 2e9), ("25.6 GiB/s", 25.6 * 2**30 / 2e9), ("2 TB/s", 1000.0),
    ("500 MB/s", 0.25), ("4000 kB/s", 4e6 / 2e9), ("4000 KB/s", 4e6 / 2e9),
    ("1 KiB/s", 1024 / 2e9), ("1 MiB/s", 2**20 / 2e9), ("1 TiB/s", 2**40 / 2e9),
    ("2e9 B/s", 1.0),
])
def test_bandwidth_units(given, per_cycle):
    d = base(clock="2 GHz")
    d["levels"][1]["bandwidth"] = given
    d["memory"]["bandwidth"] = given
    h = Hierarchy.model_validate(d)
    assert h.bandwidths() == [None, pytest.approx(per_cycle, rel=1e-12),
                              pytest.approx(per_cycle, rel=1e-12)]


def test_a_rate_is_divided_by_the_clock():
    d = base(clock="480 MHz")
    d["memory"]["bandwidth"] = "3.84 GB/s"
    assert Hierarchy.model_validate(d).bandwidths()[-1] == pytest.approx(8.0)
    d["clock"] = 0.96
    assert Hierarchy.model_validate(d).bandwidths()[-1] == pytest.approx(4.0)


def test_every_new_field_survives_a_dump_and_reload():
    """Sweeps override a field by dumping the hierarchy and validating it again."""
    d = base(clock="2.84 GHz", macs_per_cycle=8)
    d["levels"][0].update(bandwidth="34.1 GB/s", prefetch="tagged", prefetch_distance=3)
    d["levels"][1].update(bandwidth=32, inclusion="inclusive")
    d["memory"]["bandwidth"] = "25.6 GiB/s"
    h = Hierarchy.model_validate(d)
    dumped = h.model_dump()
    assert "prefetch" not in dumped["memory"]
    again = Hierarchy.model_validate(dumped)
    assert again == h and again.bandwidths() == h.bandwidths()
    assert again.levels[0].bandwidth == Bandwidth(34.1e9, "s")
    assert Hierarchy.model_validate(h.model_dump(mode="json")) == h


@pytest.mark.parametrize("policy", ["none", "always", "miss", "tagged"])
def test_prefetch_policies(policy):
    d = base()
    d["levels"][1].update(prefetch=policy)
    if policy != "none":
        d["levels"][1].update(prefetch_distance=4)
    lv = Hierarchy.model_validate(d).levels[1]
    assert (lv.prefetch, lv.prefetch_distance) == (policy, 4 if policy != "none" else 1)


# ---------------------------------------------------------------- refusals, exact lines


def _set(where, **fields):
    def edit(d):
        target = d["memory"] if where == "memory" else (d if where == "top" else
                                                         d["levels"][where])
        target.update(fields)
    return edit


# (edit, the field's key whose line is named, which occurrence of that key, the line's text)
REFUSED = [
    (_set(1, bandwidth=0), "bandwidth", 1,
     "levels.1.bandwidth: must be positive, got 0"),
    (_set("memory", bandwidth="-3 B/cycle"), "bandwidth", 1,
     "memory.bandwidth: must be positive, got '-3 B/cycle'"),
    (_set("memory", bandwidth="3 B/hour"), "bandwidth", 1,
     "memory.bandwidth: expected a bandwidth such as 64 (B/cycle), '64 B/cycle' or "
     "'34.1 GB/s' (units B/cycle, B/s, kB/s, MB/s, GB/s, TB/s = 1000-based, KiB/s ... "
     "TiB/s = 1024-based), got '3 B/hour'"),
    (_set("memory", bandwidth="0 GB/s"), "bandwidth", 1,
     "memory.bandwidth: must be positive, got '0 GB/s'"),
    (_set("memory", bandwidth="34.1 Gb/s"), "bandwidth", 1,
     "memory.bandwidth: '34.1 Gb/s' is in bits; a bandwidth is in bytes (B), such as "
     "'34.1 GB/s'"),
    (_set("memory", bandwidth=True), "bandwidth", 1,
     "memory.bandwidth: expected a bandwidth such as 64 (B/cycle), '64 B/cycle' or "
     "'34.1 GB/s', got True"),
    (_set("memory", bandwidth="34.1 GB/s"), "bandwidth", 1,
     "memory.bandwidth: DRAM's bandwidth is a rate (bytes per second): it needs the config's "
     "clock to become bytes per cycle, or give B/cycle"),
    (_set(0, bandwidth="1 TB/s"), "bandwidth", 1,
     "levels.0.bandwidth: L1's bandwidth is a rate (bytes per second): it needs the config's "
     "clock to become bytes per cycle, or give B/cycle"),
    (_set("top", clock=0), "clock", 1, "clock: must be positive, got 0"),
    (_set("top", clock=2840), "clock", 1, "clock: at most 10 GHz, got 2840"),
    (_set("top", clock="3 furlongs"), "clock", 1,
     "clock: expected a clock such as 2.84 (GHz), '2.84 GHz' or '480 MHz', got '3 furlongs'"),
    (_set("top", macs_per_cycle=0), "macs_per_cycle", 1, "macs_per_cycle: must be positive, "
                                                         "got 0"),
    (_set("top", macs_per_cycle=".inf"), "macs_per_cycle", 1,
     "macs_per_cycle: expected a number of MACs per cycle such as 8, got '.inf'"),
    (_set("memory", prefetch="always"), "prefetch", 1,
     "memory.prefetch: main memory has no lines to prefetch; give prefetch to a cache level"),
    (_set("memory", prefetch_distance=2), "prefetch_distance", 1,
     "memory.prefetch_distance: main memory has no lines to prefetch; give prefetch_distance "
     "to a cache level"),
    (_set("memory", inclusion="inclusive"), "inclusion", 1,
     "memory.inclusion: main memory holds every line; inclusion is a property of cache "
     "levels"),
    (_set(0, prefetch="next"), "prefetch", 1,
     "levels.0.prefetch: Input should be 'none', 'always', 'miss' or 'tagged'"),
    (_set(0, inclusion="strict"), "inclusion", 1,
     "levels.0.inclusion: Input should be 'nine', 'inclusive' or 'exclusive'"),
    (_set(0, prefetch="miss", prefetch_distance=0), "prefetch_distance", 1,
     "levels.0.prefetch_distance: must be from 1 to 65536 lines, got 0"),
    (_set(0, prefetch="miss", prefetch_distance=1.0), "prefetch_distance", 1,
     "levels.0.prefetch_distance: expected a whole number of lines, got 1.0"),
    (_set(0, prefetch_distance=2), "prefetch_distance", 1,
     "levels.0.prefetch_distance: 2 lines needs a prefetch policy (always, miss or tagged); "
     "prefetch is none"),
    (_set(1, inclusion="inclusive", size="512B"), "inclusion", 1,
     "levels.1.inclusion: inclusive L2 (512 B) is smaller than L1 (1,024 B) above it, so it "
     "cannot hold all of L1's lines"),
    (_set(1, inclusion="inclusive", line=32), "inclusion", 1,
     "levels.1.inclusion: inclusive L2's line (32 B) is shorter than L1's (64 B) above it; "
     "an inclusive level's line is at least every line above it"),
    (_set(0, inclusion="inclusive"), "inclusion", 1,
     "levels.0.inclusion: L1 is inclusive but has no cache level above it to include "
     "(register files are outside inclusion)"),
    (_set(0, inclusion="exclusive"), "inclusion", 1,
     "levels.0.inclusion: exclusive L1 needs a cache level directly above it, whose victims "
     "fill it"),
    (_set(1, inclusion="exclusive", line=32, size="2KiB"), "inclusion", 1,
     "levels.1.inclusion: exclusive L2's line (32 B) differs from L1's (64 B) directly above "
     "it; victims move whole lines"),
    (lambda d: (d["levels"][0].update(write_back=False),
                d["levels"][1].update(inclusion="exclusive")), "inclusion", 1,
     "levels.1.inclusion: exclusive L2 is below write-through L1, which would forward writes "
     "of lines it holds; the level above an exclusive one is write-back"),
    (_set(1, inclusion="exclusive", prefetch="always"), "prefetch", 1,
     "levels.1.prefetch: an exclusive level is filled only by the victims of the level above; "
     "prefetch must be none"),
    (_set(1, prefetch="miss", bandwidth=8, inclusion="nine",
          source={k: "x" for k in ("size", "line", "ways", "latency", "energy")}),
     "name", 3, "levels.1: source: no source for bandwidth, prefetch"),
    (lambda d: d.update(source={"mac_cycles": "x", "mac_energy": "x"}, clock=1), "name", 0,
     "source: no source for clock"),
]


@pytest.mark.parametrize("edit,key,nth,expect", REFUSED)
def test_one_exact_line_per_refusal(tmp_path, edit, key, nth, expect):
    data = base()
    edit(data)
    path = write(tmp_path, data)
    lines = refusal(tmp_path, data)
    where = line_of(path, key, nth) if nth else 1
    assert lines == [f"{path}:{where}: {expect}"]


def test_a_register_file_has_no_prefetcher(tmp_path):
    data = base()
    data["levels"].insert(0, {"name": "reg", "size": 64, "line": "element", "ways": "full",
                              "latency": 1, "energy": 1, "prefetch": "always", "source": "s"})
    path = write(tmp_path, data)
    assert refusal(tmp_path, data) == [
        f"{path}:{line_of(path, 'prefetch')}: levels.0.prefetch: a register file (line: "
        f"element) has "
        f"no prefetcher; prefetch must be none"]


def test_registers_are_outside_inclusion(tmp_path):
    """An inclusive L2 under registers and L1 checks L1 only; an exclusive L1 directly under
    registers is refused (no victims of whole lines come from a register file)."""
    data = base()
    data["levels"].insert(0, {"name": "reg", "size": "2KiB", "line": "element",
                              "ways": "full", "latency": 1, "energy": 1, "source": "s"})
    data["levels"][2]["inclusion"] = "inclusive"
    data["levels"][2]["size"] = "1KiB"  # as big as L1, smaller than the register file
    assert load_hierarchy(write(tmp_path, data)).levels[2].inclusion == "inclusive"
    data["levels"][1]["inclusion"] = "exclusive"
    path = write(tmp_path, data)
    assert refusal(tmp_path, data) == [
        f"{path}:{line_of(path, 'inclusion')}: levels.1.inclusion: exclusive L1 needs a cache "
        f"level directly above it, whose victims fill it"]


def test_several_problems_one_line_each_at_their_own_lines(tmp_path):
    data = base()
    data["levels"][0]["bandwidth"] = "10 GB/s"
    data["levels"][1].update(bandwidth="20 GB/s", inclusion="inclusive", size="512B")
    data["memory"]["bandwidth"] = "30 GB/s"
    path = write(tmp_path, data)
    lines = refusal(tmp_path, data)
    assert [ln.split(": ")[1] for ln in lines] == [
        "levels.0.bandwidth", "levels.1.bandwidth", "memory.bandwidth", "levels.1.inclusion"]
    text = path.read_text().splitlines()
    for ln in lines:
        lineno, key = int(ln.split(":")[1]), ln.split(": ")[1].split(".")[-1]
        assert text[lineno - 1].strip().startswith(f"{key}:")


def test_the_same_refusals_come_from_the_command_line(capsys, tmp_path):
    data = base()
    data["levels"][1].update(bandwidth=0, inclusion="exclusive", prefetch="tagged")
    data["memory"].update(prefetch="miss", bandwidth="4 GB/s")
    path = write(tmp_path, data)
    target = tmp_path / "out.json"
    result = cli_output(capsys, "run", str(path), "--layer", "fc", "-M", "8", "-N", "8",
                        "-o", str(target))
    assert_refused(*result, [
        f"error: {path}:{line_of(path, 'bandwidth')}: levels.1.bandwidth: must be positive",
        f"error: {path}:{line_of(path, 'prefetch', 2)}: memory.prefetch: main memory has no "
        f"lines to prefetch",
    ], target)
    # fixed field by field, the cross-level problems show, each on its own line
    data["levels"][1]["bandwidth"] = 8
    data["memory"].pop("prefetch")
    path = write(tmp_path, data)
    result = cli_output(capsys, "run", str(path), "--layer", "fc", "-M", "8", "-N", "8",
                        "-o", str(target))
    assert_refused(*result, [
        f"error: {path}:{line_of(path, 'prefetch')}: levels.1.prefetch: an exclusive level is "
        f"filled "
        f"only by the victims",
    ], target)
    data["levels"][1]["prefetch"] = "none"
    path = write(tmp_path, data)
    result = cli_output(capsys, "run", str(path), "--layer", "fc", "-M", "8", "-N", "8",
                        "-o", str(target))
    assert_refused(*result, [
        f"error: {path}:{line_of(path, 'bandwidth', 2)}: memory.bandwidth: DRAM's bandwidth "
        f"is a rate",
    ], target)


# ---------------------------------------------------------------- shipped configs


NEW = ["cortex_m7", "rpi4", "zen4"]


@pytest.mark.parametrize("name", NEW + ["mobile_soc", "server"])
def test_real_chips_give_clock_macs_and_every_bandwidth(name):
    """Every cache level and memory has a bandwidth; register files (line: element) have none
    (operands are part of the pipeline)."""
    h = load_hierarchy(CONFIGS / f"{name}.yaml")
    assert 0 < h.clock <= 10 and h.macs_per_cycle >= 1
    for lv, bw in zip([*h.levels, h.memory], h.bandwidths(), strict=True):
        if getattr(lv, "line", None) == "element":
            assert bw is None
        else:
            assert bw is not None and bw > 0, lv.name


@pytest.mark.parametrize("name", NEW)
def test_new_configs_cite_every_figure_they_give(name):
    """Their sources are mappings per level, so the coverage check sees every field."""
    h = load_hierarchy(CONFIGS / f"{name}.yaml")
    assert h.source["clock"].strip() and h.source["macs_per_cycle"].strip()
    for lv in [*h.levels, h.memory]:
        assert isinstance(lv.source, dict), lv.name
        given = [f for f in ("bandwidth", "prefetch", "prefetch_distance", "inclusion")
                 if getattr(lv, f, None) not in (None, "none", 1, "nine")]
        for fld in ("latency", "energy", *given):
            assert lv.source.get(fld, "").strip(), (lv.name, fld)
    assert h.levels[1].source["prefetch"].strip()  # "none" is cited too in these files


def test_thesis_gives_no_clock():
    """The document gives no clock and no bandwidths: the config does not invent them."""
    h = load_hierarchy(CONFIGS / "thesis.yaml")
    assert h.clock is None and h.bandwidths() == [None] * 5


def test_a_sweep_may_override_the_new_fields_of_a_config_that_cites_each_figure():
    """mobile_soc cites its figures one by one and gives no prefetch: an axis that sets one
    is its own source, so the point validates instead of failing 'no source for prefetch'."""
    from simcache.sweep import TOP_FIELDS, _override

    h = load_hierarchy(CONFIGS / "mobile_soc.yaml")
    assert {"clock", "macs_per_cycle"} <= set(TOP_FIELDS)
    g = _override(h, {"L1D.prefetch": "tagged", "L1D.prefetch_distance": 2, "clock": "1 GHz",
                      "LPDDR4X.bandwidth": "8 GB/s"})
    assert (g.levels[1].prefetch, g.levels[1].prefetch_distance, g.clock) == ("tagged", 2, 1.0)
    assert g.bandwidths()[-1] == pytest.approx(8.0)
    assert g.levels[1].source["prefetch"] == "sweep axis L1D.prefetch"
    assert h.levels[1].prefetch == "none"  # the loaded config is unchanged
