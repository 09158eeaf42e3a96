"""The hot-read catalog: items, latest prices and 24 h volumes held in memory.

``GET /items/{id}`` and the market views are read far more often than the
store changes, so they are answered from a snapshot built here rather than
from the database. The snapshot is loaded at start and reloaded when the
store signals a change (from this process or, with PostgreSQL, any other).
Signals coalesce: one reload runs at a time and, if more signals arrived
meanwhile, exactly one more follows it, reloading only what changed.

Figures that depend on the clock (``stale``) are not part of the snapshot;
the HTTP layer computes them per request from the cached times.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import attrs
from twisted.application import service
from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.gex import NATURE_RUNE_ID, PriceFigures, alch_profit, price_figures
from osrs_twisted.records import Item, LatestPrice, PriceBucket
from osrs_twisted.store.interface import (
    TOPIC_BUCKETS,
    TOPIC_ITEMS,
    TOPIC_PRICES,
    IStore,
    StoreUnavailable,
)

log = Logger()

#: The flip rankings ``GET /prices/flips?sort=`` offers, best first.
FLIP_SORTS: tuple[str, ...] = ("margin", "roi", "limitProfit", "volume")

#: The store topics whose data the catalog holds.
TOPICS: tuple[str, ...] = (TOPIC_ITEMS, TOPIC_PRICES, TOPIC_BUCKETS)


@attrs.frozen
class Entry:
    """One item with its price figures as of the last refresh."""

    item: Item
    #: The item's JSON fields except ``price``, built once per refresh.
    fields: Mapping[str, Any]
    price: Optional[LatestPrice]
    #: ``price_figures`` at refresh time; its ``stale`` is recomputed per request.
    figures: Optional[PriceFigures]
    alch_profit: Optional[int]
    name_key: str

    @property
    def volume24h(self) -> int:
        """The 24 h volume, 0 when unknown (for filtering and ranking)."""
        if self.figures is None or self.figures["volume24h"] is None:
            return 0
        return self.figures["volume24h"]

    @property
    def both_sides(self) -> bool:
        return self.price is not None and self.price.high is not None and self.price.low is not None


@attrs.frozen
class Snapshot:
    """An immutable view of the catalog; requests read one without locking."""

    items: Mapping[int, Entry]
    #: Every entry ordered by lowercase name, then id.
    by_name: Sequence[Entry]
    #: Lowercase name → the entry with the lowest id of that name.
    by_exact_name: Mapping[str, Entry]
    #: Sort key → entries with both sides, best first (stale ones included).
    flips: Mapping[str, Sequence[Entry]]
    #: Entries with a known alch profit, best first.
    alchs: Sequence[Entry]


def _item_fields(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "examine": item.examine,
        "members": item.members,
        "lowalch": item.lowalch,
        "highalch": item.highalch,
        "limit": item.limit,
        "value": item.value,
        "icon": item.icon,
    }


def _ranked(entries: Sequence[Entry], figure: Callable[[Entry], Optional[float]]) -> tuple[Entry, ...]:
    """Best first; entries whose figure is unknown go last; ties by id."""

    def key(entry: Entry) -> tuple[bool, float, int]:
        value = figure(entry)
        return (value is None, -(value or 0), entry.item.id)

    return tuple(sorted(entries, key=key))


def _figure(name: str) -> Callable[[Entry], Optional[float]]:
    def get(entry: Entry) -> Optional[float]:
        assert entry.figures is not None
        value: Optional[float] = entry.figures[name]  # type: ignore[literal-required]
        return value

    return get


def build_snapshot(
    items: Mapping[int, Item],
    prices: Mapping[int, LatestPrice],
    volumes: Mapping[int, int],
    now: int,
) -> Snapshot:
    """Everything the hot reads need, computed once per refresh."""
    nature = prices.get(NATURE_RUNE_ID)
    nature_high = None if nature is None else nature.high
    entries: dict[int, Entry] = {}
    for item_id, item in items.items():
        price = prices.get(item_id)
        figures = price_figures(price, item.limit, volumes.get(item_id), now, stale_after=0)
        entries[item_id] = Entry(
            item=item,
            fields=_item_fields(item),
            price=price,
            figures=figures,
            alch_profit=alch_profit(item.highalch, None if price is None else price.high, nature_high),
            name_key=item.name.lower(),
        )
    by_name = tuple(sorted(entries.values(), key=lambda e: (e.name_key, e.item.id)))
    by_exact_name: dict[str, Entry] = {}
    for entry in sorted(entries.values(), key=lambda e: e.item.id):
        by_exact_name.setdefault(entry.name_key, entry)
    tradeable = [e for e in entries.values() if e.both_sides]
    flips = {
        "margin": _ranked(tradeable, _figure("margin")),
        "roi": _ranked(tradeable, _figure("roi")),
        "limitProfit": _ranked(tradeable, _figure("limitProfit")),
        "volume": _ranked(tradeable, lambda e: e.volume24h),
    }
    alchs = _ranked([e for e in entries.values() if e.alch_profit is not None], lambda e: e.alch_profit)
    return Snapshot(entries, by_name, by_exact_name, flips, alchs)


def volumes_24h(buckets: Sequence[PriceBucket]) -> dict[int, int]:
    """Each item's high + low volume in its newest 24 h bucket."""
    return {b.item_id: b.high_volume + b.low_volume for b in buckets}


