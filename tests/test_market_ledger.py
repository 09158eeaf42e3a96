"""The buy-limit ledger on a fixed clock: window rule, retries, conflicts and report validation."""

from __future__ import annotations

import copy
from typing import Any

import attrs
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.market.ledger import (
    WINDOW_SECONDS,
    LimitLeft,
    Trade,
    TradeConflict,
    account_limits,
    differing_fields,
    limit_left,
    open_window,
    parse_trade,
    parse_trade_report,
    trades_to_record,
)
from osrs_twisted.market.validation import FieldError

T0 = 1_733_000_000
COAL, NATURE_RUNE = 453, 561
KNOWN = frozenset({COAL, NATURE_RUNE})


def buy(trade_id: str, time: int, quantity: int, item_id: int = COAL, side: str = "buy") -> Trade:
    return Trade(trade_id, "bot-7", "alice", item_id, quantity, 150, side, time)  # type: ignore[arg-type]


class WindowTests(SynchronousTestCase):
    def test_no_trades_whole_limit(self) -> None:
        self.assertEqual(limit_left([], 13000, T0), (13000, None))

    def test_window_from_first_buy(self) -> None:
        trades = [buy("a", T0, 4000), buy("b", T0 + 3600, 5000)]
        self.assertEqual(limit_left(trades, 13000, T0 + 3601), (4000, T0 + WINDOW_SECONDS))

    def test_resets_exactly_four_hours_after_first_buy(self) -> None:
        trades = [buy("a", T0, 13000)]
        self.assertEqual(limit_left(trades, 13000, T0 + WINDOW_SECONDS - 1), (0, T0 + WINDOW_SECONDS))
        self.assertEqual(limit_left(trades, 13000, T0 + WINDOW_SECONDS), (13000, None))

    def test_buy_at_four_hours_less_a_second_still_counts(self) -> None:
        trades = [buy("a", T0, 6000), buy("b", T0 + WINDOW_SECONDS - 1, 6000)]
        self.assertEqual(limit_left(trades, 13000, T0 + WINDOW_SECONDS - 1), (1000, T0 + WINDOW_SECONDS))
        # ... and the window still resets at T0 + 4 h, not 4 h after the later buy.
        self.assertEqual(limit_left(trades, 13000, T0 + WINDOW_SECONDS), (13000, None))

    def test_buy_after_reset_starts_a_new_window(self) -> None:
        later = T0 + WINDOW_SECONDS + 600
        trades = [buy("a", T0, 13000), buy("b", later, 100), buy("c", later + 3600, 200)]
        self.assertEqual(open_window(trades, later + 3600), (later, 300))
        self.assertEqual(limit_left(trades, 13000, later + 3600), (12700, later + WINDOW_SECONDS))

    def test_buy_exactly_at_reset_opens_the_next_window(self) -> None:
        trades = [buy("a", T0, 13000), buy("b", T0 + WINDOW_SECONDS, 10)]
        self.assertEqual(limit_left(trades, 13000, T0 + WINDOW_SECONDS), (12990, T0 + 2 * WINDOW_SECONDS))

    def test_sells_do_not_count(self) -> None:
        trades = [buy("a", T0, 5000, side="sell")]
        self.assertEqual(limit_left(trades, 13000, T0 + 1), (13000, None))

    def test_over_buying_clamps_to_zero(self) -> None:
        self.assertEqual(limit_left([buy("a", T0, 20000)], 13000, T0 + 1), (0, T0 + WINDOW_SECONDS))

    def test_unknown_limit(self) -> None:
        self.assertEqual(limit_left([buy("a", T0, 5)], None, T0 + 1), (None, T0 + WINDOW_SECONDS))

    def test_order_of_reports_does_not_matter(self) -> None:
        trades = [buy("c", T0 + WINDOW_SECONDS + 5, 7), buy("a", T0, 3), buy("b", T0 + 10, 4)]
        later = T0 + WINDOW_SECONDS + 6
        self.assertEqual(limit_left(trades, 100, later), (93, T0 + 2 * WINDOW_SECONDS + 5))
        self.assertEqual(limit_left(list(reversed(trades)), 100, later), (93, T0 + 2 * WINDOW_SECONDS + 5))
        self.assertEqual(limit_left([trades[2], trades[1]], 100, T0 + 20), (93, T0 + WINDOW_SECONDS))

    def test_a_clock_running_ahead_never_frees_limit_early(self) -> None:
        self.assertEqual(limit_left([buy("a", T0 + 60, 100)], 1000, T0), (900, T0 + 60 + WINDOW_SECONDS))

    def test_account_limits_per_item(self) -> None:
        trades = [buy("a", T0, 100), buy("b", T0 + 5, 3, NATURE_RUNE), buy("c", T0 - WINDOW_SECONDS, 7, 2)]
        self.assertEqual(
            account_limits(trades, {COAL: 13000, NATURE_RUNE: None}, T0 + 10),
            {
                2: LimitLeft(2, None, 0, None, None),
                COAL: LimitLeft(COAL, 13000, 100, 12900, T0 + WINDOW_SECONDS),
                NATURE_RUNE: LimitLeft(NATURE_RUNE, None, 3, None, T0 + 5 + WINDOW_SECONDS),
            },
        )


