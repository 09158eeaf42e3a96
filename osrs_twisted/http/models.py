"""``GET /models``: the policy models this process loaded (and skipped)."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.http.render import models_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState


class ModelRoutes(ApiState):
    @route("/models", methods=["GET"])
    def list_models(self, request: IRequest) -> bytes:
        return json_response(request, models_json(self.models))
