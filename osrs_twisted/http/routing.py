"""Routes declared on classes, mounted on one Klein app per API instance.

A resource module marks the methods of its route group with :func:`route`;
nothing is registered at import. :func:`routed_app` builds a fresh Klein
app for one object and mounts every marked method of its class as a bound
route, behind the API's JSON error handlers, so two API objects never share
routing state (klein's "non-global state" pattern, one app per instance).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence, TypeVar

import orjson
from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from osrs_twisted.http.errors import CODES, NO_SUCH_ROUTE, ApiError
from osrs_twisted.http.observe import mark_route
from osrs_twisted.store.interface import StoreUnavailable

log = Logger()

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`route` leaves on a method: its (path, methods) pairs.
_ROUTES = "_osrs_routes"


def route(path: str, methods: Sequence[str]) -> Callable[[F], F]:
    """Mark a method of a route group as the handler of ``path`` for ``methods``."""

    def mark(f: F) -> F:
        routes: list[tuple[str, tuple[str, ...]]] = getattr(f, _ROUTES, [])
        setattr(f, _ROUTES, [*routes, (path, tuple(methods))])
        return f

    return mark


def json_response(request: IRequest, body: Any, status: int = 200) -> bytes:
    """Serialise ``body`` as the response, with its status and content type."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    return orjson.dumps(body)


def routing_error(request: IRequest, failure: Failure) -> bytes:
    """werkzeug's 404 and 405 (keeping ``Allow``) as JSON errors."""
    error = failure.value
    assert isinstance(error, HTTPException)
    status = error.code or 500
    for name, value in error.get_headers():
        if name.lower() == "allow":
            request.setHeader(b"Allow", value.encode("ascii"))
    message = {404: NO_SUCH_ROUTE["error"], 405: "method not allowed"}.get(status, error.description or "")
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(error.valid_methods or [])
        message = f"method {request.method.decode('ascii', 'replace')} not allowed; use {allowed}"
    return json_response(request, {"error": message, "code": CODES.get(status, "internal")}, status)


def api_error(request: IRequest, failure: Failure) -> bytes:
    error = failure.value
    assert isinstance(error, ApiError)
    for name, value in error.headers.items():
        request.setHeader(name.encode("ascii"), value.encode("latin-1"))
    return json_response(request, error.body(), error.status)


def store_unavailable(request: IRequest, failure: Failure) -> bytes:
    return json_response(request, {"error": f"the store is unavailable: {failure.value}", "code": "unavailable"}, 503)


def internal_error(request: IRequest, failure: Failure) -> bytes:
    log.failure("unhandled error serving {method} {uri}", failure, method=request.method, uri=request.uri)
    return json_response(request, {"error": "internal server error", "code": "internal"}, 500)


def routed_app(group: object) -> Klein:
    """A new Klein app serving every :func:`route` of ``group``'s class, bound to ``group``.

    Klein runs error handlers in registration order: werkzeug's routing
    errors first, the API's own, then a catch-all (else 404/405 become 500).
    """
    app = Klein()
    app.url_map.strict_slashes = False
    app.handle_errors(HTTPException)(routing_error)
    app.handle_errors(ApiError)(api_error)
    app.handle_errors(StoreUnavailable)(store_unavailable)
    app.handle_errors(Exception)(internal_error)
    seen: set[str] = set()
    for cls in type(group).__mro__:
        for name, member in vars(cls).items():
            if name in seen:
                continue
            seen.add(name)
            if not hasattr(member, _ROUTES):
                continue
            handler = getattr(group, name)
            for path, methods in getattr(member, _ROUTES):
                endpoint = f"{cls.__name__}.{name}:{path}"
                app.route(path, methods=list(methods), endpoint=endpoint)(_marking(handler, path))
    return app


def _marking(handler: Callable[..., Any], template: str) -> Callable[..., Any]:
    """``handler``, marking its request with the route ``template`` (metrics labels)."""

    @functools.wraps(handler)
    def marked(request: IRequest, *args: Any, **kwargs: Any) -> Any:
        mark_route(request, template)
        return handler(request, *args, **kwargs)

    return marked
