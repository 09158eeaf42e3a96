"""Grand Exchange arithmetic against hand-computed values."""

from __future__ import annotations

from typing import Any, Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.http.render import price_json
from osrs_twisted.market import gex
from osrs_twisted.records import LatestPrice

WHIP = 4151
WHIP_PRICE = LatestPrice(
    item_id=WHIP, high=1761642, high_time=1733000000, low=1760000, low_time=1732999950
)


class TaxTests(SynchronousTestCase):
    """``ge_tax``: 2% rounded down, capped, free under 50 gp and for exempt items."""

    def test_two_percent_rounded_down(self) -> None:
        self.assertEqual(gex.ge_tax(1761642, WHIP), 35232)
        self.assertEqual(gex.ge_tax(99, WHIP), 1)
        self.assertEqual(gex.ge_tax(100, WHIP), 2)

    def test_threshold(self) -> None:
        self.assertEqual(gex.ge_tax(49, WHIP), 0)
        self.assertEqual(gex.ge_tax(50, WHIP), 1)
        self.assertEqual(gex.ge_tax(0, WHIP), 0)

    def test_cap(self) -> None:
        self.assertEqual(gex.ge_tax(300_000_000, WHIP), 5_000_000)
        self.assertEqual(gex.ge_tax(250_000_000, WHIP), 5_000_000)
        self.assertEqual(gex.ge_tax(249_999_999, WHIP), 4_999_999)
        self.assertEqual(gex.ge_tax(2_300_000_000, 20997), 5_000_000)

    def test_exemption_groups(self) -> None:
        # One member of each group: bond, tool, tablet, arrow, dart, food,
        # energy potion, and the three other items.
        for item_id in (13190, 1755, 8013, 882, 808, 379, 3008, 3853, 558, 2552):
            with self.subTest(item_id=item_id):
                self.assertEqual(gex.ge_tax(9_000_000, item_id), 0)

    def test_exemption_list_is_complete(self) -> None:
        self.assertEqual(len(gex.TAX_EXEMPT_IDS), 1 + 13 + 8 + 6 + 13 + 4 + 3)

    def test_shark_is_taxed(self) -> None:
        self.assertEqual(gex.ge_tax(842, 385), 16)

    @given(st.integers(min_value=0, max_value=2**40), st.integers(0, 40_000))
    def test_bounds(self, price: int, item_id: int) -> None:
        tax = gex.ge_tax(price, item_id)
        self.assertGreaterEqual(tax, 0)
        self.assertLessEqual(tax, gex.TAX_CAP)
        self.assertLessEqual(tax * 50, price)

    @given(st.integers(min_value=0, max_value=2**40))
    def test_monotonic(self, price: int) -> None:
        self.assertLessEqual(gex.ge_tax(price, WHIP), gex.ge_tax(price + 1, WHIP))


class FigureTests(SynchronousTestCase):
    """The derived figures, with the spec's whip example."""

    def test_whip(self) -> None:
        self.assertEqual(gex.mid(1761642, 1760000), 1760821)
        whip_margin = gex.margin(1761642, 1760000, WHIP)
        self.assertEqual(whip_margin, -33590)
        self.assertEqual(gex.roi(whip_margin, 1760000), -0.019085)
        self.assertEqual(gex.limit_profit(whip_margin, 70), -2351300)

    def test_mid_with_one_side(self) -> None:
        self.assertEqual(gex.mid(None, 7), 7)
        self.assertEqual(gex.mid(9, None), 9)
        self.assertIsNone(gex.mid(None, None))
        self.assertEqual(gex.mid(3, 0), 1)

    def test_null_sides(self) -> None:
        self.assertIsNone(gex.margin(None, 5, WHIP))
        self.assertIsNone(gex.margin(5, None, WHIP))
        self.assertIsNone(gex.roi(None, 5))
        self.assertIsNone(gex.limit_profit(None, 70))
        self.assertIsNone(gex.limit_profit(10, None))

    def test_zero_prices(self) -> None:
        self.assertEqual(gex.margin(0, 0, WHIP), 0)
        self.assertIsNone(gex.roi(10, 0))
        self.assertIsNone(gex.roi(10, None))
        self.assertEqual(gex.roi(0, 10), 0.0)

    def test_exempt_margin(self) -> None:
        self.assertEqual(gex.margin(9120000, 9010000, 13190), 110000)

    def test_staleness(self) -> None:
        self.assertEqual(gex.staleness(100, 90, 130), 30)
        self.assertEqual(gex.staleness(None, 90, 130), 40)
        self.assertIsNone(gex.staleness(None, None, 130))
        self.assertFalse(gex.is_stale(100, None, 1900, 1800))
        self.assertTrue(gex.is_stale(100, None, 1901, 1800))
        self.assertTrue(gex.is_stale(None, None, 0, 1800))

    def test_alch_profit(self) -> None:
        self.assertEqual(gex.alch_profit(72000, 70000, 104), 1896)
        self.assertIsNone(gex.alch_profit(None, 70000, 104))
        self.assertIsNone(gex.alch_profit(72000, None, 104))
        self.assertIsNone(gex.alch_profit(72000, 70000, None))


def price_object(*args: Any) -> Optional[dict[str, Any]]:
    """``price_figures`` rendered as the HTTP ``price`` object."""
    figures = gex.price_figures(*args)
    return None if figures is None else price_json(figures)


class PriceFiguresTests(SynchronousTestCase):
    """The HTTP ``price`` object."""

    def test_whip(self) -> None:
        self.assertEqual(
            price_object(WHIP_PRICE, 70, 1234, 1733000010, 1800),
            {
                "high": 1761642,
                "highTime": 1733000000,
                "low": 1760000,
                "lowTime": 1732999950,
                "mid": 1760821,
                "tax": 35232,
                "margin": -33590,
                "roi": -0.019085,
                "limitProfit": -2351300,
                "volume24h": 1234,
                "stale": False,
            },
        )

    def test_no_price(self) -> None:
        self.assertIsNone(price_object(None, 70, None, 0, 1800))
        empty = LatestPrice(item_id=1, high=None, high_time=None, low=None, low_time=None)
        self.assertIsNone(price_object(empty, 70, None, 0, 1800))

    def test_null_low(self) -> None:
        coal = LatestPrice(item_id=453, high=151, high_time=1000, low=None, low_time=None)
        figures = price_object(coal, None, None, 5000, 1800)
        assert figures is not None
        self.assertEqual(figures["mid"], 151)
        self.assertEqual(figures["tax"], 3)
        self.assertIsNone(figures["margin"])
        self.assertIsNone(figures["roi"])
        self.assertIsNone(figures["limitProfit"])
        self.assertIsNone(figures["volume24h"])
        self.assertTrue(figures["stale"])

    def test_null_high(self) -> None:
        price = LatestPrice(item_id=453, high=None, high_time=None, low=140, low_time=1000)
        figures = price_object(price, 10, 5, 1000, 1800)
        assert figures is not None
        self.assertEqual(figures["mid"], 140)
        self.assertIsNone(figures["tax"])
        self.assertIsNone(figures["margin"])
        self.assertFalse(figures["stale"])

    def test_above_two_to_the_31(self) -> None:
        tbow = LatestPrice(
            item_id=20997, high=2300000000, high_time=1, low=2280000000, low_time=1
        )
        figures = price_object(tbow, 8, None, 1, 1800)
        assert figures is not None
        self.assertEqual(figures["tax"], 5_000_000)
        self.assertEqual(figures["margin"], 15_000_000)
        self.assertEqual(figures["limitProfit"], 120_000_000)
        self.assertEqual(figures["mid"], 2290000000)
