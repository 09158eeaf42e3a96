"""``/prices/latest``, ``/prices/flips`` and ``/prices/alchs``: which items,
in which order, with which figures, and the 400s for bad parameters."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.http_helpers import make_client


def ids(reply_json: dict) -> list[int]:
    return [item["id"] for item in reply_json["items"]]


class LatestTests(SynchronousTestCase):
    def test_chosen_items_in_order_unknown_left_out(self) -> None:
        client = make_client(self)
        reply = client.get("/prices/latest?ids=561,999999,4151,561")
        self.assertEqual(reply.code, 200)
        self.assertEqual(ids(reply.json), [561, 4151])
        self.assertEqual(reply.json["items"][1]["price"]["margin"], -33590)
        self.assertEqual(client.get("/prices/latest/?ids=30004").json["items"][0]["price"], None)

    def test_bad_ids(self) -> None:
        client = make_client(self)
        for query in ("", "?ids=", "?ids=4151,abc", "?ids=,"):
            reply = client.get("/prices/latest" + query)
            self.assertEqual(reply.code, 400, query)
            self.assertIn("ids", reply.json["error"])


class FlipTests(SynchronousTestCase):
    def test_each_sort_best_first(self) -> None:
        client = make_client(self)
        expected = {
            "margin": [13190, 30003, 30001, 30002, 561, 30006, 4151],
            "roi": [30003, 30001, 30002, 13190, 561, 30006, 4151],
            "limitProfit": [13190, 561, 30003, 30001, 30002, 30006, 4151],
            "volume": [561, 4151, 30001, 13190, 30002, 30003, 30006],
        }
        for sort, order in expected.items():
            self.assertEqual(ids(client.get(f"/prices/flips?sort={sort}&limit=50").json), order, sort)
        self.assertEqual(ids(client.get("/prices/flips").json), expected["margin"])

    def test_filters(self) -> None:
        client = make_client(self)
        self.assertEqual(ids(client.get("/prices/flips?minVolume=100").json), [561, 4151])
        self.assertEqual(ids(client.get("/prices/flips?members=false").json), [13190, 561])
        self.assertEqual(ids(client.get("/prices/flips?maxPrice=1000").json), [30003, 30001, 30002, 561])
        self.assertEqual(ids(client.get("/prices/flips?sort=roi&limit=2").json), [30003, 30001])

    def test_bad_parameters(self) -> None:
        client = make_client(self)
        for query, name in [("sort=profit", "sort"), ("minVolume=-5", "minVolume"), ("maxPrice=0", "maxPrice"),
                            ("members=2", "members"), ("limit=x", "limit")]:
            reply = client.get("/prices/flips?" + query)
            self.assertEqual(reply.code, 400, query)
            self.assertTrue(reply.json["error"].startswith(name), reply.json)


class AlchTests(SynchronousTestCase):
    def test_alch_profit_best_first(self) -> None:
        client = make_client(self)
        reply = client.get("/prices/alchs?limit=100")
        self.assertEqual(ids(reply.json), [1127, 30006, 30001, 561, 30005, 30002, 30003, 4151])
        profits = [item["price"]["alchProfit"] for item in reply.json["items"]]
        self.assertEqual(profits, [880, 380, -120, -132, -260, -460, -600, 72000 - 1761642 - 120])
        self.assertEqual(reply.json["items"][0]["price"]["high"], 38000)
        self.assertEqual(ids(client.get("/prices/alchs/?limit=1").json), [1127])
        self.assertEqual(client.get("/prices/alchs?limit=0").code, 400)
