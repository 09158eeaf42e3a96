"""``/tasks`` through ``StubTreq``: listing, runs, manual runs, and auth."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import orjson
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi, HttpSettings
from osrs_twisted.http.tasks import is_loopback
from osrs_twisted.jobs.scheduler import Job, JobScheduler
from osrs_twisted.store.interface import IStore
from tests.jobs_helpers import T0, FakeJob, scheduler, sqlite_store, wait_for

TOKEN = "s3cret-token"


class FromAddress(Resource):
    """Serves ``inner`` as if the client were at ``address`` (StubTreq's
    client is always 127.0.0.1)."""

    isLeaf = True

    def __init__(self, inner: IResource, address: IPv4Address) -> None:
        super().__init__()
        self.inner = inner
        self.address = address

    def render(self, request: IRequest) -> Any:
        request.client = self.address  # type: ignore[attr-defined]
        return self.inner.render(request)


class TasksApiTestCase(TestCase):
    async def asyncSetUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store: IStore = await sqlite_store(self)
        self.gate: Deferred[Mapping[str, Any]] = Deferred()
        self.slow = FakeJob([self.gate])
        self.jobs: JobScheduler = scheduler(
            self, self.store, self.clock, [Job("sync_latest", 60, FakeJob()), Job("slow", 0, self.slow)]
        )
        await self.store.claim_scheduled_run("sync_latest", T0 - T0 % 60, "earlier:1:x", T0, 60)
        self.jobs.startService()
        await self.jobs.wait_idle()

    def setUp(self) -> Deferred[None]:  # type: ignore[override]
        return Deferred.fromCoroutine(self.asyncSetUp())

    def client(self, token: Optional[str] = None, address: Optional[IPv4Address] = None,
               jobs: bool = True) -> StubTreq:
        api = HttpApi(HealthRegistry(), self.clock, HttpSettings(admin_token=token), store=self.store,
                      jobs=self.jobs if jobs else None)
        resource = api.resource()
        return StubTreq(resource if address is None else FromAddress(resource, address))

    async def call(self, treq: Any, method: str, path: str, status: int,
                   headers: Optional[dict[str, str]] = None) -> Any:
        """The JSON answer, checking its status. The store answers on the
        real reactor, so the in-memory connection is pumped until done."""
        response = await self.pumped(treq, treq.request(method, "http://api.test" + path, headers=headers or {}))
        body = await self.pumped(treq, treq.content(response))
        self.assertEqual(response.code, status, body)
        self.response = response
        return orjson.loads(body)

    async def pumped(self, treq: Any, d: Deferred[Any]) -> Any:
        """``d``'s result, flushing the in-memory connection until it comes."""
        outcome: list[Any] = []
        d.addBoth(outcome.append)
        for _ in range(2000):
            treq.flush()
            if outcome:
                break
            await deferLater(reactor, 0.002)
        if not outcome:
            self.fail("no answer within the bound")
        if isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        return outcome[0]


class ReadTests(TasksApiTestCase):
    async def test_jobs_listed(self) -> None:
        body = await self.call(self.client(), "GET", "/tasks", 200)
        latest, slow = body["jobs"]
        self.assertEqual(
            {k: latest[k] for k in ("name", "intervalSeconds", "enabled", "nextRunAt")},
            {"name": "sync_latest", "intervalSeconds": 60, "enabled": True, "nextRunAt": T0 + 60},
        )
        self.assertEqual((latest["lastRun"]["state"], latest["lastRun"]["slot"]), ("running", T0 - T0 % 60))
        self.assertEqual(slow, {"name": "slow", "intervalSeconds": 0, "enabled": False,
                                "lastRun": None, "nextRunAt": None})

    async def test_runs_filtered_newest_first(self) -> None:
        first = await self.store.create_manual_run("slow", T0)
        await self.store.finish_run(first.id, "failed", T0 + 1, 1000, "boom", None)
        second = await self.store.create_manual_run("slow", T0 + 2)
        treq = self.client()
        runs = (await self.call(treq, "GET", "/tasks/runs/?job=slow", 200))["runs"]
        self.assertEqual([run["id"] for run in runs], [second.id, first.id])
        failed = (await self.call(treq, "GET", "/tasks/runs?state=failed&limit=5", 200))["runs"]
        self.assertEqual(failed, [{
            "id": first.id, "job": "slow", "trigger": "manual", "slot": None, "state": "failed",
            "attempts": 0, "queuedAt": T0, "startedAt": None, "finishedAt": T0 + 1, "durationMs": 1000,
            "error": "boom", "result": None,
        }])
        one = await self.call(treq, "GET", f"/tasks/runs/{second.id}", 200)
        self.assertEqual((one["id"], one["state"]), (second.id, "queued"))

    async def test_bad_queries(self) -> None:
        treq = self.client()
        for query, name in (("state=done", "state"), ("limit=0", "limit"), ("limit=x", "limit")):
            error = await self.call(treq, "GET", f"/tasks/runs?{query}", 400)
            self.assertEqual(error["code"], "bad_request")
            self.assertIn(name, error["error"])
        self.assertIn("runId", (await self.call(treq, "GET", "/tasks/runs/abc", 400))["error"])
        missing = await self.call(treq, "GET", "/tasks/runs/999", 404)
        self.assertEqual(missing["code"], "not_found")

    async def test_jobs_off_in_this_process(self) -> None:
        error = await self.call(self.client(jobs=False), "GET", "/tasks", 503)
        self.assertEqual(error["code"], "unavailable")


