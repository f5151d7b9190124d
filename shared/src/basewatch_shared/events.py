"""The event contract (docs/events.md): the five events product apps send to ingest.

Frozen models, a discriminated union on ``type`` and one module-level
``EVENT_ADAPTER``. Rules are pydantic constraints (checked in Rust) wherever
pydantic has one; Python validators only where it has none.
"""

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeAlias

import orjson
import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from typing_extensions import TypeAliasType

from basewatch_shared.jsonschema import TIMESTAMP, DocumentedAs, any_case, int64, key, text
from basewatch_shared.money import Amount

MAX_EVENT_BYTES: Final = 32 * 1024
MAX_PROPERTIES_BYTES: Final = 8 * 1024
MAX_TRAITS: Final = 100
MAX_TRAIT_CHARS: Final = 1024
MAX_COUNTERS: Final = 64
MAX_QUANTITY: Final = 1_000_000
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime.max.replace(tzinfo=UTC)
EVENT_TYPES: Final = ("identify", "purchase", "install", "heartbeat", "uninstall")
_MAX_FIELD_CHARS: Final = 200  # error paths hold client-chosen keys: bound what we echo
_MAX_MESSAGE_CHARS: Final = 300
# Validation-context flag: the size was checked when the event was accepted (records).
SIZE_CHECKED: Final = "basewatch.size_checked"

CURRENCIES: Final = frozenset(currency.alpha_3 for currency in pycountry.currencies)
COUNTRIES: Final = frozenset(country.alpha_2 for country in pycountry.countries)

# --- strings ----------------------------------------------------------------
# Any pattern makes pydantic convert to UTF-8, which refuses lone surrogates
# (string_unicode); PostgreSQL can store neither those nor NUL.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_ID_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
_TEXT_PATTERN = r"^[^\x00]*$"
_EMAIL_PATTERN = r"^[^\x00@]*@[^\x00]*$"
# error_list() shows these instead of the regular expressions themselves.
_PATTERN_MESSAGES: Final = {
    _ID_PATTERN: "must contain a visible character and no control characters",
    _TEXT_PATTERN: "must not contain NUL characters",
    _EMAIL_PATTERN: "must be an email address (contain '@') without NUL characters",
}

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_ID_PATTERN)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_TEXT_PATTERN)]
Platform = Annotated[str, StringConstraints(max_length=64, pattern=_TEXT_PATTERN)]
Label = Annotated[str, StringConstraints(max_length=256, pattern=_TEXT_PATTERN)]
Email = Annotated[str, StringConstraints(max_length=320, pattern=_EMAIL_PATTERN)]


def _storable(text: str) -> bool:
    """True if PostgreSQL can store the text: no NUL and no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _code_in(codes: frozenset[str], error: str, message: str) -> AfterValidator:
    """Validator for a case-insensitive ISO code, normalised to upper case."""

    def check(value: str) -> str:
        # isascii: the long s (U+017F) upper-cases to "S"; it must not make "USD".
        code = value.upper()
        if not value.isascii() or code not in codes:
            raise PydanticCustomError(error, message)
        return code

    return AfterValidator(check)


Currency = Annotated[
    str,
    _code_in(CURRENCIES, "currency", "must be an ISO 4217 currency code, like USD"),
    WithJsonSchema(any_case(CURRENCIES, "ISO 4217 currency code, any case", "EUR")),
]
Country = Annotated[
    str,
    _code_in(COUNTRIES, "country", "must be an ISO 3166-1 alpha-2 country code, like DE"),
    WithJsonSchema(any_case(COUNTRIES, "ISO 3166-1 alpha-2 country code, any case", "DE")),
]

# --- timestamps -------------------------------------------------------------
# pydantic alone would also take unix numbers and offset-less strings. Digits past
# microseconds are accepted (Go sends nanoseconds) and truncated by pydantic.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"  # date, time
    r"(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"  # fraction, offset
)


def _timestamp(value: object, handler: ValidatorFunctionWrapHandler) -> datetime:
    """Parse an RFC 3339 timestamp with an offset into UTC within EARLIEST..LATEST."""
    if not isinstance(value, datetime) and not (
        isinstance(value, str) and _RFC3339.fullmatch(value)
    ):
        raise PydanticCustomError(
            "timestamp_format",
            "must be an RFC 3339 timestamp with an offset, like 2024-05-01T12:00:00Z",
        )
    parsed: datetime = handler(value)
    try:
        utc: datetime | None = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        utc = None
    # The bounds keep arithmetic (skew correction, silence windows) from overflowing.
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise PydanticCustomError("timestamp_range", "must be between 1970 and 9999 (UTC)")
    return utc


Timestamp = Annotated[AwareDatetime, WrapValidator(_timestamp), WithJsonSchema(TIMESTAMP)]

# --- numbers ----------------------------------------------------------------
# Python validators: a union of constrained types would report one error per
# member; these give one clear error, located at the key.
TraitScalar: TypeAlias = str | int | float | bool


def _trait_value(value: object) -> TraitScalar:
    """Accept a string (<= 1024 characters), int64, finite float or bool trait value."""
    if isinstance(value, str):
        if len(value) > MAX_TRAIT_CHARS:
            raise PydanticCustomError("trait_too_long", "must be at most 1024 characters")
        if not _storable(value):
            raise PydanticCustomError("trait_text", "must not contain NUL or lone surrogates")
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise PydanticCustomError("trait_int", "must fit in 64 bits (int64)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("trait_float", "must be a finite number")
        return value
    raise PydanticCustomError(
        "trait_type", "must be a string, number or boolean; not null, an object or a list"
    )


def _counter(value: object) -> int | float:
    """Accept a non-negative int64 or non-negative finite float counter (not bool)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX:
        return value
    if isinstance(value, float) and 0 <= value < math.inf:  # NaN fails both comparisons
        return value
    raise PydanticCustomError("counter", "must be a non-negative integer (int64) or finite number")


