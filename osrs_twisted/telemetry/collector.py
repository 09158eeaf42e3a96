"""Render a :class:`~osrs_twisted.telemetry.snapshot.MetricsSnapshot` through
``prometheus_client``, and the per-service registry ``/metrics`` serves."""

from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from osrs_twisted.telemetry.snapshot import Buckets, Family, MetricsSnapshot

#: The ``Content-Type`` of :func:`exposition`'s output.
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Names start with this (docs/metrics.md).
PREFIX = "osrs_"


def render_family(family: Family) -> Metric:
    """One family as the ``prometheus_client`` metric family of its kind."""
    name, doc, labels = PREFIX + family.name, family.documentation, list(family.label_names)
    if family.kind == "info":
        info = InfoMetricFamily(name, doc, labels=[])
        for sample in family.samples:
            info.add_metric([], dict(zip(family.label_names, sample.labels, strict=True)))
        return info
    if family.kind == "histogram":
        histogram = HistogramMetricFamily(name, doc, labels=labels)
        for sample in family.samples:
            value = sample.value
            assert isinstance(value, Buckets), f"{family.name}: a histogram sample needs buckets"
            buckets = [(floatToGoString(bound), count) for bound, count in value.cumulative()]
            histogram.add_metric(list(sample.labels), buckets, value.total)
        return histogram
    numbers = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
    metric = numbers(name, doc, labels=labels)
    for sample in family.samples:
        assert not isinstance(sample.value, Buckets), f"{family.name}: a {family.kind} sample needs a number"
        metric.add_metric(list(sample.labels), sample.value)
    return metric


class SnapshotCollector(Collector):
    """Reads a fresh snapshot on every scrape and renders it."""

    def __init__(self, snapshot: Callable[[], MetricsSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        for family in self._snapshot().families:
            yield render_family(family)


def service_registry(snapshot: Callable[[], MetricsSnapshot]) -> CollectorRegistry:
    """A registry of its own (never the global default): the process,
    platform and garbage-collector metrics ``prometheus_client`` reports by
    default, and the snapshot's."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    registry.register(SnapshotCollector(snapshot))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)
