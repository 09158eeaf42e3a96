"""``POST /trades`` and ``GET /bots/{id}/limits``: the fleet's buy-limit ledger.

Bots report Grand Exchange fills, each under a trade id of their own; the
store records each (instance id, trade id) once, so a retried report never
counts twice and a retry with other content is refused (409) naming what
differs. A report is one transaction: one bad trade stores none.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import ApiError, not_found
from osrs_twisted.http.fleet import FleetState, field_error, json_body, known_item_ids
from osrs_twisted.http.render import limits_json, receipt_json
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.market.ledger import TradeConflict, parse_trade_report
from osrs_twisted.market.validation import FieldError


class TradeRoutes(FleetState):
    """Trade reports in, limits left out."""

    @route("/trades", methods=["POST"])
    async def trades_report(self, request: IRequest) -> bytes:
        body = json_body(request, self.settings.max_body_bytes)
        now = self.now()
        try:
            trades = parse_trade_report(body, known_item_ids(self.snapshot()), now)
        except FieldError as e:
            raise field_error(e) from None
        try:
            receipt = await self.require_store().record_trades(trades, now)
        except TradeConflict as e:
            extra = {"tradeId": e.stored.trade_id, "instanceId": e.stored.instance_id, "fields": list(e.fields)}
            raise ApiError(409, str(e), extra=extra) from None
        return json_response(request, receipt_json(receipt))

    @route("/bots/<path:instance_id>/limits", methods=["GET"])
    async def bot_limits(self, request: IRequest, instance_id: str) -> bytes:
        snapshot, now = self.snapshot(), self.now()
        bot = await self.known_bot(instance_id)
        if not bot.seen:
            raise not_found(f"no heartbeat or trade from instance {instance_id!r}")
        account = bot.profile.account
        limits = await self.limits_of(account, snapshot, now)
        return json_response(request, limits_json(instance_id, account, limits, snapshot))
