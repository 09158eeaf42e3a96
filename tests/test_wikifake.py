"""The fake Wiki prices API's own behaviour, driven in memory through StubTreq."""

from __future__ import annotations

import json
from typing import Any, Optional

import orjson
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.fixtures import fixture_path
from tests.wikifake import Captures, Fault, WikiFake

UA = "osrs-twisted-tests/1.0 (tests@example.invalid)"
CAPTURED_NEWEST = 1732999969
OFFSET = 10 * 86400 + 1234
NOW = CAPTURED_NEWEST + OFFSET
STEPS = {"5m": 300, "1h": 3600, "6h": 21600, "24h": 86400}


def _aligned(step: int) -> int:
    return OFFSET - OFFSET % step


class FakeTestCase(SynchronousTestCase):
    """A fake on a Clock set to ``NOW``, and a StubTreq in front of it."""

    def setUp(self) -> None:
        self.directory = fixture_path("wiki/latest.json").parent
        self.clock = Clock()
        self.clock.advance(NOW)
        self.fake = WikiFake(Captures.load(self.directory), self.clock)
        self.treq = StubTreq(self.fake.resource())

    def capture(self, name: str) -> Any:
        return json.loads((self.directory / name).read_text())

    def request(
        self, method: str, path: str, agent: Optional[str] = UA, body: bytes = b""
    ) -> tuple[int, Any, bytes]:
        headers = {} if agent is None else {"User-Agent": agent}
        d = self.treq.request(method, "http://wiki.test" + path, headers=headers, data=body)
        self.treq.flush()
        response = self.successResultOf(d)
        return response.code, response.headers, self.successResultOf(self.treq.content(response))

    def get_json(self, path: str, status: int = 200) -> Any:
        code, _, body = self.request("GET", path)
        self.assertEqual(code, status, body)
        return orjson.loads(body)


class ShapeTests(FakeTestCase):
    """Payloads in the API's shapes, times moved to now."""

    def test_latest_newest_time_is_now(self) -> None:
        data = self.get_json("/latest")["data"]
        times = [t for entry in data.values() for t in (entry["highTime"], entry["lowTime"])]
        self.assertEqual(max(t for t in times if t is not None), NOW)
        self.assertEqual(data["4151"]["lowTime"], 1732999926 + OFFSET)
        self.assertEqual(data["4151"]["high"], 1761642)
        self.assertEqual(
            data["453"], {"high": 151, "highTime": NOW, "low": None, "lowTime": None}
        )
        self.assertNotIn("560", data)
        self.assertEqual(data["20997"]["high"], 2300000000)

    def test_latest_one_id(self) -> None:
        self.assertEqual(list(self.get_json("/latest?id=4151")["data"]), ["4151"])
        self.assertEqual(self.get_json("/latest?id=560"), {"data": {}})
        self.assertIn("error", self.get_json("/latest?id=abc", status=400))

    def test_mapping_is_the_capture(self) -> None:
        self.assertEqual(self.get_json("/mapping"), self.capture("mapping.json"))

    def test_buckets_shifted_and_aligned(self) -> None:
        for step, seconds in STEPS.items():
            payload = self.get_json(f"/{step}")
            captured = self.capture(f"{step}.json")
            self.assertEqual(payload["data"], captured["data"])
            self.assertEqual(payload["timestamp"], captured["timestamp"] + _aligned(seconds))
            self.assertEqual(payload["timestamp"] % seconds, 0)
            self.assertLessEqual(payload["timestamp"], NOW)

    def test_bucket_at_timestamp(self) -> None:
        self.assertEqual(self.get_json("/1h?timestamp=7200")["timestamp"], 7200)

    def test_bucket_bad_timestamp(self) -> None:
        for query in ("/5m?timestamp=301", "/24h?timestamp=3600", "/1h?timestamp=soon"):
            error = self.get_json(query, status=400)
            self.assertIsInstance(error["error"], str)

    def test_timeseries(self) -> None:
        payload = self.get_json("/timeseries?id=4151&timestep=5m")
        captured = self.capture("timeseries-4151-5m.json")
        self.assertEqual(payload["itemId"], 4151)
        self.assertEqual(
            [p["timestamp"] for p in payload["data"]],
            [p["timestamp"] + _aligned(300) for p in captured["data"]],
        )
        self.assertEqual(payload["data"][0]["avgHighPrice"], captured["data"][0]["avgHighPrice"])
        self.assertEqual(
            self.get_json("/timeseries?id=561&timestep=1h"), {"data": [], "itemId": 561}
        )

    def test_timeseries_needs_id_and_timestep(self) -> None:
        for query in ("?timestep=5m", "?id=4151", "?id=4151&timestep=2h", "?id=x&timestep=5m"):
            self.assertIn("error", self.get_json("/timeseries" + query, status=400))


