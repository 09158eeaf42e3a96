"""Strict parsing of one request line, on the reactor thread (docs/protocol.md, "Requests").

Everything that can be wrong with a request is found here, so a bad request
never reaches the model thread: JSON, keys and types first, then the model's
own checks (frames, mask total, extensions) in ``LoadedModel.prepare``.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

import attrs
import orjson

from osrs_twisted.inference.errors import RequestError, RequestId
from osrs_twisted.policy import LoadedModel, PolicyInputError, PreparedRow, RowRequest

_FLAGS = ("returnLogProb", "returnEntropy", "returnValue", "returnProbs")
_KNOWN_KEYS = frozenset(("model", "obs", "actionMasks", "deterministic", "extensions", "id", *_FLAGS))
_KNOWN_LIST = ", ".join(sorted(_KNOWN_KEYS))


class ModelLookup(Protocol):
    """What parsing needs of the model registry."""

    @property
    def default_name(self) -> Optional[str]: ...

    @property
    def names(self) -> tuple[str, ...] | list[str]: ...

    def get(self, name: str) -> Optional[LoadedModel]: ...


@attrs.frozen
class InferenceRequest:
    """A validated request: the model to ask and the row to ask it."""

    model: LoadedModel
    row: PreparedRow
    request_id: Optional[RequestId]


def _type_name(value: Any) -> str:
    return "null" if value is None else {bool: "boolean", int: "number", float: "number", str: "string",
                                         list: "list", dict: "object"}.get(type(value), type(value).__name__)


def _request_id(data: dict[str, Any]) -> Optional[RequestId]:
    request_id = data.get("id")
    if request_id is None or isinstance(request_id, str):
        return request_id
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        return request_id
    raise RequestError("bad_request", f"id must be a string or an integer, not {_type_name(request_id)}")


def _flag(data: dict[str, Any], key: str, request_id: Optional[RequestId]) -> bool:
    value = data.get(key, False)
    if type(value) is not bool:
        raise RequestError("bad_request", f"{key} must be a boolean, not {_type_name(value)}", request_id)
    return value


def _extensions(data: dict[str, Any], request_id: Optional[RequestId]) -> tuple[str, ...]:
    value = data.get("extensions", [])
    if type(value) is not list or not all(type(name) is str for name in value):
        raise RequestError("bad_request", "extensions must be a list of strings", request_id)
    return tuple(value)


def _model(data: dict[str, Any], models: ModelLookup, request_id: Optional[RequestId]) -> LoadedModel:
    name = data.get("model")
    if name is None:
        name = models.default_name
        if name is None:
            raise RequestError(
                "unknown_model",
                f"the request names no model and the server has no default; loaded models: {', '.join(models.names)}",
                request_id,
            )
    elif type(name) is not str:
        raise RequestError("bad_request", f"model must be a string, not {_type_name(name)}", request_id)
    model = models.get(name)
    if model is None:
        raise RequestError(
            "unknown_model", f"model {name!r} is not loaded; loaded models: {', '.join(models.names)}", request_id
        )
    return model


def parse_request(line: bytes, models: ModelLookup) -> InferenceRequest:
    """Decode and validate one line; raise :class:`RequestError` naming what was wrong."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise RequestError("bad_json", f"the line is not valid JSON: {e}") from None
    if type(data) is not dict:
        raise RequestError("bad_request", f"a request must be a JSON object, not {_type_name(data)}")
    request_id = _request_id(data)
    unknown = data.keys() - _KNOWN_KEYS
    if unknown:
        raise RequestError(
            "bad_request", f"unknown key {sorted(unknown)[0]!r}; expected only {_KNOWN_LIST}", request_id
        )
    for required in ("obs", "actionMasks"):
        if required not in data:
            raise RequestError("bad_request", f"{required} is required", request_id)
    log_prob, entropy, value, probs = (_flag(data, key, request_id) for key in _FLAGS)
    extensions = _extensions(data, request_id)
    deterministic = data.get("deterministic", False)
    if type(deterministic) not in (bool, list):
        raise RequestError(
            "bad_request",
            f"deterministic must be a boolean or a list of booleans, not {_type_name(deterministic)}",
            request_id,
        )
    model = _model(data, models, request_id)
    try:
        row = model.prepare(
            RowRequest(data["obs"], data["actionMasks"], deterministic, log_prob, entropy, value, probs, extensions)
        )
    except PolicyInputError as e:
        raise RequestError("bad_request", str(e), request_id) from None
    return InferenceRequest(model, row, request_id)
