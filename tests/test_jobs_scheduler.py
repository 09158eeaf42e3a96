"""The scheduler on a Clock with the in-memory store and fake jobs."""

from __future__ import annotations

from typing import Any, Mapping

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.jobs.scheduler import Job, JobScheduler, SchedulerStopped, UnknownJob
from osrs_twisted.records import JobRun
from osrs_twisted.store.interface import IStore, RunInProgress
from tests.jobs_helpers import T0, FakeJob, RunsStore, StubbornJob, record_success, scheduler
from tests.loopback import logged_events
from tests.store_helpers import memory_store


class SchedulerTestCase(SynchronousTestCase):
    """A Clock at ``T0`` and an empty in-memory store: every store call has
    answered by the time it returns, so a test is driven by the Clock alone."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store: IStore = memory_store(self.clock)

    def started(self, *jobs: Job, fresh: bool = True, **kwargs: Any) -> JobScheduler:
        """A started scheduler past its start-up catch-up; with ``fresh``
        every job has just succeeded, so nothing catches up."""
        if fresh:
            for job in jobs:
                if job.enabled:
                    self.successResultOf(record_success(self.store, job.name, job.interval, T0))
        service = scheduler(self, self.store, self.clock, jobs, **kwargs)
        service.startService()
        self.successResultOf(service.wait_idle())
        return service

    def tick(self, service: JobScheduler, seconds: float) -> None:
        self.clock.advance(seconds)
        self.successResultOf(service.wait_idle())

    def runs(self, job: str) -> list[JobRun]:
        """This test's runs of ``job`` (not the seeded ones), oldest first."""
        runs = self.successResultOf(self.store.list_runs(job, None, 100))
        return [run for run in reversed(runs) if run.owner != "earlier:1:0000"]


class CadenceTests(SchedulerTestCase):
    def test_runs_every_interval_in_its_own_slot(self) -> None:
        job = FakeJob()
        service = self.started(Job("a", 60, job))
        self.assertEqual(service.next_run_at("a"), T0 + 60)
        for _ in range(3):
            self.tick(service, 60)
        self.assertEqual(job.calls, 3)
        runs = self.runs("a")
        self.assertEqual([run.state for run in runs], ["succeeded"] * 3)
        self.assertEqual([run.slot for run in runs], [T0 + k * 60 - T0 % 60 for k in (1, 2, 3)])
        self.assertEqual([run.result for run in runs], [{"rows": 1}, {"rows": 2}, {"rows": 3}])
        self.assertEqual({(run.trigger, run.attempts) for run in runs}, {("schedule", 1)})
        self.assertEqual(service.check().status, "ok")

    def test_disabled_job_is_not_scheduled(self) -> None:
        job = FakeJob()
        service = self.started(Job("off", 0, job))
        self.tick(service, 86400)
        self.assertEqual(job.calls, 0)
        self.assertIsNone(service.next_run_at("off"))
        with self.assertRaises(UnknownJob):
            service.next_run_at("nope")

    def test_slow_job_never_overlaps_itself(self) -> None:
        gate: Deferred[Mapping[str, Any]] = Deferred()
        job = FakeJob([gate])
        service = self.started(Job("slow", 60, job))
        self.clock.advance(60)
        self.assertEqual(job.calls, 1)
        for _ in range(4):
            self.clock.advance(60)
        self.assertEqual(job.calls, 1)
        [running] = self.runs("slow")
        self.assertEqual(running.state, "running")
        raised = self.failureResultOf(service.trigger("slow"), RunInProgress)
        self.assertEqual(raised.value.run_id, running.id)
        gate.callback({"rows": 7})
        self.successResultOf(service.wait_idle())
        self.tick(service, 60)
        self.assertEqual(job.calls, 2)
        runs = self.runs("slow")
        self.assertEqual([(run.state, run.result) for run in runs],
                         [("succeeded", {"rows": 7}), ("succeeded", {"rows": 2})])

    def test_failure_is_recorded_and_the_loop_lives_on(self) -> None:
        job = FakeJob([ValueError("boom"), Deferred.fromCoroutine(self._fails())])
        service = self.started(Job("flaky", 60, job))
        self.tick(service, 60)
        self.tick(service, 60)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        check = service.check()
        self.assertEqual(check.status, "degraded")
        self.assertIn("flaky failed: KeyError", check.detail)
        self.tick(service, 60)
        runs = self.runs("flaky")
        self.assertEqual([run.state for run in runs], ["failed", "failed", "succeeded"])
        self.assertEqual(runs[0].error, "ValueError: boom")
        self.assertIsNone(runs[0].result)
        self.assertEqual(service.check().status, "ok")
        self.assertEqual(service.check().figures["jobs"]["flaky"],
                         {"state": "succeeded", "finishedAt": T0 + 180})

    async def _fails(self) -> Mapping[str, Any]:
        raise KeyError("late")

    def test_run_over_its_timeout_fails(self) -> None:
        job = FakeJob([Deferred()])
        service = self.started(Job("stuck", 60, job, timeout=30))
        self.clock.advance(60)
        self.assertEqual(job.calls, 1)
        self.tick(service, 30)
        self.flushLoggedErrors()
        [run] = self.runs("stuck")
        self.assertEqual((run.state, run.error, run.duration_ms), ("failed", "timed out after 30s", 30000))


