"""The background-job scheduler: one ``LoopingCall`` per job, durable runs.

Every scheduled run first claims its row in the store, keyed by job and
interval-aligned slot, so several instances sharing one PostgreSQL run each
slot exactly once, and a crashed instance's claim expires with its lease.
A job never overlaps itself in this process (a per-job lock; the loop waits
for its run), and nothing a job or the store does can stop a loop: every
error is logged with its traceback and recorded as the run's failure.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence

import attrs
from twisted.application.service import Service
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    DeferredLock,
    TimeoutError,
)
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from osrs_twisted.health import Check
from osrs_twisted.jobs.wiki import WikiError
from osrs_twisted.records import JobRun, RunState
from osrs_twisted.store.interface import IStore, RunStateError, StoreUnavailable

#: Failures from outside the process (the Wiki, the database): logged as
#: one line. Anything else is a bug and is logged with its traceback.
EXPECTED_FAILURES = (WikiError, StoreUnavailable)

log = Logger()

#: What a job does; fires with a small JSON-able summary (``{"rows": n}``).
JobFunction = Callable[[], Awaitable[Mapping[str, Any]]]

#: Queued manual runs older than this at start were left by a stopped process.
ABANDONED_AFTER = 60

#: The lease outlives the job's own time bound by this much.
LEASE_MARGIN = 60


@attrs.frozen
class Job:
    """One background job: its name, seconds between runs (0: not
    scheduled, manual runs only), what it does, and how long it may take."""

    name: str
    interval: int
    run: JobFunction
    timeout: float = 600.0

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @property
    def lease_seconds(self) -> int:
        return int(self.timeout) + LEASE_MARGIN


class UnknownJob(KeyError):
    """No job of that name exists."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class SchedulerStopped(Exception):
    """The scheduler is not running, so it cannot take a manual run."""


