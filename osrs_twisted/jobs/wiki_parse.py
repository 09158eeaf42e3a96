"""Strict parsers for the OSRS Wiki prices API's payloads.

Pure functions from response bytes to store records, so they are testable
without a network. Anything malformed rejects the whole payload with a
:class:`WikiPayloadError` naming the endpoint, the item and the field: a
sync job then writes nothing rather than a half-understood snapshot.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping, Optional, TypeVar

import orjson

from osrs_twisted.records import TIMESTEPS, Item, LatestPrice, PriceBucket, Timestep, narrow

STEP_SECONDS: Mapping[Timestep, int] = {"5m": 300, "1h": 3600, "6h": 21600, "24h": 86400}

_ID_KEY = re.compile(r"0|[1-9][0-9]*")

_T = TypeVar("_T")


class WikiError(Exception):
    """Anything that went wrong talking to the Wiki prices API."""


class WikiPayloadError(WikiError):
    """A response body that is not what the API documents; never retried."""

    def __init__(self, endpoint: str, detail: str) -> None:
        super().__init__(f"malformed Wiki {endpoint} payload: {detail}")
        self.endpoint = endpoint
        self.detail = detail


def check_timestep(timestep: str) -> Timestep:
    """The timestep as a :data:`Timestep`, or ``ValueError``."""
    known = narrow(TIMESTEPS, timestep)
    if known is not None:
        return known
    raise ValueError(f"unknown timestep {timestep!r}; expected one of {', '.join(TIMESTEPS)}")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Reader:
    """Typed access to one decoded payload, raising errors that name the place."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def fail(self, where: str, problem: str) -> WikiPayloadError:
        return WikiPayloadError(self.endpoint, f"{where}: {problem}")

    def decode(self, body: bytes) -> Any:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise WikiPayloadError(self.endpoint, f"not JSON ({e})") from None

    def typed(self, value: Any, kind: type[_T], where: str, name: str) -> _T:
        if not isinstance(value, kind):
            raise self.fail(where, f"{name} must be a JSON {kind.__name__}, got {_describe(value)}")
        return value

    def field(self, obj: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            raise self.fail(where, f"missing field {key!r}")
        return obj[key]

    def count(self, value: Any, where: str, name: str) -> int:
        """A non-negative integer (bools are not integers here)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"{name} must be an integer, got {_describe(value)}")
        if value < 0:
            raise self.fail(where, f"{name} must not be negative, got {value}")
        return value

    def optional(
        self, parse: Callable[[Any, str, str], _T], value: Any, where: str, name: str
    ) -> Optional[_T]:
        return None if value is None else parse(value, where, name)

    def average(self, value: Any, where: str, name: str) -> float:
        """A non-negative finite number: bucket averages may be fractional."""
        if isinstance(value, float):
            if not math.isfinite(value) or value < 0:
                raise self.fail(where, f"{name} must be a non-negative number, got {value}")
            return value
        return float(self.count(value, where, name))

    def text(self, obj: Mapping[str, Any], key: str, where: str) -> str:
        """A required string field."""
        return self.typed(self.field(obj, key, where), str, where, repr(key))

    def optional_count(self, obj: Mapping[str, Any], key: str, where: str) -> Optional[int]:
        """A count that may be absent or null."""
        return self.optional(self.count, obj.get(key), where, repr(key))

    def side(self, obj: Mapping[str, Any], key: str, where: str) -> Optional[int]:
        """A count whose key must be present, though its value may be null."""
        return self.optional(self.count, self.field(obj, key, where), where, repr(key))

    def item_id(self, key: str, where: str) -> int:
        if not _ID_KEY.fullmatch(key):
            raise self.fail(where, f"item id key {_describe(key)} is not a decimal integer")
        return int(key)

    def data_map(self, payload: Any) -> dict[int, dict[str, Any]]:
        """The ``{"data": {"<id>": {...}}}`` envelope, keyed by integer id."""
        top = self.typed(payload, dict, "top level", "the payload")
        data = self.typed(self.field(top, "data", "top level"), dict, "top level", "'data'")
        entries: dict[int, dict[str, Any]] = {}
        for key, entry in data.items():
            where = f"item {_describe(key)}"
            entries[self.item_id(key, where)] = self.typed(entry, dict, where, "the entry")
        return entries

    def bucket(
        self, item_id: int, timestep: Timestep, timestamp: int, entry: Mapping[str, Any], where: str
    ) -> PriceBucket:
        return PriceBucket(
            item_id=item_id,
            timestep=timestep,
            timestamp=timestamp,
            avg_high=self.optional(
                self.average, self.field(entry, "avgHighPrice", where), where, "avgHighPrice"
            ),
            avg_low=self.optional(
                self.average, self.field(entry, "avgLowPrice", where), where, "avgLowPrice"
            ),
            high_volume=self.count(
                self.field(entry, "highPriceVolume", where), where, "highPriceVolume"
            ),
            low_volume=self.count(
                self.field(entry, "lowPriceVolume", where), where, "lowPriceVolume"
            ),
        )

    def bucket_start(self, value: Any, timestep: Timestep, where: str) -> int:
        start = self.count(value, where, "timestamp")
        if start % STEP_SECONDS[timestep]:
            raise self.fail(where, f"timestamp {start} is not a multiple of {timestep}")
        return start


def parse_mapping(body: bytes) -> list[Item]:
    """``/mapping``: a bare array of item facts; alch values and limit may be absent."""
    reader = _Reader("/mapping")
    elements = reader.typed(reader.decode(body), list, "top level", "the payload")
    items: list[Item] = []
    seen: set[int] = set()
    for index, element in enumerate(elements):
        where = f"element {index}"
        entry = reader.typed(element, dict, where, "the element")
        item_id = reader.count(reader.field(entry, "id", where), where, "id")
        where = f"item {item_id}"
        if item_id in seen:
            raise reader.fail(where, "duplicate id")
        seen.add(item_id)

        items.append(
            Item(
                id=item_id,
                name=reader.text(entry, "name", where),
                examine=reader.text(entry, "examine", where),
                members=reader.typed(reader.field(entry, "members", where), bool, where, "'members'"),
                lowalch=reader.optional_count(entry, "lowalch", where),
                highalch=reader.optional_count(entry, "highalch", where),
                limit=reader.optional_count(entry, "limit", where),
                value=reader.optional_count(entry, "value", where),
                icon=reader.text(entry, "icon", where),
            )
        )
    return items


def parse_latest(body: bytes) -> list[LatestPrice]:
    """``/latest``: newest high/low per item; a side that never traded is null."""
    reader = _Reader("/latest")
    prices: list[LatestPrice] = []
    for item_id, entry in reader.data_map(reader.decode(body)).items():
        where = f"item {item_id}"

        prices.append(
            LatestPrice(
                item_id=item_id,
                high=reader.side(entry, "high", where),
                high_time=reader.side(entry, "highTime", where),
                low=reader.side(entry, "low", where),
                low_time=reader.side(entry, "lowTime", where),
            )
        )
    return prices


def parse_bucket(body: bytes, timestep: Timestep) -> tuple[int, list[PriceBucket]]:
    """``/5m``, ``/1h``, ``/6h``, ``/24h``: the bucket's start and its averages."""
    reader = _Reader(f"/{timestep}")
    payload = reader.decode(body)
    entries = reader.data_map(payload)
    start = reader.bucket_start(reader.field(payload, "timestamp", "top level"), timestep, "top level")
    return start, [
        reader.bucket(item_id, timestep, start, entry, f"item {item_id}")
        for item_id, entry in entries.items()
    ]


def parse_timeseries(body: bytes, item_id: int, timestep: Timestep) -> list[PriceBucket]:
    """``/timeseries``: one item's buckets, oldest first."""
    reader = _Reader("/timeseries")
    top = reader.typed(reader.decode(body), dict, "top level", "the payload")
    answered = reader.count(reader.field(top, "itemId", "top level"), "top level", "itemId")
    if answered != item_id:
        raise reader.fail("top level", f"itemId {answered} but asked for {item_id}")
    points = reader.typed(reader.field(top, "data", "top level"), list, "top level", "'data'")
    buckets: list[PriceBucket] = []
    for index, point in enumerate(points):
        where = f"item {item_id} point {index}"
        entry = reader.typed(point, dict, where, "the point")
        start = reader.bucket_start(reader.field(entry, "timestamp", where), timestep, where)
        if buckets and start <= buckets[-1].timestamp:
            raise reader.fail(where, f"timestamp {start} is not after the previous point")
        buckets.append(reader.bucket(item_id, timestep, start, entry, where))
    return buckets
