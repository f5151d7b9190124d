"""``python -m tests.support.checker``: check a running stack; exit 1 if anything was lost,
doubled or different."""

from __future__ import annotations

import argparse
import asyncio
import sys

from basewatch_shared.settings import parse_duration
from tests.support.checker.run import Checker, Config


def _config(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m tests.support.checker", description=__doc__)
    parser.add_argument("--ingest", default="http://127.0.0.1:8080")
    parser.add_argument(
        "--projector",
        action="append",
        help="a projector replica's URL (repeat for each replica; default :8081)",
    )
    parser.add_argument("--ingest-key", default="dev-ingest-key")
    parser.add_argument("--read-key", default="dev-read-key")
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tag", default="", help="id prefix of this run (default: random)")
    parser.add_argument("--at-risk-after", default="3d", help="as the projector is set")
    parser.add_argument("--churn-after", default="14d", help="as the projector is set")
    parser.add_argument("--loyal-min-orders", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=None, help="events/s at most")
    parser.add_argument(
        "--signal-wait", type=float, default=45, help="s; above the sweep interval (30 s)"
    )
    parser.add_argument("--quiet", type=float, default=5, help="s without new signals at the end")
    args = parser.parse_args(argv)
    return Config(
        ingest=args.ingest,
        projectors=args.projector or ["http://127.0.0.1:8081"],
        ingest_key=args.ingest_key,
        read_key=args.read_key,
        customers=args.customers,
        seed=args.seed,
        tag=args.tag,
        at_risk_after=parse_duration(args.at_risk_after),
        churn_after=parse_duration(args.churn_after),
        loyal_min_orders=args.loyal_min_orders,
        partitions=args.partitions,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        rate=args.rate,
        signal_wait=args.signal_wait,
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one check and print its report."""
    report = asyncio.run(Checker(_config(argv)).run())
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
