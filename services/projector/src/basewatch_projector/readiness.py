"""Readiness: the database answers and the broker is reachable (docs/operating.md)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Final

from sqlalchemy import text

CHECK_TIMEOUT_S: Final = 2.0
OK: Final = "ok"

log = logging.getLogger("basewatch.projector.readiness")


async def checks(state: Any) -> dict[str, str]:
    """Each dependency and its state: ``ok``, ``unchecked``, or why it is down."""
    database, broker = await asyncio.gather(_database(state), _broker(state))
    return {"database": database, "broker": broker}


async def _database(state: Any) -> str:
    engine = getattr(state, "engine", None)
    if engine is None:
        return "down: not started"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"down: no answer within {CHECK_TIMEOUT_S:g} s"
    # Any failure of the probe means not ready; the log has the details, the
    # (unauthenticated) response only the kind of error.
    except Exception as exc:
        log.warning("readiness: the database probe failed", exc_info=exc)
        return f"down: {type(exc).__name__}"
    return OK


async def _broker(state: Any) -> str:
    ready = getattr(state, "broker_ready", None)
    if ready is None:
        return "unchecked"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            answer = ready()
            if inspect.isawaitable(answer):
                answer = await answer
    except TimeoutError:
        return f"down: no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:
        log.warning("readiness: the broker probe failed", exc_info=exc)
        return f"down: {type(exc).__name__}"
    return OK if answer is True else "down: not reachable"
