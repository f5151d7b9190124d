"""Projector settings, built once at start-up from the environment and ``.env``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, model_validator

from basewatch_shared.settings import PRODUCE_TIMEOUT, CommonSettings, Duration

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.basewatch/basewatch.db"
MAX_DEFAULT_SWEEP = timedelta(seconds=30)


class Thresholds(BaseModel):
    """Silence thresholds for one product (override of the defaults)."""

    at_risk_after: Duration
    churn_after: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.churn_after <= self.at_risk_after:
            raise ValueError("churn_after must be longer than at_risk_after")
        return self


class Settings(CommonSettings):
    """Everything the projector reads (docs/configuration.md)."""

    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    # A PostgreSQL schema to use instead of the default search_path (tests use one each).
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    port: int = Field(default=8081, ge=0, le=65535)
    consumer_group: str = "basewatch-projector"
    at_risk_after: Duration = timedelta(days=3)
    churn_after: Duration = timedelta(days=14)
    loyal_min_orders: int = Field(default=2, ge=1)
    hold_churn_above: float = Field(default=0.5, gt=0, le=1)
    # Below this many transitions in one sweep, no share is "mass" silence.
    hold_min_transitions: int = Field(default=10, ge=1)
    # Per product: {"product-id": {"at_risk_after": "1d", "churn_after": "7d"}} (JSON).
    product_thresholds: dict[str, Thresholds] = Field(default_factory=dict)
    # Unset: a tenth of the shortest at_risk_after, at most 30 s (see ``sweep_every``).
    sweep_interval: Duration | None = None
    # The longest ingest may take from a request's receipt to the broker's acknowledgement
    # (ingest answers 503 after BASEWATCH_PRODUCE_TIMEOUT): a caught-up partition's clock
    # stays this far behind the wall clock, for records received but not yet in the log.
    ingest_delay: Duration = PRODUCE_TIMEOUT
    batch_max_records: int = Field(default=5000, ge=1, le=100_000)
    # How many installation states the consume loop keeps to fold without reading
    # them first (projection/known.py); 0: read every row. Bounds the memory it takes
    # (bench.projector at 100,000 installations: 100,000 held gave 7,900 and 8,100
    # events/s while applying, peak RSS 378 and 381 MB; 50,000 gave 6,600, 374 MB).
    state_cache_installations: int = Field(default=100_000, ge=0)
    # How long the group waits for a silent member before moving its partitions.
    consumer_session_timeout: Duration = timedelta(seconds=10)
    # How often the history of the bases is sampled (GET /v1/history); boundaries are
    # multiples of it since the Unix epoch, so every instance agrees on them.
    history_interval: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.churn_after <= self.at_risk_after:
            raise ValueError("BASEWATCH_CHURN_AFTER must be longer than BASEWATCH_AT_RISK_AFTER")
        return self

    @property
    def sweep_every(self) -> timedelta:
        """How often the churn sweep runs: the setting, or by default a tenth of the
        shortest at_risk_after (of any product), capped at 30 s: thresholds of seconds
        give signals within about a second without a third setting."""
        if self.sweep_interval is not None:
            return self.sweep_interval
        shortest = min(
            [self.at_risk_after, *(t.at_risk_after for t in self.product_thresholds.values())]
        )
        return min(shortest / 10, MAX_DEFAULT_SWEEP)

    @model_validator(mode="after")
    def _history_interval_whole_seconds(self) -> Settings:
        seconds = self.history_interval.total_seconds()
        if seconds < 1 or seconds != int(seconds):
            raise ValueError("BASEWATCH_HISTORY_INTERVAL must be a whole number of seconds")
        return self
