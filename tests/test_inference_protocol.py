"""The line protocol over ``StringTransport``: framing, order, bounds, every error code."""

from __future__ import annotations

from typing import Any, Optional

import orjson
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.inference.batching import Batcher
from osrs_twisted.inference.errors import ERROR_CODES
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.inference.pool import PoolStopped
from osrs_twisted.inference.protocol import InferenceFactory, InferenceProtocol
from tests.inference_fakes import FakeModel, FakeModels, ManualPool, SynchronousPool, request

ADDRESS = IPv4Address("TCP", "127.0.0.1", 40000)


def make_factory(
    pool: Any = None, default: Optional[str] = "m", max_line_bytes: int = 4096,
    max_inflight: int = 64, max_batch: int = 256, max_queued: int = 8192,
) -> InferenceFactory:
    pool = pool or SynchronousPool()
    metrics = InferenceMetrics()
    models = FakeModels({"m": FakeModel("m"), "other": FakeModel("other")}, default)
    batcher = Batcher(pool.run_batch, Clock(), metrics, max_batch, max_queued)
    return InferenceFactory(models, batcher, metrics, max_line_bytes, max_inflight)


def connect(factory: InferenceFactory) -> tuple[InferenceProtocol, StringTransport]:
    protocol = factory.buildProtocol(ADDRESS)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def replies(transport: StringTransport) -> list[dict[str, Any]]:
    data = transport.value()
    assert data.endswith(b"\n") or not data, data
    return [orjson.loads(line) for line in data.splitlines()]


class FramingTests(SynchronousTestCase):
    def test_one_request_one_reply(self) -> None:
        protocol, transport = connect(make_factory())
        protocol.dataReceived(request(3) + b"\n")
        [reply] = replies(transport)
        self.assertEqual(reply, {"action": [3], "logProb": None, "entropy": None, "values": None,
                                 "probs": None, "extensionResults": []})

    def test_crlf_is_accepted(self) -> None:
        protocol, transport = connect(make_factory())
        protocol.dataReceived(request(4) + b"\r\n")
        self.assertEqual(replies(transport)[0]["action"], [4])

    def test_split_across_reads(self) -> None:
        protocol, transport = connect(make_factory())
        line = request(5) + b"\n"
        for i in range(len(line)):
            protocol.dataReceived(line[i:i + 1])
        self.assertEqual(replies(transport)[0]["action"], [5])

    def test_default_model_used_without_model(self) -> None:
        protocol, transport = connect(make_factory())
        protocol.dataReceived(request(6, model=None) + b"\n")
        self.assertEqual(replies(transport)[0]["action"], [6])

    def test_id_is_echoed(self) -> None:
        protocol, transport = connect(make_factory())
        protocol.dataReceived(request(1, id="tick-9") + b"\n" + request(2, id=7) + b"\n")
        self.assertEqual([(r["action"], r["id"]) for r in replies(transport)], [([1], "tick-9"), ([2], 7)])

    def test_pipelined_replies_keep_request_order(self) -> None:
        pool = ManualPool()
        protocol, transport = connect(make_factory(pool))
        protocol.dataReceived(b"".join(request(i) + b"\n" for i in range(5)))
        self.assertEqual(transport.value(), b"")
        pool.release()
        self.assertEqual([r["action"] for r in replies(transport)], [[0]])
        pool.release()
        self.assertEqual([r["action"] for r in replies(transport)], [[i] for i in range(5)])

    def test_error_waits_its_turn_behind_pending_reply(self) -> None:
        pool = ManualPool()
        protocol, transport = connect(make_factory(pool))
        protocol.dataReceived(request(1) + b"\nnot json\n")
        self.assertEqual(transport.value(), b"")
        pool.release()
        first, second = replies(transport)
        self.assertEqual(first["action"], [1])
        self.assertEqual(second["code"], "bad_json")


