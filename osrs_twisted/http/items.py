"""``GET /items``, ``GET /items/{id}`` and ``GET /items/{id}/prices``.

Item reads come from the in-memory catalog; only the price history, which is
large and rarely read, goes to the store.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from twisted.web.iweb import IRequest

from osrs_twisted.catalog import Entry, Snapshot
from osrs_twisted.gex import is_stale
from osrs_twisted.http.errors import ApiError, not_found
from osrs_twisted.http.query import parse_int, query_bool, query_choice, query_int, query_limit, query_offset, query_str
from osrs_twisted.http.routing import app, json_response
from osrs_twisted.http.state import ApiState
from osrs_twisted.records import TIMESTEPS, PriceBucket

ITEMS_DEFAULT_LIMIT = 20
HISTORY_DEFAULT_LIMIT = 100


def render_price(entry: Entry, now: int, stale_after: int) -> Optional[dict[str, Any]]:
    """The ``price`` object: the refresh's figures with ``stale`` as of now."""
    if entry.figures is None or entry.price is None:
        return None
    price = dict(entry.figures)
    price["stale"] = is_stale(entry.price.high_time, entry.price.low_time, now, stale_after)
    return price


def render_item(entry: Entry, now: int, stale_after: int) -> dict[str, Any]:
    body = dict(entry.fields)
    body["price"] = render_price(entry, now, stale_after)
    return body


def parse_item_id(raw: str) -> int:
    return parse_int(raw, "item id", 0)


def find_entry(snapshot: Snapshot, item_id: int) -> Entry:
    entry = snapshot.items.get(item_id)
    if entry is None:
        raise not_found(f"no item with id {item_id}")
    return entry


def search(snapshot: Snapshot, query: str, members: Optional[bool]) -> list[Entry]:
    """Names containing ``query`` (case-insensitive): exact, then prefix, then
    substring matches, each by name; every item when ``query`` is empty."""
    needle = query.strip().lower()
    ranked: list[tuple[int, Entry]] = []
    for entry in snapshot.by_name:
        if members is not None and entry.item.members != members:
            continue
        key = entry.name_key
        if key == needle:
            ranked.append((0, entry))
        elif key.startswith(needle):
            ranked.append((1, entry))
        elif needle in key:
            ranked.append((2, entry))
    ranked.sort(key=lambda pair: pair[0])
    return [entry for _, entry in ranked]


def render_buckets(buckets: Sequence[PriceBucket]) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": b.timestamp,
            "avgHighPrice": b.avg_high,
            "avgLowPrice": b.avg_low,
            "highPriceVolume": b.high_volume,
            "lowPriceVolume": b.low_volume,
        }
        for b in buckets
    ]


class ItemRoutes(ApiState):
    """The item catalog and each item's price history."""

    @app.route("/items", methods=["GET"])
    def list_items(self, request: IRequest) -> bytes:
        limit = query_limit(request, ITEMS_DEFAULT_LIMIT, self.settings.max_limit)
        offset = query_offset(request)
        members = query_bool(request, "members")
        matches = search(self.snapshot(), query_str(request, "q") or "", members)
        now = self.now()
        page = [render_item(e, now, self.settings.stale_after) for e in matches[offset : offset + limit]]
        return json_response(request, {"items": page, "total": len(matches)})

    @app.route("/items/<item_id>", methods=["GET"])
    def get_item(self, request: IRequest, item_id: str) -> bytes:
        entry = find_entry(self.snapshot(), parse_item_id(item_id))
        return json_response(request, render_item(entry, self.now(), self.settings.stale_after))

    @app.route("/items/<item_id>/prices", methods=["GET"])
    async def item_history(self, request: IRequest, item_id: str) -> bytes:
        entry = find_entry(self.snapshot(), parse_item_id(item_id))
        timestep = query_choice(request, "timestep", TIMESTEPS, "5m")
        since = query_int(request, "since")
        until = query_int(request, "until")
        if since is not None and until is not None and since > until:
            raise ApiError(400, f"since ({since}) must not be after until ({until})")
        limit = query_limit(request, HISTORY_DEFAULT_LIMIT, self.settings.max_limit)
        buckets = await self.require_store().price_history(entry.item.id, timestep, since, until, limit)
        body = {"id": entry.item.id, "timestep": timestep, "buckets": render_buckets(buckets)}
        return json_response(request, body)
