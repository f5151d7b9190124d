"""Projector benchmark: catch up a backlog of events into PostgreSQL.

    .venv/bin/python -m bench.projector [--events 1000000] [--installations 100000]
        [--read-rate 20]

Pre-loads a backlog (mostly heartbeats over the installations, some identifies,
installs, purchases and uninstalls) on the embedded broker (or KAFKA_BOOTSTRAP_SERVERS),
starts `basewatch projector` as its own process against a fresh PostgreSQL schema,
and prints events/s, the time to catch up and the projector's peak RSS. In the same
run, over the same backlog: the Quix Streams peer (bench/quix_peer.py, its PostgreSQL
upsert sink), the database's limit (raw asyncpg, coalesced ``unnest`` upserts; see
bench/peers.py), and a baseline that applies a slice naively, one statement per event,
each in its own transaction; then the ratios. It also measures read API latency while
the projector applies (one client, 20 requests/s by default, as a service polling the
API; ``--read-rate 0`` reads back to back, and the reader's share of the projector's CPU
then shows in its rate) and on the loaded tables after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import text

from basewatch_projector.storage.engine import create_engine
from basewatch_projector.storage.migrate import migrate
from basewatch_shared.contract.money import canonical
from basewatch_shared.contract.records import decode_record
from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.keyring.master import new_master_key
from basewatch_shared.settings import hash_key
from basewatch_shared.topics import Topics, create_topics
from bench.peers import coalesced, direct_reads, run_limit, run_quix
from bench.usage import Usage, peak_rss_mib

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PARTITIONS = 6
READ_KEY = "bench-read-key"
# The backlog's times start this long before today (midnight UTC): every record,
# including a replay's spread over many hourly boundaries (bench/replay.py), is received
# in the past. A fixed date here once moved into the future of a later run, and the
# projector then rightly waited for the wall clock to pass each boundary.
DAYS_BACK = 400
T0 = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC) - timedelta(
    days=DAYS_BACK
)


RECEIVED_FROM = 86400 * 3  # seconds after T0: after every event's occurred_at


def _ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def generate(
    n_events: int,
    n_installations: int,
    seed: int = 7,
    received_over: float = 0,
    received_from: float = RECEIVED_FROM,
) -> Iterator[tuple[str, str, bytes]]:
    """Yield (topic kind, key, value) in a realistic mix; heartbeats fill the rest.

    Every record is received at one time (``received_from`` seconds after T0), or
    (``received_over`` seconds) one after another evenly over that long from then, in
    the order produced."""
    rng = random.Random(seed)
    n_customers = n_installations // 2
    envelope = {"received_at": _ts(received_from), "source": "bench"}
    sent = 0
    produced = 0

    def record(event: dict[str, Any]) -> bytes:
        nonlocal produced
        if received_over:
            envelope["received_at"] = _ts(received_from + produced * received_over / n_events)
            produced += 1
        return orjson.dumps(event | envelope, option=orjson.OPT_SORT_KEYS)

    for c in range(n_customers):
        cid = f"cust-{c}"
        yield (
            "customers",
            cid,
            record(
                {
                    "event_id": f"id-{c}",
                    "type": "identify",
                    "occurred_at": _ts(c % 3600),
                    "customer_id": cid,
                    "traits": {"email": f"{cid}@example.com", "country": "DE"},
                }
            ),
        )
        sent += 1
        for k in range(1 + (c % 3 == 0)):
            yield (
                "customers",
                cid,
                record(
                    {
                        "event_id": f"buy-{c}-{k}",
                        "type": "purchase",
                        "occurred_at": _ts(3600 + c % 3600),
                        "customer_id": cid,
                        "order_id": f"o-{c}-{k}",
                        "product_id": f"prod-{c % 5}",
                        "amount": str(canonical(Decimal(rng.randint(100, 99999)).scaleb(-2))),
                        "currency": rng.choice(["EUR", "USD", "GBP"]),
                        "quantity": 1,
                    }
                ),
            )
            sent += 1
    for i in range(n_installations):
        yield (
            "telemetry",
            f"inst-{i}",
            record(
                {
                    "event_id": f"ins-{i}",
                    "type": "install",
                    "occurred_at": _ts(7200 + i % 3600),
                    "customer_id": f"cust-{i % n_customers}",
                    "installation_id": f"inst-{i}",
                    "product_id": f"prod-{i % 5}",
                    "version": "1.0",
                    "platform": "linux",
                }
            ),
        )
        sent += 1
    uninstalls = n_installations // 50
    for i in range(uninstalls):
        yield (
            "telemetry",
            f"inst-{i}",
            record(
                {
                    "event_id": f"un-{i}",
                    "type": "uninstall",
                    "occurred_at": _ts(86400 * 2),
                    "installation_id": f"inst-{i}",
                }
            ),
        )
        sent += 1
    for n in range(n_events - sent):
        i = rng.randrange(n_installations)
        yield (
            "telemetry",
            f"inst-{i}",
            record(
                {
                    "event_id": f"hb-{n}",
                    "type": "heartbeat",
                    "occurred_at": _ts(10800 + n * 0.1),
                    "installation_id": f"inst-{i}",
                    "version": "1.1",
                    "usage": {"sessions": n, "active_minutes": n * 3},
                }
            ),
        )


async def preload(
    bootstrap: str,
    topics: Topics,
    n_events: int,
    n_installations: int,
    received_over: float = 0,
    received_from: float = RECEIVED_FROM,
) -> int:
    """Produce the backlog in broker batches; return how many records were produced."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_batch_size=512 * 1024, linger_ms=5
    )
    await producer.start()
    partitioner = DefaultPartitioner()
    parts = list(range(PARTITIONS))
    pending: dict[tuple[str, int], list[tuple[bytes, bytes]]] = defaultdict(list)
    futures = []
    count = 0

    async def flush(topic: str, partition: int, items: list[tuple[bytes, bytes]]) -> None:
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        futures.append(await producer.send_batch(batch, topic, partition=partition))

    try:
        backlog = generate(
            n_events, n_installations, received_over=received_over, received_from=received_from
        )
        for kind, key, value in backlog:
            topic = topics.customers if kind == "customers" else topics.telemetry
            kb = key.encode()
            bucket = pending[(topic, partitioner(kb, parts, parts))]
            bucket.append((kb, value))
            count += 1
            if len(bucket) >= 2000:
                (t, p) = (topic, partitioner(kb, parts, parts))
                await flush(t, p, bucket)
                pending[(t, p)] = []
        for (topic, partition), items in pending.items():
            if items:
                await flush(topic, partition, items)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return count


