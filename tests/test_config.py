"""Hardware configs: units, validation errors with file:line, and the shipped files."""

import re
from pathlib import Path

import pytest
import yaml

from simcache.config import ConfigError, Hierarchy, load_hierarchy, parse_size

CONFIGS = Path(__file__).parent.parent / "configs"


@pytest.mark.parametrize("text,nbytes", [
    (4096, 4096), ("4096", 4096), ("64B", 64), ("64 B", 64), ("32KiB", 32768),
    ("32 KB", 32768), ("10MiB", 10 << 20), ("10 MB", 10 << 20), ("39424KiB", 40370176),
    ("10GiB", 10 << 30), ("10 GB", 10 << 30), ("1TiB", 1 << 40), ("1TB", 1 << 40),
])
def test_sizes(text, nbytes):
    assert parse_size(text) == nbytes


@pytest.mark.parametrize("text,says", [
    ("32 furlongs", "'furlongs' is not a unit of size"),
    ("1.5B", "not a fraction"),
    # a fraction that is whole bytes is still refused, with the whole spelling to use
    ("32.5KiB", "not a fraction; write 33280B"),
    ("38.5MiB", "not a fraction; write 39424KiB"),
    ("32kb", "bytes are an upper-case B (32KB); a lower-case b would be bits"),
    ("64b", "bytes are an upper-case B (64B)"),
    ("32kib", "bytes are an upper-case B (32KiB)"),
    ("32KIB", "write the unit 'KiB' (32KiB)"),
    ("32k", "write the unit 'KiB' (32KiB)"),
    ("32 M", "write the unit 'MiB' (32MiB)"),
    ("KiB", "expected a size"), ("", "expected a size"), ("-4KiB", "expected a size"),
    (True, "not a boolean"), (32.0, "expected a size"),
])
def test_bad_sizes(text, says):
    with pytest.raises(ValueError, match=re.escape(says)) as info:
        parse_size(text)
    assert "\n" not in str(info.value)


def test_a_bad_size_names_the_field_and_its_line(tmp_path):
    """A size outside the grammar in a config: one line with file:line and the field."""
    text = (CONFIGS / "thesis.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip() == "size: 32KiB")
    lines[k] = lines[k].replace("32KiB", "32kb")
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_hierarchy(bad)
    (line,) = info.value.problems
    assert line.startswith(f"{bad}:{k + 1}: levels.1.size: '32kb': bytes are an upper-case B")


@pytest.mark.parametrize("name", ["thesis", "mobile_soc", "server", "cortex_m7", "rpi4", "zen4"])
def test_shipped_configs_load_and_cite_every_figure(name):
    h = load_hierarchy(CONFIGS / f"{name}.yaml")
    for lv in list(h.levels) + [h.memory]:
        assert lv.source  # a string or a mapping the validator checked for coverage
    assert h.geometry(4)[0].line == 4  # a register file: one element per line


def test_thesis_is_figure_2_1():
    h = load_hierarchy(CONFIGS / "thesis.yaml")
    g = h.geometry(4)
    assert [x.name for x in g] == ["registers", "L1", "L2", "L3"]
    assert [x.size for x in g] == [1 << 10, 32 << 10, 256 << 10, 10 << 20]
    assert [lv.latency for lv in h.levels] + [h.memory.latency] == [1, 3, 10, 40, 200]
    assert h.levels[0].energy == (0.4, 3.7)
    assert all(lv.energy == (10, 100) for lv in h.levels[1:])
    assert h.memory.energy == (1300, 2600)
    assert h.memory.size == 10 << 30
    assert g[3].sets == 10240  # not a power of two, and legal


def write(tmp_path, data) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return p


def base() -> dict:
    return {
        "name": "t", "source": "s", "mac_cycles": 1, "mac_energy": 1,
        "levels": [{"name": "L1", "size": "1KiB", "line": 64, "ways": 2, "latency": 3,
                    "energy": [10, 100], "source": "s"}],
        "memory": {"latency": "200 cycles", "energy": "1.3 nJ", "source": "s"},
    }


def problems(tmp_path, data) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_hierarchy(write(tmp_path, data))
    return info.value.problems


def test_units_in_a_config(tmp_path):
    h = load_hierarchy(write(tmp_path, base()))
    assert h.memory.energy == (1300.0, 1300.0)
    assert h.memory.latency == 200
    assert h.levels[0].energy == (10, 100)


@pytest.mark.parametrize("edit,expect", [
    (lambda d: d["levels"][0].update(colour="red"), "levels.0.colour: unknown key"),
    (lambda d: d["levels"][0].update(size="1000B"), "levels.0: size 1000 B is not divisible"),
    (lambda d: d["levels"][0].update(line=48), "levels.0.line: must be a power of two"),
    (lambda d: d["levels"][0].update(ways=0), "levels.0.ways: must be positive"),
    (lambda d: d["levels"][0].update(latency=-3), "levels.0.latency: must be a positive"),
    (lambda d: d["levels"][0].update(energy=[5, 1]), "levels.0.energy: energy range"),
    (lambda d: d["memory"].update(energy=0), "memory.energy: must be positive"),
    (lambda d: d.update(mac_cycles=0), "mac_cycles: must be positive"),
    (lambda d: d["levels"][0].update(source={"size": "x"}), "source: no source for line"),
    (lambda d: d["levels"][0].update(source={"sise": "x"}), "source: sise is not a field"),
    (lambda d: d["memory"].pop("latency"), "memory.latency: Field required"),
    (lambda d: d["levels"][0].update(name="DRAM"), "level names must be unique"),
])
def test_one_line_per_problem_naming_the_field(tmp_path, edit, expect):
    data = base()
    edit(data)
    lines = problems(tmp_path, data)
    assert len(lines) == 1, lines
    assert expect in lines[0]
    assert lines[0].startswith(str(tmp_path / "c.yaml") + ":")


def test_several_problems_are_all_reported_with_their_lines(tmp_path):
    data = base()
    data["levels"][0]["line"] = 48
    data["memory"]["latency"] = "fast"
    lines = problems(tmp_path, data)
    assert len(lines) == 2
    text = write(tmp_path, data).read_text().splitlines()
    for line in lines:
        lineno = int(line.split(":")[1])
        field = line.split(": ")[1].split(".")[-1]
        assert text[lineno - 1].strip().startswith(field)


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    lines = problems(tmp_path, "name: x\nlevels: [\n")
    assert len(lines) == 1 and ":3:1: invalid YAML" in lines[0]


def test_not_a_mapping(tmp_path):
    assert "is a YAML mapping" in problems(tmp_path, "- 1\n- 2\n")[0]


def test_full_associativity_and_element_lines():
    d = base()
    d["levels"].insert(0, {"name": "reg", "size": 64, "line": "element", "ways": "full",
                           "latency": 1, "energy": 1, "source": "s"})
    g = Hierarchy.model_validate(d).geometry(2)
    assert (g[0].line, g[0].ways, g[0].sets) == (2, 32, 1)
