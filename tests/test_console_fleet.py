"""The fleet's pure logic (liveness, XP per hour from untrusted heartbeats)
and the movers ranking."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.console.fleet import Thresholds, XpRates, total_xp, xp_per_hour, xp_series
from osrs_twisted.market.movers import bucket_mean, rank_movers, split_movers
from osrs_twisted.market.snapshot import build_snapshot
from osrs_twisted.records import Heartbeat, LatestPrice, PriceBucket
from tests.http_helpers import item


def beat(instance_id: str, at: int, **payload: Any) -> Heartbeat:
    return Heartbeat(instance_id, {"instanceId": instance_id, **payload}, at)


class ThresholdTests(SynchronousTestCase):
    def test_liveness_by_silence(self) -> None:
        thresholds = Thresholds(late_after=60, gone_after=300)
        self.assertEqual(
            [thresholds.liveness(age) for age in (0, 60, 61, 300, 301)], ["alive", "alive", "late", "late", "gone"]
        )

    def test_gone_must_follow_late(self) -> None:
        with self.assertRaises(ValueError) as raised:
            Thresholds(late_after=300, gone_after=300)
        self.assertIn("goneAfter (300) must be more than lateAfter (300)", str(raised.exception))
        self.assertRaises(ValueError, Thresholds, 0, 10)


class XpTests(SynchronousTestCase):
    def test_total_xp_only_from_a_skill_object(self) -> None:
        self.assertEqual(total_xp({"xpGained": {"magic": 10, "hitpoints": 5}}), 15)
        bad_values: tuple[Any, ...] = (None, [], "lots", {}, {"magic": "10"}, {"magic": True}, {"magic": 1.5})
        for bad in bad_values:
            self.assertIsNone(total_xp({"xpGained": bad}), bad)
        self.assertIsNone(total_xp({}))

    def test_xp_per_hour_from_the_last_restart(self) -> None:
        self.assertEqual(xp_per_hour([(0, 0), (1800, 5000)]), 10000.0)
        self.assertEqual(xp_per_hour([(0, 90000), (600, 0), (1200, 1000)]), 6000.0, "the total fell: a restart")
        self.assertIsNone(xp_per_hour([(0, 0), (30, 500)]), "under a minute says nothing")
        self.assertIsNone(xp_per_hour([(0, 0)]))

    def test_rates_accumulate_over_reads_and_forget_vanished_bots(self) -> None:
        rates = XpRates()
        first = rates.observe([beat("a", 1000, xpGained={"magic": 0}), beat("b", 1000)])
        self.assertEqual(first, {"a": None, "b": None})
        rates.observe([beat("a", 1000, xpGained={"magic": 0})])
        second = rates.observe([beat("a", 1360, xpGained={"magic": 1000}), beat("b", 1300)])
        self.assertEqual(second, {"a": 10000.0, "b": None})
        rates.observe([beat("b", 1400)])
        self.assertEqual(rates.observe([beat("a", 1400, xpGained={"magic": 1100})]), {"a": None}, "a was forgotten")

    def test_points_older_than_the_window_drop(self) -> None:
        rates = XpRates()
        rates.observe([beat("a", 0, xpGained={"magic": 0})])
        rates.observe([beat("a", 3000, xpGained={"magic": 100000})])
        self.assertEqual(rates.observe([beat("a", 4200, xpGained={"magic": 100400})]), {"a": 400 * 3600 / 1200})

    def test_series_oldest_first_without_unusable_beats(self) -> None:
        beats = [beat("a", 30, xpGained={"magic": 9}), beat("a", 20, xpGained="x"), beat("a", 10, xpGained={"a": 1})]
        self.assertEqual(xp_series(beats), [(10, 1), (30, 9)])


class MoverTests(SynchronousTestCase):
    def test_ranked_by_the_size_of_the_move(self) -> None:
        names = ("Up", "Down", "Flat", "Unpriced", "Far")
        items = {i.id: i for i in (item(n, name) for n, name in enumerate(names, start=1))}
        prices = {
            1: LatestPrice(1, 120, 0, 100, 0),  # mid 110 vs 100: +10%
            2: LatestPrice(2, 80, 0, None, None),  # 80 vs 100: -20%
            3: LatestPrice(3, 100, 0, 100, 0),
            5: LatestPrice(5, 300, 0, 300, 0),
        }
        snapshot = build_snapshot(items, prices, {}, 0)
        buckets = [
            PriceBucket(i, "24h", 0, 105.0, 95.0, 1, 1) for i in (1, 2, 3, 4)
        ] + [PriceBucket(5, "24h", 0, None, None, 0, 0)]
        movers = rank_movers(snapshot, buckets)
        self.assertEqual([m.entry.item.id for m in movers], [2, 1, 3])
        self.assertEqual([round(m.change_ratio, 3) for m in movers], [-0.2, 0.1, 0.0])
        risers, fallers = split_movers(movers)
        self.assertEqual([m.entry.item.name for m in risers], ["Up"])
        self.assertEqual([m.entry.item.name for m in fallers], ["Down"])

    def test_bucket_mean_uses_the_sides_present(self) -> None:
        self.assertEqual(bucket_mean(PriceBucket(1, "24h", 0, 10.0, None, 0, 0)), 10.0)
        self.assertIsNone(bucket_mean(PriceBucket(1, "24h", 0, None, None, 0, 0)))
