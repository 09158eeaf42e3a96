"""The domain's records (items, prices, price buckets, job runs, heartbeats)
as immutable values, and the closed vocabularies they use.

A leaf module: it imports nothing from the project, so the store, the market
arithmetic and the HTTP layer all share it without importing each other.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, Sequence, TypeVar, get_args

import attrs

S = TypeVar("S", bound=str)

Timestep = Literal["5m", "1h", "6h", "24h"]
TIMESTEPS: tuple[Timestep, ...] = get_args(Timestep)

RunTrigger = Literal["schedule", "manual"]
RunState = Literal["queued", "running", "succeeded", "failed"]
RUN_STATES: tuple[RunState, ...] = get_args(RunState)


def narrow(choices: Sequence[S], text: str) -> Optional[S]:
    """``text`` as the one of ``choices`` it spells (a Literal's
    ``get_args`` tuple), or None; the caller words the error."""
    for choice in choices:
        if text == choice:
            return choice
    return None


@attrs.frozen
class Item:
    """An item's facts from the Wiki's ``/mapping`` (the OSRS item id is the key)."""

    id: int
    name: str
    examine: str
    members: bool
    lowalch: Optional[int]
    highalch: Optional[int]
    limit: Optional[int]
    value: Optional[int]
    icon: str
    updated: int = 0


@attrs.frozen
class LatestPrice:
    """The newest instant-buy (high) and instant-sell (low) trade of one item."""

    item_id: int
    high: Optional[int]
    high_time: Optional[int]
    low: Optional[int]
    low_time: Optional[int]


@attrs.frozen
class PriceBucket:
    """One averaged time bucket (5m/1h/6h/24h) of one item's trades."""

    item_id: int
    timestep: Timestep
    timestamp: int
    avg_high: Optional[float]
    avg_low: Optional[float]
    high_volume: int
    low_volume: int


@attrs.frozen
class JobRun:
    """One recorded run of a background job."""

    id: int
    job: str
    trigger: RunTrigger
    slot: Optional[int]
    state: RunState
    attempts: int
    queued_at: int
    started_at: Optional[int] = None
    finished_at: Optional[int] = None
    duration_ms: Optional[int] = None
    error: Optional[str] = None
    result: Optional[Mapping[str, Any]] = None
    owner: Optional[str] = None
    lease_until: Optional[int] = None


@attrs.frozen
class Heartbeat:
    """A bot's heartbeat as it was received."""

    instance_id: str
    payload: Mapping[str, Any]
    received_at: int
