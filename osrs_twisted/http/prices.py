"""Market views over the catalog: ``/prices/latest``, ``/prices/flips``,
``/prices/alchs``. Rankings are sorted once per catalog refresh; a request
only filters (staleness depends on the clock) and takes the first few."""

from __future__ import annotations

from itertools import islice
from typing import Mapping

from twisted.web.iweb import IRequest

from osrs_twisted.http.query import query_bool, query_choice, query_ids, query_int, query_limit
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState
from osrs_twisted.market.gex import is_stale
from osrs_twisted.market.snapshot import Entry, FlipRanking

MARKET_DEFAULT_LIMIT = 20

#: ``GET /prices/flips?sort=`` value → the snapshot's ranking, default first.
FLIP_SORTS: Mapping[str, FlipRanking] = {
    "margin": "margin",
    "roi": "roi",
    "limitProfit": "limit_profit",
    "volume": "volume",
}


class PriceRoutes(ApiState):
    """Latest prices of chosen items, the best flips and the best alchs."""

    @route("/prices/latest", methods=["GET"])
    def latest_prices(self, request: IRequest) -> bytes:
        ids = query_ids(request, "ids", self.settings.max_limit)
        snapshot = self.snapshot()
        items = snapshot.items
        found = self.items_json(snapshot, [items[i] for i in dict.fromkeys(ids) if i in items])
        return json_response(request, {"items": found})

    @route("/prices/flips", methods=["GET"])
    def flips(self, request: IRequest) -> bytes:
        sort = query_choice(request, "sort", tuple(FLIP_SORTS), "margin")
        min_volume = query_int(request, "minVolume") or 0
        members = query_bool(request, "members")
        max_price = query_int(request, "maxPrice", minimum=1)
        limit = query_limit(request, MARKET_DEFAULT_LIMIT, self.settings.max_limit)
        now, stale_after = self.now(), self.settings.stale_after

        def wanted(entry: Entry) -> bool:
            price = entry.price
            assert price is not None and price.low is not None
            return (
                not is_stale(price.high_time, price.low_time, now, stale_after)
                and entry.volume_24h >= min_volume
                and (members is None or entry.item.members == members)
                and (max_price is None or price.low <= max_price)
            )

        snapshot = self.snapshot()
        chosen = list(islice(filter(wanted, snapshot.flips[FLIP_SORTS[sort]]), limit))
        return json_response(request, {"items": self.items_json(snapshot, chosen)})

    @route("/prices/alchs", methods=["GET"])
    def alchs(self, request: IRequest) -> bytes:
        limit = query_limit(request, MARKET_DEFAULT_LIMIT, self.settings.max_limit)
        snapshot = self.snapshot()
        chosen = list(islice(snapshot.alchs, limit))
        items = self.items_json(snapshot, chosen)
        for body, entry in zip(items, chosen, strict=True):
            body["price"]["alchProfit"] = entry.alch_profit
        return json_response(request, {"items": items})
