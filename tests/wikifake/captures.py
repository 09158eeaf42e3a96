"""Captured Wiki API payloads, replayed with their times moved to "now".

Captures are recorded at a fixed moment; served as-is every price would read
as stale. Every time moves by one offset (newest capture time → now);
bucket starts move by that offset rounded down to their step, so they stay
aligned and never lie in the future.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import attrs
import orjson

from osrs_twisted.jobs.wiki_parse import STEP_SECONDS, check_timestep
from osrs_twisted.records import TIMESTEPS, Timestep

JSON = Any


def _read(path: Path) -> JSON:
    return orjson.loads(path.read_bytes())


def _aligned(offset: int, timestep: Timestep) -> int:
    return offset - offset % STEP_SECONDS[timestep]


@attrs.frozen
class Captures:
    """The payloads of one capture directory, and the newest time among them.

    The directory holds ``mapping.json``, ``latest.json``, ``5m.json``,
    ``1h.json``, ``6h.json``, ``24h.json`` and any number of
    ``timeseries-<id>-<timestep>.json``.
    """

    mapping: list[JSON]
    latest: Mapping[str, Mapping[str, Optional[int]]]
    buckets: Mapping[Timestep, Mapping[str, JSON]]
    timeseries: Mapping[tuple[int, Timestep], list[Mapping[str, JSON]]]
    newest: int

    @classmethod
    def load(cls, directory: Path) -> Captures:
        """Read a capture directory; a missing or unreadable file fails at once."""
        latest = _read(directory / "latest.json")["data"]
        buckets = {step: _read(directory / f"{step}.json") for step in TIMESTEPS}
        timeseries: dict[tuple[int, Timestep], list[Mapping[str, JSON]]] = {}
        for path in sorted(directory.glob("timeseries-*-*.json")):
            item_id, step = path.stem.split("-")[1:3]
            timeseries[int(item_id), check_timestep(step)] = _read(path)["data"]
        times = [
            *(t for entry in latest.values() for t in (entry["highTime"], entry["lowTime"])),
            *(payload["timestamp"] for payload in buckets.values()),
            *(point["timestamp"] for points in timeseries.values() for point in points),
        ]
        return cls(
            mapping=_read(directory / "mapping.json"),
            latest=latest,
            buckets=buckets,
            timeseries=timeseries,
            newest=max(t for t in times if t is not None),
        )

    def offset(self, now: float) -> int:
        """Seconds to add to capture times so the newest one reads as ``now``."""
        return int(now) - self.newest

    def latest_payload(self, now: float, item_id: Optional[int] = None) -> JSON:
        """``/latest``, optionally for one item (absent items give empty data)."""
        offset = self.offset(now)
        data = {
            key: {
                **entry,
                "highTime": None if entry["highTime"] is None else entry["highTime"] + offset,
                "lowTime": None if entry["lowTime"] is None else entry["lowTime"] + offset,
            }
            for key, entry in self.latest.items()
            if item_id is None or key == str(item_id)
        }
        return {"data": data}

    def bucket_payload(self, timestep: Timestep, now: float, timestamp: Optional[int]) -> JSON:
        """A bucket endpoint; a requested ``timestamp`` replays the capture there."""
        payload = self.buckets[timestep]
        if timestamp is None:
            timestamp = payload["timestamp"] + _aligned(self.offset(now), timestep)
        return {"data": payload["data"], "timestamp": timestamp}

    def timeseries_payload(self, item_id: int, timestep: Timestep, now: float) -> JSON:
        """``/timeseries``: the capture for that item and step, else no points."""
        offset = _aligned(self.offset(now), timestep)
        points = self.timeseries.get((item_id, timestep), [])
        return {
            "data": [{**point, "timestamp": point["timestamp"] + offset} for point in points],
            "itemId": item_id,
        }
