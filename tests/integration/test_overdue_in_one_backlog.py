"""A dead installation and its comeback heartbeat in one backlog: churned, then
reactivated, as when applied one by one (docs/signals.md).

Found by the replay test of the end-to-end faults (tests/e2e/test_faults.py): live, the
checker's silence phase was applied and swept before the comeback heartbeat of the
next phase arrived, so a dead installation signalled ``churned`` then ``reactivated``;
replayed, both phases fell in one history second and one batch, whose fold went from
active to active and signalled nothing, for the customer neither. Here the whole
history is one backlog on the real broker, received within one second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from tests.support.history import Out
from tests.support.timeline import (
    Signal,
    purchase,
    record_at,
    telemetry_at,
)

S = timedelta(seconds=1)
SETTINGS = {"at_risk_after": "3d", "churn_after": "14d"}
CHURN = timedelta(days=14)
DEAD = timedelta(days=30)  # how long before it was received the install happened


def history(t: datetime) -> list[Out]:
    """``dead`` installed 30 days before it is received; its heartbeat comes 0.2 s later."""
    install = {
        "event_id": "dead-install",
        "type": "install",
        "installation_id": "dead",
        "customer_id": "c-dead",
        "product_id": "p1",
        "version": "1",
    }
    return [
        record_at("customers", "c-dead", purchase("dead"), t - DEAD, received=t),
        record_at("telemetry", "dead", install, t - DEAD, received=t),
        telemetry_at("heartbeat", "dead", 1, t + 0.2 * S)[1],
    ]


def expected(t: datetime) -> list[Signal]:
    return sorted(
        [
            ("installation.churned", "dead", t - DEAD + CHURN),
            ("customer.lapsed", "c-dead", t - DEAD + CHURN),
            ("installation.reactivated", "dead", t + 0.2 * S),
            ("customer.reactivated", "c-dead", t + 0.2 * S),
        ]
    )


async def test_a_dead_installation_and_its_comeback_in_one_backlog_churn_and_return(
    backlog_signals: Callable[..., Awaitable[list[Signal]]],
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - 60 * S
    # The whole history is received before the projector starts.
    assert await backlog_signals(history(start), **SETTINGS) == expected(start)
