"""The Wiki prices client: pure parsers, retry timing on a Clock, and the real
client against the fake over loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import orjson
from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet import reactor as global_reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.server import Site

from osrs_twisted.jobs.wiki import (
    WikiBadRequest,
    WikiClient,
    WikiForbidden,
    WikiHTTPError,
    WikiNotFound,
    WikiPayloadError,
    WikiUnavailable,
    is_generic_user_agent,
)
from osrs_twisted.jobs.wiki_parse import (
    parse_bucket,
    parse_latest,
    parse_mapping,
    parse_timeseries,
)
from osrs_twisted.records import Item, LatestPrice, PriceBucket
from tests.fixtures import fixture_path
from tests.wikifake import Captures, Fault, WikiFake

UA = "osrs-twisted-tests/1.0 (tests@example.invalid)"

WHIP_ITEM = Item(
    id=4151,
    name="Abyssal whip",
    examine="A weapon from the abyss.",
    members=True,
    lowalch=48000,
    highalch=72000,
    limit=70,
    value=120001,
    icon="Abyssal whip.png",
)


def _captures_dir() -> Path:
    return fixture_path("wiki/latest.json").parent


def _dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)


class ParseFixtureTests(SynchronousTestCase):
    """The parsers on the captured payloads."""

    def read(self, name: str) -> bytes:
        return (_captures_dir() / name).read_bytes()

    def test_mapping(self) -> None:
        items = {item.id: item for item in parse_mapping(self.read("mapping.json"))}
        self.assertEqual(len(items), 15)
        self.assertEqual(items[4151], WHIP_ITEM)
        self.assertIsNone(items[453].limit)
        self.assertEqual(items[453].highalch, items[453].value * 3 // 5)

    def test_latest(self) -> None:
        prices = {p.item_id: p for p in parse_latest(self.read("latest.json"))}
        self.assertEqual(prices[453], LatestPrice(453, 151, 1732999969, None, None))
        self.assertNotIn(560, prices)
        self.assertEqual(prices[20997].high, 2300000000)

    def test_buckets(self) -> None:
        for step in ("5m", "1h", "6h", "24h"):
            start, rows = parse_bucket(self.read(f"{step}.json"), step)
            death = {row.item_id: row for row in rows}[560]
            self.assertEqual(death, PriceBucket(560, step, start, None, 187.5, 0, 4))

    def test_timeseries(self) -> None:
        points = parse_timeseries(self.read("timeseries-4151-5m.json"), 4151, "5m")
        self.assertEqual(len(points), 12)
        self.assertEqual(points[0], PriceBucket(4151, "5m", 1732996200, 1762500.0, 1760000.0, 3, 2))
        self.assertEqual([p.avg_low for p in points].count(None), 1)


LATEST_OK = {"high": 5, "highTime": 10, "low": 4, "lowTime": 9}
BUCKET_OK = {"avgHighPrice": 5, "highPriceVolume": 1, "avgLowPrice": 4.5, "lowPriceVolume": 2}
MAPPING_OK = {"id": 2, "name": "Cannonball", "examine": "Ammo.", "members": True, "icon": "c.png"}


class MalformedTests(SynchronousTestCase):
    """Every malformed shape rejects the whole payload, naming what and where."""

    def assertRejects(
        self, parse: Callable[[bytes], object], payload: Any, *words: str
    ) -> None:
        body = payload if isinstance(payload, bytes) else _dumps(payload)
        error = self.assertRaises(WikiPayloadError, parse, body)
        for word in words:
            self.assertIn(word, str(error))

    def test_not_json(self) -> None:
        self.assertRejects(parse_latest, b"{\"data\": {", "/latest", "not JSON")
        self.assertRejects(parse_mapping, b"<html>", "/mapping", "not JSON")
        self.assertRejects(lambda b: parse_bucket(b, "1h"), b"", "/1h")
        self.assertRejects(lambda b: parse_timeseries(b, 1, "5m"), b"nul", "/timeseries")

    def test_latest(self) -> None:
        bad = {
            "top level list": ([LATEST_OK], "top level"),
            "no data": ({"items": {}}, "'data'"),
            "data list": ({"data": [LATEST_OK]}, "'data'"),
            "id not int": ({"data": {"abc": LATEST_OK}}, "'abc'"),
            "id negative": ({"data": {"-1": LATEST_OK}}, "'-1'"),
            "entry list": ({"data": {"2": [5]}}, "item '2'"),
            "missing lowTime": ({"data": {"2": {"high": 5, "highTime": 1, "low": 4}}}, "lowTime"),
            "string price": ({"data": {"2": {**LATEST_OK, "high": "5"}}}, "'high'"),
            "bool price": ({"data": {"2": {**LATEST_OK, "low": True}}}, "'low'"),
            "negative price": ({"data": {"2": {**LATEST_OK, "high": -5}}}, "negative"),
            "float price": ({"data": {"2": {**LATEST_OK, "high": 1.5}}}, "'high'"),
        }
        for name, (payload, word) in bad.items():
            with self.subTest(name):
                self.assertRejects(parse_latest, payload, "/latest", word)

    def test_latest_accepts_large_prices_and_nulls(self) -> None:
        payload = {"data": {"2": {"high": 2**40, "highTime": 1, "low": None, "lowTime": None}}}
        self.assertEqual(parse_latest(_dumps(payload)), [LatestPrice(2, 2**40, 1, None, None)])

    def test_mapping(self) -> None:
        bad = {
            "top level dict": ({"data": [MAPPING_OK]}, "top level"),
            "element not object": ([MAPPING_OK, 3], "element 1"),
            "missing name": ([{k: v for k, v in MAPPING_OK.items() if k != "name"}], "'name'"),
            "missing id": ([{k: v for k, v in MAPPING_OK.items() if k != "id"}], "'id'"),
            "id string": ([{**MAPPING_OK, "id": "2"}], "id"),
            "members string": ([{**MAPPING_OK, "members": "yes"}], "'members'"),
            "limit bool": ([{**MAPPING_OK, "limit": True}], "'limit'"),
            "value negative": ([{**MAPPING_OK, "value": -1}], "'value'"),
            "duplicate": ([MAPPING_OK, MAPPING_OK], "duplicate"),
        }
        for name, (payload, word) in bad.items():
            with self.subTest(name):
                self.assertRejects(parse_mapping, payload, "/mapping", word)

    def test_mapping_optional_fields(self) -> None:
        (item,) = parse_mapping(_dumps([{**MAPPING_OK, "limit": None}]))
        self.assertEqual((item.lowalch, item.highalch, item.limit, item.value), (None,) * 4)

    def test_bucket(self) -> None:
        good = {"data": {"2": BUCKET_OK}, "timestamp": 3600}
        bad = {
            "no timestamp": ({"data": {"2": BUCKET_OK}}, "'timestamp'"),
            "timestamp off step": ({**good, "timestamp": 3900}, "multiple of 1h"),
            "timestamp string": ({**good, "timestamp": "3600"}, "timestamp"),
            "avg negative": ({**good, "data": {"2": {**BUCKET_OK, "avgLowPrice": -1.5}}}, "avgLowPrice"),
            "avg bool": ({**good, "data": {"2": {**BUCKET_OK, "avgHighPrice": False}}}, "avgHighPrice"),
            "volume null": ({**good, "data": {"2": {**BUCKET_OK, "lowPriceVolume": None}}}, "lowPriceVolume"),
            "volume negative": ({**good, "data": {"2": {**BUCKET_OK, "highPriceVolume": -3}}}, "negative"),
            "volume float": ({**good, "data": {"2": {**BUCKET_OK, "highPriceVolume": 1.0}}}, "highPriceVolume"),
            "missing volume": (
                {**good, "data": {"2": {k: v for k, v in BUCKET_OK.items() if k != "highPriceVolume"}}},
                "item 2",
            ),
        }
        for name, (payload, word) in bad.items():
            with self.subTest(name):
                self.assertRejects(lambda b: parse_bucket(b, "1h"), payload, "/1h", word)

    def test_timeseries(self) -> None:
        point = {**BUCKET_OK, "timestamp": 600}
        bad = {
            "wrong item": ({"data": [point], "itemId": 3}, "itemId 3"),
            "no itemId": ({"data": [point]}, "'itemId'"),
            "data dict": ({"data": {"600": point}, "itemId": 2}, "'data'"),
            "not increasing": ({"data": [point, point], "itemId": 2}, "point 1"),
            "missing average": (
                {"data": [{k: v for k, v in point.items() if k != "avgLowPrice"}], "itemId": 2},
                "avgLowPrice",
            ),
        }
        for name, (payload, word) in bad.items():
            with self.subTest(name):
                self.assertRejects(lambda b: parse_timeseries(b, 2, "5m"), payload, "/timeseries", word)


class UserAgentTests(SynchronousTestCase):
    """Generic agents are refused before any request is made."""

    def test_generic_refused(self) -> None:
        for agent in ("", "  ", "python-requests/2.31", "Python-urllib/3.11", "curl/8.5",
                      "Java/17", "Twisted PageGetter", "treq/26"):
            with self.subTest(agent):
                self.assertTrue(is_generic_user_agent(agent))
                error = self.assertRaises(ValueError, WikiClient, Clock(), "http://x", agent)
                self.assertIn("--wiki-user-agent", str(error))
                self.assertIn("blocks", str(error))

    def test_descriptive_accepted(self) -> None:
        self.assertFalse(is_generic_user_agent(UA))


class ClockTests(SynchronousTestCase):
    """Retry timing, with the fake in memory and a Clock for the waits."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.fake = WikiFake(Captures.load(_captures_dir()), self.clock, now=lambda: 1733000000)
        self.treq = StubTreq(self.fake.resource())

    def client(self, **options: Any) -> WikiClient:
        settings: dict[str, Any] = dict(
            http=self.treq, timeout=30.0, max_attempts=4, backoff_base=2.0, backoff_cap=5.0,
            random=lambda: 0.5,
        )
        settings.update(options)
        return WikiClient(self.clock, "http://wiki.test/", UA, **settings)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.treq.flush()

    def test_retry_after_honoured(self) -> None:
        self.fake.inject(Fault("status", status=429, retry_after=4, times=1))
        d = self.client().latest()
        self.treq.flush()
        self.assertNoResult(d)
        self.advance(3.9)
        self.assertEqual(self.fake.requests["/latest"], 1)
        self.advance(0.1)
        self.assertEqual(self.fake.requests["/latest"], 2)
        self.assertEqual(len(self.successResultOf(d)), 14)

    def test_retry_after_capped(self) -> None:
        self.fake.inject(Fault("status", status=503, retry_after=3600, times=1))
        d = self.client().mapping()
        self.treq.flush()
        self.advance(5.0)
        self.assertEqual(len(self.successResultOf(d)), 15)

    def test_backoff_with_jitter_then_give_up(self) -> None:
        self.fake.inject(Fault("status", status=500))
        d = self.client().bucket("5m")
        self.treq.flush()
        # random() = 0.5 of min(cap 5, 2 * 2**n): waits 1, 2, 2.5.
        for wait, attempts in ((1.0, 2), (2.0, 3), (2.5, 4)):
            self.advance(wait - 0.01)
            self.assertEqual(self.fake.requests["/5m"], attempts - 1)
            self.advance(0.01)
            self.assertEqual(self.fake.requests["/5m"], attempts)
        error = self.failureResultOf(d, WikiUnavailable).value
        self.assertIn("after 4 attempts", str(error))
        self.assertIn("HTTP 500", str(error))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_refusals_not_retried(self) -> None:
        for status, kind in ((400, WikiBadRequest), (403, WikiForbidden), (404, WikiNotFound),
                             (410, WikiHTTPError)):
            with self.subTest(status):
                self.fake.inject(Fault("status", status=status, times=1))
                d = self.client().timeseries(4151, "5m")
                self.treq.flush()
                error = self.failureResultOf(d, kind).value
                self.assertEqual(error.status, status)
                self.assertEqual(error.api_error, f"injected fault: HTTP {status}")
                self.assertIn(f"/timeseries answered HTTP {status}", str(error))
        self.assertEqual(self.fake.requests["/timeseries"], 4)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_forbidden_names_the_option(self) -> None:
        self.fake.inject(Fault("status", status=403, times=1))
        d = self.client().latest()
        self.treq.flush()
        self.assertIn("--wiki-user-agent", str(self.failureResultOf(d, WikiForbidden).value))

    def test_bad_arguments(self) -> None:
        client = self.client()
        self.assertRaises(ValueError, client.bucket, "2h")
        self.assertRaises(ValueError, client.bucket, "5m", 301)
        self.assertRaises(ValueError, client.timeseries, 4151, "1d")
        self.assertRaises(ValueError, self.client, max_attempts=0)
        self.assertEqual(sum(self.fake.requests.values()), 0)

    def test_bucket_at_timestamp(self) -> None:
        d = self.client().bucket("6h", 21600 * 3)
        self.treq.flush()
        start, rows = self.successResultOf(d)
        self.assertEqual(start, 64800)
        self.assertEqual({row.timestamp for row in rows}, {64800})


