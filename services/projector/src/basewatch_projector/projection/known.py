"""The installation rows this instance last committed: a bounded cache, never the truth.

A batch folds a cached installation without reading its row first, and writes it back
with a guard: the row must still carry the ``updated_at`` this instance wrote. When it
does not (the sweep, another member or anyone else wrote it since), the batch raises
``StaleState`` and rolls back whole; the consume loop then forgets the cache and
applies the records again from the stored offsets. So the cache can be wrong at any
time and never makes a row wrong; forgetting it (on every rebalance, rewind and fence,
and the rows a sweep moved) only keeps the guard from firing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from itertools import islice

from basewatch_projector.errors import FencedError
from basewatch_projector.rules.installation import Installation


class StaleState(FencedError):
    """A cached installation's row changed under this instance: drop the batch."""


class Known:
    """Installation states by id with the ``updated_at`` committed with them; the oldest
    entries go first past ``limit`` (memory stays bounded whatever the base's size)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rows: dict[str, tuple[Installation, datetime]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def take(self, ids: Collection[str]) -> dict[str, tuple[Installation, datetime]]:
        """The cached entries of ``ids`` (their states are never mutated: copies fold)."""
        rows = self._rows
        return {i: rows[i] for i in ids if i in rows}

    def remember(self, states: Iterable[Installation], updated_at: datetime) -> None:
        """After a commit: these are the rows now, written at ``updated_at``."""
        rows = self._rows
        for state in states:
            rows.pop(state.installation_id, None)  # re-inserted: the newest at the end
            rows[state.installation_id] = (state, updated_at)
        for oldest in list(islice(rows, max(0, len(rows) - self._limit))):
            del rows[oldest]

    def drop(self, ids: Iterable[str | None]) -> None:
        """Forget these installations (a sweep moved them)."""
        for installation_id in ids:
            if installation_id is not None:
                self._rows.pop(installation_id, None)

    def forget(self) -> None:
        """Drop everything (a rebalance, rewind, fence or sweep happened)."""
        self._rows.clear()
