"""How big the costly tests run: small and bounded in CI, larger for a soak.

``BASEWATCH_SOAK=1`` (``make soak``) selects the soak: bigger histories and more faults
in the end-to-end scenarios, more examples in the fuzz tests. The hypothesis profiles for
them are applied per test (as decorators). One is loaded for every test
(``tests/conftest.py``): hypothesis' defaults without the deadline, because speed is the
benchmarks' to measure, and an example that waits while another test runs beside it
(``make test`` runs two at a time) is no bug.
"""

from __future__ import annotations

import os
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import core as hypothesis_core
from hypothesis.vendor import pretty

SOAK: Final = os.environ.get("BASEWATCH_SOAK", "").strip().lower() in {"1", "true", "yes"}


def scale(ci: int) -> int:
    """A size for CI, or ten times it in a soak."""
    return ci * 10 if SOAK else ci


def report_examples() -> None:
    """Give hypothesis its own printer back, so a failing example shows what was drawn.

    Schemathesis' pytest plugin swaps hypothesis' printer, process-wide, for one that
    prints nothing (cheaper for its own generated cases): every failing example of every
    test here then read ``drawn=,``. The printer runs only to report an example.
    """
    hypothesis_core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[attr-defined]


DEFAULT: Final = "basewatch-default"
settings.register_profile(DEFAULT, deadline=None)

# The services run on a real broker and database: examples take milliseconds, and a
# slow one (a broker round trip) is no bug. The example database stays in .hypothesis/.
settings.register_profile(
    "basewatch-ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "basewatch-soak",
    parent=settings.get_profile("basewatch-ci"),
    max_examples=1000,
)
FUZZ: Final = settings.get_profile("basewatch-soak" if SOAK else "basewatch-ci")


# Without a valid key both services refuse before they read the input (401/403), so
# the input matters little there: CI runs the examples and a few fuzzed cases, the soak
# every phase. What the refusals must be (documented, problem+json) is still checked.
REFUSALS: Final[dict[str, Any]] = {} if SOAK else {"phases": {"coverage": {"enabled": False}}}


def scaled(ci: int, soak: int) -> settings:
    """The active profile with another example count (CI or soak), for costlier tests."""
    return settings(FUZZ, max_examples=soak if SOAK else ci)


# The services under test run in this process, on a thread of their own; their Kafka
# clients use the global ``random`` (aiokafka shuffles partitions and picks nodes with
# it). Hypothesis cannot tell that from a strategy using ``random`` and warns, which
# filterwarnings=error would turn into a failure of whichever example was being drawn.
BACKGROUND_RANDOM: Final = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
    ":hypothesis.errors.HypothesisDeprecationWarning"
)


REFUSED: Final = scaled(ci=8, soak=500)
