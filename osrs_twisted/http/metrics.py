"""``GET /metrics``: the process's metrics in the Prometheus text format (docs/metrics.md)."""

from __future__ import annotations

from prometheus_client.registry import CollectorRegistry
from twisted.web.iweb import IRequest

from osrs_twisted.http.routing import route
from osrs_twisted.telemetry.collector import CONTENT_TYPE, exposition


class MetricsRoutes:
    """Renders the registry on every scrape; the counters behind it are read then."""

    metrics_registry: CollectorRegistry

    @route("/metrics", methods=["GET"])
    def get_metrics(self, request: IRequest) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE.encode("ascii"))
        return exposition(self.metrics_registry)