def default_owner() -> str:
    """``hostname:pid:random``: unique per process, readable in the runs table."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _error_text(error: BaseException, job: Job) -> str:
    if isinstance(error, TimeoutError):
        return f"timed out after {job.timeout:g}s"
    if isinstance(error, CancelledError):
        return "cancelled: the scheduler stopped while the run was in progress"
    return f"{type(error).__name__}: {error}"


async def _invoke(function: JobFunction) -> Mapping[str, Any]:
    """Await the job, so a synchronous raise becomes a failed Deferred too."""
    return await function()


class JobScheduler(Service):
    """Runs ``jobs`` on ``clock``, recording every run in ``store``.

    At start, each scheduled job whose last success is older than its
    interval (or missing) runs once, one after another in the order given,
    before the loops start. ``stop_timeout`` bounds how long stopping waits
    for running jobs before cancelling them. ``wiki_problem`` says why the
    Wiki cannot be reached, or None, for the health check. ``ready`` is
    awaited before anything touches the store (its migrations); ``on_stop``
    closes what the jobs hold (connection pools), after the last run.
    """

    name = "jobs"

    def __init__(
        self,
        store: IStore,
        clock: IReactorTime,
        jobs: Sequence[Job],
        owner: Optional[str] = None,
        stop_timeout: float = 10.0,
        wiki_problem: Callable[[], Optional[str]] = lambda: None,
        ready: Optional[Callable[[], Deferred[Any]]] = None,
        on_stop: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        self.store = store
        self.clock = clock
        self.jobs: Mapping[str, Job] = {job.name: job for job in jobs}
        if len(self.jobs) != len(jobs):
            raise ValueError("job names must be unique")
        self.owner = owner or default_owner()
        self.stop_timeout = stop_timeout
        self._wiki_problem = wiki_problem
        self._ready = ready
        self._on_stop = on_stop
        self._locks = {name: DeferredLock() for name in self.jobs}
        self._loops: dict[str, LoopingCall] = {}
        self._work: set[Deferred[None]] = set()
        self._running: dict[str, Deferred[Mapping[str, Any]]] = {}
        self._queued: dict[int, IDelayedCall] = {}
        self._last: dict[str, JobRun] = {}
        self._waiting_ready: Optional[Deferred[Any]] = None

    def _now(self) -> int:
        return int(self.clock.seconds())

    # lifecycle

    def startService(self) -> None:
        super().startService()
        self._track(self._start())

    async def _start(self) -> None:
        if self._ready is not None:
            self._waiting_ready = self._ready()
            try:
                await self._waiting_ready
            except CancelledError:
                return
            except Exception:
                log.failure("jobs scheduler: the store did not start; starting the jobs anyway")
        await self._refresh_last()
        await self._fail_abandoned()
        for job in self.jobs.values():
            if not self.running:
                return
            if job.enabled and await self._stale(job):
                log.info("job {job}: no recent success; running it now", job=job.name)
                await self._scheduled(job)
        if self.running:
            for job in self.jobs.values():
                if job.enabled:
                    self._start_loop(job)

    def _start_loop(self, job: Job) -> None:
        loop = LoopingCall(lambda: self._track(self._scheduled(job)))
        loop.clock = self.clock
        self._loops[job.name] = loop
        loop.start(job.interval, now=False).addErrback(
            lambda failure: log.failure("job {job}: its loop died", failure, job=job.name)
        )

    def stopService(self) -> Deferred[None]:
        super().stopService()
        if self._waiting_ready is not None and not self._waiting_ready.called:
            self._waiting_ready.cancel()
        for loop in self._loops.values():
            if loop.running:
                loop.stop()
        self._loops.clear()
        for run_id, call in list(self._queued.items()):
            call.cancel()
            del self._queued[run_id]
            self._track(self._record_unstarted(run_id))
        return Deferred.fromCoroutine(self._drain())

    async def _drain(self) -> None:
        """Let running jobs finish within the bound, then cancel them and
        give their failures a moment to be recorded."""
        if not await self._within(self.stop_timeout):
            names = ", ".join(sorted(self._running))
            log.warn(
                "jobs still running after {seconds}s, cancelling: {names}",
                seconds=self.stop_timeout,
                names=names,
            )
            for running in list(self._running.values()):
                running.cancel()
            if not await self._within(self.stop_timeout):
                log.warn("jobs scheduler: giving up on recording the cancelled runs")
        for close in self._on_stop:
            try:
                await close()
            except Exception:
                log.failure("jobs scheduler: closing a resource failed")

    def _within(self, seconds: float) -> Deferred[bool]:
        """Fires True once no work is in flight, or False after ``seconds``
        (without cancelling anything)."""
        outcome: Deferred[bool] = Deferred()

        def settle(idle: bool) -> None:
            if not outcome.called:
                outcome.callback(idle)

        timer = self.clock.callLater(seconds, settle, False)

        def idle(_: object) -> None:
            if timer.active():
                timer.cancel()
            settle(True)

        self.wait_idle().addCallback(idle)
        return outcome

    def wait_idle(self) -> Deferred[None]:
        """Fires when no run, claim or start-up catch-up is in flight."""

        async def settle() -> None:
            while self._work:
                await DeferredList(list(self._work), consumeErrors=True)

        return Deferred.fromCoroutine(settle())

    def _track(self, work: Awaitable[None]) -> Deferred[None]:
        """Keep ``work`` in flight until it ends; anything it raises is logged."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.failure("jobs scheduler: unexpected error")

        d = Deferred.fromCoroutine(guarded())
        if not d.called:
            self._work.add(d)
            d.addBoth(lambda _: self._work.discard(d))
        return d

    # runs

    async def _stale(self, job: Job) -> bool:
        try:
            last = await self.store.last_success(job.name)
        except Exception:
            log.failure("job {job}: could not read its last success", job=job.name)
            return True
        return last is None or (last.finished_at or 0) <= self._now() - job.interval

    async def _scheduled(self, job: Job) -> None:
        """One tick: claim this slot's run and execute it, unless this job is
        already running here or another instance holds the slot."""
        lock = self._locks[job.name]
        if lock.locked:
            log.info("job {job} is still running; skipping this slot", job=job.name)
            return
        await lock.acquire()
        try:
            now = self._now()
            slot = now - now % job.interval
            try:
                run = await self.store.claim_scheduled_run(
                    job.name, slot, self.owner, now, job.lease_seconds
                )
            except Exception:
                log.failure("job {job}: could not claim slot {slot}", job=job.name, slot=slot)
                return
            if run is None:
                log.debug("job {job}: slot {slot} is another instance's", job=job.name, slot=slot)
            else:
                await self._execute(job, run)
        finally:
            lock.release()
        await self._refresh_last()

    def trigger(self, name: str) -> Deferred[JobRun]:
        """Record a queued manual run and start it on the next turn. Raises
        UnknownJob or SchedulerStopped at once; the Deferred fails with
        RunInProgress while a run of that job is queued or running."""
        job = self._job(name)
        if not self.running:
            raise SchedulerStopped("the jobs scheduler is stopped")

        async def queue() -> JobRun:
            run = await self.store.create_manual_run(job.name, self._now())
            log.info("job {job}: manual run {run_id} queued", job=job.name, run_id=run.id)
            self._queued[run.id] = self.clock.callLater(0, self._start_manual, job, run.id)
            return run

        return Deferred.fromCoroutine(queue())

    def _start_manual(self, job: Job, run_id: int) -> None:
        del self._queued[run_id]
        self._track(self._manual(job, run_id))

    async def _manual(self, job: Job, run_id: int) -> None:
        async with self._locks[job.name]:
            try:
                run = await self.store.start_run(run_id, self.owner, self._now(), job.lease_seconds)
            except RunStateError as e:
                log.info("job {job}: manual run {run_id} not started: {error}",
                         job=job.name, run_id=run_id, error=e)
                return
            except Exception:
                log.failure("job {job}: could not start manual run {run_id}",
                            job=job.name, run_id=run_id)
                await self._record_unstarted(run_id, "the store refused to start the run")
                return
            await self._execute(job, run)
        await self._refresh_last()

    async def _execute(self, job: Job, run: JobRun) -> None:
        """Run the job within its time bound and record how it ended."""
        started = self.clock.seconds()
        running = Deferred.fromCoroutine(_invoke(job.run))
        running.addTimeout(job.timeout, self.clock)
        self._running[job.name] = running
        state: RunState = "succeeded"
        error: Optional[str] = None
        result: Optional[Mapping[str, Any]] = None
        try:
            result = await running
        except EXPECTED_FAILURES as e:
            log.error("job {job}: run {run_id} failed: {error}", job=job.name, run_id=run.id, error=e)
            state, error = "failed", _error_text(e, job)
        except Exception as e:
            log.failure("job {job}: run {run_id} failed", job=job.name, run_id=run.id)
            state, error = "failed", _error_text(e, job)
        finally:
            del self._running[job.name]
        duration_ms = int(round((self.clock.seconds() - started) * 1000))
        try:
            finished = await self.store.finish_run(
                run.id, state, self._now(), duration_ms, error, result
            )
        except Exception:
            log.failure("job {job}: could not record the end of run {run_id}",
                        job=job.name, run_id=run.id)
            return
        self._last[job.name] = finished
        log.info(
            "job {job}: run {run_id} {state} in {duration_ms} ms {detail}",
            job=job.name,
            run_id=run.id,
            state=state,
            duration_ms=duration_ms,
            detail=error if error is not None else dict(result or {}),
        )

    async def _record_unstarted(
        self, run_id: int, reason: str = "the scheduler stopped before the run started"
    ) -> None:
        try:
            await self.store.finish_run(run_id, "failed", self._now(), 0, reason, None)
        except Exception:
            log.failure("could not record queued run {run_id} as failed", run_id=run_id)

    async def _fail_abandoned(self) -> None:
        """Queued manual runs a stopped process left would block their job's
        manual runs for good: fail them."""
        try:
            queued = await self.store.list_runs(None, "queued", 1000)
        except Exception:
            log.failure("jobs scheduler: could not look for abandoned runs")
            return
        for run in queued:
            if run.queued_at < self._now() - ABANDONED_AFTER:
                log.warn("job {job}: failing abandoned queued run {run_id}", job=run.job, run_id=run.id)
                await self._record_unstarted(run.id, "abandoned: queued by a process that stopped")

    async def _refresh_last(self) -> None:
        """The newest run of each job, from the store: other instances' too."""
        try:
            self._last.update(await self.store.last_runs())
        except Exception as e:
            log.warn("jobs scheduler: could not read the last runs: {error}", error=e)

    # queries

    def _job(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            raise UnknownJob(name) from None

    def next_run_at(self, name: str) -> Optional[int]:
        """When the job's loop fires next; None when not scheduled (or running)."""
        loop = self._loops.get(self._job(name).name)
        call = None if loop is None else loop.call
        return None if call is None or not call.active() else int(call.getTime())

    def check(self) -> Check:
        """Health: degraded when a job's last run failed or the Wiki cannot
        be reached; the last run of each job as figures."""
        failed = [run for name, run in sorted(self._last.items()) if name in self.jobs and run.state == "failed"]
        problems = [f"{run.job} failed: {run.error}" for run in failed]
        wiki = self._wiki_problem()
        if wiki is not None:
            problems.append(f"the Wiki cannot be reached: {wiki}")
        scheduled = sum(1 for job in self.jobs.values() if job.enabled)
        figures = {
            "jobs": {
                name: None if name not in self._last else {
                    "state": self._last[name].state,
                    "finishedAt": self._last[name].finished_at,
                }
                for name in self.jobs
            }
        }
        if problems:
            return Check("degraded", "; ".join(problems), figures)
        detail = f"{scheduled} of {len(self.jobs)} jobs scheduled" + ("" if self.running else ", stopped")
        return Check("ok", detail, figures)