TraitValue = Annotated[
    TraitScalar,
    PlainValidator(_trait_value),
    WithJsonSchema(
        {"anyOf": [text(MAX_TRAIT_CHARS), int64(), {"type": "number"}, {"type": "boolean"}]}
    ),
]
_COUNTER_SCHEMA: Final = {"anyOf": [int64(minimum=0), {"type": "number", "minimum": 0}]}
Counter = Annotated[int | float, PlainValidator(_counter), WithJsonSchema(_COUNTER_SCHEMA)]


def _integral(value: object) -> object:
    # JSON has one number type: 3.0 is the integer 3 (as JSON Schema's "integer" says).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY), BeforeValidator(_integral)]
Usage = Annotated[
    dict[Key, Counter],
    Field(max_length=MAX_COUNTERS),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_COUNTERS,
            "propertyNames": key(64),
            "additionalProperties": _COUNTER_SCHEMA,
            "description": "non-negative cumulative counters",
        }
    ),
]

# --- properties -------------------------------------------------------------


def _find_unstorable(tree: object) -> tuple[str, str] | None:
    """Return (path, reason) for the first value of a JSON tree SQL cannot store exactly."""
    stack: list[tuple[str, object]] = [("", tree)]
    while stack:  # iterative: nesting depth is the client's choice
        path, node = stack.pop()
        prefix = f"{path}." if path else ""
        if isinstance(node, str):
            if not _storable(node):
                return path, "strings must not contain NUL or lone surrogates"
        elif node is None or isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if not INT64_MIN <= node <= INT64_MAX:
                return path, "integers must fit in 64 bits"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return path, "numbers must be finite"
        elif isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str) or not _storable(key):
                    return f"{prefix}{key}", "keys must be strings without NUL or lone surrogates"
                stack.append((f"{prefix}{key}", item))
        elif isinstance(node, list):
            stack.extend((f"{prefix}{index}", item) for index, item in enumerate(node))
        else:
            return path, f"{type(node).__name__} is not a JSON value"
    return None