class ErrorTests(SynchronousTestCase):
    """Every row of the error table, and the connection stays usable after it."""

    def assertError(
        self, line: bytes, code: str, fragment: str, factory: Optional[InferenceFactory] = None
    ) -> dict[str, Any]:
        factory = factory or make_factory()
        protocol, transport = connect(factory)
        protocol.dataReceived(line + b"\n" + request(9) + b"\n")
        error, after = replies(transport)
        self.assertEqual(error["code"], code)
        self.assertIn(fragment, error["error"])
        self.assertEqual(after["action"], [9], "the connection must stay usable")
        self.assertFalse(transport.disconnecting)
        self.assertEqual(factory.metrics.errors[code], 1)
        return error

    def test_bad_json(self) -> None:
        self.assertError(b"{nope", "bad_json", "not valid JSON")
        self.assertError(b'{"obs": NaN}', "bad_json", "not valid JSON")
        self.assertError(b'{"obs": [[Infinity]]}', "bad_json", "not valid JSON")
        self.assertError(b'{"model": "\xff"}', "bad_json", "not valid JSON")

    def test_not_an_object(self) -> None:
        self.assertError(b"[1, 2]", "bad_request", "must be a JSON object, not list")

    def test_missing_fields(self) -> None:
        self.assertError(b'{"actionMasks": [[true]]}', "bad_request", "obs is required")
        self.assertError(b'{"obs": [[1]]}', "bad_request", "actionMasks is required")

    def test_unknown_key(self) -> None:
        self.assertError(request(1, determinstic=True), "bad_request", "unknown key 'determinstic'")

    def test_mistyped_fields(self) -> None:
        self.assertError(request(1, deterministic="yes"), "bad_request", "deterministic must be a boolean or a list")
        self.assertError(request(1, returnProbs=1), "bad_request", "returnProbs must be a boolean")
        self.assertError(request(1, extensions="winrate"), "bad_request", "extensions must be a list of strings")
        self.assertError(request(1, model=5), "bad_request", "model must be a string")
        self.assertError(request(1, id=[1]), "bad_request", "id must be a string or an integer")

    def test_model_checks(self) -> None:
        error = self.assertError(
            orjson.dumps({"model": "m", "obs": [[1]], "actionMasks": [[True]], "id": "x"}),
            "bad_request", "actionMasks has 1 entries in total; model m needs 2",
        )
        self.assertEqual(error["id"], "x")

    def test_unknown_model(self) -> None:
        self.assertError(
            request(1, model="Nope"), "unknown_model", "model 'Nope' is not loaded; loaded models: m, other"
        )

    def test_no_default_model(self) -> None:
        self.assertError(request(1, model=None), "unknown_model", "no default; loaded models: m, other",
                         make_factory(default=None))

    def test_overloaded(self) -> None:
        pool = ManualPool()
        factory = make_factory(pool, max_queued=1)
        protocol, transport = connect(factory)
        protocol.dataReceived(b"".join(request(i) + b"\n" for i in range(3)))
        pool.release()
        pool.release()
        self.assertEqual([r.get("code", r.get("action")) for r in replies(transport)], [[0], [1], "overloaded"])

    def test_unavailable_while_stopping(self) -> None:
        factory = make_factory()
        factory.stopping = True
        protocol, transport = connect(factory)
        protocol.dataReceived(request(1) + b"\n")
        self.assertEqual(replies(transport)[0]["code"], "unavailable")

    def test_unavailable_when_pool_stopped(self) -> None:
        pool = ManualPool()
        protocol, transport = connect(make_factory(pool))
        protocol.dataReceived(request(1, id=3) + b"\n")
        pool.fail(PoolStopped("stopped"))
        self.assertEqual(replies(transport), [{"error": "the server is stopping", "code": "unavailable", "id": 3}])

    def test_internal(self) -> None:
        pool = ManualPool()
        protocol, transport = connect(make_factory(pool))
        protocol.dataReceived(request(1) + b"\n")
        pool.fail(RuntimeError("model exploded"))
        self.assertEqual(replies(transport)[0]["code"], "internal")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        protocol.dataReceived(request(2) + b"\n")
        pool.release()
        self.assertEqual(replies(transport)[1]["action"], [2])

    def test_line_too_long_closes_after_pending_replies(self) -> None:
        pool = ManualPool()
        factory = make_factory(pool, max_line_bytes=100)
        protocol, transport = connect(factory)
        protocol.dataReceived(request(1) + b"\n" + b"x" * 200 + b"\n" + request(2) + b"\n")
        self.assertFalse(transport.disconnecting)
        pool.release()
        reply, error = replies(transport)
        self.assertEqual(reply["action"], [1])
        self.assertEqual(error["code"], "line_too_long")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(pool.batches), 1, "nothing after the long line is served")

    def test_unterminated_long_line(self) -> None:
        protocol, transport = connect(make_factory(max_line_bytes=100))
        protocol.dataReceived(b"y" * 150)
        self.assertEqual(replies(transport)[0]["code"], "line_too_long")
        self.assertTrue(transport.disconnecting)


