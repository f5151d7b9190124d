"""Operators' commands: ``basewatch keys new`` and ``basewatch topics create``."""

from __future__ import annotations

import argparse
import asyncio
import secrets

from basewatch_shared.cli import Subparsers, add_action
from basewatch_shared.settings import hash_key, parse_api_keys


def run_keys_new(args: argparse.Namespace) -> int:
    """Print a fresh random key and its configuration entry (which holds only the hash)."""
    secret = "bw_" + secrets.token_urlsafe(32)
    entry = f"{args.name}:{args.scopes}:{hash_key(secret)}"
    parse_api_keys(entry)  # the entry we print must be one the services accept
    print(f"key (give this to the client, it is shown once): {secret}")
    print(f"BASEWATCH_API_KEYS entry (safe to store): {entry}")
    return 0


def keys_command(sub: Subparsers) -> None:
    """Register ``basewatch keys new``."""
    new = add_action(sub, "keys", "make API keys", "new", "make a new key for a source app")
    new.add_argument("name", help="the key's name; it becomes the events' source")
    new.add_argument("scopes", choices=["ingest", "read", "ingest+read", "erase"])
    new.set_defaults(handler=run_keys_new)


def run_topics_create(args: argparse.Namespace) -> int:
    """Create whichever topics do not exist yet; existing ones are left as they are."""
    # Imported here: aiokafka is not needed to build the ``basewatch`` parser.
    from basewatch_shared.logs import configure_logging, quiet
    from basewatch_shared.settings import CommonSettings, parse_duration
    from basewatch_shared.startup import CannotStart, read_settings, refuse
    from basewatch_shared.topics import BrokerUnavailableError, Topics, create_topics

    configure_logging()
    try:
        settings = read_settings(CommonSettings, keys=False)
        try:
            topics = Topics(settings.topic_prefix)
            retention = parse_duration(args.deadletter_retention)
        except ValueError as exc:
            raise CannotStart(str(exc)) from None
        try:
            with quiet("aiokafka"):  # its own lines would repeat what CannotStart says
                created = asyncio.run(
                    create_topics(
                        settings.kafka_bootstrap_servers,
                        topics,
                        args.partitions,
                        args.replication_factor,
                        timeout_s=args.timeout,
                        deadletter_retention=retention,
                    )
                )
        except BrokerUnavailableError as exc:
            raise CannotStart(str(exc)) from None
    except CannotStart as exc:
        return refuse("topics create", exc)
    for name in topics.all:
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


def topics_command(sub: Subparsers) -> None:
    """Register ``basewatch topics create``."""
    create = add_action(
        sub, "topics", "manage the Kafka topics", "create", "create the topics (idempotent)"
    )
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
    create.add_argument(
        "--deadletter-retention",
        default="14d",
        help="how long the dead-letter topic keeps a record (default 14d)",
    )
    create.set_defaults(handler=run_topics_create)
