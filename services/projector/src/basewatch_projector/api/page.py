"""The built-in page at ``/``: one HTML file, its ES modules and stylesheet, and uPlot.

Everything is served from the package's ``static`` directory, read once when the app
is built: no build step (the browser loads ``static/js/main.js`` and what it imports),
no CDN, nothing fetched from elsewhere, so the page works offline. The files hold no
data and need no key; the page asks for the read key and sends it with each /v1 call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request, Response

from basewatch_shared.problems import ProblemError

STATIC: Final = Path(__file__).parent.parent / "static"
MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".LICENSE": "text/plain; charset=utf-8",  # uPlot's, linked from the page's footer
}
# The page may talk to this origin only: a stray external URL fails loudly in the browser.
# Its modules are same-origin scripts ('self'); nothing inline runs.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS: Final = {
    # Revalidate every time (a 304 on an unchanged ETag): an upgrade shows at once.
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, media type and entity tag."""

    body: bytes
    media_type: str
    etag: str


def load_assets(root: Path = STATIC) -> dict[str, Asset]:
    """The servable files below ``root`` (those with a known media type) by their path."""
    assets = {}
    for path in sorted(root.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is not None and path.is_file():
            body = path.read_bytes()
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            assets[path.relative_to(root).as_posix()] = Asset(body, media_type, etag)
    return assets


def _serve(asset: Asset, request: Request, extra: dict[str, str] | None = None) -> Response:
    headers = {**_HEADERS, "ETag": asset.etag, **(extra or {})}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def router(root: Path = STATIC) -> APIRouter:
    """Routes for the page (``/``) and its files (``/static/...``), kept out of OpenAPI."""
    assets = load_assets(root)
    page = APIRouter(include_in_schema=False)
    index = assets.pop("index.html")

    @page.get("/")
    async def show_page(request: Request) -> Response:
        return _serve(index, request, {"Content-Security-Policy": CSP})

    @page.get("/static/{path:path}")
    async def static_file(path: str, request: Request) -> Response:
        asset = assets.get(path)
        if asset is None:
            raise ProblemError(404, "Not found", f"no static file {path!r}")
        return _serve(asset, request)

    return page
