"""``GET /v1/history``: the bases over time, as series aligned on step boundaries.

Customers and installations are gauges: the value at t is the last sample at or before
t (``history.py`` writes a row only when a value changes, so the last row of a series
at or before t is its value), null before the first sample. Signals are counted from
the signals table by their time: the value at t is the number in (t - step, t].
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.documents import INSTALLATION_STATUSES, SEGMENTS, Problem
from basewatch_projector.freshness import LAG_HEADER_DOC, data_lag
from basewatch_projector.history import EPOCH
from basewatch_projector.queryparams import single_valued
from basewatch_projector.signals import KINDS
from basewatch_projector.tables import history, history_progress, signals
from basewatch_shared.auth import require
from basewatch_shared.contract.timestamps import Timestamp
from basewatch_shared.problems import PROBLEM_JSON, ProblemError
from basewatch_shared.settings import Scope, parse_duration

Metric = Literal["customers", "installations", "signals"]
MAX_POINTS = 10_000
DEFAULT_SPAN = timedelta(days=7)
MAX_STEP = timedelta(days=3660)
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


class Series(BaseModel):
    """One series: its labels and one value per time (null: no sample at or before it)."""

    labels: dict[str, str | None]
    values: list[int | None]


class History(BaseModel):
    """Series of one metric at the step boundaries between ``since`` and ``until``."""

    metric: Metric
    step: str = Field(description="the step between times, as a duration", examples=["1h"])
    interval: str = Field(description="how often this projector samples", examples=["1h"])
    times: list[datetime] = Field(description="step boundaries, ascending")
    series: list[Series]


# -- pure: times and values ----------------------------------------------------------------


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


# -- queries ---------------------------------------------------------------------------


async def gauges(
    conn: AsyncConnection, metric: str, times: Sequence[datetime]
) -> list[dict[str, Any]]:
    """The series of a sampled metric: the last row at or before times[0] and every
    row up to times[-1], carried forward."""
    first = await conn.scalar(select(history_progress.c.first_bucket))
    h = history.c
    rows: dict[tuple[tuple[str, Any], ...], list[tuple[datetime, int]]] = defaultdict(list)
    if times:
        start = (
            select(h.labels, func.max(h.bucket).label("bucket"))
            .where(h.metric == metric, h.bucket <= times[0])
            .group_by(h.labels)
            .subquery()
        )
        before = select(h.labels, h.bucket, h.value).join(
            start, and_(h.metric == metric, h.labels == start.c.labels, h.bucket == start.c.bucket)
        )
        within = select(h.labels, h.bucket, h.value).where(
            h.metric == metric, h.bucket > times[0], h.bucket <= times[-1]
        )
        for query in (before, within.order_by(h.bucket)):
            for labels, bucket, value in await conn.execute(query):
                rows[tuple(sorted(labels.items()))].append((bucket, int(value)))
    return [
        {"labels": dict(key), "values": gauge(times, first, rows.get(key, []))}
        for key in _series_keys(metric, rows)
    ]


def _series_keys(
    metric: str, seen: Iterable[tuple[tuple[str, Any], ...]]
) -> list[tuple[tuple[str, Any], ...]]:
    """Every segment; every status of every product seen (a stable set for charts)."""
    if metric == "customers":
        return [(("segment", s),) for s in SEGMENTS]
    products = {dict(key).get("product_id") for key in seen}
    ordered = sorted(products, key=lambda p: (p is None, p or ""))
    return [(("product_id", p), ("status", s)) for p in ordered for s in INSTALLATION_STATUSES]


async def signal_counts(
    conn: AsyncConnection, times: Sequence[datetime], step: timedelta
) -> list[dict[str, Any]]:
    """Signals per kind whose time falls in each step (t - step, t]."""
    by_kind: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    if times:
        s = signals.c
        query = (
            select(s.kind, s.occurred_at, func.count())
            .where(s.occurred_at > times[0] - step, s.occurred_at <= times[-1])
            .group_by(s.kind, s.occurred_at)
        )
        for kind, at, n in await conn.execute(query):
            by_kind[kind].append((at, int(n)))
    return [{"labels": {"kind": k}, "values": per_step(times, step, by_kind[k])} for k in KINDS]


# -- the endpoint ------------------------------------------------------------------------


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
    }


router = APIRouter(
    dependencies=[Depends(require(Scope.READ)), Depends(single_valued), Depends(data_lag)],
    responses={
        200: {"headers": LAG_HEADER_DOC},
        401: _problem("no API key, or an unknown one"),
        403: _problem("the key lacks the read scope"),
        422: _problem("a parameter is invalid; `detail` or `errors` says which and why"),
    },
)


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot: the progress row and the series rows agree.
            await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        yield conn


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422, "Invalid request", errors=[{"field": f"query.{field}", "message": message}]
    )


def default_step(span: timedelta, interval: timedelta) -> timedelta:
    """The interval, or its smallest multiple that keeps ``span`` within MAX_POINTS."""
    return interval * max(1, -(-(span // interval + 1) // MAX_POINTS))


def _step(text: str, interval: timedelta) -> timedelta:
    try:
        step = parse_duration(text)
    except (ValueError, OverflowError) as exc:
        raise _invalid("step", str(exc)) from None
    if step > MAX_STEP:
        raise _invalid("step", f"must be at most {format_duration(MAX_STEP)}")
    if step % interval:
        raise _invalid("step", f"must be a multiple of the interval {format_duration(interval)}")
    return step


@router.get("/v1/history", response_model=History)
async def get_history(
    request: Request,
    conn: Annotated[AsyncConnection, Depends(_connection)],
    metric: Annotated[Metric, Query(description="which series")],
    # RFC 3339 only, like events: pydantic's datetime would also read unix numbers.
    since: Annotated[Timestamp | None, Query(description="default: until - 7 days")] = None,
    until: Annotated[Timestamp | None, Query(description="default: now")] = None,
    step: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=r"^([1-9][0-9]{0,9}[smhdw])+$",
            description="like 1h, 5s, 1d; a multiple of the interval (default: the interval, "
            f"or its smallest multiple that gives at most {MAX_POINTS} times)",
        ),
    ] = None,
) -> dict[str, Any]:
    """The customer base by segment, the installed base by product and status, or the
    churn signals per kind, at each step boundary between ``since`` and ``until``."""
    interval: timedelta = request.app.state.history_interval
    try:
        end = until or datetime.now(EPOCH.tzinfo)
        start = since or end - DEFAULT_SPAN
        if start > end:
            raise _invalid("since", "must not be after until")
        every = default_step(end - start, interval) if step is None else _step(step, interval)
        if (end - start) // every + 1 > MAX_POINTS:
            raise _invalid("step", f"more than {MAX_POINTS} times between since and until")
        if start < EPOCH:
            raise _invalid("since", "must not be before 1970-01-01T00:00:00Z")
        times = step_times(start, end, every)
    except OverflowError:
        raise _invalid("since", "the times are out of range") from None
    series = (
        await signal_counts(conn, times, every)
        if metric == "signals"
        else await gauges(conn, metric, times)
    )
    return {
        "metric": metric,
        "step": format_duration(every),
        "interval": format_duration(interval),
        "times": times,
        "series": series,
    }
