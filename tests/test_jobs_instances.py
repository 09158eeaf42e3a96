"""Several scheduler instances on one PostgreSQL: each slot runs exactly
once, and a crashed instance's claim is taken over once its lease expires."""

from __future__ import annotations

from collections import Counter

from twisted.internet.defer import gatherResults
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from osrs_twisted.jobs.scheduler import Job, JobScheduler
from tests import pgserver
from tests.jobs_helpers import T0, FakeJob, postgres_store, scheduler

INTERVAL = 60


class InstancesTests(TestCase):
    async def test_each_slot_runs_exactly_once(self) -> None:
        url = pgserver.fresh_database(self)
        clock = Clock()
        clock.advance(T0)
        stores = [await postgres_store(self, url) for _ in range(3)]
        functions = [FakeJob() for _ in stores]
        services: list[JobScheduler] = [
            scheduler(self, store, clock, [Job("sync_latest", INTERVAL, function)], owner=f"host:{i}:x")
            for i, (store, function) in enumerate(zip(stores, functions, strict=True))
        ]
        # Started out of phase with each other: the first ones at the same
        # instant (racing for the catch-up slot), the last one 30 s later.
        services[0].startService()
        services[1].startService()
        await gatherResults([service.wait_idle() for service in services[:2]])
        clock.advance(30)
        services[2].startService()
        await services[2].wait_idle()
        for _ in range(6):
            clock.advance(INTERVAL / 2)
            await gatherResults([service.wait_idle() for service in services])
        # The instance that has been winning the claims goes away: the others
        # carry on with the following slots, still one run per slot.
        first = await stores[0].list_runs("sync_latest", None, 1000)
        winner = next(i for i, service in enumerate(services) if service.owner == first[0].owner)
        await services[winner].stopService()
        remaining = [service for i, service in enumerate(services) if i != winner]
        for _ in range(6):
            clock.advance(INTERVAL / 2)
            await gatherResults([service.wait_idle() for service in remaining])
        runs = await stores[0].list_runs("sync_latest", None, 1000)
        per_slot = Counter(run.slot for run in runs)
        self.assertEqual(set(per_slot.values()), {1})
        slot0 = T0 - T0 % INTERVAL
        self.assertEqual(sorted(per_slot), [slot0 + k * INTERVAL for k in range(len(per_slot))])
        self.assertGreaterEqual(len(per_slot), 6)
        self.assertEqual(sum(function.calls for function in functions), len(runs))
        self.assertEqual({run.state for run in runs}, {"succeeded"})
        first_slot = first[0].slot
        assert first_slot is not None
        later = [run for run in runs if run.slot is not None and run.slot > first_slot]
        self.assertGreaterEqual(len(later), 3)
        self.assertNotIn(services[winner].owner, {run.owner for run in later})

    async def test_expired_claim_is_taken_over(self) -> None:
        clock = Clock()
        clock.advance(T0)
        store = await postgres_store(self)
        slot = T0 - T0 % INTERVAL
        dead = await store.claim_scheduled_run("sync_latest", slot, "crashed:1:x", T0 - 50, 10)
        assert dead is not None
        job = FakeJob()
        service = scheduler(self, store, clock, [Job("sync_latest", INTERVAL, job)])
        service.startService()
        await service.wait_idle()
        run = await store.get_run(dead.id)
        assert run is not None
        self.assertEqual((run.state, run.attempts, run.owner, job.calls), ("succeeded", 2, service.owner, 1))
