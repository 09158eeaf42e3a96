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
from osrs_twisted.policy.rows import InputSpec, PreparedRow, RowRequest, prepare_row

BUILTIN_NAMES = ("noop", "demo")


@attrs.frozen(eq=False)
class LoadedModel:
    """One servable model: where it came from, and the engine that runs it.

    Its shape (frames, sizes, heads, extensions) is read from the engine's
    input contract, the one the requests are checked against.
    """

    name: str
    source: Literal["file", "builtin"]
    path: Path | None
    sha256: str | None
    loaded_at: float
    engine: Engine

    @property
    def spec(self) -> InputSpec:
        return self.engine.spec

    @property
    def frames(self) -> int | None:
        """Frames per request (shorter ones are padded); None takes any number."""
        return self.spec.max_frames

    @property
    def obs_size(self) -> int:
        return self.spec.actor_input_size

    @property
    def critic_size(self) -> int | None:
        return self.spec.critic_input_size

    @property
    def heads(self) -> tuple[int, ...]:
        return self.spec.head_sizes

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(self.spec.extensions)

    def prepare(self, request: RowRequest) -> PreparedRow:
        """Validate one request for this model (reactor thread); raises ``PolicyInputError``."""
        return prepare_row(self.spec, request)

    def predict(self, rows: Sequence[PreparedRow], rng: np.random.Generator) -> list[dict[str, Any]]:
        """Reply dicts for ``rows``, in order (worker thread; rows never affect each other)."""
        return self.engine.predict(rows, rng)


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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _policy_model(
    name: str, source: Literal["file", "builtin"], path: Path | None, engine: PolicyEngine
) -> LoadedModel:
    sha256 = None if path is None else file_sha256(path)
    return LoadedModel(name=name, source=source, path=path, sha256=sha256, loaded_at=time.time(), engine=engine)


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


def noop_model() -> LoadedModel:
    """The built-in ``noop`` model."""
    engine = NoopEngine()
    return LoadedModel(name="noop", source="builtin", path=None, sha256=None, loaded_at=time.time(), engine=engine)


def demo_model(device: str) -> LoadedModel:
    """The built-in, UNTRAINED ``demo`` model."""
    description = demo_policy()
    return _policy_model("demo", "builtin", None, PolicyEngine("demo", description, make_runner(description, device)))


class UnknownDefaultModel(ModelLoadError):
    """The model asked for as the default is not among those loaded."""


def model_paths(models_dir: Path | None, model_files: Sequence[Path]) -> tuple[dict[str, Path], list[str]]:
    """Model name → file: each ``*.zip`` in ``models_dir`` by stem, then each
    of ``model_files`` (which wins over a directory file of the same stem),
    and the warnings those replacements make."""
    paths: dict[str, Path] = {}
    warnings: list[str] = []
    if models_dir is not None and models_dir.is_dir():
        for path in sorted(models_dir.glob("*.zip")):
            paths[path.stem] = path
    for path in model_files:
        if path.stem in paths:
            warnings.append(f"model file {path} replaces {paths[path.stem]} as {path.stem!r}")
        paths[path.stem] = path
    return paths, warnings


def with_builtins(
    files: Mapping[str, LoadedModel],
    demo: bool,
    device: str,
    builtins: Mapping[str, LoadedModel] = types.MappingProxyType({}),
) -> tuple[dict[str, LoadedModel], list[str]]:
    """The built-ins (reusing those in ``builtins``) that no file replaces,
    then the file models; and the warnings to log."""
    models: dict[str, LoadedModel] = {}
    warnings: list[str] = []
    for name in BUILTIN_NAMES:
        if name in files:
            if name == "noop" or demo:
                warnings.append(f"model file {files[name].path} replaces the built-in model {name!r}")
        elif name in builtins:
            models[name] = builtins[name]
        elif name == "noop":
            models[name] = noop_model()
        elif demo:
            models[name] = demo_model(device)
            warnings.append(DEMO_WARNING)
    models.update(files)
    return models, warnings


def start_default(models: Mapping[str, LoadedModel], demo: bool) -> str | None:
    """The default without ``--default-model``: the only file model, else ``demo``, else none."""
    files = [name for name, model in models.items() if model.source == "file"]
    if len(files) == 1:
        return files[0]
    if demo and "demo" in models:
        return "demo"
    return None


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
    paths, warnings = model_paths(models_dir, model_files)
    required = set(model_files)
    files: dict[str, LoadedModel] = {}
    skipped: list[SkippedModel] = []
    for name, path in paths.items():
        try:
            files[name] = load_model_file(path, device, name)
        except ModelLoadError as error:
            if path in required:
                raise
            skipped.append(SkippedModel(path=path, error=str(error)))
            warnings.append(f"skipped model file {path}: {error}")
    models, builtin_warnings = with_builtins(files, demo, device)
    warnings.extend(builtin_warnings)

    if default_model is not None:
        if default_model not in models:
            raise UnknownDefaultModel(
                f"the default model {default_model!r} names no loaded model (loaded: {', '.join(sorted(models))})"
            )
        default: str | None = default_model
    else:
        default = start_default(models, demo)
    return ModelRegistry(
        models=types.MappingProxyType(models),
        default_name=default,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
    )
