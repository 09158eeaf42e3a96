"""Reload under load over loopback, with the real threads: 200 bots keep
asking while a model file is replaced and another added and removed; and
warm-up on the model thread before the pool is ready."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import LoopingCall, deferLater
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from osrs_twisted.http.render import models_json
from osrs_twisted.inference.pool import ModelPoolService
from osrs_twisted.inference.reload import ModelReloadService
from osrs_twisted.policy import LoadedModel, ModelRegistry, load_registry
from osrs_twisted.policy.registry import file_sha256
from osrs_twisted.policy.reload import ModelSources, ServedModels
from tests.inference_fakes import listen_loopback
from tests.policy_helpers import nhenv_request, prepare
from tests.reload_helpers import CountingEngine, counting_model, write_fixture, write_synthetic

BOTS = 200
TICK = 0.6


class _Bot(LineReceiver):
    """One request per tick, the next only once the last was answered."""

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.replies: list[dict[str, Any]] = []
        self.waiting = False
        self.lost: Failure | None = None
        self.answered: Deferred[None] | None = None
        self.closed: Deferred[None] = Deferred()
        self.ticker = LoopingCall(self.tick)
        self.ticker.clock = reactor

    def connectionMade(self) -> None:
        self.ticker.start(TICK, now=True)

    def tick(self) -> None:
        if not self.waiting:
            self.waiting = True
            self.sendLine(self.line)

    def lineReceived(self, line: bytes) -> None:
        self.replies.append(orjson.loads(line))
        self.waiting = False
        if self.answered is not None:
            self.answered.callback(None)
            self.answered = None

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self.ticker.running:
            self.ticker.stop()
        self.lost = reason
        self.closed.callback(None)


def _settled(bot: _Bot) -> "Deferred[None]":
    if bot.ticker.running:
        bot.ticker.stop()
    if not bot.waiting:
        return succeed(None)
    bot.answered = Deferred()
    return bot.answered


def _reply(model: LoadedModel, request: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(model.predict([prepare(model, request)], np.random.default_rng(0))[0]))


class ReloadUnderLoadTests(TestCase):
    timeout = 90

    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.directory.mkdir()
        self.target = write_fixture(self.directory / "m.zip")
        self.served = ServedModels(load_registry(self.directory, [], demo=False))
        self.pool = ModelPoolService(self.served, reactor, max_batch=256)
        self.reloader = ModelReloadService(self.served, ModelSources(self.directory, demo=False), reactor,
                                           self.pool.warm)
        self.reloader.setServiceParent(self.pool)
        self.inference, self.port = listen_loopback(self, self.pool, reactor)
        self.bots: list[_Bot] = []
        self.addCleanup(lambda: Deferred.fromCoroutine(self.disconnect()))

    def connect(self, line: bytes) -> "Deferred[_Bot]":
        bot = _Bot(line)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        self.bots.append(bot)
        return connectProtocol(endpoint, bot).addCallback(lambda _: bot)

    async def disconnect(self) -> None:
        for bot in self.bots:
            if bot.transport is not None and bot.lost is None:
                bot.transport.loseConnection()
        await gatherResults([bot.closed for bot in self.bots])
        for _ in range(500):  # the server side closes a moment later
            if not self.inference.metrics.connections:
                return
            await deferLater(reactor, 0.01, lambda: None)

    async def test_swap_a_model_under_200_bots_without_an_error_or_a_closed_connection(self) -> None:
        await self.pool.whenReady()
        request = {**nhenv_request(np.random.default_rng(11), frames=2), "model": "m"}
        old_reply = _reply(self.served.get("m"), request)
        bots = await gatherResults([self.connect(orjson.dumps(request)) for _ in range(BOTS)])
        await deferLater(reactor, 1.0, lambda: None)

        write_synthetic(self.target, seed=21)
        write_fixture(self.directory / "extra.zip")
        swapped = await self.reloader.reload("api")
        self.assertEqual((swapped.replaced, swapped.loaded, swapped.failed), (("m",), ("extra",), ()))
        new_reply = _reply(self.served.get("m"), request)
        self.assertNotEqual(new_reply, old_reply, "the two checkpoints answer differently")
        swapped_at = {id(bot): len(bot.replies) for bot in bots}
        extra = await self.connect(orjson.dumps({**request, "model": "extra"}))
        await deferLater(reactor, 1.0, lambda: None)
        await _settled(extra)

        (self.directory / "extra.zip").unlink()
        removed = await self.reloader.reload("api")
        self.assertEqual(removed.removed, ("extra",))
        await deferLater(reactor, 1.5, lambda: None)
        await gatherResults([_settled(bot) for bot in bots])

        replies = [reply for bot in bots for reply in bot.replies]
        self.assertEqual([r for r in replies + extra.replies if "error" in r], [], "no error replies")
        self.assertEqual([bot.lost for bot in bots if bot.lost is not None], [], "no connection closed")
        self.assertGreaterEqual(min(len(bot.replies) for bot in bots), 5, "each bot kept asking throughout")
        self.assertEqual({r["action"] == old_reply["action"] for r in extra.replies}, {True})
        for bot in bots:
            before, after = bot.replies[: swapped_at[id(bot)] - 1], bot.replies[swapped_at[id(bot)] + 1:]
            self.assertEqual({r["action"] == old_reply["action"] for r in before}, {True})
            self.assertTrue(after, "replies came after the swap")
            self.assertEqual([r["action"] for r in after], [new_reply["action"]] * len(after))
        document = models_json(self.served)
        [model] = [m for m in document["models"] if m["name"] == "m"]
        self.assertEqual(model["sha256"], file_sha256(self.target))
        self.assertEqual(document["lastReload"]["removed"], ["extra"])
        self.assertEqual(self.served.reloads, {"ok": 2})


class WarmUpTests(TestCase):
    timeout = 30

    def pool(self, *models: LoadedModel, max_batch: int = 100) -> ModelPoolService:
        registry = ModelRegistry(
            models=types.MappingProxyType({m.name: m for m in models}), default_name=None, skipped=(), warnings=()
        )
        pool = ModelPoolService(ServedModels(registry), reactor, max_batch=max_batch)
        pool.startService()
        self.addCleanup(pool.stopService)
        return pool

    async def test_every_model_warms_up_before_the_pool_is_ready(self) -> None:
        first, second = CountingEngine("a"), CountingEngine("b")
        pool = self.pool(counting_model("a", first), counting_model("b", second))
        self.assertFalse(pool.ready, "not ready before the warm-up has run")
        await pool.whenReady()
        self.assertTrue(pool.ready)
        self.assertEqual((first.batches, second.batches), ([1, 8, 64, 100], [1, 8, 64, 100]))

    async def test_a_reloaded_version_warms_up_on_the_model_thread(self) -> None:
        pool = self.pool(max_batch=16)
        await pool.whenReady()
        engine = CountingEngine("late")
        await pool.warm([counting_model("late", engine)])
        self.assertEqual(engine.batches, [1, 8, 16])

    async def test_a_failing_warm_up_leaves_the_pool_unready(self) -> None:
        pool = self.pool(counting_model("bad", CountingEngine("bad", fail=True)))
        with self.assertRaisesRegex(RuntimeError, "cannot predict"):
            await pool.whenReady()
        self.assertFalse(pool.ready)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1, "the failure is logged")
