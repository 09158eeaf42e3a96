"""One contract for IStore, run against the SQLite runner (a temp file), the
PostgreSQL runner (a fresh database per test, see tests/pgserver.py) and the
in-memory runner; plus the in-memory runner's synchronous promise."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from osrs_twisted.market.allocation import Pin
from osrs_twisted.records import Heartbeat, Item, LatestPrice, PriceBucket
from osrs_twisted.store import migrations
from osrs_twisted.store.interface import (
    TOPIC_ACTIONS,
    TOPIC_ASSIGNMENTS,
    TOPIC_BUCKETS,
    TOPIC_HEARTBEATS,
    TOPIC_ITEMS,
    TOPIC_PRICES,
    TOPIC_RUNS,
    TOPIC_TRADES,
    IStore,
    RunInProgress,
    RunStateError,
    SchemaTooNew,
    StoreError,
    StoreUnavailable,
)
from osrs_twisted.store.memory import MemoryRunner, shared_memory_uri
from osrs_twisted.store.postgres import PostgresRunner
from osrs_twisted.store.sqlite import SQLiteRunner
from osrs_twisted.store.store import Store
from tests import command_cases, pgserver
from tests.store_helpers import memory_store

BIG = 2**40 + 7  # beyond 32 bits: must survive as BIGINT
ALL_VERSIONS = [(migration.version,) for migration in migrations.MIGRATIONS]


def item(item_id: int, name: str = "Abyssal whip", **changes: Any) -> Item:
    fields: dict[str, Any] = dict(
        id=item_id, name=name, examine="A weapon from the abyss.", members=True,
        lowalch=48000, highalch=72000, limit=70, value=120001, icon="Abyssal whip.png", updated=5,
    )
    fields.update(changes)
    return Item(**fields)


def bucket(item_id: int, ts: int, timestep: Any = "5m", avg: Optional[float] = 100.5) -> PriceBucket:
    return PriceBucket(item_id, timestep, ts, avg, None if avg is None else avg - 1, 10, 20)


E = TypeVar("E", bound=BaseException)


async def raised(d: "Deferred[Any]", kind: type[E]) -> E:
    """The exception ``d`` fails with, which must be a ``kind``."""
    try:
        await d
    except kind as error:
        return error
    raise AssertionError(f"expected {kind.__name__}")


def wait_for_topic(store: IStore, topic: str, timeout: float = 10) -> "Deferred[str]":
    """Fires when ``store`` signals ``topic``; errs after ``timeout``."""
    seen: Deferred[str] = Deferred()

    def listener(t: str) -> None:
        if t == topic and not seen.called:
            seen.callback(t)

    unsubscribe = store.subscribe(listener)
    seen.addTimeout(timeout, reactor)

    def done(result: Any) -> Any:
        unsubscribe()
        return result

    return seen.addBoth(done)


if TYPE_CHECKING:
    _Mixin = TestCase
else:
    _Mixin = object


class StoreContract(_Mixin):
    """Mixin: every IStore behaviour; subclasses say where the database is."""

    timeout = 30

    def make_store(self) -> IStore:
        raise NotImplementedError

    def raw(self, statement: str) -> list[tuple[Any, ...]]:
        """Run SQL beside the store (assertions and sabotage)."""
        raise NotImplementedError

    async def started(self) -> IStore:
        store = self.make_store()
        await store.start()
        self.addCleanup(store.stop)
        return store

    # migrations

    async def test_migrates_from_empty(self) -> None:
        store = await self.started()
        health = store.health()
        self.assertTrue(health.reachable, health.detail)
        self.assertEqual(health.schema_version, migrations.LATEST_VERSION)
        self.assertEqual(self.raw("SELECT version FROM schema_version ORDER BY version"), ALL_VERSIONS)
        self.assertEqual(await store.count_items(), 0)

    async def test_migrations_rerun_safely(self) -> None:
        first = await self.started()
        await first.upsert_items([item(4151)])
        await first.stop()
        second = await self.started()
        self.assertEqual(self.raw("SELECT version FROM schema_version ORDER BY version"), ALL_VERSIONS)
        self.assertEqual(await second.count_items(), 1)

    async def test_schema_too_new(self) -> None:
        first = await self.started()
        await first.stop()
        newer = migrations.LATEST_VERSION + 1
        self.raw(f"INSERT INTO schema_version (version, description, applied_at) VALUES ({newer}, 'future', 0)")
        store = self.make_store()
        self.addCleanup(store.stop)
        error = await raised(store.start(), SchemaTooNew)
        self.assertIn(f"version {newer}", str(error))
        self.assertFalse(store.health().reachable)

    # items and prices

    async def test_items(self) -> None:
        store = await self.started()
        whip = item(4151)
        rune = item(2, name="Ça – 火 🗡 rune", members=False, lowalch=None, highalch=None, limit=None, value=BIG)
        self.assertEqual(await store.upsert_items([whip, rune]), 2)
        self.assertEqual(await store.get_item(4151), whip)
        self.assertEqual(await store.get_item(2), rune)
        self.assertIsNone(await store.get_item(999))
        self.assertEqual(await store.all_items(), [rune, whip])
        self.assertEqual(await store.count_items(), 2)

    async def test_upsert_replaces(self) -> None:
        store = await self.started()
        await store.upsert_items([item(4151)])
        renamed = item(4151, name="Abyssal whip (or)", value=1)
        await store.upsert_items([renamed])
        self.assertEqual(await store.all_items(), [renamed])
        await store.upsert_latest_prices([LatestPrice(4151, 1, 2, 3, 4)])
        newer = LatestPrice(4151, BIG, 20, None, None)
        await store.upsert_latest_prices([newer])
        self.assertEqual(await store.all_latest_prices(), [newer])
        self.assertEqual(await store.get_latest_price(4151), newer)
        self.assertIsNone(await store.get_latest_price(1))

    async def test_bulk_upsert_of_5000(self) -> None:
        store = await self.started()
        prices = [LatestPrice(i, BIG + i, 1700000000, i, 1700000001) for i in range(5000)]
        self.assertEqual(await store.upsert_latest_prices(prices), 5000)
        self.assertEqual(await store.all_latest_prices(), prices)
        again = [LatestPrice(i, i, None, None, None) for i in range(0, 5000, 2)]
        await store.upsert_latest_prices(again)
        stored = await store.all_latest_prices()
        self.assertEqual(len(stored), 5000)
        self.assertEqual(stored[2], again[1])
        self.assertEqual(stored[3], prices[3])

    async def test_latest_prices_without_item(self) -> None:
        """Prices are kept for ids the item table does not know."""
        store = await self.started()
        await store.upsert_latest_prices([LatestPrice(31337, 5, 6, 7, 8)])
        self.assertEqual(await store.get_latest_price(31337), LatestPrice(31337, 5, 6, 7, 8))

    async def test_failed_bulk_write_leaves_nothing(self) -> None:
        store = await self.started()
        rows = [bucket(i, 300) for i in range(3000)]
        rows[1500] = bucket(1500, 300, timestep="7m")  # violates the CHECK, mid-way
        topics: list[str] = []
        store.subscribe(topics.append)
        await self.assertFailure(store.upsert_buckets(rows), StoreError)
        self.assertEqual(await store.newest_buckets("5m"), [])
        self.assertEqual(topics, [])
        self.assertTrue(store.health().reachable)

    # price buckets

    async def test_price_history(self) -> None:
        store = await self.started()
        await store.upsert_buckets(
            [bucket(1, ts, avg=ts + 0.25) for ts in range(0, 3000, 300)]
            + [bucket(1, 600, timestep="1h"), bucket(2, 600)]
        )
        history = await store.price_history(1, "5m", 600, 1500, 100)
        self.assertEqual([b.timestamp for b in history], [600, 900, 1200, 1500])
        self.assertEqual(history[0].avg_high, 600.25)
        self.assertEqual(history[0].avg_low, 599.25)
        newest = await store.price_history(1, "5m", None, None, 3)
        self.assertEqual([b.timestamp for b in newest], [2100, 2400, 2700])
        self.assertEqual(len(await store.price_history(1, "5m", None, 300, 100)), 2)
        self.assertEqual([b.timestamp for b in await store.price_history(1, "1h", None, None, 10)], [600])
        self.assertEqual(await store.price_history(3, "5m", None, None, 10), [])

    async def test_bucket_values(self) -> None:
        store = await self.started()
        exact = PriceBucket(1, "24h", 86400, 1234.5678, None, BIG, 0)
        await store.upsert_buckets([exact])
        self.assertEqual(await store.price_history(1, "24h", None, None, 1), [exact])

    async def test_newest_buckets(self) -> None:
        store = await self.started()
        await store.upsert_buckets(
            [bucket(1, 0, "24h"), bucket(1, 86400, "24h"), bucket(2, 0, "24h"), bucket(3, 99999, "1h")]
        )
        newest = await store.newest_buckets("24h")
        self.assertEqual([(b.item_id, b.timestamp) for b in newest], [(1, 86400), (2, 0)])

    async def test_prune(self) -> None:
        store = await self.started()
        await store.upsert_buckets([bucket(1, 100), bucket(1, 200), bucket(2, 300)])
        await store.add_heartbeat(Heartbeat("a", {}, 150))
        await store.add_heartbeat(Heartbeat("a", {}, 250))
        self.assertEqual(await store.prune(250), {"buckets": 2, "heartbeats": 1})
        self.assertEqual([b.timestamp for b in await store.price_history(2, "5m", None, None, 9)], [300])
        self.assertEqual([h.received_at for h in await store.heartbeats_for("a", 9)], [250])
        self.assertEqual(await store.prune(0), {"buckets": 0, "heartbeats": 0})

    # heartbeats

    async def test_heartbeats(self) -> None:
        store = await self.started()
        payload = {"world": 302, "name": "Zezima ✓", "stats": {"hp": 99}, "gp": BIG}
        for beat in [Heartbeat("a", {"n": 1}, 10), Heartbeat("b", payload, 30), Heartbeat("a", {"n": 2}, 20)]:
            await store.add_heartbeat(beat)
        self.assertEqual(
            await store.latest_heartbeats(), [Heartbeat("b", payload, 30), Heartbeat("a", {"n": 2}, 20)]
        )
        self.assertEqual([h.payload for h in await store.heartbeats_for("a", 5)], [{"n": 2}, {"n": 1}])
        self.assertEqual(len(await store.heartbeats_for("a", 1)), 1)

    # job runs

    async def test_claim_scheduled_run(self) -> None:
        store = await self.started()
        run = await store.claim_scheduled_run("sync_5m", 600, "one", 1000, 60)
        assert run is not None
        self.assertEqual(
            (run.job, run.trigger, run.slot, run.state, run.attempts, run.owner, run.lease_until),
            ("sync_5m", "schedule", 600, "running", 1, "one", 1060),
        )
        self.assertEqual((run.queued_at, run.started_at), (1000, 1000))
        self.assertIsNone(await store.claim_scheduled_run("sync_5m", 600, "two", 1030, 60))
        self.assertIsNotNone(await store.claim_scheduled_run("sync_5m", 900, "two", 1030, 60))
        self.assertIsNotNone(await store.claim_scheduled_run("sync_1h", 600, "two", 1030, 60))

    async def test_expired_lease_is_taken_over(self) -> None:
        store = await self.started()
        first = await store.claim_scheduled_run("prune", 0, "crashed", 1000, 60)
        assert first is not None
        taken = await store.claim_scheduled_run("prune", 0, "rescuer", 1061, 60)
        assert taken is not None
        self.assertEqual((taken.id, taken.attempts, taken.owner, taken.lease_until), (first.id, 2, "rescuer", 1121))
        await store.finish_run(taken.id, "succeeded", 1070, 9000, None, {"rows": 3})
        self.assertIsNone(await store.claim_scheduled_run("prune", 0, "late", 5000, 60))

    async def test_concurrent_claims_have_one_winner(self) -> None:
        stores = [await self.started(), await self.started()]
        claims = [s.claim_scheduled_run("sync_latest", slot, f"owner{n}", 1000, 60)
                  for slot in range(10) for n, s in enumerate(stores)]
        results = await gatherResults(claims)
        for slot in range(10):
            self.assertEqual(len([r for r in results[2 * slot : 2 * slot + 2] if r is not None]), 1)

    async def test_manual_runs(self) -> None:
        store = await self.started()
        queued = await store.create_manual_run("sync_mapping", 100)
        self.assertEqual((queued.trigger, queued.slot, queued.state, queued.attempts), ("manual", None, "queued", 0))
        busy = await raised(store.create_manual_run("sync_mapping", 101), RunInProgress)
        self.assertEqual((busy.job, busy.run_id), ("sync_mapping", queued.id))
        running = await store.start_run(queued.id, "me", 102, 60)
        self.assertEqual(
            (running.state, running.attempts, running.started_at, running.lease_until), ("running", 1, 102, 162)
        )
        await self.assertFailure(store.start_run(queued.id, "other", 103, 60), RunStateError)
        await self.assertFailure(store.create_manual_run("sync_mapping", 162), RunInProgress)
        crashed_over = await store.create_manual_run("sync_mapping", 163)  # lease expired
        self.assertNotEqual(crashed_over.id, queued.id)
        self.assertIsNotNone(await store.create_manual_run("other_job", 100))

    async def test_finish_and_query_runs(self) -> None:
        store = await self.started()
        a = await store.claim_scheduled_run("a", 1, "me", 10, 60)
        b = await store.claim_scheduled_run("b", 1, "me", 11, 60)
        assert a is not None and b is not None
        done = await store.finish_run(a.id, "succeeded", 20, 1500, None, {"items": 4500, "note": "ok ✓"})
        self.assertEqual(
            (done.state, done.finished_at, done.duration_ms, done.lease_until), ("succeeded", 20, 1500, None)
        )
        self.assertEqual(done.result, {"items": 4500, "note": "ok ✓"})
        failed = await store.finish_run(b.id, "failed", 21, 10, "wiki said 503", None)
        self.assertEqual((failed.error, failed.result), ("wiki said 503", None))
        a2 = await store.claim_scheduled_run("a", 2, "me", 30, 60)
        assert a2 is not None
        self.assertEqual(await store.get_run(a.id), done)
        self.assertIsNone(await store.get_run(9999))
        self.assertEqual(await store.last_runs(), {"a": a2, "b": failed})
        self.assertEqual(await store.last_success("a"), done)
        self.assertIsNone(await store.last_success("b"))
        self.assertEqual([r.id for r in await store.list_runs(None, None, 10)], [a2.id, b.id, a.id])
        self.assertEqual(await store.list_runs("a", "succeeded", 10), [done])
        self.assertEqual(await store.list_runs(None, "failed", 10), [failed])
        self.assertEqual(len(await store.list_runs(None, None, 1)), 1)
        await self.assertFailure(store.finish_run(9999, "failed", 1, 1, None, None), RunStateError)
        await self.assertFailure(store.finish_run(a2.id, "queued", 1, 1, None, None), ValueError)

    # change signal

    async def test_change_signal(self) -> None:
        store = await self.started()
        cases: list[tuple[str, Callable[[], "Deferred[Any]"]]] = [
            (TOPIC_ITEMS, lambda: store.upsert_items([item(1)])),
            (TOPIC_PRICES, lambda: store.upsert_latest_prices([LatestPrice(1, 1, 1, 1, 1)])),
            (TOPIC_BUCKETS, lambda: store.upsert_buckets([bucket(1, 0)])),
            (TOPIC_RUNS, lambda: store.create_manual_run("j", 0)),
            (TOPIC_HEARTBEATS, lambda: store.add_heartbeat(Heartbeat("i", {}, 0))),
        ]
        for topic, write in cases:
            seen = wait_for_topic(store, topic)
            await write()
            self.assertEqual(await seen, topic)

    async def test_command_topics(self) -> None:
        store = await self.started()
        cases: list[tuple[str, Callable[[], "Deferred[Any]"]]] = [
            (TOPIC_ACTIONS, lambda: store.create_action(command_cases.action("TAN"), 1)),
            (TOPIC_TRADES, lambda: store.record_trades([command_cases.trade("t1")], 1)),
            (TOPIC_ASSIGNMENTS, lambda: store.record_assignment(command_cases.assignment("b1"))),
            (TOPIC_ASSIGNMENTS, lambda: store.set_pin(Pin("b1", "TAN"), 1)),
        ]
        for topic, write in cases:
            seen = wait_for_topic(store, topic)
            await write()
            self.assertEqual(await seen, topic)

    async def test_unsubscribe(self) -> None:
        store = await self.started()
        topics: list[str] = []
        unsubscribe = store.subscribe(topics.append)
        unsubscribe()
        unsubscribe()
        seen = wait_for_topic(store, TOPIC_ITEMS)
        await store.upsert_items([item(1)])
        await seen
        self.assertEqual(topics, [])


class SQLiteContractTests(StoreContract, command_cases.CommandStoreContract, TestCase):
    def setUp(self) -> None:
        self.path = self.mktemp() + ".sqlite3"

    def make_store(self) -> IStore:
        return Store(SQLiteRunner(self.path, reactor))

    def raw(self, statement: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(statement).fetchall()

    async def test_memory_database(self) -> None:
        store = Store(SQLiteRunner(":memory:", reactor))
        await store.start()
        self.addCleanup(store.stop)
        await store.upsert_items([item(1)])
        self.assertEqual(await store.count_items(), 1)

    async def test_unopenable_file(self) -> None:
        """A file that cannot be opened is unavailable, not a crash at start."""
        store = Store(SQLiteRunner(self.mktemp() + "/missing/dir/db.sqlite3", reactor))
        await store.start()
        self.addCleanup(store.stop)
        self.assertFalse(store.health().reachable)
        self.assertIn("unable to open", store.health().detail)


class PostgresContractTests(StoreContract, command_cases.CommandStoreContract, TestCase):
    def setUp(self) -> None:
        self.url = pgserver.fresh_database(self)

    def make_store(self) -> IStore:
        return Store(PostgresRunner(self.url, reactor, pool_size=2, max_reconnect_delay=1.0))

    def raw(self, statement: str) -> list[tuple[Any, ...]]:
        return pgserver.execute(self.url, statement)

    async def test_change_signal_from_another_instance(self) -> None:
        watcher = await self.started()
        writer = await self.started()
        seen = wait_for_topic(watcher, TOPIC_PRICES)
        await writer.upsert_latest_prices([LatestPrice(1, 2, 3, 4, 5)])
        self.assertEqual(await seen, TOPIC_PRICES)


class MemoryContractTests(StoreContract, command_cases.CommandStoreContract, TestCase):
    """The in-memory runner keeps the same contract; several stores of one
    test share a named in-memory database, kept alive by the test's own
    connection."""

    def setUp(self) -> None:
        self.name = f"contract{id(self)}"
        self.keeper = sqlite3.connect(shared_memory_uri(self.name), uri=True)
        self.addCleanup(self.keeper.close)

    def make_store(self) -> IStore:
        return Store(MemoryRunner(name=self.name))

    def raw(self, statement: str) -> list[tuple[Any, ...]]:
        with self.keeper:
            return self.keeper.execute(statement).fetchall()


class MemoryStoreTests(SynchronousTestCase):
    """The in-memory store answers at once: no reactor turns are needed."""

    def test_deferreds_have_fired(self) -> None:
        store = memory_store()
        self.assertEqual(self.successResultOf(store.upsert_items([item(4151), item(2)])), 2)
        self.assertEqual(self.successResultOf(store.get_item(4151)), item(4151))
        self.assertEqual(self.successResultOf(store.count_items()), 2)
        run = self.successResultOf(store.create_manual_run("sync_mapping", 100))
        self.failureResultOf(store.create_manual_run("sync_mapping", 101), RunInProgress)
        self.failureResultOf(store.start_run(run.id + 1, "me", 102, 60), RunStateError)

    def test_listeners_hear_committed_writes(self) -> None:
        """A listener runs after commit, before the write's Deferred fires:
        what it reads already includes the write."""
        store = memory_store()
        heard: list[tuple[str, int]] = []
        store.subscribe(lambda topic: heard.append((topic, self.successResultOf(store.count_items()))))
        writing = store.upsert_items([item(1)])
        self.assertEqual(heard, [(TOPIC_ITEMS, 1)])
        self.successResultOf(writing)
        self.failureResultOf(store.upsert_buckets([bucket(1, 0, timestep="7m")]), StoreError)
        self.assertEqual(heard, [(TOPIC_ITEMS, 1)])

    def test_migration_time_comes_from_the_clock(self) -> None:
        clock = Clock()
        clock.advance(1_733_000_000)
        name = f"clock{id(self)}"
        keeper = sqlite3.connect(shared_memory_uri(name), uri=True)
        self.addCleanup(keeper.close)
        store = Store(MemoryRunner(clock, name=name))
        self.successResultOf(store.start())
        self.assertEqual(store.health().schema_version, migrations.LATEST_VERSION)
        applied = keeper.execute("SELECT DISTINCT applied_at FROM schema_version").fetchall()
        self.assertEqual(applied, [(1_733_000_000,)])

    def test_unavailable_until_started_and_after_stop(self) -> None:
        store = Store(MemoryRunner())
        self.assertFalse(store.health().reachable)
        self.failureResultOf(store.count_items(), StoreUnavailable)
        self.successResultOf(store.start())
        self.assertTrue(store.health().reachable, store.health().detail)
        self.successResultOf(store.stop())
        self.assertFalse(store.health().reachable)
        self.failureResultOf(store.count_items(), StoreUnavailable)