class AgentTests(FakeTestCase):
    """Generic User-Agents are refused, like the real API."""

    def test_generic_agents_forbidden(self) -> None:
        for agent in (None, "", "python-requests/2.32", "curl/8.5.0", "Java/21", "Python-urllib/3.11"):
            code, _, body = self.request("GET", "/latest", agent=agent)
            self.assertEqual(code, 403, agent)
            self.assertIn("error", orjson.loads(body))
        self.assertEqual(self.fake.requests["/latest"], 6)


class FaultTests(FakeTestCase):
    """Faults injected through the Python API and the admin route."""

    def test_status_for_next_request(self) -> None:
        self.fake.inject(Fault("status", status=429, retry_after=7, times=1))
        code, headers, body = self.request("GET", "/latest")
        self.assertEqual(code, 429)
        self.assertEqual(headers.getRawHeaders("retry-after"), ["7"])
        self.assertIn("error", orjson.loads(body))
        self.assertEqual(self.request("GET", "/latest")[0], 200)

    def test_until_cleared_and_per_path(self) -> None:
        self.fake.inject(Fault("status", status=500, path="/latest"))
        for _ in range(3):
            self.assertEqual(self.request("GET", "/latest")[0], 500)
        self.assertEqual(self.request("GET", "/mapping")[0], 200)
        self.fake.clear_faults("/mapping")
        self.assertEqual(self.request("GET", "/latest")[0], 500)
        self.fake.clear_faults("/latest")
        self.assertEqual(self.request("GET", "/latest")[0], 200)

    def test_faults_apply_in_order(self) -> None:
        self.fake.inject(Fault("status", status=503, times=1))
        self.fake.inject(Fault("status", status=502, times=2))
        codes = [self.request("GET", "/5m")[0] for _ in range(4)]
        self.assertEqual(codes, [503, 502, 502, 200])

    def test_malformed(self) -> None:
        self.fake.inject(Fault("malformed", times=1))
        code, _, body = self.request("GET", "/latest")
        self.assertEqual(code, 200)
        self.assertRaises(orjson.JSONDecodeError, orjson.loads, body)

    def test_empty(self) -> None:
        self.fake.inject(Fault("empty"))
        self.assertEqual(self.get_json("/latest"), {"data": {}})
        self.assertEqual(self.get_json("/mapping"), [])
        self.assertEqual(self.get_json("/timeseries?id=4151&timestep=5m"), {"data": [], "itemId": 4151})
        bucket = self.get_json("/6h")
        self.assertEqual(bucket["data"], {})
        self.assertEqual(bucket["timestamp"] % 21600, 0)

    def test_slow(self) -> None:
        self.fake.inject(Fault("slow", delay=5.0, times=1))
        d = self.treq.get("http://wiki.test/latest", headers={"User-Agent": UA})
        self.treq.flush()
        self.assertNoResult(d)
        self.clock.advance(4.9)
        self.treq.flush()
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.treq.flush()
        self.assertEqual(self.successResultOf(d).code, 200)

    def test_admin_route(self) -> None:
        fault = {"kind": "status", "status": 429, "retryAfter": 2, "times": 1, "path": "/1h"}
        code, _, _ = self.request("POST", "/_fault", agent=None, body=orjson.dumps(fault))
        self.assertEqual(code, 201)
        self.assertEqual(self.request("GET", "/5m")[0], 200)
        self.assertEqual(self.request("GET", "/1h")[0], 429)
        self.assertEqual(self.request("GET", "/1h")[0], 200)
        self.fake.inject(Fault("status"))
        self.assertEqual(self.request("DELETE", "/_fault", agent=None)[0], 200)
        self.assertEqual(self.request("GET", "/1h")[0], 200)
        counts = orjson.loads(self.request("GET", "/_requests", agent=None)[2])
        self.assertEqual(counts, {"/5m": 1, "/1h": 3})

    def test_admin_route_rejects_bad_faults(self) -> None:
        for body in (b"{", b"[]", b'{"kind": "boom"}', b'{"kind": "status", "colour": 1}',
                     b'{"kind": "status", "status": 200}', b'{"kind": "slow", "delay": -1}',
                     b'{"kind": "status", "times": 0}', b'{"kind": "status", "status": "x"}'):
            code, _, reply = self.request("POST", "/_fault", body=body)
            self.assertEqual(code, 400, body)
            self.assertIn("error", orjson.loads(reply))
        self.assertEqual(self.request("GET", "/latest")[0], 200)
