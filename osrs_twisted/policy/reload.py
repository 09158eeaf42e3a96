"""Reloading models while serving: what changed on disk, and what serves next.

Plain logic without Twisted. :func:`plan_reload` does the blocking part
(reading, hashing, loading, validating, building engines) and is meant for a
loader thread; :class:`ServedModels` holds the registry now serving and is
swapped whole, on one thread, once the new models have warmed up. What a
reload does with each kind of model is in docs/models.md ("Model reload").
"""

from __future__ import annotations

import types
from collections import Counter
from pathlib import Path
from typing import Literal, Mapping, Optional

import attrs

from osrs_twisted.policy.errors import ModelLoadError
from osrs_twisted.policy.registry import (
    LoadedModel,
    ModelRegistry,
    SkippedModel,
    file_sha256,
    load_model_file,
    model_paths,
    start_default,
    with_builtins,
)
from osrs_twisted.policy.rows import PreparedRow, RowRequest

#: What started a reload.
Trigger = Literal["signal", "http", "poll", "api"]

#: The batch sizes a model is warmed up with, capped at ``--max-batch``.
WARMUP_SIZES: tuple[int, ...] = (1, 8, 64)

#: One file as the poll sees it: name, size, modification time (ns).
Fingerprint = frozenset[tuple[str, int, int]]


@attrs.frozen
class ModelSources:
    """Where the models come from; what start and every reload read."""

    directory: Optional[Path]
    files: tuple[Path, ...] = ()
    demo: bool = True
    default: Optional[str] = None
    device: str = "cpu"

    def paths(self) -> dict[str, Path]:
        """Model name → the file it is loaded from."""
        return model_paths(self.directory, self.files)[0]

    def fingerprint(self) -> Fingerprint:
        """Name, size and mtime of every model file: cheap to compare, for the poll."""
        seen = set()
        for name, path in self.paths().items():
            try:
                stat = path.stat()
            except OSError:
                continue
            seen.add((name, stat.st_size, stat.st_mtime_ns))
        return frozenset(seen)


@attrs.frozen
class ReloadResult:
    """What one reload did, by model name (``failed``: the files and why)."""

    trigger: Trigger
    started_at: float
    finished_at: float
    loaded: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[SkippedModel, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def outcome(self) -> Literal["ok", "failed"]:
        """``failed`` when any file could not be loaded (what serves was kept)."""
        return "failed" if self.failed else "ok"


@attrs.frozen
class ReloadPlan:
    """A reload's new registry, not yet serving, and what it changes."""

    registry: ModelRegistry
    previous: ModelRegistry
    loaded: tuple[str, ...]
    replaced: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]
    failed: tuple[SkippedModel, ...]
    warnings: tuple[str, ...]

    @property
    def new_models(self) -> tuple[LoadedModel, ...]:
        """The models this reload built, which must warm up before they serve."""
        return tuple(self.registry.models[name] for name in (*self.loaded, *self.replaced))

    def reject(self, name: str, error: str) -> ReloadPlan:
        """This plan without the new version of ``name`` (it failed its warm-up):
        the version serving now stays, or the name stays absent."""
        model = self.registry.models[name]
        models = dict(self.registry.models)
        old = self.previous.get(name)
        if old is None:
            del models[name]
        else:
            models[name] = old
        failed = SkippedModel(path=model.path or Path(name), error=error)
        registry = attrs.evolve(
            self.registry,
            models=types.MappingProxyType(models),
            skipped=(*self.registry.skipped, failed),
        )
        return attrs.evolve(
            self,
            registry=registry,
            loaded=tuple(n for n in self.loaded if n != name),
            replaced=tuple(n for n in self.replaced if n != name),
            failed=(*self.failed, failed),
        )

    def result(self, trigger: Trigger, started_at: float, finished_at: float) -> ReloadResult:
        return ReloadResult(
            trigger=trigger,
            started_at=started_at,
            finished_at=finished_at,
            loaded=self.loaded,
            replaced=self.replaced,
            removed=self.removed,
            unchanged=self.unchanged,
            failed=self.failed,
            warnings=self.warnings,
        )


def _default(
    sources: ModelSources, previous: ModelRegistry, models: Mapping[str, LoadedModel], warnings: list[str]
) -> Optional[str]:
    """``--default-model`` stays the default even while absent (with a warning);
    without it the current default stays while loaded, else start's rule."""
    if sources.default is not None:
        if sources.default not in models:
            warnings.append(
                f"the default model {sources.default!r} is not loaded; requests naming no model get unknown_model"
            )
        return sources.default
    if previous.default_name is not None and previous.default_name in models:
        return previous.default_name
    return start_default(models, sources.demo)


