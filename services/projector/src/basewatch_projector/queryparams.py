"""The read API's query parameters are the documented ones, each given once.

Starlette keeps every value of a repeated parameter and FastAPI silently uses the last,
so ``?customer_id=a&customer_id=b`` would answer for ``b`` alone while the client may
have meant both (found by schemathesis). And FastAPI ignores a parameter it does not
know, so a misspelt filter (``?segmnet=loyal``) would answer with every customer. Both
are a 422 instead, as an unknown field of an event is.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from basewatch_shared.problems import ProblemError


def _query_names(dependant: Dependant) -> Iterator[str]:
    yield from (param.alias for param in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


async def single_valued(request: Request) -> None:
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
