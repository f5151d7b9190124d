"""Client events into record values, for ingest: a fast path with the models as reference.

``EventIntake(received_at, source).take(raw)`` gives, for one event a client sent, what
ingest puts on the topic: the event's type, topic family, partition key, record value
and corrected ``occurred_at``; ``take_all(raws)`` gives it for a request's events.
``CLIENT_EVENT``, made of ``native``'s rules, reads the common spellings into the
record's values in one call, with no Python per field but the ISO code lookups; Python
adds what no constraint can say: the clock skew and UTC of the timestamps, and the size
limits, measured only where they can be broken (a record this short cannot break them).

What the fast path does not accept, the models judge: ``EVENT_ADAPTER``, ``corrected``
and ``RecordEncoder``, the specification of a record's bytes. They raise the
ValidationError whose messages clients see, or give the record. For what it accepts, the
fast path gives the same bytes as they would (``tests/unit/test_fast_paths.py``). Given
a customer's keys, both paths seal the personal fields, ``traits`` and ``properties``,
between reading and encoding (``sealed.protect``, docs/erasure.md).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import orjson
from pydantic import ValidationError
from pydantic_core import CoreSchema, SchemaValidator
from pydantic_core import core_schema as cs

from basewatch_shared.contract.events import EVENT_ADAPTER, BaseEvent
from basewatch_shared.contract.limits import MAX_EVENT_BYTES, MAX_PROPERTIES_BYTES
from basewatch_shared.contract.native import (
    CLIENT_TIMESTAMP,
    IDENTIFIER,
    MODELS,
    PLAIN_AMOUNT,
    TRAIT_FIELDS,
    TRAIT_KEYS,
    TRAIT_VALUE,
    field_schemas,
    with_json_values,
)
from basewatch_shared.contract.records import (
    ROUTES,
    RecordEncoder,
    TopicKind,
    corrected,
    record_key,
    topic_kind,
)
from basewatch_shared.contract.sealed import KeyMissing, SealingKeys, protect
from basewatch_shared.contract.timestamps import in_utc, shifted

# As RecordEncoder writes: keys sorted at every level; datetimes (all in UTC) with a Z and
# microseconds only when non-zero, which is how pydantic writes them there.
_RECORD_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
# Under this many bytes a record cannot hold properties over their limit, nor come from an
# event over its own: what the client sent is at most a few hundred bytes longer than
# the record's event (nulls, offsets and nanoseconds are what the record leaves out).
_SURELY_WITHIN: Final = min(MAX_PROPERTIES_BYTES, MAX_EVENT_BYTES - 1024)
TOPIC_KINDS: Final[Mapping[TopicKind, str]] = {"customers": "customers", "telemetry": "telemetry"}


def _client_event(model: type[BaseEvent], fields: Mapping[str, CoreSchema]) -> CoreSchema:
    """A dict of the fields given; ``null`` in an optional field is kept for intake to drop."""
    typed: dict[str, cs.TypedDictField] = {}
    for name, field in model.model_fields.items():
        if name == "type":
            typed[name] = cs.typed_dict_field(cs.literal_schema([field.default]))
        elif field.is_required():
            typed[name] = cs.typed_dict_field(fields[name])
        elif field.default is None:
            typed[name] = cs.typed_dict_field(cs.nullable_schema(fields[name]), required=False)
        else:  # quantity: a number or absent, never null
            default = cs.with_default_schema(fields[name], default=field.default)
            typed[name] = cs.typed_dict_field(default, required=False)
    return cs.typed_dict_schema(typed, extra_behavior="forbid", strict=True)


def _client_traits() -> CoreSchema:
    known = {name: cs.typed_dict_field(s, required=False) for name, s in TRAIT_FIELDS.items()}
    traits = cs.typed_dict_schema(known, extras_schema=TRAIT_VALUE, extra_behavior="allow")
    return cs.chain_schema([TRAIT_KEYS, traits])


def _canonical(amount: str) -> str:
    # money.canonical() of a plain amount within the limits, on its text.
    return amount.rstrip("0").rstrip(".") if "." in amount else amount


def _client() -> CoreSchema:
    plain = cs.str_schema(pattern=PLAIN_AMOUNT, coerce_numbers_to_str=True)
    amount = cs.no_info_after_validator_function(_canonical, plain)
    fields = field_schemas(CLIENT_TIMESTAMP, amount, _client_traits())
    choices = {kind: _client_event(model, fields) for kind, model in MODELS.items()}
    return with_json_values(cs.tagged_union_schema(choices, discriminator="type"))


# Reads an event as a client sends it into a dict of the values its record holds.
CLIENT_EVENT: Final = SchemaValidator(_client())


class Accepted(NamedTuple):
    """An accepted event as ingest produces it (a tuple: a frozen dataclass costs 5x more)."""

    type: str
    topic: str  # the name the caller gave the topic family (customers or telemetry)
    key: bytes
    value: bytes
    occurred_at: datetime  # after the clock-skew correction


@functools.lru_cache(maxsize=256)
def _checked_source(source: str) -> str:
    """The source, checked as RecordEncoder checks it (once per name: requests repeat it)."""
    checked: str = IDENTIFIER.validate_python(source)
    return checked


class EventIntake:
    """Takes the events of one request: received at one time, from one API key."""

    __slots__ = ("_keys", "_received_at", "_reference", "_sent", "_source", "_topics")

    def __init__(
        self,
        received_at: datetime,
        source: str,
        topics: Mapping[TopicKind, str] = TOPIC_KINDS,
        keys: SealingKeys | None = None,
    ) -> None:
        # Checked once here, as RecordEncoder checks them, so that every record decodes.
        utc = None if received_at.utcoffset() is None else in_utc(received_at)
        if utc is None:
            raise ValueError("received_at must be an aware time between 1970 and 9999")
        self._received_at = utc
        self._source = _checked_source(source)
        self._reference: RecordEncoder | None = None  # built for the first event it judges
        self._topics = topics
        self._keys = keys  # None: personal fields in clear (tests and tools, never ingest)
        # The events of a request usually share sent_at: its text, in UTC, and the skew.
        self._sent: tuple[object, datetime, timedelta] = ("", utc, timedelta(0))

    @property
    def received_at(self) -> datetime:
        """When the events were received, in UTC."""
        return self._received_at

    def take(self, raw: Any) -> Accepted:
        """The record of one event; the models' ValidationError if the contract refuses it,
        KeyMissing if its customer has no key yet."""
        taken = self.take_all([raw])[0]
        if isinstance(taken, Exception):
            raise taken
        return taken

    def take_all(self, raws: Sequence[Any]) -> list[Accepted | ValidationError | KeyMissing]:
        """The record of each event, in order, or why there is none: the models'
        ValidationError, or KeyMissing when its customer has no key yet.

        In three passes over the events (read, seal, encode), not one event at a time:
        each pass's code stays warm. One event in ten seals, and sealing one event between
        the reading of others cost three times what it costs in a run (bench.ingest).
        """
        read = [self._read(raw) for raw in raws]
        if (keys := self._keys) is not None:
            for index, fields in enumerate(read):
                if fields is not None and ("traits" in fields or "properties" in fields):
                    try:
                        protect(fields, keys)
                    except KeyMissing:  # its fields in clear are dropped; the models say so
                        read[index] = None
        taken: list[Accepted | ValidationError | KeyMissing] = []
        for raw, fields in zip(raws, read, strict=True):
            accepted = None if fields is None else self._encode(fields)
            if accepted is None:  # the models judge what the fast path does not accept
                try:
                    accepted = self._by_the_models(raw)
                except (ValidationError, KeyMissing) as exc:
                    taken.append(exc)
                    continue
            taken.append(accepted)
        return taken

    def fast(self, raw: Any) -> Accepted | None:
        """The record of one event on the fast path; None when the models must judge it."""
        fields = self._read(raw)
        if fields is None:
            return None
        protect(fields, self._keys)
        return self._encode(fields)

    def _read(self, raw: Any) -> dict[str, Any] | None:
        """An event's record fields, in clear; None when the models must judge it."""
        try:
            fields: dict[str, Any] = CLIENT_EVENT.validate_python(raw)
        except ValidationError:
            return None
        if None in fields.values():  # an optional field sent as null is left out
            fields = {name: value for name, value in fields.items() if value is not None}
        # In UTC (native.CLIENT_TIMESTAMP: then within the contract's range, whatever the
        # offset), which is how records write them.
        occurred_at = fields["occurred_at"].astimezone(UTC)
        if "sent_at" in fields:
            text, sent_at, skew = self._sent
            if raw["sent_at"] != text:
                sent_at = fields["sent_at"].astimezone(UTC)
                skew = self._received_at - sent_at
                self._sent = (raw["sent_at"], sent_at, skew)
            fields["sent_at"] = sent_at
            occurred_at = shifted(occurred_at, skew)
        fields["occurred_at"] = occurred_at
        fields["received_at"] = self._received_at
        fields["source"] = self._source
        return fields

    def _encode(self, fields: dict[str, Any]) -> Accepted | None:
        """The record of read (and sealed) fields; None when the models must measure it."""
        value = orjson.dumps(fields, option=_RECORD_OPTIONS)
        if len(value) > _SURELY_WITHIN:
            return None  # the models measure it
        kind, key_field = ROUTES[fields["type"]]
        key = fields[key_field].encode()
        # tuple.__new__: Accepted(...) would add a Python call per event.
        accepted = (fields["type"], self._topics[kind], key, value, fields["occurred_at"])
        return tuple.__new__(Accepted, accepted)

    def _by_the_models(self, raw: Any) -> Accepted:
        event = corrected(EVENT_ADAPTER.validate_python(raw), self._received_at)
        if self._reference is None:
            self._reference = RecordEncoder(self._received_at, self._source, self._keys)
        value = self._reference.encode(event)
        topic = self._topics[topic_kind(event)]
        return Accepted(event.type, topic, record_key(event), value, event.occurred_at)
