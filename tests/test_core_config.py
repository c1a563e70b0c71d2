"""The `core:` section of a config (issue 22; docs/model.md §4, "The in-core model"):
units, defaults, and every refusal as the one line a user reads (file:line, field, message),
through load_hierarchy and through the command line (exit 2, nothing written)."""

from pathlib import Path

import pytest
import yaml

from helpers import assert_refused, cli_output
from simcache.config import ConfigError, Hierarchy, load_hierarchy


def core(**edit) -> dict:
    c = {"add_latency": "4 cycles", "store_forward_latency": 5, "loads_per_cycle": 2,
         "stores_per_cycle": 1, "issue_width": 4, "source": "s"}
    c.update(edit)
    return {k: v for k, v in c.items() if v is not None}


def base(**top) -> dict:
    return {"name": "t", "source": "s", "mac_cycles": 1, "mac_energy": 1, **top,
            "levels": [{"name": "L1", "size": "1KiB", "line": 64, "ways": 2, "latency": 3,
                        "energy": 10, "source": "s"}],
            "memory": {"latency": 200, "energy": 1000, "source": "s"}}


def write(tmp_path, data: dict) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def refusal(tmp_path, data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_hierarchy(write(tmp_path, data))
    return info.value.problems


def line_of(path: Path, key: str) -> int:
    return next(k + 1 for k, text in enumerate(path.read_text().splitlines())
                if text.strip().startswith(f"{key}:"))


def test_no_core_by_default():
    assert Hierarchy.model_validate(base()).core is None


def test_core_fields_and_units():
    h = Hierarchy.model_validate(base(core=core(fma_latency=4.5)))
    c = h.core
    assert (c.add_latency, c.fma_latency, c.store_forward_latency) == (4.0, 4.5, 5.0)
    assert (c.loads_per_cycle, c.stores_per_cycle, c.issue_width) == (2, 1, 4)
    assert Hierarchy.model_validate(base(core=core())).core.fma_latency is None


def test_a_dumped_core_loads_back():
    h = Hierarchy.model_validate(base(core=core(fma_latency="3 cycles")))
    again = Hierarchy.model_validate(h.model_dump())
    assert again == h


@pytest.mark.parametrize("edit,expect", [
    ({"add_latency": 0}, "core.add_latency: must be positive"),
    ({"add_latency": -4}, "core.add_latency: must be positive"),
    ({"add_latency": ".nan"}, "core.add_latency: expected cycles"),
    ({"add_latency": float("inf")}, "core.add_latency: must be a finite number"),
    ({"add_latency": 1e6}, "core.add_latency: at most 1000 cycles"),
    ({"add_latency": "4 ns"}, "core.add_latency: expected cycles"),
    ({"add_latency": True}, "core.add_latency: expected a number of cycles"),
    ({"add_latency": None}, "core.add_latency: Field required"),
    ({"fma_latency": 0}, "core.fma_latency: must be positive"),
    ({"store_forward_latency": "0 cycles"}, "core.store_forward_latency: must be positive"),
    ({"loads_per_cycle": 0}, "core.loads_per_cycle: must be a whole number from 1 to 64"),
    ({"loads_per_cycle": 1.5}, "core.loads_per_cycle: expected a whole number"),
    ({"stores_per_cycle": 65}, "core.stores_per_cycle: must be a whole number from 1 to 64"),
    ({"issue_width": "4"}, "core.issue_width: expected a whole number"),
    ({"issue_width": None}, "core.issue_width: Field required"),
    ({"colour": "red"}, "core.colour: unknown key"),
    ({"source": {"add_latency": "x"}}, "core: source: no source for store_forward_latency"),
    ({"source": {"add_latency": "a", "store_forward_latency": "a", "loads_per_cycle": "a",
                 "stores_per_cycle": "a", "issue_width": "a", "fma_latency": "a"},
      "fma_latency": None}, None),  # an optional figure may be cited though absent
    ({"source": ""}, "core: source: must name where"),
    ({"source": {"add_latency": "a", "store_forward_latency": "a", "loads_per_cycle": "a",
                 "stores_per_cycle": "a"}}, "core: source: no source for issue_width"),
    ({"fma_latency": 4, "source": {
        "add_latency": "a", "store_forward_latency": "a", "loads_per_cycle": "a",
        "stores_per_cycle": "a", "issue_width": "a"}}, "core: source: no source for fma_latency"),
])
def test_one_line_per_bad_core_field(tmp_path, edit, expect):
    data = base(core=core(**edit))
    if expect is None:
        load_hierarchy(write(tmp_path, data))
        return
    lines = refusal(tmp_path, data)
    assert len(lines) == 1, lines
    path = tmp_path / "c.yaml"
    assert lines[0].startswith(f"{path}:"), lines
    assert expect in lines[0], lines
    field = expect.split(": ")[0].split(".")[-1]
    if field != "core" and "unknown" not in expect and "required" not in expect:
        assert lines[0].startswith(f"{path}:{line_of(path, field)}: "), lines


def test_core_must_be_a_mapping(tmp_path):
    lines = refusal(tmp_path, base(core=4))
    assert len(lines) == 1 and "core:" in lines[0], lines


def test_several_bad_core_fields_each_get_a_line(tmp_path):
    lines = refusal(tmp_path, base(core=core(add_latency=0, issue_width=0)))
    assert len(lines) == 2, lines
    assert "core.add_latency" in lines[0] and "core.issue_width" in lines[1]


def test_the_command_line_refuses_a_bad_core_with_exit_2(capsys, tmp_path):
    path = write(tmp_path, base(core=core(store_forward_latency=-1)))
    target = tmp_path / "out.json"
    result = cli_output(capsys, "run", str(path), "--layer", "fc", "-M", "8", "-N", "8",
                        "-o", str(target))
    assert_refused(*result, [
        f"error: {path}:{line_of(path, 'store_forward_latency')}: "
        f"core.store_forward_latency: must be positive"], target)
