"""A ``Site`` whose requests refuse bodies over a size limit before reading them.

Twisted web has no body limit of its own and reads the whole body before a
Klein route runs, so the check lives in the request: the declared
``Content-Length`` in ``gotLength`` and the running total of a chunked body
in ``handleContentChunk``. A refused request is answered 413 at once and the
connection closed, as Twisted itself answers malformed requests.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import orjson
from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Request, Site


def _too_large_response(limit: int) -> bytes:
    body = orjson.dumps(
        {"error": f"request body exceeds the limit of {limit} bytes", "code": "too_large"}
    )
    head = (
        b"HTTP/1.1 413 Request Entity Too Large\r\n"
        b"Content-Type: application/json\r\n"
        b"Connection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    return head + body


class LimitedRequest(Request):
    """A request that answers 413 as soon as its body proves too large."""

    max_body_bytes: int = 1048576

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._received = 0
        self._refused = False

    def gotLength(self, length: Optional[int]) -> None:
        if length is not None and length > self.max_body_bytes:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.max_body_bytes:
            self._refuse()
            return
        super().handleContentChunk(data)

    def process(self) -> None:
        if not self._refused:
            super().process()

    def _refuse(self) -> None:
        self._refused = True
        transport = self.channel.transport
        assert transport is not None
        transport.write(_too_large_response(self.max_body_bytes))
        self.channel.loseConnection()


def limited_request_factory(max_body_bytes: int) -> Callable[..., LimitedRequest]:
    """A request class bound to one limit, for ``Site.requestFactory``."""
    return type("LimitedRequest", (LimitedRequest,), {"max_body_bytes": max_body_bytes})


class ApiSite(Site):
    """The API's ``Site``: body-limited requests and no per-request access log
    line (bots poll; thousands of lines a second would cost more than the
    requests)."""

    displayTracebacks = False

    def __init__(self, resource: IResource, max_body_bytes: int) -> None:
        super().__init__(resource, requestFactory=limited_request_factory(max_body_bytes))

    def log(self, request: http.Request) -> None:
        """Access logging is off."""
