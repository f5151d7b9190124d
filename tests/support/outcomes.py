"""How a simulation run ended, as the report's unit tests give it."""

from __future__ import annotations

from datetime import datetime, timedelta

from basewatch_shared.devtools.simulation.report import Outcome


def ended(start: datetime, span: timedelta, *, seed: int, speed: float, population: int) -> Outcome:
    """A run of prefix ``t-`` that reached its duration after 10 s of wall time, having
    simulated ``span`` from ``start``, with nothing left unsent."""
    return Outcome(
        reason="duration reached",
        elapsed=10.0,
        run="t-",
        seed=seed,
        speed=speed,
        sim_start=start,
        sim_end=start + span,
        judged_at=start + span,
        unsent=0,
        population=population,
    )
