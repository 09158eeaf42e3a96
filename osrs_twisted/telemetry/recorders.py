"""Plain counters of the HTTP side, the jobs and the bots, updated where
things happen and read at scrape time by :mod:`~osrs_twisted.telemetry.sources`.

Label values come from fixed sets only (route templates, statuses the
server sends, job names, run states), so their number stays bounded
whatever clients send.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import attrs

from osrs_twisted.inference.metrics import LATENCY_BOUNDS_MS, Histogram
from osrs_twisted.records import Heartbeat

#: The route label of a request no route matched (or refused before routing).
UNMATCHED = "unmatched"

#: Upper bounds (s) of the job duration histogram's buckets.
JOB_DURATION_BOUNDS: tuple[float, ...] = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)

#: A bot counts as seen recently for this many seconds after a heartbeat.
RECENT_BOT_SECONDS = 300


@attrs.define
class HttpMetrics:
    """HTTP requests by route template and status, and latency per route."""

    requests: Counter[tuple[str, int]] = attrs.field(factory=Counter)
    latency_ms: dict[str, Histogram] = attrs.field(factory=dict)

    def record(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        histogram = self.latency_ms.get(route)
        if histogram is None:
            histogram = self.latency_ms[route] = Histogram(LATENCY_BOUNDS_MS)
        histogram.add(seconds * 1000.0)


@attrs.define
class JobMetrics:
    """Job runs this process executed, by job and outcome, with their
    durations; and each job's newest success known, any instance's."""

    runs: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    durations: dict[str, Histogram] = attrs.field(factory=dict)
    last_success: dict[str, int] = attrs.field(factory=dict)

    def record_run(self, job: str, state: str, seconds: float, finished_at: int) -> None:
        self.runs[(job, state)] += 1
        histogram = self.durations.get(job)
        if histogram is None:
            histogram = self.durations[job] = Histogram(JOB_DURATION_BOUNDS)
        histogram.add(seconds)
        if state == "succeeded":
            self.saw_success(job, finished_at)

    def saw_success(self, job: str, finished_at: int) -> None:
        if finished_at > self.last_success.get(job, 0):
            self.last_success[job] = finished_at


class RecentBots:
    """When each bot last sent a heartbeat, to count the bots seen lately
    without a database query per scrape. Entries older than the window are
    dropped as it is read, and while it grows, so memory follows the fleet."""

    def __init__(self, window: int = RECENT_BOT_SECONDS) -> None:
        self.window = window
        self._seen: dict[str, int] = {}
        self._prune_above = 1024

    def saw(self, instance_id: str, at: int) -> None:
        if at > self._seen.get(instance_id, at - 1):
            self._seen[instance_id] = at
        if len(self._seen) > self._prune_above:
            self.count(at)
            self._prune_above = max(1024, 2 * len(self._seen))

    def seed(self, heartbeats: Iterable[Heartbeat]) -> None:
        """What the store held at start."""
        for heartbeat in heartbeats:
            self.saw(heartbeat.instance_id, heartbeat.received_at)

    def count(self, now: int) -> int:
        """Bots with a heartbeat in the last ``window`` seconds."""
        oldest = now - self.window
        self._seen = {bot: at for bot, at in self._seen.items() if at >= oldest}
        return len(self._seen)
