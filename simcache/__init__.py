"""simcache: exact, fast simulation of what a neural-network layer does to a memory hierarchy.

The Python API (simcache.api): simulate, study, compare, network, replay and explain return result
objects with named fields; SimcacheError carries the problems of bad input.
"""

__version__ = "0.1.0"

from .api import (  # noqa: E402  (the version first: the modules below read it)
    CompareResult,
    ExplainResult,
    NetworkResult,
    RunResult,
    StudyResult,
    compare,
    explain,
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
    "ExplainResult",
    "NetworkResult",
    "RunResult",
    "SimcacheError",
    "StudyResult",
    "__version__",
    "compare",
    "explain",
    "load_config",
    "load_model",
    "network",
    "replay",
    "simulate",
    "study",
]
