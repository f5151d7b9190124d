"""The step and range rules every series of the read API shares (``/v1/history``,
``/v1/movements``, ``/v1/sales``): RFC 3339 times, a step that is a multiple of the
history interval, at most MAX_POINTS times, and a 422 that says which rule was broken.
A route takes them as one dependency, ``Span``: the three query parameters, declared once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query

from basewatch_projector.api.deps import State
from basewatch_projector.history.steps import (
    EPOCH,
    MAX_POINTS,
    default_step,
    format_duration,
    step_times,
)
from basewatch_shared.contract.timestamps import Timestamp
from basewatch_shared.problems import ProblemError
from basewatch_shared.settings import parse_duration

DEFAULT_SPAN = timedelta(days=7)
MAX_STEP = timedelta(days=3660)

# RFC 3339 only, like events: pydantic's datetime would also read unix numbers.
Since = Annotated[Timestamp | None, Query(description="default: until - 7 days")]
Until = Annotated[Timestamp | None, Query(description="default: now")]
Step = Annotated[
    str | None,
    Query(
        max_length=32,
        pattern=r"^([1-9][0-9]{0,9}[smhdw])+$",
        description="like 1h, 5s, 1d; a multiple of the interval (default: the interval, "
        f"or its smallest multiple that gives at most {MAX_POINTS} times)",
    ),
]


def invalid(field: str, message: str) -> ProblemError:
    """A 422 naming the query parameter at fault."""
    return ProblemError(
        422, "Invalid request", errors=[{"field": f"query.{field}", "message": message}]
    )


def _step(text: str, interval: timedelta) -> timedelta:
    try:
        step = parse_duration(text)
    except (ValueError, OverflowError) as exc:
        raise invalid("step", str(exc)) from None
    if step > MAX_STEP:
        raise invalid("step", f"must be at most {format_duration(MAX_STEP)}")
    if step % interval:
        raise invalid("step", f"must be a multiple of the interval {format_duration(interval)}")
    return step


def step_range(
    since: datetime | None, until: datetime | None, step: str | None, interval: timedelta
) -> tuple[timedelta, list[datetime]]:
    """The step and the step boundaries the query asks for, or a 422 saying why not."""
    try:
        end = until or datetime.now(EPOCH.tzinfo)
        start = since or end - DEFAULT_SPAN
        if start > end:
            raise invalid("since", "must not be after until")
        every = default_step(end - start, interval) if step is None else _step(step, interval)
        if (end - start) // every + 1 > MAX_POINTS:
            raise invalid("step", f"more than {MAX_POINTS} times between since and until")
        if start < EPOCH:
            raise invalid("since", "must not be before 1970-01-01T00:00:00Z")
        return every, step_times(start, end, every)
    except OverflowError:
        raise invalid("since", "the times are out of range") from None


@dataclass(frozen=True, slots=True)
class Steps:
    """The step boundaries a query asks for, on this projector's history interval."""

    every: timedelta
    times: list[datetime]
    interval: timedelta

    def described(self) -> dict[str, Any]:
        """How an answer names them: its step and the interval as durations, its times."""
        return {
            "step": format_duration(self.every),
            "interval": format_duration(self.interval),
            "times": self.times,
        }


async def _span(state: State, since: Since = None, until: Until = None, step: Step = None) -> Steps:
    # async: a plain def dependency would cost a hop through the thread pool per request.
    every, times = step_range(since, until, step, state.history_interval)
    return Steps(every, times, state.history_interval)


# since, until and step of a series route: the boundaries it answers for, or a 422.
Span = Annotated[Steps, Depends(_span)]
