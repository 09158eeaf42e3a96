"""``GET /bots`` and ``GET /bots/{instanceId}`` over heartbeats posted to
``/healthcheck``: the API served over real loopback on real SQLite and real
PostgreSQL (the integration tests of the HTTP API on each backend)."""

from __future__ import annotations

from typing import Optional

from twisted.trial.unittest import TestCase

from tests import pgserver
from tests.http_helpers import NOW, TEST_TIMEOUT, now_clock, serve_api, start_store


class BotRoundTrip:
    """The same round trip on each backend."""

    timeout = TEST_TIMEOUT

    def database_url(self) -> Optional[str]:
        return None

    async def test_round_trip(self) -> None:
        assert isinstance(self, TestCase)
        clock = now_clock()
        store = await start_store(self, self.database_url())
        client = await serve_api(self, store, clock)
        self.assertEqual((await client.post_json("/healthcheck", {"instanceId": "bot-1", "hp": 10})).code, 200)
        clock.advance(5)
        await client.post_json("/healthcheck", {"instanceId": "bot-2", "task": "mining", "extra": {"a": [1]}})
        clock.advance(5)
        await client.post_json("/healthcheck", {"instanceId": "bot-1", "hp": 12}, gzipped=True)
        clock.advance(3)

        bots = (await client.get("/bots")).json["bots"]
        self.assertEqual(bots, [
            {"instanceId": "bot-1", "receivedAt": NOW + 10, "ageSeconds": 3,
             "state": {"instanceId": "bot-1", "hp": 12}},
            {"instanceId": "bot-2", "receivedAt": NOW + 5, "ageSeconds": 8,
             "state": {"instanceId": "bot-2", "task": "mining", "extra": {"a": [1]}}},
        ])  # fmt: skip

        history = (await client.get("/bots/bot-1")).json
        self.assertEqual(history, {"instanceId": "bot-1", "heartbeats": [
            {"receivedAt": NOW + 10, "state": {"instanceId": "bot-1", "hp": 12}},
            {"receivedAt": NOW, "state": {"instanceId": "bot-1", "hp": 10}},
        ]})  # fmt: skip
        self.assertEqual(len((await client.get("/bots/bot-1/?limit=1")).json["heartbeats"]), 1)

        missing = await client.get("/bots/bot-404")
        self.assertEqual((missing.code, missing.json["code"]), (404, "not_found"))
        self.assertIn("bot-404", missing.json["error"])
        bad = await client.get("/bots/bot-1?limit=none")
        self.assertEqual(bad.code, 400)
        self.assertIn("limit", bad.json["error"])


class SQLiteBotTests(BotRoundTrip, TestCase):
    pass


class PostgresBotTests(BotRoundTrip, TestCase):
    def database_url(self) -> Optional[str]:
        return pgserver.fresh_database(self)