class FlowControlTests(SynchronousTestCase):
    def test_stops_reading_at_max_inflight(self) -> None:
        pool = ManualPool()
        factory = make_factory(pool, max_inflight=2)
        protocol, transport = connect(factory)
        protocol.dataReceived(b"".join(request(i) + b"\n" for i in range(5)))
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(factory.metrics.requests, 2, "only two requests were read")
        pool.release()
        self.assertEqual(len(replies(transport)), 1)
        self.assertEqual(factory.metrics.requests, 3)
        while pool.pending:
            pool.release()
        self.assertEqual([r["action"] for r in replies(transport)], [[i] for i in range(5)])
        self.assertEqual(transport.producerState, "producing")

    def test_client_not_reading_stops_being_read(self) -> None:
        protocol, transport = connect(make_factory())
        self.assertIs(transport.producer, protocol)
        protocol.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        protocol.dataReceived(request(1) + b"\n" + request(2) + b"\n")
        self.assertEqual(transport.value(), b"", "no request is served while the client is not reading")
        protocol.resumeProducing()
        self.assertEqual([r["action"] for r in replies(transport)], [[1], [2]])
        self.assertEqual(transport.producerState, "producing")


class ArbitraryInputTests(SynchronousTestCase):
    @given(
        st.lists(st.one_of(
            st.binary(max_size=40),
            st.sampled_from([request(1), request(2, id="a"), b"\n", b"\r\n", b"{}", b"[", b'{"obs": [[1]]}']),
        ), max_size=12),
        st.lists(st.integers(min_value=1, max_value=30), max_size=8),
    )
    def test_arbitrary_bytes_give_well_formed_replies(self, pieces: list[bytes], cuts: list[int]) -> None:
        factory = make_factory(max_line_bytes=120)
        protocol, transport = connect(factory)
        data = b"".join(pieces)
        position = 0
        for cut in cuts:
            protocol.dataReceived(data[position:position + cut])
            position += cut
        protocol.dataReceived(data[position:])
        lines = replies(transport)
        for reply in lines:
            if "action" in reply:
                fields = {"action", "logProb", "entropy", "values", "probs", "extensionResults"}
                self.assertEqual(set(reply) - {"id"}, fields)
            else:
                self.assertIn(reply["code"], ERROR_CODES)
                self.assertIsInstance(reply["error"], str)
        if not transport.disconnecting:
            self.assertEqual(len(lines), data.count(b"\n"))


class DisconnectTests(SynchronousTestCase):
    def test_reply_after_disconnect_is_dropped(self) -> None:
        pool = ManualPool()
        factory = make_factory(pool)
        protocol, transport = connect(factory)
        other, other_transport = connect(factory)
        protocol.dataReceived(request(1) + b"\n")
        other.dataReceived(request(2) + b"\n")
        protocol.connectionLost(Failure(ConnectionDone()))
        transport.clear()
        pool.release()
        pool.release()
        self.assertEqual(transport.value(), b"")
        self.assertEqual(replies(other_transport)[0]["action"], [2])
        self.assertEqual(factory.metrics.connections, 1)
