"""Strict reading of JSON input, with errors that name the field at fault.

Actions and trade reports arrive as parsed JSON from operators and bots. Every
check here raises ``FieldError`` carrying the dotted path of the bad value
(``inputs[1].quantity``) so the HTTP layer can answer 400 with a message a
person can act on, and nothing half-valid is ever kept.
"""

from __future__ import annotations

import math
import re
from typing import Any, Collection, Mapping

MAX_INT64 = 2**63 - 1
"""The largest integer both store backends keep (prices exceed 2^31)."""

MAX_QUANTITY = 2**31 - 1
"""The most of one item a stack (and so one trade or action step) can hold."""

MAX_TEXT = 128
"""The longest identifier (trade id, instance id, account, quest) accepted."""

UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")


class FieldError(ValueError):
    """Bad input; ``field`` is the path of the value at fault."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def field_path(parent: str, key: str | int) -> str:
    """The path of ``key`` under ``parent``: ``a.b`` for names, ``a[1]`` for indices."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def expect_object(value: Any, field: str, allowed: Collection[str]) -> Mapping[str, Any]:
    """A JSON object whose keys are all in ``allowed`` (typos are refused, not ignored)."""
    if not isinstance(value, dict):
        raise FieldError(field or "body", "must be a JSON object")
    unknown = sorted(key for key in value if key not in allowed)
    if unknown:
        raise FieldError(field_path(field, unknown[0]), "is not a known field")
    return value


def expect_present(obj: Mapping[str, Any], key: str, field: str) -> Any:
    """The value of a required key."""
    if key not in obj:
        raise FieldError(field_path(field, key), "is required")
    return obj[key]


def expect_int(value: Any, field: str, minimum: int, maximum: int = MAX_INT64) -> int:
    """An integer (never a bool or a float) within ``minimum``..``maximum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        if minimum == 1:
            raise FieldError(field, "must be a positive integer")
        if minimum == 0:
            raise FieldError(field, "must be a non-negative integer")
        raise FieldError(field, f"must be an integer of at least {minimum}")
    if value > maximum:
        raise FieldError(field, f"must be at most {maximum}")
    return value


def expect_number(value: Any, field: str, maximum: float) -> float:
    """A finite non-negative JSON number (integer or fraction) up to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(field, "must be a number")
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= maximum:
        raise FieldError(field, f"must be a number between 0 and {maximum:g}")
    return number


def expect_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(field, "must be true or false")
    return value


def expect_text(value: Any, field: str, max_length: int = MAX_TEXT) -> str:
    """A non-blank string of at most ``max_length`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(field, "must be a non-empty string")
    if len(value) > max_length:
        raise FieldError(field, f"must be at most {max_length} characters")
    return value


def expect_upper_snake(value: Any, field: str, max_length: int = 64) -> str:
    """An UPPER_SNAKE_CASE name, the form bot task names take."""
    text = expect_text(value, field, max_length)
    if UPPER_SNAKE.fullmatch(text) is None:
        raise FieldError(field, "must be UPPER_SNAKE_CASE (A-Z, 0-9, single underscores)")
    return text


def expect_list(value: Any, field: str, max_length: int) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(field, "must be a JSON array")
    if len(value) > max_length:
        raise FieldError(field, f"must hold at most {max_length} entries")
    return value
