"""An installation that turns twice inside one backlog signals each turn (docs/signals.md).

Found by the replay test of the end-to-end faults (tests/e2e/test_faults.py): live, an
uninstall and the reinstall a second later were applied in two batches and signalled
``uninstalled`` then ``reactivated``; replayed, both fell in one batch, whose fold went
from active to active and signalled nothing, for the customer neither. Here the whole
history is one backlog on the real broker, so every turn shares a fetch with the one
before it; each must still give its own signal, dated at its event.
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


def history(t: datetime) -> list[Out]:
    """``back`` is uninstalled and reinstalled; ``twice`` also goes away again."""
    out = []
    for iid in ("back", "twice"):
        out.append(record_at("customers", f"c-{iid}", purchase(iid), t))
        out.append(telemetry_at("install", iid, 0, t)[1])
        out.append(telemetry_at("uninstall", iid, 0, t + S)[1])
        out.append(telemetry_at("install", iid, 1, t + 2 * S)[1])
    out.append(telemetry_at("uninstall", "twice", 1, t + 3 * S)[1])
    return out


def expected(t: datetime) -> list[Signal]:
    turns = [
        ("installation.uninstalled", "back", t + S),
        ("customer.lapsed", "c-back", t + S),
        ("installation.reactivated", "back", t + 2 * S),
        ("customer.reactivated", "c-back", t + 2 * S),
        ("installation.uninstalled", "twice", t + S),
        ("customer.lapsed", "c-twice", t + S),
        ("installation.reactivated", "twice", t + 2 * S),
        ("customer.reactivated", "c-twice", t + 2 * S),
        ("installation.uninstalled", "twice", t + 3 * S),
        ("customer.lapsed", "c-twice", t + 3 * S),
    ]
    return sorted(turns)


async def test_each_turn_in_one_backlog_gives_its_own_signal(
    backlog_signals: Callable[..., Awaitable[list[Signal]]],
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - 60 * S
    # The whole history is received before the projector starts.
    assert await backlog_signals(history(start)) == expected(start)
