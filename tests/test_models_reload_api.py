"""``POST /models/reload``: the admin rule of ``/tasks``, the reload's result
as the answer, and ``GET /models`` after it."""

from __future__ import annotations

from typing import Any, Optional

import orjson
from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi
from osrs_twisted.http.state import HttpSettings
from osrs_twisted.inference.reload import ModelReloadService
from tests.reload_helpers import ManualLoader, ThreadClock, write_fixture, write_synthetic
from tests.stub_http import StubHttp, stub_treq
from tests.test_model_reload import Models
from tests.test_tasks_api import FromAddress


class ReloadRouteTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.models = Models(self, "a.zip")
        self.loader, self.clock = ManualLoader(), ThreadClock()
        self.reloader = ModelReloadService(self.models.served, self.models.sources, self.clock, loader=self.loader)
        self.reloader.startService()
        self.addCleanup(self.reloader.stopService)

    def client(self, token: Optional[str] = None, address: Optional[IPv4Address] = None,
               reloader: bool = True) -> StubHttp:
        api = HttpApi(HealthRegistry(), self.clock, HttpSettings(admin_token=token), models=self.models.served,
                      reloader=self.reloader if reloader else None)
        resource = api.resource()
        return stub_treq(resource if address is None else FromAddress(resource, address))

    def call(self, treq: StubHttp, method: str, path: str, status: int, **kwargs: Any) -> Any:
        d = treq.request(method, "http://osrs.test" + path, **kwargs)
        self.loader.run_all()
        treq.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.code, status)
        return orjson.loads(self.successResultOf(treq.content(response)))

    def test_answers_with_what_the_reload_did(self) -> None:
        write_synthetic(self.models.directory / "a.zip", seed=9)
        write_fixture(self.models.directory / "b.zip")
        (self.models.directory / "c.zip").write_bytes(b"garbage")
        body = self.call(self.client(), "POST", "/models/reload", 200)
        self.assertEqual(
            (body["outcome"], body["trigger"], body["loaded"], body["replaced"], body["removed"]),
            ("failed", "http", ["b"], ["a"], []),
        )
        self.assertEqual([f["path"] for f in body["failed"]], [str(self.models.directory / "c.zip")])
        listed = self.call(self.client(), "GET", "/models", 200)
        self.assertEqual(listed["lastReload"], body)
        self.assertEqual([s["path"] for s in listed["skipped"]], [str(self.models.directory / "c.zip")])

    def test_models_shows_no_reload_before_one(self) -> None:
        self.assertIsNone(self.call(self.client(), "GET", "/models", 200)["lastReload"])

    def test_admin_rule(self) -> None:
        remote = IPv4Address("TCP", "203.0.113.9", 4000)
        self.call(self.client(address=remote), "POST", "/models/reload", 403)
        self.call(self.client(token="t0ken"), "POST", "/models/reload", 401)
        headers = {"Authorization": "Bearer t0ken"}
        body = self.call(self.client(token="t0ken", address=remote), "POST", "/models/reload", 200, headers=headers)
        self.assertEqual(body["unchanged"], ["a"])
        self.assertEqual(self.models.served.reloads, {"ok": 1}, "refused requests ran no reload")

    def test_without_a_reloader(self) -> None:
        body = self.call(self.client(reloader=False), "POST", "/models/reload", 503)
        self.assertIn("loads no models", body["error"])
