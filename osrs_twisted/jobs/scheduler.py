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
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence, TypeVar

import attrs
from twisted.application.service import Service
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredLock,
    TimeoutError,
    succeed,
)
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from osrs_twisted.health import Check
from osrs_twisted.records import JobRun, RunState
from osrs_twisted.stopping import IBoundedStop, settled_within
from osrs_twisted.store.interface import IStore, RunStateError, StoreUnavailable
from osrs_twisted.telemetry.recorders import JobMetrics
from osrs_twisted.waiters import Waiters

log = Logger()

T = TypeVar("T")

#: What a job does; fires with a small JSON-able summary (``{"rows": n}``).
JobFunction = Callable[[], Awaitable[Mapping[str, Any]]]

#: A health check's contribution: a sentence saying what is wrong, or None.
Problem = Callable[[], Optional[str]]

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


def _invoke(function: Callable[[], Awaitable[T]]) -> Deferred[T]:
    """Call and await ``function``, so a synchronous raise becomes a failed Deferred too."""

    async def call() -> T:
        return await function()

    return Deferred.fromCoroutine(call())


@implementer(IBoundedStop)
class JobScheduler(Service):
    """Runs ``jobs`` on ``clock``, recording every run in ``store``.

    At start, each scheduled job whose last success is older than its
    interval (or missing) runs once, one after another in the order given,
    before the loops start. Stopping within a time gives running jobs its
    first half to finish, cancels those still running and gives their
    failures the second half to be recorded; a plain ``stopService`` takes
    ``stop_timeout`` for each half. ``expected_failures`` are the failures
    from outside the process that the jobs raise (beside the store's own):
    logged as one line, where anything else is a bug logged with its
    traceback. ``ready`` is awaited before anything touches the store (its
    migrations); ``on_stop`` closes what the jobs hold (connection pools),
    after the last run, whatever the time left.
    """

    name = "jobs"

    def __init__(
        self,
        store: IStore,
        clock: IReactorTime,
        jobs: Sequence[Job],
        owner: Optional[str] = None,
        stop_timeout: float = 10.0,
        expected_failures: tuple[type[Exception], ...] = (),
        ready: Optional[Callable[[], Deferred[Any]]] = None,
        on_stop: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        self._store = store
        self.clock = clock
        self.jobs: Mapping[str, Job] = {job.name: job for job in jobs}
        if len(self.jobs) != len(jobs):
            raise ValueError("job names must be unique")
        self.owner = owner or default_owner()
        self.stop_timeout = stop_timeout
        self._expected_failures: tuple[type[Exception], ...] = (StoreUnavailable, *expected_failures)
        self._problems: list[Problem] = []
        self._ready = ready
        self._on_stop = on_stop
        self._locks = {name: DeferredLock() for name in self.jobs}
        self._loops: dict[str, LoopingCall] = {}
        self._work: set[Deferred[None]] = set()
        self._idle: Waiters[None] = Waiters()
        self._running: dict[str, Deferred[Mapping[str, Any]]] = {}
        self._queued: dict[int, IDelayedCall] = {}
        self._last: dict[str, JobRun] = {}
        self._waiting_ready: Optional[Deferred[Any]] = None
        #: Runs executed here and the newest successes known (``/metrics``).
        self.metrics = JobMetrics()

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

    def add_problem(self, problem: Problem) -> None:
        """Let the jobs' owner report what else is wrong, in the ``jobs`` health check."""
        self._problems.append(problem)

    def stopService(self) -> Deferred[None]:
        return self.stopWithin(2 * self.stop_timeout)

    def stopWithin(self, seconds: float) -> Deferred[None]:
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
        return Deferred.fromCoroutine(self._drain(seconds))

    async def _drain(self, seconds: float) -> None:
        """Let running jobs finish in the first half of ``seconds``, then
        cancel them and give their failures the rest to be recorded; close
        what the jobs hold in any case."""
        deadline = self.clock.seconds() + seconds
        if not await settled_within(self.clock, seconds / 2, self.wait_idle()):
            log.warn(
                "jobs still running after {seconds}s, cancelling: {names}",
                seconds=seconds / 2,
                names=", ".join(sorted(self._running)),
            )
            for running in list(self._running.values()):
                running.cancel()
            if not await settled_within(self.clock, deadline - self.clock.seconds(), self.wait_idle()):
                log.warn("jobs scheduler: giving up on recording the cancelled runs")
        for close in self._on_stop:
            closing = _invoke(close).addErrback(
                lambda failure: log.failure("jobs scheduler: closing a resource failed", failure)
            )
            if not await settled_within(self.clock, deadline - self.clock.seconds(), closing):
                log.warn("jobs scheduler: a resource was still closing when the time to stop ran out")

    def wait_idle(self) -> Deferred[None]:
        """Fires when no run, claim or start-up catch-up is in flight."""
        return self._idle.wait() if self._work else succeed(None)

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
            d.addBoth(self._ended, d)
        return d

    def _ended(self, _: object, work: Deferred[None]) -> None:
        """``work`` is over. Idle waiters are told only after the callbacks
        others put on ``work`` (a loop scheduling its next call) have run:
        appended now, this one runs last."""
        self._work.discard(work)
        work.addCallback(self._settle_idle)

    def _settle_idle(self, _: object) -> None:
        if not self._work:
            self._idle.fire(None)

    # runs

    async def _stale(self, job: Job) -> bool:
        try:
            last = await self._store.last_success(job.name)
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
                run = await self._store.claim_scheduled_run(
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
            run = await self._store.create_manual_run(job.name, self._now())
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
                run = await self._store.start_run(run_id, self.owner, self._now(), job.lease_seconds)
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
        running = _invoke(job.run)
        running.addTimeout(job.timeout, self.clock)
        self._running[job.name] = running
        state: RunState = "succeeded"
        error: Optional[str] = None
        result: Optional[Mapping[str, Any]] = None
        try:
            result = await running
        except self._expected_failures as e:
            log.error("job {job}: run {run_id} failed: {error}", job=job.name, run_id=run.id, error=e)
            state, error = "failed", _error_text(e, job)
        except Exception as e:
            log.failure("job {job}: run {run_id} failed", job=job.name, run_id=run.id)
            state, error = "failed", _error_text(e, job)
        finally:
            del self._running[job.name]
        duration_ms = int(round((self.clock.seconds() - started) * 1000))
        self.metrics.record_run(job.name, state, duration_ms / 1000, self._now())
        try:
            finished = await self._store.finish_run(
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
            await self._store.finish_run(run_id, "failed", self._now(), 0, reason, None)
        except Exception:
            log.failure("could not record queued run {run_id} as failed", run_id=run_id)

    async def _fail_abandoned(self) -> None:
        """Queued manual runs a stopped process left would block their job's
        manual runs for good: fail them."""
        try:
            queued = await self._store.list_runs(None, "queued", 1000)
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
            self._last.update(await self._store.last_runs())
        except Exception as e:
            log.warn("jobs scheduler: could not read the last runs: {error}", error=e)
        for run in self._last.values():
            if run.state == "succeeded" and run.finished_at is not None:
                self.metrics.saw_success(run.job, run.finished_at)

    # queries

    def last_runs(self) -> Deferred[Mapping[str, JobRun]]:
        """The newest run of each job, any instance's."""
        return self._store.last_runs()

    def list_runs(self, job: Optional[str], state: Optional[RunState], limit: int) -> Deferred[list[JobRun]]:
        """The newest runs first, optionally of one job or in one state."""
        return self._store.list_runs(job, state, limit)

    def get_run(self, run_id: int) -> Deferred[Optional[JobRun]]:
        """One run by id, or None."""
        return self._store.get_run(run_id)

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
        """Health: degraded when a job's last run failed or a problem was
        reported (``add_problem``); the last run of each job as figures."""
        failed = [run for name, run in sorted(self._last.items()) if name in self.jobs and run.state == "failed"]
        problems = [f"{run.job} failed: {run.error}" for run in failed]
        problems.extend(problem for problem in (report() for report in self._problems) if problem is not None)
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
