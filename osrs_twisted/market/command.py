"""Bot command's derived state, computed once per change of what it is derived from.

``GET /task/`` is asked by every bot of the fleet over and over, so nothing
it needs is recomputed per request: each item's quote is built once per
catalog snapshot, the actions are priced once per second (staleness moves
with the clock), and the fleet's load on each action is counted into one
:class:`~osrs_twisted.market.allocation.FleetPlan` per second and per
reload of the recorded assignments, which each answer then updates in place.
Pure: the caller passes in the catalog's values and the time.
"""

from __future__ import annotations

from typing import Generic, Hashable, Mapping, Optional, Sequence, TypeVar

import attrs

from osrs_twisted.market.allocation import AllocatorConfig, Assignment, FleetPlan, Pin, PricedAction
from osrs_twisted.market.economics import ItemQuote, price_action
from osrs_twisted.market.snapshot import Entry, Snapshot
from osrs_twisted.store.interface import StoredAction

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: How far back an account's buys are read for its buy-limit windows.
LEDGER_HORIZON = 24 * 3600


def quote_of(entry: Entry) -> ItemQuote:
    """What the economics need of one catalog entry."""
    price, figures = entry.price, entry.figures
    return ItemQuote(
        item_id=entry.item.id,
        name=entry.item.name,
        high=None if price is None else price.high,
        high_time=None if price is None else price.high_time,
        low=None if price is None else price.low,
        low_time=None if price is None else price.low_time,
        limit=entry.item.limit,
        volume24h=None if figures is None else figures.volume_24h,
    )


def with_limits_left(
    quotes: Mapping[int, ItemQuote], account_left: Mapping[int, Optional[int]]
) -> Mapping[int, ItemQuote]:
    """``quotes`` with each item's buy limit replaced by what one account has left of it."""
    changed = {
        item_id: attrs.evolve(quotes[item_id], limit=left)
        for item_id, left in account_left.items()
        if item_id in quotes and left is not None
    }
    return {**quotes, **changed} if changed else quotes


def price_stored(
    actions: Sequence[StoredAction], quotes: Mapping[int, ItemQuote], now: int, stale_after: int
) -> tuple[PricedAction, ...]:
    return tuple(PricedAction(s.action, price_action(s.action, quotes, now, stale_after)) for s in actions)


class CommandBoard:
    """The caches behind the command routes (one per HTTP API)."""

    def __init__(self, config: AllocatorConfig, stale_after: int) -> None:
        self.config = config
        self.stale_after = stale_after
        self._quotes: tuple[Optional[Snapshot], Mapping[int, ItemQuote]] = (None, {})
        self._priced: Optional[tuple[Snapshot, Sequence[StoredAction], int, tuple[PricedAction, ...]]] = None
        self._plan: Optional[tuple[tuple[PricedAction, ...], Mapping[str, Assignment], Mapping[str, Pin], FleetPlan]]
        self._plan = None
        self._by_name: tuple[Sequence[StoredAction], Mapping[str, StoredAction]] = ((), {})

    def by_name(self, actions: Sequence[StoredAction]) -> Mapping[str, StoredAction]:
        """The stored actions by name."""
        if self._by_name[0] is not actions:
            self._by_name = (actions, {stored.action.name: stored for stored in actions})
        return self._by_name[1]

    def quotes(self, snapshot: Snapshot) -> Mapping[int, ItemQuote]:
        """Every catalog item's quote."""
        if self._quotes[0] is not snapshot:
            self._quotes = (snapshot, {item_id: quote_of(entry) for item_id, entry in snapshot.items.items()})
        return self._quotes[1]

    def priced(self, snapshot: Snapshot, actions: Sequence[StoredAction], now: int) -> tuple[PricedAction, ...]:
        """Every action with its figures at ``now``."""
        cached = self._priced
        if cached is not None and cached[0] is snapshot and cached[1] is actions and cached[2] == now:
            return cached[3]
        priced = price_stored(actions, self.quotes(snapshot), now, self.stale_after)
        self._priced = (snapshot, actions, now, priced)
        return priced

    def plan(
        self,
        snapshot: Snapshot,
        actions: Sequence[StoredAction],
        assignments: Mapping[str, Assignment],
        pins: Mapping[str, Pin],
        now: int,
    ) -> FleetPlan:
        """The fleet plan at ``now``; ``assignments`` is the catalog's mapping,
        whose identity changes on each reload (this process's own answers,
        noted in place, are already counted by the plan that gave them)."""
        priced = self.priced(snapshot, actions, now)
        cached = self._plan
        if (
            cached is not None
            and cached[0] is priced
            and cached[1] is assignments
            and cached[2] is pins
            and cached[3].now == now
        ):
            return cached[3]
        plan = FleetPlan(priced, assignments.values(), pins.values(), now, self.config)
        self._plan = (priced, assignments, pins, plan)
        return plan


class GenerationMemo(Generic[K, V]):
    """Values read from the store, kept while a change counter stays the same.

    A value is stored under the counter read *before* its query was sent, so
    a change that lands while the query runs makes it stale at once.
    """

    def __init__(self) -> None:
        self._generation: Optional[Hashable] = None
        self._values: dict[K, V] = {}

    def get(self, key: K, generation: Hashable) -> Optional[V]:
        if generation != self._generation:
            return None
        return self._values.get(key)

    def put(self, key: K, generation: Hashable, value: V) -> None:
        if generation != self._generation:
            self._generation = generation
            self._values = {}
        self._values[key] = value