async def fresh_schema() -> str:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    engine = create_engine(PG_URL, schema=schema)
    await migrate(engine)
    await engine.dispose()
    return schema


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()


async def run_projector(
    bootstrap: str,
    topics: Topics,
    total: int,
    port: int,
    customers: int | None = None,
    read_rate: float = 0.0,
    **settings: str,
) -> dict[str, Any]:
    """Start the projector process (``settings``: more of its environment); time it until
    every record is applied, and measure its CPU per event while applying (``cpu_us``).
    With ``customers`` (how many there are), read from its API meanwhile (``read_rate``
    requests/s, 0 back to back) and after."""
    schema = await fresh_schema()
    group = f"bench-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        DATABASE_URL=PG_URL,
        BASEWATCH_DATABASE_SCHEMA=schema,
        BASEWATCH_TOPIC_PREFIX=topics.prefix,
        BASEWATCH_CONSUMER_GROUP=group,
        BASEWATCH_KAFKA_IDEMPOTENCE="false",
        BASEWATCH_API_KEYS=f"bench:read:{hash_key(READ_KEY)}",
        BASEWATCH_MASTER_KEY=new_master_key(),
        BASEWATCH_LOG_LEVEL=os.environ.get("BENCH_PROJECTOR_LOG_LEVEL", "WARNING"),
        # The backlog's heartbeats are weeks old: no churn sweep work during the measurement.
        BASEWATCH_AT_RISK_AFTER="3650d",
        BASEWATCH_CHURN_AFTER="3651d",
        BASEWATCH_BATCH_MAX_RECORDS=os.environ.get("BASEWATCH_BATCH_MAX_RECORDS", "5000"),
        **settings,
    )
    engine = create_engine(PG_URL, schema=schema)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "basewatch_shared.cli", "projector", "--port", str(port), env=env
    )
    first_progress, first_done = None, 0
    before = Usage.now(proc.pid)  # until the first batch is applied
    caught_up = asyncio.Event()
    reading: asyncio.Task[dict[str, float]] | None = None
    try:
        while True:
            async with engine.connect() as conn:
                done = (
                    await conn.execute(
                        text("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
                    )
                ).scalar_one()
            if done and first_progress is None:
                # The first batch's records were applied before this moment: they do
                # not count towards the rate while applying (Quix's starts at its first
                # record, before it applied any).
                first_progress, first_done = time.monotonic(), int(done)
                before = Usage.now(proc.pid)
                if customers is not None:
                    reading = asyncio.create_task(
                        read_latency(
                            port, customers, until=caught_up, rate=read_rate, schema=schema
                        )
                    )
            if done >= total:
                break
            if proc.returncode is not None:
                raise SystemExit("the projector exited")
            if sys.stdout.isatty():
                print(f"\r  applied {done:>9,} / {total:,}", end="", flush=True)
            await asyncio.sleep(0.25)
        finished = time.monotonic()
        used = Usage.now(proc.pid).since(before)
        caught_up.set()
        print()
        rss = peak_rss_mib(proc.pid)
        during = await reading if reading is not None else {}
        batch = await mean_batch(port)
        after = await read_latency(port, customers, schema=schema) if customers is not None else {}
    finally:
        if reading is not None and not reading.done():
            reading.cancel()
        proc.terminate()
        stopping = time.monotonic()
        await asyncio.wait_for(proc.wait(), 120)
        print(f"  (the projector stopped {time.monotonic() - stopping:.1f} s after SIGTERM)")
        await engine.dispose()
        await drop_schema(schema)
    catch_up = finished - started
    return {
        "catch_up_s": catch_up,
        "events_per_s": total / catch_up,
        "apply_events_per_s": (total - first_done) / (finished - (first_progress or started)),
        "peak_rss_mb": rss,
        "mean_batch": batch,
        "cpu_us": used.per_event_us(total - first_done),
        **{f"applying_{name}": value for name, value in during.items()},
        **{f"after_{name}": value for name, value in after.items()},
    }


async def mean_batch(port: int) -> float:
    """Mean records per applied batch, from the projector's own metrics."""
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    values = {}
    for line in body.splitlines():
        if line.startswith("basewatch_projector_batch_records_"):
            name, value = line.split()
            values[name] = float(value)
    count = values.get("basewatch_projector_batch_records_count", 0.0)
    return values.get("basewatch_projector_batch_records_sum", 0.0) / count if count else 0.0


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[94] * 1000, q[98] * 1000


async def read_latency(
    port: int,
    customers: int,
    n: int = 2000,
    until: asyncio.Event | None = None,
    rate: float = 0.0,
    schema: str | None = None,
) -> dict[str, float]:
    """p50/p95/p99 of the read API (one client, sequential): ``n`` requests, every
    eleventh the summary and the others one customer each; with ``until``, as many as
    fit before it is set (the measurement while applying). With ``rate``, a request
    starts every 1/rate s (one is skipped if the one before is still out), as a service
    polling the API would; without, back to back (the reader then takes a share of the
    projector's CPU: the same process serves it). With ``schema``, each customer's
    statement is also sent straight to PostgreSQL right after the API's answer
    (``database``: the limit under the same load)."""
    samples: dict[str, list[float]] = {"customer": [], "summary": [], "database": []}
    headers = {"Authorization": f"Bearer {READ_KEY}"}
    rng = random.Random(1)
    start = time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers)
        )
        direct = await stack.enter_async_context(direct_reads(schema)) if schema else None
        for i in range(n if until is None else sys.maxsize):
            if until is not None and until.is_set():
                break
            if rate:
                due = start + i / rate - time.perf_counter()
                if due < 0:
                    continue  # late: this one's slot has passed
                if until is None:
                    await asyncio.sleep(due)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(until.wait(), due)
                    if until.is_set():
                        break
            name = "summary" if i % 11 == 10 else "customer"
            customer_id = f"cust-{rng.randrange(customers)}"
            t = time.perf_counter()
            response = await client.get(
                "/v1/summary" if name == "summary" else f"/v1/customers/{customer_id}"
            )
            samples[name].append(time.perf_counter() - t)
            if direct is not None and name == "customer":
                samples["database"].append(await direct.customer(customer_id))
            # While applying, a customer whose events are still in the backlog is 404:
            # an answer too, from the same queries.
            if response.status_code != 200 and not (until and response.status_code == 404):
                raise SystemExit(f"GET {response.url.path}: {response.status_code}")
    results: dict[str, float] = {}
    for name, taken in samples.items():
        if len(taken) >= 2:
            p50, p95, p99 = _percentiles(taken)
            results |= {f"{name}_p50_ms": p50, f"{name}_p95_ms": p95, f"{name}_p99_ms": p99}
            results[f"{name}_requests"] = len(taken)
    return results


