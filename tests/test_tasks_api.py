"""``/tasks`` through ``StubTreq``: listing, runs, manual runs, and auth."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi, HttpSettings
from osrs_twisted.http.tasks import is_loopback
from osrs_twisted.jobs.scheduler import Job, JobScheduler
from osrs_twisted.store.interface import IStore
from tests.http_helpers import ApiClient
from tests.jobs_helpers import T0, FakeJob, scheduler
from tests.store_helpers import memory_store

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
        request.client = self.address  # type: ignore[attr-defined]  # IRequest does not declare it; Request has it
        return self.inner.render(request)


class TasksApiTestCase(SynchronousTestCase):
    """The scheduler on a Clock over the in-memory store: every request is
    answered by the time it returns."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store: IStore = memory_store(self.clock)
        self.gate: Deferred[Mapping[str, Any]] = Deferred()
        self.slow = FakeJob([self.gate])
        self.jobs: JobScheduler = scheduler(
            self, self.store, self.clock, [Job("sync_latest", 60, FakeJob()), Job("slow", 0, self.slow)]
        )
        self.successResultOf(self.store.claim_scheduled_run("sync_latest", T0 - T0 % 60, "earlier:1:x", T0, 60))
        self.jobs.startService()
        self.successResultOf(self.jobs.wait_idle())

    def client(self, token: Optional[str] = None, address: Optional[IPv4Address] = None,
               jobs: bool = True) -> ApiClient:
        api = HttpApi(HealthRegistry(), self.clock, HttpSettings(admin_token=token), store=self.store,
                      jobs=self.jobs if jobs else None)
        return ApiClient(api, None if address is None else FromAddress(api.resource(), address))

    def call(self, client: ApiClient, method: str, path: str, status: int,
             headers: Optional[dict[str, str]] = None) -> Any:
        """The JSON answer, checking its status."""
        response = client.request(method, path, headers=headers)
        self.assertEqual(response.code, status, response.content)
        self.response = response
        return response.json


class ReadTests(TasksApiTestCase):
    def test_jobs_listed(self) -> None:
        body = self.call(self.client(), "GET", "/tasks", 200)
        latest, slow = body["jobs"]
        self.assertEqual(
            {k: latest[k] for k in ("name", "intervalSeconds", "enabled", "nextRunAt")},
            {"name": "sync_latest", "intervalSeconds": 60, "enabled": True, "nextRunAt": T0 + 60},
        )
        self.assertEqual((latest["lastRun"]["state"], latest["lastRun"]["slot"]), ("running", T0 - T0 % 60))
        self.assertEqual(slow, {"name": "slow", "intervalSeconds": 0, "enabled": False,
                                "lastRun": None, "nextRunAt": None})

    def test_runs_filtered_newest_first(self) -> None:
        first = self.successResultOf(self.store.create_manual_run("slow", T0))
        self.successResultOf(self.store.finish_run(first.id, "failed", T0 + 1, 1000, "boom", None))
        second = self.successResultOf(self.store.create_manual_run("slow", T0 + 2))
        client = self.client()
        runs = self.call(client, "GET", "/tasks/runs/?job=slow", 200)["runs"]
        self.assertEqual([run["id"] for run in runs], [second.id, first.id])
        failed = self.call(client, "GET", "/tasks/runs?state=failed&limit=5", 200)["runs"]
        self.assertEqual(failed, [{
            "id": first.id, "job": "slow", "trigger": "manual", "slot": None, "state": "failed",
            "attempts": 0, "queuedAt": T0, "startedAt": None, "finishedAt": T0 + 1, "durationMs": 1000,
            "error": "boom", "result": None,
        }])
        one = self.call(client, "GET", f"/tasks/runs/{second.id}", 200)
        self.assertEqual((one["id"], one["state"]), (second.id, "queued"))

    def test_bad_queries(self) -> None:
        client = self.client()
        for query, name in (("state=done", "state"), ("limit=0", "limit"), ("limit=x", "limit")):
            error = self.call(client, "GET", f"/tasks/runs?{query}", 400)
            self.assertEqual(error["code"], "bad_request")
            self.assertIn(name, error["error"])
        self.assertIn("runId", self.call(client, "GET", "/tasks/runs/abc", 400)["error"])
        missing = self.call(client, "GET", "/tasks/runs/999", 404)
        self.assertEqual(missing["code"], "not_found")

    def test_jobs_off_in_this_process(self) -> None:
        error = self.call(self.client(jobs=False), "GET", "/tasks", 503)
        self.assertEqual(error["code"], "unavailable")


class ManualRunTests(TasksApiTestCase):
    def test_run_accepted_then_completes(self) -> None:
        client = self.client()
        run = self.call(client, "POST", "/tasks/slow/run", 202)
        self.assertEqual((run["trigger"], run["state"], run["slot"]), ("manual", "queued", None))
        self.clock.advance(0)
        self.assertEqual(self.slow.calls, 1)
        conflict = self.call(client, "POST", "/tasks/slow/run/", 409)
        self.assertEqual(conflict, {"error": conflict["error"], "code": "conflict", "id": run["id"]})
        self.gate.callback({"rows": 3})
        self.successResultOf(self.jobs.wait_idle())
        done = self.call(client, "GET", f"/tasks/runs/{run['id']}", 200)
        self.assertEqual((done["state"], done["attempts"], done["result"]), ("succeeded", 1, {"rows": 3}))

    def test_scheduled_run_in_progress_conflicts(self) -> None:
        conflict = self.call(self.client(), "POST", "/tasks/sync_latest/run", 409)
        [running] = self.successResultOf(self.store.list_runs("sync_latest", "running", 1))
        self.assertEqual(conflict["id"], running.id)

    def test_unknown_job(self) -> None:
        error = self.call(self.client(), "POST", "/tasks/sync_everything/run", 404)
        self.assertEqual(error["code"], "not_found")
        self.assertIn("sync_latest", error["error"])

    def test_get_is_not_allowed(self) -> None:
        self.call(self.client(), "GET", "/tasks/slow/run", 405)


class AuthTests(TasksApiTestCase):
    def test_token_required_when_configured(self) -> None:
        client = self.client(token=TOKEN)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            error = self.call(client, "POST", "/tasks/slow/run", 401, headers)
            self.assertEqual(error["code"], "unauthorized")
            self.assertEqual(self.response.headers.getRawHeaders("WWW-Authenticate"), ["Bearer"])
        self.call(client, "POST", "/tasks/slow/run", 202, {"Authorization": f"Bearer {TOKEN}"})

    def test_token_admits_remote_clients(self) -> None:
        client = self.client(token=TOKEN, address=IPv4Address("TCP", "203.0.113.9", 4000))
        self.call(client, "POST", "/tasks/slow/run", 202, {"Authorization": f"Bearer {TOKEN}"})

    def test_remote_client_forbidden_without_token(self) -> None:
        client = self.client(address=IPv4Address("TCP", "203.0.113.9", 4000))
        error = self.call(client, "POST", "/tasks/slow/run", 403)
        self.assertEqual(error["code"], "forbidden")
        self.assertEqual(self.successResultOf(self.store.list_runs("slow", None, 10)), [])
        self.call(client, "GET", "/tasks", 200)


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
