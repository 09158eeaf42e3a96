"""The API's error types and their JSON bodies.

The project's own routes answer ``{"error": ..., "code": ...}``; the seed's
paths answer ``{"detail": ...}`` (:class:`SeedError`). Helpers (query
parsing, bodies) raise plain :class:`ApiError`; the seed's route group
reshapes whatever escapes its routes with :func:`as_seed_error`.
"""

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

#: The seed (FastAPI) answered query validation errors with 422.
SEED_INVALID = 422


@attrs.define
class ApiError(Exception):
    """Raised by a route to answer with a JSON error; ``extra`` joins the body."""

    status: int
    message: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    extra: Mapping[str, Any] = attrs.field(factory=dict)

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": CODES.get(self.status, "internal"), **self.extra}


class InvalidParameter(ApiError):
    """A query parameter or path segment that does not parse (400; 422 on the seed's paths)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class SeedError(ApiError):
    """An error on the seed's paths, shaped as the seed answered it (docs/http-api.md)."""

    def body(self) -> dict[str, Any]:
        return {"detail": self.message}


def as_seed_error(error: ApiError) -> SeedError:
    """``error`` in the seed's shape; a bad parameter gets the seed's 422."""
    if isinstance(error, SeedError):
        return error
    status = SEED_INVALID if isinstance(error, InvalidParameter) else error.status
    return SeedError(status, error.message, headers=error.headers)


#: The body of a JSON 404 for a path no route serves.
NO_SUCH_ROUTE: Mapping[str, str] = {"error": "no such route", "code": "not_found"}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)
