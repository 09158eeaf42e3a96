"""Body limits over real loopback: ``ApiSite`` answers 413 before reading a
body whose declared or chunked size is over the limit (the route never runs),
and a gzip body that inflates past the limit is a 413 from the route."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi, HttpSettings
from osrs_twisted.http.site import ApiSite
from osrs_twisted.store.interface import IStore
from tests.http_helpers import TEST_TIMEOUT, deferred_test, now_clock, start_catalog, start_store

LIMIT = 4096


@implementer(IBodyProducer)
class ChunkedBody:
    """A body of unknown length, so the client sends it chunked, a piece per tick."""

    length = UNKNOWN_LENGTH

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces
        self._stopped = False

    def startProducing(self, consumer: Any) -> "Deferred[None]":
        return Deferred.fromCoroutine(self._produce(consumer))

    async def _produce(self, consumer: Any) -> None:
        for piece in self._pieces:
            if self._stopped:
                return
            consumer.write(piece)
            await deferLater(reactor, 0.001, lambda: None)  # type: ignore[arg-type]

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        self._stopped = True


class LoopbackLimitTests(TestCase):
    timeout = TEST_TIMEOUT

    async def serve(self) -> tuple[str, IStore]:
        store = await start_store(self)
        clock = now_clock()
        catalog = await start_catalog(self, store, clock)
        api = HttpApi(HealthRegistry(), clock, HttpSettings(max_body_bytes=LIMIT), store=store, catalog=catalog)
        port = reactor.listenTCP(0, ApiSite(api.resource(), LIMIT), interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        self.pool = HTTPConnectionPool(reactor)
        self.addCleanup(self.pool.closeCachedConnections)
        return f"http://127.0.0.1:{port.getHost().port}", store

    async def post(self, url: str, data: Any, headers: dict[str, str]) -> tuple[int, Any]:
        response = await treq.post(url + "/healthcheck", data=data, headers=headers, pool=self.pool)
        return response.code, orjson.loads(await treq.content(response))

    @deferred_test
    async def test_under_the_limit_is_served(self) -> None:
        url, store = await self.serve()
        code, body = await self.post(url, orjson.dumps({"instanceId": "small"}), {})
        self.assertEqual((code, body), (200, {"status": "ok"}))
        self.assertEqual([h.instance_id for h in await store.latest_heartbeats()], ["small"])

    @deferred_test
    async def test_declared_length_over_the_limit_is_413_and_never_routed(self) -> None:
        url, store = await self.serve()
        payload = orjson.dumps({"instanceId": "big", "pad": "x" * (LIMIT * 4)})
        code, body = await self.post(url, payload, {})
        self.assertEqual(code, 413)
        self.assertEqual(body["code"], "too_large")
        self.assertEqual(await store.latest_heartbeats(), [])

    @deferred_test
    async def test_chunked_body_over_the_limit_is_413(self) -> None:
        url, store = await self.serve()
        pieces = [b'{"instanceId": "chunky", "pad": "'] + [b"y" * 1024] * 16 + [b'"}']
        code, body = await self.post(url, ChunkedBody(pieces), {})
        self.assertEqual((code, body["code"]), (413, "too_large"))
        self.assertEqual(await store.latest_heartbeats(), [])

    @deferred_test
    async def test_chunked_body_under_the_limit_is_served(self) -> None:
        url, store = await self.serve()
        code, _ = await self.post(url, ChunkedBody([b'{"instanceId": ', b'"chunked"}']), {})
        self.assertEqual(code, 200)
        self.assertEqual([h.instance_id for h in await store.latest_heartbeats()], ["chunked"])

    @deferred_test
    async def test_gzip_inflating_past_the_limit_is_413(self) -> None:
        url, store = await self.serve()
        bomb = gzip.compress(b'{"instanceId": "bomb", "pad": "' + b"0" * (LIMIT * 100) + b'"}')
        self.assertLess(len(bomb), LIMIT)
        code, body = await self.post(url, bomb, {"Content-Encoding": "gzip"})
        self.assertEqual(code, 413)
        self.assertIn("limit", body["detail"])
        self.assertEqual(await store.latest_heartbeats(), [])
        code, _ = await self.post(url, gzip.compress(b'{"instanceId": "zipped"}'), {"Content-Encoding": "gzip"})
        self.assertEqual(code, 200)
