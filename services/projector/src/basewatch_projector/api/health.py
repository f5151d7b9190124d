"""``/healthz`` and ``/readyz``: alive, and ready (the database answers and the broker is
reachable, docs/operating.md). No key: orchestrators probe them."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Final

from fastapi import APIRouter
from sqlalchemy import text

from basewatch_projector.api.deps import Served, State
from basewatch_projector.api.documents import Readiness
from basewatch_projector.api.problems import problem_doc
from basewatch_shared.problems import ProblemError

CHECK_TIMEOUT_S: Final = 2.0
OK: Final = "ok"

log = logging.getLogger("basewatch.projector.readiness")
router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: problem_doc("the database or the broker is down; `checks` says which")},
)
async def readyz(state: State) -> dict[str, Any]:
    """Ready: the database answers SELECT 1 and the broker is reachable."""
    found = await checks(state)
    down = {name: check for name, check in found.items() if check.startswith("down")}
    if down:
        detail = "; ".join(f"{name} {check}" for name, check in down.items())
        raise ProblemError(503, "Not ready", detail, checks=found)
    return {"status": "ready", "checks": found}


async def checks(state: Served) -> dict[str, str]:
    """Each dependency and its state: ``ok``, ``unchecked``, or why it is down."""
    database, broker = await asyncio.gather(_database(state), _broker(state))
    return {"database": database, "broker": broker}


async def _database(state: Served) -> str:
    engine = state.engine
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


async def _broker(state: Served) -> str:
    ready = state.broker_ready
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
