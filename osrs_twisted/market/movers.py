"""Movers: the items whose price moved most against their last day's average.

Pure logic: the latest mid price of each item (from a catalog snapshot)
beside the mean price of its newest 24 h bucket (the Wiki's ``/24h``
average). Items without both, or whose average is 0, are left out.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import attrs

from osrs_twisted.market.gex import mid
from osrs_twisted.market.snapshot import Entry, Snapshot
from osrs_twisted.records import PriceBucket


@attrs.frozen
class Mover:
    """One item's latest mid price against its 24 h average."""

    entry: Entry
    price: int
    average_24h: float
    #: ``price - average_24h``, and as a fraction of the average.
    change: float
    change_ratio: float


def bucket_mean(bucket: PriceBucket) -> Optional[float]:
    """The mean of the bucket's average high and low (the side present when one is null)."""
    sides = [v for v in (bucket.avg_high, bucket.avg_low) if v is not None]
    return sum(sides) / len(sides) if sides else None


def rank_movers(snapshot: Snapshot, buckets: Iterable[PriceBucket]) -> tuple[Mover, ...]:
    """Every item with a price and a 24 h average, largest move (either way) first; ties by id."""
    movers: list[Mover] = []
    for bucket in buckets:
        entry = snapshot.items.get(bucket.item_id)
        average = bucket_mean(bucket)
        if entry is None or entry.price is None or not average:
            continue
        price = mid(entry.price.high, entry.price.low)
        if price is None:
            continue
        change = price - average
        movers.append(Mover(entry, price, average, change, change / average))
    return tuple(sorted(movers, key=lambda m: (-abs(m.change_ratio), m.entry.item.id)))


def split_movers(movers: Sequence[Mover]) -> tuple[list[Mover], list[Mover]]:
    """Risers and fallers, each largest move first (unchanged items in neither)."""
    return [m for m in movers if m.change > 0], [m for m in movers if m.change < 0]
