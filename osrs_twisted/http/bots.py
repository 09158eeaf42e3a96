"""``GET /bots`` and ``GET /bots/{instanceId}``: the heartbeats bots post to
``/healthcheck``, read back from the store."""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import not_found
from osrs_twisted.http.query import query_limit
from osrs_twisted.http.routing import app, json_response
from osrs_twisted.http.state import ApiState

BOT_HISTORY_DEFAULT_LIMIT = 50


class BotRoutes(ApiState):
    """Each bot's newest heartbeat, and one bot's recent ones."""

    @app.route("/bots", methods=["GET"])
    async def list_bots(self, request: IRequest) -> bytes:
        heartbeats = await self.require_store().latest_heartbeats()
        now = self.now()
        bots = [
            {
                "instanceId": h.instance_id,
                "receivedAt": h.received_at,
                "ageSeconds": max(0, now - h.received_at),
                "state": h.payload,
            }
            for h in heartbeats
        ]
        return json_response(request, {"bots": bots})

    @app.route("/bots/<instance_id>", methods=["GET"])
    async def bot_history(self, request: IRequest, instance_id: str) -> bytes:
        limit = query_limit(request, BOT_HISTORY_DEFAULT_LIMIT, self.settings.max_limit)
        heartbeats = await self.require_store().heartbeats_for(instance_id, limit)
        if not heartbeats:
            raise not_found(f"no heartbeat from instance {instance_id!r}")
        body = {
            "instanceId": instance_id,
            "heartbeats": [{"receivedAt": h.received_at, "state": h.payload} for h in heartbeats],
        }
        return json_response(request, body)
