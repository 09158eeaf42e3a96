"""The allocator: hand-made fleets for each rule, and properties over random fleets."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any, Optional

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.market.actions import COINS_ID, Action, ItemAmount, Requirements
from osrs_twisted.market.allocation import (
    IDLE_TASK,
    AllocatorConfig,
    Assignment,
    BotProfile,
    Pin,
    PricedAction,
    allocate,
    fleet_capacity,
    per_bot_daily_actions,
    profile_from_heartbeat,
)
from osrs_twisted.market.economics import ItemQuote, price_action

NOW = 1_733_000_000
STALE_AFTER = 3600
CONFIG = AllocatorConfig()


def make_action(
    name: str,
    inputs: tuple[tuple[int, int], ...],
    output: int,
    per_hour: int = 100,
    skills: Optional[dict[str, int]] = None,
    members: bool = False,
    quests: frozenset[str] = frozenset(),
    items: frozenset[int] = frozenset(),
) -> Action:
    return Action(
        name=name,
        type="TEST",
        params={"for": name},
        inputs=tuple(ItemAmount(item, quantity) for item, quantity in inputs),
        outputs=(ItemAmount(output, 1),),
        requirements=Requirements(skills or {}, items, quests),
        actions_per_hour=per_hour,
        experience={},
        members=members,
    )


def priced(actions: list[Action], quotes: dict[int, ItemQuote]) -> list[PricedAction]:
    return [PricedAction(action, price_action(action, quotes, NOW, STALE_AFTER)) for action in actions]


def item(
    item_id: int, high: int, low: int, limit: Optional[int] = 1000, volume: Optional[int] = 1_000_000
) -> ItemQuote:
    return ItemQuote(item_id, f"Item {item_id}", high, NOW, low, NOW, limit, volume)


# Raw 1 at 100 turns into 10 (sells 300: +194 a go), raw 2 into 20 (sells 200: +96), raw 3 into 30 (sells 150: +47).
QUOTES = {
    1: item(1, 100, 95), 10: item(10, 310, 300),
    2: item(2, 100, 95), 20: item(20, 210, 200),
    3: item(3, 100, 95), 30: item(30, 160, 150),
}  # fmt: skip
BEST = make_action("BEST", ((1, 1),), 10)
SECOND = make_action("SECOND", ((2, 1),), 20)
THIRD = make_action("THIRD", ((3, 1),), 30)
ACTIONS = priced([THIRD, BEST, SECOND], QUOTES)


def bot(name: str, account: Optional[str] = None, **fields: Any) -> BotProfile:
    return BotProfile(instance_id=name, account=account or f"acc-{name}", **fields)


def tasks(decisions: dict[str, Assignment]) -> dict[str, str]:
    return {name: decision.task for name, decision in decisions.items()}


class ChoiceTests(SynchronousTestCase):
    def test_most_profitable_per_hour(self) -> None:
        decisions = allocate([bot("b1")], ACTIONS, {}, [], [], NOW, CONFIG)
        decision = decisions["b1"]
        self.assertEqual(
            decision, Assignment("b1", "BEST", {"for": "BEST"}, "allocator", NOW, NOW + CONFIG.ttl, quota=1000)
        )

    def test_ties_broken_by_name(self) -> None:
        twins = priced([make_action("ZED", ((1, 1),), 10), make_action("ABE", ((1, 1),), 10)], QUOTES)
        self.assertEqual(tasks(allocate([bot("b1")], twins, {}, [], [], NOW, CONFIG)), {"b1": "ABE"})

    def test_requirements_and_members(self) -> None:
        gated = priced(
            [
                make_action("SKILLED", ((1, 1),), 10, skills={"smithing": 30}),
                make_action("MEMBERS", ((1, 1),), 10, members=True),
                make_action("QUEST", ((1, 1),), 10, quests=frozenset({"Druidic Ritual"})),
                make_action("TOOL", ((1, 1),), 10, items=frozenset({946})),
                SECOND,
            ],
            QUOTES,
        )
        plain = bot("b1")
        self.assertEqual(tasks(allocate([plain], gated, {}, [], [], NOW, CONFIG)), {"b1": "SECOND"})
        for name, profile in (
            ("SKILLED", bot("b1", skills={"smithing": 30})),
            ("MEMBERS", bot("b1", members=True)),
            ("QUEST", bot("b1", quests=frozenset({"Druidic Ritual"}))),
            ("TOOL", bot("b1", items=frozenset({946}))),
        ):
            with self.subTest(name):
                self.assertEqual(tasks(allocate([profile], gated, {}, [], [], NOW, CONFIG)), {"b1": name})

    def test_buy_limit_left_on_the_account(self) -> None:
        heavy = priced([make_action("HEAVY", ((1, 3),), 10, per_hour=1000)], QUOTES | {10: item(10, 2000, 1900)})
        limits = {"alice": {1: 2}, "bob": {1: 3}}
        decisions = allocate([bot("b1", "alice"), bot("b2", "bob")], heavy, limits, [], [], NOW, CONFIG)
        self.assertEqual(decisions["b1"].task, IDLE_TASK)
        self.assertEqual(
            decisions["b1"].reason, "no eligible action (1 buy limit); best: HEAVY has no buy limit left for its inputs"
        )
        self.assertEqual((decisions["b2"].task, decisions["b2"].quota), ("HEAVY", 1))

    def test_unpriced_and_unprofitable_are_never_handed_out(self) -> None:
        losing = make_action("LOSING", ((30, 1),), 3)  # buy at 160, sell at 95
        unpriced = make_action("UNPRICED", ((99, 1),), 10)
        decision = allocate([bot("b1")], priced([losing, unpriced], QUOTES), {}, [], [], NOW, CONFIG)["b1"]
        self.assertEqual(
            (decision.task, decision.source, decision.expires_at), (IDLE_TASK, "idle", NOW + CONFIG.idle_ttl)
        )
        self.assertEqual(
            decision.reason, "no eligible action (1 unpriced, 1 unprofitable); best: LOSING earns -6600 gp/h"
        )

    def test_no_actions(self) -> None:
        self.assertEqual(allocate([bot("b1")], [], {}, [], [], NOW, CONFIG)["b1"].reason, "no actions are defined")


class SaturationTests(SynchronousTestCase):
    # BEST at 100/h per bot, 2400 a day: a 24 h volume of 60,000 at a 10%
    # share carries 6,000 a day, so two bots; the third goes to SECOND.
    THIN = QUOTES | {10: item(10, 310, 300, volume=60_000)}

    def test_spreads_the_fleet(self) -> None:
        actions = priced([BEST, SECOND], self.THIN)
        self.assertEqual(fleet_capacity(actions[0], CONFIG), (2, None))
        decisions = allocate([bot("b3"), bot("b1"), bot("b2")], actions, {}, [], [], NOW, CONFIG)
        self.assertEqual(tasks(decisions), {"b1": "BEST", "b2": "BEST", "b3": "SECOND"})

    def test_live_assignments_of_other_bots_count(self) -> None:
        actions = priced([BEST, SECOND], self.THIN)
        held = [Assignment(name, "BEST", {}, "allocator", NOW - 10, NOW + 10) for name in ("x1", "x2")]
        expired = [Assignment(name, "BEST", {}, "allocator", NOW - 10, NOW) for name in ("x1", "x2")]
        self.assertEqual(tasks(allocate([bot("b1")], actions, {}, held, [], NOW, CONFIG)), {"b1": "SECOND"})
        self.assertEqual(tasks(allocate([bot("b1")], actions, {}, expired, [], NOW, CONFIG)), {"b1": "BEST"})

    def test_pins_count_towards_the_share(self) -> None:
        actions = priced([BEST, SECOND], self.THIN)
        pins = [Pin("x1", "BEST"), Pin("x2", "BEST")]
        self.assertEqual(tasks(allocate([bot("b1")], actions, {}, [], pins, NOW, CONFIG)), {"b1": "SECOND"})

    def test_buy_limit_shrinks_each_bots_share(self) -> None:
        # A limit of 100 a window allows 600 a day: ten bots fit in 6,000.
        limited = priced([BEST], self.THIN | {1: item(1, 100, 95, limit=100)})
        self.assertEqual(per_bot_daily_actions(limited[0]), 600)
        self.assertEqual(fleet_capacity(limited[0], CONFIG), (10, None))

    def test_share_is_exact(self) -> None:
        config = AllocatorConfig(fleet_share=0.3)
        self.assertEqual(config.fleet_share, Fraction(3, 10))
        # 0.3 * 80,000 / 2,400 is exactly 10 bots (a float share would give 9).
        action = priced([BEST], QUOTES | {10: item(10, 310, 300, volume=80_000)})[0]
        self.assertEqual(fleet_capacity(action, config), (10, None))

    def test_share_bounds(self) -> None:
        for share in (0, -0.1, 1.5):
            with self.subTest(share):
                self.assertRaises(ValueError, AllocatorConfig, fleet_share=share)

    def test_unknown_volume_is_not_assigned(self) -> None:
        actions = priced([BEST, SECOND], QUOTES | {10: item(10, 310, 300, volume=None)})
        self.assertEqual(tasks(allocate([bot("b1")], actions, {}, [], [], NOW, CONFIG)), {"b1": "SECOND"})


class ContinuityTests(SynchronousTestCase):
    def test_a_live_assignment_is_kept(self) -> None:
        previous = Assignment("b1", "SECOND", {"for": "SECOND"}, "allocator", NOW - 60, NOW + 60, quota=5)
        decision = allocate([bot("b1")], ACTIONS, {}, [previous], [], NOW, CONFIG)["b1"]
        self.assertEqual(decision, attrs.evolve(previous, quota=1000))

    def test_an_expired_or_ineligible_assignment_is_replaced(self) -> None:
        expired = Assignment("b1", "SECOND", {}, "allocator", NOW - 60, NOW)
        self.assertEqual(allocate([bot("b1")], ACTIONS, {}, [expired], [], NOW, CONFIG)["b1"].task, "BEST")
        spent = Assignment("b1", "SECOND", {}, "allocator", NOW - 60, NOW + 60)
        decisions = allocate([bot("b1", "alice")], ACTIONS, {"alice": {2: 0}}, [spent], [], NOW, CONFIG)
        self.assertEqual(decisions["b1"].task, "BEST")

    def test_a_bot_does_not_saturate_against_itself(self) -> None:
        actions = priced([BEST, SECOND], SaturationTests.THIN)
        held = [Assignment(name, "BEST", {}, "allocator", NOW - 10, NOW + 10) for name in ("b1", "x1")]
        self.assertEqual(tasks(allocate([bot("b1")], actions, {}, held, [], NOW, CONFIG)), {"b1": "BEST"})

    def test_pin_wins_until_it_expires(self) -> None:
        pin = Pin("b1", "PVP_NH", {"world": 390}, expires_at=NOW + 100)
        decision = allocate([bot("b1")], ACTIONS, {}, [], [pin], NOW, CONFIG)["b1"]
        self.assertEqual(decision, Assignment("b1", "PVP_NH", {"world": 390}, "pin", NOW, NOW + 100))
        self.assertEqual(allocate([bot("b1")], ACTIONS, {}, [], [pin], NOW + 100, CONFIG)["b1"].task, "BEST")

    def test_pin_overrides_requirements(self) -> None:
        gated = priced([make_action("SKILLED", ((1, 1),), 10, skills={"smithing": 99})], QUOTES)
        decision = allocate([bot("b1")], gated, {}, [], [Pin("b1", "SKILLED")], NOW, CONFIG)["b1"]
        self.assertEqual((decision.task, decision.source, decision.expires_at), ("SKILLED", "pin", NOW + CONFIG.ttl))

    def test_duplicates_are_refused(self) -> None:
        self.assertRaises(ValueError, allocate, [bot("b1"), bot("b1")], ACTIONS, {}, [], [], NOW, CONFIG)
        self.assertRaises(ValueError, allocate, [bot("b1")], ACTIONS + ACTIONS[:1], {}, [], [], NOW, CONFIG)


class HeartbeatProfileTests(SynchronousTestCase):
    def test_reads_the_fields_a_bot_sends(self) -> None:
        heartbeat = {
            "instanceId": "b1", "account": "alice", "skills": {"Herblore": 31, "smithing": 40, "sailing": 5},
            "quests": ["Druidic Ritual"], "items": [946], "members": True, "task": "IDLE",
        }  # fmt: skip
        self.assertEqual(
            profile_from_heartbeat("b1", heartbeat),
            BotProfile("b1", "alice", {"herblore": 31, "smithing": 40}, frozenset({"Druidic Ritual"}),
                       frozenset({946}), True),
        )  # fmt: skip

    def test_wrong_shapes_are_ignored(self) -> None:
        heartbeat = {"account": "", "skills": {"herblore": "31", "magic": True, "mining": 5},
                     "quests": "Druidic Ritual", "items": [946, "knife", True], "members": "yes"}  # fmt: skip
        expected = BotProfile("b1", "b1", {"mining": 5}, frozenset(), frozenset({946}))
        self.assertEqual(profile_from_heartbeat("b1", heartbeat), expected)
        self.assertEqual(profile_from_heartbeat("b1", {}), BotProfile("b1", "b1"))


# Random fleets: a few raw items (1-4) each turned into a product (11-14), with
# random prices, limits and volumes (some unknown), random requirements and
# random recorded state.
ITEMS = (1, 2, 3, 4, 11, 12, 13, 14)
SKILL_NAMES = ("mining", "magic")
QUESTS = ("Q1", "Q2")
ACCOUNTS = ("acc0", "acc1", "acc2")

def mostly(strategy: st.SearchStrategy[int]) -> st.SearchStrategy[Optional[int]]:
    """``strategy``, or ``None`` about one time in eight."""
    missing = st.sampled_from([False] * 7 + [True])
    return st.builds(lambda value, gone: None if gone else value, strategy, missing)


def quote_strategy(item_id: int) -> st.SearchStrategy[ItemQuote]:
    raw = item_id in ITEMS[:4]
    return st.builds(
        ItemQuote,
        item_id=st.just(item_id),
        name=st.just(f"Item {item_id}"),
        high=mostly(st.integers(1, 100) if raw else st.integers(50, 800)),
        high_time=st.just(NOW),
        low=mostly(st.integers(1, 100) if raw else st.integers(50, 800)),
        low_time=st.just(NOW),
        limit=mostly(st.integers(0, 40)),
        volume24h=mostly(st.integers(0, 100_000)),
    )


quotes_strategy = st.fixed_dictionaries({item_id: quote_strategy(item_id) for item_id in ITEMS})


@st.composite
def actions_strategy(draw: st.DrawFn) -> list[Action]:
    count = draw(st.integers(0, 6))
    actions = []
    for index in range(count):
        raws = draw(st.lists(st.sampled_from(ITEMS[:4]), min_size=1, max_size=3, unique=True))
        inputs = tuple((raw, draw(st.integers(1, 3))) for raw in raws)
        if draw(st.booleans()):
            inputs += ((COINS_ID, draw(st.integers(1, 20))),)
        actions.append(
            make_action(
                f"A{index}",
                inputs,
                draw(st.sampled_from(ITEMS[4:])),
                per_hour=draw(st.integers(1, 50)),
                skills=draw(st.dictionaries(st.sampled_from(SKILL_NAMES), st.integers(1, 5))),
                members=draw(st.booleans()),
                quests=frozenset(draw(st.lists(st.sampled_from(QUESTS), max_size=1))),
            )
        )
    return actions


bots_strategy = st.lists(
    st.builds(
        BotProfile,
        instance_id=st.sampled_from([f"b{index}" for index in range(10)]),
        account=st.sampled_from(ACCOUNTS),
        skills=st.dictionaries(st.sampled_from(SKILL_NAMES), st.integers(1, 5)),
        quests=st.frozensets(st.sampled_from(QUESTS)),
        items=st.just(frozenset()),
        members=st.booleans(),
    ),
    max_size=10,
    unique_by=lambda profile: profile.instance_id,
)
limits_strategy = st.fixed_dictionaries(
    {
        account: st.dictionaries(st.sampled_from(ITEMS[:4]), st.one_of(st.integers(0, 6), st.none()))
        for account in ACCOUNTS
    }
)
holders = st.sampled_from([f"b{index}" for index in range(10)] + ["x0", "x1", "x2"])
tasks_strategy = st.sampled_from([f"A{index}" for index in range(6)] + ["PVP_NH"])
assignments_strategy = st.lists(
    st.builds(
        Assignment,
        instance_id=holders,
        task=tasks_strategy,
        params=st.just({}),
        source=st.sampled_from(["allocator", "pin", "idle"]),
        assigned_at=st.just(NOW - 100),
        expires_at=st.integers(NOW - 50, NOW + 50),
    ),
    max_size=8,
    unique_by=lambda assignment: assignment.instance_id,
)
pins_strategy = st.lists(
    st.builds(Pin, instance_id=holders, task=tasks_strategy, expires_at=st.one_of(st.none(), st.just(NOW + 10))),
    max_size=3,
    unique_by=lambda pin: pin.instance_id,
)
config_strategy = st.builds(
    AllocatorConfig, fleet_share=st.sampled_from([Fraction(1, 10), Fraction(1, 2), Fraction(1)])
)


def inputs_left(action: Action, limits: dict[int, Optional[int]]) -> bool:
    """Whether limits left allow one more action (an item not listed has its whole limit left)."""
    return all(
        limits.get(amount.item_id) is None or (limits[amount.item_id] or 0) >= amount.quantity
        for amount in action.inputs
        if amount.item_id != COINS_ID
    )


@attrs.frozen
class Fleet:
    """One random state of the market and the fleet."""

    quotes: dict[int, ItemQuote]
    actions: list[Action]
    bots: list[BotProfile]
    limits: dict[str, dict[int, Optional[int]]]
    assignments: list[Assignment]
    pins: list[Pin]


fleets = st.builds(
    Fleet,
    quotes=quotes_strategy,
    actions=actions_strategy(),
    bots=bots_strategy,
    limits=limits_strategy,
    assignments=assignments_strategy,
    pins=pins_strategy,
)


class AllocatorProperties(SynchronousTestCase):
    @settings(max_examples=300)
    @given(fleets, config_strategy)
    def test_rules_hold(self, fleet: Fleet, config: AllocatorConfig) -> None:
        bots, limits, assignments, pins = fleet.bots, fleet.limits, fleet.assignments, fleet.pins
        candidates = {entry.action.name: entry for entry in priced(fleet.actions, fleet.quotes)}
        decisions = allocate(bots, candidates.values(), limits, assignments, pins, NOW, config)
        self.assertEqual(sorted(decisions), sorted(profile.instance_id for profile in bots))
        profiles = {profile.instance_id: profile for profile in bots}
        live_pins = {pin.instance_id: pin for pin in pins if pin.live(NOW)}
        for name, decision in decisions.items():
            if name in live_pins:
                self.assertEqual((decision.source, decision.task), ("pin", live_pins[name].task))
            elif decision.source == "idle":
                self.assertEqual(decision.task, IDLE_TASK)
                self.assertTrue(decision.reason)
            else:
                # Never an action whose requirements or limits fail.
                entry = candidates[decision.task]
                profile = profiles[name]
                self.assertIsNotNone(entry.economics.profit_per_hour)
                self.assertGreaterEqual(entry.economics.profit_per_hour or 0, config.min_profit_per_hour)
                self.assertTrue(profile.members or not entry.action.members)
                self.assertIsNone(entry.action.requirements.unmet(profile.skills, profile.quests, profile.items))
                self.assertNotEqual(entry.economics.actions_per_4h, 0)
                self.assertTrue(inputs_left(entry.action, limits.get(profile.account, {})))
                self.assertTrue(decision.live(NOW))

        # The fleet's share of each action the allocator handed out holds,
        # counting every live holder: other bots' assignments and all pins.
        holder = {
            assignment.instance_id: assignment.task
            for assignment in assignments
            if assignment.live(NOW) and assignment.source == "allocator" and assignment.instance_id not in live_pins
        }
        holder.update({name: pin.task for name, pin in live_pins.items()})
        holder.update({name: decision.task for name, decision in decisions.items() if decision.source != "idle"})
        for task in {decision.task for decision in decisions.values() if decision.source == "allocator"}:
            entry = candidates[task]
            volume_cap = entry.economics.fleet_actions_per_24h
            self.assertIsNotNone(volume_cap)
            bots_on_it = sum(1 for held in holder.values() if held == task)
            self.assertLessEqual(bots_on_it * per_bot_daily_actions(entry), config.fleet_share * (volume_cap or 0))

    @given(fleets, st.randoms(use_true_random=False))
    def test_deterministic_whatever_the_order(self, fleet: Fleet, shuffler: random.Random) -> None:
        bots, limits, assignments, pins = fleet.bots, fleet.limits, fleet.assignments, fleet.pins
        entries = priced(fleet.actions, fleet.quotes)
        first = allocate(bots, entries, limits, assignments, pins, NOW, CONFIG)
        self.assertEqual(allocate(bots, entries, limits, assignments, pins, NOW, CONFIG), first)
        shuffled_bots, shuffled_entries = list(bots), list(entries)
        shuffled_assignments, shuffled_pins = list(assignments), list(pins)
        for values in (shuffled_bots, shuffled_entries, shuffled_assignments, shuffled_pins):
            shuffler.shuffle(values)
        again = allocate(shuffled_bots, shuffled_entries, limits, shuffled_assignments, shuffled_pins, NOW, CONFIG)
        self.assertEqual(again, first)
