"""The fleet at a glance: how long each bot has been silent, and its XP per hour.

Pure logic over heartbeats (no reactor, no store). Heartbeat payloads are
untrusted: every field is checked for its type before it is used.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Literal, Mapping, Optional

import attrs

from osrs_twisted.records import Heartbeat

Liveness = Literal["alive", "late", "gone"]
LIVENESS: tuple[Liveness, ...] = ("alive", "late", "gone")

#: Defaults of ``--console-late-after`` and ``--console-gone-after`` (seconds).
DEFAULT_LATE_AFTER = 120
DEFAULT_GONE_AFTER = 600

#: How far back the XP-per-hour estimate looks, and the shortest span it trusts.
XP_WINDOW_SECONDS = 3600
XP_MIN_SPAN_SECONDS = 60
#: Observations kept per bot.
XP_POINTS_PER_BOT = 64


@attrs.frozen
class Thresholds:
    """A bot silent longer than ``late_after`` seconds is late, longer than ``gone_after`` gone."""

    late_after: int = DEFAULT_LATE_AFTER
    gone_after: int = DEFAULT_GONE_AFTER

    def __attrs_post_init__(self) -> None:
        if self.late_after < 1:
            raise ValueError(f"lateAfter must be at least 1 second, not {self.late_after}")
        if self.gone_after <= self.late_after:
            raise ValueError(f"goneAfter ({self.gone_after}) must be more than lateAfter ({self.late_after})")

    def liveness(self, age_seconds: int) -> Liveness:
        if age_seconds > self.gone_after:
            return "gone"
        if age_seconds > self.late_after:
            return "late"
        return "alive"


def total_xp(payload: Mapping[str, Any]) -> Optional[int]:
    """The sum of the heartbeat's ``xpGained`` (skill → XP), or None when it
    carries none or something that is not such an object."""
    gained = payload.get("xpGained")
    if not isinstance(gained, dict) or not gained:
        return None
    values = list(gained.values())
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return sum(values)


def xp_per_hour(points: Iterable[tuple[int, int]]) -> Optional[float]:
    """XP per hour between the oldest and newest of ``(time, total XP)``
    points (time ascending), counted from the last time the total fell (a
    restarted script); None over less than ``XP_MIN_SPAN_SECONDS``."""
    run: list[tuple[int, int]] = []
    for point in points:
        if run and point[1] < run[-1][1]:
            run = []
        run.append(point)
    if len(run) < 2:
        return None
    (t0, xp0), (t1, xp1) = run[0], run[-1]
    span = t1 - t0
    if span < XP_MIN_SPAN_SECONDS:
        return None
    return (xp1 - xp0) * 3600.0 / span


class XpRates:
    """Each bot's recent ``(receivedAt, total XP)``, as seen by fleet reads.

    ``GET /bots`` gives only the newest heartbeat of each bot; the console
    remembers what earlier reads saw (at most ``XP_POINTS_PER_BOT`` points a
    bot, within ``XP_WINDOW_SECONDS``), so XP per hour is known once a bot
    has been seen twice a minute or more apart. Bots no longer listed are
    forgotten.
    """

    def __init__(self) -> None:
        self._points: dict[str, deque[tuple[int, int]]] = {}

    def observe(self, heartbeats: Iterable[Heartbeat]) -> dict[str, Optional[float]]:
        """Record the newest heartbeat of every bot; each bot's XP per hour."""
        rates: dict[str, Optional[float]] = {}
        kept: dict[str, deque[tuple[int, int]]] = {}
        for heartbeat in heartbeats:
            points = self._points.get(heartbeat.instance_id) or deque(maxlen=XP_POINTS_PER_BOT)
            xp = total_xp(heartbeat.payload)
            received = heartbeat.received_at
            if xp is not None and (not points or received > points[-1][0]):
                points.append((received, xp))
            while points and points[0][0] < received - XP_WINDOW_SECONDS:
                points.popleft()
            kept[heartbeat.instance_id] = points
            rates[heartbeat.instance_id] = xp_per_hour(points)
        self._points = kept
        return rates


def xp_series(heartbeats: Iterable[Heartbeat]) -> list[tuple[int, int]]:
    """``(receivedAt, total XP)`` of the heartbeats that carry XP, oldest first."""
    series = [(h.received_at, xp) for h in heartbeats if (xp := total_xp(h.payload)) is not None]
    return sorted(series)