def plan_reload(previous: ModelRegistry, sources: ModelSources) -> ReloadPlan:
    """Compare the files with what serves and load what is new or changed (by sha256).

    Blocking (file reads, unpickling, engine building): run it off the
    reactor thread. A file that fails to load keeps the version serving
    under its name, if any, and is reported; a directory file that is gone
    unloads; built-ins stay.
    """
    paths, warnings = model_paths(sources.directory, sources.files)
    files: dict[str, LoadedModel] = {}
    loaded: list[str] = []
    replaced: list[str] = []
    unchanged: list[str] = []
    failed: list[SkippedModel] = []
    for name, path in paths.items():
        old = previous.get(name)
        old_file = old if old is not None and old.source == "file" else None
        try:
            if old_file is not None and old_file.path == path and old_file.sha256 == file_sha256(path):
                files[name] = old_file
                unchanged.append(name)
                continue
            files[name] = load_model_file(path, sources.device, name)
        except (ModelLoadError, OSError) as error:
            failed.append(SkippedModel(path=path, error=str(error)))
            warnings.append(f"model file {path} not loaded: {error}")
            if old_file is not None:
                files[name] = old_file
            continue
        (replaced if old_file is not None else loaded).append(name)
    removed = [name for name in previous.file_models if name not in paths]
    builtins = {name: model for name, model in previous.models.items() if model.source == "builtin"}
    models, builtin_warnings = with_builtins(files, sources.demo, sources.device, builtins)
    warnings.extend(builtin_warnings)
    default = _default(sources, previous, models, warnings)
    registry = ModelRegistry(
        models=types.MappingProxyType(models),
        default_name=default,
        skipped=tuple(failed),
        warnings=tuple(warnings),
    )
    return ReloadPlan(
        registry=registry,
        previous=previous,
        loaded=tuple(loaded),
        replaced=tuple(replaced),
        removed=tuple(removed),
        unchanged=tuple(unchanged),
        failed=tuple(failed),
        warnings=tuple(warnings),
    )


class ServedModels:
    """The registry now serving, swapped whole by a reload; and the reload counters.

    Read and swapped on one thread (the reactor's). The model thread never
    reads it: a batch carries the model version it runs.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        #: Reloads by outcome: ``ok``, ``failed`` (a file did not load), ``error`` (a bug).
        self.reloads: Counter[str] = Counter()
        #: Model versions by what a reload did with them: loaded, replaced, removed, failed.
        self.model_loads: Counter[str] = Counter()
        self.last_reload: Optional[ReloadResult] = None

    @property
    def default_name(self) -> Optional[str]:
        return self.registry.default_name

    @property
    def names(self) -> tuple[str, ...]:
        return self.registry.names

    @property
    def skipped(self) -> tuple[SkippedModel, ...]:
        return self.registry.skipped

    @property
    def file_models(self) -> tuple[str, ...]:
        return self.registry.file_models

    def get(self, name: str) -> Optional[LoadedModel]:
        return self.registry.get(name)

    def swap(self, plan: ReloadPlan, result: ReloadResult) -> None:
        """Serve ``plan``'s registry from now on and count what it changed."""
        self.registry = plan.registry
        self.record(result)

    def record(self, result: ReloadResult) -> None:
        self.last_reload = result
        self.reloads[result.outcome] += 1
        self.model_loads.update(
            loaded=len(result.loaded),
            replaced=len(result.replaced),
            removed=len(result.removed),
            failed=len(result.failed),
        )


def warmup_sizes(max_batch: int) -> tuple[int, ...]:
    """1, 8, 64 (those below ``max_batch``), then ``max_batch`` itself."""
    return (*(size for size in WARMUP_SIZES if size < max_batch), max_batch)


def warmup_row(model: LoadedModel) -> PreparedRow:
    """A valid row for ``model`` that takes every path: sampling, every output, every extension."""
    spec = model.spec
    frames = spec.max_frames or 1
    width = max(spec.actor_input_size, spec.critic_input_size or 0, *spec.extensions.values())
    request = RowRequest(
        obs=[[0.0] * width for _ in range(frames)],
        action_masks=[[True] * size for size in spec.head_sizes],
        return_log_prob=True,
        return_entropy=True,
        return_value=True,
        return_probs=True,
        extensions=tuple(spec.extensions),
    )
    return model.prepare(request)
