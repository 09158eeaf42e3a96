"""The market as one immutable value: items, price figures and rankings.

Built from the store's rows in one pass per refresh (no reactor, no I/O), so
the hot reads only look things up and filter. Figures that depend on the
clock (``stale``) are not part of the snapshot; readers compute them per
request from the trade times held here.
"""

from __future__ import annotations

from typing import Callable, Literal, Mapping, Optional, Sequence

import attrs

from osrs_twisted.market.gex import NATURE_RUNE_ID, PriceFigures, alch_profit, price_figures
from osrs_twisted.records import Item, LatestPrice, PriceBucket

#: The flip rankings a snapshot holds, each best first.
FlipRanking = Literal["margin", "roi", "limit_profit", "volume"]


@attrs.frozen
class Entry:
    """One item with its price figures as of the last refresh."""

    item: Item
    price: Optional[LatestPrice]
    #: ``price_figures`` at refresh time; its ``stale`` is recomputed per request.
    figures: Optional[PriceFigures]
    alch_profit: Optional[int]
    name_key: str

    @property
    def volume_24h(self) -> int:
        """The 24 h volume, 0 when unknown (for filtering and ranking)."""
        if self.figures is None or self.figures.volume_24h is None:
            return 0
        return self.figures.volume_24h

    @property
    def both_sides(self) -> bool:
        return self.price is not None and self.price.high is not None and self.price.low is not None


@attrs.frozen
class Snapshot:
    """An immutable view of the market; requests read one without locking."""

    items: Mapping[int, Entry]
    #: Every entry ordered by lowercase name, then id.
    by_name: Sequence[Entry]
    #: Lowercase name → the entry with the lowest id of that name.
    by_exact_name: Mapping[str, Entry]
    #: Ranking → entries with both sides, best first (stale ones included).
    flips: Mapping[FlipRanking, Sequence[Entry]]
    #: Entries with a known alch profit, best first.
    alchs: Sequence[Entry]


def _ranked(entries: Sequence[Entry], figure: Callable[[Entry], Optional[float]]) -> tuple[Entry, ...]:
    """Best first; entries whose figure is unknown go last; ties by id."""

    def key(entry: Entry) -> tuple[bool, float, int]:
        value = figure(entry)
        return (value is None, -(value or 0), entry.item.id)

    return tuple(sorted(entries, key=key))


def _figure(read: Callable[[PriceFigures], Optional[float]]) -> Callable[[Entry], Optional[float]]:
    def get(entry: Entry) -> Optional[float]:
        assert entry.figures is not None
        return read(entry.figures)

    return get


def build_snapshot(
    items: Mapping[int, Item],
    prices: Mapping[int, LatestPrice],
    volumes: Mapping[int, int],
    now: int,
) -> Snapshot:
    """Everything the hot reads need, computed once per refresh."""
    nature = prices.get(NATURE_RUNE_ID)
    nature_high = None if nature is None else nature.high
    entries: dict[int, Entry] = {}
    for item_id, item in items.items():
        price = prices.get(item_id)
        entries[item_id] = Entry(
            item=item,
            price=price,
            figures=price_figures(price, item.limit, volumes.get(item_id), now, stale_after=0),
            alch_profit=alch_profit(item.highalch, None if price is None else price.high, nature_high),
            name_key=item.name.lower(),
        )
    by_name = tuple(sorted(entries.values(), key=lambda e: (e.name_key, e.item.id)))
    by_exact_name: dict[str, Entry] = {}
    for entry in sorted(entries.values(), key=lambda e: e.item.id):
        by_exact_name.setdefault(entry.name_key, entry)
    tradeable = [e for e in entries.values() if e.both_sides]
    flips: dict[FlipRanking, Sequence[Entry]] = {
        "margin": _ranked(tradeable, _figure(lambda f: f.margin)),
        "roi": _ranked(tradeable, _figure(lambda f: f.roi)),
        "limit_profit": _ranked(tradeable, _figure(lambda f: f.limit_profit)),
        "volume": _ranked(tradeable, lambda e: e.volume_24h),
    }
    alchs = _ranked([e for e in entries.values() if e.alch_profit is not None], lambda e: e.alch_profit)
    return Snapshot(entries, by_name, by_exact_name, flips, alchs)


def volumes_24h(buckets: Sequence[PriceBucket]) -> dict[int, int]:
    """Each item's high + low volume in its newest 24 h bucket."""
    return {b.item_id: b.high_volume + b.low_volume for b in buckets}
