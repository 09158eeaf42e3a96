"""``GET /items``, ``GET /items/{id}``, ``GET /items/{id}/prices``: shapes,
figures, search ranking, paging and every error path."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi, HttpSettings
from tests.http_helpers import NOW, ApiClient, make_client, now_clock


class ItemTests(SynchronousTestCase):
    def test_item_shape(self) -> None:
        client = make_client(self)
        reply = client.get("/items/4151")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("Content-Type"), "application/json")
        self.assertEqual(
            reply.json,
            {
                "id": 4151, "name": "Abyssal whip", "examine": "A weapon from the abyss.", "members": True,
                "lowalch": 48000, "highalch": 72000, "limit": 70, "value": 120001, "icon": "Abyssal whip.png",
                "price": {
                    "high": 1761642, "highTime": NOW - 50, "low": 1760000, "lowTime": NOW - 100,
                    "mid": 1760821, "tax": 35232, "margin": -33590, "roi": -0.019085, "limitProfit": -2351300,
                    "volume24h": 1234, "stale": False,
                },
            },
        )  # fmt: skip

    def test_missing_sides_make_figures_null(self) -> None:
        client = make_client(self)
        platebody = client.get("/items/1127").json["price"]
        self.assertEqual(
            platebody,
            {
                "high": 38000, "highTime": NOW - 30, "low": None, "lowTime": None, "mid": 38000, "tax": 760,
                "margin": None, "roi": None, "limitProfit": None, "volume24h": None, "stale": False,
            },
        )  # fmt: skip
        self.assertIsNone(client.get("/items/30004").json["price"])

    def test_tax_exempt_and_stale(self) -> None:
        client = make_client(self)
        bond = client.get("/items/13190").json["price"]
        self.assertEqual((bond["tax"], bond["margin"]), (0, 1_000_000))
        plank = client.get("/items/30005").json["price"]
        self.assertTrue(plank["stale"])

    def test_stale_follows_the_clock_and_setting(self) -> None:
        clock = now_clock()
        client = make_client(self, clock=clock, settings=HttpSettings(stale_after=60))
        self.assertFalse(client.get("/items/4151").json["price"]["stale"])
        clock.advance(100)
        self.assertTrue(client.get("/items/4151").json["price"]["stale"])

    def test_unknown_item_is_a_json_404(self) -> None:
        client = make_client(self)
        reply = client.get("/items/999999")
        self.assertEqual(reply.code, 404)
        self.assertEqual(reply.json, {"error": "no item with id 999999", "code": "not_found"})

    def test_non_integer_id_is_a_400_naming_it(self) -> None:
        client = make_client(self)
        for path in ("/items/whip", "/items/-3", "/items/4151x/prices"):
            reply = client.get(path)
            self.assertEqual(reply.code, 400, path)
            self.assertEqual(reply.json["code"], "bad_request")
            self.assertIn("item id", reply.json["error"])

    def test_trailing_slash_variants(self) -> None:
        client = make_client(self)
        for path in ("/items/4151/", "/items/?q=whip", "/items/4151/prices/"):
            self.assertEqual(client.get(path).code, 200, path)

    def test_wrong_method_is_405_with_allow(self) -> None:
        client = make_client(self)
        reply = client.request("DELETE", "/items/4151")
        self.assertEqual(reply.code, 405)
        self.assertEqual(reply.json["code"], "method_not_allowed")
        self.assertIn("GET", reply.header("Allow") or "")

    def test_unknown_route_is_a_json_404(self) -> None:
        client = make_client(self)
        reply = client.get("/nothing/here")
        self.assertEqual((reply.code, reply.json["code"]), (404, "not_found"))


class SearchTests(SynchronousTestCase):
    def test_ranking_exact_prefix_substring_then_name(self) -> None:
        client = make_client(self)
        reply = client.get("/items?q=WHIP")
        names = [i["name"] for i in reply.json["items"]]
        self.assertEqual(names, ["Whip", "Whip of the sea", "Abyssal whip", "Volcanic abyssal whip"])
        self.assertEqual(reply.json["total"], 4)

    def test_members_filter_limit_offset(self) -> None:
        client = make_client(self)
        everything = client.get("/items").json
        self.assertEqual(everything["total"], 10)
        names = [i["name"] for i in everything["items"]]
        self.assertEqual(names, sorted(names, key=str.lower))
        f2p = client.get("/items?members=false").json
        self.assertEqual({i["name"] for i in f2p["items"]},
                         {"Nature rune", "Old school bond", "Rune platebody", "Dwarf remains", "Stale plank"})
        page = client.get("/items?q=whip&limit=2&offset=1").json
        self.assertEqual([i["name"] for i in page["items"]], ["Whip of the sea", "Abyssal whip"])
        self.assertEqual(page["total"], 4)
        self.assertEqual(client.get("/items?q=whip&members=true&offset=10").json, {"items": [], "total": 4})

    def test_limit_is_capped(self) -> None:
        client = make_client(self, settings=HttpSettings(max_limit=3))
        self.assertEqual(len(client.get("/items?limit=1000000").json["items"]), 3)

    def test_bad_query_values_name_the_parameter(self) -> None:
        client = make_client(self)
        for query, name in [("limit=0", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
                            ("offset=-1", "offset"), ("members=maybe", "members")]:
            reply = client.get("/items?" + query)
            self.assertEqual(reply.code, 400, query)
            self.assertEqual(reply.json["code"], "bad_request")
            self.assertTrue(reply.json["error"].startswith(name), reply.json)


class HistoryTests(SynchronousTestCase):
    def test_history_oldest_first_with_null_sides(self) -> None:
        client = make_client(self)
        reply = client.get(f"/items/4151/prices?timestep=5m&since={NOW - 1000}&until={NOW}")
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            reply.json,
            {"id": 4151, "timestep": "5m", "buckets": [
                {"timestamp": NOW - 900, "avgHighPrice": 1761300.0, "avgLowPrice": 1759750.0,
                 "highPriceVolume": 6, "lowPriceVolume": 4},
                {"timestamp": NOW - 600, "avgHighPrice": None, "avgLowPrice": 1759800.0,
                 "highPriceVolume": 0, "lowPriceVolume": 3},
                {"timestamp": NOW - 300, "avgHighPrice": 1761500.0, "avgLowPrice": 1759900.0,
                 "highPriceVolume": 2, "lowPriceVolume": 2},
            ]},
        )  # fmt: skip

    def test_history_window_and_limit(self) -> None:
        client = make_client(self)
        newest = client.get("/items/4151/prices?limit=2").json["buckets"]
        self.assertEqual([b["timestamp"] for b in newest], [NOW - 600, NOW - 300])
        until = client.get(f"/items/4151/prices?until={NOW - 700}").json["buckets"]
        self.assertEqual([b["timestamp"] for b in until], [NOW - 900])
        daily = client.get("/items/4151/prices?timestep=24h").json
        self.assertEqual((daily["timestep"], len(daily["buckets"])), ("24h", 2))
        self.assertEqual(client.get("/items/561/prices?timestep=1h").json["buckets"], [])

    def test_history_errors(self) -> None:
        client = make_client(self)
        self.assertEqual(client.get("/items/999999/prices").code, 404)
        for query, name in [("timestep=2m", "timestep"), ("since=x", "since"), ("limit=-1", "limit"),
                            (f"since={NOW}&until={NOW - 1}", "since")]:
            reply = client.get("/items/4151/prices?" + query)
            self.assertEqual(reply.code, 400, query)
            self.assertTrue(reply.json["error"].startswith(name), reply.json)


class UnavailableTests(SynchronousTestCase):
    def test_catalog_not_loaded_is_503(self) -> None:
        api = HttpApi(HealthRegistry(), now_clock(), catalog=None)
        reply = ApiClient(api).get("/items/4151")
        self.assertEqual((reply.code, reply.json["code"]), (503, "unavailable"))
