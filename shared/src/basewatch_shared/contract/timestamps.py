"""Timestamps: RFC 3339 with an offset, read into UTC between 1970 and 9999.

pydantic alone would also take unix numbers and offset-less strings. Digits past
microseconds are accepted (Go sends nanoseconds) and truncated by pydantic.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from pydantic import AwareDatetime, ValidatorFunctionWrapHandler, WithJsonSchema, WrapValidator
from pydantic_core import PydanticCustomError

from basewatch_shared.contract.jsonschema import TIMESTAMP

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime.max.replace(tzinfo=UTC)

_RFC3339: Final = re.compile(
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
    utc = in_utc(handler(value))
    if utc is None:
        raise PydanticCustomError("timestamp_range", "must be between 1970 and 9999 (UTC)")
    return utc


def in_utc(moment: datetime) -> datetime | None:
    """The aware ``moment`` in UTC, or None when that is outside EARLIEST..LATEST."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is in year 10000 in UTC
        return None
    # The bounds keep arithmetic (skew correction, silence windows) from overflowing.
    return utc if EARLIEST <= utc <= LATEST else None


def skew_corrected(occurred_at: datetime, sent_at: datetime, received_at: datetime) -> datetime:
    """``occurred_at`` shifted by the client's clock skew, ``received_at - sent_at``.

    Clamped to EARLIEST..LATEST, so the corrected time still satisfies the contract.
    """
    return shifted(occurred_at, received_at - sent_at)


def shifted(moment: datetime, skew: timedelta) -> datetime:
    """``moment + skew``, clamped to EARLIEST..LATEST."""
    try:
        corrected = moment + skew
    except OverflowError:
        return LATEST if skew > timedelta(0) else EARLIEST
    # Two comparisons, not min(max()): this runs for every event that has sent_at.
    if corrected < EARLIEST:
        return EARLIEST
    return LATEST if corrected > LATEST else corrected


Timestamp = Annotated[AwareDatetime, WrapValidator(_timestamp), WithJsonSchema(TIMESTAMP)]
