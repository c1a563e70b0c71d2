"""simcache: exact, fast simulation of what a neural-network layer does to a memory hierarchy.

The Python API (simcache.api): simulate, study, compare (and compare_network), network and
replay return result objects with named fields, and so does simcache.api.explain
(`simcache.explain` is the module behind it); SimcacheError carries the problems of bad
input.
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402  (the version first: the modules below read it)
    CompareResult,
    NetworkCompareResult,
    NetworkResult,
    RunResult,
    StudyResult,
    compare,
    compare_network,
    load_config,
    load_model,
    network,
    replay,
    simulate,
    study,
)
from .errors import SimcacheError  # noqa: E402

__all__ = [
    "CompareResult",
    "NetworkCompareResult",
    "NetworkResult",
    "RunResult",
    "SimcacheError",
    "StudyResult",
    "__version__",
    "compare",
    "compare_network",
    "load_config",
    "load_model",
    "network",
    "replay",
    "simulate",
    "study",
]
