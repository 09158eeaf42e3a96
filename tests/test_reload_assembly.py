"""``--models-poll`` and where the model reloader sits in the service tree."""

from __future__ import annotations

from twisted.application.service import IServiceCollection
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.inference.reload import ModelReloadService
from tests.test_options import parse
from tests.test_service import build


class ModelsPollOptionTests(SynchronousTestCase):
    def test_default_is_off(self) -> None:
        self.assertEqual(parse([]).config.models.poll, 0.0)

    def test_command_line_beats_the_environment(self) -> None:
        self.assertEqual(parse([], {"OSRS_MODELS_POLL": "2.5"}).config.models.poll, 2.5)
        self.assertEqual(parse(["--models-poll", "10"], {"OSRS_MODELS_POLL": "2.5"}).config.models.poll, 10.0)

    def test_bad_values_are_named(self) -> None:
        for value in ("-1", "soon", "nan", "inf"):
            error = self.assertRaises(usage.UsageError, parse, ["--models-poll", value])
            self.assertIn("--models-poll", str(error))
        error = self.assertRaises(usage.UsageError, parse, [], {"OSRS_MODELS_POLL": "x"})
        self.assertIn("OSRS_MODELS_POLL='x'", str(error))


class ReloaderPlacementTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.database = "sqlite:///" + self.mktemp() + ".sqlite3"

    def reloader(self, service: object, *path: str) -> ModelReloadService:
        for name in path:
            service = IServiceCollection(service).getServiceNamed(name)
        assert isinstance(service, ModelReloadService)
        return service

    def test_under_the_model_pool_with_the_poll_and_its_warm_up(self) -> None:
        service, _ = build(["--database", self.database, "--models-poll", "3"])
        pool = IServiceCollection(service).getServiceNamed("models")
        reloader = self.reloader(service, "models", "reload")
        self.assertEqual(reloader.poll, 3.0)
        self.assertEqual(reloader.warm, pool.warm)
        self.assertFalse(reloader.sighup, "a memory reactor gets no signal handler")

    def test_under_http_in_an_http_only_process(self) -> None:
        service, _ = build(["--database", self.database, "--http-only"])
        reloader = self.reloader(service, "http", "reload")
        api_models = reloader.served
        self.assertIn("demo", api_models.names)
