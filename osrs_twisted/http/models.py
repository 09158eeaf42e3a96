"""``GET /models``: the policy models this process loaded (and skipped)."""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest

from osrs_twisted.http.routing import app, json_response
from osrs_twisted.http.state import ApiState

#: The document when no registry was given (a process that loads no models).
NO_MODELS: dict[str, Any] = {"default": None, "models": [], "skipped": []}


class ModelRoutes(ApiState):
    @app.route("/models", methods=["GET"])
    def list_models(self, request: IRequest) -> bytes:
        body = NO_MODELS if self.models is None else self.models.describe()
        return json_response(request, body)
