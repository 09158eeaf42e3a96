"""Body limits over real loopback: ``ApiSite`` answers 413 before reading a
body whose declared or chunked size is over the limit (the route never runs),
and a gzip body that inflates past the limit is a 413 from the route."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from zope.interface import implementer

from osrs_twisted.http.api import HttpSettings
from osrs_twisted.store.interface import IStore
from tests.http_helpers import TEST_TIMEOUT, LoopbackClient, serve_api, start_store

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
            await deferLater(reactor, 0.001)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        self._stopped = True


class LoopbackLimitTests(TestCase):
    timeout = TEST_TIMEOUT

    async def serve(self) -> tuple[LoopbackClient, IStore]:
        store = await start_store(self)
        return await serve_api(self, store, settings=HttpSettings(max_body_bytes=LIMIT)), store

    async def post(self, client: LoopbackClient, data: Any, headers: dict[str, str]) -> tuple[int, Any]:
        reply = await client.post("/healthcheck", data, headers)
        return reply.code, reply.json

    async def test_under_the_limit_is_served(self) -> None:
        client, store = await self.serve()
        code, body = await self.post(client, orjson.dumps({"instanceId": "small"}), {})
        self.assertEqual((code, body), (200, {"status": "ok"}))
        self.assertEqual([h.instance_id for h in await store.latest_heartbeats()], ["small"])

    async def test_declared_length_over_the_limit_is_413_and_never_routed(self) -> None:
        client, store = await self.serve()
        payload = orjson.dumps({"instanceId": "big", "pad": "x" * (LIMIT * 4)})
        code, body = await self.post(client, payload, {})
        self.assertEqual(code, 413)
        self.assertEqual(body["code"], "too_large")
        self.assertEqual(await store.latest_heartbeats(), [])

    async def test_chunked_body_over_the_limit_is_413(self) -> None:
        client, store = await self.serve()
        pieces = [b'{"instanceId": "chunky", "pad": "'] + [b"y" * 1024] * 16 + [b'"}']
        code, body = await self.post(client, ChunkedBody(pieces), {})
        self.assertEqual((code, body["code"]), (413, "too_large"))
        self.assertEqual(await store.latest_heartbeats(), [])

    async def test_chunked_body_under_the_limit_is_served(self) -> None:
        client, store = await self.serve()
        code, _ = await self.post(client, ChunkedBody([b'{"instanceId": ', b'"chunked"}']), {})
        self.assertEqual(code, 200)
        self.assertEqual([h.instance_id for h in await store.latest_heartbeats()], ["chunked"])

    async def test_gzip_inflating_past_the_limit_is_413(self) -> None:
        client, store = await self.serve()
        bomb = gzip.compress(b'{"instanceId": "bomb", "pad": "' + b"0" * (LIMIT * 100) + b'"}')
        self.assertLess(len(bomb), LIMIT)
        code, body = await self.post(client, bomb, {"Content-Encoding": "gzip"})
        self.assertEqual(code, 413)
        self.assertIn("limit", body["detail"])
        self.assertEqual(await store.latest_heartbeats(), [])
        code, _ = await self.post(client, gzip.compress(b'{"instanceId": "zipped"}'), {"Content-Encoding": "gzip"})
        self.assertEqual(code, 200)
