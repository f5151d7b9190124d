"""Bucketing of the history: boundaries, what a sample stores, times and values per step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basewatch_projector.history.cohorts import due, period_end
from basewatch_projector.history.recorder import STALLED, partition_passed
from basewatch_projector.history.samples import Key, changes, decode_latest, encode_latest
from basewatch_projector.history.steps import (
    MAX_POINTS,
    boundary_after,
    default_step,
    format_duration,
    gauge,
    grace,
    per_step,
    step_times,
)

H = timedelta(hours=1)
T = datetime(2026, 11, 22, 10, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def test_boundary_after_is_strictly_later_and_aligned_on_the_epoch() -> None:
    assert boundary_after(at(0), H) == at(1)  # a record at a boundary belongs to the next
    assert boundary_after(at(0.999), H) == at(1)
    assert boundary_after(at(0.5), timedelta(days=1)) == datetime(2026, 11, 23, tzinfo=UTC)
    assert boundary_after(at(0) + timedelta(seconds=3), timedelta(seconds=5)) == at(0) + (
        timedelta(seconds=5)
    )


def test_grace_is_short_and_shorter_than_a_short_interval() -> None:
    assert grace(H) == timedelta(seconds=1)
    assert grace(timedelta(seconds=2)) == timedelta(seconds=0.4)


def test_a_sample_stores_only_changed_series_and_zero_for_vanished_ones() -> None:
    loyal = ("customers", (("segment", "loyal"),))
    suspect = ("customers", (("segment", "suspect"),))
    active = ("installations", (("product_id", "p1"), ("status", "active")))
    assert changes({loyal: 2, suspect: 1}, {loyal: 2, suspect: 1}) == {}
    assert changes({loyal: 2, suspect: 1}, {loyal: 3, active: 1}) == {
        loyal: 3,
        suspect: 0,
        active: 1,
    }
    assert changes({}, {loyal: 1}) == {loyal: 1}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3600, "1h"), (5, "5s"), (86400, "1d"), (5400, "1h30m"), (90, "1m30s"), (604800, "7d")],
)
def test_durations_are_written_in_the_largest_units(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_step_times_are_the_aligned_boundaries_within_the_range() -> None:
    assert step_times(at(0), at(3), H) == [at(0), at(1), at(2), at(3)]
    assert step_times(at(0.5), at(2.5), H) == [at(1), at(2)]
    assert step_times(at(0.2), at(0.8), H) == []
    # Aligned on the epoch, not on since: 10:00 is a boundary of 2h, 11:00 is not.
    assert step_times(at(1), at(4.5), 2 * H) == [at(2), at(4)]


def test_a_gauge_carries_the_last_row_forward_and_is_null_before_sampling() -> None:
    times = [at(0), at(1), at(2), at(3), at(4)]
    rows = [(at(1), 5), (at(2.5), 7)]
    assert gauge(times, at(1), rows) == [None, 5, 5, 7, 7]
    # A row before the range (the last one at or before its start) is the starting value.
    assert gauge(times, at(-5), [(at(-3), 2), (at(3), 0)]) == [2, 2, 2, 0, 0]
    # Sampling had begun but the series had no row yet: 0.
    assert gauge(times, at(0), [(at(2), 1)]) == [0, 0, 1, 1, 1]
    assert gauge(times, None, []) == [None] * 5


def test_per_step_counts_fall_in_the_half_open_step_ending_at_each_time() -> None:
    times = [at(1), at(2), at(3)]
    events = [
        (at(0.5), 1),  # (0, 1]
        (at(1), 2),  # exactly on a time: that step, not the next
        (at(1) + timedelta(microseconds=1), 4),  # (1, 2]
        (at(3), 8),
        (at(0), 16),  # before the first step
        (at(3.1), 32),  # after the last time
    ]
    assert per_step(times, H, events) == [3, 4, 8]
    assert per_step([at(0), at(2), at(4)], 2 * H, [(at(-0.5), 1), (at(2.5), 1)]) == [1, 0, 1]
    assert per_step([], H, events) == []


def test_the_default_step_is_the_interval_unless_that_gives_too_many_times() -> None:
    week = timedelta(days=7)
    assert default_step(week, H) == H
    assert default_step(week, timedelta(minutes=1)) == timedelta(minutes=2)
    five = default_step(week, timedelta(seconds=5))
    assert five % timedelta(seconds=5) == timedelta(0)
    assert week // five + 1 <= MAX_POINTS < week // (five - timedelta(seconds=5)) + 1


def test_a_partition_passes_a_boundary_held_after_it_caught_up_past_it_or_stuck() -> None:
    def passed(
        held_from: datetime | None = None,
        records: int | None = 0,
        stalled_for: timedelta = timedelta(0),
        now: datetime | None = None,
        reported_at: datetime | None = None,
    ) -> bool:
        now = now or at(1) + timedelta(seconds=2)
        return partition_passed(
            at(1),
            held_from=held_from,
            records=records,
            reported_at=reported_at or now,
            stalled_for=stalled_for,
            now=now,
            grace=timedelta(seconds=1),
        )

    assert passed(held_from=at(1))  # its next record was received at the boundary
    assert not passed(held_from=at(1) - timedelta(microseconds=1))
    assert passed(held_from=at(2), records=5)  # held records count, not the backlog
    assert passed(records=0)
    assert not passed(records=0, now=at(1) + timedelta(seconds=0.5))  # grace
    # Caught up as the broker reported within the grace, nothing fetched since (a
    # stalled loop): what was acknowledged since may have been received before the boundary.
    late = at(1) + timedelta(seconds=60)
    assert not passed(records=0, now=late, reported_at=at(1) + timedelta(seconds=0.5))
    assert passed(records=0, now=late, reported_at=at(1) + timedelta(seconds=1))
    assert not passed(records=0, now=at(0.5), stalled_for=STALLED)  # idle is not stuck
    assert not passed(records=3)  # behind: records before the boundary may be coming
    assert not passed(records=None)  # not fetched yet
    assert passed(records=3, stalled_for=STALLED)  # stuck: the others go on
    assert passed(records=None, stalled_for=STALLED)


label_values = st.one_of(st.none(), st.text(max_size=8))
samples = st.dictionaries(
    st.one_of(
        st.tuples(st.just("customers"), st.tuples(st.tuples(st.just("segment"), label_values))),
        st.tuples(
            st.just("installations"),
            st.tuples(
                st.tuples(st.just("product_id"), label_values),
                st.tuples(st.just("status"), label_values),
            ),
        ),
    ),
    st.integers(min_value=0, max_value=10**9),
)


@given(samples)
def test_a_sample_with_any_mix_of_missing_and_present_labels_is_stored_and_read_back(
    sample: dict[Key, int],
) -> None:
    # Security issue item 1: an installation with no product next to one with a product
    # made the sampler compare None with a string, which crashed the consume loop.
    document = encode_latest(sample)
    assert decode_latest(orjson.loads(orjson.dumps(document))) == sample
    assert encode_latest(dict(reversed(list(sample.items())))) == document  # a stable order


def test_a_sample_writes_the_cohort_cells_of_the_periods_it_ends_and_of_the_current_one() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)  # a Sunday
    past_monday = datetime(2026, 11, 9, tzinfo=UTC)
    # Hourly: Monday 00:00 ends the week before; an hour later ends nothing.
    assert due(past_monday, H, now) == ["week"]
    assert due(past_monday + H, H, now) == []
    assert due(past_monday - H, H, now) == []
    # The first of a month ends the month before (2026-11-01 is a Sunday: not a week).
    assert due(datetime(2026, 11, 1, tzinfo=UTC), H, now) == ["month"]
    assert due(datetime(2026, 6, 1, tzinfo=UTC), H, now) == ["week", "month"]  # a Monday
    # Daily: the last boundary of a week is its Monday 00:00 too, not the Sunday's.
    assert due(past_monday - timedelta(days=1), timedelta(days=1), now) == []
    # A boundary in the period going on writes it, whatever follows.
    assert due(datetime(2026, 12, 2, 5, tzinfo=UTC), H, now) == ["week", "month"]
    assert due(datetime(2026, 11, 25, 5, tzinfo=UTC), H, now) == []
    # Unless a later sample comes (not the latest: behind), which overwrites it; the
    # periods a sample ends are written all the same.
    assert due(datetime(2026, 12, 2, 5, tzinfo=UTC), H, now, latest=False) == []
    assert due(datetime(2026, 12, 7, tzinfo=UTC), H, now, latest=False) == ["week"]
    # An interval longer than the period: every boundary ends one.
    assert due(past_monday + H, timedelta(days=8), now) == ["week"]


def test_a_stretch_crossed_in_one_step_stops_at_a_weeks_or_months_last_boundary() -> None:
    saturday = datetime(2026, 1, 10, 7, tzinfo=UTC)
    assert period_end(saturday, H) == datetime(2026, 1, 12, tzinfo=UTC)  # Monday 00:00
    assert period_end(datetime(2026, 1, 12, tzinfo=UTC), H) == datetime(2026, 1, 12, tzinfo=UTC)
    # A month that ends inside the week: the month's end first; December into January.
    assert period_end(datetime(2026, 1, 27, 1, tzinfo=UTC), H) == datetime(2026, 2, 1, tzinfo=UTC)
    assert period_end(datetime(2026, 12, 29, tzinfo=UTC), H) == datetime(2027, 1, 1, tzinfo=UTC)
    # Boundaries that do not fall at midnight (7 h since the epoch): the last one before.
    assert period_end(saturday, timedelta(hours=7)) == datetime(2026, 1, 11, 19, tzinfo=UTC)