class Catalog(service.Service):
    """The store's items and prices in memory, refreshed on its change signal.

    ``start()`` subscribes and fires after the first load attempt; a failed
    load (store unreachable) is logged and retried after ``retry_delay``
    seconds, so the catalog fills once the store comes back. ``stop()``
    unsubscribes and fires once no load is in flight. As a service child it
    starts before the HTTP ports and stops after them.
    """

    name = "catalog"

    def __init__(self, store: IStore, clock: IReactorTime, retry_delay: float = 5.0) -> None:
        self._store = store
        self._clock = clock
        self._retry_delay = retry_delay
        self._items: dict[int, Item] = {}
        self._prices: dict[int, LatestPrice] = {}
        self._volumes: dict[int, int] = {}
        self._snapshot: Optional[Snapshot] = None
        self._dirty: set[str] = set()
        self._loading: Optional[Deferred[None]] = None
        self._retry: Optional[IDelayedCall] = None
        self._waiters: list[Deferred[None]] = []
        self._unsubscribe: Optional[Callable[[], None]] = None
        self._running = False
        #: Completed reloads, for tests and logging.
        self.loads = 0

    def startService(self) -> None:
        """Does not wait for the first load: until it succeeds, hot reads
        answer 503 and ``/health`` reports the store."""
        service.Service.startService(self)
        self.start()

    def stopService(self) -> "Deferred[None]":
        service.Service.stopService(self)
        return self.stop()

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    def snapshot(self) -> Snapshot:
        """The current snapshot; StoreUnavailable until the first load succeeded."""
        if self._snapshot is None:
            raise StoreUnavailable("the item catalog has not been loaded from the store yet")
        return self._snapshot

    def start(self) -> "Deferred[None]":
        self._running = True
        self._unsubscribe = self._store.subscribe(self._changed)
        self._dirty.update(TOPICS)
        self._kick()
        return self.settled()

    def stop(self) -> "Deferred[None]":
        self._running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._cancel_retry()
        self._dirty.clear()
        return self.settled()

    def settled(self) -> "Deferred[None]":
        """Fires once no reload is in flight or due at once (a retry after a
        failure may still be scheduled)."""
        if self._loading is None:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter

    def _changed(self, topic: str) -> None:
        if topic in TOPICS and self._running:
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
        self._loading = self._load(topics)
        self._loading.addBoth(self._loaded)

    def _load(self, topics: set[str]) -> "Deferred[None]":
        calls: list[Deferred[Any]] = []
        if TOPIC_ITEMS in topics:
            calls.append(self._store.all_items().addCallback(self._set_items))
        if TOPIC_PRICES in topics:
            calls.append(self._store.all_latest_prices().addCallback(self._set_prices))
        if TOPIC_BUCKETS in topics:
            calls.append(self._store.newest_buckets("24h").addCallback(self._set_volumes))

        def failed(failure: Failure) -> None:
            error = failure.value
            if isinstance(error, FirstError):
                error = error.subFailure.value
            if not self._running:
                return
            self._dirty.update(topics)
            log.warn(
                "item catalog reload failed, retrying in {delay}s: {error}", delay=self._retry_delay, error=error
            )
            self._retry = self._clock.callLater(self._retry_delay, self._kick)

        d = gatherResults(calls, consumeErrors=True)
        return d.addCallbacks(lambda _: self._rebuild(), failed)

    def _set_items(self, items: list[Item]) -> None:
        self._items = {item.id: item for item in items}

    def _set_prices(self, prices: list[LatestPrice]) -> None:
        self._prices = {price.item_id: price for price in prices}

    def _set_volumes(self, buckets: list[PriceBucket]) -> None:
        self._volumes = volumes_24h(buckets)

    def _rebuild(self) -> None:
        if not self._running:
            return
        self._snapshot = build_snapshot(self._items, self._prices, self._volumes, int(self._clock.seconds()))
        self.loads += 1

    def _loaded(self, result: object) -> None:
        self._loading = None
        if isinstance(result, Failure):
            log.failure("item catalog rebuild failed", result)
        if self._dirty and (self._retry is None or not self._retry.active()):
            self._kick()
            if self._loading is not None:
                return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)