class StopTests(SchedulerTestCase):
    def test_running_job_may_finish_within_the_bound(self) -> None:
        gate: Deferred[Mapping[str, Any]] = Deferred()
        job = FakeJob([gate])
        service = self.started(Job("a", 60, job))
        self.clock.advance(60)
        self.assertEqual(job.calls, 1)
        stopped = service.stopService()
        self.clock.advance(5)
        self.assertFalse(stopped.called)
        gate.callback({"rows": 1})
        self.successResultOf(stopped)
        [run] = self.runs("a")
        self.assertEqual(run.state, "succeeded")
        self.assertIsNone(service.next_run_at("a"))

    def test_running_job_is_cancelled_after_the_bound(self) -> None:
        cancelled: list[Deferred[Mapping[str, Any]]] = []
        gate: Deferred[Mapping[str, Any]] = Deferred(cancelled.append)
        job = FakeJob([gate])
        service = self.started(Job("a", 60, job), stop_timeout=10)
        self.clock.advance(60)
        self.assertEqual(job.calls, 1)
        stopped = service.stopService()
        self.clock.advance(9.9)
        self.assertEqual(cancelled, [])
        self.clock.advance(0.1)
        self.successResultOf(stopped)
        self.assertEqual(cancelled, [gate])
        self.assertEqual(len(self.flushLoggedErrors(CancelledError)), 1)
        [run] = self.runs("a")
        self.assertEqual(run.state, "failed")
        self.assertIn("cancelled", run.error or "")

    def test_queued_manual_run_is_failed_at_stop(self) -> None:
        job = FakeJob()
        service = self.started(Job("a", 0, job))
        queued = self.successResultOf(service.trigger("a"))
        self.successResultOf(service.stopService())
        run = self.successResultOf(self.store.get_run(queued.id))
        assert run is not None
        self.assertEqual((run.state, job.calls), ("failed", 0))
        self.clock.advance(1)
        self.assertEqual(job.calls, 0)


class StartTests(SchedulerTestCase):
    def test_catch_up_in_order_then_cadence(self) -> None:
        order: list[str] = []

        def job(name: str) -> Job:
            async def run() -> Mapping[str, Any]:
                order.append(name)
                return {"rows": 0}

            return Job(name, {"sync_mapping": 86400, "sync_latest": 60}.get(name, 3600), run)

        names = ["sync_mapping", "sync_latest", "sync_5m", "sync_1h", "sync_6h", "sync_24h"]
        self.successResultOf(record_success(self.store, "sync_1h", 3600, T0 - 600))
        self.successResultOf(record_success(self.store, "sync_6h", 3600, T0 - 7200))
        service = self.started(*map(job, names), fresh=False)
        self.assertEqual(order, ["sync_mapping", "sync_latest", "sync_5m", "sync_6h", "sync_24h"])
        self.assertEqual(service.next_run_at("sync_latest"), T0 + 60)
        self.tick(service, 60)
        self.assertEqual(order[-1], "sync_latest")
        self.assertEqual(len(order), 6)

    def test_waits_for_the_store_to_be_ready(self) -> None:
        ready: Deferred[None] = Deferred()
        job = FakeJob()
        service = scheduler(self, self.store, self.clock, [Job("a", 60, job)], ready=lambda: ready)
        service.startService()
        self.assertEqual(job.calls, 0)
        ready.callback(None)
        self.successResultOf(service.wait_idle())
        self.assertEqual(job.calls, 1)

    def test_stop_while_waiting_for_the_store(self) -> None:
        job = FakeJob()
        service = scheduler(self, self.store, self.clock, [Job("a", 60, job)], ready=Deferred)
        service.startService()
        self.successResultOf(service.stopService())
        self.clock.advance(120)
        self.assertEqual(job.calls, 0)

    def test_abandoned_queued_runs_are_failed_at_start(self) -> None:
        old = self.successResultOf(self.store.create_manual_run("a", T0 - 3600))
        self.started(Job("a", 0, FakeJob()))
        run = self.successResultOf(self.store.get_run(old.id))
        assert run is not None
        self.assertEqual(run.state, "failed")
        self.assertIn("abandoned", run.error or "")


