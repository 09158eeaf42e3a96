"""``GET /bots`` and ``GET /bots/{instanceId}``: the heartbeats bots post to
``/healthcheck``, read back from the store, with each bot's assignment and pin."""

from __future__ import annotations

from typing import Optional

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import not_found
from osrs_twisted.http.query import query_limit
from osrs_twisted.http.render import Json, bot_history_json, bot_json, command_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState

BOT_HISTORY_DEFAULT_LIMIT = 50


class BotRoutes(ApiState):
    """Each bot's newest heartbeat, and one bot's recent ones."""

    def bot_command(self, instance_id: str, now: int) -> Optional[Json]:
        """The bot's assignment and pin as the catalog holds them (none without bot command)."""
        if self.catalog is None:
            return None
        return command_json(self.catalog.assignments.get(instance_id), self.catalog.pins.get(instance_id), now)

    @route("/bots", methods=["GET"])
    async def list_bots(self, request: IRequest) -> bytes:
        heartbeats = await self.require_store().latest_heartbeats()
        now = self.now()
        bots = [bot_json(h, now, self.bot_command(h.instance_id, now)) for h in heartbeats]
        return json_response(request, {"bots": bots})

    @route("/bots/<instance_id>", methods=["GET"])
    async def bot_history(self, request: IRequest, instance_id: str) -> bytes:
        limit = query_limit(request, BOT_HISTORY_DEFAULT_LIMIT, self.settings.max_limit)
        heartbeats = await self.require_store().heartbeats_for(instance_id, limit)
        command = self.bot_command(instance_id, self.now())
        if not heartbeats and not command:
            raise not_found(f"no heartbeat from instance {instance_id!r}")
        return json_response(request, bot_history_json(instance_id, heartbeats, command))
