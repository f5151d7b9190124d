"""The master key: wraps data keys at rest, so a copy of the keys topic opens nothing alone."""

from __future__ import annotations

import base64
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES: Final = 32  # AES-256, for the master key and every data key
_NONCE_BYTES: Final = 12


class WrapError(ValueError):
    """A wrapped key that does not open with this master key (another one, or altered)."""


def new_master_key() -> str:
    """A fresh master key, as BASEWATCH_MASTER_KEY holds it (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def parse_master_key(text: str) -> bytes:
    """The 32 bytes of a master key setting; ValueError (without the value) if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise ValueError("must be base64 (`openssl rand -base64 32` makes one)") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"must be {KEY_BYTES} bytes, base64-encoded")
    return raw


class Master:
    """Wraps and unwraps data keys, each bound to its customer and kid."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        self._cipher = AESGCM(key)

    def __repr__(self) -> str:
        return "Master(<hidden>)"  # never the key, wherever the object is printed

    def wrap(self, data_key: bytes, name: bytes) -> bytes:
        """The data key encrypted under the master key, bound to ``name`` (customer/kid)."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, data_key, name)

    def unwrap(self, wrapped: bytes, name: bytes) -> bytes:
        """The data key of ``wrapped``; WrapError if it is not ours or not for ``name``."""
        try:
            key = self._cipher.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], name)
        except (InvalidTag, ValueError):
            raise WrapError("a data key does not open with the master key") from None
        if len(key) != KEY_BYTES:
            raise WrapError("a data key of the wrong length")
        return key
