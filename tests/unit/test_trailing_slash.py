"""A path with a trailing slash is a 404 problem, never a redirect built from the Host header.

Starlette answered ``GET /v1/summary/`` with ``307 Location: http://<Host>/v1/summary``:
whoever set the Host header (a proxy that forwards it, a poisoned cache) chose where
clients were sent.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from basewatch_ingest.app import create_app as create_ingest
from basewatch_ingest.settings import Settings as IngestSettings
from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings

APPS = {
    "ingest": lambda: create_ingest(IngestSettings.model_validate({})),
    "projector": lambda: create_projector(ProjectorSettings.model_validate({})),
}


def slashed(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path + "/") of every route without path parameters."""
    return [
        (method, route.path + "/")
        for route in iter_route_contexts(app.routes)
        if route.path and "{" not in route.path and route.path != "/"
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


@pytest.mark.parametrize("service", APPS)
async def test_a_trailing_slash_is_a_404_whatever_the_host(service: str) -> None:
    app = APPS[service]()
    transport = httpx.ASGITransport(app=app)  # no lifespan: routing needs none
    async with httpx.AsyncClient(transport=transport, base_url="http://basewatch.test") as c:
        paths = slashed(app)
        assert ("GET", "/healthz/") in paths
        for method, path in paths:
            got = await c.request(method, path, headers={"Host": "attacker.example"})
            assert got.status_code == 404, (method, path, got.status_code)
            assert "location" not in got.headers, (method, path)
            assert got.headers["content-type"] == "application/problem+json"
