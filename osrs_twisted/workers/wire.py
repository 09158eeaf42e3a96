"""What travels between the supervisor and its workers: one JSON object per
line over a dedicated pipe (the worker's stdin and stdout).

The configuration crosses the pipe, not the command line, so the admin
token never shows in ``ps``. :func:`config_json` and :func:`config_from_json`
are exact inverses for every :class:`~osrs_twisted.config.Config`.
"""

from __future__ import annotations

import enum
import typing
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, TypeVar, Union

import attrs
import orjson

from osrs_twisted.config import Config

T = TypeVar("T")

Message = Mapping[str, Any]

# supervisor → worker
#: The first line a worker reads: its index, configuration and sockets.
START = "start"
#: Every worker's latest state, relayed about once a second.
PEERS = "peers"
# worker → supervisor
#: The worker's health and counters, about once a second.
REPORT = "report"
#: One log event, re-emitted in the supervisor's log.
LOG = "log"


def encode(kind: str, **fields: Any) -> bytes:
    """One message as its line (newline included)."""
    return orjson.dumps({"type": kind, **fields}, option=orjson.OPT_APPEND_NEWLINE)


def decode(line: bytes) -> Message:
    """One line as its message; ValueError for anything else."""
    message = orjson.loads(line)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError(f"not a message: {line[:80]!r}")
    return message


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (Path, Fraction)):
        return str(value)
    if attrs.has(type(value)):
        return {field.name: _plain(getattr(value, field.name)) for field in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _structured(hint: Any, value: Any) -> Any:
    """``value`` (plain JSON) as the type ``hint`` names."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        if value is None:
            return None
        [inner] = [argument for argument in arguments if argument is not type(None)]
        return _structured(inner, value)
    if origin is tuple:
        return tuple(_structured(arguments[0], item) for item in value)
    if isinstance(hint, type) and attrs.has(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{field.name: _structured(hints[field.name], value[field.name]) for field in attrs.fields(hint)})
    if isinstance(hint, type) and issubclass(hint, (enum.Enum, Path)):
        return hint(value)
    if hint is Fraction:
        return Fraction(value)
    if hint is float:
        return float(value)
    return value


def config_json(config: Config) -> Any:
    """``config`` as plain JSON values."""
    return _plain(config)


def config_from_json(value: Any) -> Config:
    """The configuration :func:`config_json` made."""
    config: Config = _structured(Config, value)
    return config
