"""Kafka record values: an accepted event plus what the server adds to it.

A value is one compact JSON object (orjson, keys sorted at every level): the
event's fields with optional fields that are ``None`` left out, timestamps in
UTC with a ``Z`` (microseconds only when non-zero), amounts as decimal strings,
plus two keys the server adds: ``received_at`` (its clock) and ``source`` (the
name of the API key that sent the event). Equal events encode to equal bytes
whatever order the client wrote their keys in, and
``decode_record(encode_record(e, t, s)).event == e``.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias, TypeVar

import orjson
from pydantic import ConfigDict, ValidationError

from basewatch_shared.contract.base import ContractModel
from basewatch_shared.contract.errors import error_list
from basewatch_shared.contract.events import (
    EVENT_ADAPTER,
    SIZE_CHECKED,
    BaseEvent,
    Event,
)
from basewatch_shared.contract.limits import MAX_PROPERTIES_BYTES
from basewatch_shared.contract.recorded import RECORDED, RECORDED_MANY
from basewatch_shared.contract.scalars import Identifier
from basewatch_shared.contract.sealed import (
    SEALED,
    DataKeys,
    SealError,
    SealingKeys,
    protect,
    unseal,
)
from basewatch_shared.contract.timestamps import Timestamp, skew_corrected

TopicKind: TypeAlias = Literal["customers", "telemetry"]
E = TypeVar("E", bound=BaseEvent)

# Events were size-checked as received at ingest; re-measuring the normalised form
# (".5Z" becomes ".500000Z", 19.99 becomes "19.99") could refuse what was accepted.
_TRUSTED: Final = {SIZE_CHECKED: True}


class RecordError(ValueError):
    """A record value that is not a valid basewatch record; str() says why."""


@dataclass(frozen=True, slots=True)
class Record:
    """A decoded record: the event, when the server received it, and which API key sent it."""

    event: Event
    received_at: datetime
    source: str
    withheld: bool = False  # sealed personal fields without their key (erased): left out


class _Envelope(ContractModel):
    """What the server adds to an event, validated like the event's own fields."""

    model_config = ConfigDict(extra="forbid")

    received_at: Timestamp
    source: Identifier


class RecordEncoder:
    """Encodes events received at one time from one source: the envelope is built once.

    Given ``keys``, a customer's personal fields are sealed (docs/erasure.md)."""

    __slots__ = ("_envelope", "_keys")

    def __init__(self, received_at: datetime, source: str, keys: SealingKeys | None = None) -> None:
        # Validating the envelope here means decode_record accepts whatever we produce
        # (ValueError if received_at or source is bad).
        self._envelope = _Envelope(received_at=received_at, source=source).model_dump(mode="json")
        self._keys = keys

    def encode(self, event: Event) -> bytes:
        """The record value: the event's fields, received_at and source, keys sorted."""
        value = event.model_dump(mode="json", exclude_none=True)
        value.update(self._envelope)
        protect(value, self._keys)
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def encode_record(event: Event, received_at: datetime, source: str) -> bytes:
    """Return the record value for an accepted event (ValueError if received_at/source is bad)."""
    return RecordEncoder(received_at, source).encode(event)


def decode_record(value: bytes, keys: DataKeys | None = None) -> Record:
    """Parse and validate a record value; RecordError says why it is not one.

    Records are what ingest wrote: ``native.RECORDED`` reads their canonical spelling in
    one call, with no Python per field. What it refuses gets the full contract check,
    whose reason names the field (and which accepts every spelling the contract does).
    Sealed personal fields are opened with ``keys`` (docs/erasure.md); without the key
    the record is read without them (``withheld``).
    """
    try:
        data, received_at, source, withheld = _split(value, keys)
        event, received_at, source = RECORDED.validate_python((data, received_at, source))
    except _NOT_CANONICAL:
        return _checked(value, keys)
    return _record(value, event, received_at, source, withheld, keys)


