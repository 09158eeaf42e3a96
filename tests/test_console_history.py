"""The inference history ring: intervals derived from cumulative counters,
bounded in size, sampled on a clock."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.console.history import Counters, HistorySampler, InferenceHistory, interval_quantile
from osrs_twisted.inference.metrics import LATENCY_BOUNDS_MS, InferenceMetrics


def traffic(metrics: InferenceMetrics, requests: int, latency_ms: float, batch: int) -> None:
    """``requests`` answered requests, each taking ``latency_ms``, in batches of ``batch`` rows."""
    metrics.requests += requests
    metrics.replies += requests
    for _ in range(requests):
        metrics.latency_ms.add(latency_ms)
    for _ in range(requests // batch):
        metrics.batches.add(batch)


class IntervalQuantileTests(SynchronousTestCase):
    def test_bucket_upper_bounds(self) -> None:
        bounds = (1.0, 2.0, 5.0)
        self.assertEqual(interval_quantile(bounds, [10, 0, 0, 0], 0.5, 0.0), 1.0)
        self.assertEqual(interval_quantile(bounds, [50, 0, 49, 1], 0.5, 9.0), 1.0)
        self.assertEqual(interval_quantile(bounds, [50, 0, 49, 1], 0.99, 9.0), 5.0)
        self.assertEqual(interval_quantile(bounds, [0, 0, 0, 4], 0.5, 9.0), 9.0, "the open bucket answers the max")

    def test_no_requests_is_none(self) -> None:
        self.assertIsNone(interval_quantile((1.0,), [0, 0], 0.5, 0.0))


class InferenceHistoryTests(SynchronousTestCase):
    def test_an_interval_counts_only_its_own_requests(self) -> None:
        metrics = InferenceMetrics()
        history = InferenceHistory(LATENCY_BOUNDS_MS)
        traffic(metrics, 1000, 400.0, 10)
        self.assertIsNone(history.record(Counters.read(metrics, 100.0)), "the first sample has nothing before it")
        traffic(metrics, 50, 1.5, 5)
        metrics.error("overloaded")
        metrics.error("overloaded")
        metrics.connections = 7
        point = history.record(Counters.read(metrics, 105.0))
        assert point is not None
        self.assertEqual(point.requests_per_second, 10.0)
        self.assertEqual(point.replies_per_second, 10.0)
        self.assertEqual(point.errors, {"overloaded": 2})
        self.assertEqual(point.errors_per_second, 0.4)
        self.assertEqual((point.latency_p50_ms, point.latency_p99_ms), (2.0, 2.0), "the slow past is not in it")
        self.assertEqual(point.batch_mean, 5.0)
        self.assertEqual(point.connections, 7)
        self.assertEqual(list(history), [point])

    def test_an_idle_interval_has_no_latency(self) -> None:
        metrics = InferenceMetrics()
        history = InferenceHistory(LATENCY_BOUNDS_MS)
        history.record(Counters.read(metrics, 0.0))
        point = history.record(Counters.read(metrics, 5.0))
        assert point is not None
        self.assertEqual((point.requests_per_second, point.latency_p50_ms, point.batch_mean), (0.0, None, None))

    def test_the_ring_keeps_the_newest(self) -> None:
        metrics = InferenceMetrics()
        history = InferenceHistory(LATENCY_BOUNDS_MS, capacity=3)
        for second in range(10):
            traffic(metrics, second, 1.0, 1)
            history.record(Counters.read(metrics, float(second)))
        self.assertEqual([p.at for p in history], [7.0, 8.0, 9.0])
        self.assertEqual([p.requests_per_second for p in history], [7.0, 8.0, 9.0])

    def test_counters_that_went_back_are_skipped(self) -> None:
        history = InferenceHistory(LATENCY_BOUNDS_MS)
        busy = InferenceMetrics()
        traffic(busy, 10, 1.0, 1)
        history.record(Counters.read(busy, 0.0))
        self.assertIsNone(history.record(Counters.read(InferenceMetrics(), 5.0)))
        self.assertEqual(len(history), 0)

    def test_capacity_must_be_positive(self) -> None:
        self.assertRaises(ValueError, InferenceHistory, LATENCY_BOUNDS_MS, 0)


class HistorySamplerTests(SynchronousTestCase):
    def test_samples_every_interval_until_stopped(self) -> None:
        clock = Clock()
        metrics = InferenceMetrics()
        sampler = HistorySampler(metrics, clock, interval=5.0, capacity=100)
        sampler.startService()
        for _ in range(4):
            traffic(metrics, 25, 1.0, 5)
            clock.advance(5)
        self.assertEqual([p.at for p in sampler.history], [5.0, 10.0, 15.0, 20.0])
        self.assertEqual({p.requests_per_second for p in sampler.history}, {5.0})
        sampler.stopService()
        clock.advance(50)
        self.assertEqual(len(sampler.history), 4)
        self.assertFalse(clock.getDelayedCalls())
