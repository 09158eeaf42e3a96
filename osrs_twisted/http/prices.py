"""Market views over the catalog: ``/prices/latest``, ``/prices/flips``,
``/prices/alchs``. Rankings are sorted once per catalog refresh; a request
only filters (staleness depends on the clock) and takes the first few."""

from __future__ import annotations

from itertools import islice

from twisted.web.iweb import IRequest

from osrs_twisted.catalog import FLIP_SORTS, Entry
from osrs_twisted.gex import is_stale
from osrs_twisted.http.items import render_item
from osrs_twisted.http.query import query_bool, query_choice, query_ids, query_int, query_limit
from osrs_twisted.http.routing import app, json_response
from osrs_twisted.http.state import ApiState

MARKET_DEFAULT_LIMIT = 20


class PriceRoutes(ApiState):
    """Latest prices of chosen items, the best flips and the best alchs."""

    @app.route("/prices/latest", methods=["GET"])
    def latest_prices(self, request: IRequest) -> bytes:
        ids = query_ids(request, "ids", self.settings.max_limit)
        items = self.snapshot().items
        now, stale_after = self.now(), self.settings.stale_after
        found = [render_item(items[i], now, stale_after) for i in dict.fromkeys(ids) if i in items]
        return json_response(request, {"items": found})

    @app.route("/prices/flips", methods=["GET"])
    def flips(self, request: IRequest) -> bytes:
        sort = query_choice(request, "sort", FLIP_SORTS, "margin")
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
                and entry.volume24h >= min_volume
                and (members is None or entry.item.members == members)
                and (max_price is None or price.low <= max_price)
            )

        chosen = islice(filter(wanted, self.snapshot().flips[sort]), limit)
        return json_response(request, {"items": [render_item(e, now, stale_after) for e in chosen]})

    @app.route("/prices/alchs", methods=["GET"])
    def alchs(self, request: IRequest) -> bytes:
        limit = query_limit(request, MARKET_DEFAULT_LIMIT, self.settings.max_limit)
        now, stale_after = self.now(), self.settings.stale_after
        items = []
        for entry in islice(self.snapshot().alchs, limit):
            body = render_item(entry, now, stale_after)
            body["price"]["alchProfit"] = entry.alch_profit
            items.append(body)
        return json_response(request, {"items": items})
