"""The sync jobs end to end: the fake Wiki on real loopback, the real treq
``WikiClient``, the scheduler, and a real store on each backend."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.jobs.sync import DEFAULT_JOB_INTERVALS, JOB_NAMES, SyncJobs
from osrs_twisted.jobs.wiki import WikiClient, WikiPayloadError, WikiUnavailable
from osrs_twisted.records import Heartbeat, JobRun
from osrs_twisted.store.interface import IStore
from tests.jobs_helpers import (
    PostgresBackend,
    SQLiteBackend,
    captures_dir,
    closed_port_url,
    offline_items,
    scheduler,
    serve_wikifake,
    wiki_client,
)
from tests.wikifake import Fault

MANUAL_ONLY = {name: 0 for name in JOB_NAMES}


class SyncTestsMixin:
    def assertFailureLogged(self, job: str, error: type[Exception]) -> None:
        """An expected (Wiki) failure is one error line naming the job and
        the error, not a traceback."""
        assert isinstance(self, TestCase)
        lines = [
            event for event in self.logged
            if event["log_level"] == LogLevel.error and event.get("job") == job
            and isinstance(event.get("error"), error)
        ]
        self.assertEqual(len(lines), 1, [formatEvent(e) for e in self.logged])
        self.assertNotIn("log_failure", lines[0])
        self.assertEqual(self.flushLoggedErrors(), [])

    """Run against ``make_store()`` (a backend mixin)."""

    backend: str

    async def make_store(self) -> IStore:
        raise NotImplementedError

    async def setUpSync(self, wiki: WikiClient | None = None, **offline: Any) -> None:
        assert isinstance(self, TestCase)
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.store = await self.make_store()
        self.fake, url = await serve_wikifake(self)
        self.wiki = wiki or wiki_client(self, url)
        # The captures are shifted to the real now: the scheduler's clock starts there.
        self.clock = Clock()
        self.clock.advance(reactor.seconds())
        items = offline_items(**offline) if offline else None
        self.sync = SyncJobs(self.store, self.wiki, reactor, 30, items)

    def scheduler(self, intervals: dict[str, int]) -> JobScheduler:
        assert isinstance(self, TestCase)
        service = scheduler(
            self, self.store, self.clock, self.sync.jobs(intervals), expected_failures=self.sync.expected_failures
        )
        self.sync.register(service)
        return service

    async def manual(self, service: JobScheduler, job: str) -> JobRun:
        """Run ``job`` once by hand and return its finished run."""
        queued = await service.trigger(job)
        self.clock.advance(0)
        await service.wait_idle()
        run = await self.store.get_run(queued.id)
        assert run is not None
        return run

    async def test_full_sync_at_start(self) -> None:
        assert isinstance(self, TestCase)
        await self.setUpSync()
        await self.store.add_heartbeat(Heartbeat("bot-old", {"hp": 1}, int(reactor.seconds()) - 40 * 86400))
        service = self.scheduler(dict(DEFAULT_JOB_INTERVALS))
        service.startService()
        await service.wait_idle()
        last = await self.store.last_runs()
        self.assertEqual({name: last[name].state for name in JOB_NAMES}, dict.fromkeys(JOB_NAMES, "succeeded"))
        self.assertEqual(last["sync_mapping"].result, {"rows": 15, "source": "wiki"})
        self.assertEqual(last["prune"].result, {"buckets": 0, "heartbeats": 1})
        self.assertEqual(self.fake.requests["/mapping"], 1)
        self.assertEqual(self.fake.requests["/latest"], 1)

        self.assertEqual(await self.store.count_items(), 15)
        coal = await self.store.get_item(453)
        assert coal is not None
        self.assertIsNone(coal.limit)
        self.assertLess(abs(coal.updated - self.clock.seconds()), 5)
        coal_price = await self.store.get_latest_price(453)
        assert coal_price is not None
        self.assertEqual((coal_price.high, coal_price.low), (151, None))
        bow = await self.store.get_latest_price(20997)
        assert bow is not None
        self.assertEqual((bow.high, bow.low), (2_300_000_000, 2_280_000_000))
        self.assertIsNone(await self.store.get_latest_price(560))
        for step in ("5m", "1h", "6h", "24h"):
            [death] = await self.store.price_history(560, step, None, None, 10)
            self.assertEqual(
                (death.avg_high, death.avg_low, death.high_volume, death.low_volume), (None, 187.5, 0, 4)
            )
            self.assertEqual(death.timestamp, last[f"sync_{step}"].result["timestamp"])  # type: ignore[index]
        self.assertEqual(service.check().status, "ok")

    async def test_malformed_payload_fails_the_run_and_writes_nothing(self) -> None:
        assert isinstance(self, TestCase)
        await self.setUpSync()
        service = self.scheduler(MANUAL_ONLY)
        service.startService()
        self.fake.inject(Fault("malformed", path="/latest"))
        self.fake.inject(Fault("empty", path="/5m"))
        run = await self.manual(service, "sync_latest")
        self.assertEqual(run.state, "failed")
        self.assertIn("WikiPayloadError: malformed Wiki /latest payload", run.error or "")
        self.assertEqual(await self.store.all_latest_prices(), [])
        self.assertFailureLogged("sync_latest", WikiPayloadError)
        check = service.check()
        self.assertEqual(check.status, "degraded")
        self.assertIn("sync_latest failed", check.detail)
        empty = await self.manual(service, "sync_5m")
        self.assertEqual((empty.state, empty.result["rows"]), ("succeeded", 0))  # type: ignore[index]

    async def test_offline_items_when_the_wiki_is_unreachable(self) -> None:
        assert isinstance(self, TestCase)
        unreachable = wiki_client(self, closed_port_url(), max_attempts=1)
        items_file = captures_dir() / "mapping.json"
        await self.setUpSync(unreachable, items_file=items_file)
        service = self.scheduler(MANUAL_ONLY)
        service.startService()
        run = await self.manual(service, "sync_mapping")
        self.assertEqual(run.state, "succeeded", run.error)
        self.assertEqual(run.result, {"rows": 15, "source": f"--items-file {items_file}"})
        self.assertEqual(await self.store.count_items(), 15)
        check = service.check()
        self.assertEqual(check.status, "degraded")
        self.assertIn("the Wiki cannot be reached", check.detail)
        again = await self.manual(service, "sync_mapping")
        self.assertEqual(again.state, "failed")
        self.assertIn("WikiUnavailable", again.error or "")
        self.assertFailureLogged("sync_mapping", WikiUnavailable)


class SQLiteSyncTests(SQLiteBackend, SyncTestsMixin, TestCase):
    pass


class PostgresSyncTests(PostgresBackend, SyncTestsMixin, TestCase):
    pass

