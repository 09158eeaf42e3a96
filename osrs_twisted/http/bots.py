"""``GET /bots`` and ``GET /bots/{instanceId}``: the heartbeats bots post to
``/healthcheck``, read back from the store."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import not_found
from osrs_twisted.http.query import query_limit
from osrs_twisted.http.render import bot_history_json, bot_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState

BOT_HISTORY_DEFAULT_LIMIT = 50


class BotRoutes(ApiState):
    """Each bot's newest heartbeat, and one bot's recent ones."""

    @route("/bots", methods=["GET"])
    async def list_bots(self, request: IRequest) -> bytes:
        heartbeats = await self.require_store().latest_heartbeats()
        now = self.now()
        return json_response(request, {"bots": [bot_json(h, now) for h in heartbeats]})

    @route("/bots/<instance_id>", methods=["GET"])
    async def bot_history(self, request: IRequest, instance_id: str) -> bytes:
        limit = query_limit(request, BOT_HISTORY_DEFAULT_LIMIT, self.settings.max_limit)
        heartbeats = await self.require_store().heartbeats_for(instance_id, limit)
        if not heartbeats:
            raise not_found(f"no heartbeat from instance {instance_id!r}")
        return json_response(request, bot_history_json(instance_id, heartbeats))
