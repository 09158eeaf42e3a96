"""``/metrics`` after real traffic over loopback: the whole process built by
``makeService`` on the real reactor, bots on TCP, clients on HTTP, and the
exposition parsed as Prometheus would."""

from __future__ import annotations

import os
import random
from typing import Any

import orjson
import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from osrs_twisted.options import Options
from osrs_twisted.policy.builtin import NHENV_HEAD_SIZES
from osrs_twisted.service import makeService
from tests.test_end_to_end import free_port


class _Lines(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: object = None) -> None:
        self.lost.callback(None)


GOOD = {"model": "demo", "obs": [[0.0] * 176], "actionMasks": [[True] * n for n in NHENV_HEAD_SIZES],
        "deterministic": True}


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return [(dict(s.labels), s.value) for s in family.samples if s.name == name or s.name == name + "_total"]
    return []


class MetricsAfterTrafficTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def test_counts_match_what_was_sent(self) -> Any:
        http_port, tcp_port, metrics_port = free_port(), free_port(), free_port()
        options = Options(environ={})
        options.parseOptions([
            "--http", f"tcp:{http_port}:interface=127.0.0.1", "--tcp", f"tcp:{tcp_port}:interface=127.0.0.1",
            "--metrics", f"tcp:{metrics_port}:interface=127.0.0.1",
            "--database", "sqlite:///" + os.path.abspath(self.mktemp()) + ".sqlite3", "--no-jobs",
            "--models", os.path.abspath(self.mktemp()),
        ])
        service = makeService(options.config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        base = f"http://127.0.0.1:{http_port}"

        response = yield treq.get(base + "/health/ready", pool=pool)
        for _ in range(100):
            if response.code == 200:
                break
            yield response.content()
            yield deferLater(reactor, 0.05, lambda: None)
            response = yield treq.get(base + "/health/ready", pool=pool)
        self.assertEqual((yield response.json()), {"status": "ready"})

        lines = [orjson.dumps({**GOOD, "id": n}) for n in range(5)]
        lines += [b"{not json", orjson.dumps({**GOOD, "model": "nope"}), orjson.dumps({**GOOD, "actionMasks": []})]
        bot = _Lines()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", tcp_port), bot)
        bot.transport.write(b"\n".join(lines) + b"\n")  # type: ignore[union-attr]
        for _ in range(200):
            if bot.data.count(b"\n") == len(lines):
                break
            yield deferLater(reactor, 0.02, lambda: None)
        self.assertEqual(bot.data.count(b"\n"), len(lines))

        for path in ["/health", "/models", "/models", "/items/abc", "/no/such/route"]:
            yield (yield treq.get(base + path, pool=pool)).content()
        rng = random.Random(7)
        for _ in range(1000):
            path = "/" + "".join(rng.choice("abcdefxyz/0123") for _ in range(12))
            yield (yield treq.get(base + path, pool=pool)).content()

        response = yield treq.get(base + "/metrics", pool=pool)
        self.assertTrue(response.headers.getRawHeaders("content-type")[0].startswith("text/plain"))
        text = (yield response.content()).decode()

        requests = {(labels["model"], labels["code"]): v for labels, v in samples(text, "osrs_inference_requests")}
        self.assertEqual(requests, {("demo", "ok"): 5, ("", "bad_json"): 1, ("", "unknown_model"): 1,
                                    ("demo", "bad_request"): 1})
        self.assertEqual(samples(text, "osrs_inference_replies"), [({}, 8.0)])
        self.assertEqual(samples(text, "osrs_inference_connections"), [({}, 1.0)])
        compute = {labels["model"]: v for labels, v in
                   [(dict(s.labels), s.value) for f in text_string_to_metric_families(text)
                    if f.name == "osrs_inference_compute_seconds" for s in f.samples
                    if s.name.endswith("_count")]}
        self.assertEqual(list(compute), ["demo"])
        self.assertGreaterEqual(compute["demo"], 1)

        http = {(labels["route"], labels["status"]): v for labels, v in samples(text, "osrs_http_requests")}
        self.assertEqual(http[("/models", "200")], 2)
        self.assertEqual(http[("/health", "200")], 1)
        self.assertGreaterEqual(http[("/health/ready", "200")], 1)
        routes = {route for route, _ in http}
        self.assertLessEqual(len(http), 12, f"bounded label set after 1,000 random paths: {sorted(http)}")
        self.assertIn("unmatched", routes)
        self.assertEqual(http[("unmatched", "404")], 1001, "the 1,000 random paths and /no/such/route")
        self.assertNotIn("/no/such/route", routes)
        models = {labels["model"]: labels["source"] for labels, _ in samples(text, "osrs_model_info")}
        self.assertEqual(models, {"demo": "builtin", "noop": "builtin"})
        self.assertEqual(samples(text, "osrs_store_up"), [({"backend": "sqlite"}, 1.0)])
        self.assertEqual(samples(text, "osrs_catalog_loaded"), [({}, 1.0)])

        scraped = yield treq.get(f"http://127.0.0.1:{metrics_port}/metrics", pool=pool)
        own = (yield scraped.content()).decode()
        self.assertIn("osrs_inference_requests_total", own)
        self.assertIn("process_cpu_seconds_total", own)
        elsewhere = yield treq.get(f"http://127.0.0.1:{metrics_port}/models", pool=pool)
        self.assertEqual(elsewhere.code, 404, "the metrics listener serves /metrics only")
        yield elsewhere.content()
        bot.transport.loseConnection()  # type: ignore[union-attr]
        yield bot.lost
        for _ in range(100):
            if service.getServiceNamed("tcp").metrics.connections == 0:
                break
            yield deferLater(reactor, 0.02, lambda: None)
