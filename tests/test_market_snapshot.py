"""The market snapshot as a pure value: built from rows, no reactor, no store."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.market.gex import NATURE_RUNE_ID, PriceFigures
from osrs_twisted.market.snapshot import build_snapshot, volumes_24h
from osrs_twisted.records import LatestPrice, PriceBucket
from tests.http_helpers import BUCKETS, DAY, ITEMS, NOW, PRICES, item

#: What the store's ``newest_buckets("24h")`` answers for the shared rows.
NEWEST_24H = [b for b in BUCKETS if b.timestep == "24h" and b.timestamp == NOW - DAY]


class SnapshotTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.snapshot = build_snapshot(
            {i.id: i for i in ITEMS}, {p.item_id: p for p in PRICES}, volumes_24h(NEWEST_24H), NOW
        )

    def test_entry_figures_are_a_value(self) -> None:
        whip = self.snapshot.items[4151]
        self.assertIsInstance(whip.figures, PriceFigures)
        assert whip.figures is not None
        self.assertEqual((whip.figures.high, whip.figures.low, whip.figures.margin), (1761642, 1760000, -33590))
        self.assertEqual(whip.figures.volume_24h, 600 + 634)
        self.assertEqual(whip.volume_24h, 1234)

    def test_item_without_price(self) -> None:
        remains = self.snapshot.items[30004]
        self.assertIsNone(remains.price)
        self.assertIsNone(remains.figures)
        self.assertEqual(remains.volume_24h, 0)
        self.assertFalse(remains.both_sides)

    def test_flip_rankings_hold_both_sided_entries_best_first(self) -> None:
        margins = [e.figures.margin for e in self.snapshot.flips["margin"] if e.figures is not None]
        self.assertEqual(margins, sorted(margins, reverse=True))
        self.assertNotIn(1127, [e.item.id for e in self.snapshot.flips["margin"]], "one side only")
        self.assertEqual(self.snapshot.flips["volume"][0].item.id, NATURE_RUNE_ID)
        self.assertEqual(set(self.snapshot.flips), {"margin", "roi", "limit_profit", "volume"})
        self.assertEqual(self.snapshot.flips["limit_profit"][0].item.id, 13190)

    def test_alchs_use_the_nature_rune_price(self) -> None:
        best = self.snapshot.alchs[0]
        assert best.item.highalch is not None and best.price is not None and best.price.high is not None
        self.assertEqual(best.alch_profit, best.item.highalch - best.price.high - 120)
        profits = [e.alch_profit or 0 for e in self.snapshot.alchs]
        self.assertEqual(profits, sorted(profits, reverse=True))

    def test_exact_names_pick_the_lowest_id(self) -> None:
        twins = {5: item(5, "Twin"), 3: item(3, "twin")}
        snapshot = build_snapshot(twins, {}, {}, NOW)
        self.assertEqual(snapshot.by_exact_name["twin"].item.id, 3)
        self.assertEqual([e.item.id for e in snapshot.by_name], [3, 5])

    def test_volume_is_both_sides_of_the_bucket(self) -> None:
        buckets = [PriceBucket(1, "24h", 0, None, None, 1, 2), PriceBucket(2, "24h", 0, 5.0, 4.0, 0, 0)]
        self.assertEqual(volumes_24h(buckets), {1: 3, 2: 0})

    def test_empty_market(self) -> None:
        snapshot = build_snapshot({}, {7: LatestPrice(7, 1, 1, 1, 1)}, {}, NOW)
        self.assertEqual((dict(snapshot.items), list(snapshot.alchs)), ({}, []))
        self.assertEqual(list(snapshot.flips["margin"]), [])
