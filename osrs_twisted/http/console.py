"""The console's own JSON (docs/console.md): the fleet with liveness and XP
per hour, one bot's XP series, the inference history ring, and movers.

Reads only: the pages under ``/ui/`` poll these routes and the ordinary API.
"""

from __future__ import annotations

from itertools import islice
from typing import Optional

from twisted.web.iweb import IRequest

from osrs_twisted.console.fleet import Thresholds, XpRates, xp_per_hour, xp_series
from osrs_twisted.console.history import HistorySampler
from osrs_twisted.http.errors import InvalidParameter, not_found
from osrs_twisted.http.query import query_int, query_limit
from osrs_twisted.http.render import console_bot_json, fleet_json, inference_history_json, movers_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState
from osrs_twisted.market.gex import is_stale
from osrs_twisted.market.movers import Mover, rank_movers, split_movers
from osrs_twisted.market.snapshot import Snapshot

CONSOLE_BOT_HISTORY_LIMIT = 200
MOVERS_DEFAULT_LIMIT = 10


class MoversCache:
    """The movers ranking of one catalog snapshot (a new snapshot, after
    any change of prices or buckets, ranks again from the store's newest
    24 h buckets)."""

    def __init__(self) -> None:
        self.snapshot: Optional[Snapshot] = None
        self.ranked: tuple[Mover, ...] = ()


class ConsoleRoutes(ApiState):
    """``/console/...``: what the console pages need beyond the plain API."""

    inference: Optional[HistorySampler]
    xp_rates: XpRates
    movers_cache: MoversCache

    def thresholds(self, request: IRequest) -> Thresholds:
        """The server's liveness thresholds, or the request's ``lateAfter`` / ``goneAfter``."""
        late = query_int(request, "lateAfter", minimum=1)
        gone = query_int(request, "goneAfter", minimum=1)
        try:
            return Thresholds(
                late_after=self.settings.console_late_after if late is None else late,
                gone_after=self.settings.console_gone_after if gone is None else gone,
            )
        except ValueError as e:
            raise InvalidParameter(str(e)) from None

    @route("/console/fleet", methods=["GET"])
    async def console_fleet(self, request: IRequest) -> bytes:
        thresholds = self.thresholds(request)
        heartbeats = await self.require_store().latest_heartbeats()
        rates = self.xp_rates.observe(heartbeats)
        return json_response(request, fleet_json(heartbeats, rates, thresholds, self.now()))

    @route("/console/bots/<path:instance_id>", methods=["GET"])
    async def console_bot(self, request: IRequest, instance_id: str) -> bytes:
        thresholds = self.thresholds(request)
        limit = query_limit(request, CONSOLE_BOT_HISTORY_LIMIT, self.settings.max_limit)
        heartbeats = await self.require_store().heartbeats_for(instance_id, limit)
        if not heartbeats:
            raise not_found(f"no heartbeat from instance {instance_id!r}")
        series = xp_series(heartbeats)
        body = console_bot_json(instance_id, heartbeats, series, xp_per_hour(series), thresholds, self.now())
        return json_response(request, body)

    @route("/console/inference-history", methods=["GET"])
    def console_inference_history(self, request: IRequest) -> bytes:
        return json_response(request, inference_history_json(self.inference))

    @route("/console/movers", methods=["GET"])
    async def console_movers(self, request: IRequest) -> bytes:
        limit = query_limit(request, MOVERS_DEFAULT_LIMIT, self.settings.max_limit)
        min_volume = query_int(request, "minVolume") or 0
        snapshot = self.snapshot()
        cache = self.movers_cache
        if cache.snapshot is not snapshot:
            buckets = await self.require_store().newest_buckets("24h")
            cache.snapshot, cache.ranked = snapshot, rank_movers(snapshot, buckets)
        now, stale_after = self.now(), self.settings.stale_after

        def wanted(mover: Mover) -> bool:
            price = mover.entry.price
            assert price is not None
            return mover.entry.volume_24h >= min_volume and not is_stale(
                price.high_time, price.low_time, now, stale_after
            )

        risers, fallers = split_movers([m for m in cache.ranked if wanted(m)])
        body = movers_json(list(islice(risers, limit)), list(islice(fallers, limit)))
        return json_response(request, body)