class LoopbackTests(TestCase):
    """The real client over real TCP against the fake on 127.0.0.1."""

    timeout = 20

    def setUp(self) -> None:
        self.reactor: Any = global_reactor
        self.fake = WikiFake(Captures.load(_captures_dir()), self.reactor)
        port = self.reactor.listenTCP(0, Site(self.fake.resource()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.base_url = f"http://127.0.0.1:{port.getHost().port}"
        pool = HTTPConnectionPool(self.reactor)
        self.addCleanup(pool.closeCachedConnections)
        self.http = HTTPClient(Agent(self.reactor, pool=pool))

    def client(self, **options: Any) -> WikiClient:
        settings: dict[str, Any] = dict(
            http=self.http, timeout=2.0, max_attempts=3, backoff_base=0.01, backoff_cap=0.05
        )
        settings.update(options)
        return WikiClient(self.reactor, self.base_url, UA, **settings)

    async def test_mapping(self) -> None:
        items = {item.id: item for item in await self.client().mapping()}
        self.assertEqual(len(items), 15)
        self.assertEqual(items[4151], WHIP_ITEM)
        self.assertIsNone(items[453].limit)

    async def test_latest(self) -> None:
        prices = {p.item_id: p for p in await self.client().latest()}
        now = int(self.reactor.seconds())
        self.assertIsNone(prices[453].low)
        self.assertIsNone(prices[453].low_time)
        self.assertNotIn(560, prices)
        self.assertEqual(prices[20997].high, 2300000000)
        self.assertEqual(prices[4151].high, 1761642)
        newest = max(p.high_time or 0 for p in prices.values())
        self.assertLessEqual(abs(now - newest), 2)
        self.assertEqual(self.fake.requests["/latest"], 1)

    async def test_buckets(self) -> None:
        client = self.client()
        for step, seconds in (("5m", 300), ("1h", 3600), ("6h", 21600), ("24h", 86400)):
            start, rows = await client.bucket(step)
            self.assertEqual(start % seconds, 0)
            self.assertEqual(len(rows), 15)
            death = {row.item_id: row for row in rows}[560]
            self.assertEqual(death, PriceBucket(560, step, start, None, 187.5, 0, 4))

    async def test_timeseries(self) -> None:
        points = await self.client().timeseries(4151, "5m")
        self.assertEqual(len(points), 12)
        self.assertEqual([p.timestamp % 300 for p in points], [0] * 12)
        self.assertEqual(sorted(p.timestamp for p in points), [p.timestamp for p in points])
        self.assertEqual(sum(p.avg_low is None for p in points), 1)

    async def test_forbidden(self) -> None:
        self.fake.inject(Fault("status", status=403, times=1))
        with self.assertRaises(WikiForbidden):
            await self.client().latest()
        self.assertEqual(self.fake.requests["/latest"], 1)

    async def test_bad_request(self) -> None:
        self.fake.inject(Fault("status", status=400, times=1))
        with self.assertRaises(WikiBadRequest) as caught:
            await self.client().bucket("1h")
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.api_error, "injected fault: HTTP 400")
        self.assertEqual(self.fake.requests["/1h"], 1)

    async def test_too_many_requests_retry_after(self) -> None:
        self.fake.inject(Fault("status", status=429, retry_after=1, times=1))
        started = self.reactor.seconds()
        prices = await self.client(backoff_cap=5.0).latest()
        self.assertGreaterEqual(self.reactor.seconds() - started, 1.0)
        self.assertEqual(len(prices), 14)
        self.assertEqual(self.fake.requests["/latest"], 2)

    async def test_server_error_retried_then_succeeds(self) -> None:
        self.fake.inject(Fault("status", status=502, times=2))
        self.assertEqual(len(await self.client().mapping()), 15)
        self.assertEqual(self.fake.requests["/mapping"], 3)

    async def test_server_error_gives_up(self) -> None:
        self.fake.inject(Fault("status", status=500))
        with self.assertRaises(WikiUnavailable) as caught:
            await self.client().latest()
        self.assertIn("/latest failed after 3 attempts", str(caught.exception))
        self.assertIn("HTTP 500: injected fault", str(caught.exception))
        self.assertEqual(self.fake.requests["/latest"], 3)

    async def test_slow_reply_times_out_then_retries(self) -> None:
        self.fake.inject(Fault("slow", delay=3.0, times=1))
        prices = await self.client(timeout=0.2).latest()
        self.assertEqual(len(prices), 14)
        self.assertEqual(self.fake.requests["/latest"], 2)

    async def test_malformed_not_retried(self) -> None:
        self.fake.inject(Fault("malformed"))
        with self.assertRaises(WikiPayloadError) as caught:
            await self.client().bucket("24h")
        self.assertIn("/24h", str(caught.exception))
        self.assertEqual(self.fake.requests["/24h"], 1)

    async def test_empty(self) -> None:
        self.fake.inject(Fault("empty"))
        self.assertEqual(await self.client().latest(), [])
        start, rows = await self.client().bucket("5m")
        self.assertEqual((start % 300, rows), (0, []))

    async def test_connection_refused(self) -> None:
        closed = self.reactor.listenTCP(0, Site(self.fake.resource()), interface="127.0.0.1")
        url = f"http://127.0.0.1:{closed.getHost().port}"
        await closed.stopListening()
        client = WikiClient(self.reactor, url, UA, http=self.http, max_attempts=2,
                            backoff_base=0.01)
        with self.assertRaises(WikiUnavailable) as caught:
            await client.mapping()
        self.assertIn("ConnectionRefused", str(caught.exception))

    async def test_own_connection_pool(self) -> None:
        client = WikiClient(self.reactor, self.base_url, UA)
        self.addCleanup(client.close)
        self.assertEqual(len(await client.mapping()), 15)
