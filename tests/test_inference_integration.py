"""The real path over loopback TCP: protocol, batcher, the dedicated thread
pool and the fixture model, with pvp-ml's reference replies sent pipelined
from several connections at once."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.protocols.basic import LineReceiver
from twisted.trial.unittest import TestCase

from osrs_twisted.inference.batching import Batcher
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.inference.pool import ModelPoolService
from osrs_twisted.inference.protocol import InferenceFactory
from osrs_twisted.inference.service import InferenceService
from osrs_twisted.policy import load_registry
from tests.fixtures import trained_model_path
from tests.inference_fakes import FakeModel, FakeModels, SynchronousPool, request
from tests.policy_helpers import assert_close, reference_cases


class _Client(LineReceiver):
    """Sends its requests in one write, like a pipelining client, and
    collects one reply line per request."""

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, lines: list[bytes], line_ending: bytes) -> None:
        self.lines = lines
        self.line_ending = line_ending
        self.replies: list[dict[str, Any]] = []
        self.done: Deferred[list[dict[str, Any]]] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"".join(line + self.line_ending for line in self.lines))  # type: ignore[union-attr]

    def lineReceived(self, line: bytes) -> None:
        self.replies.append(json.loads(line))
        if len(self.replies) == len(self.lines):
            self.transport.loseConnection()  # type: ignore[union-attr]
            self.done.callback(self.replies)


class LoopbackTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        registry = load_registry(None, [trained_model_path()], demo=False)
        self.pool = ModelPoolService(registry, reactor)
        self.pool.startService()
        self.addCleanup(self.pool.stopService)
        self.inference = InferenceService(
            self.pool, [], reactor, max_line_bytes=1 << 20, max_inflight=64, max_batch=256, max_queued=8192
        )
        port = reactor.listenTCP(0, self.inference.factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port

    def connect(self, lines: list[bytes], line_ending: bytes = b"\n") -> "Deferred[list[dict[str, Any]]]":
        client = _Client(lines, line_ending)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.port)
        return connectProtocol(endpoint, client).addCallback(lambda _: client.done)

    @inlineCallbacks
    def test_reference_cases_from_several_connections(self) -> Any:
        cases = reference_cases()
        groups = [cases[index::4] for index in range(4)]
        endings = [b"\n", b"\r\n", b"\n", b"\r\n"]
        results = yield gatherResults([
            self.connect([json.dumps({**case["request"], "id": n}).encode() for n, case in enumerate(group)], ending)
            for group, ending in zip(groups, endings, strict=True)
        ])
        for group, replies in zip(groups, results, strict=True):
            self.assertEqual([reply["id"] for reply in replies], list(range(len(group))), "replies in request order")
            for case, reply in zip(group, replies, strict=True):
                del reply["id"]
                assert_close(reply, case["response"], 1e-5)
        metrics = self.inference.metrics
        self.assertEqual(metrics.replies, len(cases))
        self.assertLess(metrics.batches.count, len(cases), "pipelined requests were batched")

    @inlineCallbacks
    def test_bad_request_among_good_ones(self) -> Any:
        case = reference_cases()[0]["request"]
        good = json.dumps(case).encode()
        wrong = json.dumps({**case, "actionMasks": case["actionMasks"][:-1]}).encode()
        replies = yield self.connect([good, wrong, b"not json", good])
        self.assertEqual([sorted(r)[:2] for r in replies][0], ["action", "entropy"])
        self.assertEqual(replies[1]["code"], "bad_request")
        self.assertIn("actionMasks has 39 entries in total; model MyTrainedNh needs 45", replies[1]["error"])
        self.assertEqual(replies[2]["code"], "bad_json")
        self.assertEqual(replies[3]["action"], replies[0]["action"])


class _Silent(LineReceiver):
    """Writes many requests and never reads a reply."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def connectionMade(self) -> None:
        self.transport.pauseProducing()  # type: ignore[union-attr]
        self.transport.write(self.payload)  # type: ignore[union-attr]


class NonReadingClientTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def test_client_that_never_reads_is_paused(self) -> Any:
        metrics = InferenceMetrics()
        batcher = Batcher(SynchronousPool().run_batch, reactor, metrics, 256, 8192)
        factory = InferenceFactory(FakeModels({"m": FakeModel("m")}, "m"), batcher, metrics, 4096, 64)
        servers: list[Any] = []
        build = factory.buildProtocol
        factory.buildProtocol = lambda addr: servers.append(build(addr)) or servers[-1]  # type: ignore[method-assign]
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)

        requests = 300_000
        client = _Silent((request(1) + b"\n") * requests)
        protocol = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port), client)

        @inlineCallbacks
        def disconnect() -> Any:
            protocol.transport.abortConnection()
            for _ in range(100):
                if metrics.connections == 0:
                    break
                yield deferLater(reactor, 0.02, lambda: None)

        self.addCleanup(disconnect)
        for _ in range(100):
            yield deferLater(reactor, 0.05, lambda: None)
            if servers and servers[0].paused and metrics.replies == metrics.requests:
                break
        [server] = servers
        self.assertTrue(server.paused, "the server must stop reading a client that does not read")
        self.assertLess(metrics.requests, requests, "unread replies must not be buffered without bound")
        buffered = sum(len(chunk) for chunk in server.transport._tempDataBuffer) + len(server.transport.dataBuffer)
        self.assertLess(buffered, 1 << 20, "the server's own write buffer stays small")