class ManualTests(SchedulerTestCase):
    def test_manual_run_queued_then_runs_soon(self) -> None:
        job = FakeJob()
        service = self.started(Job("a", 0, job))
        queued = self.successResultOf(service.trigger("a"))
        self.assertEqual((queued.state, queued.trigger, queued.slot, queued.attempts),
                         ("queued", "manual", None, 0))
        self.assertEqual(job.calls, 0)
        self.tick(service, 0)
        run = self.successResultOf(self.store.get_run(queued.id))
        assert run is not None
        self.assertEqual((run.state, run.attempts, run.result), ("succeeded", 1, {"rows": 1}))

    def test_unknown_job(self) -> None:
        service = self.started(Job("a", 0, FakeJob()))
        self.assertRaises(UnknownJob, service.trigger, "b")

    def test_no_manual_runs_once_stopped(self) -> None:
        service = self.started(Job("a", 0, FakeJob()))
        self.successResultOf(service.stopService())
        self.assertRaises(SchedulerStopped, service.trigger, "a")


class _Outage(Exception):
    """A failure from outside the process, as a job's owner declares it."""


class OwnerHooksTests(SynchronousTestCase):
    """What the jobs' owner injects: its expected failures, its health problems,
    and a stop within a given time that always closes what the jobs hold."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store = RunsStore()

    def service(self, run: Any, **kwargs: Any) -> JobScheduler:
        # RunsStore holds only the run methods the scheduler calls, not all of IStore.
        service = JobScheduler(self.store, self.clock, [Job("a", 60, run)], owner="t:1:x", **kwargs)  # type: ignore[arg-type]
        service.startService()
        return service

    def test_expected_failure_is_one_line(self) -> None:
        logged = logged_events(self)
        service = self.service(FakeJob([_Outage("down")]), expected_failures=(_Outage,))
        [error] = [e for e in logged if e["log_level"] == LogLevel.error]
        self.assertNotIn("log_failure", error)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertIn("a failed: _Outage: down", service.check().detail)

    def test_other_failure_keeps_its_traceback(self) -> None:
        self.service(FakeJob([_Outage("down")]))
        self.assertEqual(len(self.flushLoggedErrors(_Outage)), 1)

    def test_reported_problems_degrade_the_check(self) -> None:
        problem: list[str] = []
        service = self.service(FakeJob())
        service.add_problem(lambda: problem[0] if problem else None)
        self.assertEqual(service.check().status, "ok")
        problem.append("the Wiki cannot be reached: refused")
        check = service.check()
        self.assertEqual((check.status, check.detail), ("degraded", "the Wiki cannot be reached: refused"))

    def test_stop_within_closes_even_when_a_job_holds_on(self) -> None:
        closed: list[float] = []

        async def close() -> None:
            closed.append(self.clock.seconds() - T0)

        service = self.service(StubbornJob(self.clock, 100), on_stop=[close])
        stopping = service.stopWithin(8)
        self.clock.advance(3.9)
        self.assertEqual(self.store.runs[1].state, "running")
        self.clock.advance(4.1)
        self.successResultOf(stopping)
        self.assertEqual(closed, [8])
        self.clock.advance(100)
        self.assertEqual(self.store.runs[1].state, "succeeded", "the late end is still recorded")
