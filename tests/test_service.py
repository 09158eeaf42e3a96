"""Assembly: plugin discovery, ``makeService`` on a memory reactor, health."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from treq.testing import StubTreq
from twisted.application.service import IServiceCollection, IServiceMaker
from twisted.internet.defer import inlineCallbacks
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase, TestCase

from osrs_twisted.health import Check, HealthRegistry
from osrs_twisted.http.api import HttpApi
from osrs_twisted.options import Options
from osrs_twisted.service import StartupError, makeService


def build(args: list[str], environ: Optional[Mapping[str, str]] = None) -> tuple[Any, MemoryReactorClock]:
    options = Options(environ=environ or {})
    options.parseOptions(args)
    reactor = MemoryReactorClock()
    return makeService(options, reactor=reactor), reactor


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

    def test_bad_model_file_stops_start(self) -> None:
        path = self.mktemp() + ".zip"
        with open(path, "wb") as f:
            f.write(b"this is not a zip")
        error = self.assertRaises(StartupError, build, ["--database", self.database, "--model", path])
        self.assertIn(path, str(error))


class HealthRouteTests(TestCase):
    """``/health`` through StubTreq: each component's own check decides."""

    def client(self, checks: dict[str, Check]) -> StubTreq:
        registry = HealthRegistry()
        for name, check in checks.items():
            registry.register(name, lambda check=check: check)
        return StubTreq(HttpApi(registry, MemoryReactorClock()).resource())

    @inlineCallbacks
    def test_ok(self) -> Any:
        treq = self.client({"store": Check("ok", "fine"), "models": Check("ok", "2 loaded", {"loaded": ["a"]})})
        response = yield treq.get("http://x/health")
        self.assertEqual(response.code, 200)
        body = yield response.json()
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["checks"]["models"], {"status": "ok", "detail": "2 loaded", "loaded": ["a"]})
        self.assertIn("version", body)

    @inlineCallbacks
    def test_degraded_is_200(self) -> Any:
        treq = self.client({"store": Check("ok", "fine"), "jobs": Check("degraded", "sync_latest failed")})
        response = yield treq.get("http://x/health")
        self.assertEqual(response.code, 200)
        self.assertEqual((yield response.json())["status"], "degraded")

    @inlineCallbacks
    def test_failing_is_503(self) -> Any:
        treq = self.client({"store": Check("failing", "connection refused"), "jobs": Check("ok", "")})
        response = yield treq.get("http://x/health")
        self.assertEqual(response.code, 503)
        body = yield response.json()
        self.assertEqual((body["status"], body["checks"]["store"]["detail"]), ("failing", "connection refused"))

    @inlineCallbacks
    def test_live(self) -> Any:
        treq = self.client({"store": Check("failing", "down")})
        response = yield treq.get("http://x/health/live/")
        self.assertEqual(response.code, 200)

    @inlineCallbacks
    def test_json_404_and_405(self) -> Any:
        treq = self.client({})
        response = yield treq.get("http://x/nowhere")
        self.assertEqual(response.code, 404)
        self.assertEqual((yield response.json())["code"], "not_found")
        response = yield treq.post("http://x/health")
        self.assertEqual(response.code, 405)
        self.assertIn("GET", response.headers.getRawHeaders("Allow")[0])
        self.assertEqual((yield response.json())["code"], "method_not_allowed")
