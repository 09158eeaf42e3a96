"""Market views over the catalog: ``/prices/latest``, ``/prices/flips``,
``/prices/alchs``. Rankings are sorted once per catalog refresh; a request
only filters (staleness depends on the clock) and takes the first few.
With ``?account=`` the flips' ``limitProfit`` uses what that account has
left of each item's buy limit (and ``sort=limitProfit`` ranks on it)."""

from __future__ import annotations

from itertools import islice
from typing import Mapping, Optional, Sequence

from twisted.web.iweb import IRequest

from osrs_twisted.http.actions import query_account
from osrs_twisted.http.fleet import FleetState
from osrs_twisted.http.query import query_bool, query_choice, query_ids, query_int, query_limit
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.market.gex import is_stale, limit_profit
from osrs_twisted.market.snapshot import Entry, FlipRanking

MARKET_DEFAULT_LIMIT = 20

#: ``GET /prices/flips?sort=`` value → the snapshot's ranking, default first.
FLIP_SORTS: Mapping[str, FlipRanking] = {
    "margin": "margin",
    "roi": "roi",
    "limitProfit": "limit_profit",
    "volume": "volume",
}


class PriceRoutes(FleetState):
    """Latest prices of chosen items, the best flips and the best alchs."""

    @route("/prices/latest", methods=["GET"])
    def latest_prices(self, request: IRequest) -> bytes:
        ids = query_ids(request, "ids", self.settings.max_limit)
        snapshot = self.snapshot()
        items = snapshot.items
        found = self.items_json(snapshot, [items[i] for i in dict.fromkeys(ids) if i in items])
        return json_response(request, {"items": found})

    @route("/prices/flips", methods=["GET"])
    async def flips(self, request: IRequest) -> bytes:
        sort = query_choice(request, "sort", tuple(FLIP_SORTS), "margin")
        account = query_account(request)
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
        if account is None:
            chosen = list(islice(filter(wanted, snapshot.flips[FLIP_SORTS[sort]]), limit))
            return json_response(request, {"items": self.items_json(snapshot, chosen)})
        left = await self.left_of(account, snapshot, now)

        def limit_left(entry: Entry) -> Optional[int]:
            item_id = entry.item.id
            return left[item_id] if left.get(item_id) is not None else entry.item.limit

        def account_limit_profit(entry: Entry) -> Optional[int]:
            return limit_profit(None if entry.figures is None else entry.figures.margin, limit_left(entry))

        ranked: Sequence[Entry] = snapshot.flips[FLIP_SORTS[sort]]
        if sort == "limitProfit":
            ranked = sorted(ranked, key=lambda e: (account_limit_profit(e) is None, -(account_limit_profit(e) or 0)))
        chosen = list(islice(filter(wanted, ranked), limit))
        items = self.items_json(snapshot, chosen)
        for body, entry in zip(items, chosen, strict=True):
            body["price"]["limitProfit"] = account_limit_profit(entry)
        return json_response(request, {"items": items})

    @route("/prices/alchs", methods=["GET"])
    def alchs(self, request: IRequest) -> bytes:
        limit = query_limit(request, MARKET_DEFAULT_LIMIT, self.settings.max_limit)
        snapshot = self.snapshot()
        chosen = list(islice(snapshot.alchs, limit))
        items = self.items_json(snapshot, chosen)
        for body, entry in zip(items, chosen, strict=True):
            body["price"]["alchProfit"] = entry.alch_profit
        return json_response(request, {"items": items})
