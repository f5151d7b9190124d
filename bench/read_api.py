"""Read API benchmark: latency percentiles with 100,000 installations loaded in PostgreSQL.

    .venv/bin/python -m bench.read_api [--installations 100000] [--in-process] [--keep]

Loads 50,000 customers, 100,000 installations and about 60,000 purchases into a fresh
schema of the PostgreSQL database ``test`` at 127.0.0.1:5432 (BENCH_DATABASE_URL to
change it) with multi-row inserts, in the shape the projection gives them. Then starts
``basewatch projector`` as its own process (uvicorn, its consumer on an embedded broker
with empty topics) and times requests one after another over one keep-alive
connection: one customer, a customers page, an installations page with filters, one
product, the summary, and a year of daily steps of movements and sales (a year of
hourly history samples, movements and their running totals, and the sales totals of
hourly samples loaded beside), and the cohorts (the cells of a year of samples). ``--in-process``
calls the app through httpx's ASGI transport instead, without HTTP and without the
consumer. Prints p50/p95/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import orjson
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.history.cohorts import PERIODS, starts
from basewatch_projector.history.sales import add, bucket_of, zero
from basewatch_projector.projection.movements import SIGNS
from basewatch_projector.projection.sales import sale_deltas
from basewatch_projector.rules.customer import customer_status, segment
from basewatch_projector.storage.counts import fold
from basewatch_projector.storage.engine import create_engine, normalize_url
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import (
    base_counts,
    cohort_cells,
    customers,
    history,
    history_progress,
    installations,
    movement_totals,
    movements,
    purchases,
    sales_totals,
)
from basewatch_shared.contract.vocabulary import IN_USE
from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.keyring.master import new_master_key
from basewatch_shared.settings import hash_key
from basewatch_shared.topics import Topics, create_topics
from tests.support.ports import free_port

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
READ_KEY = "bench-read-key"
AUTH = {"Authorization": f"Bearer {READ_KEY}"}
NOW = datetime(2026, 11, 20, tzinfo=UTC)
PRODUCTS = [f"prod-{n}" for n in range(5)]
VERSIONS = [f"1.{n}" for n in range(6)]
COUNTRIES = ["DE", "US", "FR", "GB", "NL", "SE", "JP", "BR"]
CURRENCIES = ["EUR", "USD", "GBP"]
# Installation statuses as a fleet shows them some weeks after launch.
STATUS_WEIGHTS = {"active": 70, "at_risk": 10, "churned": 12, "uninstalled": 8}
GOALS_MS = {"one customer": 10.0, "summary": 50.0}  # p99, issue 4
GOALS_MS |= dict.fromkeys(  # p99, issue 17
    ["movements", "movements customers", "sales", "cohorts", "cohorts customers"], 50.0
)
YEAR = f"since={(NOW - timedelta(days=365)).isoformat()}&until={NOW.isoformat()}&step=1d"
YEAR = YEAR.replace("+00:00", "Z")
CHUNK = 5000
# Not in the migrations (yet): --proposed-indexes adds them to measure what they change.
PROPOSED_INDEXES = (
    "CREATE INDEX ix_installations_product_id_version_status "
    "ON installations (product_id, version, status)",
    "CREATE INDEX ix_customers_segment_status ON customers (segment, status)",
    "CREATE INDEX ix_purchases_product_id_customer_id_order_id "
    "ON purchases (product_id, customer_id, order_id)",
)


# -- data ----------------------------------------------------------------------------------


def generate(n_installations: int, seed: int = 4) -> dict[str, list[dict[str, Any]]]:
    """Rows for the three tables, consistent with the projection's rules."""
    rng = random.Random(seed)
    n_customers = n_installations // 2
    ids = [f"cust-{c:06d}" for c in range(n_customers)]
    # 20 % loyal, 50 % one_time, 20 % prospects, 10 % suspects (by purchases and installs).
    loyal, one_time = ids[: n_customers // 5], ids[n_customers // 5 : n_customers * 7 // 10]
    prospects = ids[n_customers * 7 // 10 : n_customers * 9 // 10]
    bought: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for buyer, orders in [(c, rng.randint(2, 5)) for c in loyal] + [(c, 1) for c in one_time]:
        for k in range(orders):
            bought[buyer].append(_purchase(rng, buyer, k))
    # Nine in ten buyers installed; every prospect did; one installation in ten has no owner.
    owners = [c for c in loyal + one_time if rng.random() < 0.9] + prospects
    rows: list[dict[str, Any]] = []
    owned: dict[str, list[str]] = defaultdict(list)
    for i in range(n_installations):
        owner = None if i % 10 == 9 else owners[i % len(owners)]
        row = _installation(rng, f"inst-{i:07d}", owner)
        rows.append(row)
        if owner is not None:
            owned[owner].append(row["status"])
    people = [
        _customer(rng, cid, bought.get(cid, []), owned.get(cid, []))
        for cid in ids  # the last 10 % neither bought nor installed: suspects
    ]
    ledger = [p for ps in bought.values() for p in ps]
    past = _past(rng)
    return {
        "customers": people, "installations": rows, "purchases": ledger, **past,
        "movement_totals": _movement_totals(past["movements"]),
        "sales_totals": _sales_totals(ledger),
        "cohort_cells": _cohort_cells(rng),
    }  # fmt: skip


def _past(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """A year of hourly samples: each series and each kind of movement changes every
    hour (more rows than the compact history writes for a steady base)."""
    samples: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    first = NOW - timedelta(days=366)
    for hour in range(366 * 24):
        bucket = first + timedelta(hours=hour)
        in_use = 0
        for product in PRODUCTS:
            of_product = 0
            for status in STATUS_WEIGHTS:
                labels = {"product_id": product, "status": status}
                value = rng.randint(0, 20_000)
                samples.append(_sample("installations", labels, bucket, value))
                of_product += value if status in IN_USE else 0
            samples.append(_sample("in_use", {"product_id": product}, bucket, of_product))
            in_use += of_product
            for kind in SIGNS["installations"]:
                moved.append(_moved("installations", kind, product, bucket, rng.randint(0, 30)))
        samples.append(_sample("in_use", {}, bucket, in_use))
        samples.append(_sample("retained", {}, bucket, rng.randint(0, 40_000)))
        for kind in SIGNS["customers"]:
            moved.append(_moved("customers", kind, "", bucket, rng.randint(0, 30)))
    progress = {"id": 1, "first_bucket": first, "settled_through": NOW, "latest": []}
    return {
        "history": samples,
        "movements": moved,
        "history_progress": [progress | {"updated_at": NOW}],
    }


def _movement_totals(moved: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The running totals the settles write for ``moved`` (in bucket order)."""
    running: dict[tuple[str, bool, str], Counter[str]] = defaultdict(Counter)
    rows: dict[tuple[str, bool, str, datetime], dict[str, Any]] = {}
    for m in moved:
        scopes = [(m["base"], True, "")]
        scopes += [(m["base"], False, m["product_id"])] if m["base"] == "installations" else []
        for base, every, product in scopes:
            running[base, every, product][m["kind"]] += m["value"]
            rows[base, every, product, m["bucket"]] = {
                "base": base, "every": every, "product_id": product, "bucket": m["bucket"],
                "kinds": dict(running[base, every, product]),
            }  # fmt: skip
    return list(rows.values())


def _cohort_cells(rng: random.Random) -> list[dict[str, Any]]:
    """A sample's counts in every column of every cohort of the window, per scope."""
    rows = []
    scopes = [("installations", True, ""), ("customers", True, "")]
    scopes += [("installations", False, p) for p in PRODUCTS]
    for period in PERIODS:
        first = [d.isoformat() for d in starts(period, NOW)]
        for base, every, product in scopes:
            for c, cohort in enumerate(first):
                for at in first[c:]:
                    size = rng.randint(1000, 2000)
                    rows.append({
                        "base": base, "period": period, "every": every, "product_id": product,
                        "cohort": cohort, "at": at, "size": size,
                        "value": rng.randint(0, size), "again": rng.randint(0, size),
                    })  # fmt: skip
    return rows


def _sales_totals(ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The running totals that hourly samples write for the ledger."""
    per_product: dict[str, dict[datetime, Any]] = defaultdict(dict)
    for (product, currency, at), d in sale_deltas(ledger, {}).items():
        bucket = bucket_of(at, timedelta(hours=1))
        delta = {"units": d["units"], "orders": d["orders"], "revenue": {
            currency: [d["high"], d["low"], d["lines"]]}}  # fmt: skip
        per_product[product][bucket] = add(per_product[product].get(bucket, zero()), delta)
    rows = []
    for product, deltas in per_product.items():
        total = zero()
        for bucket in sorted(deltas):
            total = add(total, deltas[bucket])
            rows.append({"product_id": product, "bucket": bucket, "sums": total})
    return rows


def _sample(metric: str, labels: dict[str, str], bucket: datetime, value: int) -> dict[str, Any]:
    return {"metric": metric, "labels": labels, "bucket": bucket, "value": value}


def _moved(base: str, kind: str, product: str, bucket: datetime, n: int) -> dict[str, Any]:
    return {"base": base, "kind": kind, "product_id": product, "bucket": bucket, "value": n}


def _purchase(rng: random.Random, customer_id: str, k: int) -> dict[str, Any]:
    at = NOW - timedelta(days=rng.randint(1, 400))
    return {
        "event_id": f"buy-{customer_id}-{k}",
        "customer_id": customer_id,
        "order_id": f"order-{k}",
        "product_id": rng.choice(PRODUCTS),
        "amount_micros": rng.randint(100, 99_999) * 10_000,
        "currency": rng.choice(CURRENCIES),
        "quantity": rng.choice([1, 1, 1, 2, 5]),
        "occurred_at": at,
        "received_at": at,
    }


def _installation(rng: random.Random, inst_id: str, owner: str | None) -> dict[str, Any]:
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    installed = NOW - timedelta(days=rng.randint(20, 300))
    return {
        "installation_id": inst_id,
        "customer_id": owner,
        "product_id": rng.choice(PRODUCTS),
        "version": rng.choice(VERSIONS),
        "platform": rng.choice(["macos", "windows", "linux"]),
        "installed_at": installed,
        "last_heartbeat_at": NOW - timedelta(hours=rng.randint(1, 24 * 20)),
        "usage": {"sessions": rng.randint(1, 500), "active_minutes": rng.randint(1, 9000)},
        "uninstalled_at": NOW - timedelta(days=1) if status == "uninstalled" else None,
        "attr_times": {},
        "usage_at": NOW,
        "status": status,
        "status_changed_at": NOW,
        "first_seen_at": installed,
        "updated_at": NOW,
    }


def _customer(
    rng: random.Random, cid: str, bought: list[dict[str, Any]], statuses: list[str]
) -> dict[str, Any]:
    country = rng.choice(COUNTRIES)
    times = [p["occurred_at"] for p in bought]
    in_use = sum(s in IN_USE for s in statuses)
    return {
        "customer_id": cid,
        "traits": {"email": f"{cid}@example.com", "country": country},
        "trait_times": {},
        "country": country,
        "first_purchase_at": min(times, default=None),
        "last_purchase_at": max(times, default=None),
        "orders": len(bought),
        "segment": segment(len(bought), len(statuses), 2),
        "status": customer_status(len(bought), len(statuses), in_use),
        "first_seen_at": NOW - timedelta(days=500),
        "updated_at": NOW,
    }


async def load(
    engine: AsyncEngine, data: dict[str, list[dict[str, Any]]], indexes: tuple[str, ...]
) -> None:
    """Multi-row inserts in chunks, extra ``indexes``, then VACUUM ANALYZE for the planner.
    The inserts go row by row to the triggers of ``base_counts``; they are folded as a
    projector's first sweep would."""
    tables = (
        customers, installations, purchases, history, history_progress, movements,
        movement_totals, sales_totals, cohort_cells,
    )  # fmt: skip
    async with engine.begin() as conn:
        for table in tables:
            rows = data[table.name]
            for start in range(0, len(rows), CHUNK):
                await conn.execute(insert(table), rows[start : start + CHUNK])
        for statement in indexes:
            await conn.exec_driver_sql(statement)
        await fold(conn)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in (*tables, base_counts):
            await conn.exec_driver_sql(f"VACUUM ANALYZE {table.name}")


# -- the database and the service -------------------------------------------------------


async def _admin() -> asyncpg.Connection:
    url = make_url(normalize_url(PG_URL).render_as_string(hide_password=False))
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database,
    )  # fmt: skip


@asynccontextmanager
async def fresh_schema(keep: bool) -> AsyncIterator[str]:
    """A new schema in the test database, dropped afterwards unless ``keep``."""
    schema = f"bench_read_{uuid.uuid4().hex[:10]}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        if keep:
            print(f"kept schema {schema}")
        else:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


Get = Callable[[str], Awaitable[tuple[int, bytes]]]


class Connection:
    """One keep-alive HTTP/1.1 connection; bytes in, status and body out.

    Not an HTTP client library: its own cost per request would be a large part of what
    is measured (httpx spends about a millisecond on each).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        """Connect to 127.0.0.1:``port``."""
        return cls(*await asyncio.open_connection("127.0.0.1", port, limit=1 << 22))

    async def get(self, target: str) -> tuple[int, bytes]:
        """GET ``target`` (path and query) with the read key; the response must have a length."""
        self._writer.write(
            f"GET {target} HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {READ_KEY}\r\n\r\n".encode()
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(head[9:12]), await self._reader.readexactly(length)

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        await self._writer.wait_closed()


@asynccontextmanager
async def projector_process(schema: str) -> AsyncIterator[Get]:
    """``basewatch projector`` on an embedded broker, and a connection to its port."""
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as cwd:
        topics = Topics(prefix=f"bench.{uuid.uuid4().hex[:8]}.")
        await create_topics(broker.bootstrap_servers, topics, 6, replication_factor=1)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": PG_URL,
            "BASEWATCH_DATABASE_SCHEMA": schema,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "BASEWATCH_KAFKA_IDEMPOTENCE": "false",
            "BASEWATCH_TOPIC_PREFIX": topics.prefix,
            "BASEWATCH_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
            "BASEWATCH_API_KEYS": f"bench:read:{hash_key(READ_KEY)}",
            "BASEWATCH_MASTER_KEY": new_master_key(),
            "BASEWATCH_LOG_LEVEL": "WARNING",
        }
        command = [str(Path(sys.executable).parent / "basewatch"), "projector", "--port", str(port)]
        # Its own directory, so that no developer's .env changes what is measured.
        proc = await asyncio.create_subprocess_exec(*command, env=env, cwd=cwd)
        try:
            connection = await _until_up(port, proc)
            try:
                yield connection.get
            finally:
                await connection.close()
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout=30)


async def _until_up(port: int, proc: asyncio.subprocess.Process) -> Connection:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise SystemExit(f"basewatch projector exited with {proc.returncode}")
        try:
            connection = await Connection.open(port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        if (await connection.get("/readyz"))[0] == 200:
            return connection
        await connection.close()
        await asyncio.sleep(0.1)
    raise SystemExit("basewatch projector was not ready within 60 s")


@asynccontextmanager
async def in_process(engine: AsyncEngine) -> AsyncIterator[Get]:
    """The app without its lifespan (no consumer), called through the ASGI transport."""
    from basewatch_projector.api.deps import Served
    from basewatch_projector.app import create_app
    from basewatch_projector.settings import Settings

    app = create_app(Settings.model_validate({"api_keys": f"bench:read:{hash_key(READ_KEY)}"}))
    served = app.state.served
    assert isinstance(served, Served)
    served.engine = engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def get(target: str) -> tuple[int, bytes]:
            response = await client.get(target, headers=AUTH)
            return response.status_code, response.content

        yield get


# -- measuring -----------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def measure(get: Get, target: Callable[[int], str], n: int) -> list[float]:
    """Latencies in ms of ``n`` requests made one after another, after a warm-up."""
    samples: list[float] = []
    for k in range(-min(50, n), n):
        start = time.perf_counter()
        status, body = await get(target(k))
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200:
            raise SystemExit(f"GET {target(k)}: {status} {body[:300]!r}")
        if k >= 0:
            samples.append(elapsed)
    return samples


async def measure_pages(get: Get, url: str, params: dict[str, str], n: int) -> list[float]:
    """Latencies in ms of ``n`` page requests that follow next_cursor, starting over."""
    samples: list[float] = []
    cursor: str | None = None
    for k in range(-min(20, n), n):
        target = f"{url}?{urlencode({**params, **({'cursor': cursor} if cursor else {})})}"
        start = time.perf_counter()
        status, body = await get(target)
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200:
            raise SystemExit(f"GET {target}: {status} {body[:300]!r}")
        cursor = orjson.loads(body)["next_cursor"]
        if k >= 0:
            samples.append(elapsed)
    return samples


async def run_all(get: Get, n_customers: int, n: int) -> dict[str, list[float]]:
    """Every scenario, in turn."""
    rng = random.Random(11)
    customer_ids = [f"cust-{rng.randrange(n_customers):06d}" for _ in range(n + 50)]
    return {
        "one customer": await measure(get, lambda k: f"/v1/customers/{customer_ids[k]}", n),
        "customers page": await measure_pages(
            get, "/v1/customers", {"segment": "one_time", "country": "DE", "limit": "100"}, n
        ),
        "installations page": await measure_pages(
            get,
            "/v1/installations",
            {"product_id": "prod-1", "status": "active", "limit": "100"},
            n,
        ),
        "one product": await measure(
            get, lambda k: f"/v1/products/{PRODUCTS[k % len(PRODUCTS)]}", n // 2
        ),
        "summary": await measure(get, lambda k: "/v1/summary", n // 2),
        "movements": await measure(
            get, lambda k: f"/v1/movements?base=installations&{YEAR}", n // 4
        ),
        "movements customers": await measure(
            get, lambda k: f"/v1/movements?base=customers&{YEAR}", n // 4
        ),
        "sales": await measure(get, lambda k: f"/v1/sales?{YEAR}", n // 4),
        "cohorts": await measure(
            get, lambda k: "/v1/cohorts?base=installations&period=month", n // 4
        ),
        "cohorts customers": await measure(
            get, lambda k: "/v1/cohorts?base=customers&period=week", n // 4
        ),
    }


def report(results: dict[str, list[float]]) -> None:
    """One line per scenario: count and p50/p95/p99 in ms, and the goal where there is one."""
    print(f"{'request':<20} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  goal (p99)")
    for name, samples in results.items():
        p50, p95, p99 = (percentile(samples, q) for q in (50, 95, 99))
        goal = GOALS_MS.get(name)
        verdict = "" if goal is None else f"< {goal:g} ms {'met' if p99 < goal else 'MISSED'}"
        print(f"{name:<20} {len(samples):>6} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f}  {verdict}")


async def main() -> None:
    """Load, serve, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--installations", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000, help="per scenario (some half)")
    parser.add_argument("--in-process", action="store_true", help="ASGI transport, no HTTP")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument(
        "--proposed-indexes", action="store_true", help="add indexes the migrations lack"
    )
    args = parser.parse_args()

    async with fresh_schema(args.keep) as schema:
        engine = create_engine(PG_URL, schema=schema)
        try:
            await migrate(engine)
            started = time.perf_counter()
            data = generate(args.installations)
            await load(engine, data, PROPOSED_INDEXES if args.proposed_indexes else ())
            print(
                f"loaded {len(data['customers']):,} customers, "
                f"{len(data['installations']):,} installations, "
                f"{len(data['purchases']):,} purchases, {len(data['history']):,} history "
                f"samples in {time.perf_counter() - started:.1f} s"
            )
            serve = in_process(engine) if args.in_process else projector_process(schema)
            async with serve as get:
                results = await run_all(get, len(data["customers"]), args.requests)
        finally:
            await engine.dispose()
    where = "in-process (ASGI)" if args.in_process else "basewatch projector over HTTP"
    extra = ", with the proposed indexes" if args.proposed_indexes else ""
    print(f"\nread API latency, {where}{extra}, one request at a time:")
    # Latency percentiles on a shared machine say little without its load beside them.
    print(f"(load average over the last minute: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    report(results)


if __name__ == "__main__":
    asyncio.run(main())
