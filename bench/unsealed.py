"""Ingest with its sealing taken out, for ``bench.ingest`` only: ``python -m bench.unsealed``.

The peer that prices sealing (docs/erasure.md): the same ``basewatch ingest`` in the
same run, except that no event's personal fields are sealed (so no customer's key is
minted either): the difference between the two is what sealing costs. It exists to be
measured: ingest itself has no way to turn sealing off.
"""

from __future__ import annotations

import sys
from typing import Any

from basewatch_ingest import api
from basewatch_ingest.intake import Intake, take
from basewatch_shared.cli import main


def _take_unsealed(raw_events: list[Any], **options: Any) -> Intake:
    return take(raw_events, **(options | {"keys": None}))


def unseal_ingest() -> None:
    """Take sealing out of this process's ingest: records in clear, no key minted."""
    api.take = _take_unsealed  # type: ignore[attr-defined]  # the route reads it per call


if __name__ == "__main__":
    unseal_ingest()
    main(["ingest", *sys.argv[1:]])
