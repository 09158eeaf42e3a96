"""Economics on hand-made catalogs: buy at high, sell at low after tax, caps, and no wrong numbers."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.market.actions import COINS_ID, Action, ItemAmount, Requirements
from osrs_twisted.market.economics import ItemQuote, price_action, price_actions

NOW = 1_733_000_000
STALE_AFTER = 3600

COAL, IRON_ORE, STEEL_BAR, NATURE_RUNE, YEW_LONGBOW = 453, 440, 2353, 561, 855
LOBSTER = 379  # tax exempt
BOND = 13190  # tax exempt


def quote(
    item_id: int, name: str, high: int | None, low: int | None, limit: int | None = None, volume: int | None = None,
    age: int = 60,
) -> ItemQuote:
    return ItemQuote(
        item_id=item_id, name=name, high=high, high_time=None if high is None else NOW - age,
        low=low, low_time=None if low is None else NOW - age, limit=limit, volume24h=volume,
    )  # fmt: skip


def action(
    name: str,
    inputs: tuple[tuple[int, int], ...],
    outputs: tuple[tuple[int, int], ...],
    per_hour: int = 1000,
    experience: dict[str, float] | None = None,
) -> Action:
    return Action(
        name=name,
        type="TEST",
        params={},
        inputs=tuple(ItemAmount(item, quantity) for item, quantity in inputs),
        outputs=tuple(ItemAmount(item, quantity) for item, quantity in outputs),
        requirements=Requirements(),
        actions_per_hour=per_hour,
        experience=experience or {},
        members=False,
    )


STEEL = action("SMELT_STEEL_BAR", ((IRON_ORE, 1), (COAL, 2)), ((STEEL_BAR, 1),), 1300, {"smithing": 17.5})
CATALOG = {
    COAL: quote(COAL, "Coal", 150, 145, limit=13000, volume=3_000_000),
    IRON_ORE: quote(IRON_ORE, "Iron ore", 100, 95, limit=25000, volume=2_000_000),
    STEEL_BAR: quote(STEEL_BAR, "Steel bar", 520, 500, limit=10000, volume=400_000),
}


class ProfitTests(SynchronousTestCase):
    def test_buy_high_sell_low_after_tax(self) -> None:
        figures = price_action(STEEL, CATALOG, NOW, STALE_AFTER)
        # Cost: 100 + 2 * 150 = 400 at the instant-buy prices; revenue 500 at
        # the instant-sell price, tax 500 // 50 = 10.
        self.assertEqual((figures.cost, figures.tax, figures.revenue, figures.profit), (400, 10, 490, 90))
        self.assertEqual(figures.profit_per_hour, 90 * 1300)
        self.assertEqual(figures.gp_per_xp, round(90 / 17.5, 6))
        self.assertIsNone(figures.price_reason)

    def test_loss_makes_negative_gp_per_xp(self) -> None:
        catalog = dict(CATALOG) | {STEEL_BAR: quote(STEEL_BAR, "Steel bar", 400, 380, limit=10000, volume=400_000)}
        figures = price_action(STEEL, catalog, NOW, STALE_AFTER)
        self.assertEqual(figures.profit, 380 - 380 // 50 - 400)
        self.assertIsNotNone(figures.gp_per_xp)
        self.assertLess(figures.gp_per_xp or 0, 0)

    def test_no_xp_no_gp_per_xp(self) -> None:
        tan = action("TAN", ((1753, 1), (COINS_ID, 20)), ((1745, 1),))
        catalog = {1753: quote(1753, "Green dragonhide", 1500, 1490, 18000, 100000),
                   1745: quote(1745, "Green dragon leather", 1700, 1650, 18000, 100000)}  # fmt: skip
        figures = price_action(tan, catalog, NOW, STALE_AFTER)
        self.assertEqual(figures.cost, 1520)  # the hide plus the tanner's 20 gp
        self.assertEqual(figures.profit, 1650 - 33 - 1520)
        self.assertIsNone(figures.gp_per_xp)

    def test_tax_exempt_outputs_pay_nothing(self) -> None:
        cook = action("SELL_FOOD", ((1, 1),), ((LOBSTER, 1), (BOND, 1)))
        catalog = {1: quote(1, "Raw", 100, 90, 1000, 1000),
                   LOBSTER: quote(LOBSTER, "Lobster", 200, 190, 10000, 10000),
                   BOND: quote(BOND, "Old school bond", 9_000_000, 8_900_000, 100, 1000)}  # fmt: skip
        figures = price_action(cook, catalog, NOW, STALE_AFTER)
        self.assertEqual((figures.tax, figures.revenue, figures.profit), (0, 8_900_190, 8_900_090))

    def test_tax_cap_and_free_threshold_per_item(self) -> None:
        sell = action("SELL", (), ((20997, 2), (1, 10)))
        catalog = {20997: quote(20997, "Twisted bow", 1_700_000_000, 1_690_000_000, 8, 100),
                   1: quote(1, "Cheap", 60, 49, 1000, 1000)}  # fmt: skip
        figures = price_action(sell, catalog, NOW, STALE_AFTER)
        # 2% of 1.69 bn is above the 5 m cap, paid per item; 49 gp pays nothing.
        self.assertEqual(figures.tax, 2 * 5_000_000)
        self.assertEqual(figures.revenue, 2 * 1_690_000_000 + 10 * 49 - 10_000_000)

    def test_alchemy_coins_are_paid_out_untaxed(self) -> None:
        alch = action("HIGH_ALCH_YEW_LONGBOW", ((YEW_LONGBOW, 1), (NATURE_RUNE, 1)), ((COINS_ID, 768),), 1200,
                      {"magic": 65})  # fmt: skip
        catalog = {YEW_LONGBOW: quote(YEW_LONGBOW, "Yew longbow", 400, 390, 18000, 50000),
                   NATURE_RUNE: quote(NATURE_RUNE, "Nature rune", 200, 195, 18000, 5_000_000)}  # fmt: skip
        figures = price_action(alch, catalog, NOW, STALE_AFTER)
        self.assertEqual((figures.cost, figures.tax, figures.revenue, figures.profit), (600, 0, 768, 168))
        # Coins trade on no market: only the bought items cap the fleet.
        self.assertEqual(figures.fleet_actions_per_24h, 50000)

    def test_64_bit_prices(self) -> None:
        big = 2_147_483_647
        flip = action("BIG", ((1, 28000),), ((2, 28000),), 1_000_000)
        catalog = {
            1: quote(1, "Big in", big, big, 28000, 10**9),
            2: quote(2, "Big out", 4 * big, 4 * big, 28000, 10**9),
        }
        figures = price_action(flip, catalog, NOW, STALE_AFTER)
        self.assertEqual(figures.cost, big * 28000)
        self.assertEqual(figures.tax, 5_000_000 * 28000)
        self.assertEqual(figures.profit, (4 * big - 5_000_000 - big) * 28000)
        self.assertEqual(figures.profit_per_hour, (4 * big - 5_000_000 - big) * 28000 * 1_000_000)
        self.assertIsInstance(figures.profit_per_hour, int)
        self.assertGreater(figures.profit_per_hour or 0, 2**63)


class MissingPriceTests(SynchronousTestCase):
    def assert_unpriced(self, catalog: dict[int, ItemQuote], reason: str) -> None:
        figures = price_action(STEEL, catalog, NOW, STALE_AFTER)
        self.assertEqual(figures.price_reason, reason)
        self.assertEqual(
            (figures.cost, figures.revenue, figures.tax, figures.profit, figures.profit_per_hour, figures.gp_per_xp),
            (None,) * 6,
        )

    def test_item_absent_from_catalog(self) -> None:
        catalog = {k: v for k, v in CATALOG.items() if k != COAL}
        self.assert_unpriced(catalog, "no price for item 453")

    def test_input_without_instant_buy_side(self) -> None:
        catalog = dict(CATALOG) | {COAL: quote(COAL, "Coal", None, 145, 13000)}
        self.assert_unpriced(catalog, "no price for item 453 (Coal)")

    def test_output_without_instant_sell_side(self) -> None:
        catalog = dict(CATALOG) | {STEEL_BAR: quote(STEEL_BAR, "Steel bar", 520, None, 10000)}
        self.assert_unpriced(catalog, "no price for item 2353 (Steel bar)")

    def test_stale_side(self) -> None:
        catalog = dict(CATALOG) | {IRON_ORE: quote(IRON_ORE, "Iron ore", 100, 95, 25000, age=STALE_AFTER + 1)}
        self.assert_unpriced(catalog, "stale price for item 440 (Iron ore)")

    def test_exactly_stale_after_is_fresh(self) -> None:
        catalog = dict(CATALOG) | {IRON_ORE: quote(IRON_ORE, "Iron ore", 100, 95, 25000, 2_000_000, age=STALE_AFTER)}
        self.assertEqual(price_action(STEEL, catalog, NOW, STALE_AFTER).profit, 90)

    def test_only_the_side_used_matters(self) -> None:
        # Coal's instant-sell side is stale but coal is only bought.
        stale_low = ItemQuote(COAL, "Coal", high=150, high_time=NOW - 10, low=145, low_time=NOW - 10 * STALE_AFTER,
                              limit=13000, volume24h=3_000_000)  # fmt: skip
        self.assertEqual(price_action(STEEL, dict(CATALOG) | {COAL: stale_low}, NOW, STALE_AFTER).profit, 90)

    def test_side_without_time_is_stale(self) -> None:
        untimed = ItemQuote(COAL, "Coal", high=150, high_time=None, low=145, low_time=NOW, limit=13000)
        self.assert_unpriced(dict(CATALOG) | {COAL: untimed}, "stale price for item 453 (Coal)")

    def test_first_problem_in_input_order_is_reported(self) -> None:
        catalog = {STEEL_BAR: CATALOG[STEEL_BAR]}
        self.assert_unpriced(catalog, "no price for item 440")


class CapTests(SynchronousTestCase):
    def test_buy_limit_caps_actions_per_account(self) -> None:
        # Iron ore allows 25000 a window, coal 13000 // 2 = 6500.
        figures = price_action(STEEL, CATALOG, NOW, STALE_AFTER)
        self.assertEqual((figures.actions_per_4h, figures.limit_reason), (6500, None))

    def test_unknown_limit_is_none_with_reason(self) -> None:
        catalog = dict(CATALOG) | {COAL: quote(COAL, "Coal", 150, 145, limit=None, volume=3_000_000)}
        figures = price_action(STEEL, catalog, NOW, STALE_AFTER)
        self.assertEqual((figures.actions_per_4h, figures.limit_reason), (None, "no buy limit for item 453 (Coal)"))
        self.assertEqual(figures.profit, 90)  # the price figures stand on their own

    def test_nothing_bought_is_unbounded(self) -> None:
        figures = price_action(action("SELL", (), ((STEEL_BAR, 1),)), CATALOG, NOW, STALE_AFTER)
        self.assertEqual((figures.actions_per_4h, figures.limit_reason), (None, None))

    def test_volume_caps_fleet_over_inputs_and_outputs(self) -> None:
        # Coal 3,000,000 // 2, iron 2,000,000, steel 400,000: the bar's market is the bound.
        figures = price_action(STEEL, CATALOG, NOW, STALE_AFTER)
        self.assertEqual((figures.fleet_actions_per_24h, figures.volume_reason), (400_000, None))
        thin = dict(CATALOG) | {COAL: quote(COAL, "Coal", 150, 145, 13000, volume=300_001)}
        self.assertEqual(price_action(STEEL, thin, NOW, STALE_AFTER).fleet_actions_per_24h, 150_000)

    def test_missing_volume_is_none_with_reason(self) -> None:
        catalog = dict(CATALOG) | {STEEL_BAR: quote(STEEL_BAR, "Steel bar", 520, 500, 10000, volume=None)}
        figures = price_action(STEEL, catalog, NOW, STALE_AFTER)
        self.assertEqual(
            (figures.fleet_actions_per_24h, figures.volume_reason), (None, "no 24 h volume for item 2353 (Steel bar)")
        )

    def test_price_actions_by_name(self) -> None:
        other = action("OTHER", ((COAL, 1),), ((IRON_ORE, 1),))
        figures = price_actions([STEEL, other], CATALOG, NOW, STALE_AFTER)
        self.assertEqual(sorted(figures), ["OTHER", "SMELT_STEEL_BAR"])
        self.assertEqual(figures["OTHER"].profit, 95 - 1 - 150)
