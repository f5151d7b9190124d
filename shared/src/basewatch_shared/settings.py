"""Settings helpers shared by both services: durations, API keys, the common fields.

Each service builds its own ``Settings`` subclass once, at start-up (never at import),
from the environment and a ``.env`` file (docs/configuration.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from basewatch_shared.keyring.master import Master, parse_master_key

# How long ingest waits for the broker before it answers 503 (its BASEWATCH_PRODUCE_TIMEOUT
# default): the projector's default for the longest time from receipt to the log.
PRODUCE_TIMEOUT = timedelta(seconds=5)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Parse ``30s``, ``15m``, ``3d``, ``1h30m`` or a number of seconds into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(rf"(?:{_DURATION_PART.pattern})+", text):
            seconds = sum(
                float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text)
            )
        else:
            raise ValueError("not a duration (write it like 30s, 15m, 3d or 1h30m)")
    else:
        raise ValueError("not a duration (write it like 30s, 15m, 3d or 1h30m)")
    # The value is not repeated: a setting's error is logged, and may be read by others.
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Scope(StrEnum):
    """What an API key may do."""

    INGEST = "ingest"
    READ = "read"
    ERASE = "erase"  # erasure requests (docs/erasure.md): given to few, on purpose


class ApiKey(BaseModel):
    """One configured key: its name (the events' ``source``), scopes and SHA-256 digest."""

    model_config = ConfigDict(frozen=True)

    name: str
    scopes: frozenset[Scope]
    digest: bytes = Field(repr=False)

    def matches(self, digest: bytes) -> bool:
        """Compare in constant time, so response timing leaks nothing about the key."""
        return hmac.compare_digest(self.digest, digest)


def hash_key(secret: str) -> str:
    """Return the hex SHA-256 of a key, as ``BASEWATCH_API_KEYS`` expects it."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_api_keys(value: Any) -> tuple[ApiKey, ...]:
    """Parse ``name:scopes:sha256,...`` (scopes: ingest, read, erase, joined with +)."""
    if isinstance(value, tuple | list):
        return tuple(value)
    if value is None or not str(value).strip():
        return ()
    keys = [_parse_api_key(entry.strip()) for entry in str(value).split(",") if entry.strip()]
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        # Rotation is two keys valid at once; give them distinct names (app-2026a, app-2026b).
        raise ValueError("API key names must be unique")
    return tuple(keys)


def _parse_api_key(entry: str) -> ApiKey:
    """One ``name:scopes:sha256`` entry."""
    parts = entry.split(":")
    if len(parts) != 3:
        raise ValueError(f"API key entry {entry.split(':')[0]!r} is not name:scopes:sha256")
    name, scopes, digest = (p.strip() for p in parts)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise ValueError(f"API key name {name!r}: use 1-64 letters, digits, . _ -")
    try:
        scope_set = frozenset(Scope(s) for s in scopes.split("+"))
    except ValueError:
        raise ValueError(
            f"API key {name!r}: scopes must be ingest, read or erase, joined with +"
        ) from None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise ValueError(f"API key {name!r}: the third part must be a hex SHA-256")
    return ApiKey(name=name, scopes=scope_set, digest=bytes.fromhex(digest))


ApiKeys = Annotated[tuple[ApiKey, ...], NoDecode, BeforeValidator(parse_api_keys)]


# host, IPv4 or [IPv6], and a port (the Kafka client's default port when none is given)
_BROKER_ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{1,5})?")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class MissingKeys(ValueError):
    """No API key is configured: a service refuses to start."""


class CommonSettings(BaseSettings):
    """What both services read: the broker, the topics, the keys, logging."""

    model_config = SettingsConfigDict(
        env_prefix="BASEWATCH_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    # Apache Kafka supports idempotent producers; the embedded broker does not.
    kafka_idempotence: bool = True
    topic_prefix: str = Field(default="basewatch.", pattern=r"^[A-Za-z0-9._-]{0,200}$")
    api_keys: ApiKeys = ()
    # Wraps the customers' data keys at rest (docs/erasure.md): 32 bytes, base64.
    master_key: SecretStr | None = None
    host: str = "127.0.0.1"
    log_level: str = "INFO"
    # What one client may hold of the server (connection_limits.py): 431, 408 or 503 beyond.
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    max_headers: int = Field(default=100, ge=10, le=10_000)
    header_timeout: Duration = timedelta(seconds=10)
    body_timeout: Duration = timedelta(seconds=30)
    max_connections: int = Field(default=1000, ge=1)
    # /docs loads Swagger UI from a CDN (headers.py): only where that is acceptable.
    api_docs: bool = False

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        # The Kafka client would fail on these only when it connects, with a traceback.
        entries = [entry.strip() for entry in value.split(",")]
        if not value.strip() or not all(_BROKER_ADDRESS.fullmatch(e) for e in entries):
            raise ValueError("must be host:port entries separated by commas, like kafka:9092")
        return ",".join(entries)

    @field_validator("master_key")
    @classmethod
    def _master_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_master_key(value.get_secret_value())
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    def require_keys(self) -> None:
        """Refuse to start without keys: an open ingest or read API is never a default."""
        if not self.api_keys:
            raise MissingKeys(
                "no API keys configured: set BASEWATCH_API_KEYS=name:scopes:sha256 "
                "(sha256 = hex SHA-256 of the key; `basewatch keys new NAME SCOPES` makes one)"
            )
        self.master()

    def master(self) -> Master:
        """The master key that wraps data keys; MissingKeys when none is configured."""
        if self.master_key is None:
            raise MissingKeys(
                "no master key configured: set BASEWATCH_MASTER_KEY to 32 random bytes, "
                "base64 (`openssl rand -base64 32`); keep it out of every backup of Kafka"
            )
        return Master(parse_master_key(self.master_key.get_secret_value()))
