"""The cache of installation states: bounded, newest kept, forgotten whole."""

from __future__ import annotations

from datetime import UTC, datetime

from basewatch_projector.projection.known import Known
from basewatch_projector.rules.installation import Installation

T = datetime(2026, 11, 1, tzinfo=UTC)


def _state(i: int) -> Installation:
    return Installation(installation_id=f"i{i}", first_seen_at=T)


def test_the_oldest_written_go_first_past_the_limit() -> None:
    known = Known(limit=3)
    known.remember([_state(1), _state(2), _state(3)], T)
    known.remember([_state(1)], T)  # written again: the newest now
    known.remember([_state(4), _state(5)], T)
    assert len(known) == 3
    assert sorted(known.take(["i1", "i2", "i3", "i4", "i5"])) == ["i1", "i4", "i5"]


def test_take_returns_the_state_with_the_time_it_was_written_and_forget_drops_all() -> None:
    known = Known(limit=10)
    state = _state(1)
    known.remember([state], T)
    assert known.take(["i1", "i9"]) == {"i1": (state, T)}
    known.forget()
    assert known.take(["i1"]) == {}


def test_a_limit_of_zero_keeps_nothing() -> None:
    known = Known(limit=0)
    known.remember([_state(1)], T)
    assert len(known) == 0


def test_a_cached_state_holds_no_personal_field() -> None:
    # An erasure changes no installation row, so the cache needs no forgetting on one:
    # as long as an installation's state holds no traits and no properties
    # (docs/erasure.md#in-the-tables). A field added to it that does needs that too.
    fields = set(Installation.__dataclass_fields__)
    assert fields and not fields & {"traits", "properties", "email", "name", "country"}
