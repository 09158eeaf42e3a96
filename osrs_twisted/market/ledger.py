"""The fleet's buy-limit ledger: Grand Exchange fills bots report, and what limit each account has left.

The GE lets an account buy at most an item's limit in a 4-hour window. The
window opens at the first buy made while no window is open and closes
exactly 4 hours later; the next buy after that opens a new one. Sells never
count. Bots report fills with a trade id of their own choosing, unique per
bot, so a report retried after a lost reply is recognised: the same id with
the same content changes nothing, the same id with other content is refused
naming what differs.
"""

from __future__ import annotations

from typing import Any, Collection, Iterable, Literal, Mapping, Optional, Sequence, get_args

import attrs

from osrs_twisted.market.validation import (
    MAX_INT64,
    MAX_QUANTITY,
    FieldError,
    expect_int,
    expect_list,
    expect_object,
    expect_present,
    expect_text,
    field_path,
)

WINDOW_SECONDS = 4 * 3600
"""One buy-limit window."""

MAX_CLOCK_AHEAD = 300
"""How far in the future a bot's clock may stamp a trade before the report is refused."""

MAX_TRADES_PER_REPORT = 1000

Side = Literal["buy", "sell"]
SIDES: tuple[Side, ...] = get_args(Side)

_TRADE_FIELDS = ("tradeId", "instanceId", "account", "itemId", "quantity", "price", "side", "time")
_REPORT_FIELDS = ("trades",)

TradeKey = tuple[str, str]
"""``(instance id, trade id)``: trade ids are unique per bot."""


@attrs.frozen
class Trade:
    """One Grand Exchange fill as a bot reported it."""

    trade_id: str
    instance_id: str
    account: str
    item_id: int
    quantity: int
    #: Gp per item.
    price: int
    side: Side
    #: Unix seconds of the fill.
    time: int

    @property
    def key(self) -> TradeKey:
        return (self.instance_id, self.trade_id)


@attrs.frozen
class LimitLeft:
    """How much of one item's buy limit an account has left."""

    item_id: int
    #: The item's 4-hour limit; ``None`` when unknown (then ``left`` is too).
    limit: Optional[int]
    #: Bought in the open window (0 when none is open).
    bought: int
    left: Optional[int]
    #: When the open window closes; ``None`` when none is open.
    resets_at: Optional[int]


class TradeConflict(Exception):
    """A trade id reported again with different content."""

    def __init__(self, stored: Trade, incoming: Trade, fields: Sequence[str]) -> None:
        was = ", ".join(f"{name} {_field_value(stored, name)!r}" for name in fields)
        now = ", ".join(f"{name} {_field_value(incoming, name)!r}" for name in fields)
        super().__init__(
            f"trade {stored.trade_id!r} of {stored.instance_id!r} was already recorded with {was}, not {now}"
        )
        self.stored = stored
        self.incoming = incoming
        self.fields = tuple(fields)


def open_window(trades: Iterable[Trade], now: int) -> tuple[Optional[int], int]:
    """The open window's start (``None`` if none is open at ``now``) and what was bought in it.

    ``trades`` are one account's trades of one item. Buys stamped after
    ``now`` (a bot clock running ahead) count, so a skewed clock never frees
    limit early.
    """
    start: Optional[int] = None
    bought = 0
    for trade in sorted((t for t in trades if t.side == "buy"), key=lambda t: (t.time, t.trade_id)):
        if start is None or trade.time >= start + WINDOW_SECONDS:
            start = trade.time
            bought = 0
        bought += trade.quantity
    if start is None or now >= start + WINDOW_SECONDS:
        return None, 0
    return start, bought


def limit_left(trades: Iterable[Trade], item_limit: Optional[int], now: int) -> tuple[Optional[int], Optional[int]]:
    """``(left, resets_at)`` for one account and item; ``left`` is ``None`` when the limit is unknown."""
    start, bought = open_window(trades, now)
    return _left(item_limit, bought), _resets_at(start)


def item_limit_left(item_id: int, trades: Iterable[Trade], item_limit: Optional[int], now: int) -> LimitLeft:
    """``LimitLeft`` of ``item_id`` from one account's trades of it."""
    start, bought = open_window(trades, now)
    return LimitLeft(
        item_id=item_id,
        limit=item_limit,
        bought=bought,
        left=_left(item_limit, bought),
        resets_at=_resets_at(start),
    )


def _left(item_limit: Optional[int], bought: int) -> Optional[int]:
    return None if item_limit is None else max(item_limit - bought, 0)


def _resets_at(window_start: Optional[int]) -> Optional[int]:
    return None if window_start is None else window_start + WINDOW_SECONDS


