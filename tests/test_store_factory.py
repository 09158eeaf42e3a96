"""Choosing a backend from a URL, and the store as a child service."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from osrs_twisted.store.factory import open_store
from osrs_twisted.store.interface import SchemaTooNew
from osrs_twisted.store.service import StoreService


class OpenStoreTests(SynchronousTestCase):
    def test_sqlite_paths(self) -> None:
        for url, path in [
            ("sqlite:///osrs.sqlite3", "osrs.sqlite3"),
            ("sqlite:///data/osrs.sqlite3", "data/osrs.sqlite3"),
            ("sqlite:////var/lib/osrs/db.sqlite3", "/var/lib/osrs/db.sqlite3"),
            ("sqlite:///:memory:", ":memory:"),
        ]:
            store = open_store(url, reactor)
            self.assertEqual(store.backend, "sqlite")
            self.assertIn(f"sqlite {path}:", store.health().detail)
            self.assertFalse(store.health().reachable)

    def test_postgresql(self) -> None:
        for url in ["postgresql://osrs@db.example:5433/osrs", "postgres://osrs@db.example/osrs"]:
            store = open_store(url, reactor)
            self.assertEqual(store.backend, "postgresql")
            self.assertIn("db.example", store.health().detail)

    def test_unsupported(self) -> None:
        for url in ["mysql://x/y", "sqlite://osrs.db", "sqlite:///", "", "osrs.sqlite3"]:
            error = self.assertRaises(ValueError, open_store, url, reactor)
            self.assertIn(repr(url), str(error))


class _StuckStore:
    backend = "stuck"

    def start(self) -> "Deferred[None]":
        return succeed(None)

    def stop(self) -> "Deferred[None]":
        return Deferred()


class StoreServiceTests(TestCase):
    async def test_start_and_stop(self) -> None:
        store = open_store("sqlite:///:memory:", reactor)
        svc = StoreService(store, reactor)
        self.assertEqual(svc.name, "store")
        await svc.startService()
        await svc.whenStarted()
        self.assertTrue(store.health().reachable)
        await svc.stopService()
        self.assertFalse(store.health().reachable)

    def test_start_failure_reaches_waiters(self) -> None:
        store = _StuckStore()
        store.start = lambda: fail(SchemaTooNew("too new"))  # type: ignore[method-assign]  # this fake fails to start
        svc = StoreService(store, Clock())  # type: ignore[arg-type]  # a fake with only what the service calls
        waiting = svc.whenStarted()
        self.failureResultOf(svc.startService(), SchemaTooNew)
        self.failureResultOf(waiting, SchemaTooNew)
        self.failureResultOf(svc.whenStarted(), SchemaTooNew)

    def test_stop_is_bounded(self) -> None:
        clock = Clock()
        svc = StoreService(_StuckStore(), clock, stop_timeout=5)  # type: ignore[arg-type]  # a partial fake store
        svc.startService()
        stopping = svc.stopService()
        self.assertNoResult(stopping)
        clock.advance(5)
        self.assertIsNone(self.successResultOf(stopping))
