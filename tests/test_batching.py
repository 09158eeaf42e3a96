"""Cross-connection batching with fake pools: lone requests go at once,
waiting ones leave together, results find their own connection."""

from __future__ import annotations

from typing import Union

from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.inference.batching import Batcher, Overloaded
from osrs_twisted.inference.metrics import InferenceMetrics
from tests.inference_fakes import FakeModel, FakeRow, ManualPool, SynchronousPool, request
from tests.test_inference_protocol import connect, make_factory, replies


def row(value: float) -> FakeRow:
    return FakeRow(value, True)


class Outcome:
    """Collects what the batcher delivers for one request."""

    def __init__(self) -> None:
        self.results: list[Union[bytes, Failure]] = []

    def __call__(self, result: Union[bytes, Failure]) -> None:
        self.results.append(result)

    @property
    def line(self) -> bytes:
        [result] = self.results
        assert isinstance(result, bytes), result
        return result


def submit(batcher: Batcher, model: FakeModel, value: float) -> Outcome:
    outcome = Outcome()
    batcher.submit(model, row(value), outcome)
    return outcome


class BatcherTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.pool = ManualPool()
        self.clock = Clock()
        self.metrics = InferenceMetrics()
        self.model = FakeModel("m")

    def batcher(self, max_batch: int = 256, max_queued: int = 100) -> Batcher:
        return Batcher(self.pool.run_batch, self.clock, self.metrics, max_batch, max_queued)

    def test_lone_request_goes_at_once(self) -> None:
        batcher = Batcher(SynchronousPool().run_batch, self.clock, self.metrics, 256, 100)
        self.assertIn(b'"action":[4]', submit(batcher, self.model, 4).line)

    def test_waiting_requests_leave_in_one_batch(self) -> None:
        batcher = self.batcher()
        first = submit(batcher, self.model, 0)
        rest = [submit(batcher, self.model, i) for i in range(1, 6)]
        self.assertEqual([len(rows) for _, rows in self.pool.batches], [1])
        self.assertEqual(batcher.queued, 5)
        self.assertEqual(rest[0].results, [])
        self.pool.release()
        self.assertIn(b'"action":[0]', first.line)
        self.assertEqual([len(rows) for _, rows in self.pool.batches], [1, 5])
        self.pool.release()
        for i, outcome in enumerate(rest, start=1):
            self.assertIn(b'"action":[%d]' % i, outcome.line)
        self.assertEqual(self.metrics.batches.count, 2)
        self.assertEqual(self.metrics.batches.maximum, 5)
        self.assertEqual(self.metrics.latency_ms.count, 6)

    def test_max_batch(self) -> None:
        batcher = self.batcher(max_batch=2)
        for i in range(6):
            submit(batcher, self.model, i)
        while self.pool.pending:
            self.pool.release()
        self.assertEqual([len(rows) for _, rows in self.pool.batches], [1, 2, 2, 1])

    def test_models_batch_separately_oldest_first(self) -> None:
        other = FakeModel("other")
        batcher = self.batcher()
        for model, value in ((self.model, 0), (other, 1), (self.model, 2), (other, 3)):
            submit(batcher, model, value)
            self.clock.advance(0.001)
        while self.pool.pending:
            self.pool.release()
        self.assertEqual(
            [(name, [r.value for r in rows]) for name, rows in self.pool.batches],
            [("m", [0]), ("other", [1, 3]), ("m", [2])],
        )

    def test_bound_on_queued(self) -> None:
        batcher = self.batcher(max_queued=2)
        for value in (0, 1, 2):
            submit(batcher, self.model, value)
        self.assertRaises(Overloaded, submit, batcher, self.model, 3)
        self.pool.release()
        submit(batcher, self.model, 3)

    def test_failure_reaches_its_batch_only(self) -> None:
        batcher = self.batcher()
        first = submit(batcher, self.model, 0)
        second = submit(batcher, self.model, 1)
        self.pool.fail(RuntimeError("boom"))
        [failure] = first.results
        assert isinstance(failure, Failure)
        failure.trap(RuntimeError)
        self.pool.release()
        self.assertIn(b'"action":[1]', second.line)

    def test_drained(self) -> None:
        batcher = self.batcher()
        self.successResultOf(batcher.drained())
        submit(batcher, self.model, 0)
        submit(batcher, self.model, 1)
        drained = batcher.drained()
        self.assertNoResult(drained)
        self.pool.release()
        self.assertNoResult(drained)
        self.pool.release()
        self.successResultOf(drained)


class ConnectionsShareBatchesTests(SynchronousTestCase):
    def test_many_connections_one_batch_results_routed(self) -> None:
        pool = ManualPool()
        factory = make_factory(pool)
        connections = [connect(factory) for _ in range(6)]
        for i, (protocol, _) in enumerate(connections):
            protocol.dataReceived(request(10 + i, id=i) + b"\n" + request(20 + i) + b"\n")
        self.assertEqual([len(rows) for _, rows in pool.batches], [1])
        pool.release()
        self.assertEqual([len(rows) for _, rows in pool.batches], [1, 11])
        pool.release()
        for i, (_, transport) in enumerate(connections):
            first, second = replies(transport)
            self.assertEqual((first["action"], first["id"]), ([10 + i], i))
            self.assertEqual(second["action"], [20 + i])
            self.assertNotIn("id", second)
        self.assertEqual(factory.metrics.replies, 12)
