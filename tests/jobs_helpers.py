"""Shared pieces of the jobs tests: stores on both backends, the fake Wiki on
real loopback, controllable fake jobs, and waiting on a scheduler whose
clock is a ``Clock`` while its store answers on the real reactor."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import attrs
from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase
from twisted.web.server import Site

from osrs_twisted.jobs.offline import OSRSREBOXED, OfflineItems
from osrs_twisted.jobs.scheduler import Job, JobScheduler
from osrs_twisted.jobs.wiki import WikiClient
from osrs_twisted.records import JobRun
from osrs_twisted.store.interface import IStore
from osrs_twisted.store.postgres import PostgresRunner
from osrs_twisted.store.sqlite import SQLiteRunner
from osrs_twisted.store.store import Store
from tests import pgserver
from tests.fixtures import fixture_path
from tests.wikifake import Captures, WikiFake

UA = "osrs-twisted-tests/1.0 (tests@example.invalid)"

#: A fixed "now" for Clock-driven tests (2024-11-30, like the captures).
T0 = 1_733_000_000


def captures_dir() -> Path:
    return fixture_path("wiki/latest.json").parent


async def sqlite_store(test: TestCase) -> IStore:
    """A started SQLite store in a temporary file, stopped at cleanup."""
    store = Store(SQLiteRunner(str(Path(test.mktemp()).with_suffix(".sqlite3")), reactor))
    await store.start()
    test.addCleanup(store.stop)
    return store


async def postgres_store(test: TestCase, url: Optional[str] = None) -> IStore:
    """A started PostgreSQL store on a fresh database (or ``url``)."""
    store = Store(PostgresRunner(url or pgserver.fresh_database(test), reactor))
    await store.start()
    test.addCleanup(store.stop)
    return store


class SQLiteBackend:
    """Mixin: the test's store is SQLite."""

    backend = "sqlite"

    async def make_store(self) -> IStore:
        assert isinstance(self, TestCase)
        return await sqlite_store(self)


class PostgresBackend:
    """Mixin: the test's store is PostgreSQL (skips when none can be had)."""

    backend = "postgresql"

    async def make_store(self) -> IStore:
        assert isinstance(self, TestCase)
        return await postgres_store(self)


async def serve_wikifake(test: TestCase) -> tuple[WikiFake, str]:
    """The fake Wiki on 127.0.0.1 (an ephemeral port), serving the captures
    shifted to the real now; closed at cleanup."""
    fake = WikiFake(Captures.load(captures_dir()), reactor)
    site = Site(fake.resource())
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
    test.addCleanup(port.stopListening)
    return fake, f"http://127.0.0.1:{port.getHost().port}"


def wiki_client(test: TestCase, base_url: str, max_attempts: int = 2) -> WikiClient:
    """A real treq client with short waits, its pool closed at cleanup."""
    client = WikiClient(
        reactor, base_url, UA, timeout=5.0, max_attempts=max_attempts, backoff_base=0.01, backoff_cap=0.05
    )
    test.addCleanup(client.close)
    return client


def offline_items(items_file: Optional[Path] = None, package: str = OSRSREBOXED) -> OfflineItems:
    """Offline items loaded in the real reactor's thread pool."""
    threads: Any = reactor
    return OfflineItems(threads, threads.getThreadPool, items_file, package)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@attrs.define
class FakeJob:
    """A job function that counts its calls; each call takes the next
    outcome: a Deferred the test fires, an exception, or a summary."""

    outcomes: list[Any] = attrs.field(factory=list)
    calls: int = 0

    def __call__(self) -> Deferred[Mapping[str, Any]]:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else {"rows": self.calls}
        if isinstance(outcome, Deferred):
            return outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return succeed(outcome)


def scheduler(
    test: TestCase,
    store: IStore,
    clock: Clock,
    jobs: Sequence[Job],
    owner: str = "test:1:aaaa",
    **kwargs: Any,
) -> JobScheduler:
    """A scheduler (not started) whose stop is bounded at cleanup."""
    service = JobScheduler(store, clock, jobs, owner=owner, **kwargs)

    def stop() -> Optional[Deferred[None]]:
        if not service.running:
            return None
        d = service.stopService()
        clock.advance(service.stop_timeout * 2)
        return d

    test.addCleanup(stop)
    return service


async def record_success(store: IStore, job: str, interval: int, now: int) -> None:
    """A succeeded scheduled run of ``job`` in the slot of ``now``."""
    run = await store.claim_scheduled_run(job, now - now % interval, "earlier:1:0000", now, 60)
    assert run is not None
    await store.finish_run(run.id, "succeeded", now, 5, None, {"rows": 0})


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll the real reactor until ``condition()`` holds (a job reached past
    its store calls), failing after ``seconds``."""
    waited = 0.0
    while not condition():
        if waited >= seconds:
            raise AssertionError(f"condition not met within {seconds}s")
        await deferLater(reactor, 0.005)
        waited += 0.005


@attrs.define
class RunsStore:
    """Only the run methods the scheduler calls, kept in memory and answered
    at once: scheduler tests on a ``Clock`` alone, with no reactor to poll."""

    runs: dict[int, JobRun] = attrs.field(factory=dict)

    def _add(self, run: JobRun) -> Deferred[JobRun]:
        self.runs[run.id] = run
        return succeed(run)

    def last_success(self, job: str) -> Deferred[Optional[JobRun]]:
        done = [run for run in self.runs.values() if run.job == job and run.state == "succeeded"]
        return succeed(done[-1] if done else None)

    def claim_scheduled_run(self, job: str, slot: int, owner: str, now: int, lease: int) -> Deferred[JobRun]:
        run = JobRun(len(self.runs) + 1, job, "schedule", slot, "running", 1, now, now, owner=owner)
        return self._add(run)

    def finish_run(
        self, run_id: int, state: str, now: int, duration_ms: int, error: Optional[str], result: Any
    ) -> Deferred[JobRun]:
        finished = attrs.evolve(
            self.runs[run_id], state=state, finished_at=now, duration_ms=duration_ms, error=error, result=result
        )
        return self._add(finished)

    def list_runs(self, job: Optional[str], state: Optional[str], limit: int) -> Deferred[list[JobRun]]:
        return succeed([run for run in self.runs.values() if state is None or run.state == state][:limit])

    def last_runs(self) -> Deferred[Mapping[str, JobRun]]:
        return succeed({run.job: run for run in self.runs.values()})


@attrs.define
class StubbornJob:
    """A job that never ends by itself and, cancelled, carries on for
    ``holds_on`` seconds of ``clock`` before it gives in; notes when it was
    cancelled."""

    clock: Clock
    holds_on: float
    cancelled_at: list[float] = attrs.field(factory=list)

    async def __call__(self) -> Mapping[str, Any]:
        try:
            await Deferred()
        except CancelledError:
            self.cancelled_at.append(self.clock.seconds())
            await deferLater(self.clock, self.holds_on)
        return {"rows": 0}