def decode_records(
    values: Sequence[bytes], keys: DataKeys | None = None
) -> list[Record | RecordError]:
    """Decode many record values: each a Record, or the RecordError that says why not.

    One call of the trusted schema for them all (measured: a sixth less per record than
    ``decode_record`` each); if any is not canonical, each is decoded on its own.
    """
    try:
        split = [_split(value, keys) for value in values]
        rows = RECORDED_MANY.validate_python([row[:3] for row in split])
    except (*_NOT_CANONICAL, RecordError):
        return [_decoded_or_error(value, keys) for value in values]
    return [
        _record(value, event, received_at, source, part[3], keys)
        for value, (event, received_at, source), part in zip(values, rows, split, strict=True)
    ]


_NOT_CANONICAL: Final = (
    orjson.JSONDecodeError,  # not JSON
    AttributeError,  # not an object
    TypeError,  # an array
    KeyError,  # no received_at or source
    ValidationError,  # not as ingest writes it
)


def _split(value: bytes, keys: DataKeys | None) -> tuple[Any, Any, Any, bool]:
    """The event's fields (unsealed), received_at, source, and whether personal fields
    were withheld (one of _NOT_CANONICAL if not a record; RecordError if sealed badly)."""
    data = orjson.loads(value)
    received_at, source = data.pop("received_at"), data.pop("source")
    return data, received_at, source, SEALED in data and not _opened(data, keys)


def _opened(data: dict[str, Any], keys: DataKeys | None) -> bool:
    """Unseal ``data``'s personal fields in place; False when there is no key for them."""
    if keys is None:
        data.pop(SEALED)
        return False
    try:
        return unseal(data, keys)
    except SealError as exc:
        raise RecordError(str(exc)) from None


def _record(
    value: bytes,
    event: Event,
    received_at: datetime,
    source: str,
    withheld: bool,
    keys: DataKeys | None,
) -> Record:
    """The record the trusted schema read; checked in full if it may break the one limit
    that no constraint says (a value this short cannot)."""
    properties = event.properties
    if len(value) <= MAX_PROPERTIES_BYTES or properties is None:
        return Record(event, received_at, source, withheld)
    if len(orjson.dumps(properties)) > MAX_PROPERTIES_BYTES:
        return _checked(value, keys)
    return Record(event, received_at, source, withheld)


def _decoded_or_error(value: bytes, keys: DataKeys | None) -> Record | RecordError:
    try:
        return decode_record(value, keys)
    except RecordError as exc:
        return exc


def _checked(value: bytes, keys: DataKeys | None) -> Record:
    """The record by the contract's models, or RecordError naming what is wrong."""
    try:
        data: Any = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordError(f"not a JSON object but {type(data).__name__}")
    envelope = {key: data.pop(key) for key in ("received_at", "source") if key in data}
    withheld = SEALED in data and not _opened(data, keys)
    try:
        meta = _Envelope.model_validate(envelope)
        event = EVENT_ADAPTER.validate_python(data, context=_TRUSTED)
    except ValidationError as exc:
        raise RecordError(_reason(exc)) from exc
    return Record(event, meta.received_at, meta.source, withheld)


def _reason(exc: ValidationError) -> str:
    """One line naming every invalid field, for logs and dead-letter headers."""
    return "; ".join(f"{e['field'] or '(event)'}: {e['message']}" for e in error_list(exc))


# Per event type, the topic family that holds it and the field that keys its records:
# keying by entity keeps each customer's and each installation's events in order.
ROUTES: Final[Mapping[str, tuple[TopicKind, str]]] = {
    "identify": ("customers", "customer_id"),
    "purchase": ("customers", "customer_id"),
    "install": ("telemetry", "installation_id"),
    "heartbeat": ("telemetry", "installation_id"),
    "uninstall": ("telemetry", "installation_id"),
}


def topic_kind(event: Event) -> TopicKind:
    """Return which topic family holds the event: customers or telemetry."""
    return ROUTES[event.type][0]


def record_key(event: Event) -> bytes:
    """Return the partition key: customer_id for customer events, else installation_id."""
    key: str = getattr(event, ROUTES[event.type][1])
    return key.encode()


def corrected(event: E, received_at: datetime) -> E:
    """Return the event with occurred_at shifted by the clock skew, received_at - sent_at."""
    if event.sent_at is None:
        return event
    if received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    occurred_at = skew_corrected(event.occurred_at, event.sent_at, received_at)
    return event.model_copy(update={"occurred_at": occurred_at})
