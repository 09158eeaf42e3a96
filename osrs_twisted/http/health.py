"""``GET /health``, ``GET /health/live`` and ``GET /health/ready`` (docs/operations.md)."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.render import health_json, readiness_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.readiness import ReadinessRegistry


class HealthRoutes:
    """Each component's own check, combined; 503 when the process is failing."""

    health: HealthRegistry
    readiness: ReadinessRegistry

    @route("/health", methods=["GET"])
    def get_health(self, request: IRequest) -> bytes:
        report = self.health.report()
        return json_response(request, health_json(report), report.http_status)

    @route("/health/live", methods=["GET"])
    def get_live(self, request: IRequest) -> bytes:
        return json_response(request, {"status": "ok"})

    @route("/health/ready", methods=["GET"])
    def get_ready(self, request: IRequest) -> bytes:
        """200 once everything this process serves has started; 503 with the reasons before."""
        readiness = self.readiness.report()
        return json_response(request, readiness_json(readiness), readiness.http_status)
