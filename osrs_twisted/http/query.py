"""Query-string parsing shared by the routes: each bad value is an
:class:`InvalidParameter` naming its parameter (a 400, which the seed's
paths answer as their 422 ``{"detail": ...}``)."""

from __future__ import annotations

import re
from typing import Optional, Sequence, TypeVar

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import InvalidParameter
from osrs_twisted.records import narrow

S = TypeVar("S", bound=str)

#: At most 18 digits: every such value fits a 64-bit database column.
_INTEGER = re.compile(r"-?[0-9]{1,18}")

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")

def query_str(request: IRequest, name: str) -> Optional[str]:
    """The parameter's last value, or None when absent."""
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    try:
        value: str = values[-1].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter(f"{name} is not valid UTF-8") from None
    return value


def required_str(request: IRequest, name: str) -> str:
    value = query_str(request, name)
    if value is None or value == "":
        raise InvalidParameter(f"query parameter {name} is required")
    return value


def parse_int(raw: str, name: str, minimum: int) -> int:
    """``raw`` as an integer of at least ``minimum``, else an error naming ``name``."""
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    if not _INTEGER.fullmatch(raw.strip()) or int(raw) < minimum:
        raise InvalidParameter(f"{name} must be {what}, got {raw!r}")
    return int(raw)


def query_int(request: IRequest, name: str, minimum: int = 0) -> Optional[int]:
    raw = query_str(request, name)
    return None if raw is None else parse_int(raw, name, minimum)


def query_limit(request: IRequest, default: int, cap: int) -> int:
    """``limit``: a positive integer, capped at ``cap``."""
    value = query_int(request, "limit", minimum=1)
    return default if value is None else min(value, cap)


def query_offset(request: IRequest) -> int:
    value = query_int(request, "offset", minimum=0)
    return 0 if value is None else value


def query_bool(request: IRequest, name: str) -> Optional[bool]:
    raw = query_str(request, name)
    if raw is None:
        return None
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise InvalidParameter(f"{name} must be true or false, got {raw!r}")


def query_choice(request: IRequest, name: str, choices: Sequence[S], default: S) -> S:
    raw = query_str(request, name)
    if raw is None:
        return default
    choice = narrow(choices, raw)
    if choice is not None:
        return choice
    raise InvalidParameter(f"{name} must be one of {', '.join(choices)}, got {raw!r}")


def query_ids(request: IRequest, name: str, cap: int) -> list[int]:
    """A required comma-separated list of item ids, at most ``cap`` of them."""
    raw = required_str(request, name)
    parts = [part for part in raw.split(",") if part.strip()]
    if not parts:
        raise InvalidParameter(f"{name} must list item ids separated by commas, got {raw!r}")
    if len(parts) > cap:
        raise InvalidParameter(f"{name} lists {len(parts)} ids; at most {cap} are allowed")
    return [parse_int(part, name, 0) for part in parts]
