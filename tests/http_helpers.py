"""Shared fixtures of the HTTP tests: a filled store, the API over StubTreq,
and a real loopback server for the body-limit tests."""

from __future__ import annotations

import functools
import gzip
import os
from typing import Any, Awaitable, Callable, Mapping, Optional, TypeVar

import orjson
from treq.testing import StubTreq
from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import DEFAULT_SETTINGS, HttpApi, HttpSettings
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.policy import ModelRegistry
from osrs_twisted.records import Item, LatestPrice, PriceBucket
from osrs_twisted.store.factory import open_store
from osrs_twisted.store.interface import IStore

T = TypeVar("T")

#: The tests' "now" (Unix seconds).
NOW = 1_733_000_000
DAY = 86_400

#: How long a test waits for a response or a refresh before failing.
DEADLINE = 10.0

#: trial's own bound on each HTTP test.
TEST_TIMEOUT = 30


def deferred_test(f: Callable[..., Awaitable[T]]) -> Callable[..., "Deferred[T]"]:
    """Let a trial test be an ``async def`` (trial waits on Deferreds only)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> "Deferred[T]":
        return ensureDeferred(f(*args, **kwargs))  # type: ignore[arg-type]

    return wrapper


def item(
    item_id: int, name: str, members: bool = True, value: Optional[int] = 1000, limit: Optional[int] = 100
) -> Item:
    """An item whose alch values follow the game's rule from ``value``."""
    return Item(
        id=item_id,
        name=name,
        examine=f"An example {name.lower()}.",
        members=members,
        lowalch=None if value is None else value * 2 // 5,
        highalch=None if value is None else value * 3 // 5,
        limit=limit,
        value=value,
        icon=f"{name}.png",
    )


WHIP = Item(4151, "Abyssal whip", "A weapon from the abyss.", True, 48000, 72000, 70, 120001, "Abyssal whip.png")

ITEMS = [
    WHIP,
    item(561, "Nature rune", members=False, value=180, limit=18000),
    item(30001, "Whip", value=500),
    item(30002, "Whip of the sea", value=600),
    item(30003, "Volcanic abyssal whip", value=700),
    item(13190, "Old school bond", members=False, value=None, limit=100),
    item(1127, "Rune platebody", members=False, value=65000, limit=70),
    item(30004, "Dwarf remains", members=False, value=None, limit=None),
    item(30005, "Stale plank", members=False, value=100, limit=1000),
    item(30006, "Cheap alch", members=True, value=10000, limit=1000),
]

PRICES = [
    LatestPrice(4151, 1761642, NOW - 50, 1760000, NOW - 100),
    LatestPrice(561, 120, NOW - 10, 115, NOW - 20),
    LatestPrice(30001, 300, NOW - 10, 200, NOW - 20),
    LatestPrice(30002, 700, NOW - 10, 600, NOW - 20),
    LatestPrice(30003, 900, NOW - 10, 500, NOW - 20),
    LatestPrice(13190, 10_000_000, NOW - 10, 9_000_000, NOW - 20),
    LatestPrice(1127, 38000, NOW - 30, None, None),
    LatestPrice(30005, 200, NOW - 5 * 3600, 100, NOW - 5 * 3600),
    LatestPrice(30006, 5500, NOW - 10, 5400, NOW - 20),
]

BUCKETS = [
    PriceBucket(4151, "24h", NOW - 2 * DAY, 1_700_000.0, 1_690_000.0, 10, 20),
    PriceBucket(4151, "24h", NOW - DAY, 1_760_000.0, 1_750_000.0, 600, 634),
    PriceBucket(561, "24h", NOW - DAY, 121.5, 114.25, 500_000, 400_000),
    PriceBucket(30001, "24h", NOW - DAY, 300.0, 200.0, 5, 5),
    PriceBucket(4151, "5m", NOW - 900, 1761300.0, 1759750.0, 6, 4),
    PriceBucket(4151, "5m", NOW - 600, None, 1759800.0, 0, 3),
    PriceBucket(4151, "5m", NOW - 300, 1761500.0, 1759900.0, 2, 2),
]


async def start_store(test: TestCase, url: Optional[str] = None) -> IStore:
    """A started store (SQLite on a temporary file unless ``url``), stopped at cleanup."""
    if url is None:
        url = "sqlite:///" + os.path.abspath(test.mktemp()) + ".sqlite3"
    store = open_store(url, reactor)  # type: ignore[arg-type]
    await store.start()
    test.addCleanup(store.stop)
    return store


async def fill(store: IStore) -> None:
    await store.upsert_items(ITEMS)
    await store.upsert_latest_prices(PRICES)
    await store.upsert_buckets(BUCKETS)


def now_clock(now: int = NOW) -> Clock:
    clock = Clock()
    clock.advance(now)
    return clock


async def start_catalog(test: TestCase, store: IStore, clock: Clock) -> Catalog:
    catalog = Catalog(store, clock)
    catalog.startService()
    test.addCleanup(catalog.stopService)
    await catalog.whenLoaded()
    return catalog


class ApiClient:
    """The API driven in memory through StubTreq, pumped until each async
    route (one that waits on the store's thread) has answered."""

    def __init__(self, api: HttpApi) -> None:
        self.api = api
        self.stub = StubTreq(api.resource())

    async def _settle(self, d: "Deferred[T]") -> T:
        outcome: list[Any] = []
        d.addBoth(lambda result: outcome.append(result))
        waited = 0.0
        while not outcome:
            if waited > DEADLINE:
                d.cancel()
                raise AssertionError("no response within the deadline")
            await deferLater(reactor, 0.002, lambda: None)  # type: ignore[arg-type]
            waited += 0.002
            self.stub.flush()
        if isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        result: T = outcome[0]
        return result

    async def request(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None
    ) -> "Reply":
        url = "http://osrs.test" + path
        response = await self._settle(
            self.stub.request(method, url, data=body, headers=dict(headers or {}))
        )
        content = await self._settle(self.stub.content(response))
        return Reply(response.code, response.headers, content)

    async def get(self, path: str) -> "Reply":
        return await self.request("GET", path)

    async def post_json(self, path: str, payload: Any, gzipped: bool = False) -> "Reply":
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json"}
        if gzipped:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return await self.request("POST", path, body, headers)


class Reply:
    """A response's status, headers and body, decoded as JSON on demand."""

    def __init__(self, code: int, headers: Any, content: bytes) -> None:
        self.code = code
        self.headers = headers
        self.content = content

    @property
    def json(self) -> Any:
        return orjson.loads(self.content)

    def header(self, name: str) -> Optional[str]:
        values = self.headers.getRawHeaders(name)
        return None if not values else str(values[0])


async def make_client(
    test: TestCase,
    store: Optional[IStore] = None,
    clock: Optional[Clock] = None,
    settings: HttpSettings = DEFAULT_SETTINGS,
    models: Optional[ModelRegistry] = None,
    filled: bool = True,
) -> ApiClient:
    """The API over a started, filled SQLite store and a loaded catalog."""
    if store is None:
        store = await start_store(test)
    if filled:
        await fill(store)
    clock = clock or now_clock()
    catalog = await start_catalog(test, store, clock)
    return ApiClient(HttpApi(HealthRegistry(), clock, settings, store=store, models=models, catalog=catalog))
