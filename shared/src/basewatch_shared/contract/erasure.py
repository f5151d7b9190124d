"""Erasure requests as records on the customers topic (docs/erasure.md).

An erasure record travels keyed by ``customer_id`` on the customers topic, in order with
that customer's events, and is told apart from events by one header, so a consumer
checks the header and never parses an event's value to find one. Its value holds no
personal field: the customer's id, the request's id and time, and the name of the key
that asked.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import orjson
from pydantic import ValidationError

from basewatch_shared.contract.base import ContractModel
from basewatch_shared.contract.scalars import Identifier, PathId
from basewatch_shared.contract.timestamps import Timestamp

RECORD_HEADER: Final = "basewatch-record"
ERASURE: Final = b"erasure"
ERASURE_HEADERS: Final = [(RECORD_HEADER, ERASURE)]


class Erasure(ContractModel):
    """One erasure request: who is forgotten, the request's id, when and by which key."""

    erasure_id: Identifier
    customer_id: PathId  # as in events: an id that a path can carry
    requested_at: Timestamp
    source: Identifier

    def encode(self) -> bytes:
        """The record value: compact JSON, keys sorted, the time in UTC with a Z."""
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)


def new_erasure_id() -> str:
    """A fresh request id: ``er_`` and 128 random bits (a request's id, never a customer's)."""
    return f"er_{secrets.token_hex(16)}"


def is_erasure(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    """True when a record's headers mark it as an erasure record."""
    return any(name == RECORD_HEADER and value == ERASURE for name, value in headers or ())


def decode_erasure(value: bytes) -> Erasure:
    """Read an erasure record's value; ValueError (a reason naming fields only) if invalid."""
    try:
        return Erasure.model_validate_json(value)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) or "(record)" for e in exc.errors()})
        raise ValueError(f"not an erasure record: {', '.join(fields)}") from None


def erasure(customer_id: str, requested_at: datetime, source: str) -> Erasure:
    """A new erasure request (ValidationError if an id is malformed)."""
    return Erasure(
        erasure_id=new_erasure_id(),
        customer_id=customer_id,
        requested_at=requested_at,
        source=source,
    )
