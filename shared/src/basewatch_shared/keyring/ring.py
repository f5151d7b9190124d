"""What the keys topic says, in memory: each customer's data keys, and who is erased.

Records on the keys topic (docs/erasure.md), all of one customer on one partition:

- ``<customer_id>/<kid>``: a data key wrapped by the master key; a tombstone destroys it;
- ``<customer_id>/erased``: the customer is erased; no key of theirs counts after it.

The first key of a customer on the log is the one every replica uses; a later one (a
replica that lost the race to mint) is kept only to open what it sealed, which is
nothing, and is tombstoned by its minter.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from basewatch_shared.keyring.master import Master

ERASED: Final = "erased"
ERASED_VALUE: Final = b"erased"


class KeyNotKnown(LookupError):
    """A kid this ring has not read (yet): the reader may be behind the keys topic."""


def record_key(customer_id: str, kid: str) -> bytes:
    """The keys topic's record key of a customer's key ``kid`` (or of ERASED)."""
    return f"{customer_id}/{kid}".encode()


class KeyRing:
    """Data keys by customer and kid, unwrapped once, held only in this process."""

    def __init__(self, master: Master) -> None:
        self._master = master
        self._ciphers: dict[tuple[str, str], AESGCM] = {}
        self._kids: dict[str, list[str]] = {}  # per customer, their live kids in log order
        self._erased: set[str] = set()

    def __repr__(self) -> str:
        return f"KeyRing({len(self._kids)} customers, {len(self._erased)} erased)"

    def apply(self, key: bytes, value: bytes | None) -> None:
        """Take one record of the keys topic into account, in log order."""
        customer_id, _, kid = key.decode().rpartition("/")
        if kid == ERASED:
            if value is not None:
                self._erase(customer_id)
            return
        if value is None:
            self._ciphers.pop((customer_id, kid), None)
            kids = self._kids.get(customer_id, [])
            if kid in kids:
                kids.remove(kid)
            return
        if customer_id in self._erased:
            return  # minted concurrently with the erasure, after it on the log: void
        if (customer_id, kid) in self._ciphers:
            return  # read again (a reader that restarted from the beginning)
        data_key = self._master.unwrap(value, key)
        self._ciphers[(customer_id, kid)] = AESGCM(data_key)
        self._kids.setdefault(customer_id, []).append(kid)

    def _erase(self, customer_id: str) -> None:
        self._erased.add(customer_id)
        for kid in self._kids.pop(customer_id, []):
            self._ciphers.pop((customer_id, kid), None)

    def current(self, customer_id: str) -> tuple[str, AESGCM] | None:
        """The customer's key for sealing (the first on the log), None if they have none."""
        kids = self._kids.get(customer_id)
        if not kids:
            return None
        return kids[0], self._ciphers[(customer_id, kids[0])]

    def kids(self, customer_id: str) -> list[str]:
        """Every live kid of the customer, in log order."""
        return list(self._kids.get(customer_id, ()))

    def is_erased(self, customer_id: str) -> bool:
        """True once the customer's erasure marker was read."""
        return customer_id in self._erased

    def cipher(self, customer_id: str, kid: str) -> AESGCM | None:
        """The key ``kid`` of the customer; None when erased; KeyNotKnown if not read yet."""
        found = self._ciphers.get((customer_id, kid))
        if found is not None or customer_id in self._erased:
            return found
        raise KeyNotKnown(kid)
