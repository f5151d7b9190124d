"""Compare the signals of two runs to what docs/signals.md promises of them.

Installation signals depend only on their partition's records in log order: two runs
give the same ones. A customer's signals also depend on the order of records across
partitions, which a replay keeps only to the history interval: within one interval a
live run may apply one installation leaving use before another comes into use (the
customer lapses and is reactivated) where a replay applies them the other way round
(nothing happens), or the reverse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

Signal = tuple[str, str, datetime]  # kind, subject (installation or customer), occurred_at
_UNDO = {"customer.lapsed": "customer.reactivated", "customer.reactivated": "customer.lapsed"}


def to_the_interval(signals: Iterable[Signal], interval: timedelta) -> Counter[Signal]:
    """The signals, less each customer's lapse and reactivation that undo each other
    within ``interval`` (the two runs' order across partitions may differ there)."""
    kept: Counter[Signal] = Counter()
    last: dict[str, list[Signal]] = {}  # per customer, its signals kept so far, in time
    for signal in sorted(signals, key=lambda s: (s[2], s[0], s[1])):
        kind, subject, at = signal
        if kind not in _UNDO:
            kept[signal] += 1
            continue
        mine = last.setdefault(subject, [])
        if mine and mine[-1][0] == _UNDO[kind] and at - mine[-1][2] < interval:
            kept[mine.pop()] -= 1
            continue
        mine.append(signal)
        kept[signal] += 1
    return +kept
