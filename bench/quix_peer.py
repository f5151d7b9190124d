"""bench.projector's peer: a Quix Streams application applying the same backlog.

    .venv-peer/bin/python bench/quix_peer.py BOOTSTRAP CUSTOMERS TELEMETRY SCHEMA COUNT

Runs in the peer's own venv (`make bench` builds .venv-peer from bench/peer/): Quix
Streams pins a pydantic older than the services'. It reads both topics from the start
and upserts one row per customer and one per installation (the latest event's type,
time and version) with Quix's PostgreSQL sink, as its documentation shows: JSON values,
at-least-once, no deduplication, no ledger, no rules. It stops once COUNT records went
through. It prints one JSON line as it sees its first record (so the benchmark can read
the machine's counters then) and one at the end: when it started, saw its first record and
finished, and the CPU time it used from its first record to the end. Imports nothing of
basewatch.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from typing import Any

from quixstreams import Application
from quixstreams.sinks.community.postgresql import PostgreSQLSink

STARTED = time.monotonic()
first: list[float] = []  # when, and the process's CPU time then


def _sink(schema: str, table: str, key: str) -> PostgreSQLSink:
    return PostgreSQLSink(
        host="127.0.0.1",
        port=5432,
        dbname="test",
        user="postgres",
        password="",
        table_name=table,
        schema_name=schema,
        primary_key_columns=key,
        upsert_on_primary_key=True,
    )


def _row(key: str) -> Any:
    def row(event: dict[str, Any]) -> dict[str, Any]:
        if not first:
            first.extend((time.monotonic(), time.process_time()))
            print(json.dumps({"first": first[0]}), flush=True)
        return {
            key: event[key],
            "last_type": event["type"],
            "last_event_at": event["occurred_at"],
            "version": event.get("version") or "",
        }

    return row


def main() -> None:
    bootstrap, customers, telemetry, schema, count = sys.argv[1:6]
    app = Application(
        broker_address=bootstrap,
        consumer_group=f"quix-peer-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        auto_create_topics=False,
        use_changelog_topics=False,
        loglevel=logging.WARNING,
    )
    for topic, table, key in [
        (customers, "customers", "customer_id"),
        (telemetry, "installations", "installation_id"),
    ]:
        sdf = app.dataframe(app.topic(topic, value_deserializer="json"))
        sdf.apply(_row(key)).sink(_sink(schema, table, key))
    app.run(count=int(count), timeout=60)
    finished, cpu = time.monotonic(), time.process_time()
    print(
        json.dumps(
            {
                "started": STARTED,
                "first": first[0],
                "finished": finished,
                "cpu_s": cpu - first[1],
            }
        )
    )


if __name__ == "__main__":
    main()
