"""How fresh the read API's data is: a response header with the projection's lag."""

from __future__ import annotations

import math
from typing import Any, Final

from fastapi import Request, Response

LAG_HEADER: Final = "Basewatch-Data-Lag-Seconds"
LAG_HEADER_DOC: Final[dict[str, Any]] = {
    LAG_HEADER: {
        "description": "how far the tables are behind the events on the broker, in seconds "
        "(the slowest partition); absent while unknown",
        "schema": {"type": "string", "pattern": r"^[0-9]+\.[0-9]{3}$", "example": "0.250"},
    }
}


async def data_lag(request: Request, response: Response) -> None:
    """Set the lag header from ``app.state.freshness()`` when the app provides one."""
    # async: a plain def dependency would cost a hop through the thread pool per request.
    freshness = getattr(request.app.state, "freshness", None)
    lag = freshness() if freshness is not None else None
    if lag is not None and math.isfinite(lag):
        response.headers[LAG_HEADER] = f"{max(lag, 0.0):.3f}"
