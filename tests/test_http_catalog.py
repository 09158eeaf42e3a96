"""The hot-read catalog: refresh on the store's change signal (in process on
SQLite, from another store instance over PostgreSQL NOTIFY), coalesced
reloads of only what changed, and retries while the store is unreachable."""

from __future__ import annotations

from typing import Any, Callable

import attrs
from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase, TestCase

from osrs_twisted.market.catalog import Catalog
from osrs_twisted.records import LatestPrice, PriceBucket
from osrs_twisted.store.interface import TOPIC_BUCKETS, TOPIC_HEARTBEATS, TOPIC_ITEMS, TOPIC_PRICES, StoreUnavailable
from tests import pgserver
from tests.http_helpers import ITEMS, NOW, PRICES, TEST_TIMEOUT, fill, make_client, now_clock, serve_api, start_store
from tests.store_helpers import memory_store
from tests.test_store_contract import wait_for_topic


class SignalRefreshTests(SynchronousTestCase):
    def test_writes_show_after_the_signal(self) -> None:
        store = memory_store(now_clock())
        client = make_client(self, store=store)
        catalog = client.api.catalog
        assert catalog is not None
        self.successResultOf(store.upsert_latest_prices([LatestPrice(4151, 2_000_000, NOW, 1_900_000, NOW)]))
        self.successResultOf(store.upsert_buckets([PriceBucket(4151, "24h", NOW, 2e6, 1.9e6, 1, 2)]))
        self.successResultOf(catalog.settled())
        price = client.get("/items/4151").json["price"]
        self.assertEqual((price["high"], price["low"], price["volume24h"]), (2_000_000, 1_900_000, 3))
        self.successResultOf(store.upsert_items([attrs.evolve(ITEMS[0], name="Renamed whip")]))
        self.successResultOf(catalog.settled())
        self.assertEqual(client.get("/items/search?name=renamed%20whip").json["id"], 4151)
        self.assertEqual(client.get("/items/search?name=abyssal%20whip").code, 404)


class PostgresRefreshTests(TestCase):
    """Over real PostgreSQL and loopback: the change signal crosses store
    instances by NOTIFY; the test waits on the signal, not on a timer."""

    timeout = TEST_TIMEOUT

    async def test_another_instance_write_reaches_the_catalog(self) -> None:
        url = pgserver.fresh_database(self)
        serving = await start_store(self, url)
        writer = await start_store(self, url)
        await fill(writer)
        client = await serve_api(self, serving)
        catalog = client.api.catalog
        assert catalog is not None
        self.assertEqual((await client.get("/items/4151")).json["price"]["high"], 1761642)
        await writer.upsert_latest_prices([LatestPrice(4151, 1_800_000, NOW, 1_700_000, NOW)])
        # Each PRICES signal (a late one of ``fill`` or this write's) has
        # started a reload by the time it is heard; wait for the one that
        # carried this write.
        while True:
            await catalog.settled()
            whip = catalog.snapshot().items[4151].price
            if whip is not None and whip.high == 1_800_000:
                break
            await wait_for_topic(serving, TOPIC_PRICES)
        self.assertEqual((await client.get("/items/4151")).json["price"]["high"], 1_800_000)


class GatedStore:
    """Just enough of a store to hold each catalog query until the test
    releases it, and to send change signals by hand (hence the
    ``type: ignore[arg-type]`` where a Catalog takes it as its IStore)."""

    def __init__(self) -> None:
        self.listener: Callable[[str], None] = lambda topic: None
        self.pending: list[tuple[str, Deferred[Any]]] = []
        self.calls: list[str] = []
        self.unavailable = False

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        self.listener = listener

        def unsubscribe() -> None:
            self.listener = lambda topic: None

        return unsubscribe

    def _query(self, name: str) -> "Deferred[Any]":
        self.calls.append(name)
        if self.unavailable:
            return fail(StoreUnavailable("database down"))
        d: Deferred[Any] = Deferred()
        self.pending.append((name, d))
        return d

    def all_items(self) -> "Deferred[Any]":
        return self._query("items")

    def all_latest_prices(self) -> "Deferred[Any]":
        return self._query("prices")

    def newest_buckets(self, timestep: str) -> "Deferred[Any]":
        return self._query("buckets-" + timestep)

    def release(self) -> None:
        answers = {"items": ITEMS, "prices": PRICES, "buckets-24h": []}
        pending, self.pending = self.pending, []
        for name, d in pending:
            d.callback(answers[name])


class CoalescingTests(SynchronousTestCase):
    def test_bursts_coalesce_into_one_reload_of_what_changed(self) -> None:
        store = GatedStore()
        catalog = Catalog(store, now_clock())  # type: ignore[arg-type]
        catalog.startService()
        started = catalog.whenLoaded()
        self.assertEqual(sorted(store.calls), ["buckets-24h", "items", "prices"])
        for _ in range(5):
            store.listener(TOPIC_PRICES)
        store.listener(TOPIC_HEARTBEATS)
        self.assertEqual(len(store.calls), 3, "no second reload while one is in flight")
        store.release()
        self.assertEqual(store.calls[3:], ["prices"])
        self.assertNoResult(started)
        store.release()
        self.successResultOf(started)
        self.assertEqual(catalog.loads, 2)
        self.assertEqual(sorted(catalog.snapshot().items), sorted(i.id for i in ITEMS))
        store.listener(TOPIC_ITEMS)
        store.listener(TOPIC_BUCKETS)
        self.assertEqual(store.calls[4:], ["items"])
        store.release()
        self.assertEqual(store.calls[5:], ["buckets-24h"])
        store.release()
        self.assertEqual(catalog.loads, 4)
        self.successResultOf(catalog.stopService())
        store.listener(TOPIC_PRICES)
        self.assertEqual(len(store.calls), 6, "no reload after stop")

    def test_unreachable_store_is_retried(self) -> None:
        store = GatedStore()
        store.unavailable = True
        clock = now_clock()
        catalog = Catalog(store, clock, retry_delay=5)  # type: ignore[arg-type]
        catalog.startService()
        self.successResultOf(catalog.whenLoaded())
        self.assertRaises(StoreUnavailable, catalog.snapshot)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        store.unavailable = False
        clock.advance(5)
        store.release()
        self.assertTrue(catalog.loaded)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.successResultOf(catalog.stopService())

    def test_stop_cancels_a_pending_retry(self) -> None:
        store = GatedStore()
        store.unavailable = True
        clock = now_clock()
        catalog = Catalog(store, clock)  # type: ignore[arg-type]
        catalog.startService()
        self.successResultOf(catalog.whenLoaded())
        self.successResultOf(catalog.stopService())
        self.assertEqual(clock.getDelayedCalls(), [])
