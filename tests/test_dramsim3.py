"""simcache's DRAM row-buffer counts against DRAMsim3 (docs/model.md, "DRAM"; §8): the
same request stream (simcache's --dram-trace, requests spaced so that DRAMsim3 cannot
reorder them), the same organisation, address mapping and page policy (tests/
dramsim3_peer.py writes the .ini). Runs when DRAMSIM3 names the built `dramsim3main`."""

from __future__ import annotations

import os
from pathlib import Path

import dramsim3_peer as peer
import pytest

from simcache.config import Dram, load_hierarchy

BINARY = os.environ.get("DRAMSIM3")
pytestmark = pytest.mark.skipif(
    not BINARY or not Path(BINARY).is_file(),
    reason="DRAMsim3 is not built here: set DRAMSIM3 to its dramsim3main (fetch "
    "umd-memsys/DRAMsim3, cmake, make dramsim3main)")
CONFIG = Path(__file__).parent / "data" / "dram_ddr4.yaml"


def with_policy(policy: str, mapping=None):
    h = load_hierarchy(CONFIG)
    spec = h.memory.dram.model_dump()
    spec["page_policy"] = policy
    if mapping is not None:
        spec["mapping"] = mapping
    return h.model_copy(update={"memory": h.memory.model_copy(
        update={"dram": Dram.model_validate(spec)})})


LAYERS = [("pointwise", {"M": 32, "N": 32, "F": 8}), ("depthwise", {"M": 16, "F": 16}),
          ("fc", {"M": 512, "N": 64})]


@pytest.mark.parametrize("policy", ["open", "closed"])
@pytest.mark.parametrize(("layer", "dims"), LAYERS)
def test_layer_row_hits_equal_dramsim3(tmp_path, policy, layer, dims):
    ours, theirs = peer.layer_case(BINARY, with_policy(policy), layer, dims, tmp_path)
    assert ours == theirs
    assert policy == "closed" or ours["row_hits"] > 0


@pytest.mark.parametrize("mapping", [
    None, ["offset", "bank_group", "column", "bank", "row", "rank", "channel"]])
@pytest.mark.parametrize("policy", ["open", "closed"])
def test_random_row_hits_equal_dramsim3(tmp_path, policy, mapping):
    h = with_policy(policy, mapping)
    ours, theirs = peer.random_case(BINARY, h.memory.dram, 3000, 7, tmp_path)
    assert ours == theirs
    assert policy == "closed" or 0 < ours["row_hits"] < 3000
