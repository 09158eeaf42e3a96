"""Assembly: plugin discovery, ``makeService`` on a memory reactor, health."""

from __future__ import annotations

import functools
from typing import Any, Mapping, Optional

from twisted.application.service import IServiceCollection, IServiceMaker, Service
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from osrs_twisted import tap
from osrs_twisted.health import Check, HealthRegistry
from osrs_twisted.http.api import HttpApi
from osrs_twisted.jobs.scheduler import Job, JobScheduler
from osrs_twisted.options import Options
from osrs_twisted.service import OsrsService, StartupError, makeService
from osrs_twisted.stopping import IBoundedStop
from tests.http_helpers import ApiClient
from tests.jobs_helpers import T0, RunsStore, StubbornJob
from tests.loopback import logged_events


def build(args: list[str], environ: Optional[Mapping[str, str]] = None) -> tuple[Any, MemoryReactorClock]:
    options = Options(environ=environ or {})
    options.parseOptions(args)
    reactor = MemoryReactorClock()
    return makeService(options.config, reactor=reactor), reactor


class PluginTests(SynchronousTestCase):
    def test_osrs_is_a_twistd_plugin(self) -> None:
        import twisted.plugins

        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker, twisted.plugins)}
        self.assertIn("osrs", makers)
        self.assertIs(makers["osrs"].options, Options)


class MakeServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.database = "sqlite:///" + self.mktemp() + ".sqlite3"

    def names(self, service: Any) -> list[str]:
        return [child.name for child in IServiceCollection(service)]

    def test_children_and_listeners(self) -> None:
        service, reactor = build([
            "--database", self.database, "--http", "tcp:8081:interface=127.0.0.1",
            "--tcp", "tcp:5556:interface=127.0.0.1", "--tcp", "tcp:9999:interface=127.0.0.1",
        ])
        self.assertEqual(self.names(service), ["store", "models", "tcp", "http", "jobs"])
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual(sorted(port for port, *_ in reactor.tcpServers), [5556, 8081, 9999])
        self.assertTrue(all(interface == "127.0.0.1" for _, _, _, interface in reactor.tcpServers))

    def test_http_only(self) -> None:
        service, _ = build(["--database", self.database, "--http-only"])
        self.assertEqual(self.names(service), ["store", "http", "jobs"])

    def test_tcp_only(self) -> None:
        service, reactor = build(["--database", self.database, "--tcp-only", "--no-jobs"])
        self.assertEqual(self.names(service), ["models", "tcp"])
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual([port for port, *_ in reactor.tcpServers], [5555])

    def test_tcp_only_keeps_jobs_unless_told(self) -> None:
        service, _ = build(["--database", self.database, "--tcp-only"])
        self.assertEqual(self.names(service), ["store", "models", "tcp", "jobs"])

    def test_jobs_only(self) -> None:
        service, reactor = build(["--database", self.database, "--jobs-only"])
        self.assertEqual(self.names(service), ["store", "http", "jobs"])

    def test_no_jobs(self) -> None:
        service, _ = build(["--database", self.database, "--no-jobs"])
        self.assertEqual(self.names(service), ["store", "models", "tcp", "http"])

    def test_bad_database_url(self) -> None:
        error = self.assertRaises(StartupError, build, ["--database", "mysql://x/y"])
        self.assertIn("mysql://x/y", str(error))

    def test_unknown_default_model(self) -> None:
        error = self.assertRaises(StartupError, build, ["--database", self.database, "--default-model", "Nope"])
        self.assertIn("Nope", str(error))
        self.assertIn("--default-model", str(error))

    def test_generic_wiki_user_agent(self) -> None:
        error = self.assertRaises(StartupError, build, ["--database", self.database, "--wiki-user-agent", "curl/8.0"])
        self.assertIn("--wiki-user-agent", str(error))
        self.assertIn("curl/8.0", str(error))

    def test_tap_builds_from_the_parsed_options(self) -> None:
        options = Options(environ={})
        options.parseOptions(["--database", self.database, "--http-only", "--no-jobs"])
        reactor = MemoryReactorClock()
        service = tap.makeService(options, reactor)
        self.assertEqual(self.names(service), ["store", "http"])
        self.assertEqual(service.stop_budget, options.config.stop_budget)
        service.startService()
        self.addCleanup(service.stopService)
        self.assertEqual([port for port, *_ in reactor.tcpServers], [8080])

    def test_bad_model_file_stops_start(self) -> None:
        path = self.mktemp() + ".zip"
        with open(path, "wb") as f:
            f.write(b"this is not a zip")
        error = self.assertRaises(StartupError, build, ["--database", self.database, "--model", path])
        self.assertIn(path, str(error))


