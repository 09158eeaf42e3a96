"""The API's error type and its JSON body: ``{"error": ..., "code": ...}``."""

from __future__ import annotations

from typing import Any, Mapping

import attrs

#: HTTP status → the ``code`` every error body of that status carries.
CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    500: "internal",
    503: "unavailable",
}


@attrs.define
class ApiError(Exception):
    """Raised by a route to answer with a JSON error; ``extra`` joins the body."""

    status: int
    message: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    #: The seed's paths answer errors as ``{"detail": ...}`` (seed-compat.md).
    seed_style: bool = False

    def body(self) -> dict[str, Any]:
        if self.seed_style:
            return {"detail": self.message}
        return {"error": self.message, "code": CODES.get(self.status, "internal"), **self.extra}


#: The body of a JSON 404 for a path no route serves.
NO_SUCH_ROUTE: Mapping[str, str] = {"error": "no such route", "code": "not_found"}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)
