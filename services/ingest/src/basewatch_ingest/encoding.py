"""Record values for one request: ``encode_record``'s bytes, with the envelope built once.

``basewatch_shared.records.encode_record`` validates and serialises ``received_at``
and ``source`` for every event; within a request both are the same, so they are
validated and serialised here once per request and merged into each event. The unit
tests hold this to byte-for-byte equality with ``encode_record``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import orjson
from pydantic import TypeAdapter

from basewatch_shared.events import Event, Identifier, Timestamp

_RECEIVED_AT: Final[TypeAdapter[datetime]] = TypeAdapter(Timestamp)
_SOURCE: Final[TypeAdapter[str]] = TypeAdapter(Identifier)


class RecordEncoder:
    """Encodes the events of one request, all received at the same time from one source."""

    __slots__ = ("_envelope",)

    def __init__(self, received_at: datetime, source: str) -> None:
        # The same types and JSON mode as the contract's envelope (records._Envelope).
        received = _RECEIVED_AT.validate_python(received_at)
        self._envelope: dict[str, Any] = {
            "received_at": _RECEIVED_AT.dump_python(received, mode="json"),
            "source": _SOURCE.validate_python(source),
        }

    def encode(self, event: Event) -> bytes:
        """The record value: the event's fields, received_at and source, keys sorted."""
        value = event.model_dump(mode="json", exclude_none=True)
        value.update(self._envelope)
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