async def run_baseline(bootstrap: str, topics: Topics, count: int) -> float:
    """One statement per event, each its own transaction: the naive way, for comparison."""
    schema = await fresh_schema()
    engine = create_engine(PG_URL, schema=schema)
    consumer = AIOKafkaConsumer(
        topics.telemetry,
        topics.customers,
        bootstrap_servers=bootstrap,
        group_id=f"baseline-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    await consumer.start()
    applied = 0
    started = time.monotonic()
    try:
        while applied < count:
            for records in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
                for raw in records:
                    event = decode_record(raw.value).event
                    async with engine.begin() as conn:
                        await conn.execute(*_naive_statement(event))
                    applied += 1
    finally:
        elapsed = time.monotonic() - started
        await consumer.stop()
        await engine.dispose()
        await drop_schema(schema)
    return applied / elapsed


def _naive_statement(event: Any) -> tuple[Any, dict[str, Any]]:
    now = datetime.now(UTC)
    if event.type == "purchase":
        return text(
            "INSERT INTO purchases VALUES (:e, :c, :o, :p, :a, :cur, 1, :t, :t) "
            "ON CONFLICT DO NOTHING"
        ), {
            "e": event.event_id,
            "c": event.customer_id,
            "o": event.order_id,
            "p": event.product_id,
            "a": int(event.amount * 1_000_000),
            "cur": event.currency,
            "t": event.occurred_at,
        }
    if event.type == "identify":
        return text(
            "INSERT INTO customers (customer_id, traits, trait_times, orders, "
            "installations_in_use, segment, status, first_seen_at, updated_at) "
            "VALUES (:c, '{}', '{}', 0, 0, 'suspect', "
            "'none', :n, :n) ON CONFLICT (customer_id) DO UPDATE SET updated_at = :n"
        ), {"c": event.customer_id, "n": now}
    return text(
        "INSERT INTO installations (installation_id, status, status_changed_at, "
        "first_seen_at, updated_at, last_heartbeat_at, attr_times) "
        "VALUES (:i, 'active', :n, :n, :n, :t, '{}') ON CONFLICT (installation_id) "
        "DO UPDATE SET last_heartbeat_at = greatest(installations.last_heartbeat_at, :t)"
    ), {"i": event.installation_id, "n": now, "t": event.occurred_at}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--installations", type=int, default=100_000)
    parser.add_argument("--baseline-events", type=int, default=20_000)
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument(
        "--read-rate",
        type=float,
        default=20.0,
        help="read API requests/s while applying (0: back to back)",
    )
    args = parser.parse_args()

    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker()
        broker.start()
        bootstrap = broker.bootstrap_servers
    try:
        topics = Topics(f"bench.{uuid.uuid4().hex[:8]}.")
        await create_topics(bootstrap, topics, PARTITIONS, 1)
        t = time.monotonic()
        total = await preload(bootstrap, topics, args.events, args.installations)
        print(
            f"preloaded {total:,} events in {time.monotonic() - t:.1f} s "
            f"({args.installations:,} installations, {PARTITIONS} partitions)"
        )
        result = await run_projector(
            bootstrap,
            topics,
            total,
            args.port,
            customers=args.installations // 2,
            read_rate=args.read_rate,
        )
        quix = await run_quix(bootstrap, topics, total)
        batch = int(os.environ.get("BASEWATCH_BATCH_MAX_RECORDS", "5000"))
        limit = await run_limit(coalesced(generate(args.events, args.installations), batch), total)
        baseline = await run_baseline(bootstrap, topics, args.baseline_events)
    finally:
        if broker is not None:
            broker.stop()
    print("\nprojector (set-based batches, one transaction per batch, PostgreSQL)")
    print(f"  events/s (from process start) {result['events_per_s']:>12,.0f}")
    print(f"  events/s (while applying)     {result['apply_events_per_s']:>12,.0f}")
    print(f"  time to catch up              {result['catch_up_s']:>12.1f} s")
    print(f"  peak RSS                      {result['peak_rss_mb']:>12.0f} MB")
    print(f"  mean batch                    {result['mean_batch']:>12.0f} records")
    print("Quix Streams 3.28 peer (its PostgreSQL upsert sink, at-least-once), same backlog")
    print(f"  events/s (from process start) {quix['events_per_s']:>12,.0f}")
    print(f"  events/s (while applying)     {quix['apply_events_per_s']:>12,.0f}")
    print(f"  rows written                  {quix['rows']:>12,.0f}")
    print(f"limit: raw asyncpg, coalesced unnest upserts in slices of {batch:,} events")
    print(f"  events/s                      {limit['events_per_s']:>12,.0f}")
    print(f"  rows/s                        {limit['rows_per_s']:>12,.0f}")
    print(f"baseline (one statement per event, auto-commit), {args.baseline_events:,} events")
    print(f"  events/s                      {baseline:>12,.0f}")
    print(f"  speed-up                      {result['events_per_s'] / baseline:>12.1f} x")
    print("ratios (projector / other, this run)")
    for label, key in (
        ("from process start", "events_per_s"),
        ("while applying", "apply_events_per_s"),
    ):
        print(
            f"  {label:<19} to Quix {result[key] / quix[key]:>6.2f} x"
            f"   to the limit {result[key] / limit['events_per_s']:>6.2f} x"
        )
    _print_cpu(result["cpu_us"], quix, limit["cpu_us"])
    pace = f"{args.read_rate:g} requests/s" if args.read_rate else "back to back"
    print(f"read API, one client ({pace} while applying, back to back after), p50 / p95 /")
    print("  p99 (goal while applying: p99 one customer under 10 ms, summary under 50 ms)")
    print("  (database: the one customer's statement sent straight to PostgreSQL after each)")
    for when, label in (("applying", "while applying"), ("after", "after catching up")):
        for name in ("customer", "summary", "database"):
            key = f"{when}_{name}"
            if f"{key}_p99_ms" in result:
                print(
                    f"  {label:<17} {name:<8} {result[f'{key}_p50_ms']:7.2f} "
                    f"{result[f'{key}_p95_ms']:7.2f} {result[f'{key}_p99_ms']:7.2f} ms"
                    f"  ({result[f'{key}_requests']:,.0f} requests)"
                )
        if f"{when}_database_p99_ms" in result:
            ratio = result[f"{when}_customer_p99_ms"] / result[f"{when}_database_p99_ms"]
            print(f"  {label:<17} one customer's p99 / the database's: {ratio:.2f} x")


def _print_cpu(projector: Usage, quix: dict[str, Any], limit: Usage) -> None:
    """CPU per event of each, and what the goals of issue 13 leave of the machine's."""
    cpus = os.cpu_count() or 1
    print(f"CPU per event while applying, us (the process itself, PostgreSQL, all {cpus} CPUs)")
    for name, used in (("projector", projector), ("Quix peer", quix["cpu_us"]), ("limit", limit)):
        postgres = "n/a" if used.postgres is None else f"{used.postgres:.1f}"
        print(f"  {name:<28} {used.process:>8.1f} {postgres:>8} {used.machine:>8.1f}")
    budget = [1e6 * cpus / (times * quix["apply_events_per_s"]) for times in (7, 4)]
    print(
        f"  at 7x the Quix peer's rate the machine has {budget[0]:.1f} us per event "
        f"for everything (at 4x: {budget[1]:.1f})"
    )


if __name__ == "__main__":
    asyncio.run(main())
