"""The seed server's paths, kept with the seed's exact shapes (docs/http-api.md):
snake_case fields, ISO 8601 times and ``{"detail": ...}`` errors."""

from __future__ import annotations

import functools
import inspect
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping, Optional, ParamSpec, TypeVar

import orjson
from twisted.web.iweb import IRequest

from osrs_twisted.http.body import read_body
from osrs_twisted.http.errors import ApiError, SeedError, as_seed_error, not_found
from osrs_twisted.http.query import parse_int, required_str
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState
from osrs_twisted.market.actions import ItemAmount
from osrs_twisted.market.allocation import Assignment
from osrs_twisted.market.economics import ActionEconomics
from osrs_twisted.records import Heartbeat, LatestPrice
from osrs_twisted.store.interface import StoredAction

P = ParamSpec("P")
R = TypeVar("R")


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


def _seed_amounts(amounts: tuple[ItemAmount, ...]) -> list[dict[str, int]]:
    return [{"item_source_id": amount.item_id, "quantity": amount.quantity} for amount in amounts]


def seed_action(stored: StoredAction, economics: ActionEconomics) -> dict[str, Any]:
    """An action on the seed's ``/actions/`` paths: snake_case, item ids as
    ``item_source_id``, with its figures at today's prices (null when unknown)."""
    action = stored.action
    requirements = action.requirements
    return {
        "id": stored.id,
        "name": action.name,
        "type": action.type,
        "params": action.params,
        "inputs": _seed_amounts(action.inputs),
        "outputs": _seed_amounts(action.outputs),
        "requirements": {
            "skills": dict(requirements.skills),
            "items": sorted(requirements.items),
            "quests": sorted(requirements.quests),
        },
        "actions_per_hour": action.actions_per_hour,
        "experience": dict(action.experience),
        "is_members": action.members,
        "cost": economics.cost,
        "revenue": economics.revenue,
        "profit": economics.profit,
        "profit_per_hour": economics.profit_per_hour,
        "gp_per_xp": economics.gp_per_xp,
    }


def seed_task(assignment: Assignment, task_type: str, now: int) -> dict[str, Any]:
    """``GET /task/``: the seed's ``{"task", "params"}``, where ``task`` is
    what a bot's task builder switches on (the action's type), plus the
    action's unique ``name``, where the answer came from, when to ask again
    and, for ``IDLE``, why."""
    return {
        "task": task_type,
        "params": assignment.params,
        "name": assignment.task,
        "source": assignment.source,
        "expires_at": iso_z(assignment.expires_at),
        "expires_in": max(0, assignment.expires_at - now),
        "reason": assignment.reason,
        "quota": assignment.quota,
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


def seed_errors(handler: Callable[P, R]) -> Callable[P, R]:
    """Answer every :class:`ApiError` that escapes ``handler`` (a plain or an
    ``async`` route) in the seed's ``{"detail": ...}`` shape."""

    async def awaited(result: Awaitable[Any]) -> Any:
        try:
            return await result
        except ApiError as e:
            raise as_seed_error(e) from None

    @functools.wraps(handler)
    def shaped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = handler(*args, **kwargs)
        except ApiError as e:
            raise as_seed_error(e) from None
        if inspect.iscoroutine(result):
            return awaited(result)  # type: ignore[return-value]
        return result

    return shaped


def _invalid_payload(message: str) -> SeedError:
    return SeedError(400, f"Invalid payload format: {message}")


class SeedRoutes(ApiState):
    """``/items/search``, ``/items/current-price`` and ``POST /healthcheck``."""

    @route("/items/search", methods=["GET"])
    @seed_errors
    def seed_search(self, request: IRequest) -> bytes:
        name = required_str(request, "name")
        entry = self.snapshot().by_exact_name.get(name.strip().lower())
        if entry is None:
            raise not_found(f"Item {name} not found")
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

    @route("/items/current-price", methods=["GET"])
    @seed_errors
    def seed_current_price(self, request: IRequest) -> bytes:
        item_id = parse_int(required_str(request, "item_source_id"), "item_source_id", 0)
        entry = self.snapshot().items.get(item_id)
        if entry is None or entry.figures is None or entry.price is None:
            raise not_found(f"No price for item {item_id}")
        return json_response(request, seed_price(entry.price))

    @route("/healthcheck", methods=["POST"])
    @seed_errors
    async def seed_healthcheck(self, request: IRequest) -> bytes:
        try:
            raw = read_body(request, self.settings.max_body_bytes)
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
        self.recent_bots.saw(heartbeat.instance_id, heartbeat.received_at)
        return json_response(request, {"status": "ok"})
