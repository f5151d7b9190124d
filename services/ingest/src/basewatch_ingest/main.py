"""``basewatch ingest``: run the ingest service."""

from __future__ import annotations

import argparse

import uvicorn

from basewatch_ingest.app import create_app
from basewatch_ingest.settings import Settings
from basewatch_shared.logs import configure_logging


def run(args: argparse.Namespace) -> int:
    """Build the settings, refuse to start without keys, serve until SIGTERM."""
    settings = Settings()
    configure_logging(settings.log_level)
    settings.require_keys()
    port = args.port if args.port is not None else settings.port
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch ingest``."""
    parser = sub.add_parser("ingest", help="run the ingest service (HTTP -> Kafka)")
    parser.add_argument("--port", type=int, default=None, help="default: BASEWATCH_PORT or 8080")
    parser.set_defaults(handler=run)
