"""Simulated time, and how it maps to ``occurred_at``.

A run of wall duration ``D`` at ``speed`` covers ``D * speed`` of simulated time that
*ends at the run's end*: simulated time starts ``D * (speed - 1)`` before the wall
clock and catches up with it when the run ends. So no ``occurred_at`` is ever in the
future (ingest refuses those beyond ``BASEWATCH_MAX_FUTURE``), and at the end the
silence the projector measures on its own clock is the simulated silence.

While the run goes on, simulated time lags the wall clock by ``(D - t) * (speed - 1)``:
the projector's sweep sees every installation silent for at least that long. Keep
``D * speed`` under the projector's at-risk threshold or the history shows up as
churn that heals as it catches up (``warning`` says so). At ``speed`` 1 simulated time
is the wall clock, and a run may last until Ctrl-C: silence is real silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SimClock:
    """Maps seconds of wall time since the start of a run to simulated time."""

    wall_start: datetime
    speed: float = 1.0
    duration: timedelta | None = None

    def __post_init__(self) -> None:
        if self.speed < 1:
            raise ValueError("--speed must be at least 1 (simulated time never runs slower)")
        if self.speed != 1 and self.duration is None:
            raise ValueError(
                "--speed other than 1 needs --duration: simulated time then ends at the "
                "run's end, so that no occurred_at lies in the future"
            )

    @property
    def start(self) -> datetime:
        """Simulated time at the start of the run."""
        if self.duration is None:
            return self.wall_start
        return self.wall_start - self.duration * (self.speed - 1)

    @property
    def end(self) -> datetime | None:
        """Simulated time at the end of the run: the wall clock then (None: no end)."""
        return None if self.duration is None else self.wall_start + self.duration

    def offset(self, elapsed: float) -> float:
        """Simulated seconds since ``start`` after ``elapsed`` wall seconds."""
        return elapsed * self.speed

    def lag(self) -> timedelta:
        """How far simulated time is behind the wall clock at the start (0 at speed 1)."""
        return self.wall_start - self.start

    def warning(self, tick: timedelta, at_risk_after: timedelta) -> str | None:
        """A warning when the projector would see the replayed history as silence."""
        if self.lag() + tick < at_risk_after:
            return None
        return (
            f"warning: simulated time starts {self.lag()} behind the wall clock, longer than "
            f"the at-risk threshold {at_risk_after} minus one heartbeat: the projector will "
            "see installations as silent until the history catches up (keep duration x "
            "speed below it)"
        )
