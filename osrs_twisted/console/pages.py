"""The console's pages under ``/ui/``: static files from the package, held in memory.

The pages are a closed set of small files shipped as package data
(``osrs_twisted/console/static``), read once when the server builds its
resource tree: a request is a dictionary lookup, never a file-system path
(no traversal, no directory listing), each file with its own content type,
an ``ETag`` for cheap revalidation, and the security headers below.
:func:`with_console` puts them in front of the API's resource; the JSON
API keeps every path it had.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from typing import Mapping

import attrs
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.util import Redirect

#: Where the pages are served.
PREFIX = b"ui"

#: No script, style, font or image from anywhere but this server; no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: Headers every page and asset is sent with.
SECURITY_HEADERS: Mapping[bytes, bytes] = {
    b"Content-Security-Policy": CONTENT_SECURITY_POLICY.encode("ascii"),
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    #: Revalidate every time (an upgrade changes the files); the ETag makes that a 304.
    b"Cache-Control": b"no-cache",
}

#: File extension → content type; files of any other kind are not served.
CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@attrs.frozen
class Asset:
    """One file of the console, ready to send."""

    body: bytes
    content_type: bytes
    etag: bytes

    @classmethod
    def of(cls, body: bytes, content_type: str) -> "Asset":
        digest = hashlib.sha256(body).hexdigest()[:20]
        return cls(body, content_type.encode("ascii"), f'"{digest}"'.encode("ascii"))


def load_assets(package: str = "osrs_twisted.console", folder: str = "static") -> dict[str, Asset]:
    """Every file of the package folder whose kind is in :data:`CONTENT_TYPES`, by name."""
    assets: dict[str, Asset] = {}
    for entry in files(package).joinpath(folder).iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES:
            assets[entry.name] = Asset.of(entry.read_bytes(), CONTENT_TYPES[suffix])
    if "index.html" not in assets:
        raise FileNotFoundError(f"{package}/{folder} has no index.html (is the package data installed?)")
    return assets


def _plain(request: IRequest, status: int, text: str) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)
    return text.encode("utf-8")


class ConsolePages(Resource):
    """``/ui/<name>``: one of the console's files; ``/ui/`` is ``index.html``."""

    isLeaf = True

    def __init__(self, assets: Mapping[str, Asset]) -> None:
        super().__init__()
        self.assets = dict(assets)

    def render_GET(self, request: IRequest) -> bytes:
        postpath = list(request.postpath or [])
        if not postpath:
            request.redirect(b"/ui/")
            return b""
        name = b"/".join(postpath).decode("utf-8", "replace") or "index.html"
        asset = self.assets.get(name)
        if asset is None:
            return _plain(request, 404, f"no console page named {name!r}")
        for header, value in SECURITY_HEADERS.items():
            request.setHeader(header, value)
        request.setHeader(b"ETag", asset.etag)
        if asset.etag in (request.getHeader(b"if-none-match") or b"").replace(b" ", b"").split(b","):
            request.setResponseCode(304)
            return b""
        request.setHeader(b"Content-Type", asset.content_type)
        return asset.body

    render_HEAD = render_GET

    def render(self, request: IRequest) -> bytes:
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"Allow", b"GET, HEAD")
            return _plain(request, 405, "the console's pages are read-only; use GET")
        return super().render(request)


class ConsoleRoot(Resource):
    """The server's root: ``/ui/...`` to the pages, ``/`` redirected to
    ``/ui/``, every other path to the API as if this resource were not there."""

    def __init__(self, api: IResource, pages: IResource) -> None:
        super().__init__()
        self.api = api
        self.pages = pages
        self.home = Redirect(b"/ui/")

    def getChildWithDefault(self, path: bytes, request: IRequest) -> IResource:
        if path == PREFIX:
            return self.pages
        if path == b"" and not request.postpath:
            return self.home
        # Give the segment back: the API's Klein resource routes on the whole path.
        assert request.prepath is not None and request.postpath is not None
        request.postpath.insert(0, request.prepath.pop())
        return self.api


def with_console(api: IResource) -> IResource:
    """``api`` with the console's pages in front of it (docs/console.md)."""
    return ConsoleRoot(api, ConsolePages(load_assets()))
