"""How much of its refusals an answer repeats: every refused event, a bounded number of errors.

An event can break many rules at once (a hundred bad traits), and a request holds up
to 1000 events: 883 KB of invalid events answered 6.15 MB of errors. Every refused event
keeps its entry (its index and event_id say what was not accepted), with at most
``MAX_ERRORS_PER_EVENT`` errors, and the answer at most ``MAX_ERRORS_PER_RESPONSE``;
``more_errors`` counts what an entry left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

MAX_ERRORS_PER_EVENT: Final = 10
MAX_ERRORS_PER_RESPONSE: Final = 200


def capped(rejected: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rejections as an answer shows them: errors cut to the caps, the cut counted."""
    budget = MAX_ERRORS_PER_RESPONSE
    shown = []
    for rejection in rejected:
        errors = rejection["errors"][: min(MAX_ERRORS_PER_EVENT, budget)]
        budget -= len(errors)
        left_out = len(rejection["errors"]) - len(errors)
        shown.append(
            {**rejection, "errors": errors, **({"more_errors": left_out} if left_out else {})}
        )
    return shown
