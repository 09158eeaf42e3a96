"""``GET /health`` and ``GET /health/live`` (docs/operations.md)."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.render import health_json
from osrs_twisted.http.routing import json_response, route


class HealthRoutes:
    """Each component's own check, combined; 503 when the process is failing."""

    health: HealthRegistry

    @route("/health", methods=["GET"])
    def get_health(self, request: IRequest) -> bytes:
        report = self.health.report()
        return json_response(request, health_json(report), report.http_status)

    @route("/health/live", methods=["GET"])
    def get_live(self, request: IRequest) -> bytes:
        return json_response(request, {"status": "ok"})