def account_limits(
    trades: Iterable[Trade], item_limits: Mapping[int, Optional[int]], now: int
) -> dict[int, LimitLeft]:
    """``LimitLeft`` for each item one account has bought, by item id.

    Items it never bought have their whole limit left and are not listed.
    """
    by_item: dict[int, list[Trade]] = {}
    for trade in trades:
        if trade.side == "buy":
            by_item.setdefault(trade.item_id, []).append(trade)
    return {
        item_id: item_limit_left(item_id, by_item[item_id], item_limits.get(item_id), now)
        for item_id in sorted(by_item)
    }


def differing_fields(stored: Trade, incoming: Trade) -> tuple[str, ...]:
    """The JSON names of the fields in which two reports of one trade id differ."""
    return tuple(name for name in _TRADE_FIELDS if _field_value(stored, name) != _field_value(incoming, name))


def trades_to_record(stored: Mapping[TradeKey, Trade], incoming: Iterable[Trade]) -> tuple[Trade, ...]:
    """The incoming trades that are new, leaving out retries of stored ones.

    Raises ``TradeConflict`` (nothing is to be written) when any incoming
    trade reuses a stored id with other content.
    """
    fresh: list[Trade] = []
    for trade in incoming:
        known = stored.get(trade.key)
        if known is None:
            fresh.append(trade)
            continue
        fields = differing_fields(known, trade)
        if fields:
            raise TradeConflict(known, trade, fields)
    return tuple(fresh)


def parse_trade(obj: Any, known_item_ids: Optional[Collection[int]], now: int, field: str = "") -> Trade:
    """Read one trade report received at ``now``.

    ``time`` is required, not defaulted to ``now``: a retried report must
    carry the same content to be recognised as a retry.
    """
    body = expect_object(obj, field, _TRADE_FIELDS)
    item_field = field_path(field, "itemId")
    item_id = expect_int(expect_present(body, "itemId", field), item_field, 0)
    if known_item_ids is not None and item_id not in known_item_ids:
        raise FieldError(item_field, f"{item_id} is not a known item id")
    side = expect_present(body, "side", field)
    if side not in SIDES:
        raise FieldError(field_path(field, "side"), "must be \"buy\" or \"sell\"")
    time = expect_int(expect_present(body, "time", field), field_path(field, "time"), 0)
    if time > now + MAX_CLOCK_AHEAD:
        raise FieldError(field_path(field, "time"), f"is more than {MAX_CLOCK_AHEAD} s in the future")
    return Trade(
        trade_id=expect_text(expect_present(body, "tradeId", field), field_path(field, "tradeId")),
        instance_id=expect_text(expect_present(body, "instanceId", field), field_path(field, "instanceId")),
        account=expect_text(expect_present(body, "account", field), field_path(field, "account")),
        item_id=item_id,
        quantity=expect_int(
            expect_present(body, "quantity", field), field_path(field, "quantity"), 1, MAX_QUANTITY
        ),
        price=expect_int(expect_present(body, "price", field), field_path(field, "price"), 0, MAX_INT64),
        side=side,
        time=time,
    )


def parse_trade_report(obj: Any, known_item_ids: Optional[Collection[int]], now: int) -> tuple[Trade, ...]:
    """Read a ``POST /trades`` body: one trade, or ``{"trades": [...]}``.

    A trade id given twice in one report must carry the same content; the
    copy is dropped.
    """
    if not (isinstance(obj, dict) and "trades" in obj):
        return (parse_trade(obj, known_item_ids, now),)
    body = expect_object(obj, "", _REPORT_FIELDS)
    entries = expect_list(body["trades"], "trades", MAX_TRADES_PER_REPORT)
    trades: dict[TradeKey, Trade] = {}
    for index, entry in enumerate(entries):
        where = field_path("trades", index)
        trade = parse_trade(entry, known_item_ids, now, where)
        earlier = trades.get(trade.key)
        if earlier is None:
            trades[trade.key] = trade
        elif earlier != trade:
            fields = ", ".join(differing_fields(earlier, trade))
            raise FieldError(field_path(where, "tradeId"), f"{trade.trade_id!r} is given twice with different {fields}")
    return tuple(trades.values())


def _field_value(trade: Trade, name: str) -> Any:
    return getattr(trade, _ATTRIBUTE_OF[name])


_ATTRIBUTE_OF: Mapping[str, str] = {
    "tradeId": "trade_id",
    "instanceId": "instance_id",
    "account": "account",
    "itemId": "item_id",
    "quantity": "quantity",
    "price": "price",
    "side": "side",
    "time": "time",
}
