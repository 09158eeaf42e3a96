"""Shared pieces of the model reload tests: model files, a loader the test
controls, and a fake engine that counts its predict calls."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from osrs_twisted.policy import LoadedModel, PreparedRow
from osrs_twisted.policy.builtin import NHENV_ACTOR_INPUT, NHENV_HEAD_SIZES, synthetic_nhenv_checkpoint
from osrs_twisted.policy.rows import InputSpec
from tests.fixtures import trained_model_path
from tests.policy_helpers import save_checkpoint


def write_fixture(path: Path) -> Path:
    """The fixture checkpoint at ``path``, replacing any file there in one rename."""
    temporary = path.with_suffix(".tmp")
    shutil.copy(trained_model_path(), temporary)
    os.replace(temporary, path)
    return path


def write_synthetic(path: Path, seed: int) -> Path:
    """A checkpoint shaped like the fixture (2 frames, NhEnv, winrate) with other weights."""
    temporary = path.with_suffix(".tmp")
    save_checkpoint(temporary, synthetic_nhenv_checkpoint(seed=seed, frames=2))
    os.replace(temporary, path)
    return path


class ThreadClock(Clock):
    """A Clock that also takes "calls from threads" (run at once), for a loader on the same thread."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)


class ManualLoader:
    """A thread pool stand-in that holds each job until the test runs it."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[bool, Any], None], Callable[..., Any], tuple[Any, ...]]] = []
        self.ran: list[str] = []
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def callInThreadWithCallback(
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        self.pending.append((on_result, lambda: f(*args, **kwargs), ()))

    def run_next(self) -> None:
        on_result, job, _ = self.pending.pop(0)
        try:
            result = job()
        except Exception:
            on_result(False, Failure())
        else:
            self.ran.append(type(result).__name__)
            on_result(True, result)

    def run_all(self) -> None:
        while self.pending:
            self.run_next()


class CountingEngine:
    """An engine for NhEnv-shaped rows that records the size of every batch."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.batches: list[int] = []
        self.fail = fail
        self._spec = InputSpec(
            model_name=name, max_frames=1, actor_input_size=NHENV_ACTOR_INPUT, critic_input_size=None,
            max_width=None, head_sizes=NHENV_HEAD_SIZES, extensions={},
        )

    @property
    def spec(self) -> InputSpec:
        return self._spec

    def predict(self, rows: Sequence[PreparedRow], rng: np.random.Generator) -> list[dict[str, Any]]:
        if self.fail:
            raise RuntimeError("this engine cannot predict")
        self.batches.append(len(rows))
        return [{"action": [0] * len(NHENV_HEAD_SIZES)} for _ in rows]


def counting_model(name: str, engine: Optional[CountingEngine] = None) -> LoadedModel:
    return LoadedModel(
        name=name, source="file", path=Path(f"/m/{name}.zip"), sha256="0" * 64, loaded_at=time.time(),
        engine=engine or CountingEngine(name),
    )
