"""Counters of the inference path, read by ``/health`` (rendered in
``http/render.py``) and benchmarks.

Plain integers and fixed histograms updated on the reactor thread: cheap
enough for every request, bounded in memory however long the server runs.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Sequence

import attrs

from osrs_twisted.inference.errors import ErrorCode

#: Upper bounds (ms) of the latency histogram's buckets; the last is open.
LATENCY_BOUNDS_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 600, 1000, 5000)
#: Upper bounds of the batch-size histogram's buckets.
BATCH_BOUNDS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@attrs.define
class Histogram:
    """Counts per bucket of fixed upper bounds, plus count, sum and max."""

    bounds: Sequence[float]
    counts: list[int] = attrs.field(init=False)
    count: int = 0
    total: float = 0.0
    maximum: float = 0.0

    def __attrs_post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value
        if value > self.maximum:
            self.maximum = value

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile ``q`` (an over-estimate)."""
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for bound, count in zip(self.bounds, self.counts[: len(self.bounds)], strict=True):
            seen += count
            if seen >= rank:
                return min(bound, self.maximum)
        return self.maximum


@attrs.define
class InferenceMetrics:
    """What the TCP side has done since start."""

    connections: int = 0
    requests: int = 0
    replies: int = 0
    errors: Counter[str] = attrs.field(factory=Counter)
    queued: int = 0
    max_queued: int = 0
    batches: Histogram = attrs.field(factory=lambda: Histogram(BATCH_BOUNDS))
    latency_ms: Histogram = attrs.field(factory=lambda: Histogram(LATENCY_BOUNDS_MS))

    def error(self, code: ErrorCode) -> None:
        self.errors[code] += 1

    def set_queued(self, depth: int) -> None:
        self.queued = depth
        if depth > self.max_queued:
            self.max_queued = depth
