"""``basewatch projector`` and ``basewatch migrate``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from basewatch_projector.settings import Settings

# A catch-up batch makes tens of thousands of short-lived records and rows; the default
# threshold (700) collected them dozens of times per batch (py-spy: a quarter of a
# catch-up's time in collections). Measured: ~30 % more events/s while applying. At
# 50,000 the young collections still rescanned each batch's live records two or three
# times: 2.3 s of a 300,000-event catch-up in collections (gc.callbacks); at 500,000,
# 0.3 s. Cyclic garbage is rare here (records and rows are freed by reference counts).
GC_THRESHOLDS = (500_000, 10, 10)
# The consume thread keeps the interpreter lock busy while it applies; a read API request
# waits for it at each turn of its loop (each round trip to the database), up to the
# switch interval. bench.projector, while applying: one customer's p99 76 ms at the
# default 5 ms, 28 ms at 1 ms; the summary's 87 and 55 ms.
SWITCH_INTERVAL_S = 0.001

# The service modules (FastAPI, SQLAlchemy, aiokafka: seconds of imports) are imported by
# the handlers, not here: every ``basewatch`` command loads this module to build its parser.


def run(args: argparse.Namespace) -> int:
    """Consume and serve the read API until SIGTERM; 1 if it cannot start or crashed."""
    from basewatch_projector.app import create_app
    from basewatch_projector.errors import Crashed
    from basewatch_projector.settings import Settings
    from basewatch_shared.logs import configure_logging
    from basewatch_shared.serve import serve, settle_gc
    from basewatch_shared.startup import CannotStart, read_settings, refuse

    configure_logging()  # until the settings say which level
    try:
        settings = read_settings(Settings)
        configure_logging(settings.log_level)
        port = args.port if args.port is not None else settings.port
        app = create_app(settings)
        settle_gc(GC_THRESHOLDS)
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        serve(app, settings, port)
    except CannotStart as exc:  # what is missing, in one line: no traceback to read through
        return refuse("projector", exc)
    except Crashed:  # its traceback is in the log already
        return 1
    return 0


async def _migrate(settings: Settings) -> str | None:
    from basewatch_projector.opening import open_engine, reaching_database
    from basewatch_projector.storage.migrate import current_revision, migrate

    engine, where = open_engine(settings)
    try:
        with reaching_database(where):
            await migrate(engine)
            return await current_revision(engine)
    finally:
        await engine.dispose()


def run_migrate(_args: argparse.Namespace) -> int:
    """Bring the database up to the newest migration (safe to run again)."""
    return _operate("migrate", _run_migrate)


def _run_migrate(settings: Settings) -> None:
    from basewatch_shared.logs import quiet

    with quiet("alembic"):  # its lines, from its import on; the outcome is printed below
        revision = asyncio.run(_migrate(settings))
    print(f"database migrated to revision {revision}")


def _operate(command: str, action: Callable[[Settings], None]) -> int:
    """Run an operator's command on the settings; a failure to start is one line, exit 1."""
    from basewatch_projector.settings import Settings
    from basewatch_shared.logs import configure_logging
    from basewatch_shared.startup import CannotStart, read_settings, refuse

    configure_logging()  # until the settings say which level
    try:
        settings = read_settings(Settings, keys=False)
        configure_logging(settings.log_level)
        action(settings)
    except CannotStart as exc:
        return refuse(command, exc)
    return 0


def command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch projector``."""
    parser = sub.add_parser("projector", help="run the projector and its read API")
    parser.add_argument("--port", type=int, default=None, help="default: BASEWATCH_PORT or 8081")
    parser.set_defaults(handler=run)


def migrate_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch migrate``."""
    parser = sub.add_parser("migrate", help="create or upgrade the database tables")
    parser.set_defaults(handler=run_migrate)


async def _release(settings: Settings, for_: timedelta) -> datetime:
    from basewatch_projector.churn.sweep import release_hold
    from basewatch_projector.opening import open_engine, reaching_database

    engine, where = open_engine(settings)
    now = datetime.now(UTC)
    try:
        with reaching_database(where):
            async with engine.begin() as conn:
                await release_hold(conn, now + for_, now)
    finally:
        await engine.dispose()
    return now + for_


def run_release(args: argparse.Namespace) -> int:
    """Let held churn transitions through: the silence was real churn, not an outage."""

    def release(settings: Settings) -> None:
        until = asyncio.run(_release(settings, args.for_))
        print(
            f"mass-silence hold released until {until.isoformat()}; the next sweeps apply "
            "the held transitions"
        )

    return _operate("churn release", release)


def duration(text: str) -> timedelta:
    """A command-line duration (30s, 15m, 3d, 1h30m); argparse names it when bad."""
    from basewatch_shared.settings import parse_duration

    return parse_duration(text)


def churn_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``basewatch churn release``."""
    parser = sub.add_parser("churn", help="operate the churn sweep")
    actions = parser.add_subparsers(dest="churn_command", metavar="ACTION", required=True)
    release = actions.add_parser("release", help="release a mass-silence hold")
    release.add_argument(
        "--for",
        dest="for_",
        type=duration,
        default="1h",
        help="how long the guard stays off (default 1h)",
    )
    release.set_defaults(handler=run_release)
