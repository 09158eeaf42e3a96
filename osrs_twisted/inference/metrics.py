"""Counters of the inference path, read by ``/health`` (rendered in
``http/render.py``), ``/metrics`` (``telemetry/sources.py``) and benchmarks.

Plain integers and fixed histograms updated on the reactor thread: cheap
enough for every request, bounded in memory however long the server runs.
Per-model figures are keyed by loaded model names only, so their number is
bounded by the models, whatever clients send.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Optional, Sequence

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


def _latency_histogram() -> Histogram:
    return Histogram(LATENCY_BOUNDS_MS)


def _batch_histogram() -> Histogram:
    return Histogram(BATCH_BOUNDS)


@attrs.define
class ModelFigures:
    """One model's share: requests answered, and where their time went (the
    split Triton reports: waiting for a batch, then inside ``predict``)."""

    #: Requests answered with the model's reply.
    ok: int = 0
    #: Rows per batch this model ran.
    batch_size: Histogram = attrs.field(factory=_batch_histogram)
    #: Per request: from submission to its batch's dispatch.
    queue_wait_ms: Histogram = attrs.field(factory=_latency_histogram)
    #: Per batch: time inside ``predict``, measured on the model thread.
    compute_ms: Histogram = attrs.field(factory=_latency_histogram)


@attrs.define
class InferenceMetrics:
    """What the TCP side has done since start."""

    connections: int = 0
    requests: int = 0
    replies: int = 0
    errors: Counter[str] = attrs.field(factory=Counter)
    queued: int = 0
    max_queued: int = 0
    batches: Histogram = attrs.field(factory=_batch_histogram)
    latency_ms: Histogram = attrs.field(factory=_latency_histogram)
    #: Loaded model name → its figures.
    models: dict[str, ModelFigures] = attrs.field(factory=dict)
    #: (model name, code) → errors; the name is ``""`` when the request
    #: failed before naming a loaded model.
    model_errors: Counter[tuple[str, str]] = attrs.field(factory=Counter)

    def model(self, name: str) -> ModelFigures:
        """``name``'s figures, created on its first batch."""
        figures = self.models.get(name)
        if figures is None:
            figures = self.models[name] = ModelFigures()
        return figures

    def error(self, code: ErrorCode, model: Optional[str] = None) -> None:
        self.errors[code] += 1
        self.model_errors[(model or "", code)] += 1

    def set_queued(self, depth: int) -> None:
        self.queued = depth
        if depth > self.max_queued:
            self.max_queued = depth
