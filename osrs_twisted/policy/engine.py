"""What serves a model's requests: a policy on a runner, or the ``noop`` model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from osrs_twisted.policy.batch import Runner, assemble, replies
from osrs_twisted.policy.builtin import NHENV_ACTOR_INPUT, NHENV_HEAD_SIZES
from osrs_twisted.policy.errors import ModelLoadError
from osrs_twisted.policy.model import PolicyDescription
from osrs_twisted.policy.numpy_runner import NumpyRunner
from osrs_twisted.policy.rows import InputSpec, PreparedRow


class Engine(Protocol):
    """The input contract of a model, and its batch call (run on a worker thread)."""

    @property
    def spec(self) -> InputSpec: ...

    def predict(self, rows: Sequence[PreparedRow], rng: np.random.Generator) -> list[dict[str, Any]]: ...


def make_runner(description: PolicyDescription, device: str) -> Runner:
    """numpy on ``cpu`` (fastest there, and torch is never imported); torch on
    any other device (``cuda``, ``cuda:1``). A device torch cannot use is a
    :class:`ModelLoadError`: torch says so with ``RuntimeError`` (an unknown
    name) or ``AssertionError`` (CUDA on a build without it)."""
    if device == "cpu":
        return NumpyRunner(description)
    from osrs_twisted.policy.torch_runner import TorchRunner

    try:
        return TorchRunner(description, device)
    except (RuntimeError, AssertionError) as error:
        raise ModelLoadError(f"cannot use device {device!r} ({error})") from None


class PolicyEngine:
    """A loaded or built-in policy; stateless after construction, so threads may share it."""

    def __init__(self, name: str, description: PolicyDescription, runner: Runner) -> None:
        self.description = description
        self._runner = runner
        self._spec = InputSpec(
            model_name=name,
            max_frames=description.frames,
            actor_input_size=description.actor_input_size,
            critic_input_size=description.critic_input_size,
            max_width=description.max_obs_width,
            head_sizes=description.head_sizes,
            extensions={ext.name: ext.input_size for ext in description.extensions},
        )

    @property
    def spec(self) -> InputSpec:
        return self._spec

    def predict(self, rows: Sequence[PreparedRow], rng: np.random.Generator) -> list[dict[str, Any]]:
        if not rows:
            return []
        outputs = self._runner.run(assemble(rows), rng)
        return replies(rows, outputs, self.description.head_sizes)


class NoopEngine:
    """``noop``: action 0 on every head for any NhEnv-shaped request, nulls for the rest."""

    def __init__(self, name: str = "noop") -> None:
        self._spec = InputSpec(
            model_name=name,
            max_frames=None,
            actor_input_size=NHENV_ACTOR_INPUT,
            critic_input_size=None,
            max_width=None,
            head_sizes=NHENV_HEAD_SIZES,
            extensions={},
        )

    @property
    def spec(self) -> InputSpec:
        return self._spec

    def predict(self, rows: Sequence[PreparedRow], rng: np.random.Generator) -> list[dict[str, Any]]:
        return [
            {
                "action": [0] * len(NHENV_HEAD_SIZES),
                "logProb": None,
                "entropy": None,
                "values": None,
                "probs": None,
                "extensionResults": [],
            }
            for _ in rows
        ]
