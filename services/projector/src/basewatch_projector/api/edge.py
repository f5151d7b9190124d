"""The read API's edge, declared once for every ``/v1`` route: the read key, the query
parameters each route knows (each given once), and the data-lag header.

Starlette keeps every value of a repeated parameter and FastAPI silently uses the last,
so ``?customer_id=a&customer_id=b`` would answer for ``b`` alone while the client may
have meant both (found by schemathesis). And FastAPI ignores a parameter it does not
know, so a misspelt filter (``?segmnet=loyal``) would answer with every customer. Both
are a 422 instead, as an unknown field of an event is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from basewatch_projector.api.deps import State, read_key
from basewatch_projector.api.problems import problem_doc
from basewatch_shared.problems import ProblemError

LAG_HEADER: Final = "Basewatch-Data-Lag-Seconds"
LAG_HEADER_DOC: Final[dict[str, Any]] = {
    LAG_HEADER: {
        "description": "how far the tables are behind the events on the broker, in seconds "
        "(the slowest partition); absent while unknown",
        "schema": {"type": "string", "pattern": r"^[0-9]+\.[0-9]{3}$", "example": "0.250"},
    }
}


def _query_names(dependant: Dependant) -> Iterator[str]:
    yield from (param.alias for param in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


async def known_parameters(request: Request) -> None:
    """Refuse a request with a query parameter its route does not know, or given twice (422)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    # A few names on one or two levels of dependencies: cheaper to walk than to cache.
    names = set(_query_names(route.dependant))
    given = request.query_params
    unknown = sorted({n for n in given if n not in names})
    repeated = sorted(n for n in names if len(given.getlist(n)) > 1)
    errors = [
        *(
            {"field": f"query.{n}", "message": f"unknown parameter; known: {sorted(names)}"}
            for n in unknown
        ),
        *({"field": f"query.{n}", "message": "given more than once"} for n in repeated),
    ]
    if errors:
        raise ProblemError(422, "Invalid request", errors=errors)


async def data_lag(state: State, response: Response) -> None:
    """Say in a header how far the tables are behind the broker, when that is known."""
    # async: a plain def dependency would cost a hop through the thread pool per request.
    lag = state.freshness()
    if lag is not None and math.isfinite(lag):
        response.headers[LAG_HEADER] = f"{max(lag, 0.0):.3f}"


def v1(*resources: APIRouter) -> APIRouter:
    """The ``/v1`` router: ``resources`` behind the edge, documented once."""
    router = APIRouter(
        prefix="/v1",
        dependencies=[Depends(read_key), Depends(known_parameters), Depends(data_lag)],
        responses={
            200: {"headers": LAG_HEADER_DOC},
            401: problem_doc("no API key, or an unknown one"),
            403: problem_doc("the key lacks the read scope"),
            422: problem_doc("a parameter is invalid or unknown; `errors` says which and why"),
        },
    )
    for resource in resources:
        router.include_router(resource)
    return router
