"""``basewatch simulate``: its options, checked before anything else happens.

The ``basewatch`` command loads every command's module to build its parser, so the run
itself (``runner``, with httpx) is imported only when ``simulate`` runs. httpx is a
dependency of the shared package; an installation without it gets a one-line error.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from typing import Any

from basewatch_shared.settings import parse_duration

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_KEY = "dev-ingest-key"  # what `basewatch dev` configures
DEFAULT_ERASE_KEY = "dev-erase-key"  # likewise, with the erase scope
DEFAULT_ERASE_SHARE = 0.02


def run(args: argparse.Namespace) -> int:
    """Simulate until the duration is over or Ctrl-C; 0 if every event was accepted."""
    try:
        from basewatch_shared.devtools.simulation import runner
    except ImportError as exc:
        print(
            f"basewatch simulate: needs {exc.name or 'a package'} (pip install httpx)",
            file=sys.stderr,
        )
        return 2
    return runner.run(args)


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(kind: type[int] | type[float], most: float | None = None) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:g}, got {text!r}")
        return value

    return parse


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be a share from 0 to 1, like 0.02, got {text!r}")
    return value


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch simulate``."""
    parser = sub.add_parser(
        "simulate",
        help="send realistic traffic to a running ingest",
        description="Send a simulated population's events to ingest: identifies, purchases "
        "in several currencies, installations with heartbeats, silences, uninstalls and "
        "returns, and erasures of a few customers. Prints a progress line and, at the end, "
        "what GET /v1/summary and GET /v1/erasures should show.",
    )
    # In the order --help lists them.
    _target_options(parser)
    _pace_options(parser)
    _erasure_options(parser)
    _summary_options(parser)
    parser.set_defaults(handler=run)


def _target_options(parser: argparse.ArgumentParser) -> None:
    """Which ingest, with which key; how many customers, how fast, for how long."""
    add = parser.add_argument
    add(
        "--url",
        default=os.environ.get("BASEWATCH_INGEST_URL", DEFAULT_URL),
        help=f"ingest (default: BASEWATCH_INGEST_URL or {DEFAULT_URL})",
    )
    add(
        "--key",
        default=os.environ.get("BASEWATCH_INGEST_KEY", DEFAULT_KEY),
        help="a key with the ingest scope (default: BASEWATCH_INGEST_KEY or the dev key)",
    )
    add("--population", type=_positive(int), default=200, help="customers (default 200)")
    add("--rate", type=_positive(float), default=1000, help="events/s at most (default 1000)")
    add("--duration", type=_duration, default=None, help="wall time, like 60s (default: Ctrl-C)")


def _pace_options(parser: argparse.ArgumentParser) -> None:
    """Simulated time, the story's seed, and the requests that carry it."""
    add = parser.add_argument
    add(
        "--speed",
        type=_positive(float),
        default=1.0,
        help="simulated seconds per wall second; 3600: an hour a second. Above 1 it needs "
        "--duration: simulated time then ends at the run's end, never ahead of the clock",
    )
    add(
        "--heartbeat-every",
        type=_duration,
        default=timedelta(seconds=10),
        help="simulated time between an installation's heartbeats (default 10s)",
    )
    add("--seed", type=int, default=1, help="the same seed gives the same population and story")
    add(
        "--batch",
        type=_positive(int, 1000),
        default=500,
        help="events per request at most (default 500, <= 1000)",
    )
    add(
        "--concurrency",
        type=_positive(int),
        default=4,
        help="requests under way at once (default 4)",
    )


def _erasure_options(parser: argparse.ArgumentParser) -> None:
    """How many customers the run erases, and with which key."""
    add = parser.add_argument
    add(
        "--erase-share",
        type=_share,
        default=DEFAULT_ERASE_SHARE,
        help="share of the customers erased during the run, each some time after its identify "
        f"was accepted (default {DEFAULT_ERASE_SHARE:g}, at least one customer; 0: none)",
    )
    add(
        "--erase-key",
        default=os.environ.get("BASEWATCH_ERASE_KEY", DEFAULT_ERASE_KEY),
        help="a key with the erase scope (default: BASEWATCH_ERASE_KEY or the dev erase key)",
    )


def _summary_options(parser: argparse.ArgumentParser) -> None:
    """The projector's thresholds for the expected statuses; waiting, progress, the summary."""
    add = parser.add_argument
    add(
        "--at-risk-after",
        type=_duration,
        default=timedelta(days=3),
        help="the projector's BASEWATCH_AT_RISK_AFTER, for the expected statuses (default 3d)",
    )
    add(
        "--churn-after",
        type=_duration,
        default=timedelta(days=14),
        help="the projector's BASEWATCH_CHURN_AFTER, for the expected statuses (default 14d)",
    )
    add(
        "--wait",
        type=_duration,
        default=None,
        help="how long to wait for ingest to answer at the start, like 30s (default: no wait)",
    )
    add(
        "--progress-every",
        type=_positive(float),
        default=5.0,
        help="seconds between progress lines when not on a terminal (default 5)",
    )
    add("--summary-json", default=None, help="also write the summary as JSON to this file")
