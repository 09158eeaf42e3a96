"""``/actions``: money-making actions with their live economics, and their CRUD.

Reads are open and answered from the catalog (actions and prices in
memory). Writes take the admin rule of ``/tasks`` and are validated
strictly: a bad value is a 400 naming its field, and nothing is stored.
The seed's paths (``GET /actions/`` with its slash, ``/actions/{id}``,
``/actions/name/{name}``) answer snake_case shapes and ``{"detail"}`` errors.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import ApiError, InvalidParameter, not_found
from osrs_twisted.http.fleet import FleetState, field_error, json_body, known_item_ids
from osrs_twisted.http.query import query_bool, query_choice, query_str
from osrs_twisted.http.render import Json, action_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.seed import seed_action, seed_errors
from osrs_twisted.http.tasks import require_admin
from osrs_twisted.market.actions import Action, parse_action
from osrs_twisted.market.allocation import PricedAction, fleet_capacity
from osrs_twisted.market.command import price_stored, with_limits_left
from osrs_twisted.market.economics import ActionEconomics, price_action
from osrs_twisted.market.validation import MAX_TEXT, FieldError
from osrs_twisted.store.interface import ActionExists, StoredAction

#: ``GET /actions?sort=`` value → the figure ranked on, best (highest) first; default first.
ACTION_SORTS: Mapping[str, Callable[[ActionEconomics], Optional[float]]] = {
    "profitPerHour": lambda e: e.profit_per_hour,
    "profit": lambda e: e.profit,
    "gpPerXp": lambda e: e.gp_per_xp,
}


def query_account(request: IRequest) -> Optional[str]:
    """``account``: whose buy limits the limit figures use."""
    account = query_str(request, "account")
    if account is not None and not 0 < len(account.strip()) <= MAX_TEXT:
        raise InvalidParameter(f"account must be a non-empty name of at most {MAX_TEXT} characters")
    return account


class ActionRoutes(FleetState):
    """The actions, their figures, and the operators' edits."""

    async def priced_actions(self, account: Optional[str]) -> list[tuple[StoredAction, PricedAction, PricedAction]]:
        """Each stored action with its figures for the fleet and for ``account``
        (limit figures from what that account has left; the fleet's when None)."""
        catalog, snapshot, now = self.require_catalog(), self.snapshot(), self.now()
        actions = catalog.actions
        fleet = self.board.priced(snapshot, actions, now)
        mine = fleet
        if account is not None:
            left = await self.left_of(account, snapshot, now)
            quotes = with_limits_left(self.board.quotes(snapshot), left)
            mine = price_stored(actions, quotes, now, self.settings.stale_after)
        return list(zip(actions, fleet, mine, strict=True))

    def render_action(self, stored: StoredAction, fleet: PricedAction, mine: PricedAction) -> Json:
        catalog = self.require_catalog()
        plan = self.board.plan(self.snapshot(), catalog.actions, catalog.assignments, catalog.pins, self.now())
        bots, _reason = fleet_capacity(fleet, self.settings.allocator)
        return action_json(stored, mine, bots, plan.load.get(stored.action.name, 0))

    def render_written(self, stored: StoredAction) -> Json:
        """An action just written, priced as it was stored (the catalog may not have reloaded yet)."""
        snapshot = self.snapshot()
        priced = PricedAction(
            stored.action,
            price_action(stored.action, self.board.quotes(snapshot), self.now(), self.settings.stale_after),
        )
        return self.render_action(stored, priced, priced)

    async def find_action(self, name: str, account: Optional[str]) -> Json:
        for stored, fleet, mine in await self.priced_actions(account):
            if stored.action.name == name:
                return self.render_action(stored, fleet, mine)
        raise not_found(f"no action named {name!r}")

    def parse_body(self, request: IRequest) -> Action:
        body = json_body(request, self.settings.max_body_bytes)
        try:
            return parse_action(body, known_item_ids(self.snapshot()))
        except FieldError as e:
            raise field_error(e) from None

    @route("/actions", methods=["GET"])
    async def actions_list(self, request: IRequest) -> bytes:
        sort = ACTION_SORTS[query_choice(request, "sort", tuple(ACTION_SORTS), "profitPerHour")]
        members = query_bool(request, "members")
        account = query_account(request)
        chosen = [
            row for row in await self.priced_actions(account) if members is None or row[0].action.members == members
        ]

        def rank(row: tuple[StoredAction, PricedAction, PricedAction]) -> tuple[bool, float, str]:
            value = sort(row[2].economics)
            return (value is None, -(value or 0), row[0].action.name)

        chosen.sort(key=rank)
        return json_response(request, {"actions": [self.render_action(*row) for row in chosen]})

    @route("/actions/<name>", methods=["GET"])
    async def actions_one(self, request: IRequest, name: str) -> bytes:
        return json_response(request, await self.find_action(name, query_account(request)))

    @route("/actions", methods=["POST"])
    async def actions_create(self, request: IRequest) -> bytes:
        require_admin(request, self.settings.admin_token)
        action = self.parse_body(request)
        try:
            stored = await self.require_store().create_action(action, self.now())
        except ActionExists as e:
            raise ApiError(409, f"{e}; replace it with PUT /actions/{e.name}", extra={"field": "name"}) from None
        await self.require_catalog().settled()
        return json_response(request, self.render_written(stored), 201)

    @route("/actions/<name>", methods=["PUT"])
    async def actions_replace(self, request: IRequest, name: str) -> bytes:
        require_admin(request, self.settings.admin_token)
        action = self.parse_body(request)
        if action.name != name:
            raise field_error(FieldError("name", f"must be the name in the path ({name}), not {action.name}"))
        stored = await self.require_store().replace_action(action, self.now())
        if stored is None:
            raise not_found(f"no action named {name!r}; create it with POST /actions")
        await self.require_catalog().settled()
        return json_response(request, self.render_written(stored))

    @route("/actions/<name>", methods=["DELETE"])
    async def actions_delete(self, request: IRequest, name: str) -> bytes:
        require_admin(request, self.settings.admin_token)
        if not await self.require_store().delete_action(name):
            raise not_found(f"no action named {name!r}")
        await self.require_catalog().settled()
        return json_response(request, {"name": name, "deleted": True})

    # the seed's paths

    def seed_actions(self, wanted: Callable[[StoredAction], bool]) -> list[dict[str, Any]]:
        catalog, snapshot, now = self.require_catalog(), self.snapshot(), self.now()
        actions: Sequence[StoredAction] = catalog.actions
        priced = self.board.priced(snapshot, actions, now)
        return [seed_action(s, p.economics) for s, p in zip(actions, priced, strict=True) if wanted(s)]

    def seed_one(self, wanted: Callable[[StoredAction], bool], what: str) -> dict[str, Any]:
        found = self.seed_actions(wanted)
        if not found:
            raise not_found(f"Action {what} not found")
        return found[0]

    @route("/actions/", methods=["GET"])
    @seed_errors
    def seed_actions_list(self, request: IRequest) -> bytes:
        return json_response(request, self.seed_actions(lambda _: True))

    @route("/actions/<int:action_id>", methods=["GET"])
    @seed_errors
    def seed_action_by_id(self, request: IRequest, action_id: int) -> bytes:
        return json_response(request, self.seed_one(lambda s: s.id == action_id, str(action_id)))

    @route("/actions/name/<name>", methods=["GET"])
    @seed_errors
    def seed_action_by_name(self, request: IRequest, name: str) -> bytes:
        return json_response(request, self.seed_one(lambda s: s.action.name == name, name))
