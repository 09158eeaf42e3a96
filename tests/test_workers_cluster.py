"""The pure parts of ``--workers``: the configuration over the pipe, shared
listen addresses, and one ``/health`` combined from every worker."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import twisted.test
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.health import Check, HealthReport
from osrs_twisted.http.render import health_json
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.options import Options
from osrs_twisted.workers.cluster import ClusterHealth, WorkerState, local_report
from osrs_twisted.workers.listeners import parse_listen_address
from osrs_twisted.workers.wire import config_from_json, config_json, decode, encode


def metrics(requests: int, latency: float, connections: int = 1) -> InferenceMetrics:
    counted = InferenceMetrics(connections=connections, requests=requests, replies=requests)
    for _ in range(requests):
        counted.latency_ms.add(latency)
        counted.batches.add(1)
    counted.errors["bad_request"] += 1
    return counted


def worker_report(status: str, counted: InferenceMetrics, extra: dict[str, Check] | None = None) -> object:
    checks = {"models": Check(status, f"models {status}", {"inference": counted}), **(extra or {})}  # type: ignore[arg-type]
    return orjson.loads(orjson.dumps(local_report(HealthReport(status, checks), counted)))  # type: ignore[arg-type]


class WireTests(SynchronousTestCase):
    def test_config_round_trip(self) -> None:
        options = Options(environ={})
        options.parseOptions(["--workers", "3", "--admin-token", "t", "--items-file", __file__, "--http-only"])
        text = orjson.dumps(config_json(options.config))
        self.assertEqual(config_from_json(orjson.loads(text)), options.config)

    def test_messages(self) -> None:
        line = encode("report", report={"status": "ok"})
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(decode(line), {"type": "report", "report": {"status": "ok"}})
        self.assertRaises(ValueError, decode, b"[1, 2]")


class ListenAddressTests(SynchronousTestCase):
    def test_tcp_and_unix(self) -> None:
        tcp = parse_listen_address("tcp:5555:interface=127.0.0.1:backlog=77")
        self.assertEqual((tcp.kind, tcp.family, tcp.host, tcp.port, tcp.backlog),
                         ("tcp", socket.AF_INET, "127.0.0.1", 5555, 77))
        self.assertEqual(parse_listen_address("tcp6:5555:interface=\\:\\:1").family, socket.AF_INET6)
        unix = parse_listen_address("unix:/tmp/osrs.sock:mode=600")
        self.assertEqual((unix.kind, unix.host, unix.mode), ("unix", "/tmp/osrs.sock", 0o600))

    def test_other_kinds_refused(self) -> None:
        error = self.assertRaises(ValueError, parse_listen_address, "systemd:domain=INET:index=0")
        self.assertIn("only tcp: and unix:", str(error))

    def test_option_refuses_them_in_one_line(self) -> None:
        from twisted.python.usage import UsageError

        tls = f"ssl:0:privateKey={Path(twisted.test.__file__).parent / 'server.pem'}"
        Options(environ={}).parseOptions(["--tcp", tls])
        options = Options(environ={"OSRS_WORKERS": "2"})
        error = self.assertRaises(UsageError, options.parseOptions, ["--tcp", tls])
        self.assertIn(f"--tcp {tls!r}: with --workers above 1 only tcp: and unix:", str(error))
        single = Options(environ={})
        single.parseOptions(["--tcp", "tcp:0", "--workers", "auto"])
        self.assertGreaterEqual(single.config.workers, 1)


class ClusterHealthTests(SynchronousTestCase):
    def health(self, own: InferenceMetrics, status: str = "ok") -> ClusterHealth:
        health = ClusterHealth(0, 100, lambda: own)
        health.register("models", lambda: Check(status, f"models {status}", {"inference": own}))  # type: ignore[arg-type]
        return health

    def test_counters_summed_and_every_pid_listed(self) -> None:
        own = metrics(3, 1.5)
        health = self.health(own)
        health.peers = [WorkerState(1, 101, "running", report=worker_report("ok", metrics(5, 40.0)), age=0.5)]  # type: ignore[arg-type]
        body = health_json(health.report())
        inference = body["checks"]["models"]["inference"]
        self.assertEqual((inference["requests"], inference["replies"], inference["connections"]), (8, 8, 2))
        self.assertEqual(inference["errors"], {"bad_request": 2})
        self.assertEqual(inference["latencyMs"]["count"], 8)
        self.assertEqual(inference["latencyMs"]["max"], 40.0)
        self.assertEqual(inference["latencyMs"]["p99"], 40.0)
        workers = body["checks"]["workers"]
        self.assertEqual(workers["status"], "ok")
        self.assertEqual([(w["index"], w["pid"], w["connections"]) for w in workers["workers"]],
                         [(0, 100, 1), (1, 101, 1)])
        self.assertEqual(body["status"], "ok")
        self.assertEqual(own.requests, 3, "the live counters are not changed by the sum")

    def test_worst_status_wins_and_peer_only_checks_appear(self) -> None:
        health = self.health(metrics(1, 1.0))
        jobs = {"jobs": Check("degraded", "sync_latest failing", {"failing": ["sync_latest"]})}
        health.peers = [WorkerState(1, 101, "running", report=worker_report("failing", metrics(1, 1.0), jobs), age=0.1)]  # type: ignore[arg-type]
        report = health.report()
        self.assertEqual(report.status, "failing")
        self.assertEqual(report.checks["models"].status, "failing")
        self.assertIn("another worker: models failing", report.checks["models"].detail)
        self.assertEqual(health_json(report)["checks"]["jobs"]["failing"], ["sync_latest"])

    def test_a_dead_or_silent_worker_is_degraded(self) -> None:
        health = self.health(metrics(1, 1.0))
        health.peers = [WorkerState(1, None, "exited", exit="signal 9"), WorkerState(2, 102, "running", age=9.0)]
        check = health.report().checks["workers"]
        self.assertEqual(check.status, "degraded")
        self.assertIn("1 of 3 workers serving", check.detail)
        self.assertIn("worker 1 exited (signal 9)", check.detail)
        self.assertIn("worker 2 (pid 102) has not reported for 9s", check.detail)
        self.assertEqual(health.report().status, "degraded")

    def test_state_round_trip(self) -> None:
        state = WorkerState(1, 7, "starting", exit="exit status 1", report=None, age=None)
        self.assertEqual(WorkerState.from_json(orjson.loads(orjson.dumps(state.json()))), state)
