"""Answers that grow with what clients invent stay bounded, and the page still works.

Found by attacking a running stack: 500 products created in one ingest request made
``GET /v1/history?metric=installations`` over 14 h at ``step=5s`` answer 100 MB in
4.2 s (the projector grew by 507 MiB), and ``by_product`` in ``/v1/summary`` was
unbounded. Here thousands of products, through the real projection and sampler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.api.page import STATIC
from basewatch_projector.history.samples import claim, counts, write
from basewatch_projector.projection.apply import apply_records
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from tests.support.keys import READ_AUTH
from tests.support.policy import POLICY
from tests.support.services import projector_app

PRODUCTS = 3000
SAMPLED = datetime(2026, 11, 20, 10, tzinfo=UTC)  # a boundary of the hourly interval
UNTIL = SAMPLED + timedelta(hours=2)


def installs() -> list[Record]:
    """One installation of each of PRODUCTS products."""
    return [
        Record(
            event=EVENT_ADAPTER.validate_python(
                {
                    "event_id": f"in-{n}",
                    "type": "install",
                    "occurred_at": "2026-11-20T09:00:00Z",
                    "customer_id": f"c{n}",
                    "installation_id": f"i{n}",
                    "product_id": f"p{n:05d}",
                    "version": "1.0",
                }
            ),
            received_at=SAMPLED - timedelta(minutes=1),
            source="test-app",
        )
        for n in range(PRODUCTS)
    ]


@pytest.fixture
async def client(migrated: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The read API over PRODUCTS products, installed and sampled once."""
    async with migrated.begin() as conn:
        await apply_records(conn, installs(), loyal_min_orders=2, policy=POLICY, now=SAMPLED)
    async with migrated.begin() as conn:
        previous = await claim(conn, SAMPLED, SAMPLED)
        assert previous is not None
        await write(conn, SAMPLED, previous, await counts(conn))
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=READ_AUTH
    ) as client:
        yield client


def window(**params: str) -> dict[str, str]:
    return {"since": "2026-11-20T08:00:00Z", "until": UNTIL.strftime("%Y-%m-%dT%H:%M:%SZ")} | params


async def test_the_summary_names_the_first_products_and_says_there_are_more(
    client: httpx.AsyncClient,
) -> None:
    got = await client.get("/v1/summary")
    assert got.status_code == 200, got.text
    base = got.json()["installed_base"]
    assert [p["product_id"] for p in base["by_product"]] == [f"p{n:05d}" for n in range(100)]
    assert base["more_products"] is True
    assert base["by_status"]["active"] == PRODUCTS  # the totals still count every product


async def test_history_per_product_beyond_the_bound_is_a_422_that_says_what_to_do(
    client: httpx.AsyncClient,
) -> None:
    week = {"metric": "installations", "until": "2026-11-20T12:00:00Z"}  # 169 times
    got = await client.get("/v1/history", params=week)
    assert got.status_code == 422, got.text[:300]
    [error] = got.json()["errors"]
    assert error["field"] == "query.metric"
    assert "product_id" in error["message"] and "per_product=false" in error["message"]


async def test_history_summed_over_the_products_or_of_one_product(
    client: httpx.AsyncClient,
) -> None:
    summed = await client.get(
        "/v1/history", params=window(metric="installations", per_product="false")
    )
    assert summed.status_code == 200, summed.text[:300]
    series = {s["labels"]["status"]: s["values"] for s in summed.json()["series"]}
    assert [s["labels"] for s in summed.json()["series"]] == [
        {"status": s} for s in ("active", "at_risk", "churned", "uninstalled")
    ]
    assert series["active"] == [None, None, PRODUCTS, PRODUCTS, PRODUCTS]  # 08:00..12:00
    assert series["uninstalled"] == [None, None, 0, 0, 0]
    one = await client.get(
        "/v1/history", params=window(metric="installations", product_id="p00042")
    )
    assert one.status_code == 200, one.text[:300]
    assert [(s["labels"], s["values"][-1]) for s in one.json()["series"]] == [
        ({"product_id": "p00042", "status": s}, int(s == "active"))
        for s in ("active", "at_risk", "churned", "uninstalled")
    ]


@pytest.mark.parametrize("param", ["product_id=p1", "per_product=false"])
async def test_product_parameters_belong_to_installations(
    client: httpx.AsyncClient, param: str
) -> None:
    name, value = param.split("=")
    got = await client.get("/v1/history", params=window(metric="customers", **{name: value}))
    assert got.status_code == 422
    assert got.json()["errors"][0]["field"] == f"query.{name}"


async def test_the_page_asks_only_for_bounded_answers(client: httpx.AsyncClient) -> None:
    # The page sums the installed base over the products: it asks the API to.
    charts = (STATIC / "js" / "render" / "history.js").read_text()
    assert "per_product: 'false'" in charts
    for metric, extra in [
        ("customers", {}),
        ("installations", {"per_product": "false"}),
        ("signals", {}),
    ]:
        got = await client.get("/v1/history", params=window(metric=metric, step="1h", **extra))
        assert got.status_code == 200, (metric, got.text[:300])
        assert len(got.content) < 10_000, metric
    assert len((await client.get("/v1/summary")).content) < 50_000


async def test_one_product_names_its_first_versions_and_one_customer_its_first_installations(
    migrated: AsyncEngine,
) -> None:
    # 150 versions of one product, 150 installations of one customer: both invented freely.
    events = [
        {
            "event_id": f"v-{n}",
            "type": "install",
            "occurred_at": "2026-11-20T09:00:00Z",
            "customer_id": "many",
            "installation_id": f"inst-{n:03d}",
            "product_id": "editor",
            "version": f"1.{n:03d}",
        }
        for n in range(150)
    ]
    records = [
        Record(event=EVENT_ADAPTER.validate_python(e), received_at=SAMPLED, source="test-app")
        for e in events
    ]
    async with migrated.begin() as conn:
        await apply_records(conn, records, loyal_min_orders=2, policy=POLICY, now=SAMPLED)
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=READ_AUTH
    ) as client:
        product = (await client.get("/v1/products/editor")).json()
        customer = (await client.get("/v1/customers/many")).json()
        listed = await client.get("/v1/installations", params={"customer_id": "many"})
    assert [v["version"] for v in product["versions"]] == [f"1.{n:03d}" for n in range(100)]
    assert product["more_versions"] is True and product["installations"] == 150
    assert len(customer["installations"]) == 100 and customer["more_installations"] is True
    assert customer["installations"][-1]["installation_id"] == "inst-099"
    assert listed.json()["next_cursor"] is not None  # the list pages through all of them
