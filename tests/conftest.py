"""Hypothesis profiles: `quick` by default (a quarter of each property test's examples, so
that the suite fits CI's ten minutes on two cores), `full` for the counts each test names
(`pytest --hypothesis-profile=full`). Tests give their counts through helpers.examples,
which scales them by the profile. No profile has a deadline: a loaded machine is slow,
not wrong."""

import sys

import pytest
from hypothesis import settings

settings.register_profile("full", max_examples=100, deadline=None)
settings.register_profile("quick", max_examples=25, deadline=None)
settings.load_profile("quick")  # --hypothesis-profile (pytest_configure) comes after this


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test drew and kept to read back are closed after it (pyplot keeps every
    open figure; more than 20 made matplotlib warn in the middle of the suite)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
