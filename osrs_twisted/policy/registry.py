"""Every model the server can serve, loaded once at start and then only read.

This package does not log (it has no Twisted): what the operator should see
comes back as :attr:`ModelRegistry.warnings` and :attr:`ModelRegistry.skipped`
for the caller to log and to report in health.
"""

from __future__ import annotations

import hashlib
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np

from osrs_twisted.policy.builtin import DEMO_WARNING, demo_policy
from osrs_twisted.policy.engine import Engine, NoopEngine, PolicyEngine, make_runner
from osrs_twisted.policy.errors import ModelLoadError
from osrs_twisted.policy.loader import load_policy_file
from osrs_twisted.policy.rows import PreparedRow, prepare_row

BUILTIN_NAMES = ("noop", "demo")


@attrs.frozen(eq=False)
class LoadedModel:
    """One servable model: what ``GET /models`` says about it, and its engine."""

    name: str
    source: Literal["file", "builtin"]
    path: Path | None
    sha256: str | None
    loaded_at: float
    frames: int | None
    obs_size: int
    critic_size: int | None
    heads: tuple[int, ...]
    extensions: tuple[str, ...]
    engine: Engine

    def prepare(
        self,
        obs: object,
        action_masks: object,
        deterministic: object,
        return_log_prob: bool,
        return_entropy: bool,
        return_value: bool,
        return_probs: bool,
        extensions: Sequence[str],
    ) -> PreparedRow:
        """Validate one request for this model (reactor thread); raises ``PolicyInputError``."""
        return prepare_row(
            self.engine.spec,
            obs,
            action_masks,
            deterministic,
            return_log_prob,
            return_entropy,
            return_value,
            return_probs,
            extensions,
        )

    def predict(self, rows: Sequence[PreparedRow], rng: np.random.Generator) -> list[dict[str, Any]]:
        """Reply dicts for ``rows``, in order (worker thread; rows never affect each other)."""
        return self.engine.predict(rows, rng)

    def describe(self) -> dict[str, Any]:
        """This model's entry in the ``GET /models`` document."""
        return {
            "name": self.name,
            "source": self.source,
            "path": None if self.path is None else str(self.path),
            "sha256": self.sha256,
            "loadedAt": self.loaded_at,
            "frames": self.frames,
            "obsSize": self.obs_size,
            "criticSize": self.critic_size,
            "heads": list(self.heads),
            "extensions": list(self.extensions),
        }


@attrs.frozen
class SkippedModel:
    """A file in the models directory that could not be loaded."""

    path: Path
    error: str


@attrs.frozen(eq=False)
class ModelRegistry:
    """The loaded models by name; immutable, so any thread may read it."""

    models: Mapping[str, LoadedModel]
    default_name: str | None
    skipped: tuple[SkippedModel, ...]
    warnings: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def get(self, name: str) -> LoadedModel | None:
        return self.models.get(name)

    @property
    def file_models(self) -> tuple[str, ...]:
        return tuple(name for name, model in self.models.items() if model.source == "file")

    def describe(self) -> dict[str, Any]:
        """The ``GET /models`` document body."""
        return {
            "default": self.default_name,
            "models": [model.describe() for model in self.models.values()],
            "skipped": [{"path": str(skip.path), "error": skip.error} for skip in self.skipped],
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _policy_model(
    name: str, source: Literal["file", "builtin"], path: Path | None, engine: PolicyEngine
) -> LoadedModel:
    description = engine.description
    return LoadedModel(
        name=name,
        source=source,
        path=path,
        sha256=None if path is None else _sha256(path),
        loaded_at=time.time(),
        frames=description.frames,
        obs_size=description.actor_input_size,
        critic_size=description.critic_input_size,
        heads=description.head_sizes,
        extensions=tuple(ext.name for ext in description.extensions),
        engine=engine,
    )


def load_model_file(path: Path, device: str = "cpu", name: str | None = None) -> LoadedModel:
    """Load one ``.zip``, named by its stem unless ``name`` is given; raises :class:`ModelLoadError`."""
    name = name or path.stem
    description = load_policy_file(path)
    try:
        runner = make_runner(description, device)
    except ModelLoadError as error:
        raise ModelLoadError(f"{path}: {error}") from None
    except RuntimeError as error:
        raise ModelLoadError(f"{path}: cannot use device {device!r} ({error})") from None
    return _policy_model(name, "file", path, PolicyEngine(name, description, runner))


def _noop_model() -> LoadedModel:
    engine = NoopEngine()
    spec = engine.spec
    return LoadedModel(
        name="noop",
        source="builtin",
        path=None,
        sha256=None,
        loaded_at=time.time(),
        frames=None,
        obs_size=spec.actor_input_size,
        critic_size=None,
        heads=spec.head_sizes,
        extensions=(),
        engine=engine,
    )


def _demo_model(device: str) -> LoadedModel:
    description = demo_policy()
    return _policy_model("demo", "builtin", None, PolicyEngine("demo", description, make_runner(description, device)))


class UnknownDefaultModel(ModelLoadError):
    """The model asked for as the default is not among those loaded."""


def load_registry(
    models_dir: Path | None,
    model_files: Sequence[Path],
    demo: bool = True,
    default_model: str | None = None,
    device: str = "cpu",
) -> ModelRegistry:
    """Load the built-ins, every ``*.zip`` in ``models_dir`` and each of ``model_files``.

    A bad file in ``models_dir`` is skipped and recorded; a bad ``--model``
    file, or a ``default_model`` that names no loaded model, raises
    :class:`ModelLoadError` (the server must not start). ``demo`` is untrained;
    its presence adds a warning for the caller to log.
    """
    files: dict[str, LoadedModel] = {}
    skipped: list[SkippedModel] = []
    warnings: list[str] = []
    if models_dir is not None and models_dir.is_dir():
        for path in sorted(models_dir.glob("*.zip")):
            try:
                files[path.stem] = load_model_file(path, device)
            except ModelLoadError as error:
                skipped.append(SkippedModel(path=path, error=str(error)))
                warnings.append(f"skipped model file {path}: {error}")
    for path in model_files:
        if path.stem in files:
            warnings.append(f"model file {path} replaces {files[path.stem].path} as {path.stem!r}")
        files[path.stem] = load_model_file(path, device)

    models: dict[str, LoadedModel] = {}
    for name in BUILTIN_NAMES:
        if name in files:
            if name == "noop" or demo:
                warnings.append(f"model file {files[name].path} replaces the built-in model {name!r}")
        elif name == "noop":
            models[name] = _noop_model()
        elif demo:
            models[name] = _demo_model(device)
            warnings.append(DEMO_WARNING)
    models.update(files)

    if default_model is not None:
        if default_model not in models:
            raise UnknownDefaultModel(
                f"the default model {default_model!r} names no loaded model (loaded: {', '.join(sorted(models))})"
            )
        default: str | None = default_model
    elif len(files) == 1:
        default = next(iter(files))
    elif demo and "demo" in models:
        default = "demo"
    else:
        default = None
    return ModelRegistry(
        models=types.MappingProxyType(models),
        default_name=default,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
    )
