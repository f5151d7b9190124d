"""The read API's edge holds for every ``/v1`` route, whichever module declares it.

The routes are walked from the app itself, so a route added later is covered without
touching this test. Found: ``GET /v1/ops/lag?bogus=1`` answered 200 while every other
route answered 422 (its module declared the edge itself, and left the check out).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.keys import INGEST_AUTH, READ_AUTH
from tests.support.services import projector_app

PROBLEM = "application/problem+json"


def read_routes(app: FastAPI) -> list[str]:
    """Every GET route under /v1, its path parameters filled in."""
    # Flattened: FastAPI keeps an included router as one entry of app.routes.
    return sorted(
        re.sub(r"\{[^}]+\}", "x", route.path)
        for route in iter_route_contexts(app.routes)
        if route.path and route.path.startswith("/v1/") and "GET" in (route.methods or ())
    )


@pytest.fixture
async def app(migrated: AsyncEngine) -> FastAPI:
    """The projector app without its lifespan, reading a migrated (empty) database."""
    return projector_app(migrated)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def test_the_walk_finds_every_resource(app: FastAPI) -> None:
    paths = read_routes(app)
    for expected in ("/v1/customers", "/v1/history", "/v1/meta", "/v1/ops/lag", "/v1/summary"):
        assert expected in paths


async def test_every_read_route_refuses_an_unknown_query_parameter(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for path in read_routes(app):
        response = await client.get(path, params={"bogus": "1"}, headers=READ_AUTH)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == PROBLEM, path
        fields = [error["field"] for error in response.json()["errors"]]
        assert "query.bogus" in fields, (path, fields)


async def test_every_read_route_needs_a_read_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    for path in read_routes(app):
        for headers, status in [({}, 401), (INGEST_AUTH, 403)]:
            response = await client.get(path, headers=headers)
            assert response.status_code == status, (path, headers, response.text)
            assert response.headers["content-type"] == PROBLEM, path


def test_every_read_route_documents_its_problems(app: FastAPI) -> None:
    document = app.openapi()
    for path in read_routes(app):
        template = next(p for p in document["paths"] if re.sub(r"\{[^}]+\}", "x", p) == path)
        responses = document["paths"][template]["get"]["responses"]
        for status in ("401", "403", "422"):
            assert PROBLEM in responses[status]["content"], (path, status)
