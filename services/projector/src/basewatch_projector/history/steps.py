"""Step maths of the history: boundaries, steps, and values at step boundaries (pure).

Boundaries are multiples of the interval since the Unix epoch, so every instance agrees
on them; a step is a multiple of the interval, and times are multiples of the step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_POINTS: Final = 10_000
_UNITS: Final = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def boundary_after(t: datetime, interval: timedelta) -> datetime:
    """The first boundary (a multiple of ``interval`` since the epoch) strictly after t."""
    return EPOCH + ((t - EPOCH) // interval + 1) * interval


def boundary_at_or_before(t: datetime, interval: timedelta) -> datetime:
    """The last boundary at or before t."""
    return EPOCH + ((t - EPOCH) // interval) * interval


def grace(interval: timedelta) -> timedelta:
    """How long past a boundary a caught-up partition waits for records still in flight."""
    return min(timedelta(seconds=1), interval / 5)


def format_duration(value: timedelta) -> str:
    """``1h``, ``5s``, ``1d``, ``1h30m``: whole seconds in the largest units."""
    seconds, parts = int(value.total_seconds()), []
    for unit, size in _UNITS:
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def step_times(since: datetime, until: datetime, step: timedelta) -> list[datetime]:
    """The multiples of ``step`` since the epoch in [since, until]."""
    first = -((EPOCH - since) // step)  # ceil((since - EPOCH) / step)
    last = (until - EPOCH) // step
    return [EPOCH + k * step for k in range(first, last + 1)]


def gauge(
    times: Sequence[datetime], first: datetime | None, rows: Sequence[tuple[datetime, int]]
) -> list[int | None]:
    """Per time, the value of the last row at or before it (rows ascending); 0 when
    the series had no row yet but sampling had begun; null before the first sample."""
    values: list[int | None] = []
    i, current = 0, 0
    for t in times:
        while i < len(rows) and rows[i][0] <= t:
            current = rows[i][1]
            i += 1
        values.append(None if first is None or t < first else current)
    return values


def per_step(
    times: Sequence[datetime], step: timedelta, events: Iterable[tuple[datetime, int]]
) -> list[int]:
    """Per time t, the sum of the counts of events in (t - step, t]."""
    values = [0] * len(times)
    if not times:
        return values
    for at, n in events:
        k = -((times[0] - at) // step)  # ceil((at - t0) / step)
        if 0 <= k < len(times):
            values[k] += n
    return values


def default_step(span: timedelta, interval: timedelta) -> timedelta:
    """The interval, or its smallest multiple that keeps ``span`` within MAX_POINTS."""
    return interval * max(1, -(-(span // interval + 1) // MAX_POINTS))
