"""Error replies of the line protocol (docs/protocol.md, "Errors")."""

from __future__ import annotations

from typing import Literal, Optional, Union

import orjson

ErrorCode = Literal[
    "bad_json", "bad_request", "unknown_model", "overloaded", "unavailable", "line_too_long", "internal"
]
ERROR_CODES: tuple[ErrorCode, ...] = (
    "bad_json", "bad_request", "unknown_model", "overloaded", "unavailable", "line_too_long", "internal"
)

RequestId = Union[str, int]


class RequestError(Exception):
    """A request that cannot be served: answered with one error line."""

    def __init__(self, code: ErrorCode, message: str, request_id: Optional[RequestId] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


def error_line(code: ErrorCode, message: str, request_id: Optional[RequestId] = None) -> bytes:
    """The reply line for an error, with the request's ``id`` when it was read."""
    body: dict[str, object] = {"error": message, "code": code}
    if request_id is not None:
        body["id"] = request_id
    return orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)


def with_id(reply_line: bytes, request_id: Optional[RequestId]) -> bytes:
    """Add ``"id"`` to an encoded reply object (``{...}\\n``) without re-encoding it."""
    if request_id is None:
        return reply_line
    return reply_line[:-2] + b',"id":' + orjson.dumps(request_id) + b"}\n"
