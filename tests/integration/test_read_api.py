"""The read API (docs/read-api.md) on a scripted state, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.projection.apply import apply_records
from basewatch_projector.projection.customers import refresh_customers
from basewatch_projector.storage.engine import create_engine
from basewatch_projector.storage.tables import installations
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from basewatch_shared.contract.vocabulary import Segment
from tests.support.keys import INGEST_AUTH, READ_AUTH
from tests.support.policy import POLICY
from tests.support.services import projector_app, served

NOW = datetime(2026, 11, 20, tzinfo=UTC)
PROBLEM = "application/problem+json"
LAG = "basewatch-data-lag-seconds"


def _ts(day: int, hour: int = 10) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


def _records(*events: dict[str, Any]) -> list[Record]:
    return [
        Record(event=EVENT_ADAPTER.validate_python(e), received_at=NOW, source="test-app")
        for e in events
    ]


# c1 loyal (two orders, EUR and USD, one installation active and one at_risk),
# c2 one_time and lapsed (its only installation uninstalled), c3 one_time and never
# installed, c4 a prospect (one installation active, one churned), c5 a suspect (identify
# only), and i6 an installation in use whose owner is unknown (heartbeats only).
FIRST_BATCH = _records(
    {
        "event_id": "id-c1",
        "type": "identify",
        "occurred_at": _ts(1),
        "customer_id": "c1",
        "traits": {"email": "ada@example.com", "country": "de", "name": "Ada"},
    },
    {"event_id": "id-c2", "type": "identify", "occurred_at": _ts(1), "customer_id": "c2",
     "traits": {"country": "US"}},
    {"event_id": "id-c3", "type": "identify", "occurred_at": _ts(1), "customer_id": "c3",
     "traits": {"country": "DE"}},
    {"event_id": "id-c4", "type": "identify", "occurred_at": _ts(1), "customer_id": "c4",
     "traits": {"country": "FR"}},
    {"event_id": "id-c5", "type": "identify", "occurred_at": _ts(1), "customer_id": "c5",
     "traits": {"country": "DE", "vip": True}},
    {"event_id": "buy-1", "type": "purchase", "occurred_at": _ts(2), "customer_id": "c1",
     "order_id": "o1", "product_id": "p1", "amount": "19.99", "currency": "EUR", "quantity": 2},
    {"event_id": "buy-2", "type": "purchase", "occurred_at": _ts(5), "customer_id": "c1",
     "order_id": "o2", "product_id": "p2", "amount": 5, "currency": "usd"},
    {"event_id": "buy-3", "type": "purchase", "occurred_at": _ts(3), "customer_id": "c2",
     "order_id": "o1", "product_id": "p1", "amount": "100", "currency": "EUR"},
    {"event_id": "buy-4", "type": "purchase", "occurred_at": _ts(4), "customer_id": "c3",
     "order_id": "o9", "product_id": "p2", "amount": "12.50", "currency": "USD", "quantity": 3},
    {"event_id": "in-1", "type": "install", "occurred_at": _ts(2, 11), "customer_id": "c1",
     "installation_id": "i1", "product_id": "p1", "version": "1.0", "platform": "macos"},
    {"event_id": "in-2", "type": "install", "occurred_at": _ts(2, 12), "customer_id": "c1",
     "installation_id": "i2", "product_id": "p1", "version": "2.0"},
    {"event_id": "in-3", "type": "install", "occurred_at": _ts(3, 11), "customer_id": "c2",
     "installation_id": "i3", "product_id": "p1", "version": "1.0"},
    {"event_id": "in-4", "type": "install", "occurred_at": _ts(6), "customer_id": "c4",
     "installation_id": "i4", "product_id": "p2", "version": "1.0"},
    {"event_id": "in-5", "type": "install", "occurred_at": _ts(6), "customer_id": "c4",
     "installation_id": "i5", "product_id": "p2", "version": "1.0"},
)  # fmt: skip
SECOND_BATCH = _records(
    {"event_id": "buy-1", "type": "purchase", "occurred_at": _ts(2), "customer_id": "c1",
     "order_id": "o1", "product_id": "p1", "amount": "19.99", "currency": "EUR", "quantity": 2},
    {"event_id": "hb-1", "type": "heartbeat", "occurred_at": _ts(19), "installation_id": "i1",
     "usage": {"sessions": 12, "active_minutes": 340.5}},
    {"event_id": "un-3", "type": "uninstall", "occurred_at": _ts(8), "installation_id": "i3"},
    {"event_id": "hb-6", "type": "heartbeat", "occurred_at": _ts(19), "installation_id": "i6",
     "product_id": "p1", "version": "2.0"},
)  # fmt: skip


async def build_state(engine: AsyncEngine) -> None:
    """Apply the two batches, then the silence the (later) churn sweep would judge."""
    for batch in (FIRST_BATCH, SECOND_BATCH):
        async with engine.begin() as conn:
            await apply_records(conn, batch, loyal_min_orders=2, policy=POLICY, now=NOW)
    # apply_records moves no installation to at_risk or churned: that is the sweep's job.
    # These two leave their owners' status unchanged (each owner keeps one in use).
    async with engine.begin() as conn:
        for inst, status in (("i2", "at_risk"), ("i5", "churned")):
            await conn.execute(
                update(installations)
                .where(installations.c.installation_id == inst)
                .values(status=status, status_changed_at=NOW)
            )
        # As the churn sweep does after a status change: the owners are recomputed.
        await refresh_customers(conn, {"c1", "c4"}, loyal_min_orders=2, now=NOW)


@pytest.fixture
async def app(migrated: AsyncEngine) -> FastAPI:
    """The projector app on the scripted state."""
    await build_state(migrated)
    return projector_app(migrated)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, with the read key."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=READ_AUTH
    ) as client:
        yield client


async def get_json(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    """GET and return the JSON body, which must be a 200."""
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def installation(inst_id: str, **fields: Any) -> dict[str, Any]:
    """The expected document of an installation: defaults, then ``fields``."""
    return {
        "installation_id": inst_id,
        "customer_id": None,
        "product_id": None,
        "version": None,
        "platform": None,
        "installed_at": None,
        "last_heartbeat_at": None,
        "usage": None,
        "status": "active",
        "status_changed_at": "2026-11-20T00:00:00Z",
    } | fields


I1 = installation(
    "i1",
    customer_id="c1",
    product_id="p1",
    version="1.0",
    platform="macos",
    installed_at=_ts(2, 11),
    last_heartbeat_at=_ts(19),
    usage={"sessions": 12, "active_minutes": 340.5},
)
I2 = installation(
    "i2", customer_id="c1", product_id="p1", version="2.0", installed_at=_ts(2, 12),
    status="at_risk",
)  # fmt: skip
I3 = installation(
    "i3", customer_id="c2", product_id="p1", version="1.0", installed_at=_ts(3, 11),
    status="uninstalled",
)  # fmt: skip
I4 = installation("i4", customer_id="c4", product_id="p2", version="1.0", installed_at=_ts(6))
I5 = installation(
    "i5", customer_id="c4", product_id="p2", version="1.0", installed_at=_ts(6),
    status="churned",
)  # fmt: skip
I6 = installation("i6", product_id="p1", version="2.0", last_heartbeat_at=_ts(19))
ALL_INSTALLATIONS = [I1, I2, I3, I4, I5, I6]


def customer(cid: str, **fields: Any) -> dict[str, Any]:
    """The expected list document of a customer: defaults, then ``fields``."""
    return {
        "customer_id": cid,
        "traits": {},
        "segment": "suspect",
        "status": "none",
        "orders": 0,
        "revenue": {},
        "first_purchase_at": None,
        "last_purchase_at": None,
        "erased": False,
        "erased_at": None,
    } | fields


C1 = customer(
    "c1",
    traits={"email": "ada@example.com", "country": "DE", "name": "Ada"},
    segment="loyal",
    status="active",
    orders=2,
    revenue={"EUR": "19.99", "USD": "5"},
    first_purchase_at=_ts(2),
    last_purchase_at=_ts(5),
)
C2 = customer(
    "c2", traits={"country": "US"}, segment="one_time", status="lapsed", orders=1,
    revenue={"EUR": "100"}, first_purchase_at=_ts(3), last_purchase_at=_ts(3),
)  # fmt: skip
C3 = customer(
    "c3", traits={"country": "DE"}, segment="one_time", status="never_installed", orders=1,
    revenue={"USD": "12.5"}, first_purchase_at=_ts(4), last_purchase_at=_ts(4),
)  # fmt: skip
C4 = customer("c4", traits={"country": "FR"}, segment="prospect", status="active")
C5 = customer("c5", traits={"country": "DE", "vip": True})
ALL_CUSTOMERS = [C1, C2, C3, C4, C5]


# -- one document --------------------------------------------------------------------------


async def test_one_customer_with_revenue_per_currency_and_installations(
    client: httpx.AsyncClient,
) -> None:
    more = {"more_installations": False}
    assert await get_json(client, "/v1/customers/c1") == C1 | {"installations": [I1, I2]} | more
    assert await get_json(client, "/v1/customers/c5") == C5 | {"installations": []} | more


async def test_one_installation(client: httpx.AsyncClient) -> None:
    for expected in ALL_INSTALLATIONS:
        assert await get_json(client, f"/v1/installations/{expected['installation_id']}") == (
            expected
        )


async def test_products_sold_against_installed_by_version(client: httpx.AsyncClient) -> None:
    assert await get_json(client, "/v1/products/p1") == {
        "product_id": "p1",
        "units_sold": 3,
        "orders": 2,  # (c1, o1) and (c2, o1): order ids are per customer
        "revenue": {"EUR": "119.99"},
        "installations": 4,
        "active": 2,
        "at_risk": 1,
        "churned": 0,
        "uninstalled": 1,
        "versions": [
            {"version": "1.0", "installations": 2, "active": 1, "at_risk": 0, "churned": 0,
             "uninstalled": 1},
            {"version": "2.0", "installations": 2, "active": 1, "at_risk": 1, "churned": 0,
             "uninstalled": 0},
        ],
        "more_versions": False,
    }  # fmt: skip
    assert await get_json(client, "/v1/products/p2") == {
        "product_id": "p2",
        "units_sold": 4,
        "orders": 2,
        "revenue": {"USD": "17.5"},
        "installations": 2,
        "active": 1,
        "at_risk": 0,
        "churned": 1,
        "uninstalled": 0,
        "versions": [
            {"version": "1.0", "installations": 2, "active": 1, "at_risk": 0, "churned": 1,
             "uninstalled": 0},
        ],
        "more_versions": False,
    }  # fmt: skip


async def test_a_product_only_sold_or_only_installed(migrated: AsyncEngine) -> None:
    records = _records(
        {"event_id": "b", "type": "purchase", "occurred_at": _ts(1), "customer_id": "c",
         "order_id": "o", "product_id": "sold", "amount": "0.000001", "currency": "JPY"},
        {"event_id": "h", "type": "heartbeat", "occurred_at": _ts(1), "installation_id": "i",
         "product_id": "used"},
    )  # fmt: skip
    async with migrated.begin() as conn:
        await apply_records(conn, records, loyal_min_orders=2, policy=POLICY, now=NOW)
    transport = httpx.ASGITransport(app=projector_app(migrated))
    none = {"installations": 0, "active": 0, "at_risk": 0, "churned": 0, "uninstalled": 0}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=READ_AUTH
    ) as client:
        assert await get_json(client, "/v1/products/sold") == {
            "product_id": "sold", "units_sold": 1, "orders": 1, "revenue": {"JPY": "0.000001"},
            **none, "versions": [], "more_versions": False,
        }  # fmt: skip
        assert await get_json(client, "/v1/products/used") == {
            "product_id": "used", "units_sold": 0, "orders": 0, "revenue": {},
            **none, "installations": 1, "active": 1,
            "versions": [{"version": None, **none, "installations": 1, "active": 1}],
            "more_versions": False,
        }  # fmt: skip


async def test_summary_of_both_bases_and_their_overlap(client: httpx.AsyncClient) -> None:
    assert await get_json(client, "/v1/summary") == {
        "customer_base": {
            "total": 3,
            "by_segment": {"loyal": 1, "one_time": 2, "prospect": 1, "suspect": 1},
            "by_status": {"active": 2, "lapsed": 1, "never_installed": 1, "none": 1},
        },
        "installed_base": {
            "total": 4,
            "by_status": {"active": 3, "at_risk": 1, "churned": 1, "uninstalled": 1},
            "by_product": [
                {"product_id": "p1", "installations": 4, "active": 2, "at_risk": 1,
                 "churned": 0, "uninstalled": 1},
                {"product_id": "p2", "installations": 2, "active": 1, "at_risk": 0,
                 "churned": 1, "uninstalled": 0},
            ],
            "more_products": False,
        },
        "overlap": {
            "paying_and_active": 1,
            "paying_and_lapsed": 1,
            "paying_never_installed": 1,
            "active_not_paying_customers": 1,  # c4
            "active_not_paying_installations": 2,  # i4 (c4's) and i6 (owner unknown)
        },
    }  # fmt: skip


async def test_summary_of_an_empty_database(migrated: AsyncEngine) -> None:
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/v1/summary", headers=READ_AUTH)).json()
    assert body["customer_base"]["by_segment"] == dict.fromkeys(
        ["loyal", "one_time", "prospect", "suspect"], 0
    )
    assert body["installed_base"] == {
        "total": 0,
        "by_status": dict.fromkeys(["active", "at_risk", "churned", "uninstalled"], 0),
        "by_product": [],
        "more_products": False,
    }
    assert set(body["overlap"].values()) == {0}


# -- lists and pagination ----------------------------------------------------------------


async def walk(client: httpx.AsyncClient, url: str, **params: Any) -> list[list[Any]]:
    """Every page of a list, following next_cursor to the end."""
    pages: list[list[Any]] = []
    cursor = None
    while True:
        body = await get_json(client, url, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor does not advance"


CUSTOMER_FILTERS: list[tuple[dict[str, str], list[dict[str, Any]]]] = [
    ({}, ALL_CUSTOMERS),
    ({"segment": "one_time"}, [C2, C3]),
    ({"status": "active"}, [C1, C4]),
    ({"country": "de"}, [C1, C3, C5]),
    ({"country": "DE", "segment": "one_time", "status": "never_installed"}, [C3]),
    ({"segment": "loyal", "status": "lapsed"}, []),
]
INSTALLATION_FILTERS: list[tuple[dict[str, str], list[dict[str, Any]]]] = [
    ({}, ALL_INSTALLATIONS),
    ({"product_id": "p1"}, [I1, I2, I3, I6]),
    ({"product_id": "p1", "version": "2.0"}, [I2, I6]),
    ({"status": "active"}, [I1, I4, I6]),
    ({"customer_id": "c4", "status": "churned"}, [I5]),
    ({"customer_id": "c4"}, [I4, I5]),
    ({"product_id": "nope"}, []),
]


@pytest.mark.parametrize(
    ("url", "cases"),
    [("/v1/customers", CUSTOMER_FILTERS), ("/v1/installations", INSTALLATION_FILTERS)],
)
async def test_pages_hold_each_match_once(
    client: httpx.AsyncClient,
    url: str,
    cases: list[tuple[dict[str, str], list[dict[str, Any]]]],
) -> None:
    for params, expected in cases:
        for limit in (1, 2, 1000):
            pages = await walk(client, url, limit=limit, **params)
            assert [item for page in pages for item in page] == expected, (params, limit)
            assert all(len(page) <= limit for page in pages)
            # No empty trailing page: next_cursor is null as soon as nothing follows.
            assert len(pages) == max(1, -(-len(expected) // limit)), (params, limit)


async def test_default_page_size_is_100(migrated: AsyncEngine) -> None:
    ids = [f"c{n:03d}" for n in range(101)]
    async with migrated.begin() as conn:
        records = _records(
            *(
                {"event_id": f"e-{cid}", "type": "identify", "occurred_at": _ts(1),
                 "customer_id": cid}
                for cid in ids
            )
        )  # fmt: skip
        await apply_records(conn, records, loyal_min_orders=2, policy=POLICY, now=NOW)
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=READ_AUTH
    ) as client:
        first = await get_json(client, "/v1/customers")
        assert [c["customer_id"] for c in first["items"]] == ids[:100]
        rest = await get_json(client, "/v1/customers", cursor=first["next_cursor"])
        assert ([c["customer_id"] for c in rest["items"]], rest["next_cursor"]) == (ids[100:], None)


def _cursor(body: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode()


async def test_bad_cursors_are_400_problems(client: httpx.AsyncClient) -> None:
    page = await get_json(client, "/v1/customers", limit=1, segment="one_time")
    good = page["next_cursor"]
    decoded = orjson.loads(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))
    installations_cursor = (await get_json(client, "/v1/installations", limit=1))["next_cursor"]
    bad = [
        "not a cursor!",
        "%%%",
        good[:-3],
        good + "AAAA",
        _cursor([1, 2]),
        _cursor("c1"),
        _cursor({**decoded, "extra": 1}),
        _cursor({**decoded, "v": True}),
        _cursor({**decoded, "v": 2}),
        _cursor({**decoded, "a": 5}),
        _cursor({**decoded, "a": ""}),
        _cursor({**decoded, "a": "c\x00"}),
        _cursor({**decoded, "a": "x" * 129}),
        _cursor({**decoded, "f": "0" * 16}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * 5000,
        installations_cursor,
    ]
    for cursor in bad:
        response = await client.get(
            "/v1/customers", params={"limit": 1, "segment": "one_time", "cursor": cursor}
        )
        assert response.status_code == 400, (cursor, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["title"] == "Invalid cursor"
    # The same cursor with other filters is refused too: it would skip or repeat items.
    other = await client.get("/v1/customers", params={"cursor": good, "segment": "loyal"})
    assert other.status_code == 400
    # A cursor with a valid, forged key just continues after that key.
    forged = await get_json(
        client, "/v1/customers", segment="one_time", cursor=_cursor({**decoded, "a": "c2"})
    )
    assert [c["customer_id"] for c in forged["items"]] == ["c3"]


BAD_PARAMETERS = [
    ("/v1/customers?limit=0", "query.limit"),
    ("/v1/customers?limit=1001", "query.limit"),
    ("/v1/customers?limit=-1", "query.limit"),
    ("/v1/installations?limit=ten", "query.limit"),
    ("/v1/customers?segment=whale", "query.segment"),
    ("/v1/customers?status=gone", "query.status"),
    ("/v1/customers?country=DEU", "query.country"),
    ("/v1/installations?status=lapsed", "query.status"),
    ("/v1/installations?product_id=", "query.product_id"),
    ("/v1/installations?customer_id=a%00b", "query.customer_id"),
    ("/v1/customers/a%00b", "path.customer_id"),
    (f"/v1/installations/{'x' * 129}", "path.installation_id"),
]


async def test_bad_parameters_are_422_problems(client: httpx.AsyncClient) -> None:
    for url, field in BAD_PARAMETERS:
        response = await client.get(url)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert [e["field"] for e in response.json()["errors"]] == [field], url


async def test_unknown_filter_values_name_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/customers", params={"segment": "whale"})
    [error] = response.json()["errors"]
    for allowed in ("loyal", "one_time", "prospect", "suspect"):
        assert allowed in error["message"]
    response = await client.get("/v1/installations", params={"status": "gone"})
    [error] = response.json()["errors"]
    for allowed in ("active", "at_risk", "churned", "uninstalled"):
        assert allowed in error["message"]


# -- errors, auth, freshness, readiness ----------------------------------------------------

READ_URLS = [
    "/v1/customers",
    "/v1/customers/c1",
    "/v1/installations",
    "/v1/installations/i1",
    "/v1/products/p1",
    "/v1/summary",
]


async def test_unknown_ids_are_404_problems(client: httpx.AsyncClient) -> None:
    for url in ("/v1/customers/nobody", "/v1/installations/none", "/v1/products/nothing"):
        response = await client.get(url)
        assert response.status_code == 404, url
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 404


async def test_read_routes_need_a_read_key(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for url in READ_URLS:
            for headers, status in [
                ({}, 401),
                ({"Authorization": "Bearer not-a-key"}, 401),
                (INGEST_AUTH, 403),
            ]:
                response = await client.get(url, headers=headers)
                assert response.status_code == status, (url, headers)
                assert response.headers["content-type"] == PROBLEM


async def test_responses_carry_the_data_lag(app: FastAPI, client: httpx.AsyncClient) -> None:
    served(app).freshness = lambda: None  # the lag is unknown (no partition assigned yet)
    for url in READ_URLS:
        assert LAG not in (await client.get(url)).headers
    served(app).freshness = lambda: 2.5
    for url in READ_URLS:
        assert (await client.get(url)).headers[LAG] == "2.500"
    served(app).freshness = lambda: -0.2  # clocks disagree a little: never a negative lag
    assert (await client.get("/v1/summary")).headers[LAG] == "0.000"
    served(app).freshness = lambda: float("nan")
    assert LAG not in (await client.get("/v1/summary")).headers
    assert LAG not in (await client.get("/healthz")).headers


async def test_ready_when_the_database_and_the_broker_answer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/readyz", headers={})
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "broker": "unchecked"}},
    )
    served(app).broker_ready = lambda: True
    assert (await client.get("/readyz")).json()["checks"]["broker"] == "ok"

    served(app).broker_ready = lambda: False
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["checks"] == {"database": "ok", "broker": "down: not reachable"}
    assert "broker" in response.json()["detail"]


async def test_not_ready_when_the_database_is_down() -> None:
    # Port 1 on localhost refuses at once: the probe fails fast, not at its timeout.
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    app = projector_app(engine)

    async def broker_ready() -> bool:
        return True

    served(app).broker_ready = broker_ready
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["database"].startswith("down")
    assert body["detail"].startswith("database down")


async def test_openapi_documents_every_read_route(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    for url in READ_URLS:
        path = url.replace("c1", "{customer_id}").replace("i1", "{installation_id}")
        path = path.replace("p1", "{product_id}")
        operation = doc["paths"][path]["get"]
        ok = operation["responses"]["200"]
        assert "$ref" in ok["content"]["application/json"]["schema"]
        assert LAG.title() in {h.title() for h in ok["headers"]}
        errors = {"401", "403", "422"} if operation.get("parameters") else {"401", "403"}
        assert errors <= operation["responses"].keys()
        for status, response in operation["responses"].items():
            if status != "200":
                assert list(response["content"]) == [PROBLEM], (path, status)
    assert "400" in doc["paths"]["/v1/customers"]["get"]["responses"]
    assert "404" in doc["paths"]["/v1/products/{product_id}"]["get"]["responses"]
    segment = next(
        p for p in doc["paths"]["/v1/customers"]["get"]["parameters"] if p["name"] == "segment"
    )
    [ref] = [s["$ref"] for s in segment["schema"]["anyOf"] if "$ref" in s]
    assert doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]["enum"] == list(Segment)


async def test_an_unknown_parameter_is_refused_not_ignored(client: httpx.AsyncClient) -> None:
    # A misspelt filter would otherwise answer with every customer.
    response = await client.get("/v1/customers", params={"segmnet": "loyal"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [e["field"] for e in response.json()["errors"]] == ["query.segmnet"]
    unkeyed = await client.get("/v1/customers?segmnet=loyal", headers={"Authorization": ""})
    assert unkeyed.status_code == 401  # the key is checked first
