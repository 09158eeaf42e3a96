"""Shared fixtures of the HTTP tests: the shared rows, the API driven in
memory through StubTreq over the in-memory store (synchronous: no reactor to
wait for), and the API served over real loopback for the integration tests
on real SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import os
from typing import Any, Generic, Mapping, Optional, TypeVar

import attrs
import orjson
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.http_headers import Headers
from twisted.web.resource import IResource

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import DEFAULT_SETTINGS, HttpApi, HttpSettings
from osrs_twisted.http.site import ApiSite
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.policy import ModelRegistry
from osrs_twisted.records import Item, LatestPrice, PriceBucket
from osrs_twisted.store.factory import open_store
from osrs_twisted.store.interface import IStore
from tests.loopback import listen
from tests.store_helpers import memory_store
from tests.stub_http import stub_treq

T = TypeVar("T")

#: The tests' "now" (Unix seconds).
NOW = 1_733_000_000
DAY = 86_400

#: trial's own bound on each real-reactor HTTP test.
TEST_TIMEOUT = 30


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


async def start_store(test: SynchronousTestCase, url: Optional[str] = None) -> IStore:
    """A started real store (SQLite on a temporary file unless ``url``) on the
    real reactor, stopped at cleanup."""
    if url is None:
        url = "sqlite:///" + os.path.abspath(test.mktemp()) + ".sqlite3"
    store = open_store(url, reactor)
    await store.start()
    test.addCleanup(store.stop)
    return store


def fill(store: IStore) -> "Deferred[None]":
    """Write the shared rows; already fired on the in-memory store."""
    return Deferred.fromCoroutine(_fill(store))


async def _fill(store: IStore) -> None:
    await store.upsert_items(ITEMS)
    await store.upsert_latest_prices(PRICES)
    await store.upsert_buckets(BUCKETS)


def filled_store(clock: Optional[IReactorTime] = None) -> IStore:
    """An in-memory store holding the shared rows."""
    store = memory_store(clock)
    fired(fill(store))
    return store


def fired(d: "Deferred[T]") -> T:
    """The result of ``d``, which must have fired already (a test's
    ``successResultOf``, usable outside a test method)."""
    outcome: list[Any] = []
    d.addBoth(outcome.append)
    if not outcome:
        d.cancel()
        raise AssertionError(f"{d!r} has not fired: something waits on a real reactor")
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    result: T = outcome[0]
    return result


def now_clock(now: int = NOW) -> Clock:
    clock = Clock()
    clock.advance(now)
    return clock


def start_catalog(test: SynchronousTestCase, store: IStore, clock: IReactorTime) -> "Deferred[Catalog]":
    """A started catalog, stopped at cleanup; fires once its first load was
    tried (at once on the in-memory store)."""
    catalog = Catalog(store, clock)
    catalog.startService()
    test.addCleanup(catalog.stopService)
    return catalog.whenLoaded().addCallback(lambda _: catalog)


def json_body(payload: Any, gzipped: bool = False) -> tuple[bytes, dict[str, str]]:
    """A JSON request body and its headers, gzip-encoded if asked."""
    body = orjson.dumps(payload)
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers


@attrs.frozen
class Reply:
    """A response's status, headers and body, decoded as JSON on demand."""

    code: int
    headers: Headers
    content: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.content)

    def header(self, name: str) -> Optional[str]:
        values = self.headers.getRawHeaders(name)
        return None if not values else str(values[0])


R = TypeVar("R")


class _Requests(Generic[R]):
    """The request shorthands over one ``request``: ``R`` is a ``Reply``
    in memory, a ``Deferred`` of one over loopback."""

    def request(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None
    ) -> R:
        raise NotImplementedError

    def get(self, path: str) -> R:
        return self.request("GET", path)

    def post_json(self, path: str, payload: Any, gzipped: bool = False) -> R:
        return self.request("POST", path, *json_body(payload, gzipped))


class ApiClient(_Requests[Reply]):
    """The API driven in memory through StubTreq. Over the in-memory store
    (or none) every route answers synchronously, so each call returns the
    reply itself. ``resource`` (the API's own by default) lets a wrapper
    stand in front of it."""

    def __init__(self, api: HttpApi, resource: Optional[IResource] = None) -> None:
        self.api = api
        self.stub = stub_treq(api.resource() if resource is None else resource)

    def _now(self, d: "Deferred[T]") -> T:
        self.stub.flush()
        return fired(d)

    def request(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None
    ) -> Reply:
        sent = self.stub.request(method, "http://osrs.test" + path, data=body, headers=dict(headers or {}))
        response = self._now(sent)
        return Reply(response.code, response.headers, self._now(self.stub.content(response)))


def make_client(
    test: SynchronousTestCase,
    store: Optional[IStore] = None,
    clock: Optional[Clock] = None,
    settings: HttpSettings = DEFAULT_SETTINGS,
    models: Optional[ModelRegistry] = None,
    filled: bool = True,
) -> ApiClient:
    """The API in memory over a loaded catalog of ``store`` (an in-memory one
    unless given; with ``filled``, the shared rows are written first)."""
    clock = clock or now_clock()
    if store is None:
        store = memory_store(clock)
    if filled:
        fired(fill(store))
    catalog = fired(start_catalog(test, store, clock))
    return ApiClient(HttpApi(HealthRegistry(), clock, settings, store=store, models=models, catalog=catalog))


class LoopbackClient(_Requests["Deferred[Reply]"]):
    """The API served by ``ApiSite`` on 127.0.0.1 of the real reactor, asked
    with treq over a connection pool of its own."""

    def __init__(self, api: HttpApi, url: str, pool: HTTPConnectionPool) -> None:
        self.api = api
        self.url = url
        self.pool = pool

    def request(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None
    ) -> "Deferred[Reply]":
        return Deferred.fromCoroutine(self._request(method, path, body, headers or {}))

    async def _request(self, method: str, path: str, body: Any, headers: Mapping[str, str]) -> Reply:
        sent: dict[str | bytes, str | bytes] = {name: value for name, value in headers.items()}
        response = await treq.request(method, self.url + path, data=body, headers=sent, pool=self.pool)
        return Reply(response.code, response.headers, await treq.content(response))

    def post(self, path: str, data: Any, headers: Mapping[str, str]) -> "Deferred[Reply]":
        """A body of any kind treq sends (bytes, or a producer: chunked)."""
        return Deferred.fromCoroutine(self._request("POST", path, data, headers))


async def serve_api(
    test: SynchronousTestCase,
    store: IStore,
    clock: Optional[Clock] = None,
    settings: HttpSettings = DEFAULT_SETTINGS,
) -> LoopbackClient:
    """The API over ``store`` and a loaded catalog, listening on an ephemeral
    loopback port of the real reactor; port and pool closed at cleanup."""
    clock = clock or now_clock()
    catalog = await start_catalog(test, store, clock)
    return serve(test, HttpApi(HealthRegistry(), clock, settings, store=store, catalog=catalog))


def serve(test: SynchronousTestCase, api: HttpApi) -> LoopbackClient:
    """``api`` listening on an ephemeral loopback port of the real reactor;
    port and pool closed at cleanup."""
    port = listen(test, ApiSite(api.resource(), api.settings.max_body_bytes))
    pool = HTTPConnectionPool(reactor)
    test.addCleanup(pool.closeCachedConnections)
    return LoopbackClient(api, f"http://127.0.0.1:{port}", pool)
