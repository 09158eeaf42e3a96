"""PostgreSQL going away and coming back, on a server of the test's own.

Trial fails a test on any logged error, so each of these also proves that an
outage or a cancellation logs none.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

import psycopg2
from twisted.internet import reactor
from twisted.internet.defer import CancelledError
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from osrs_twisted.records import Item
from osrs_twisted.store import migrations
from osrs_twisted.store.interface import TOPIC_ITEMS, StoreUnavailable
from osrs_twisted.store.postgres import PostgresRunner
from osrs_twisted.store.steps import Op, Query
from osrs_twisted.store.store import Store
from tests import pgserver
from tests.test_store_contract import item, wait_for_topic


async def sleep(seconds: float) -> None:
    await deferLater(reactor, seconds, lambda: None)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll ``check`` until it is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {within}s")
        await sleep(0.1)


async def answers(store: Store) -> bool:
    try:
        await store.count_items()
    except StoreUnavailable:
        return False
    return True


class PostgresOutageTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.server = pgserver.dedicated_server()
        self.addCleanup(self.server.destroy)
        self.url = pgserver.fresh_database(self, self.server.url())

    async def started(self) -> Store:
        store = Store(PostgresRunner(self.url, reactor, pool_size=2, max_reconnect_delay=0.5))
        await store.start()
        self.addCleanup(store.stop)
        return store

    async def assert_fails_fast(self, call: Callable[[], Any]) -> None:
        began = time.monotonic()
        await self.assertFailure(call(), StoreUnavailable)
        self.assertLess(time.monotonic() - began, 1.0)

    async def test_server_stops_and_returns(self) -> None:
        store = await self.started()
        other = await self.started()
        await store.upsert_items([item(1)])

        self.server.stop("fast")
        await eventually(lambda: _true(not store.health().reachable), within=5)
        self.assertIn("unreachable", store.health().detail)
        await self.assert_fails_fast(lambda: store.get_item(1))
        await self.assert_fails_fast(lambda: store.upsert_items([item(2)]))

        self.server.start()
        await eventually(lambda: answers(store))
        self.assertTrue(store.health().reachable, store.health().detail)
        self.assertEqual(await store.get_item(1), item(1))
        await eventually(lambda: answers(other))
        seen = wait_for_topic(store, TOPIC_ITEMS)
        await other.upsert_items([item(3)])  # LISTEN was re-issued after the restart
        await seen

    async def test_immediate_shutdown_mid_query(self) -> None:
        store = await self.started()
        running = store._call(_sleep_op(3))
        await sleep(0.3)
        self.server.stop("immediate")
        await self.assertFailure(running, StoreUnavailable)
        self.server.start()
        await eventually(lambda: answers(store))

    async def test_down_at_start(self) -> None:
        self.server.stop("fast")
        store = await self.started()
        health = store.health()
        self.assertFalse(health.reachable)
        self.assertIsNone(health.schema_version)
        self.assertIn("unreachable", health.detail)
        await self.assert_fails_fast(store.count_items)

        self.server.start()
        await eventually(lambda: answers(store))
        self.assertEqual(store.health().schema_version, migrations.LATEST_VERSION)
        seen = wait_for_topic(store, TOPIC_ITEMS)
        await store.upsert_items([item(1)])
        await seen


def _true(value: bool) -> Awaitable[bool]:
    async def constant() -> bool:
        return value

    return constant()


def _sleep_op(seconds: float) -> Op[None]:
    """A query that runs for a while (ops are the store's internal unit)."""
    yield Query("SELECT pg_sleep(?)", (seconds,))


class PostgresCancellationTests(TestCase):
    """Cancelling a store call mid-query (Klein does it when a client goes
    away) stops it at the server and logs nothing."""

    timeout = 30

    def setUp(self) -> None:
        self.url = pgserver.fresh_database(self)

    async def test_cancel_blocked_calls(self) -> None:
        store = Store(PostgresRunner(self.url, reactor, pool_size=1))
        await store.start()
        self.addCleanup(store.stop)
        blocker = psycopg2.connect(self.url)
        self.addCleanup(blocker.close)
        blocker.cursor().execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")  # held until rollback

        read = store.get_item(1)
        await sleep(0.3)
        self.assertFalse(read.called)
        read.cancel()
        await self.assertFailure(read, CancelledError)

        write = store.upsert_items([item(7)])
        queued = store.count_items()  # waits behind the write for the only connection
        await sleep(0.3)
        queued.cancel()
        write.cancel()
        await self.assertFailure(write, CancelledError)
        await self.assertFailure(queued, CancelledError)

        blocker.rollback()
        self.assertEqual(await store.count_items(), 0)
        await store.upsert_items([Item(8, "Bones", "", False, None, None, None, None, "")])
        self.assertEqual(await store.count_items(), 1)
