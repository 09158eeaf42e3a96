"""Bot command test material: small actions, trades and assignments, and
the store contract of the command tables (mixed into each backend's
contract class in tests/test_store_contract.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import TestCase

from osrs_twisted.market.actions import Action, ItemAmount, Requirements
from osrs_twisted.market.allocation import Assignment, Pin
from osrs_twisted.market.ledger import Trade, TradeConflict
from osrs_twisted.store.interface import ActionExists, IStore, TradeReceipt

BIG_PRICE = 2**40 + 11

E = TypeVar("E", bound=Exception)


async def failure_of(d: "Deferred[Any]", expected: type[E]) -> E:
    """The error ``d`` fails with, which must be an ``expected``
    (``assertFailure`` typed by the error, not by what ``d`` would have fired)."""
    try:
        result = await d
    except expected as error:
        return error
    raise AssertionError(f"expected {expected.__name__}, got the result {result!r}")


def action(name: str, input_id: int = 1753, output_id: int = 1745, per_hour: int = 1000, **changes: Any) -> Action:
    """A one-in, one-out action with a 20 gp fee."""
    fields: dict[str, Any] = dict(
        name=name,
        type="TAN_LEATHER",
        params={"rawHideName": "Green dragonhide"},
        inputs=(ItemAmount(input_id, 1), ItemAmount(995, 20)),
        outputs=(ItemAmount(output_id, 1),),
        requirements=Requirements(skills={"crafting": 1}),
        actions_per_hour=per_hour,
        experience={"crafting": 2.5},
        members=True,
    )
    fields.update(changes)
    return Action(**fields)


def trade(
    trade_id: str, instance_id: str = "bot-1", account: str = "alice", item_id: int = 1753, quantity: int = 10,
    price: int = 1500, side: Any = "buy", time: int = 1_000,
) -> Trade:  # fmt: skip
    return Trade(trade_id, instance_id, account, item_id, quantity, price, side, time)


def assignment(instance_id: str, task: str = "TAN", **changes: Any) -> Assignment:
    base = Assignment(instance_id, task, {"rawHideName": "Green dragonhide"}, "allocator", 100, 1000)
    return attrs.evolve(base, **changes)


if TYPE_CHECKING:
    _Mixin = TestCase
else:
    _Mixin = object


class CommandStoreContract(_Mixin):
    """The contract of the actions, trades, assignments and pins methods."""

    async def started(self) -> IStore:
        raise NotImplementedError

    async def test_actions_crud(self) -> None:
        store = await self.started()
        tan = await store.create_action(action("TAN"), 10)
        other = await store.create_action(action("OTHER", params={"n": [1, "ü"]}), 11)
        self.assertEqual((tan.action, tan.updated_at), (action("TAN"), 10))
        self.assertGreater(other.id, tan.id)
        error = await failure_of(store.create_action(action("TAN", per_hour=5), 12), ActionExists)
        self.assertEqual(error.name, "TAN")
        replaced = await store.replace_action(action("TAN", per_hour=5), 13)
        assert replaced is not None
        self.assertEqual((replaced.id, replaced.action.actions_per_hour, replaced.updated_at), (tan.id, 5, 13))
        self.assertIsNone(await store.replace_action(action("MISSING"), 14))
        self.assertEqual([s.action.name for s in await store.all_actions()], ["TAN", "OTHER"])
        self.assertEqual((await store.all_actions())[1].action.params, {"n": [1, "ü"]})
        self.assertTrue(await store.delete_action("TAN"))
        self.assertFalse(await store.delete_action("TAN"))
        self.assertEqual([s.action.name for s in await store.all_actions()], ["OTHER"])

    async def test_load_actions(self) -> None:
        store = await self.started()
        starter = [action("A"), action("B")]
        self.assertEqual(await store.load_actions(starter, 1, False), 2)
        self.assertEqual(await store.load_actions([action("C")], 2, False), 0)
        self.assertEqual(await store.load_actions([action("B", per_hour=7), action("C")], 3, True), 2)
        stored = {s.action.name: s for s in await store.all_actions()}
        self.assertEqual(sorted(stored), ["A", "B", "C"])
        self.assertEqual((stored["B"].action.actions_per_hour, stored["B"].updated_at), (7, 3))

    async def test_record_trades_once(self) -> None:
        store = await self.started()
        report = [trade("t1"), trade("t2", price=BIG_PRICE), trade("t3", side="sell")]
        self.assertEqual(await store.record_trades(report, 5), TradeReceipt(3, 0))
        self.assertEqual(await store.record_trades(report, 6), TradeReceipt(0, 3))
        self.assertEqual(await store.record_trades([trade("t1"), trade("t4")], 7), TradeReceipt(1, 1))
        self.assertEqual(await store.record_trades([trade("t1", instance_id="bot-2")], 7), TradeReceipt(1, 0))
        buys = await store.account_buys("alice", 0)
        self.assertEqual([t.trade_id for t in buys], ["t1", "t1", "t2", "t4"])
        self.assertEqual(buys[2], trade("t2", price=BIG_PRICE))
        self.assertEqual(await store.record_trades([], 8), TradeReceipt(0, 0))

    async def test_conflicting_retry_writes_nothing(self) -> None:
        store = await self.started()
        await store.record_trades([trade("t1")], 5)
        report = [trade("t0"), trade("t1", quantity=11, price=1)]
        conflict = await failure_of(store.record_trades(report, 6), TradeConflict)
        self.assertEqual(conflict.fields, ("quantity", "price"))
        self.assertEqual([t.trade_id for t in await store.account_buys("alice", 0)], ["t1"])

    async def test_account_buys_and_instance_account(self) -> None:
        store = await self.started()
        await store.record_trades([
            trade("a", time=100), trade("b", time=200, side="sell"), trade("c", time=300, account="bob"),
            trade("d", time=400, instance_id="bot-2"), trade("e", time=50),
        ], 500)  # fmt: skip
        self.assertEqual([t.trade_id for t in await store.account_buys("alice", 60)], ["a", "d"])
        self.assertEqual([t.trade_id for t in await store.account_buys("alice", 0)], ["e", "a", "d"])
        self.assertEqual(await store.account_buys("carol", 0), [])
        self.assertEqual(await store.instance_account("bot-1"), "bob")
        self.assertIsNone(await store.instance_account("bot-9"))

    async def test_concurrent_reports_count_once(self) -> None:
        """The same reports on several connections at once: each trade is
        recorded by exactly one of them."""
        stores = [await self.started() for _ in range(3)]
        report = [trade(f"t{n}", quantity=n + 1) for n in range(20)]
        receipts = await gatherResults([s.record_trades(report, 9) for s in stores for _ in range(2)])
        self.assertEqual(sum(r.recorded for r in receipts), 20)
        self.assertEqual(sum(r.duplicates for r in receipts), 100)
        buys = await stores[0].account_buys("alice", 0)
        self.assertEqual(sum(t.quantity for t in buys), sum(range(1, 21)))

    async def test_assignments_and_pins(self) -> None:
        store = await self.started()
        await store.record_assignment(assignment("b2"))
        await store.record_assignment(assignment("b1"))
        idle = assignment("b1", task="IDLE", params={}, source="idle", reason="no eligible action ✓")
        await store.record_assignment(idle)
        self.assertEqual(await store.all_assignments(), [idle, assignment("b2")])
        await store.set_pin(Pin("b2", "TAN", {"x": 1}), 5)
        await store.set_pin(Pin("b1", "PVP", {}, expires_at=2_000_000_000), 5)
        await store.set_pin(Pin("b2", "OTHER"), 6)
        self.assertEqual(await store.all_pins(), [Pin("b1", "PVP", {}, 2_000_000_000), Pin("b2", "OTHER")])
        self.assertTrue(await store.remove_pin("b1"))
        self.assertFalse(await store.remove_pin("b1"))
        self.assertEqual(await store.all_pins(), [Pin("b2", "OTHER")])
