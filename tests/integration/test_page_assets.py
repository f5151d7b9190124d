"""The built-in page's files as the running projector serves them (no browser).

The page must work offline: every file it loads comes from the package with the right
media type, uPlot is the vendored release its checksums name, and nothing it ships
points at another origin. The rest of the projector's HTTP surface is unchanged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.page import STATIC
from basewatch_projector.settings import Settings
from tests.support.databases import TestDatabase
from tests.support.keys import READ_AUTH
from tests.support.services import serve

VENDOR = STATIC / "vendor"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".LICENSE": "text/plain; charset=utf-8",
}
URL = re.compile(rb"https?://[^\s\"'<>)]*")
# The one URL the page's own files may name: the SVG namespace, an identifier never fetched.
SVG_NAMESPACE = b"http://www.w3.org/2000/svg"
# uPlot's licence header (its first line, a comment) names its home page; nothing else may.
UPLOT_BANNER = re.compile(rb"\A/\*! https://github\.com/leeoniya/uPlot \(v[0-9.]+\) \*/\n")


@pytest.fixture
def database(sqlite_db: TestDatabase) -> TestDatabase:
    """SQLite only: the page reads no table; one database is enough to start the app."""
    return sqlite_db


@pytest.fixture
async def projector(
    migrated: AsyncEngine, projector_settings: Callable[..., Settings]
) -> AsyncIterator[httpx.AsyncClient]:
    """The projector app with its lifespan running."""
    async with serve(create_app(projector_settings())) as client:
        yield client


def _referenced(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(static/[^"]+)"', html)


async def test_the_page_and_every_file_it_loads_are_served_with_their_media_types(
    projector: httpx.AsyncClient,
) -> None:
    page = await projector.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert page.content == (STATIC / "index.html").read_bytes()
    referenced = _referenced(page.text)
    assert set(referenced) == {
        "static/favicon.svg",
        "static/vendor/uPlot.min.css",
        "static/vendor/uPlot.iife.min.js",
        "static/page.css",
        "static/page.js",
        "static/vendor/uPlot.LICENSE",
    }
    for path in referenced:
        got = await projector.get(f"/{path}")
        assert got.status_code == 200, path
        assert got.headers["content-type"] == MEDIA_TYPES[Path(path).suffix], path
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.content == (STATIC / path.removeprefix("static/")).read_bytes(), path


async def test_an_unchanged_file_is_revalidated_with_a_304(projector: httpx.AsyncClient) -> None:
    for path in ("/", "/static/page.js"):
        first = await projector.get(path)
        again = await projector.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, path
        assert again.content == b""
        other = await projector.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200, path


@pytest.mark.parametrize(
    "path",
    [
        "/static/nothing.js",
        "/static/vendor/SHA256SUMS",  # not a page file, though it is in the directory
        "/static/vendor/README",
        "/static/../page.py",
        "/static/%2e%2e/page.py",
        "/static/index.html",  # the page lives at / only
    ],
)
async def test_only_the_page_files_are_served(projector: httpx.AsyncClient, path: str) -> None:
    got = await projector.get(path)
    assert got.status_code == 404
    assert got.headers["content-type"] == "application/problem+json"


def test_the_vendored_uplot_matches_its_checksums() -> None:
    sums = (VENDOR / "SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in sums:
        digest, name = line.split()
        listed[name] = digest
    assert {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"} <= listed.keys()
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_nothing_the_page_ships_names_another_origin() -> None:
    files = [p for p in STATIC.rglob("*") if p.suffix in {".html", ".js", ".css", ".svg"}]
    assert {p.name for p in files} >= {"index.html", "page.js", "page.css", "uPlot.iife.min.js"}
    for path in files:
        body = path.read_bytes()
        if path.name == "uPlot.iife.min.js":
            banner = UPLOT_BANNER.match(body)
            assert banner, "uPlot's first line is no longer its licence banner"
            body = body[banner.end() :]
        urls = [u for u in URL.findall(body) if u != SVG_NAMESPACE]
        assert urls == [], f"{path.relative_to(STATIC)} names {urls}"
        # No web fonts, no imports: a url() or @import could only load from elsewhere.
        assert b"@import" not in body and b"@font-face" not in body, path.name


async def test_the_rest_of_the_projector_is_unaffected(projector: httpx.AsyncClient) -> None:
    schema = (await projector.get("/openapi.json")).json()
    assert all(not p.startswith("/static") and p != "/" for p in schema["paths"]), schema["paths"]
    assert {"/v1/summary", "/v1/signals", "/healthz", "/readyz"} <= schema["paths"].keys()
    assert (await projector.get("/healthz")).status_code == 200
    assert (await projector.get("/metrics")).status_code == 200
    refused = await projector.get("/v1/summary")
    assert refused.status_code == 401  # the data still needs the key; only the files do not
    assert (await projector.get("/v1/summary", headers=READ_AUTH)).status_code == 200
