"""What an action earns at today's Grand Exchange prices, and how long the fleet can keep it up.

Inputs are bought at the instant-buy price (``high``) and outputs sold at
the instant-sell price (``low``), each output item paying the seller's GE tax
(exemptions honoured). A figure that needs a price which is missing or stale
is ``None`` with a reason naming the item: an action is never ranked on a
number that could be wrong. Coins are money: a coin input is a fee, a coin
output is paid out as is (high alchemy), neither is traded nor taxed.

All gp figures are Python ints (no overflow at 64-bit prices times large
quantities); only ratios (gp per xp) are floats.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional

import attrs

from osrs_twisted.market.actions import COINS_ID, Action, ItemAmount
from osrs_twisted.market.gex import ge_tax

RATIO_DECIMALS = 6


@attrs.frozen
class ItemQuote:
    """What the market knows of one item: latest trades, buy limit, 24 h volume."""

    item_id: int
    name: str
    high: Optional[int] = None
    high_time: Optional[int] = None
    low: Optional[int] = None
    low_time: Optional[int] = None
    #: The 4-hour buy limit per account; ``None`` when the Wiki does not say.
    limit: Optional[int] = None
    #: Items traded in the last 24 h (both sides); ``None`` until a bucket exists.
    volume24h: Optional[int] = None


@attrs.frozen
class ActionEconomics:
    """One action's figures; each group is ``None`` together with the reason why."""

    name: str
    #: Gp spent per action: inputs at ``high``, plus coin fees.
    cost: Optional[int]
    #: Gp received per action: outputs at ``low`` after tax, plus coin outputs.
    revenue: Optional[int]
    #: GE tax paid per action on the outputs sold.
    tax: Optional[int]
    profit: Optional[int]
    profit_per_hour: Optional[int]
    #: Profit per experience point over all skills (negative: what each xp costs).
    gp_per_xp: Optional[float]
    #: Why the price figures above are ``None``.
    price_reason: Optional[str]
    #: Actions one account can buy inputs for per 4-hour window; ``None``
    #: with no reason when no input is bought on the GE.
    actions_per_4h: Optional[int]
    limit_reason: Optional[str]
    #: Actions per 24 h the market's volume of every traded input and output
    #: carries, shared by the whole fleet; ``None`` with no reason when the
    #: action trades nothing.
    fleet_actions_per_24h: Optional[int]
    volume_reason: Optional[str]


def price_action(action: Action, quotes: Mapping[int, ItemQuote], now: int, stale_after: int) -> ActionEconomics:
    """The figures of ``action`` at ``now``; a side older than ``stale_after`` seconds is stale."""
    cost = revenue = tax = 0
    price_reason: Optional[str] = None
    for amount in action.inputs:
        unit, problem = _unit_price(amount.item_id, quotes, now, stale_after, sell=False)
        if problem is not None:
            price_reason = price_reason or problem
            continue
        cost += unit * amount.quantity
    for amount in action.outputs:
        unit, problem = _unit_price(amount.item_id, quotes, now, stale_after, sell=True)
        if problem is not None:
            price_reason = price_reason or problem
            continue
        item_tax = 0 if amount.item_id == COINS_ID else ge_tax(unit, amount.item_id)
        revenue += unit * amount.quantity
        tax += item_tax * amount.quantity
    actions_per_4h, limit_reason = _cap(action.inputs, quotes, _limit_of, "buy limit")
    fleet, volume_reason = _cap(action.inputs + action.outputs, quotes, _volume_of, "24 h volume")
    priced = price_reason is None
    profit = revenue - tax - cost
    xp = action.xp_per_action
    return ActionEconomics(
        name=action.name,
        cost=cost if priced else None,
        revenue=revenue - tax if priced else None,
        tax=tax if priced else None,
        profit=profit if priced else None,
        profit_per_hour=profit * action.actions_per_hour if priced else None,
        gp_per_xp=round(profit / xp, RATIO_DECIMALS) if priced and xp > 0 else None,
        price_reason=price_reason,
        actions_per_4h=actions_per_4h,
        limit_reason=limit_reason,
        fleet_actions_per_24h=fleet,
        volume_reason=volume_reason,
    )


def price_actions(
    actions: Iterable[Action], quotes: Mapping[int, ItemQuote], now: int, stale_after: int
) -> dict[str, ActionEconomics]:
    """``price_action`` for each action, by name."""
    return {action.name: price_action(action, quotes, now, stale_after) for action in actions}


def describe_item(item_id: int, quotes: Mapping[int, ItemQuote]) -> str:
    """``item 453 (Coal)``, or ``item 453`` when the item is not in the catalog."""
    quote = quotes.get(item_id)
    return f"item {item_id}" if quote is None else f"item {item_id} ({quote.name})"


def _unit_price(
    item_id: int, quotes: Mapping[int, ItemQuote], now: int, stale_after: int, sell: bool
) -> tuple[int, Optional[str]]:
    """The price one item trades at on the side used, or the reason there is none."""
    if item_id == COINS_ID:
        return 1, None
    quote = quotes.get(item_id)
    if quote is None:
        return 0, f"no price for {describe_item(item_id, quotes)}"
    price, time = (quote.low, quote.low_time) if sell else (quote.high, quote.high_time)
    if price is None:
        return 0, f"no price for {describe_item(item_id, quotes)}"
    if time is None or now - time > stale_after:
        return 0, f"stale price for {describe_item(item_id, quotes)}"
    return price, None


def _limit_of(quote: ItemQuote) -> Optional[int]:
    return quote.limit


def _volume_of(quote: ItemQuote) -> Optional[int]:
    return quote.volume24h


def _cap(
    amounts: tuple[ItemAmount, ...],
    quotes: Mapping[int, ItemQuote],
    figure: Callable[[ItemQuote], Optional[int]],
    what: str,
) -> tuple[Optional[int], Optional[str]]:
    """The least of ``figure // quantity`` over the traded items, or the reason it is unknown.

    With the buy limit over the inputs: actions one account may buy for per
    4 h; with the 24 h volume over inputs and outputs: actions per day the
    market carries. ``(None, None)`` when no item is traded.
    """
    caps: list[int] = []
    for amount in amounts:
        if amount.item_id == COINS_ID:
            continue
        quote = quotes.get(amount.item_id)
        value = None if quote is None else figure(quote)
        if value is None:
            return None, f"no {what} for {describe_item(amount.item_id, quotes)}"
        caps.append(value // amount.quantity)
    return (min(caps) if caps else None), None
