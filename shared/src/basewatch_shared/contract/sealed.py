"""Personal fields sealed in a record: AES-256-GCM under the customer's data key.

A customer event's ``traits`` and ``properties`` travel as one field, ``sealed``:
``"<kid>:<base64 of nonce + ciphertext>"``, the ciphertext of their compact JSON (keys
sorted), bound to ``customer_id`` and ``event_id`` as associated data, so that it opens
in no other record. The rest of the record stays in clear (docs/erasure.md). Without
the key (erased, docs/erasure.md) it opens to nothing: the record is read without its
personal fields.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Final, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED: Final = "sealed"
PERSONAL: Final = ("properties", "traits")
_NONCE_BYTES: Final = 12


class SealError(ValueError):
    """A sealed field that is malformed or does not open with its key (tampered)."""


class SealingKeys(Protocol):
    """Where a writer finds a customer's key for sealing (docs/erasure.md)."""

    def current(self, customer_id: str) -> tuple[str, AESGCM] | None:
        """The customer's key and its kid; None if they have none (yet, or erased)."""

    def is_erased(self, customer_id: str) -> bool:
        """True once the customer is erased: their records carry no personal field."""


class KeyMissing(LookupError):
    """A customer with no key yet: the writer must mint one before sealing."""

    def __init__(self, customer_id: str) -> None:
        super().__init__("the customer has no data key yet")
        self.customer_id = customer_id


class DataKeys(Protocol):
    """Where a reader finds data keys: the key of ``kid``, or None once it is erased."""

    def cipher(self, customer_id: str, kid: str) -> AESGCM | None:
        """The customer's key ``kid``; None when it was erased (may raise if not known yet)."""


def _aad(customer_id: str, event_id: str) -> bytes:
    return f"{customer_id}\x00{event_id}".encode()


def protect(fields: dict[str, Any], keys: SealingKeys | None) -> None:
    """Seal (in place) the personal fields of a record naming a customer; drop them if the
    customer is erased. ``keys`` None: no sealing (records for tests and tools only)."""
    customer_id = fields.get("customer_id")
    if keys is None or customer_id is None or not ("traits" in fields or "properties" in fields):
        return
    found = keys.current(customer_id)
    if found is not None:
        seal(fields, *found)
    elif keys.is_erased(customer_id):
        withhold(fields)
    else:
        raise KeyMissing(customer_id)


def seal(fields: dict[str, Any], kid: str, cipher: AESGCM) -> None:
    """Replace the personal fields of a record's ``fields`` (in place) by ``sealed``."""
    # Spelled out, not a loop over PERSONAL: this runs for every event naming a customer,
    # and the comprehension's frame was a fifth of its time.
    if "traits" in fields:
        personal = {"traits": fields.pop("traits")}
        if "properties" in fields:
            personal["properties"] = fields.pop("properties")
    elif "properties" in fields:
        personal = {"properties": fields.pop("properties")}
    else:
        return
    nonce = os.urandom(_NONCE_BYTES)
    plain = orjson.dumps(personal, option=orjson.OPT_SORT_KEYS)
    sealed = cipher.encrypt(nonce, plain, _aad(fields["customer_id"], fields["event_id"]))
    fields[SEALED] = kid + ":" + binascii.b2a_base64(nonce + sealed, newline=False).decode()


def withhold(fields: dict[str, Any]) -> None:
    """Drop the personal fields (in place): the record of an erased customer has none."""
    for name in PERSONAL:
        fields.pop(name, None)


def unseal(data: dict[str, Any], keys: DataKeys) -> bool:
    """Put the personal fields of ``sealed`` back into ``data``; False when the key is gone.

    SealError when the field is malformed or the ciphertext was altered.
    """
    text = data.pop(SEALED)
    if not isinstance(text, str) or ":" not in text:
        raise SealError("sealed: not kid:ciphertext")
    kid, _, encoded = text.partition(":")
    customer_id, event_id = data.get("customer_id"), data.get("event_id")
    if not isinstance(customer_id, str) or not isinstance(event_id, str):
        raise SealError("sealed: a sealed record names its customer_id and event_id")
    cipher = keys.cipher(customer_id, kid)
    if cipher is None:
        return False
    try:
        raw = base64.b64decode(encoded, validate=True)
        plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(customer_id, event_id))
        personal = orjson.loads(plain)
    except (ValueError, InvalidTag) as exc:
        raise SealError("sealed: does not open with its key") from exc
    if not isinstance(personal, dict) or not set(personal) <= set(PERSONAL):
        raise SealError("sealed: holds other than traits and properties")
    data.update(personal)
    return True
