"""Model reload: what a reload loads, replaces, removes and keeps; a bad file
keeps the version serving; reloads coalesce; the poll; warm-up before the swap."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any, Iterable

import attrs
from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.http.render import models_json, reload_json
from osrs_twisted.inference.pool import ModelPoolService
from osrs_twisted.inference.reload import ModelReloadService
from osrs_twisted.policy import LoadedModel, load_registry
from osrs_twisted.policy.registry import file_sha256
from osrs_twisted.policy.reload import ModelSources, ReloadResult, ServedModels, plan_reload, warmup_sizes
from tests.reload_helpers import ManualLoader, ThreadClock, write_fixture, write_synthetic


class Models:
    """A models directory and the sources and registry read from it."""

    def __init__(self, test: SynchronousTestCase, *files: str, default: str | None = None) -> None:
        self.directory = Path(test.mktemp())
        self.directory.mkdir()
        for name in files:
            write_fixture(self.directory / name)
        self.sources = ModelSources(self.directory, default=default)
        self.served = ServedModels(load_registry(self.directory, [], default_model=default))


class PlanTests(SynchronousTestCase):
    """``plan_reload``: the blocking part, compared file by file with what serves."""

    def test_unchanged_files_keep_their_loaded_version(self) -> None:
        models = Models(self, "a.zip")
        before = models.served.get("a")
        os.utime(models.directory / "a.zip")
        plan = plan_reload(models.served.registry, models.sources)
        self.assertIs(plan.registry.get("a"), before, "same sha256: the loaded version stays, not reloaded")
        self.assertEqual((plan.unchanged, plan.loaded, plan.replaced, plan.removed), (("a",), (), (), ()))

    def test_new_changed_and_removed_files(self) -> None:
        models = Models(self, "a.zip", "gone.zip")
        write_synthetic(models.directory / "a.zip", seed=3)
        write_fixture(models.directory / "new.zip")
        (models.directory / "gone.zip").unlink()
        plan = plan_reload(models.served.registry, models.sources)
        self.assertEqual((plan.loaded, plan.replaced, plan.removed), (("new",), ("a",), ("gone",)))
        self.assertEqual(plan.registry.get("a").sha256, file_sha256(models.directory / "a.zip"))  # type: ignore[union-attr]
        self.assertIsNone(plan.registry.get("gone"))
        self.assertEqual([m.name for m in plan.new_models], ["new", "a"])

    def test_builtins_stay_and_come_back_when_their_file_goes(self) -> None:
        models = Models(self, "demo.zip")
        self.assertEqual(models.served.get("demo").source, "file")  # type: ignore[union-attr]
        noop = models.served.get("noop")
        (models.directory / "demo.zip").unlink()
        plan = plan_reload(models.served.registry, models.sources)
        self.assertIs(plan.registry.get("noop"), noop)
        self.assertEqual(plan.registry.get("demo").source, "builtin")  # type: ignore[union-attr]
        self.assertEqual(plan.removed, ("demo",))

    def test_a_bad_file_keeps_the_version_serving(self) -> None:
        models = Models(self, "a.zip")
        before = models.served.get("a")
        (models.directory / "a.zip").write_bytes(b"truncated")
        (models.directory / "broken.zip").write_bytes(b"not a zip either")
        plan = plan_reload(models.served.registry, models.sources)
        self.assertIs(plan.registry.get("a"), before)
        self.assertIsNone(plan.registry.get("broken"))
        self.assertEqual([s.path.name for s in plan.failed], ["a.zip", "broken.zip"])
        self.assertEqual(plan.registry.skipped, plan.failed)

    def test_model_files_are_reread_and_a_missing_one_keeps_serving(self) -> None:
        path = write_fixture(Path(self.mktemp() + ".zip"))
        sources = ModelSources(None, files=(path,))
        served = ServedModels(load_registry(None, [path]))
        write_synthetic(path, seed=4)
        plan = plan_reload(served.registry, sources)
        self.assertEqual(plan.replaced, (path.stem,))
        path.unlink()
        missing = plan_reload(plan.registry, sources)
        self.assertIs(missing.registry.get(path.stem), plan.registry.get(path.stem))
        self.assertEqual([s.path for s in missing.failed], [path])

    def test_the_default_stays_while_loaded(self) -> None:
        models = Models(self, "a.zip")
        self.assertEqual(models.served.default_name, "a")
        write_fixture(models.directory / "b.zip")
        plan = plan_reload(models.served.registry, models.sources)
        self.assertEqual(plan.registry.default_name, "a", "a second file does not move the default to demo")
        (models.directory / "a.zip").unlink()
        plan = plan_reload(plan.registry, models.sources)
        self.assertEqual(plan.registry.default_name, "b", "start's rule once the default is gone")

    def test_a_configured_default_that_goes_is_reported(self) -> None:
        models = Models(self, "a.zip", default="a")
        (models.directory / "a.zip").unlink()
        plan = plan_reload(models.served.registry, models.sources)
        self.assertEqual(plan.registry.default_name, "a")
        self.assertTrue(any("default model 'a' is not loaded" in w for w in plan.warnings))

    def test_warmup_sizes(self) -> None:
        self.assertEqual(warmup_sizes(256), (1, 8, 64, 256))
        self.assertEqual(warmup_sizes(64), (1, 8, 64))
        self.assertEqual(warmup_sizes(5), (1, 5))
        self.assertEqual(warmup_sizes(1), (1,))


class Warmer:
    """Records which models were warmed, and what served each name meanwhile."""

    def __init__(self, served: ServedModels, failing: Iterable[str] = ()) -> None:
        self.served = served
        self.failing = set(failing)
        self.warmed: list[tuple[LoadedModel, LoadedModel | None]] = []

    def __call__(self, models: Iterable[LoadedModel]) -> "Deferred[None]":
        for model in models:
            self.warmed.append((model, self.served.get(model.name)))
            if model.name in self.failing:
                return fail(RuntimeError("predict blew up"))
        return succeed(None)


class ReloadServiceTests(SynchronousTestCase):
    """``ModelReloadService`` with a loader the test runs and a clock."""

    def service(self, models: Models, **options: Any) -> tuple[ModelReloadService, ManualLoader, Warmer]:
        loader, clock = ManualLoader(), ThreadClock()
        warmer = Warmer(models.served, options.pop("failing", ()))
        service = ModelReloadService(models.served, models.sources, clock, warmer, loader=loader, **options)
        service.startService()
        self.addCleanup(service.stopService)
        self.clock = clock
        return service, loader, warmer

    def result(self, d: "Deferred[ReloadResult]") -> ReloadResult:
        return self.successResultOf(d)

    def test_replacement_warms_before_it_serves_then_swaps(self) -> None:
        models = Models(self, "a.zip")
        old = models.served.get("a")
        service, loader, warmer = self.service(models)
        write_synthetic(models.directory / "a.zip", seed=5)
        d = service.reload("http")
        self.assertIs(models.served.get("a"), old, "nothing changes before the load has run")
        loader.run_all()
        result = self.result(d)
        [(warmed, serving_meanwhile)] = warmer.warmed
        self.assertIs(serving_meanwhile, old, "the old version served while the new one warmed")
        self.assertIs(models.served.get("a"), warmed)
        self.assertEqual((result.outcome, result.replaced, result.trigger), ("ok", ("a",), "http"))
        self.assertEqual(models.served.last_reload, result)
        self.assertEqual((models.served.reloads, models.served.model_loads["replaced"]), ({"ok": 1}, 1))
        document = models_json(models.served)
        self.assertEqual(document["models"][-1]["sha256"], file_sha256(models.directory / "a.zip"))
        self.assertEqual(document["lastReload"]["replaced"], ["a"])

    def test_the_swapped_in_version_leaves_the_collectors_generations(self) -> None:
        models = Models(self, "a.zip")
        service, loader, _ = self.service(models)
        write_synthetic(models.directory / "a.zip", seed=5)
        d = service.reload("http")
        loader.run_all()
        self.result(d)
        new = models.served.get("a")
        self.assertTrue(gc.is_tracked(new))
        # frozen objects are in no generation: the collector no longer walks them
        self.assertFalse(any(obj is new for generation in (0, 1, 2) for obj in gc.get_objects(generation)))

    def test_a_corrupt_replacement_keeps_the_old_version_and_is_reported(self) -> None:
        models = Models(self, "a.zip")
        old = models.served.get("a")
        pool = ModelPoolService(models.served, ThreadClock(), warm_at_start=False)
        service, loader, _ = self.service(models)
        (models.directory / "a.zip").write_bytes(b"PK\x03\x04 half a file")
        d = service.reload()
        loader.run_all()
        result = self.result(d)
        self.assertIs(models.served.get("a"), old)
        self.assertEqual(result.outcome, "failed")
        self.assertEqual([f.path for f in result.failed], [models.directory / "a.zip"])
        self.assertEqual(models.served.reloads, {"failed": 1})
        self.assertEqual(models.served.model_loads["failed"], 1)
        document = models_json(models.served)
        self.assertEqual([s["path"] for s in document["skipped"]], [str(models.directory / "a.zip")])
        self.assertEqual(document["models"][-1]["sha256"], old.sha256)  # type: ignore[union-attr]
        self.assertEqual(reload_json(result)["outcome"], "failed")
        pool.startService()
        self.addCleanup(pool.stopService)
        check = pool.check()
        self.assertEqual((check.status, check.detail), ("degraded", "1 model file(s) skipped"))

    def test_a_version_failing_its_warm_up_does_not_serve(self) -> None:
        models = Models(self, "a.zip")
        old = models.served.get("a")
        service, loader, _ = self.service(models, failing=["a", "b"])
        write_synthetic(models.directory / "a.zip", seed=6)
        write_fixture(models.directory / "b.zip")
        d = service.reload()
        loader.run_all()
        result = self.result(d)
        self.assertIs(models.served.get("a"), old)
        self.assertIsNone(models.served.get("b"))
        self.assertEqual((result.replaced, result.loaded), ((), ()))
        self.assertEqual(sorted(f.error for f in result.failed), ["warm-up failed: predict blew up"] * 2)

    def test_a_removed_file_unloads(self) -> None:
        models = Models(self, "a.zip", "b.zip")
        service, loader, _ = self.service(models)
        (models.directory / "b.zip").unlink()
        d = service.reload()
        loader.run_all()
        self.assertEqual(self.result(d).removed, ("b",))
        self.assertNotIn("b", models.served.names)

    def test_triggers_during_a_reload_coalesce_into_one_more(self) -> None:
        models = Models(self, "a.zip")
        service, loader, _ = self.service(models)
        first = service.reload("signal")
        second, third = service.reload("http"), service.reload("signal")
        self.assertEqual(len(loader.pending), 1, "one reload at a time")
        loader.run_next()
        self.assertEqual(self.result(first).trigger, "signal")
        self.assertEqual(len(loader.pending), 1, "exactly one more reload follows")
        loader.run_next()
        self.assertEqual(loader.pending, [])
        queued = self.result(second)
        self.assertIs(queued, self.result(third))
        self.assertEqual(queued.trigger, "http", "the queued reload keeps its first trigger")
        self.assertEqual(models.served.reloads, {"ok": 2})
        again = service.reload()
        loader.run_all()
        self.assertEqual(self.result(again).unchanged, ("a",))

    def test_the_poll_reloads_when_the_files_change(self) -> None:
        models = Models(self, "a.zip")
        service, loader, _ = self.service(models, poll=5.0)
        loader.run_all()  # the first fingerprint
        self.clock.advance(5)
        loader.run_all()
        self.assertIsNone(models.served.last_reload, "nothing changed: no reload")
        write_fixture(models.directory / "b.zip")
        self.clock.advance(5)
        loader.run_all()
        self.assertEqual(models.served.last_reload.loaded, ("b",))  # type: ignore[union-attr]
        self.assertEqual(models.served.last_reload.trigger, "poll")  # type: ignore[union-attr]

    def test_stop_waits_for_the_running_reload_then_stops_the_loader(self) -> None:
        models = Models(self, "a.zip")
        service, loader, _ = self.service(models)
        d = service.reload()
        queued = service.reload()
        stopped = service.stopService()
        self.assertNoResult(stopped)
        loader.run_all()
        self.successResultOf(stopped)
        self.assertTrue(loader.stopped)
        self.assertIs(self.result(queued), self.result(d), "a stopped service starts no queued reload")


class ServedModelsTests(SynchronousTestCase):
    def test_reads_follow_the_swapped_registry(self) -> None:
        first = load_registry(None, [], demo=True)
        served = ServedModels(first)
        self.assertEqual((served.names, served.default_name), (first.names, "demo"))
        second = attrs.evolve(first, default_name=None)
        plan = plan_reload(second, ModelSources(None))
        served.swap(plan, plan.result("api", 1.0, 2.0))
        self.assertEqual(served.names, ("noop", "demo"))
        self.assertIs(served.get("demo"), first.get("demo"), "built-ins are kept, not rebuilt")
        self.assertEqual(served.last_reload.finished_at, 2.0)  # type: ignore[union-attr]
