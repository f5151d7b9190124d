"""Turn a request body into accepted records and per-event rejections, in one pass.

Shapes: one event object, ``{"events": [...]}`` (1 to 1000), or NDJSON (one event a
line). Work done once per request (the receive time, the source) is not repeated per
event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from basewatch_ingest.publisher import OutRecord
from basewatch_shared.events import EVENT_ADAPTER, Event, error_list
from basewatch_shared.problems import ProblemError
from basewatch_shared.records import corrected, encode_record, record_key
from basewatch_shared.topics import Topics

MAX_BATCH = 1000


@dataclass
class Intake:
    """What a request carried: the records to produce and the events refused."""

    records: list[OutRecord] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "Malformed JSON", str(exc)) from None


def split_body(body: bytes, ndjson: bool) -> list[Any]:
    """The raw events of a body, or a 400/422 problem when its shape is wrong."""
    if ndjson:
        lines = [line for line in body.split(b"\n") if line.strip()]
        raw = [_loads(line) for line in lines]
    else:
        doc = _loads(body)
        if isinstance(doc, dict) and "events" in doc and "type" not in doc:
            if set(doc) != {"events"}:
                extra = sorted(set(doc) - {"events"})
                raise ProblemError(422, "Invalid batch", f"unknown fields: {extra}")
            raw = doc["events"]
            if not isinstance(raw, list):
                raise ProblemError(422, "Invalid batch", "events must be an array")
        elif isinstance(doc, dict):
            raw = [doc]
        else:
            raise ProblemError(422, "Invalid body", 'send an event object or {"events": [...]}')
    if not raw:
        raise ProblemError(422, "Empty batch", "send at least one event")
    if len(raw) > MAX_BATCH:
        raise ProblemError(413, "Batch too large", f"at most {MAX_BATCH} events per request")
    return raw


def take(
    raw_events: list[Any],
    *,
    topics: Topics,
    source: str,
    received_at: datetime,
    max_future: timedelta,
) -> Intake:
    """Validate each raw event; accepted ones become encoded records."""
    intake = Intake()
    latest = received_at + max_future
    for index, raw in enumerate(raw_events):
        try:
            event = corrected(EVENT_ADAPTER.validate_python(raw), received_at)
        except ValidationError as exc:
            intake.rejected.append(_rejection(index, raw, error_list(exc)))
            continue
        if event.occurred_at > latest:
            errors = [{"field": "occurred_at", "message": "is in the future"}]
            intake.rejected.append(_rejection(index, raw, errors))
            continue
        topic = topics.customers if event.type in ("identify", "purchase") else topics.telemetry
        value = encode_record(event, received_at, source)
        intake.records.append(OutRecord(topic=topic, key=record_key(event), value=value))
        intake.events.append(event)
    return intake


def _rejection(index: int, raw: Any, errors: list[dict[str, str]]) -> dict[str, Any]:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return {
        "index": index,
        "event_id": event_id if isinstance(event_id, str) and len(event_id) <= 128 else None,
        "errors": errors,
    }
