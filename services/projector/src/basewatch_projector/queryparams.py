"""Every query parameter of the read API is single-valued: given twice, it is refused.

Starlette keeps every value of a repeated parameter and FastAPI silently uses the last,
so ``?customer_id=a&customer_id=b`` would answer for ``b`` alone while the client may
have meant both. A 422 says so instead (found by schemathesis).
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
    """Refuse a request that repeats one of its route's query parameters (422)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    # A few names on one or two levels of dependencies: cheaper to walk than to cache.
    names = set(_query_names(route.dependant))
    repeated = sorted(n for n in names if len(request.query_params.getlist(n)) > 1)
    if repeated:
        errors = [{"field": f"query.{n}", "message": "given more than once"} for n in repeated]
        raise ProblemError(422, "Invalid request", errors=errors)
