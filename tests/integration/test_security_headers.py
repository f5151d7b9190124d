"""Every route of both services answers with the security headers, and no page loads a CDN.

The routes are walked from the apps themselves (``iter_route_contexts``), so a route added
later is covered. Found by attacking a running stack: ``/docs`` and ``/redoc`` loaded
swagger-ui and redoc from a CDN, without integrity checks or a Content-Security-Policy,
on the origin whose local storage holds the read key; and no answer said not to be
framed, sniffed, stored or to send a referrer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_ingest.app import create_app as create_ingest
from basewatch_ingest.settings import Settings as IngestSettings
from tests.support.keys import INGEST_AUTH, READ_AUTH
from tests.support.services import projector_app, serve

HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
CDN = re.compile(rb"https?://")


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, path parameters filled in."""
    return sorted(
        (method, re.sub(r"\{[^}]+\}", "x", route.path))
        for route in iter_route_contexts(app.routes)
        if route.path
        for method in route.methods or ()
        if method != "HEAD"
    )


def assert_secured(response: httpx.Response, what: str) -> None:
    """The headers every answer carries; no store for anything that may be personal."""
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (what, name, response.headers)
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy, (what, policy)
    assert "default-src 'none'" in policy, (what, policy)
    path = what.split()[1]
    if path != "/" and not path.startswith("/static/"):  # the page's files: revalidated
        assert response.headers.get("cache-control") == "no-store", (what, response.headers)
    if response.headers.get("content-type", "").startswith("text/html"):
        assert not CDN.search(response.content), f"{what} names another origin"


@pytest.fixture
async def projector(migrated: AsyncEngine) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The projector app reading a migrated (empty) database."""
    app = projector_app(migrated)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield app, client


async def test_every_projector_route_is_secured(
    projector: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = projector
    walked = routes(app)
    assert ("GET", "/v1/customers/x") in walked and ("GET", "/") in walked
    for method, path in walked:
        for headers in (READ_AUTH, INGEST_AUTH, {}):  # answered, forbidden, unauthorized
            response = await client.request(method, path, headers=headers)
            assert response.status_code < 500, (method, path, response.text)
            assert_secured(response, f"{method} {path}")


async def test_every_ingest_route_is_secured(ingest_settings: IngestSettings) -> None:
    app = create_ingest(ingest_settings)
    walked = routes(app)
    assert ("POST", "/v1/events") in walked
    async with serve(app) as client:
        for method, path in walked:
            for headers in (INGEST_AUTH, READ_AUTH, {}):
                response = await client.request(method, path, headers=headers, json={})
                assert response.status_code < 500, (method, path, response.text)
                assert_secured(response, f"{method} {path}")


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_no_api_documents_from_a_cdn_by_default(
    projector: tuple[FastAPI, httpx.AsyncClient], path: str
) -> None:
    _, client = projector
    response = await client.get(path)
    assert response.status_code == 404
    assert_secured(response, f"GET {path}")
    assert (await client.get("/openapi.json")).status_code == 200  # tools still get it


async def test_the_api_documents_when_asked_for_load_from_the_cdn_only(
    migrated: AsyncEngine,
) -> None:
    app = projector_app(migrated, api_docs=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        policy = docs.headers["content-security-policy"]
        assert "script-src https://cdn.jsdelivr.net 'unsafe-inline';" in policy
        assert "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
        assert (await client.get("/redoc")).status_code == 404