class ManualRunTests(TasksApiTestCase):
    async def test_run_accepted_then_completes(self) -> None:
        treq = self.client()
        run = await self.call(treq, "POST", "/tasks/slow/run", 202)
        self.assertEqual((run["trigger"], run["state"], run["slot"]), ("manual", "queued", None))
        self.clock.advance(0)
        await wait_for(lambda: self.slow.calls == 1)
        conflict = await self.call(treq, "POST", "/tasks/slow/run/", 409)
        self.assertEqual(conflict, {"error": conflict["error"], "code": "conflict", "id": run["id"]})
        self.gate.callback({"rows": 3})
        await self.jobs.wait_idle()
        done = await self.call(treq, "GET", f"/tasks/runs/{run['id']}", 200)
        self.assertEqual((done["state"], done["attempts"], done["result"]), ("succeeded", 1, {"rows": 3}))

    async def test_scheduled_run_in_progress_conflicts(self) -> None:
        conflict = await self.call(self.client(), "POST", "/tasks/sync_latest/run", 409)
        [running] = await self.store.list_runs("sync_latest", "running", 1)
        self.assertEqual(conflict["id"], running.id)

    async def test_unknown_job(self) -> None:
        error = await self.call(self.client(), "POST", "/tasks/sync_everything/run", 404)
        self.assertEqual(error["code"], "not_found")
        self.assertIn("sync_latest", error["error"])

    async def test_get_is_not_allowed(self) -> None:
        await self.call(self.client(), "GET", "/tasks/slow/run", 405)


class AuthTests(TasksApiTestCase):
    async def test_token_required_when_configured(self) -> None:
        treq = self.client(token=TOKEN)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            error = await self.call(treq, "POST", "/tasks/slow/run", 401, headers)
            self.assertEqual(error["code"], "unauthorized")
            self.assertEqual(self.response.headers.getRawHeaders("WWW-Authenticate"), ["Bearer"])
        await self.call(treq, "POST", "/tasks/slow/run", 202, {"Authorization": f"Bearer {TOKEN}"})

    async def test_token_admits_remote_clients(self) -> None:
        treq = self.client(token=TOKEN, address=IPv4Address("TCP", "203.0.113.9", 4000))
        await self.call(treq, "POST", "/tasks/slow/run", 202, {"Authorization": f"Bearer {TOKEN}"})

    async def test_remote_client_forbidden_without_token(self) -> None:
        treq = self.client(address=IPv4Address("TCP", "203.0.113.9", 4000))
        error = await self.call(treq, "POST", "/tasks/slow/run", 403)
        self.assertEqual(error["code"], "forbidden")
        self.assertEqual(await self.store.list_runs("slow", None, 10), [])
        await self.call(treq, "GET", "/tasks", 200)


class LoopbackTests(SynchronousTestCase):
    def test_addresses(self) -> None:
        for address, expected in (
            (IPv4Address("TCP", "127.0.0.1", 1), True),
            (IPv4Address("TCP", "127.8.9.10", 1), True),
            (IPv6Address("TCP", "::1", 1), True),
            (IPv6Address("TCP", "::ffff:127.0.0.1", 1), True),
            (UNIXAddress(b"/run/osrs.sock"), True),
            (IPv4Address("TCP", "10.0.0.1", 1), False),
            (IPv6Address("TCP", "::ffff:10.0.0.1", 1), False),
            (IPv6Address("TCP", "fe80::1%eth0", 1), False),
            (None, False),
        ):
            self.assertEqual(is_loopback(address), expected, address)
