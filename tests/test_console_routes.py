"""``/console/...`` over the real store and catalog: the fleet with liveness
and XP per hour, one bot, the inference history and the movers; every body
valid against its OpenAPI schema."""

from __future__ import annotations

import re
from typing import Any, Optional
from urllib.parse import quote

from jsonschema import Draft202012Validator
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from osrs_twisted.console.history import HistorySampler
from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi, HttpSettings
from osrs_twisted.http.openapi import document
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.records import PriceBucket
from tests.http_helpers import (
    NOW,
    TEST_TIMEOUT,
    ApiClient,
    filled_store,
    now_clock,
    start_catalog,
)

SETTINGS = HttpSettings(console_late_after=60, console_gone_after=300)


class ConsoleRouteTests(TestCase):
    timeout = TEST_TIMEOUT

    async def client(self, inference: Optional[HistorySampler] = None, clock: Optional[Clock] = None) -> ApiClient:
        self.clock = clock or now_clock()
        store = filled_store(self.clock)
        await store.upsert_buckets([PriceBucket(561, "24h", NOW - 60, 100.0, 100.0, 50, 50)])
        self.store = store
        catalog = await start_catalog(self, store, self.clock)
        api = HttpApi(HealthRegistry(), self.clock, SETTINGS, store=store, catalog=catalog, inference=inference)
        return ApiClient(api)

    def assertSchema(self, body: Any, name: str) -> None:
        schemas = document()["components"]["schemas"]
        self.assertIn(name, schemas)
        Draft202012Validator(_rebase({"$ref": f"#/$defs/{name}", "$defs": schemas})).validate(body)

    async def heartbeat(self, client: ApiClient, instance_id: str, **fields: Any) -> None:
        reply = client.post_json("/healthcheck", {"instanceId": instance_id, **fields})
        self.assertEqual(reply.code, 200, reply.content)

    async def test_fleet_liveness_and_xp_per_hour(self) -> None:
        client = await self.client()
        await self.heartbeat(client, "quiet", task="FISHING")
        self.clock.advance(120)
        await self.heartbeat(client, "<script>", xpGained={"magic": 0}, hp=10)
        first = (client.get("/console/fleet")).json
        self.assertSchema(first, "Fleet")
        self.assertEqual((first["lateAfter"], first["goneAfter"]), (60, 300))
        self.assertEqual(first["counts"], {"alive": 1, "late": 1, "gone": 0})
        by_id = {bot["instanceId"]: bot for bot in first["bots"]}
        self.assertEqual((by_id["quiet"]["liveness"], by_id["<script>"]["liveness"]), ("late", "alive"))
        self.assertEqual(by_id["<script>"]["state"]["hp"], 10, "the heartbeat as sent")
        self.assertIsNone(by_id["<script>"]["xpPerHour"])
        self.clock.advance(360)
        await self.heartbeat(client, "<script>", xpGained={"magic": 500, "attack": 500})
        second = (client.get("/console/fleet")).json
        by_id = {bot["instanceId"]: bot for bot in second["bots"]}
        self.assertEqual(by_id["<script>"]["xpPerHour"], 10000.0)
        self.assertEqual(by_id["quiet"]["liveness"], "gone")

    async def test_thresholds_from_the_query(self) -> None:
        client = await self.client()
        await self.heartbeat(client, "bot-1")
        self.clock.advance(30)
        body = (client.get("/console/fleet?lateAfter=10&goneAfter=20")).json
        self.assertEqual((body["counts"]["gone"], body["lateAfter"]), (1, 10))
        bad = client.get("/console/fleet?lateAfter=50&goneAfter=20")
        self.assertEqual(bad.code, 400)
        self.assertIn("goneAfter (20) must be more than lateAfter (50)", bad.json["error"])
        self.assertEqual((client.get("/console/fleet?lateAfter=soon")).code, 400)

    async def test_one_bot_with_its_xp_series(self) -> None:
        client = await self.client()
        for minute in range(3):
            await self.heartbeat(client, "a/b c", xpGained={"magic": 100 * minute})
            self.clock.advance(60)
        reply = client.get("/console/bots/" + quote("a/b c", safe=""))
        self.assertEqual(reply.code, 200, reply.content)
        body = reply.json
        self.assertSchema(body, "ConsoleBot")
        self.assertEqual([p["total"] for p in body["xp"]], [0, 100, 200])
        self.assertEqual(body["xpPerHour"], 6000.0)
        self.assertEqual((body["liveness"], body["ageSeconds"]), ("alive", 60))
        self.assertEqual(len(body["heartbeats"]), 3)
        missing = client.get("/console/bots/nobody")
        self.assertEqual((missing.code, missing.json["code"]), (404, "not_found"))

    async def test_inference_history_without_tcp(self) -> None:
        body = (await self.client()).get("/console/inference-history").json
        self.assertSchema(body, "InferenceHistory")
        self.assertEqual((body["available"], body["points"]), (False, []))
        self.assertIn("no TCP inference", body["reason"])

    async def test_inference_history_samples(self) -> None:
        clock = now_clock()
        metrics = InferenceMetrics()
        sampler = HistorySampler(metrics, clock, interval=5.0)
        sampler.startService()
        self.addCleanup(sampler.stopService)
        client = await self.client(sampler, clock)
        metrics.requests += 50
        metrics.latency_ms.add(3.0)
        clock.advance(5)
        body = (client.get("/console/inference-history")).json
        self.assertSchema(body, "InferenceHistory")
        self.assertTrue(body["available"])
        self.assertEqual([(p["requestsPerSecond"], p["latencyP50Ms"]) for p in body["points"]], [(10.0, 5.0)])
        self.assertEqual(body["current"]["requests"], 50)

    async def test_movers(self) -> None:
        client = await self.client()
        body = (client.get("/console/movers")).json
        self.assertSchema(body, "Movers")
        # Nature rune: mid (120 + 115) // 2 = 117 against a 24 h average of 100.
        nature = [(m["name"], m["price"], m["average24h"]) for m in body["risers"] if m["id"] == 561]
        self.assertEqual(nature, [("Nature rune", 117, 100.0)])
        self.assertNotIn("Stale plank", str(body), "stale prices are left out")
        whip = [m for m in body["risers"] + body["fallers"] if m["id"] == 4151]
        self.assertEqual(len(whip), 1, "the whip's newest 24 h bucket is the one a day ago")
        self.assertEqual((client.get("/console/movers?minVolume=1000000")).json, {"risers": [], "fallers": []})
        self.assertEqual((client.get("/console/movers?limit=0")).code, 400)


_REF = re.compile("^#/components/schemas/")


def _rebase(schema: Any) -> Any:
    """The OpenAPI document's ``#/components/schemas/X`` references as ``#/$defs/X``."""
    if isinstance(schema, dict):
        return {key: _REF.sub("#/$defs/", value) if key == "$ref" else _rebase(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema
