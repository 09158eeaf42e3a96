"""Fakes for the inference path: a tiny model and pools the tests control."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import attrs
import orjson
from twisted.internet.defer import Deferred, succeed

from osrs_twisted.policy.errors import PolicyInputError
from osrs_twisted.policy.rows import RowRequest


@attrs.frozen
class FakeRow:
    value: float
    deterministic: Any


class FakeModel:
    """Answers ``action = [value of obs[0][0]]``; refuses a mask total other than 2."""

    def __init__(self, name: str) -> None:
        self.name = name

    def prepare(self, request: RowRequest) -> FakeRow:
        obs, action_masks = request.obs, request.action_masks
        if type(obs) is not list or not obs or type(obs[0]) is not list or not obs[0]:
            raise PolicyInputError("obs", "obs must be a non-empty list of frames")
        masks = sum(len(m) for m in action_masks) if type(action_masks) is list else -1
        if masks != 2:
            message = f"actionMasks has {masks} entries in total; model {self.name} needs 2"
            raise PolicyInputError("actionMasks", message)
        return FakeRow(float(obs[0][0]), request.deterministic)

    def predict(self, rows: Sequence[FakeRow], rng: Any) -> list[dict[str, Any]]:
        return [
            {"action": [int(row.value)], "logProb": None, "entropy": None, "values": None, "probs": None,
             "extensionResults": []}
            for row in rows
        ]


@attrs.define
class FakeModels:
    models: dict[str, FakeModel]
    default_name: Optional[str] = None

    @property
    def names(self) -> list[str]:
        return sorted(self.models)

    def get(self, name: str) -> Optional[FakeModel]:
        return self.models.get(name)


def encode(replies: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in replies]


class SynchronousPool:
    """Runs each batch at once, on the calling thread, and records it."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[Any]]] = []

    def run_batch(self, model: FakeModel, rows: Sequence[FakeRow]) -> "Deferred[list[bytes]]":
        self.batches.append((model.name, list(rows)))
        return succeed(encode(model.predict(rows, None)))


class ManualPool:
    """Holds each batch until the test releases it, like a busy worker."""

    def __init__(self) -> None:
        self.pending: list[tuple[FakeModel, list[Any], Deferred[list[bytes]]]] = []
        self.batches: list[tuple[str, list[Any]]] = []

    def run_batch(self, model: FakeModel, rows: Sequence[FakeRow]) -> "Deferred[list[bytes]]":
        d: Deferred[list[bytes]] = Deferred()
        self.batches.append((model.name, list(rows)))
        self.pending.append((model, list(rows), d))
        return d

    def release(self) -> None:
        model, rows, d = self.pending.pop(0)
        d.callback(encode(model.predict(rows, None)))

    def fail(self, error: Exception) -> None:
        d = self.pending.pop(0)[2]
        d.errback(error)


def request(value: float = 1, model: Optional[str] = "m", **extra: Any) -> bytes:
    body: dict[str, Any] = {"obs": [[value]], "actionMasks": [[True], [True]]}
    if model is not None:
        body["model"] = model
    body.update(extra)
    return orjson.dumps(body)
