"""``/health/ready`` follows start-up: 503 with the reasons while the store
migrates and the catalog loads, 200 once both are done and the models run;
``/health/live`` answers 200 all along."""

from __future__ import annotations

from typing import Any

import orjson
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HealthApi, HttpApi
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.readiness import ReadinessRegistry, catalog_readiness, store_readiness
from osrs_twisted.store.memory import MemoryRunner
from osrs_twisted.store.service import StoreService
from osrs_twisted.store.store import Store
from tests.stub_http import StubHttp, stub_treq


class GatedStore(Store):
    """A memory store whose start waits for the test's ``gate``."""

    def __init__(self, gate: "Deferred[None]") -> None:
        super().__init__(MemoryRunner())
        self.gate = gate

    def start(self) -> "Deferred[None]":
        return self.gate.addCallback(lambda _: Store.start(self))


class ReadinessTests(SynchronousTestCase):
    def get(self, stub: StubHttp, path: str) -> tuple[int, Any]:
        response = self.successResultOf(stub.get("http://osrs" + path))
        return response.code, orjson.loads(self.successResultOf(stub.content(response)))

    def test_flips_as_start_up_completes(self) -> None:
        clock = Clock()
        store_gate: Deferred[None] = Deferred()
        catalog_gate: Deferred[None] = Deferred()
        store = GatedStore(store_gate)
        store_service = StoreService(store, clock)
        catalog = Catalog(store, clock, ready=lambda: store_service.whenStarted().addCallback(lambda _: catalog_gate))
        readiness = ReadinessRegistry()
        readiness.register("store", lambda: store_readiness(store))
        readiness.register("catalog", lambda: catalog_readiness(catalog))
        models_warm = [False]
        readiness.register("models", lambda: None if models_warm[0] else "the models are not warmed yet")
        stub = stub_treq(HttpApi(HealthRegistry(), clock, store=store, catalog=catalog, readiness=readiness).resource())
        store_service.startService()
        catalog.startService()
        self.addCleanup(catalog.stopService)

        code, body = self.get(stub, "/health/ready")
        self.assertEqual(code, 503)
        self.assertEqual(body["status"], "not_ready")
        self.assertEqual([reason.split(":")[0] for reason in body["reasons"]], ["store", "catalog", "models"])
        self.assertIn("not started", body["reasons"][0])
        self.assertEqual(self.get(stub, "/health/live"), (200, {"status": "ok"}))

        store_gate.callback(None)
        code, body = self.get(stub, "/health/ready")
        self.assertEqual((code, [r.split(":")[0] for r in body["reasons"]]), (503, ["catalog", "models"]))

        catalog_gate.callback(None)
        self.assertTrue(catalog.loaded)
        code, body = self.get(stub, "/health/ready")
        self.assertEqual((code, body["reasons"]), (503, ["models: the models are not warmed yet"]))

        models_warm[0] = True
        self.assertEqual(self.get(stub, "/health/ready"), (200, {"status": "ready"}))

    def test_a_worker_has_the_probe_too(self) -> None:
        readiness = ReadinessRegistry()
        reason = ["the store is unreachable"]
        readiness.register("store", lambda: reason[0] or None)
        stub = stub_treq(HealthApi(HealthRegistry(), readiness).resource())
        self.assertEqual(self.get(stub, "/health/ready"),
                         (503, {"status": "not_ready", "reasons": ["store: the store is unreachable"]}))
        reason[0] = ""
        self.assertEqual(self.get(stub, "/health/ready")[0], 200)
