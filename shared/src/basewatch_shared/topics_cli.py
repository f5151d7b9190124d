"""``basewatch topics create``: create the topics on the configured broker."""

from __future__ import annotations

import argparse
import asyncio


def run_create(args: argparse.Namespace) -> int:
    """Create whichever topics do not exist yet; existing ones are left as they are."""
    # Imported here: aiokafka is not needed to build the ``basewatch`` parser.
    from basewatch_shared.settings import CommonSettings
    from basewatch_shared.topics import Topics, create_topics

    settings = CommonSettings()
    topics = Topics(settings.topic_prefix)
    created = asyncio.run(
        create_topics(
            settings.kafka_bootstrap_servers,
            topics,
            args.partitions,
            args.replication_factor,
            timeout_s=args.timeout,
        )
    )
    for name in topics.all:
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch topics create``."""
    topics = sub.add_parser("topics", help="manage the Kafka topics")
    actions = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create the topics (idempotent)")
    create.add_argument(
        "--partitions",
        type=int,
        default=6,
        help="partitions per topic (default 6; projector instances <= this)",
    )
    create.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="1 for a single broker; 3 for a production cluster",
    )
    create.add_argument("--timeout", type=float, default=60, help="seconds to wait for the broker")
    create.set_defaults(handler=run_create)
