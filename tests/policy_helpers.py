"""Shared helpers for the policy engine tests: reference cases, models, checkpoints."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from osrs_twisted.policy import LoadedModel, PreparedRow, RowRequest, load_model_file
from osrs_twisted.policy.builtin import NHENV_HEAD_SIZES
from tests.fixtures import reference_cases_path, trained_model_path


def reference_cases() -> list[dict[str, Any]]:
    """pvp-ml's 64 request/response pairs."""
    with reference_cases_path().open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


@cache
def _trained(device: str) -> LoadedModel:
    return load_model_file(trained_model_path(), device)


def trained_model(device: str = "cpu") -> LoadedModel:
    """The fixture model (loaded once per device)."""
    return _trained(device)


def prepare(model: LoadedModel, request: dict[str, Any]) -> PreparedRow:
    """A request dict as the TCP layer would hand its fields over."""
    return model.prepare(
        RowRequest(
            request["obs"],
            request["actionMasks"],
            request.get("deterministic", False),
            request.get("returnLogProb", False),
            request.get("returnEntropy", False),
            request.get("returnValue", False),
            request.get("returnProbs", False),
            request.get("extensions", []),
        )
    )


def assert_close(got: Any, expected: Any, tolerance: float, where: str = "reply") -> None:
    """Same structure; ints equal; floats within ``tolerance`` absolute."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), f"{where}: keys {got!r:.200}"
        for key in expected:
            assert_close(got[key], expected[key], tolerance, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: {got!r:.200} != {expected!r:.200}"
        for index, (left, right) in enumerate(zip(got, expected, strict=True)):
            assert_close(left, right, tolerance, f"{where}[{index}]")
    elif expected is None or isinstance(expected, bool):
        assert got is expected, f"{where}: {got!r} != {expected!r}"
    elif isinstance(expected, int) and where.split(".")[-1].startswith("action"):
        assert type(got) is int and got == expected, f"{where}: {got!r} != {expected!r}"
    else:
        assert isinstance(got, (int, float)) and not isinstance(got, bool), f"{where}: {got!r} is not a number"
        assert abs(got - expected) <= tolerance, f"{where}: {got!r} differs from {expected!r} by more than {tolerance}"


def nhenv_request(rng: np.random.Generator, frames: int = 1, width: int = 176, **options: Any) -> dict[str, Any]:
    """A random NhEnv-shaped request: feature values of varied scales, random masks."""
    obs = (rng.normal(size=(frames, width)) * rng.choice([1.0, 10.0, 100.0], size=width)).round(3).tolist()
    masks = [[bool(v) for v in rng.random(size) < 0.7] for size in NHENV_HEAD_SIZES]
    request: dict[str, Any] = {"obs": obs, "actionMasks": masks, "deterministic": True}
    request.update(options)
    return request


def _tensors(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {key: _tensors(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tensors(item) for item in value]
    return value


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> Path:
    """Write a checkpoint dict (numpy arrays as tensors) with the real ``torch.save``."""
    torch.save(_tensors(checkpoint), path)
    return path
