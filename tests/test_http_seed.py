"""The seed's paths, field by field (seed-compat.md), and their ``{"detail"}`` errors."""

from __future__ import annotations

import gzip
import zlib

import orjson
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.http.api import HttpSettings
from osrs_twisted.records import LatestPrice
from tests.http_helpers import NOW, filled_store, make_client

HEARTBEAT = {
    "instanceId": "bot-7", "timestamp": NOW - 3, "task": "fishing", "hp": 99, "x": 3200, "y": 3200, "plane": 0,
    "inCombat": False, "inventoryCount": 27, "runEnergy": 87, "xpGained": {"fishing": 1200}, "custom": [1, 2],
}  # fmt: skip


class SeedSearchTests(SynchronousTestCase):
    def test_exact_name_shape(self) -> None:
        client = make_client(self)
        for path in ("/items/search?name=Abyssal%20whip", "/items/search/?name=ABYSSAL+WHIP"):
            reply = client.get(path)
            self.assertEqual(reply.code, 200, path)
            self.assertEqual(
                reply.json,
                {"id": 4151, "source_id": 4151, "name": "Abyssal whip", "is_members": True,
                 "low_alch_price": 48000, "high_alch_price": 72000, "ge_buy_limit": 70,
                 "examine_text": "A weapon from the abyss.", "item_type": "UNKNOWN"},
            )  # fmt: skip

    def test_only_exact_matches(self) -> None:
        client = make_client(self)
        reply = client.get("/items/search?name=whip%20of")
        self.assertEqual((reply.code, reply.json), (404, {"detail": "Item whip of not found"}))

    def test_missing_name(self) -> None:
        client = make_client(self)
        for path in ("/items/search", "/items/search?name="):
            reply = client.get(path)
            self.assertEqual(reply.code, 422)
            self.assertEqual(list(reply.json), ["detail"])
            self.assertIn("name", reply.json["detail"])


class SeedPriceTests(SynchronousTestCase):
    def test_current_price_shape(self) -> None:
        store = filled_store()
        self.successResultOf(store.upsert_latest_prices([LatestPrice(4151, 1761642, 1633570221, 1760000, 1633570184)]))
        client = make_client(self, store=store, filled=False)
        reply = client.get("/items/current-price?item_source_id=4151")
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            reply.json,
            {"item_source_id": 4151, "high_price": 1761642, "high_timestamp": "2021-10-07T01:30:21Z",
             "low_price": 1760000, "low_timestamp": "2021-10-07T01:29:44Z",
             "average_price": 1760821, "average_timestamp": "2021-10-07T01:30:02Z"},
        )  # fmt: skip

    def test_one_side(self) -> None:
        client = make_client(self)
        reply = client.get("/items/current-price/?item_source_id=1127")
        body = reply.json
        self.assertEqual((body["low_price"], body["low_timestamp"]), (None, None))
        self.assertEqual(body["average_price"], 38000)
        self.assertEqual(body["average_timestamp"], body["high_timestamp"])

    def test_no_price(self) -> None:
        client = make_client(self)
        for item_id in (30004, 999999):
            reply = client.get(f"/items/current-price?item_source_id={item_id}")
            self.assertEqual((reply.code, reply.json), (404, {"detail": f"No price for item {item_id}"}))

    def test_bad_parameter(self) -> None:
        client = make_client(self)
        for query in ("", "?item_source_id=", "?item_source_id=whip"):
            reply = client.get("/items/current-price" + query)
            self.assertEqual(reply.code, 422, query)
            self.assertIn("item_source_id", reply.json["detail"])


class HeartbeatTests(SynchronousTestCase):
    def test_heartbeat_stored_as_sent(self) -> None:
        client = make_client(self)
        reply = client.post_json("/healthcheck", HEARTBEAT)
        self.assertEqual((reply.code, reply.json), (200, {"status": "ok"}))
        bots = client.get("/bots").json["bots"]
        self.assertEqual(bots, [{"instanceId": "bot-7", "receivedAt": NOW, "ageSeconds": 0, "state": HEARTBEAT}])

    def test_gzip_and_trailing_slash(self) -> None:
        client = make_client(self)
        reply = client.post_json("/healthcheck/", {**HEARTBEAT, "instanceId": "bot-9"}, gzipped=True)
        self.assertEqual((reply.code, reply.json), (200, {"status": "ok"}))
        history = client.get("/bots/bot-9").json
        self.assertEqual(history["heartbeats"][0]["state"]["instanceId"], "bot-9")

    def test_invalid_payloads(self) -> None:
        client = make_client(self)
        cases = [
            (b"not json", "not JSON"),
            (b"[1, 2]", "expected a JSON object"),
            (b"{}", "instanceId"),
            (orjson.dumps({"instanceId": 7}), "instanceId"),
            (orjson.dumps({"instanceId": "b", "timestamp": "now"}), "timestamp"),
            (orjson.dumps({"instanceId": "b", "timestamp": True}), "timestamp"),
            (orjson.dumps({"instanceId": "b", "inCombat": "no"}), "inCombat"),
            (orjson.dumps({"instanceId": "b", "xpGained": {"attack": "lots"}}), "xpGained"),
        ]
        for body, named in cases:
            reply = client.request("POST", "/healthcheck", body, {"Content-Type": "application/json"})
            self.assertEqual(reply.code, 400, body)
            self.assertEqual(list(reply.json), ["detail"])
            self.assertTrue(reply.json["detail"].startswith("Invalid payload format: "), reply.json)
            self.assertIn(named, reply.json["detail"])
        self.assertEqual(client.get("/bots").json, {"bots": []})

    def test_corrupt_and_truncated_gzip_are_400(self) -> None:
        client = make_client(self)
        packed = gzip.compress(orjson.dumps(HEARTBEAT))
        for body in (b"\x1f\x8b garbage", packed[: len(packed) // 2]):
            reply = client.request("POST", "/healthcheck", body, {"Content-Encoding": "gzip"})
            self.assertEqual(reply.code, 400)
            self.assertIn("gzip", reply.json["detail"])

    def test_zip_bomb_is_413(self) -> None:
        client = make_client(self, settings=HttpSettings(max_body_bytes=64 * 1024))
        bomb = gzip.compress(b'{"instanceId": "b", "pad": "' + b"0" * (10 * 1024 * 1024) + b'"}')
        self.assertLess(len(bomb), 64 * 1024)
        reply = client.request("POST", "/healthcheck", bomb, {"Content-Encoding": "gzip"})
        self.assertEqual(reply.code, 413)
        self.assertIn("limit", reply.json["detail"])

    def test_unsupported_encoding_is_415(self) -> None:
        client = make_client(self)
        body = zlib.compress(orjson.dumps(HEARTBEAT))
        reply = client.request("POST", "/healthcheck", body, {"Content-Encoding": "br"})
        self.assertEqual(reply.code, 415)
        self.assertIn("Content-Encoding", reply.json["detail"])

    def test_get_is_405(self) -> None:
        client = make_client(self)
        reply = client.get("/healthcheck")
        self.assertEqual(reply.code, 405)
        self.assertIn("POST", reply.header("Allow") or "")
