"""The contract's numbers (docs/events.md): sizes and counts an event may reach."""

from typing import Final, LiteralString

from pydantic_core import PydanticCustomError

MAX_EVENT_BYTES: Final = 32 * 1024
MAX_PROPERTIES_BYTES: Final = 8 * 1024
MAX_TRAITS: Final = 100
MAX_TRAIT_CHARS: Final = 1024
MAX_COUNTERS: Final = 64
MAX_QUANTITY: Final = 1_000_000
# What SQL stores exactly (BIGINT): integers in traits, properties and counters.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
# Error paths hold client-chosen keys: bound what an error message echoes.
MAX_FIELD_CHARS: Final = 200
MAX_MESSAGE_CHARS: Final = 300


def too_large(
    error: LiteralString, subject: LiteralString, size: int, limit: int
) -> PydanticCustomError:
    """The validation error for ``subject`` at ``size`` bytes of JSON, over its ``limit``."""
    return PydanticCustomError(
        error,
        subject + " {size} bytes as compact JSON; at most {limit} are allowed",
        {"size": size, "limit": limit},
    )
