"""A ``Site`` whose requests refuse bodies over a size limit before reading them.

Twisted web has no body limit of its own and reads the whole body before a
Klein route runs, so the check lives in the request: the declared
``Content-Length`` in ``gotLength`` and the running total of a chunked body
in ``handleContentChunk``. A refused request is answered 413 at once.

Closing then would reset a connection whose client is still sending (most
clients send the whole body before reading: Python's ``urllib``), and the
reset loses the 413 in flight. So the request lingers, as nginx does: it
keeps reading and dropping the body, for at most ``LINGER_SECONDS`` and
``LINGER_BYTES``, and closes once the body has ended or a bound is reached.
A client that sent ``Expect: 100-continue`` gets the 413 instead of a
``100 Continue``, sends no body, and the connection closes at once.

The Site also counts every response (:class:`HttpMetrics`): the route
template a request matched (``http/observe.py``), its status and latency.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import orjson
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from osrs_twisted.http.observe import route_of
from osrs_twisted.telemetry.recorders import UNMATCHED, HttpMetrics

#: The longest a refused request keeps reading its body before closing.
LINGER_SECONDS = 5.0
#: The most body bytes a refused request reads (and drops) before closing.
LINGER_BYTES = 10 * 1024 * 1024

#: The status of a refused body.
TOO_LARGE = 413


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
    """A request that answers 413 as soon as its body proves too large,
    then drops the rest of the body for a bounded while before closing."""

    max_body_bytes: int = 1048576

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._received = 0
        self._refused = False
        self._dropped = 0
        self._linger: Optional[IDelayedCall] = None
        self._closed = False
        #: When the request's first line arrived (the site's clock).
        self.arrived = self._site().reactor.seconds()

    def _site(self) -> "ApiSite":
        site: ApiSite = self.channel.site  # type: ignore[attr-defined]
        return site

    def gotLength(self, length: Optional[int]) -> None:
        if length is not None and length > self.max_body_bytes:
            self._refuse(body_wanted=not self._expects_continue())
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            self._drop(len(data))
            return
        self._received += len(data)
        if self._received > self.max_body_bytes:
            self._refuse(body_wanted=True)
            self._drop(len(data))
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """The whole body has arrived: a refused request is over."""
        if self._refused:
            self._close()
            return
        super().requestReceived(command, path, version)

    def connectionLost(self, reason: Failure) -> None:
        self._cancel_linger()
        super().connectionLost(reason)

    def _expects_continue(self) -> bool:
        expect = self.requestHeaders.getRawHeaders(b"expect") or []
        return bool(expect) and expect[0].lower() == b"100-continue"

    def _refuse(self, body_wanted: bool) -> None:
        """Answer 413. Unless the client waits for ``100 Continue`` (which it
        then never gets: the header is dropped before the channel reads it),
        keep reading the body for a bounded while."""
        self._refused = True
        transport = self.channel.transport
        assert transport is not None
        site = self._site()
        transport.write(_too_large_response(self.max_body_bytes))
        site.record(UNMATCHED, TOO_LARGE, site.reactor.seconds() - self.arrived)
        if not body_wanted:
            self.requestHeaders.removeHeader(b"expect")
            self._close()
            return
        self._linger = site.reactor.callLater(LINGER_SECONDS, self._close)

    def _drop(self, size: int) -> None:
        self._dropped += size
        if self._dropped > LINGER_BYTES:
            self._close()

    def _cancel_linger(self) -> None:
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self._linger = None

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_linger()
        self.channel.loseConnection()


def limited_request_factory(max_body_bytes: int) -> Callable[..., LimitedRequest]:
    """A request class bound to one limit, for ``Site.requestFactory``."""
    return type("LimitedRequest", (LimitedRequest,), {"max_body_bytes": max_body_bytes})


class ApiSite(Site):
    """The API's ``Site``: body-limited requests, counted in ``metrics``, and
    no per-request access log line (bots poll; thousands of lines a second
    would cost more than the requests)."""

    displayTracebacks = False
    reactor: IReactorTime

    def __init__(
        self,
        resource: IResource,
        max_body_bytes: int,
        reactor: Optional[IReactorTime] = None,
        metrics: Optional[HttpMetrics] = None,
    ) -> None:
        super().__init__(resource, requestFactory=limited_request_factory(max_body_bytes), reactor=reactor)
        self.metrics = HttpMetrics() if metrics is None else metrics

    def record(self, route: str, status: int, seconds: float) -> None:
        self.metrics.record(route, status, seconds)

    def log(self, request: http.Request) -> None:
        """Count the response; access logging is off."""
        assert isinstance(request, LimitedRequest)
        self.record(route_of(request), request.code, self.reactor.seconds() - request.arrived)
