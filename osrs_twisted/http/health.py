"""``GET /health`` and ``GET /health/live`` (configuration.md)."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.routing import app, json_response


class HealthRoutes:
    """Each component's own check, combined; 503 when the process is failing."""

    health: HealthRegistry

    @app.route("/health", methods=["GET"])
    def get_health(self, request: IRequest) -> bytes:
        report = self.health.report()
        return json_response(request, report.to_json(), report.http_status)

    @app.route("/health/live", methods=["GET"])
    def get_live(self, request: IRequest) -> bytes:
        return json_response(request, {"status": "ok"})
