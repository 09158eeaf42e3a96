"""A refused body reaches the client: over real loopback, a client that
sends a 3 MB body before reading (Python's ``urllib``) reads the 413 every
time, and a client that sends ``Expect: 100-continue`` gets the 413 at once,
with no ``100 Continue``, without sending its body."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import orjson
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.protocols.policies import WrappingFactory
from twisted.trial.unittest import TestCase

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi, HttpSettings
from osrs_twisted.http.site import ApiSite
from osrs_twisted.telemetry.recorders import UNMATCHED, HttpMetrics
from tests.http_helpers import now_clock, start_catalog, start_store
from tests.loopback import listen

LIMIT = 1048576
BODY = b"x" * (3 * 1024 * 1024)
TRIES = 50


def urllib_post(url: str) -> tuple[int, bytes]:
    """One blocking POST, as a plain ``urllib`` client sends it: the whole body, then read."""
    request = urllib.request.Request(url, data=BODY, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def expect_continue(port: int) -> bytes:
    """Send headers with ``Expect: 100-continue`` and no body; read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"POST /healthcheck HTTP/1.1\r\nHost: osrs\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(BODY)
        )
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
        return received


class LingeringCloseTests(TestCase):
    timeout = 120

    async def serve(self) -> tuple[int, HttpMetrics]:
        store = await start_store(self)
        clock = now_clock()
        catalog = await start_catalog(self, store, clock)
        api = HttpApi(HealthRegistry(), clock, HttpSettings(max_body_bytes=LIMIT), store=store, catalog=catalog)
        metrics = HttpMetrics()
        self.connections = WrappingFactory(ApiSite(api.resource(), LIMIT, reactor, metrics))
        port = listen(self, self.connections)
        self.addCleanup(self.all_closed)
        return port, metrics

    async def all_closed(self) -> None:
        """Wait (bounded) for the server to close every connection; the
        lingering ones close once their body has been read."""
        for _ in range(500):
            if not self.connections.protocols:
                return
            await deferLater(reactor, 0.01, lambda: None)
        self.fail(f"{len(self.connections.protocols)} connection(s) still open")

    async def test_urllib_reads_the_413_every_time(self) -> None:
        port, metrics = await self.serve()
        url = f"http://127.0.0.1:{port}/healthcheck"
        outcomes = []
        for _ in range(TRIES):
            outcomes.append(await deferToThread(urllib_post, url))
        self.assertEqual([code for code, _ in outcomes], [413] * TRIES)
        self.assertEqual(orjson.loads(outcomes[0][1])["code"], "too_large")
        self.assertEqual(metrics.requests[(UNMATCHED, 413)], TRIES)
        await self.all_closed()

    async def test_expect_continue_gets_the_413_without_a_100(self) -> None:
        port, _ = await self.serve()
        received = await deferToThread(expect_continue, port)
        self.assertFalse(self.connections.protocols, "closed at once: no body is coming")
        self.assertTrue(received.startswith(b"HTTP/1.1 413 "), received[:80])
        self.assertNotIn(b"100 Continue", received)
        self.assertEqual(orjson.loads(received.split(b"\r\n\r\n", 1)[1])["code"], "too_large")
