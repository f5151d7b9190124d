"""The event contract (docs/events.md): the five events product apps send to ingest.

Frozen models, a discriminated union on ``type`` and one module-level
``EVENT_ADAPTER``. The field types are in ``scalars``, ``timestamps``, ``money``,
``properties`` and ``traits``.
"""

from typing import Annotated, Any, Final, Literal, TypeAlias

import orjson
from pydantic import ConfigDict, Field, TypeAdapter, ValidationInfo, model_validator

from basewatch_shared.contract.base import ContractModel
from basewatch_shared.contract.limits import MAX_EVENT_BYTES, too_large
from basewatch_shared.contract.money import Amount
from basewatch_shared.contract.properties import Properties
from basewatch_shared.contract.scalars import (
    Currency,
    Identifier,
    PathId,
    Platform,
    Quantity,
    Usage,
)
from basewatch_shared.contract.timestamps import Timestamp
from basewatch_shared.contract.traits import Traits

EVENT_TYPES: Final = ("identify", "purchase", "install", "heartbeat", "uninstall")
# Validation-context flag: the size was checked when the event was accepted (records).
SIZE_CHECKED: Final = "basewatch.size_checked"


def _json_size(data: dict[str, Any]) -> int:
    """Compact JSON length of an input mapping, or 0 if it cannot be encoded."""
    try:
        return len(orjson.dumps(data, default=str))
    except orjson.JSONEncodeError:
        # Lone surrogates or absurd nesting: the field validators reject those with a location.
        return 0


class BaseEvent(ContractModel):
    """Fields every event has; ``None`` in an optional field means it was left out."""

    model_config = ConfigDict(extra="forbid")

    type: str
    event_id: Identifier
    occurred_at: Timestamp
    sent_at: Timestamp | None = None
    customer_id: PathId | None = None
    properties: Properties | None = None

    @model_validator(mode="before")
    @classmethod
    def _at_most_max_event_bytes(cls, data: Any, info: ValidationInfo) -> Any:
        # Measured on the parsed input as compact JSON, so a single event, a batch
        # member and an NDJSON line count alike, however the client formatted them.
        if isinstance(data, dict) and not (info.context and info.context.get(SIZE_CHECKED)):
            size = _json_size(data)
            if size > MAX_EVENT_BYTES:
                raise too_large("event_too_large", "the event is", size, MAX_EVENT_BYTES)
        return data


class Identify(BaseEvent):
    """Who a customer is."""

    type: Literal["identify"] = "identify"
    customer_id: PathId
    traits: Traits | None = None


class Purchase(BaseEvent):
    """A customer bought a product; the amount is exact and kept per currency."""

    type: Literal["purchase"] = "purchase"
    customer_id: PathId
    order_id: Identifier
    product_id: PathId
    amount: Amount
    currency: Currency
    quantity: Quantity = 1


class Install(BaseEvent):
    """A product was installed by a customer."""

    type: Literal["install"] = "install"
    customer_id: PathId
    installation_id: PathId
    product_id: PathId
    version: Identifier
    platform: Platform | None = None


class Heartbeat(BaseEvent):
    """An installation is in use; ``usage`` holds cumulative counters."""

    type: Literal["heartbeat"] = "heartbeat"
    installation_id: PathId
    product_id: PathId | None = None
    version: Identifier | None = None
    platform: Platform | None = None
    usage: Usage | None = None


class Uninstall(BaseEvent):
    """An installation was removed."""

    type: Literal["uninstall"] = "uninstall"
    installation_id: PathId


Event: TypeAlias = Annotated[
    Identify | Purchase | Install | Heartbeat | Uninstall, Field(discriminator="type")
]
EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(
    Event, config=ConfigDict(hide_input_in_errors=True)
)
