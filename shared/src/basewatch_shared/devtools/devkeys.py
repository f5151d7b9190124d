"""The public dev keys of ``basewatch dev``, and where they may be served: this machine only."""

from __future__ import annotations

import ipaddress

from pydantic import ValidationError

from basewatch_shared.settings import CommonSettings, hash_key

# Well-known keys for the local run only; production refuses to start without its own.
DEV_INGEST_KEY = "dev-ingest-key"
DEV_READ_KEY = "dev-read-key"
DEV_ERASE_KEY = "dev-erase-key"  # `basewatch simulate` erases a few customers with it
DEV_KEYS = ",".join(
    [
        f"dev-app:ingest:{hash_key(DEV_INGEST_KEY)}",
        f"dev-reader:read:{hash_key(DEV_READ_KEY)}",
        f"dev-dpo:erase:{hash_key(DEV_ERASE_KEY)}",
    ]
)


def use_dev_keys_on_loopback_only(env: dict[str, str]) -> str | None:
    """Put the dev keys in ``env`` when no key is configured; or say why they may not be.

    The keys and the address are read as the services read them (the environment, then
    ``.env``): the public dev keys are for this machine alone, so they are refused with
    an address other than loopback, and keys configured in ``.env`` are kept.
    """
    try:
        settings = CommonSettings()
    except ValidationError as exc:
        error = exc.errors()[0]
        return f"invalid setting {'.'.join(map(str, error['loc']))}: {error['msg']}"
    if settings.api_keys:
        return None
    if not loopback(settings.host):
        return (
            f"BASEWATCH_HOST={settings.host} would serve the public dev keys to the "
            "network; listen on 127.0.0.1, or set BASEWATCH_API_KEYS to keys of your own"
        )
    env["BASEWATCH_API_KEYS"] = DEV_KEYS
    return None


def loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: localhost or a loopback address."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:  # a name other than localhost may resolve anywhere
        return False