class StopTestCase(SynchronousTestCase):
    """A Clock, and stopping a root service on it."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.closed: list[str] = []

    def close(self, name: str) -> Any:
        async def closer() -> None:
            self.closed.append(name)

        return closer

    def stop(self, root: OsrsService, step: float = 0.5) -> float:
        """Stop ``root``, advancing the clock a ``step`` at a time (for at
        most a minute); how long the stop took."""
        began = self.clock.seconds()
        stopping = root.stopService()
        while not stopping.called and self.clock.seconds() - began < 60:
            self.clock.advance(step)
        self.assertIsNone(self.successResultOf(stopping))
        return self.clock.seconds() - began


class StopBudgetTests(StopTestCase):
    """The root owns one stop budget; a child given its share finishes
    within it, and what it holds is closed even when a job will not stop."""

    def test_job_ignoring_cancellation_still_lets_the_closers_run(self) -> None:
        stubborn = StubbornJob(self.clock, 60)
        jobs = JobScheduler(
            # RunsStore holds only the run methods the scheduler calls, not all of IStore.
            RunsStore(), self.clock, [Job("stubborn", 60, stubborn)], owner="t:1:x",  # type: ignore[arg-type]
            on_stop=[self.close("wiki")],
        )
        root = OsrsService(self.clock)
        jobs.setServiceParent(root)
        root.startService()
        logged = logged_events(self)
        took = self.stop(root)
        self.assertEqual(len(stubborn.cancelled_at), 1, "the scheduler cancels the run within its share")
        self.assertEqual(self.closed, ["wiki"])
        self.assertLessEqual(took, 30)
        unclean = [formatEvent(e) for e in logged if "did not stop cleanly" in e.get("log_format", "")]
        self.assertEqual(unclean, [])
        self.clock.advance(60)
        self.assertEqual(self.flushLoggedErrors(), [])


@implementer(IBoundedStop)
class _TimedChild(Service):
    """Takes ``takes`` seconds to stop, or all it is given if less; notes its share."""

    def __init__(self, name: str, clock: Clock, takes: float, shares: list[tuple[str, float]]) -> None:
        self.setName(name)
        self.clock = clock
        self.takes = takes
        self.shares = shares

    def stopWithin(self, seconds: float) -> "Deferred[None]":
        super().stopService()
        assert self.name is not None
        self.shares.append((self.name, seconds))
        return deferLater(self.clock, min(self.takes, seconds))


class _StuckChild(Service):
    """A child without a bounded stop that never finishes stopping."""

    name = "stuck"

    def stopService(self) -> "Deferred[None]":
        super().stopService()
        return Deferred()


class StopSharesTests(StopTestCase):
    """Shares of one budget: what one child takes, the next ones lack."""

    def test_a_slow_child_leaves_less_for_the_next(self) -> None:
        shares: list[tuple[str, float]] = []
        root = OsrsService(self.clock, stop_budget=30, reserve_each=1)
        _TimedChild("first-started", self.clock, 0, shares).setServiceParent(root)
        _TimedChild("second", self.clock, 0.5, shares).setServiceParent(root)
        _StuckChild().setServiceParent(root)
        _TimedChild("slow", self.clock, 100, shares).setServiceParent(root)
        root.startService()
        logged = logged_events(self)
        took = self.stop(root)
        self.assertEqual(shares, [("slow", 27), ("second", 1), ("first-started", 1.5)])
        self.assertEqual(took, 28.5)
        self.assertEqual([e["name"] for e in logged if "did not stop cleanly" in e.get("log_format", "")], ["stuck"])
        self.assertFalse(any(child.running for child in root))

    def test_share_never_below_an_even_split(self) -> None:
        shares: list[tuple[str, float]] = []
        root = OsrsService(self.clock, stop_budget=2, reserve_each=1)
        for name in ("c", "b", "a"):
            _TimedChild(name, self.clock, 0, shares).setServiceParent(root)
        root.startService()
        self.stop(root)
        self.assertEqual(shares[0], ("a", 2 / 3))


def _same(check: Check) -> Check:
    return check


class HealthRouteTests(SynchronousTestCase):
    """``/health`` in memory: each component's own check decides."""

    def client(self, checks: dict[str, Check]) -> ApiClient:
        registry = HealthRegistry()
        for name, check in checks.items():
            registry.register(name, functools.partial(_same, check))
        return ApiClient(HttpApi(registry, MemoryReactorClock()))

    def test_ok(self) -> None:
        client = self.client({"store": Check("ok", "fine"), "models": Check("ok", "2 loaded", {"loaded": ["a"]})})
        response = client.get("/health")
        self.assertEqual(response.code, 200)
        body = response.json
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["checks"]["models"], {"status": "ok", "detail": "2 loaded", "loaded": ["a"]})
        self.assertIn("version", body)

    def test_degraded_is_200(self) -> None:
        client = self.client({"store": Check("ok", "fine"), "jobs": Check("degraded", "sync_latest failed")})
        response = client.get("/health")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.json["status"], "degraded")

    def test_failing_is_503(self) -> None:
        client = self.client({"store": Check("failing", "connection refused"), "jobs": Check("ok", "")})
        response = client.get("/health")
        self.assertEqual(response.code, 503)
        body = response.json
        self.assertEqual((body["status"], body["checks"]["store"]["detail"]), ("failing", "connection refused"))

    def test_live(self) -> None:
        client = self.client({"store": Check("failing", "down")})
        response = client.get("/health/live/")
        self.assertEqual(response.code, 200)

    def test_json_404_and_405(self) -> None:
        client = self.client({})
        response = client.get("/nowhere")
        self.assertEqual(response.code, 404)
        self.assertEqual(response.json["code"], "not_found")
        response = client.request("POST", "/health")
        self.assertEqual(response.code, 405)
        self.assertIn("GET", response.header("Allow") or "")
        self.assertEqual(response.json["code"], "method_not_allowed")
