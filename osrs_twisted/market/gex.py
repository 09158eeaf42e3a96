"""Grand Exchange price arithmetic: tax, margins and an item's price figures.

Pure integer arithmetic with no reactor and no I/O, so the HTTP API, the
jobs and the tests all compute the same figures the same way. A figure that
depends on a side that never traded is ``None`` rather than a guess.
"""

from __future__ import annotations

from typing import Optional

import attrs

from osrs_twisted.records import LatestPrice

NATURE_RUNE_ID = 561

TAX_DIVISOR = 50
"""The 2% tax as an integer divisor: ``price // 50`` rounds down like the game."""

TAX_CAP = 5_000_000
"""The most tax one item pays (since 29 May 2025)."""

TAX_FREE_BELOW = 50
"""Items sold for less than this pay no tax."""

TAX_EXEMPT_IDS: frozenset[int] = frozenset(
    {
        # Old school bond.
        13190,
        # Tools: chisel, gardening trowel, glassblowing pipe, hammer, needle,
        # pestle and mortar, rake, saw, secateurs, seed dibber, shears,
        # spade, watering can.
        1755, 5325, 1785, 2347, 1733, 233, 5341, 8794, 5329, 5343, 1735, 952, 5331,
        # Teleport tablets (exempt since 2025): Ardougne, Camelot, Falador,
        # Lumbridge, house, Varrock and two newer tablets.
        8011, 8010, 28824, 8009, 28790, 8008, 8013, 8007,
        # Bronze, iron and steel arrows and darts (exempt since 2025).
        882, 806, 884, 807, 886, 808,
        # Food (exempt since 2025): bass, bread, cake, cooked chicken, cooked
        # meat, herring, lobster, mackerel, meat pie, pike, salmon, shrimps, tuna.
        365, 2309, 1891, 2140, 2142, 347, 379, 355, 2327, 351, 329, 315, 361,
        # Energy potions (4) to (1) (exempt since 2025).
        3008, 3010, 3012, 3014,
        # Games necklace(8), mind rune, ring of dueling(8) (exempt since 2025).
        3853, 558, 2552,
    }
)  # fmt: skip

ROI_DECIMALS = 6


@attrs.frozen
class PriceFigures:
    """One item's latest prices and what they imply for a flip (the HTTP
    ``price`` object is rendered from it, see ``docs/http-api.md``)."""

    high: Optional[int]
    high_time: Optional[int]
    low: Optional[int]
    low_time: Optional[int]
    mid: Optional[int]
    tax: Optional[int]
    margin: Optional[int]
    roi: Optional[float]
    limit_profit: Optional[int]
    volume_24h: Optional[int]
    stale: bool


def ge_tax(price: int, item_id: int) -> int:
    """The tax the seller pays on one item sold at ``price``."""
    if price < TAX_FREE_BELOW or item_id in TAX_EXEMPT_IDS:
        return 0
    return min(price // TAX_DIVISOR, TAX_CAP)


def mid(high: Optional[int], low: Optional[int]) -> Optional[int]:
    """The midpoint of both sides, or the side present when the other is null."""
    if high is None:
        return low
    if low is None:
        return high
    return (high + low) // 2


def margin(high: Optional[int], low: Optional[int], item_id: int) -> Optional[int]:
    """Profit per item buying at ``low`` and selling at ``high`` after tax."""
    if high is None or low is None:
        return None
    return high - ge_tax(high, item_id) - low


def roi(margin: Optional[int], low: Optional[int]) -> Optional[float]:
    """Margin as a fraction of the buy price; unknown when nothing was paid."""
    if margin is None or not low:
        return None
    return round(margin / low, ROI_DECIMALS)


def limit_profit(margin: Optional[int], limit: Optional[int]) -> Optional[int]:
    """Profit over one buy-limit window (4 h) when every bought item sells."""
    if margin is None or limit is None:
        return None
    return margin * limit


def staleness(high_time: Optional[int], low_time: Optional[int], now: int) -> Optional[int]:
    """Seconds since the newest trade on either side; ``None`` when neither traded."""
    times = [t for t in (high_time, low_time) if t is not None]
    if not times:
        return None
    return now - max(times)


def is_stale(
    high_time: Optional[int], low_time: Optional[int], now: int, stale_after: int
) -> bool:
    """Whether the newest trade is older than ``stale_after`` (no trade is stale)."""
    age = staleness(high_time, low_time, now)
    return age is None or age > stale_after


def alch_profit(
    highalch: Optional[int], high: Optional[int], nature_high: Optional[int]
) -> Optional[int]:
    """Profit of buying at ``high`` and casting High Level Alchemy (no tax)."""
    if highalch is None or high is None or nature_high is None:
        return None
    return highalch - high - nature_high


def price_figures(
    price: Optional[LatestPrice],
    limit: Optional[int],
    volume_24h: Optional[int],
    now: int,
    stale_after: int,
) -> Optional[PriceFigures]:
    """The item's price figures; ``None`` when no side ever traded."""
    if price is None or (price.high is None and price.low is None):
        return None
    item_margin = margin(price.high, price.low, price.item_id)
    return PriceFigures(
        high=price.high,
        high_time=price.high_time,
        low=price.low,
        low_time=price.low_time,
        mid=mid(price.high, price.low),
        tax=None if price.high is None else ge_tax(price.high, price.item_id),
        margin=item_margin,
        roi=roi(item_margin, price.low),
        limit_profit=limit_profit(item_margin, limit),
        volume_24h=volume_24h,
        stale=is_stale(price.high_time, price.low_time, now, stale_after),
    )
