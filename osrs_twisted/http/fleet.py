"""What the bot command routes share: the catalog's actions, assignments
and pins, the derived-state caches, and each bot's profile and each
account's buys read from the store at most once per change of them."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Mapping, Optional

import attrs
import orjson
from twisted.web.iweb import IRequest

from osrs_twisted.http.body import read_body
from osrs_twisted.http.errors import ApiError
from osrs_twisted.http.state import ApiState
from osrs_twisted.market.allocation import BotProfile, profile_from_heartbeat
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.market.command import LEDGER_HORIZON, CommandBoard, GenerationMemo
from osrs_twisted.market.ledger import LimitLeft, Trade, account_limits
from osrs_twisted.market.snapshot import Snapshot
from osrs_twisted.market.validation import FieldError
from osrs_twisted.store.interface import TOPIC_HEARTBEATS, TOPIC_TRADES, StoreUnavailable


@attrs.frozen
class KnownBot:
    """A bot as the command routes see it: its profile, and whether it ever
    sent a heartbeat or reported a trade."""

    profile: BotProfile
    seen: bool


def field_error(error: FieldError) -> ApiError:
    """A 400 naming the field at fault (``field`` joins the body)."""
    return ApiError(400, str(error), extra={"field": error.field})


def json_body(request: IRequest, limit: int) -> Any:
    """The request's JSON body (gzip accepted); bad JSON is a 400 naming ``body``."""
    raw = read_body(request, limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise field_error(FieldError("body", f"is not valid JSON: {e}")) from None


def known_item_ids(snapshot: Snapshot) -> Optional[Mapping[int, Any]]:
    """The ids new actions and trades are checked against; ``None`` (no
    check) while the catalog holds no items yet, as on a first start before
    the item sync."""
    return snapshot.items or None


class FleetState(ApiState):
    """Mixin of the command routes (actions, trades, limits, task)."""

    @cached_property
    def board(self) -> CommandBoard:
        return CommandBoard(self.settings.allocator, self.settings.stale_after)

    @cached_property
    def _bots(self) -> GenerationMemo[str, KnownBot]:
        return GenerationMemo()

    @cached_property
    def _buys(self) -> GenerationMemo[str, list[Trade]]:
        return GenerationMemo()

    def require_catalog(self) -> Catalog:
        if self.catalog is None:
            raise StoreUnavailable("this process has no item catalog")
        return self.catalog

    async def known_bot(self, instance_id: str) -> KnownBot:
        """The bot's profile from its newest heartbeat; its account is the
        heartbeat's ``account``, else that of its newest trade, else its
        instance id."""
        catalog = self.require_catalog()
        generation = (catalog.generations.get(TOPIC_HEARTBEATS, 0), catalog.generations.get(TOPIC_TRADES, 0))
        cached = self._bots.get(instance_id, generation)
        if cached is not None:
            return cached
        store = self.require_store()
        heartbeats = await store.heartbeats_for(instance_id, 1)
        payload = heartbeats[0].payload if heartbeats else {}
        profile = profile_from_heartbeat(instance_id, payload)
        seen = bool(heartbeats)
        account = payload.get("account")
        if not (isinstance(account, str) and account):
            traded = await store.instance_account(instance_id)
            if traded is not None:
                profile = attrs.evolve(profile, account=traded)
                seen = True
        bot = KnownBot(profile, seen)
        self._bots.put(instance_id, generation, bot)
        return bot

    async def limits_of(self, account: str, snapshot: Snapshot, now: int) -> dict[int, LimitLeft]:
        """What ``account`` has left of each item it bought in an open window."""
        generation = self.require_catalog().generations.get(TOPIC_TRADES, 0)
        buys = self._buys.get(account, generation)
        if buys is None:
            buys = await self.require_store().account_buys(account, now - LEDGER_HORIZON)
            self._buys.put(account, generation, buys)
        items = snapshot.items
        item_limits = {t.item_id: items[t.item_id].item.limit if t.item_id in items else None for t in buys}
        return account_limits(buys, item_limits, now)

    async def left_of(self, account: str, snapshot: Snapshot, now: int) -> dict[int, Optional[int]]:
        """``limits_of`` as the allocator and the economics take it: item id → left."""
        return {item_id: left.left for item_id, left in (await self.limits_of(account, snapshot, now)).items()}