def _check_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Keep free-form properties only if storable and at most MAX_PROPERTIES_BYTES."""
    bad = _find_unstorable(properties)
    if bad is not None:
        # error_list() appends ctx["path"] to the field, e.g. properties.cart.0.sku.
        # pydantic cannot render a lone surrogate in an error's context: escape it.
        path = bad[0][:_MAX_FIELD_CHARS].encode(errors="backslashreplace").decode()
        raise PydanticCustomError("property", "{path}: {reason}", {"path": path, "reason": bad[1]})
    try:
        size = len(orjson.dumps(properties))
    except orjson.JSONEncodeError as exc:  # nested deeper than orjson's limit
        raise PydanticCustomError(
            "properties_json", "not serialisable: {why}", {"why": str(exc)}
        ) from exc
    if size > MAX_PROPERTIES_BYTES:
        raise PydanticCustomError(
            "properties_too_large",
            "is {size} bytes as compact JSON; at most {limit} are allowed",
            {"size": size, "limit": MAX_PROPERTIES_BYTES},
        )
    return properties


_NoNul = Annotated[str, StringConstraints(pattern=_TEXT_PATTERN)]
# What _check_properties lets through, as a type: for the OpenAPI document only.
JsonValue = TypeAliasType(
    "JsonValue",
    "_NoNul | Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | float | bool"
    " | list[JsonValue] | dict[_NoNul, JsonValue] | None",
)
Properties = Annotated[
    dict[str, Any],
    AfterValidator(_check_properties),
    DocumentedAs(dict[_NoNul, JsonValue]),
    Field(description="free-form, at most 8 KiB as compact JSON; kept, not interpreted"),
]

# --- models -----------------------------------------------------------------
# model_config is spelled out per class (not shared through a variable) so that
# the pydantic mypy plugin sees frozen=True.


def _document_traits(schema: dict[str, Any]) -> None:
    """A trait is left out, never null; at most MAX_TRAITS, keys as for any map."""
    for prop in schema["properties"].values():
        prop.pop("default", None)
        prop.update(*(b for b in prop.pop("anyOf", []) if b.get("type") != "null"))
    schema["maxProperties"] = MAX_TRAITS
    schema["propertyNames"] = key(64)


class Traits(BaseModel):
    """Identify traits: four known keys plus flat string/number/bool values, no nulls."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        allow_inf_nan=False,
        hide_input_in_errors=True,
        json_schema_extra=_document_traits,
    )
    __pydantic_extra__: dict[Key, TraitValue] = Field(init=False)

    email: Email | None = None
    name: Label | None = None
    company: Label | None = None
    country: Country | None = None

    @model_validator(mode="before")
    @classmethod
    def _at_most_max_traits(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_TRAITS:
            raise PydanticCustomError(
                "too_many_traits", "at most {limit} traits", {"limit": MAX_TRAITS}
            )
        return data

    @field_validator("email", "name", "company", "country", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Consistent with other traits: a trait has a value or is left out.
        if value is None:
            raise PydanticCustomError("trait_value", "must not be null; leave the trait out")
        return value


def _json_size(data: dict[str, Any]) -> int:
    """Compact JSON length of an input mapping, or 0 if it cannot be encoded."""
    try:
        return len(orjson.dumps(data, default=str))
    except orjson.JSONEncodeError:
        # Lone surrogates or absurd nesting: the field validators reject those with a location.
        return 0


class BaseEvent(BaseModel):
    """Fields every event has; ``None`` in an optional field means it was left out."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=False,
        allow_inf_nan=False,
        hide_input_in_errors=True,  # str(ValidationError) may be logged; inputs hold PII
    )

    type: str
    event_id: Identifier
    occurred_at: Timestamp
    sent_at: Timestamp | None = None
    customer_id: Identifier | None = None
    properties: Properties | None = None

    @model_validator(mode="before")
    @classmethod
    def _at_most_max_event_bytes(cls, data: Any, info: ValidationInfo) -> Any:
        # Measured on the parsed input as compact JSON, so a single event, a batch
        # member and an NDJSON line count alike, however the client formatted them.
        if isinstance(data, dict) and not (info.context and info.context.get(SIZE_CHECKED)):
            size = _json_size(data)
            if size > MAX_EVENT_BYTES:
                raise PydanticCustomError(
                    "event_too_large",
                    "the event is {size} bytes as compact JSON; at most {limit} are allowed",
                    {"size": size, "limit": MAX_EVENT_BYTES},
                )
        return data


class Identify(BaseEvent):
    """Who a customer is."""

    type: Literal["identify"] = "identify"
    customer_id: Identifier
    traits: Traits | None = None


class Purchase(BaseEvent):
    """A customer bought a product; the amount is exact and kept per currency."""

    type: Literal["purchase"] = "purchase"
    customer_id: Identifier
    order_id: Identifier
    product_id: Identifier
    amount: Amount
    currency: Currency
    quantity: Quantity = 1


class Install(BaseEvent):
    """A product was installed by a customer."""

    type: Literal["install"] = "install"
    customer_id: Identifier
    installation_id: Identifier
    product_id: Identifier
    version: Identifier
    platform: Platform | None = None


class Heartbeat(BaseEvent):
    """An installation is in use; ``usage`` holds cumulative counters."""

    type: Literal["heartbeat"] = "heartbeat"
    installation_id: Identifier
    product_id: Identifier | None = None
    version: Identifier | None = None
    platform: Platform | None = None
    usage: Usage | None = None


class Uninstall(BaseEvent):
    """An installation was removed."""

    type: Literal["uninstall"] = "uninstall"
    installation_id: Identifier


Event: TypeAlias = Annotated[
    Identify | Purchase | Install | Heartbeat | Uninstall, Field(discriminator="type")
]
EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(
    Event, config=ConfigDict(hide_input_in_errors=True)
)

# --- errors -----------------------------------------------------------------


def error_list(exc: ValidationError) -> list[dict[str, str]]:
    """Turn a ValidationError into [{"field": "traits.country", "message": "..."}] for clients."""
    return [_describe(error) for error in exc.errors(include_url=False, include_input=False)]


def _describe(error: ErrorDetails) -> dict[str, str]:
    """One client-facing error: the dotted field path and a message that echoes no input."""
    loc = [str(part) for part in error["loc"]]
    if loc and loc[0] in EVENT_TYPES:
        del loc[0]  # the union's tag, not a field the client wrote
    ctx = error.get("ctx", {})
    message = error["msg"]
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc, message = ["type"], "must be one of " + ", ".join(EVENT_TYPES)
    elif error["type"] == "string_pattern_mismatch":
        message = _PATTERN_MESSAGES.get(ctx.get("pattern", ""), message)
    elif "path" in ctx and "reason" in ctx:
        loc.append(ctx["path"])
        message = ctx["reason"]
    field = ".".join(loc)
    if len(field) > _MAX_FIELD_CHARS:  # keys in the path are client input
        field = field[:_MAX_FIELD_CHARS] + "…"
    return {"field": field, "message": message[:_MAX_MESSAGE_CHARS]}
