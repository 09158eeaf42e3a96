"""``GET /items``, ``GET /items/{id}`` and ``GET /items/{id}/prices``.

Item reads come from the in-memory catalog; only the price history, which is
large and rarely read, goes to the store.
"""

from __future__ import annotations

from typing import Optional

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import ApiError, not_found
from osrs_twisted.http.query import parse_int, query_bool, query_choice, query_int, query_limit, query_offset, query_str
from osrs_twisted.http.render import buckets_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState
from osrs_twisted.market.snapshot import Entry, Snapshot
from osrs_twisted.records import TIMESTEPS

ITEMS_DEFAULT_LIMIT = 20
HISTORY_DEFAULT_LIMIT = 100


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


class ItemRoutes(ApiState):
    """The item catalog and each item's price history."""

    @route("/items", methods=["GET"])
    def list_items(self, request: IRequest) -> bytes:
        limit = query_limit(request, ITEMS_DEFAULT_LIMIT, self.settings.max_limit)
        offset = query_offset(request)
        members = query_bool(request, "members")
        snapshot = self.snapshot()
        matches = search(snapshot, query_str(request, "q") or "", members)
        page = self.items_json(snapshot, matches[offset : offset + limit])
        return json_response(request, {"items": page, "total": len(matches)})

    @route("/items/<item_id>", methods=["GET"])
    def get_item(self, request: IRequest, item_id: str) -> bytes:
        snapshot = self.snapshot()
        entry = find_entry(snapshot, parse_item_id(item_id))
        body = self.rendered.item(snapshot, entry, self.now(), self.settings.stale_after)
        return json_response(request, body)

    @route("/items/<item_id>/prices", methods=["GET"])
    async def item_history(self, request: IRequest, item_id: str) -> bytes:
        entry = find_entry(self.snapshot(), parse_item_id(item_id))
        timestep = query_choice(request, "timestep", TIMESTEPS, "5m")
        since = query_int(request, "since")
        until = query_int(request, "until")
        if since is not None and until is not None and since > until:
            raise ApiError(400, f"since ({since}) must not be after until ({until})")
        limit = query_limit(request, HISTORY_DEFAULT_LIMIT, self.settings.max_limit)
        buckets = await self.require_store().price_history(entry.item.id, timestep, since, until, limit)
        body = {"id": entry.item.id, "timestep": timestep, "buckets": buckets_json(buckets)}
        return json_response(request, body)
