"""The seed server's paths, kept with the seed's exact shapes (seed-compat.md):
snake_case fields, ISO 8601 times and ``{"detail": ...}`` errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Optional

import orjson
from twisted.web.iweb import IRequest

from osrs_twisted.http.body import read_body
from osrs_twisted.http.errors import ApiError
from osrs_twisted.http.query import parse_int, required_str
from osrs_twisted.http.routing import app, json_response
from osrs_twisted.http.state import ApiState
from osrs_twisted.records import Heartbeat, LatestPrice


def iso_z(timestamp: Optional[int]) -> Optional[str]:
    """Unix seconds as UTC ISO 8601 with a ``Z``, as the seed wrote them."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_mean(a: Optional[int], b: Optional[int]) -> Optional[int]:
    """The integer mean (rounded down) of the values present."""
    present = [v for v in (a, b) if v is not None]
    return sum(present) // len(present) if present else None


def seed_price(price: LatestPrice) -> dict[str, Any]:
    return {
        "item_source_id": price.item_id,
        "high_price": price.high,
        "high_timestamp": iso_z(price.high_time),
        "low_price": price.low,
        "low_timestamp": iso_z(price.low_time),
        "average_price": floor_mean(price.high, price.low),
        "average_timestamp": iso_z(floor_mean(price.high_time, price.low_time)),
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_xp(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _is_int(v) for k, v in value.items())


#: The heartbeat's known optional fields and what each must be (null is allowed).
HEARTBEAT_FIELDS: Mapping[str, tuple[str, Callable[[Any], bool]]] = {
    "timestamp": ("an integer", _is_int),
    "task": ("a string", lambda v: isinstance(v, str)),
    "hp": ("an integer", _is_int),
    "x": ("an integer", _is_int),
    "y": ("an integer", _is_int),
    "plane": ("an integer", _is_int),
    "inCombat": ("a boolean", lambda v: isinstance(v, bool)),
    "inventoryCount": ("an integer", _is_int),
    "runEnergy": ("a number", _is_number),
    "xpGained": ("an object of skill names to integers", _is_xp),
}


def heartbeat_problem(payload: Any) -> Optional[str]:
    """Why ``payload`` is not a heartbeat, or None when it is one."""
    if not isinstance(payload, dict):
        return "expected a JSON object"
    instance_id = payload.get("instanceId")
    if not isinstance(instance_id, str) or not instance_id:
        return "instanceId must be a non-empty string"
    for name, (what, valid) in HEARTBEAT_FIELDS.items():
        value = payload.get(name)
        if value is not None and not valid(value):
            return f"{name} must be {what}"
    return None


def _invalid_payload(message: str) -> ApiError:
    return ApiError(400, f"Invalid payload format: {message}", seed_style=True)


class SeedRoutes(ApiState):
    """``/items/search``, ``/items/current-price`` and ``POST /healthcheck``."""

    @app.route("/items/search", methods=["GET"])
    def seed_search(self, request: IRequest) -> bytes:
        name = required_str(request, "name", seed_style=True)
        entry = self.snapshot().by_exact_name.get(name.strip().lower())
        if entry is None:
            raise ApiError(404, f"Item {name} not found", seed_style=True)
        item = entry.item
        body = {
            "id": item.id,
            "source_id": item.id,
            "name": item.name,
            "is_members": item.members,
            "low_alch_price": item.lowalch,
            "high_alch_price": item.highalch,
            "ge_buy_limit": item.limit,
            "examine_text": item.examine,
            "item_type": "UNKNOWN",
        }
        return json_response(request, body)

    @app.route("/items/current-price", methods=["GET"])
    def seed_current_price(self, request: IRequest) -> bytes:
        raw = required_str(request, "item_source_id", seed_style=True)
        item_id = parse_int(raw, "item_source_id", 0, seed_style=True)
        entry = self.snapshot().items.get(item_id)
        if entry is None or entry.figures is None or entry.price is None:
            raise ApiError(404, f"No price for item {item_id}", seed_style=True)
        return json_response(request, seed_price(entry.price))

    @app.route("/healthcheck", methods=["POST"])
    async def seed_healthcheck(self, request: IRequest) -> bytes:
        try:
            raw = read_body(request, self.settings.max_body_bytes, seed_style=True)
        except ApiError as e:
            if e.status == 400:
                raise _invalid_payload(e.message) from None
            raise
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise _invalid_payload(f"not JSON ({e})") from None
        problem = heartbeat_problem(payload)
        if problem is not None:
            raise _invalid_payload(problem)
        heartbeat = Heartbeat(payload["instanceId"], payload, received_at=self.now())
        await self.require_store().add_heartbeat(heartbeat)
        return json_response(request, {"status": "ok"})
