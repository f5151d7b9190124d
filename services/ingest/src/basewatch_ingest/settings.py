"""Ingest settings, built once at start-up from the environment and ``.env``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from basewatch_shared.settings import CommonSettings, Duration


class Settings(CommonSettings):
    """Everything ingest reads (contract section 6)."""

    port: int = Field(default=8080, ge=0, le=65535)
    # How long a request may wait for the broker's acknowledgement before a 503.
    produce_timeout: Duration = timedelta(seconds=5)
    # Per key: sustained events per second and the burst allowed on top.
    rate_limit_events: float = Field(default=20_000, gt=0)
    rate_limit_burst: int = Field(default=40_000, ge=1)
    # occurred_at later than this past received_at (after skew correction) is refused.
    max_future: Duration = timedelta(hours=1)
