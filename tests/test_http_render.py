"""``http/render.py``: domain values to the API's JSON (camelCase, nulls)."""

from __future__ import annotations

from pathlib import Path

import attrs
import orjson
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.health import Check, HealthReport
from osrs_twisted.http.render import (
    RenderCache,
    health_json,
    item_json,
    models_json,
    price_json,
    run_json,
)
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.market.gex import PriceFigures
from osrs_twisted.market.snapshot import build_snapshot
from osrs_twisted.policy import SkippedModel, load_registry
from osrs_twisted.records import JobRun, LatestPrice
from tests.http_helpers import NOW, WHIP

FIGURES = PriceFigures(
    high=10, high_time=NOW - 5, low=None, low_time=None, mid=10, tax=0, margin=None, roi=None,
    limit_profit=None, volume_24h=None, stale=False,
)  # fmt: skip


class PriceTests(SynchronousTestCase):
    def test_fields_render_with_their_camel_case_names(self) -> None:
        body = price_json(attrs.evolve(FIGURES, limit_profit=7, volume_24h=9, low_time=3))
        renamed = (body["limitProfit"], body["volume24h"], body["highTime"], body["lowTime"])
        self.assertEqual(renamed, (7, 9, NOW - 5, 3))
        self.assertEqual(
            list(body),
            ["high", "highTime", "low", "lowTime", "mid", "tax", "margin", "roi", "limitProfit", "volume24h", "stale"],
        )

    def test_unknown_figures_are_null(self) -> None:
        wire = orjson.loads(orjson.dumps(price_json(FIGURES)))
        self.assertEqual(
            {name for name, value in wire.items() if value is None},
            {"low", "lowTime", "margin", "roi", "limitProfit", "volume24h"},
        )
        self.assertIs(wire["stale"], False)

    def test_item_fields(self) -> None:
        self.assertEqual(item_json(WHIP)["highalch"], 72000)
        self.assertNotIn("updated", item_json(WHIP))
        self.assertNotIn("price", item_json(WHIP))


class RenderCacheTests(SynchronousTestCase):
    def setUp(self) -> None:
        price = LatestPrice(WHIP.id, 1_000_000, NOW - 100, 990_000, NOW - 200)
        self.snapshot = build_snapshot({WHIP.id: WHIP}, {WHIP.id: price}, {}, NOW)
        self.entry = self.snapshot.items[WHIP.id]
        self.cache = RenderCache()

    def test_stale_is_computed_per_request(self) -> None:
        fresh = self.cache.item(self.snapshot, self.entry, NOW, stale_after=1800)
        stale = self.cache.item(self.snapshot, self.entry, NOW + 1801, stale_after=1800)
        self.assertFalse(fresh["price"]["stale"])
        self.assertTrue(stale["price"]["stale"])
        self.assertEqual(fresh["price"]["high"], 1_000_000)

    def test_bodies_do_not_alias_the_cache(self) -> None:
        first = self.cache.item(self.snapshot, self.entry, NOW, 1800)
        first["price"]["alchProfit"] = 5
        first["name"] = "changed"
        again = self.cache.item(self.snapshot, self.entry, NOW, 1800)
        self.assertNotIn("alchProfit", again["price"])
        self.assertEqual(again["name"], WHIP.name)

    def test_a_new_snapshot_is_rendered_afresh(self) -> None:
        self.cache.item(self.snapshot, self.entry, NOW, 1800)
        renamed = attrs.evolve(WHIP, name="Renamed whip")
        snapshot = build_snapshot({WHIP.id: renamed}, {}, {}, NOW)
        body = self.cache.item(snapshot, snapshot.items[WHIP.id], NOW, 1800)
        self.assertEqual(body["name"], "Renamed whip")
        self.assertIsNone(body["price"], "no trade: the price object is null")


class OtherBodiesTests(SynchronousTestCase):
    def test_run(self) -> None:
        run = JobRun(3, "sync_latest", "manual", None, "succeeded", 1, 100, 101, 103, 2000, None, {"n": 1}, "me", 160)
        body = run_json(run)
        self.assertEqual((body["queuedAt"], body["startedAt"], body["finishedAt"], body["durationMs"]),
                         (100, 101, 103, 2000))  # fmt: skip
        self.assertNotIn("owner", body)
        self.assertNotIn("leaseUntil", body)
        self.assertIsNone(run_json(attrs.evolve(run, result=None))["result"])

    def test_models_without_a_registry(self) -> None:
        self.assertEqual(models_json(None), {"default": None, "models": [], "skipped": []})

    def test_models_of_a_registry(self) -> None:
        body = models_json(load_registry(None, [], demo=False))
        [noop] = body["models"]
        self.assertEqual((noop["name"], noop["obsSize"], noop["criticSize"], noop["frames"]), ("noop", 176, None, None))

    def test_health_figures_render_domain_values(self) -> None:
        metrics = InferenceMetrics(requests=3, queued=2)
        metrics.latency_ms.add(1.5)
        skipped = (SkippedModel(Path("/m/bad.zip"), "not a zip"),)
        check = Check("degraded", "one skipped", {"skipped": skipped, "inference": metrics, "default": None})
        body = health_json(HealthReport("degraded", {"models": check}))
        models = body["checks"]["models"]
        self.assertEqual((models["status"], models["detail"], models["default"]), ("degraded", "one skipped", None))
        self.assertEqual(models["skipped"], [{"path": "/m/bad.zip", "error": "not a zip"}])
        self.assertEqual((models["inference"]["requests"], models["inference"]["queueDepth"]), (3, 2))
        self.assertEqual(models["inference"]["latencyMs"]["count"], 1)
        self.assertEqual(models["inference"]["latencyMs"]["buckets"], {"2": 1})
        self.assertIsNone(models["inference"]["batchSize"]["mean"])
        orjson.dumps(body)
