"""The `core:` sections of the shipped chip configs (issue 22 item 1): every chip config has
one, thesis.yaml (the document's model) has none, and every figure's citation is a mapping
entry that is either an "assumption: ..." with its reasoning or names where it comes from,
and states the figure it cites (so a value edited without its citation is caught)."""

import re
from pathlib import Path

import pytest

from simcache.config import load_hierarchy

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CHIPS = ("mobile_soc", "rpi4", "server", "zen4", "cortex_m7")
FIELDS = ("add_latency", "fma_latency", "store_forward_latency", "loads_per_cycle",
          "stores_per_cycle", "issue_width")
WORDS = {1: ("one",), 2: ("two", "dual"), 3: ("three",), 4: ("four",), 6: ("six",)}


def states(text: str, value: float) -> bool:
    """Does `text` state `value` (as a number not part of a longer token, or a word)?"""
    n = int(value) if float(value).is_integer() else value
    if re.search(rf"(?<![\w.]){re.escape(str(n))}(?![\w])", text):
        return True
    return any(re.search(rf"\b{w}\b", text, re.IGNORECASE) for w in WORDS.get(n, ()))


def test_thesis_has_no_core():
    assert load_hierarchy(CONFIGS / "thesis.yaml").core is None


@pytest.mark.parametrize("chip", CHIPS)
def test_every_chip_config_has_a_cited_core(chip):
    core = load_hierarchy(CONFIGS / f"{chip}.yaml").core
    assert core is not None, chip
    assert isinstance(core.source, dict), (chip, "cite each figure, not one string")
    for field in FIELDS:
        value = getattr(core, field)
        if value is None:
            continue
        text = " ".join(str(core.source[field]).split())
        if text.lower().startswith("assumption"):
            assert len(text) > 40, (chip, field, "an assumption says why")
        else:
            assert re.search(r"https?://|\S @ [0-9a-f]{7}|\(above\)", text), (
                chip, field, "names a URL, a repository @ commit, or a source above")
        assert states(text, value), (chip, field, value, "the citation states the figure")
