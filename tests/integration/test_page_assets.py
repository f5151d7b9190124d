"""The built-in page's files as the running projector serves them (no browser).

The page must work offline: every file it loads, each ES module it imports among them,
comes from the package with the right media type; every file in ``static/`` is one the
page loads (or vendored), so no module hides unused; uPlot is the vendored release its
checksums name, and nothing it ships points at another origin. The rest of the
projector's HTTP surface is unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from basewatch_projector.api.page import STATIC
from basewatch_projector.app import create_app
from basewatch_shared.topics import create_topics
from tests.support.databases import sqlite_database
from tests.support.kafka import TEST_PARTITIONS, KafkaBackend, fresh_group, fresh_topics
from tests.support.keys import READ_AUTH
from tests.support.live import live
from tests.support.services import projector_settings_for

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
# Spelled out, not imported from page.py: a change to the policy is a change to this test.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
MODULE_SCRIPT = re.compile(r'<script type="module" src="([^"]+)"></script>')
# The specifier of each static import and re-export: the modules a module loads.
IMPORT = re.compile(
    r"""^(?:import\s*(?:[^;'"]*?\bfrom\s*)?|export\s*[^;'"]*?\bfrom\s*)(['"])(.+?)\1""", re.M
)


@pytest.fixture(scope="module")
def served(kafka_backend: KafkaBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The projector over HTTP, started once for the module (a start costs seconds): on
    SQLite, as the page reads no table and one database is enough to start it."""
    topics = fresh_topics()
    asyncio.run(create_topics(kafka_backend.bootstrap_servers, topics, TEST_PARTITIONS, 1))
    database = sqlite_database(tmp_path_factory.mktemp("page") / "basewatch.db")
    asyncio.run(database.migrate())
    settings = projector_settings_for(kafka_backend, topics, fresh_group(), database)
    with live(create_app(settings)) as base:
        yield base


@pytest.fixture
async def projector(served: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running projector."""
    async with httpx.AsyncClient(base_url=served) as client:
        yield client


def _referenced(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(static/[^"]+)"', html)


async def _modules(projector: httpx.AsyncClient) -> dict[str, list[str]]:
    """Each module the page loads, by its path below static/, with what it imports.

    Walked as the browser walks it: from the page's module scripts, each import
    resolved against the URL of the module that makes it and fetched from the projector.
    """
    origin = str(projector.base_url).rstrip("/")
    page = (await projector.get("/")).text
    todo = [urljoin(f"{origin}/", src) for src in MODULE_SCRIPT.findall(page)]
    modules: dict[str, list[str]] = {}
    while todo:
        url = todo.pop()
        assert url.startswith(f"{origin}/static/"), f"a module from elsewhere: {url}"
        path = urlsplit(url).path.removeprefix("/static/")
        if path in modules:
            continue
        got = await projector.get(url)
        assert got.status_code == 200, path
        # A module script with any other type is refused by the browser.
        assert got.headers["content-type"] == "text/javascript; charset=utf-8", path
        assert got.content == (STATIC / path).read_bytes(), path
        # A dynamic import() would load what this walk cannot see.
        assert "import(" not in got.text, path
        modules[path] = [match[1] for match in IMPORT.findall(got.text)]
        for specifier in modules[path]:
            # A bare name ("uplot") needs an import map; a URL would leave this origin.
            assert specifier.startswith(("./", "../")), f"{path} imports {specifier!r}"
            todo.append(urljoin(url, specifier))
    return modules


async def test_the_page_and_every_file_it_loads_are_served_with_their_media_types(
    projector: httpx.AsyncClient,
) -> None:
    page = await projector.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-security-policy"] == CSP
    assert page.content == (STATIC / "index.html").read_bytes()
    # The policy runs no inline script: every script the page has is a file.
    assert re.findall(r"<script(?![^>]* src=)", page.text) == []
    referenced = _referenced(page.text)
    assert set(referenced) == {
        "static/favicon.svg",
        "static/vendor/uPlot.min.css",
        "static/vendor/uPlot.iife.min.js",
        "static/page.css",
        "static/js/main.js",
        "static/vendor/uPlot.LICENSE",
    }
    assert MODULE_SCRIPT.findall(page.text) == ["static/js/main.js"]
    for path in referenced:
        got = await projector.get(f"/{path}")
        assert got.status_code == 200, path
        assert got.headers["content-type"] == MEDIA_TYPES[Path(path).suffix], path
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.content == (STATIC / path.removeprefix("static/")).read_bytes(), path


async def test_every_module_the_page_imports_is_served_from_here_as_javascript(
    projector: httpx.AsyncClient,
) -> None:
    modules = await _modules(projector)
    # The modules the page is made of, each reached (the walk checked how each is served).
    assert {"js/main.js", "js/api.js", "js/vocabulary.js", "js/render/summary.js"} <= modules.keys()
    assert modules["js/main.js"] != []


async def test_every_file_in_static_is_one_the_page_loads_or_vendored(
    projector: httpx.AsyncClient,
) -> None:
    page = (await projector.get("/")).text
    loaded = {path.removeprefix("static/") for path in _referenced(page)}
    loaded |= (await _modules(projector)).keys()
    files = {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file()}
    unused = {f for f in files - loaded - {"index.html"} if not f.startswith("vendor/")}
    assert unused == set(), "files the page never loads (an import graph would hide them)"


async def test_an_unchanged_file_is_revalidated_with_a_304(projector: httpx.AsyncClient) -> None:
    for path in ("/", "/static/js/main.js", "/static/js/render/history.js"):
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
    assert {p.name for p in files} >= {"index.html", "main.js", "page.css", "uPlot.iife.min.js"}
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
