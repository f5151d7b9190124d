"""The bases over time: a scripted past, sampled at the right steps, and a replay of it.

The script happens in the hours before now, so the projector works through it as a
backlog: the samples must be the state at each past boundary (records received before
it, the churn sweep on its clock), not the state at the end, and a second projector
replaying the topics from offset 0 into an empty database must write the same series.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.history.samples import claim, write
from basewatch_projector.history.steps import EPOCH
from basewatch_projector.settings import Settings
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import history, history_progress
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.history import Out
from tests.support.kafka import produce, producing, send
from tests.support.keys import READ_AUTH
from tests.support.polling import eventually
from tests.support.services import serve

H = timedelta(hours=1)
# The script starts on an hour boundary half a day ago; boundaries are T, T+1h, ...
T = EPOCH + ((datetime.now(UTC) - 12 * H - EPOCH) // H) * H
# i2 goes silent at T+1h10m: at_risk from T+3h40m, churned from T+5h20m.
CHURN = {"at_risk_after": "150m", "churn_after": "250m", "hold_min_transitions": 1000}
N = None


def _out(minutes: int, kind: str, key: str, **event: Any) -> Out:
    """A record received (and happened) ``minutes`` after T."""
    stamp = (T + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    value = {"occurred_at": stamp, **event, "received_at": stamp, "source": "test"}
    return Out(kind, key.encode(), orjson.dumps(value))


def _identify(minutes: int, customer: str) -> Out:
    return _out(
        minutes, "customers", customer, event_id=f"id-{customer}", type="identify",
        customer_id=customer,
    )  # fmt: skip


def _purchase(minutes: int, customer: str, order: str) -> Out:
    return _out(
        minutes, "customers", customer, event_id=f"buy-{order}", type="purchase",
        customer_id=customer, order_id=order, product_id="p1", amount="9.50", currency="EUR",
    )  # fmt: skip


def _install(minutes: int, installation: str, customer: str, product: str) -> Out:
    return _out(
        minutes, "telemetry", installation, event_id=f"in-{installation}", type="install",
        installation_id=installation, customer_id=customer, product_id=product, version="1",
    )  # fmt: skip


SCRIPT = [
    _identify(10, "c1"),
    _purchase(11, "c1", "o1"),  # c1 one_time
    _install(20, "i1", "c1", "p1"),
    _identify(30, "c2"),  # c2 suspect
    _purchase(65, "c1", "o2"),  # c1 loyal
    _install(70, "i2", "c3", "p2"),  # c3 prospect; i2 never sends a heartbeat
    _purchase(75, "c2", "o3"),  # c2 one_time
    _out(150, "telemetry", "i1", event_id="un-i1", type="uninstall", installation_id="i1"),
    # T+3h..T+4h: nothing received
    _install(250, "i3", "c2", "p1"),
    _identify(270, "c4"),  # c4 suspect
    # The telemetry is all applied while these wait: a sweep on "now" would churn i3.
    *(_identify(310, f"s{n}") for n in range(10)),
]
TIMES = [T + k * H for k in range(7)]
CUSTOMERS = {
    "loyal": [N, 0, 1, 1, 1, 1, 1],
    "one_time": [N, 1, 1, 1, 1, 1, 1],
    "prospect": [N, 0, 1, 1, 1, 1, 1],
    "suspect": [N, 1, 0, 0, 0, 1, 11],
}
INSTALLATIONS = {
    ("p1", "active"): [N, 1, 1, 0, 0, 1, 1],
    ("p1", "at_risk"): [N, 0, 0, 0, 0, 0, 0],
    ("p1", "churned"): [N, 0, 0, 0, 0, 0, 0],
    ("p1", "uninstalled"): [N, 0, 0, 1, 1, 1, 1],
    ("p2", "active"): [N, 0, 1, 1, 0, 0, 0],
    ("p2", "at_risk"): [N, 0, 0, 0, 1, 1, 0],
    ("p2", "churned"): [N, 0, 0, 0, 0, 0, 1],
    ("p2", "uninstalled"): [N, 0, 0, 0, 0, 0, 0],
}
SIGNALS = {
    "installation.at_risk": [0, 0, 0, 0, 1, 0, 0],
    "installation.churned": [0, 0, 0, 0, 0, 0, 1],
    "installation.reactivated": [0] * 7,
    "installation.uninstalled": [0, 0, 0, 1, 0, 0, 0],
    "customer.lapsed": [0, 0, 0, 1, 0, 0, 0],
    "customer.reactivated": [0] * 7,
}

# GET /v1/movements at the same times: the installed base (active + at_risk) and the
# retained customers (bought, not lapsed). i1, i2, i3 new; i1 uninstalled; i2 churned;
# c1 and c2 new (first purchases), c1 lapsed when i1 is uninstalled.
MOVEMENTS = {
    "installations": {
        "opening": N,
        "sizes": [N, 1, 2, 1, 1, 2, 1],
        "new": [0, 1, 1, 0, 0, 1, 0],
        "reactivated": [0] * 7,
        "churned": [0, 0, 0, 0, 0, 0, 1],
        "uninstalled": [0, 0, 0, 1, 0, 0, 0],
        "relabelled": [0] * 7,
        "net": [0, 1, 1, -1, 0, 1, -1],
    },
    "customers": {
        "opening": N,
        "sizes": [N, 1, 2, 1, 1, 1, 1],
        "new": [0, 1, 1, 0, 0, 0, 0],
        "reactivated": [0] * 7,
        "lapsed": [0, 0, 0, 1, 0, 0, 0],
        "net": [0, 1, 1, -1, 0, 0, 0],
    },
}


# GET /v1/sales: o1 at T+11m, o2 and o3 at T+65m and T+75m, 9.50 EUR each.
SALES = {
    "product_id": "p1",
    "units": [0, 1, 2, 0, 0, 0, 0],
    "orders": [0, 1, 2, 0, 0, 0, 0],
    "revenue": {"EUR": ["0", "9.5", "19", "0", "0", "0", "0"]},
}


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def _history(api: httpx.AsyncClient, metric: str, step: str = "1h") -> dict[str, Any]:
    params = {"metric": metric, "since": _z(TIMES[0]), "until": _z(TIMES[-1]), "step": step}
    response = await api.get("/v1/history", params=params, headers=READ_AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _movements(api: httpx.AsyncClient, base: str, **more: str) -> dict[str, Any]:
    params = {"base": base, "since": _z(TIMES[0]), "until": _z(TIMES[-1]), "step": "1h", **more}
    response = await api.get("/v1/movements", params=params, headers=READ_AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    before = body["opening"] or 0
    for size, net in zip(body["sizes"], body["net"], strict=True):  # the identity
        assert before + net == (size or 0), body
        before = size or 0
    return body


def _flat(movements: dict[str, Any]) -> dict[str, Any]:
    """A movements answer as {"opening", "sizes", each kind, "net"}."""
    kinds = {m["kind"]: m["values"] for m in movements["movements"]}
    return {
        "opening": movements["opening"],
        "sizes": movements["sizes"],
        **kinds,
        "net": movements["net"],
    }


def _in_use(installations: dict[str, Any], product: str | None = None) -> list[int | None]:
    """The installed base from a GET /v1/history answer: active + at_risk."""
    found = [
        s["values"]
        for s in installations["series"]
        if s["labels"]["status"] in ("active", "at_risk")
        and product in (None, s["labels"]["product_id"])
    ]
    return [
        None if all(v[k] is None for v in found) else sum(v[k] or 0 for v in found)
        for k in range(len(TIMES))
    ]


async def _settled(engine: AsyncEngine) -> datetime | None:
    async with engine.connect() as conn:
        value: datetime | None = await conn.scalar(select(history_progress.c.settled_through))
        return value


async def _replay(settings: Settings, engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    """Run a projector until its history is settled through the end of the script."""
    async with serve(create_app(settings)) as api:
        await eventually(
            lambda: _settled(engine), lambda s: s is not None and s >= T + 12 * H, within=30
        )
        answers = {
            m: await _history(api, m) for m in ("customers", "retained", "installations", "signals")
        }
        for base in ("customers", "installations"):
            answers[f"movements.{base}"] = await _movements(api, base)
        for product in ("p1", "p2"):
            answers[f"movements.{product}"] = await _movements(
                api, "installations", product_id=product
            )
        params = {"since": _z(TIMES[0]), "until": _z(TIMES[-1]), "step": "1h"}
        sales = await api.get("/v1/sales", params=params, headers=READ_AUTH)
        assert sales.status_code == 200, sales.text
        answers["sales"] = sales.json()
        for base in ("installations", "customers"):
            cohorts = await api.get(f"/v1/cohorts?base={base}&period=week", headers=READ_AUTH)
            assert cohorts.status_code == 200, cohorts.text
            answers[f"cohorts.{base}"] = cohorts.json()
        return answers


async def test_the_series_are_the_past_states_and_a_replay_writes_the_same(
    database: TestDatabase,
    another_database: TestDatabase,
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    await produce(kafka_bootstrap, topics, SCRIPT)
    # Small batches and a sweep after each: the history is sampled between many batches,
    # and the sweeps must not run ahead of it.
    first = await _replay(
        projector_settings(
            **CHURN, history_interval="1h", batch_max_records=3, sweep_interval="1ms"
        ),
        migrated,
    )
    times = [_z(t) for t in TIMES]
    assert first["customers"]["times"] == times
    assert (first["customers"]["step"], first["customers"]["interval"]) == ("1h", "1h")
    assert {s["labels"]["segment"]: s["values"] for s in first["customers"]["series"]} == CUSTOMERS
    assert {
        (s["labels"]["product_id"], s["labels"]["status"]): s["values"]
        for s in first["installations"]["series"]
    } == INSTALLATIONS
    assert {s["labels"]["kind"]: s["values"] for s in first["signals"]["series"]} == SIGNALS
    for base, expected in MOVEMENTS.items():
        assert _flat(first[f"movements.{base}"]) == expected
    assert first["sales"]["products"] == [SALES]
    # The cohorts as the samples counted them: i1, i2, i3 installed, none in use at the
    # latest sample (i3 churned at T+8h20m); c1 and c2 bought.
    cohorts = [c for c in first["cohorts.installations"]["cohorts"] if c["size"]]
    assert (sum(c["size"] for c in cohorts), sum(c["in_use"][-1] for c in cohorts)) == (3, 0)
    buyers = [c for c in first["cohorts.customers"]["cohorts"] if c["size"]]
    assert sum(c["size"] for c in buyers) == 2
    # The sizes are the history's.
    assert first["movements.customers"]["sizes"] == first["retained"]["series"][0]["values"]
    assert first["movements.installations"]["sizes"] == _in_use(first["installations"])
    for product in ("p1", "p2"):
        assert first[f"movements.{product}"]["sizes"] == _in_use(first["installations"], product)
    async with migrated.connect() as conn:
        stored = (await conn.execute(select(history).where(history.c.bucket <= TIMES[-1]))).all()
    # Compact: a row per change of a series, none for the hour in which nothing happened.
    # retained: 1, 2, 1; in_use: 1, 2, 1, 2, 1 in all, 1, 0, 1 of p1, 1, 0 of p2.
    assert len(stored) == 16 + 3 + 10
    assert all(row.bucket != T + 4 * H or row.metric == "installations" for row in stored)

    # A second projector replays the same topics from offset 0 into an empty database,
    # in big batches: a fetch holds the whole script.
    engine = another_database.engine()
    try:
        await migrate(engine)
        second = await _replay(
            projector_settings(
                **CHURN,
                history_interval="1h",
                **another_database.settings(),
                consumer_group=f"{group_id}-replay",
            ),
            engine,
        )
    finally:
        await engine.dispose()
    assert second == first


async def test_steps_aggregate_and_bad_parameters_are_problems(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    await produce(kafka_bootstrap, topics, SCRIPT)
    # Sampled every 2 minutes: the same values at the hours, and the hours after the script
    # are a stretch without records longer than the recorder walks one boundary at a time.
    settings = projector_settings(**CHURN, history_interval="2m")
    async with serve(create_app(settings)) as api:
        await eventually(
            lambda: _settled(migrated), lambda s: s is not None and s >= T + 12 * H, within=30
        )
        hourly = await _history(api, "signals")
        two = await _history(api, "signals", step="2h")
        even = [k for k, t in enumerate(TIMES) if (t - EPOCH) % (2 * H) == timedelta(0)]
        assert two["times"] == [hourly["times"][k] for k in even]
        for h_series, t_series in zip(hourly["series"], two["series"], strict=True):
            v = h_series["values"]
            # (t - 2h, t] is (t - 2h, t - 1h] and (t - 1h, t]; before T nothing happened.
            assert t_series["values"] == [v[k] + (v[k - 1] if k else 0) for k in even]
        gauge = await _history(api, "installations", step="2h")
        hourly_gauge = await _history(api, "installations")
        for h_series, t_series in zip(hourly_gauge["series"], gauge["series"], strict=True):
            assert t_series["values"] == [h_series["values"][k] for k in even]

        assert {s["labels"]["kind"]: s["values"] for s in hourly["series"]} == SIGNALS
        assert {
            (s["labels"]["product_id"], s["labels"]["status"]): s["values"]
            for s in hourly_gauge["series"]
        } == INSTALLATIONS
        week = (await api.get("/v1/history?metric=customers", headers=READ_AUTH)).json()
        assert (week["step"], week["interval"]) == ("2m", "2m")
        assert len(week["times"]) in (7 * 720, 7 * 720 + 1)
        # A month of 2 minutes is too many times: without a step, the smallest multiple of
        # the interval that fits.
        since = {"metric": "customers", "since": _z(TIMES[-1] - timedelta(days=30))}
        month = (await api.get("/v1/history", params=since, headers=READ_AUTH)).json()
        assert month["step"] == "6m"
        assert len(month["times"]) <= 10_000

        bad = [
            {"metric": "nope"},
            {},
            {"metric": "customers", "step": "soon"},
            {"metric": "customers", "step": "90s"},  # not a multiple of the 2m interval
            {"metric": "customers", "step": "0s"},
            {"metric": "customers", "since": "2026-11-22T10:00:00"},  # no offset
            {"metric": "customers", "until": "yesterday"},
            {"metric": "customers", "since": _z(TIMES[3]), "until": _z(TIMES[0])},
            {"metric": "customers", "since": "2020-01-01T00:00:00Z", "step": "1h"},  # too many
            {"metric": "customers", "since": "1900-01-01T00:00:00Z", "step": "3650d"},
            {"metric": "customers", "until": "0001-01-02T00:00:00+14:00"},
            {"metric": "signals", "step": "99999999999d"},
            {"metric": "customers", "until": "9999-12-31T23:59:59-12:00", "step": "1d"},
        ]
        for params in bad:
            response = await api.get("/v1/history", params=params, headers=READ_AUTH)
            assert response.status_code == 422, (params, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 422
        for params in [
            {"base": "customers", **b} for b in bad if b.get("metric") == "customers"
        ] + [{}, {"base": "nope"}, {"base": "customers", "product_id": "p1"}]:
            params.pop("metric", None)
            response = await api.get("/v1/movements", params=params, headers=READ_AUTH)
            assert response.status_code == 422, (params, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        unauthorized = await api.get("/v1/history?metric=customers")
        assert unauthorized.status_code == 401
        schema = (await api.get("/openapi.json")).json()
        operation = schema["paths"]["/v1/history"]["get"]
        assert "application/problem+json" in operation["responses"]["422"]["content"]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/History"
        }


async def test_each_boundary_is_sampled_once_and_only_forward(migrated: AsyncEngine) -> None:
    now = datetime.now(UTC)
    unknown_product = ("installations", (("product_id", None), ("status", "active")))

    async def take(bucket: datetime, sample: dict[Any, int] | None = None) -> Any:
        async with migrated.begin() as conn:
            previous = await claim(conn, bucket, now)
            if previous is not None and sample is not None:
                await write(conn, bucket, previous, sample)
            return previous

    # Two instances reach the same boundary at once: one samples it.
    results = await asyncio.gather(*(take(T, {unknown_product: 2}) for _ in range(2)))
    assert sorted(r is None for r in results) == [False, True]
    assert await take(T) is None  # again
    assert await take(T - H) is None  # an older boundary
    # The next boundary sees the values the last sample wrote (labels with a null too).
    assert await take(T + 2 * H, {}) == {unknown_product: 2}
    async with migrated.connect() as conn:
        rows = (await conn.execute(select(history).order_by(history.c.bucket))).all()
        first = await conn.scalar(select(history_progress.c.first_bucket))
    assert [(r.labels, r.bucket, r.value) for r in rows] == [
        ({"product_id": None, "status": "active"}, T, 2),
        ({"product_id": None, "status": "active"}, T + 2 * H, 0),
    ]
    assert first == T


async def test_a_live_projector_samples_each_boundary_as_the_clock_passes_it(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    second = timedelta(seconds=1)
    received: list[datetime] = []
    async with (
        serve(create_app(projector_settings(history_interval="1s"))) as api,
        producing(kafka_bootstrap) as producer,  # started first: each record sent as stamped
    ):
        for n in range(4):  # a new suspect every 0.7 s, received now
            # Not just before a boundary: a test machine under load may take some tenths
            # of a second from the broker to the projector, more than the grace of 0.2 s.
            fraction = (datetime.now(UTC) - EPOCH) / second % 1
            if not 0.1 < fraction < 0.6:
                await asyncio.sleep((1.2 - fraction) % 1)
            received.append(datetime.now(UTC))
            value = {"event_id": f"live-{n}", "type": "identify", "customer_id": f"l{n}",
                     "occurred_at": _z(received[-1]), "received_at": _z(received[-1]),
                     "source": "test"}  # fmt: skip
            await send(producer, topics, [Out("customers", b"l", orjson.dumps(value))])
            await asyncio.sleep(0.5)
        await eventually(
            lambda: _settled(migrated), lambda s: s is not None and s > received[-1] + second
        )
        since, until = received[0] - 3 * second, received[-1] + 2 * second
        params = {"metric": "customers", "since": _z(since), "until": _z(until)}
        got = (await api.get("/v1/history", params=params, headers=READ_AUTH)).json()
    suspects = next(s["values"] for s in got["series"] if s["labels"]["segment"] == "suspect")
    times = [datetime.fromisoformat(t) for t in got["times"]]
    # Each second holds exactly the records received before it; null before sampling began.
    assert suspects == [
        None if v is None else sum(r < t for r in received)
        for t, v in zip(times, suspects, strict=True)
    ]
    assert suspects[-1] == 4
    assert len({v for v in suspects if v is not None}) >= 4  # a step per record


async def test_an_installation_of_no_known_product_crosses_a_sample_boundary(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    # Security issue item 1: an install with a product and a heartbeat of an unknown
    # installation (no product) made the next sample crash the consume loop, for good.
    now = _z(datetime.now(UTC))
    records = [
        {"event_id": "sec1-a", "type": "install", "installation_id": "inst-A",
         "customer_id": "c-A", "product_id": "p1", "version": "1"},
        {"event_id": "sec1-b", "type": "heartbeat", "installation_id": "inst-B"},
    ]  # fmt: skip
    await produce(
        kafka_bootstrap,
        topics,
        [
            Out("telemetry", r["installation_id"].encode(), orjson.dumps(
                {**r, "occurred_at": now, "received_at": now, "source": "test"}
            ))
            for r in records
        ],
    )  # fmt: skip
    async with serve(create_app(projector_settings(history_interval="1s"))) as api:
        settled = await eventually(
            lambda: _settled(migrated),
            lambda s: s is not None and s > datetime.fromisoformat(now) + timedelta(seconds=2),
        )
        assert settled is not None
        assert (await api.get("/readyz")).status_code == 200
        since, until = _z(settled - timedelta(seconds=4)), _z(settled)
        params = {"metric": "installations", "since": since, "until": until}
        got = (await api.get("/v1/history", params=params, headers=READ_AUTH)).json()
    last = {
        (s["labels"]["product_id"], s["labels"]["status"]): s["values"][-1] for s in got["series"]
    }
    assert last[("p1", "active")] == 1
    assert last[(None, "active")] == 1


async def test_a_stopping_projector_leaves_the_boundaries_still_to_sample_to_the_next_start(
    database: TestDatabase,
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    if database.kind == "postgresql":  # one database shows it: the suite has 15 minutes
        pytest.skip("the consume loop's stop, whatever the database: shown on SQLite")
    # One record received 90 s ago, and a sample every second: once it is applied, 90
    # boundaries have passed at once. A projector asked to stop after the first sample
    # must not walk the rest first (each sample of a large base takes a while: SIGTERM
    # waited 30 s for them, then the loop was cancelled).
    second = timedelta(seconds=1)
    now = datetime.now(UTC)
    value = {"event_id": "old-1", "type": "identify", "customer_id": "o1",
             "occurred_at": _z(now - 90 * second), "received_at": _z(now - 90 * second),
             "source": "test"}  # fmt: skip
    await produce(kafka_bootstrap, topics, [Out("customers", b"o1", orjson.dumps(value))])
    async with serve(create_app(projector_settings(history_interval="1s"))):
        first = await eventually(lambda: _settled(migrated), lambda s: s is not None, interval=0.01)
    assert first is not None
    stopped_at = await _settled(migrated)
    assert stopped_at is not None
    # Sampled on, one boundary at a time, only until the stop was seen: far from now.
    assert first <= stopped_at < now - 60 * second
    # The next start goes on from there.
    async with serve(create_app(projector_settings(history_interval="1s"))):
        await eventually(lambda: _settled(migrated), lambda s: s is not None and s > stopped_at)
