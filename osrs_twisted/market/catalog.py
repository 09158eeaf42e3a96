"""The hot-read catalog: the store's items, latest prices and 24 h volumes in memory,
and bot command's actions, assignments and pins.

``GET /items/{id}``, the market views and ``GET /task/`` are read far more
often than the store changes, so they are answered from what is held here
rather than from the database. The snapshot is loaded once the store is
ready and reloaded when the store signals a change (from this process or,
with PostgreSQL, any other). Signals coalesce: one reload runs at a time
and, if more signals arrived meanwhile, exactly one more follows it,
reloading only what changed.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Mapping, Optional, Sequence

import attrs
from twisted.application import service
from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.market.actions import Action
from osrs_twisted.market.allocation import Assignment, Pin
from osrs_twisted.market.snapshot import Snapshot, build_snapshot, volumes_24h
from osrs_twisted.records import Item, LatestPrice, PriceBucket
from osrs_twisted.store.interface import (
    TOPIC_ACTIONS,
    TOPIC_ASSIGNMENTS,
    TOPIC_BUCKETS,
    TOPIC_ITEMS,
    TOPIC_PRICES,
    IStore,
    StoredAction,
    StoreUnavailable,
)
from osrs_twisted.waiters import Waiters

log = Logger()

#: The store topics the item snapshot is built from (a catalog holds at least these).
TOPICS: frozenset[str] = frozenset((TOPIC_ITEMS, TOPIC_PRICES, TOPIC_BUCKETS))

#: The topics of a catalog that serves bot command too: its actions, assignments and pins.
COMMAND_TOPICS: frozenset[str] = TOPICS | {TOPIC_ACTIONS, TOPIC_ASSIGNMENTS}


@attrs.frozen
class InitialActions:
    """Actions the first load writes to the store: with ``replace`` (an
    ``--actions-file``) each is inserted or replaced by name; without (the
    starter set), only into an empty table."""

    actions: Sequence[Action]
    replace: bool


def _at_once() -> "Deferred[None]":
    return succeed(None)


class Catalog(service.Service):
    """The store's items and prices in memory, refreshed on its change signal.

    ``startService`` waits for ``ready`` (the store's schema current), then
    subscribes and loads; it does not wait for the load: until one succeeds,
    hot reads answer 503 and ``/health`` reports the store. A failed load
    (store unreachable) is logged and retried after ``retry_delay`` seconds.
    ``stopService`` unsubscribes and fires once no load is in flight. As a
    child of the HTTP service it starts before the ports and stops after them.
    With ``topics=COMMAND_TOPICS`` it holds bot command's actions,
    assignments and pins too.
    """

    name = "catalog"

    def __init__(
        self,
        store: IStore,
        clock: IReactorTime,
        retry_delay: float = 5.0,
        ready: Callable[[], "Deferred[None]"] = _at_once,
        topics: Collection[str] = TOPICS,
        initial_actions: Optional[InitialActions] = None,
    ) -> None:
        self._store = store
        self._topics = frozenset(topics) | TOPICS
        self._initial_actions = initial_actions
        self._clock = clock
        self._retry_delay = retry_delay
        self._ready = ready
        self._items: dict[int, Item] = {}
        self._prices: dict[int, LatestPrice] = {}
        self._volumes: dict[int, int] = {}
        self._snapshot: Optional[Snapshot] = None
        #: The stored actions, by id; replaced (never changed in place) on each reload.
        self.actions: tuple[StoredAction, ...] = ()
        #: Each bot's recorded assignment; replaced on reload, and updated in
        #: place by :meth:`assigned` for this process's own answers.
        self.assignments: dict[str, Assignment] = {}
        self.pins: Mapping[str, Pin] = {}
        #: How many times each topic was heard: a cache of data under a topic
        #: the catalog does not hold is valid while its count stays the same.
        self.generations: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._loading: Optional[Deferred[None]] = None
        self._retry: Optional[IDelayedCall] = None
        self._unsubscribe: Optional[Callable[[], None]] = None
        #: Whether the first load since start was tried (whatever its outcome).
        self._tried = False
        self._settled: Waiters[None] = Waiters()
        self._first_try: Waiters[None] = Waiters()
        #: Completed reloads, for tests and logging.
        self.loads = 0
        #: When the last reload completed (clock seconds), for metrics.
        self.loaded_at: Optional[float] = None

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    def snapshot(self) -> Snapshot:
        """The current snapshot; StoreUnavailable until the first load succeeded."""
        if self._snapshot is None:
            raise StoreUnavailable("the item catalog has not been loaded from the store yet")
        return self._snapshot

    def assigned(self, assignment: Assignment) -> None:
        """Note an assignment this process recorded, before the reload its write signals."""
        self.assignments[assignment.instance_id] = assignment

    def pinned(self, instance_id: str, pin: Optional[Pin]) -> None:
        """Note a pin this process set (``None``: removed), before the reload its write signals."""
        pins = dict(self.pins)
        if pin is None:
            pins.pop(instance_id, None)
        else:
            pins[instance_id] = pin
        self.pins = pins

    def startService(self) -> None:
        super().startService()
        self._tried = False
        self._ready().addCallbacks(lambda _: self._begin(), self._not_ready)

    def stopService(self) -> "Deferred[None]":
        super().stopService()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._cancel_retry()
        self._dirty.clear()
        return self.settled()

    def whenLoaded(self) -> "Deferred[None]":
        """Fires once the first load after start was tried and no reload is
        in flight; a failure of ``ready`` errbacks it."""
        if self._tried:
            return succeed(None)
        return self._first_try.wait()

    def settled(self) -> "Deferred[None]":
        """Fires once no reload is in flight or due at once (a retry after a
        failure may still be scheduled)."""
        if self._loading is None:
            return succeed(None)
        return self._settled.wait()

    def _begin(self) -> None:
        if not self.running:
            return
        self._unsubscribe = self._store.subscribe(self._changed)
        self._dirty.update(self._topics)
        self._kick()

    def _not_ready(self, failure: Failure) -> None:
        """The store never became ready; whoever started the store reports why."""
        self._first_try.fire(failure)

    def _changed(self, topic: str) -> None:
        self.generations[topic] = self.generations.get(topic, 0) + 1
        if topic in self._topics and self.running:
            self._dirty.add(topic)
            self._kick()

    def _cancel_retry(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None

    def _kick(self) -> None:
        """Start a reload of the dirty topics unless one is already running."""
        if self._loading is not None or not self._dirty:
            return
        self._cancel_retry()
        topics, self._dirty = self._dirty, set()
        # Marked in flight before the load starts: a store that answers at
        # once signals the load's own writes from inside it, and those must
        # only mark their topics dirty, not start a load within this one.
        loading: Deferred[None] = Deferred()
        self._loading = loading
        loading.addBoth(self._loaded)
        self._load(topics).chainDeferred(loading)

    def _load(self, topics: set[str]) -> "Deferred[None]":
        calls: list[Deferred[Any]] = []
        if TOPIC_ITEMS in topics:
            calls.append(self._store.all_items().addCallback(self._set_items))
        if TOPIC_PRICES in topics:
            calls.append(self._store.all_latest_prices().addCallback(self._set_prices))
        if TOPIC_BUCKETS in topics:
            calls.append(self._store.newest_buckets("24h").addCallback(self._set_volumes))
        if TOPIC_ACTIONS in topics:
            calls.append(Deferred.fromCoroutine(self._load_actions()))
        if TOPIC_ASSIGNMENTS in topics:
            calls.append(self._store.all_assignments().addCallback(self._set_assignments))
            calls.append(self._store.all_pins().addCallback(self._set_pins))

        def failed(failure: Failure) -> None:
            error = failure.value
            if isinstance(error, FirstError):
                error = error.subFailure.value
            if not self.running:
                return
            self._dirty.update(topics)
            log.warn(
                "item catalog reload failed, retrying in {delay}s: {error}", delay=self._retry_delay, error=error
            )
            self._retry = self._clock.callLater(self._retry_delay, self._kick)

        d = gatherResults(calls, consumeErrors=True)
        return d.addCallbacks(lambda _: self._rebuild(topics), failed)

    async def _load_actions(self) -> None:
        """The actions; the first load writes the initial set, once."""
        initial, self._initial_actions = self._initial_actions, None
        if initial is not None:
            now = int(self._clock.seconds())
            try:
                written = await self._store.load_actions(initial.actions, now, initial.replace)
            except BaseException:
                self._initial_actions = initial
                raise
            log.info("loaded {count} actions into the store", count=written)
        self.actions = tuple(await self._store.all_actions())

    def _set_assignments(self, assignments: list[Assignment]) -> None:
        self.assignments = {assignment.instance_id: assignment for assignment in assignments}

    def _set_pins(self, pins: list[Pin]) -> None:
        self.pins = {pin.instance_id: pin for pin in pins}

    def _set_items(self, items: list[Item]) -> None:
        self._items = {item.id: item for item in items}

    def _set_prices(self, prices: list[LatestPrice]) -> None:
        self._prices = {price.item_id: price for price in prices}

    def _set_volumes(self, buckets: list[PriceBucket]) -> None:
        self._volumes = volumes_24h(buckets)

    def _rebuild(self, topics: set[str]) -> None:
        if not self.running:
            return
        self.loads += 1
        self.loaded_at = self._clock.seconds()
        if self._snapshot is not None and not topics & TOPICS:
            return
        self._snapshot = build_snapshot(self._items, self._prices, self._volumes, int(self._clock.seconds()))

    def _loaded(self, result: object) -> None:
        self._loading = None
        if isinstance(result, Failure):
            log.failure("item catalog rebuild failed", result)
        if self._dirty and (self._retry is None or not self._retry.active()):
            self._kick()
            if self._loading is not None:
                return
        self._settled.fire(None)
        if not self._tried:
            self._tried = True
            self._first_try.fire(None)
