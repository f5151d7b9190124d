"""Fuzz of the live projector: random valid histories while it samples and sweeps every second.

The unit and convergence tests fold histories through the projection's functions; none
ran the consume loop, the history sampler and the churn sweep together on what clients
may send. Two valid events (an install with a product, a heartbeat of an unknown
installation without one) stopped the projector for good at the next sample. Here one
projector runs for the whole test, with a history interval and a sweep interval of one
second, and each example produces a new history:

- every event kind with every optional field present or absent;
- ids reused across kinds (a customer, an installation, an order and a product may all
  be called ``x1``), events before their install, heartbeats of installations nobody
  installed, uninstalls first, duplicates;
- times either recent (the installation stays in use) or a month old (it churns at the
  next sweep), so the outcome does not depend on when the sweep runs.

After each example the projector must still be ready, and every customer and
installation of the example, and the summary of everything sent so far, must converge
to the checker's model (written from the contract, independent of the projector) once
it has swept. Signals are left out: how many a history raises depends on how its
records fall into batches between sweeps until the event-time sweep exists.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.vendor.pretty import RepresentationPrinter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.tables import history_progress
from basewatch_shared.topics import Topics
from tests.support.checker.compare import compare
from tests.support.checker.model import Model
from tests.support.checker.observe import Observed
from tests.support.history import Out
from tests.support.kafka import produce
from tests.support.keys import READ_AUTH
from tests.support.polling import eventually
from tests.support.profiles import BACKGROUND_RANDOM, scaled
from tests.support.services import serve

pytestmark = BACKGROUND_RANDOM

AT_RISK, CHURN = timedelta(days=3), timedelta(days=14)
POOL = ["x1", "x2", "x3"]  # customers, installations, orders and products share names
MONTH_AGO, NOW = "old", "new"

ids = st.sampled_from(POOL)
moments = st.tuples(st.sampled_from([MONTH_AGO, NOW]), st.integers(0, 3))
properties = st.fixed_dictionaries({}, optional={"plan": st.sampled_from(["free", "pro"])})
common = {"sent_at": st.just("sent"), "properties": properties}
identify = st.fixed_dictionaries(
    {"type": st.just("identify"), "customer_id": ids},
    optional={
        **common,
        "traits": st.fixed_dictionaries(
            {},
            optional={
                "email": st.sampled_from(["a@example.com", "b@example.com"]),
                "name": st.just("Ada"),
                "company": st.just("ACME"),
                "country": st.sampled_from(["DE", "JP"]),
                "seats": st.integers(1, 5),
            },
        ),
    },
)
purchase = st.fixed_dictionaries(
    {
        "type": st.just("purchase"),
        "customer_id": ids,
        "order_id": ids,
        "product_id": ids,
        "amount": st.sampled_from(["0", "9.99", "100"]),
        "currency": st.sampled_from(["EUR", "JPY"]),
    },
    optional={**common, "quantity": st.integers(1, 3)},
)
install = st.fixed_dictionaries(
    {
        "type": st.just("install"),
        "customer_id": ids,
        "installation_id": ids,
        "product_id": ids,
        "version": st.sampled_from(["1", "2"]),
    },
    optional={**common, "platform": st.sampled_from(["linux", "macos"])},
)
heartbeat = st.fixed_dictionaries(
    {"type": st.just("heartbeat"), "installation_id": ids},
    optional={
        **common,
        "customer_id": ids,
        "product_id": ids,
        "version": st.sampled_from(["1", "2"]),
        "platform": st.sampled_from(["linux", "macos"]),
        "usage": st.fixed_dictionaries({"sessions": st.integers(0, 3)}),
    },
)
uninstall = st.fixed_dictionaries(
    {"type": st.just("uninstall"), "installation_id": ids}, optional={**common, "customer_id": ids}
)
bodies = st.lists(
    st.tuples(identify | purchase | install | heartbeat | uninstall, moments, st.booleans()),
    min_size=1,
    max_size=12,
)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _events(
    drawn: list[tuple[dict[str, Any], tuple[str, int], bool]], tag: str, received: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The example's distinct events (ids prefixed with its tag) and what is delivered:
    each event once, the ones drawn ``True`` twice."""
    base = {MONTH_AGO: received - 2 * CHURN, NOW: received - timedelta(minutes=5)}
    events, delivered = [], []
    for n, (body, (age, minute), again) in enumerate(drawn):
        at = _iso(base[age] + timedelta(minutes=minute))
        event = {k: f"{tag}-{v}" if k.endswith("_id") else v for k, v in body.items()}
        event |= {"event_id": f"{tag}-e{n}", "occurred_at": at}
        if "sent_at" in event:
            event["sent_at"] = at
        events.append(event)
        delivered.extend([event, event] if again else [event])
    return events, delivered


