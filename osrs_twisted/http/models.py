"""``/models``: the policy models this process serves (and skipped), and
reloading them (an admin action, with the rule of ``POST /tasks/{job}/run``)."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import ApiError
from osrs_twisted.http.render import models_json, reload_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState
from osrs_twisted.http.tasks import require_admin


class ModelRoutes(ApiState):
    @route("/models", methods=["GET"])
    def list_models(self, request: IRequest) -> bytes:
        return json_response(request, models_json(self.models))

    @route("/models/reload", methods=["POST"])
    async def reload_models(self, request: IRequest) -> bytes:
        """Answers once the reload is done (a reload already running is
        followed by one more, which this request waits for)."""
        require_admin(request, self.settings.admin_token)
        if self.reloader is None:
            raise ApiError(503, "this process loads no models")
        return json_response(request, reload_json(await self.reloader.reload("http")))
