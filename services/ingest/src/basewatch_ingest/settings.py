"""Ingest settings, built once at start-up from the environment and ``.env``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from basewatch_ingest.intake import MAX_BATCH
from basewatch_shared.settings import PRODUCE_TIMEOUT, CommonSettings, Duration


class Settings(CommonSettings):
    """Everything ingest reads (docs/configuration.md)."""

    port: int = Field(default=8080, ge=0, le=65535)
    # How long a request may wait for the broker's acknowledgement before a 503.
    produce_timeout: Duration = PRODUCE_TIMEOUT
    # How long one attempt to connect the producer may take (at start and in the background).
    connect_timeout: Duration = timedelta(seconds=5)
    # How long /readyz waits for the broker's metadata answer.
    readiness_timeout: Duration = timedelta(seconds=1)
    # Per key, counted in events (not requests): sustained events/s and the burst on top.
    rate_limit_events: float = Field(default=20_000, gt=0)
    rate_limit_burst: int = Field(default=40_000, ge=1)
    # occurred_at later than this past received_at (after skew correction) is refused.
    max_future: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _a_full_batch_fits_the_burst(self) -> Settings:
        # A bucket smaller than one batch would refuse a valid request forever.
        if self.rate_limit_burst < MAX_BATCH:
            raise ValueError(f"rate_limit_burst must be at least {MAX_BATCH} (one full batch)")
        return self