def _record(event: dict[str, Any], received: datetime) -> Out:
    kind = "customers" if event["type"] in ("identify", "purchase") else "telemetry"
    key = event["customer_id"] if kind == "customers" else event["installation_id"]
    value = event | {"received_at": _iso(received), "source": "fuzz"}
    return Out(kind, key.encode(), orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


async def _observe(api: httpx.AsyncClient) -> Observed:
    """Every customer and installation the read API lists, and the summary."""

    async def get(path: str, **params: Any) -> dict[str, Any]:
        response = await api.get(path, params=params, headers=READ_AUTH)
        assert response.status_code == 200, (path, response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    async def every(path: str, key: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        page = await get(path, limit=1000)
        while True:
            found.update((item[key], item) for item in page["items"])
            if not page["next_cursor"]:
                return found
            page = await get(path, limit=1000, cursor=page["next_cursor"])

    return Observed(
        await every("/v1/customers", "customer_id"),
        await every("/v1/installations", "installation_id"),
        [],
        await get("/v1/summary"),
    )


async def _settled(engine: AsyncEngine) -> datetime | None:
    async with engine.connect() as conn:
        value: datetime | None = await conn.scalar(select(history_progress.c.settled_through))
        return value


@dataclass(repr=False)
class Sent:
    """Everything the test has sent so far, as the model folds it; a tag per example."""

    model: Model = field(default_factory=lambda: Model(AT_RISK, CHURN))
    examples: Iterator[int] = field(default_factory=itertools.count)

    def __repr__(self) -> str:
        return "Sent(the examples before this one)"

    def _repr_pretty_(self, printer: RepresentationPrinter, cycle: bool) -> None:
        # Hypothesis writes each example's arguments, fixtures included, and prints a
        # dataclass field by field whatever its __repr__: the model of every example
        # before grew past 30 kB at about 160 examples (a soak runs 400), and its
        # warning about so large a text failed the test.
        printer.text(repr(self))


@pytest.fixture
def sent() -> Sent:
    """What the examples of one test sent (a function-scoped fixture spans its examples)."""
    return Sent()


@pytest.fixture
async def projector(
    migrated: AsyncEngine, projector_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    """One projector for the whole test: a sample and a sweep every second."""
    settings = projector_settings(
        history_interval="1s", sweep_interval="1s", at_risk_after="3d", churn_after="14d"
    )
    async with serve(create_app(settings)) as api:
        yield api


# A failing example waits out its deadline, and so would every step of a shrink: the
# drawn events are reported as they were (at most twelve, readable without shrinking).
@pytest.mark.slow
@settings(scaled(ci=12, soak=400), phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(drawn=bodies)
async def test_the_live_projector_keeps_serving_and_converges_on_any_valid_history(
    projector: httpx.AsyncClient,
    sent: Sent,
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    drawn: list[tuple[dict[str, Any], tuple[str, int], bool]],
) -> None:
    model, tag = sent.model, f"f{next(sent.examples)}"
    received = datetime.now(UTC)
    events, delivered = _events(drawn, tag, received)
    await produce(kafka_bootstrap, topics, [_record(e, received) for e in delivered])
    model.apply(events, received)

    async def verdict() -> list[str]:
        model.sweep(datetime.now(UTC))  # every time is far from a threshold: any clock will do
        return compare(model, await _observe(projector), alone=True, signals=False).mismatches

    await eventually(verdict, lambda mismatches: not mismatches, within=30, interval=0.25)
    assert (await projector.get("/readyz")).status_code == 200
    # The sampler has crossed a boundary since these records were received.
    await eventually(lambda: _settled(migrated), lambda s: s is not None and s > received)
