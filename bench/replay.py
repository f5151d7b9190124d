"""Replay benchmark: what each history boundary crossed costs a projector catching up.

    .venv/bin/python -m bench.replay [--events 100000] [--installations 10000] [--boundaries 1000]

Catches up two backlogs of the same events (bench/projector.py's mix), each with a fresh
schema and a fresh `basewatch projector` process: first every record received at one
time (no history boundary crossed), then the records received one after another over
``--boundaries`` history intervals of one hour (a replay after a long outage, each
boundary sampled in turn). Prints both catch-up times and the difference per boundary.

The spread starts three days after the events happened, a year ago; with ``--recent``
it ends an hour ago instead (a projector catching up after an outage: the boundaries of
the week and month going on, up to ``--boundaries`` of them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime

from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.topics import Topics, create_topics
from bench.projector import DAYS_BACK, PARTITIONS, RECEIVED_FROM, T0, preload, run_projector

HOUR = 3600.0


async def catch_up(bootstrap: str, args: argparse.Namespace, received_over: float) -> float:
    """Seconds from process start until the backlog is applied."""
    topics = Topics(f"bench.{uuid.uuid4().hex[:8]}.")
    await create_topics(bootstrap, topics, PARTITIONS, 1)
    start = RECEIVED_FROM
    if args.recent:  # ends an hour ago
        start = (datetime.now(UTC) - T0).total_seconds() - args.boundaries * HOUR - HOUR
    total = await preload(
        bootstrap, topics, args.events, args.installations, received_over, received_from=start
    )
    result = await run_projector(
        bootstrap, topics, total, args.port, BASEWATCH_HISTORY_INTERVAL="1h"
    )
    return float(result["catch_up_s"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--installations", type=int, default=10_000)
    parser.add_argument("--boundaries", type=int, default=1000)
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument(
        "--recent", action="store_true", help="the spread ends an hour ago (after an outage)"
    )
    args = parser.parse_args()
    most = (DAYS_BACK - 4) * 24  # the spread starts 3 days after T0 and ends a day before today
    if not 0 < args.boundaries <= most:
        parser.error(
            f"--boundaries must be between 1 and {most}: the records are received in the past"
        )
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker()
        broker.start()
        bootstrap = broker.bootstrap_servers
    try:
        started = time.monotonic()
        together = await catch_up(bootstrap, args, 0)
        spread = await catch_up(bootstrap, args, args.boundaries * HOUR)
    finally:
        if broker is not None:
            broker.stop()
    per = (spread - together) / args.boundaries
    print(f"\nreplay of {args.events:,} events ({args.installations:,} installations)")
    print(f"  received at one time              {together:>9.1f} s")
    print(f"  received over {args.boundaries:,} hourly boundaries {spread:>9.1f} s")
    print(f"  per boundary crossed              {per * 1000:>9.1f} ms")
    print(f"  (whole run {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    asyncio.run(main())
