"""The inference counters over the last minutes: a bounded ring of samples.

:class:`InferenceHistory` is pure: given the cumulative counters at two
moments it derives what happened in between (requests per second, the
latency quantiles of that interval alone, the mean batch size).
:class:`HistorySampler` feeds it from a ``LoopingCall`` on the injected
clock, every few seconds, reading plain integers the TCP side already keeps:
nothing is added to the request path.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterator, Mapping, Optional, Sequence

import attrs
from twisted.application.service import Service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from osrs_twisted.inference.metrics import InferenceMetrics

log = Logger()

#: Seconds between two samples.
DEFAULT_INTERVAL = 5.0
#: Samples kept: 30 minutes at the default interval.
DEFAULT_CAPACITY = 360


@attrs.frozen
class Counters:
    """The cumulative counters at one moment (copied, never aliased)."""

    at: float
    requests: int
    replies: int
    errors: Mapping[str, int]
    connections: int
    queue_depth: int
    batch_counts: tuple[int, ...]
    batch_count: int
    batch_total: float
    latency_counts: tuple[int, ...]
    latency_max: float

    @classmethod
    def read(cls, metrics: InferenceMetrics, at: float) -> "Counters":
        return cls(
            at=at,
            requests=metrics.requests,
            replies=metrics.replies,
            errors=dict(metrics.errors),
            connections=metrics.connections,
            queue_depth=metrics.queued,
            batch_counts=tuple(metrics.batches.counts),
            batch_count=metrics.batches.count,
            batch_total=metrics.batches.total,
            latency_counts=tuple(metrics.latency_ms.counts),
            latency_max=metrics.latency_ms.maximum,
        )


@attrs.frozen
class HistoryPoint:
    """What happened between two samples, stamped with the later one."""

    at: float
    seconds: float
    requests_per_second: float
    replies_per_second: float
    errors_per_second: float
    #: Errors by code in this interval (codes with none left out).
    errors: Mapping[str, int]
    #: Upper bounds of the buckets holding the quantile (None: no request).
    latency_p50_ms: Optional[float]
    latency_p99_ms: Optional[float]
    batch_mean: Optional[float]
    connections: int
    queue_depth: int


def interval_quantile(bounds: Sequence[float], counts: Sequence[int], q: float, open_max: float) -> Optional[float]:
    """The upper bound of the bucket holding quantile ``q`` of ``counts``
    (one more count than bounds: the last bucket is open and answers
    ``open_max``, the largest value seen); None when ``counts`` are all 0."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bound, count in zip(bounds, counts, strict=False):
        seen += count
        if seen >= rank:
            return float(bound)
    return max(open_max, float(bounds[-1]) if bounds else 0.0)


def _deltas(new: Sequence[int], old: Sequence[int]) -> list[int]:
    return [a - b for a, b in zip(new, old, strict=True)]


def point_between(old: Counters, new: Counters, latency_bounds: Sequence[float]) -> Optional[HistoryPoint]:
    """The interval from ``old`` to ``new``; None when it is empty or the
    counters went back (a new metrics object: nothing can be said)."""
    seconds = new.at - old.at
    latency = _deltas(new.latency_counts, old.latency_counts)
    if seconds <= 0 or new.requests < old.requests or new.batch_count < old.batch_count or min(latency) < 0:
        return None
    errors = {code: n - old.errors.get(code, 0) for code, n in new.errors.items() if n > old.errors.get(code, 0)}
    batches = new.batch_count - old.batch_count
    return HistoryPoint(
        at=new.at,
        seconds=seconds,
        requests_per_second=(new.requests - old.requests) / seconds,
        replies_per_second=(new.replies - old.replies) / seconds,
        errors_per_second=sum(errors.values()) / seconds,
        errors=errors,
        latency_p50_ms=interval_quantile(latency_bounds, latency, 0.5, new.latency_max),
        latency_p99_ms=interval_quantile(latency_bounds, latency, 0.99, new.latency_max),
        batch_mean=(new.batch_total - old.batch_total) / batches if batches else None,
        connections=new.connections,
        queue_depth=new.queue_depth,
    )


class InferenceHistory:
    """The newest ``capacity`` interval points of one metrics object."""

    def __init__(self, latency_bounds: Sequence[float], capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.latency_bounds = tuple(latency_bounds)
        self.capacity = capacity
        self._points: deque[HistoryPoint] = deque(maxlen=capacity)
        self._last: Optional[Counters] = None

    def record(self, counters: Counters) -> Optional[HistoryPoint]:
        """Add the interval since the previous sample (none for the first)."""
        previous, self._last = self._last, counters
        if previous is None:
            return None
        point = point_between(previous, counters, self.latency_bounds)
        if point is not None:
            self._points.append(point)
        return point

    def __iter__(self) -> Iterator[HistoryPoint]:
        return iter(tuple(self._points))

    def __len__(self) -> int:
        return len(self._points)


class HistorySampler(Service):
    """Samples ``metrics`` into ``history`` every ``interval`` seconds on ``clock``."""

    name = "inference-history"

    def __init__(
        self,
        metrics: InferenceMetrics,
        clock: IReactorTime,
        interval: float = DEFAULT_INTERVAL,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.metrics = metrics
        self.clock = clock
        self.interval = interval
        self.history = InferenceHistory(metrics.latency_ms.bounds, capacity)
        self._loop: Optional[LoopingCall] = None

    def sample(self) -> None:
        """Read the counters once (the loop's body; never raises)."""
        try:
            self.history.record(Counters.read(self.metrics, self.clock.seconds()))
        except Exception:
            log.failure("inference history: a sample failed")

    def startService(self) -> None:
        super().startService()
        loop = LoopingCall(self.sample)
        loop.clock = self.clock
        self._loop = loop
        loop.start(self.interval, now=True)

    def stopService(self) -> Any:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        return super().stopService()