class IdempotencyTests(SynchronousTestCase):
    def test_retry_with_same_content_is_a_no_op(self) -> None:
        stored = {buy("a", T0, 10).key: buy("a", T0, 10)}
        self.assertEqual(trades_to_record(stored, [buy("a", T0, 10), buy("b", T0, 5)]), (buy("b", T0, 5),))
        self.assertEqual(trades_to_record(stored, [buy("a", T0, 10)]), ())

    def test_retry_with_other_content_names_the_conflict(self) -> None:
        stored = {buy("a", T0, 10).key: buy("a", T0, 10)}
        with self.assertRaises(TradeConflict) as caught:
            trades_to_record(stored, [buy("b", T0, 5), buy("a", T0 + 1, 12)])
        self.assertEqual(caught.exception.fields, ("quantity", "time"))
        self.assertEqual(
            str(caught.exception),
            f"trade 'a' of 'bot-7' was already recorded with quantity 10, time {T0}, not quantity 12, time {T0 + 1}",
        )

    def test_trade_ids_are_per_bot(self) -> None:
        stored = {buy("a", T0, 10).key: buy("a", T0, 10)}
        other_bot = attrs.evolve(buy("a", T0, 99), instance_id="bot-8")
        self.assertEqual(trades_to_record(stored, [other_bot]), (other_bot,))

    def test_differing_fields(self) -> None:
        self.assertEqual(differing_fields(buy("a", T0, 1), buy("a", T0, 1)), ())
        self.assertEqual(differing_fields(buy("a", T0, 1), buy("a", T0, 1, side="sell")), ("side",))


REPORT: dict[str, Any] = {
    "tradeId": "7f1c", "instanceId": "bot-7", "account": "alice", "itemId": COAL, "quantity": 500, "price": 150,
    "side": "buy", "time": T0 - 30,
}  # fmt: skip


def report_with(key: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(REPORT)
    if value is ...:
        del body[key]
    else:
        body[key] = value
    return body


BAD_REPORTS: list[tuple[str, Any, str, str]] = [
    ("not an object", [REPORT], "body", "JSON object"),
    ("missing trade id", report_with("tradeId", ...), "tradeId", "is required"),
    ("blank trade id", report_with("tradeId", "  "), "tradeId", "non-empty string"),
    ("long trade id", report_with("tradeId", "x" * 129), "tradeId", "at most 128"),
    ("missing instance id", report_with("instanceId", ...), "instanceId", "is required"),
    ("account a number", report_with("account", 7), "account", "non-empty string"),
    ("unknown item", report_with("itemId", 1), "itemId", "1 is not a known item id"),
    ("negative quantity", report_with("quantity", -5), "quantity", "must be a positive integer"),
    ("zero quantity", report_with("quantity", 0), "quantity", "must be a positive integer"),
    ("negative price", report_with("price", -1), "price", "must be a non-negative integer"),
    ("price above 64 bits", report_with("price", 2**63), "price", "at most"),
    ("bad side", report_with("side", "BUY"), "side", "\"buy\" or \"sell\""),
    ("missing time", report_with("time", ...), "time", "is required"),
    ("time as text", report_with("time", "now"), "time", "non-negative integer"),
    ("time in the future", report_with("time", T0 + 301), "time", "in the future"),
    ("unknown field", report_with("qty", 5), "qty", "not a known field"),
    ("batch not a list", {"trades": REPORT}, "trades", "JSON array"),
    ("batch entry bad", {"trades": [REPORT, report_with("quantity", 0)]}, "trades[1].quantity", "positive integer"),
    ("batch with extra field", {"trades": [], "more": 1}, "more", "not a known field"),
    ("batch too long", {"trades": [REPORT] * 1001}, "trades", "at most 1000"),
    ("batch id twice, other content", {"trades": [REPORT, report_with("price", 151)]}, "trades[1].tradeId",
     "given twice with different price"),
]  # fmt: skip


class ReportTests(SynchronousTestCase):
    def test_reads_one_trade(self) -> None:
        self.assertEqual(
            parse_trade_report(REPORT, KNOWN, T0),
            (Trade("7f1c", "bot-7", "alice", COAL, 500, 150, "buy", T0 - 30),),
        )

    def test_reads_a_batch_and_drops_exact_copies(self) -> None:
        second = report_with("tradeId", "7f1d")
        trades = parse_trade_report({"trades": [REPORT, second, REPORT]}, KNOWN, T0)
        self.assertEqual([trade.trade_id for trade in trades], ["7f1c", "7f1d"])

    def test_64_bit_price(self) -> None:
        self.assertEqual(parse_trade(report_with("price", 2**63 - 1), KNOWN, T0).price, 2**63 - 1)

    def test_small_clock_skew_accepted(self) -> None:
        self.assertEqual(parse_trade(report_with("time", T0 + 300), KNOWN, T0).time, T0 + 300)

    def test_every_bad_report_is_named(self) -> None:
        for what, body, field, words in BAD_REPORTS:
            with self.subTest(what):
                with self.assertRaises(FieldError) as caught:
                    parse_trade_report(body, KNOWN, T0)
                self.assertEqual(caught.exception.field, field)
                self.assertIn(words, str(caught.exception))
