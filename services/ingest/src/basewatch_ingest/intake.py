"""Turn a request body into accepted records and per-event rejections, in one pass.

Shapes: one event object, ``{"events": [...]}`` (1 to 1000), or NDJSON (one event a
line; a line that is not JSON is rejected on its own, like an invalid event). Work
done once per request (the receive time, the source, the envelope) is not repeated
per event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import orjson
from pydantic import ValidationError

from basewatch_ingest.caps import capped
from basewatch_shared.contract.errors import error_list
from basewatch_shared.contract.events import EVENT_TYPES
from basewatch_shared.contract.intake import Accepted, EventIntake
from basewatch_shared.contract.records import TopicKind
from basewatch_shared.contract.sealed import KeyMissing, SealingKeys
from basewatch_shared.problems import ProblemError
from basewatch_shared.topics import Topics

MAX_BATCH: Final = 1000
_SHOWN_IN_DETAIL: Final = 3


class Reason(StrEnum):
    """Why one event was refused; a metrics label, so a small fixed set."""

    INVALID = "invalid"
    TOO_LARGE = "too_large"
    FUTURE = "future"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Malformed:
    """An NDJSON line that is not JSON: refused alone, the other lines still count."""

    message: str


@dataclass
class Intake:
    """What a request carried: records to produce, events refused, counts for metrics, and
    the customers whose personal fields wait for a key (their events are left out)."""

    records: list[Accepted] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    accepted_types: dict[str, int] = field(default_factory=dict)
    rejected_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    unkeyed: set[str] = field(default_factory=set)

    def reject(self, index: int, raw: Any, errors: list[dict[str, str]], reason: Reason) -> None:
        """Refuse the event at ``index`` with ``errors``."""
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        self.rejected.append(
            {
                "index": index,
                "event_id": event_id
                if isinstance(event_id, str) and len(event_id) <= 128
                else None,
                "errors": errors,
            }
        )
        kind = raw.get("type") if isinstance(raw, dict) else None
        self.rejected_reasons[(kind if kind in EVENT_TYPES else "unknown", reason)] += 1

    def refuse_invalid(self, index: int, raw: Any, exc: ValidationError) -> None:
        """Refuse an event the contract refuses: too large, or invalid."""
        too_large = any(e["type"] == "event_too_large" for e in exc.errors())
        self.reject(index, raw, error_list(exc), Reason.TOO_LARGE if too_large else Reason.INVALID)

    def refuse_future(self, index: int, raw: Any, ahead: timedelta) -> None:
        """Refuse an event that happens more than ``ahead`` after the server's clock."""
        message = f"is more than {ahead} ahead of the server's clock (after skew correction)"
        self.reject(index, raw, [{"field": "occurred_at", "message": message}], Reason.FUTURE)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "Malformed JSON", str(exc)) from None


def _ndjson_lines(body: bytes) -> list[Any]:
    raw: list[Any] = []
    for line in body.split(b"\n"):
        if not line.strip():
            continue  # blank lines (a trailing newline, CRLF endings) separate, they are no event
        try:
            raw.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raw.append(Malformed(f"the line is not valid JSON: {exc}"))
    return raw


def split_body(body: bytes, ndjson: bool) -> list[Any]:
    """The raw events of a body, or a 400/413/422 problem when its shape is wrong."""
    if ndjson:
        raw = _ndjson_lines(body)
    else:
        doc = _loads(body)
        if isinstance(doc, dict) and "events" in doc and "type" not in doc:
            if set(doc) != {"events"}:
                extra = sorted(set(doc) - {"events"})[:5]
                raise ProblemError(422, "Invalid batch", f"unknown fields next to events: {extra}")
            raw = doc["events"]
            if not isinstance(raw, list):
                raise ProblemError(422, "Invalid batch", "events must be an array of events")
        elif isinstance(doc, dict):
            raw = [doc]
        else:
            raise ProblemError(422, "Invalid body", 'send an event object or {"events": [...]}')
    if not raw:
        raise ProblemError(422, "Empty batch", "send at least one event")
    if len(raw) > MAX_BATCH:
        raise ProblemError(
            413, "Too many events", f"{len(raw)} events; at most {MAX_BATCH} per request"
        )
    return raw


def take(
    raw_events: list[Any],
    *,
    topics: Topics,
    source: str,
    received_at: datetime,
    max_future: timedelta,
    keys: SealingKeys | None = None,
) -> Intake:
    """Validate each raw event, correct its clock skew, encode the accepted ones; an event
    whose customer has no key yet is left out and its customer named in ``unkeyed``."""
    intake = Intake()
    names: dict[TopicKind, str] = {"customers": topics.customers, "telemetry": topics.telemetry}
    events = EventIntake(received_at, source, names, keys)
    latest = received_at + max_future
    records, counts = intake.records, intake.accepted_types
    taken = iter(events.take_all([raw for raw in raw_events if not isinstance(raw, Malformed)]))
    for index, raw in enumerate(raw_events):  # per event: one branch for each outcome
        if isinstance(raw, Malformed):
            intake.reject(index, None, [{"field": "", "message": raw.message}], Reason.MALFORMED)
            continue
        accepted = next(taken)
        if not isinstance(accepted, Accepted):
            if isinstance(accepted, KeyMissing):  # never written in clear: taken again keyed
                intake.unkeyed.add(accepted.customer_id)
            else:
                intake.refuse_invalid(index, raw, accepted)
            continue
        if accepted.occurred_at > latest:
            intake.refuse_future(index, raw, latest - events.received_at)
            continue
        records.append(accepted)
        counts[accepted.type] = counts.get(accepted.type, 0) + 1
    return intake


def refusal(intake: Intake) -> ProblemError:
    """The problem for a request of which no event is acceptable: 400, 413 or 422."""
    reasons = {reason for _kind, reason in intake.rejected_reasons}
    if reasons == {Reason.MALFORMED}:
        status, title = 400, "Malformed JSON"
    elif reasons == {Reason.TOO_LARGE}:
        status, title = 413, "Event too large"
    else:
        status, title = 422, "No acceptable event"
    return ProblemError(status, title, _summary(intake.rejected), rejected=capped(intake.rejected))


def _summary(rejected: list[dict[str, Any]]) -> str:
    """The first errors of the first events, for the problem's one-line detail."""
    shown = [
        f"event {r['index']}: "
        + "; ".join(
            f"{e['field'] or '(event)'}: {e['message']}" for e in r["errors"][:_SHOWN_IN_DETAIL]
        )
        for r in rejected[:_SHOWN_IN_DETAIL]
    ]
    more = len(rejected) - len(shown)
    return " | ".join(shown) + (f" | and {more} more" if more else "")
