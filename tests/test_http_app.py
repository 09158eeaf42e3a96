"""Each API object has its own Klein app: no routing state is shared between
instances, and a ``--jobs-only`` worker serves the health routes alone."""

from __future__ import annotations

from typing import Any, Callable

import orjson
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import IResource

from osrs_twisted.health import Check, HealthRegistry
from osrs_twisted.http.api import HealthApi, HttpApi
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.policy import load_registry
from osrs_twisted.records import Item, LatestPrice
from tests.http_helpers import NOW, WHIP, item, now_clock
from tests.stub_http import stub_treq


class FixedStore:
    """Answers the catalog's three reads at once with fixed rows."""

    def __init__(self, items: list[Item], prices: list[LatestPrice]) -> None:
        self.items = items
        self.prices = prices

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        return lambda: None

    def all_items(self) -> "Deferred[list[Item]]":
        return succeed(self.items)

    def all_latest_prices(self) -> "Deferred[list[LatestPrice]]":
        return succeed(self.prices)

    def newest_buckets(self, timestep: str) -> "Deferred[list[Any]]":
        return succeed([])


def loaded_catalog(test: SynchronousTestCase, items: list[Item], prices: list[LatestPrice]) -> Catalog:
    # FixedStore answers only the catalog's reads, not all of IStore.
    catalog = Catalog(FixedStore(items, prices), now_clock())  # type: ignore[arg-type]
    catalog.startService()
    test.addCleanup(catalog.stopService)
    test.successResultOf(catalog.whenLoaded())
    return catalog


class Client:
    """A resource answered in memory; every route used here answers synchronously."""

    def __init__(self, test: SynchronousTestCase, resource: IResource) -> None:
        self.test = test
        self.stub = stub_treq(resource)

    def request(self, method: str, path: str) -> tuple[int, Any, Any]:
        d = self.stub.request(method, "http://osrs.test" + path)
        self.stub.flush()
        response = self.test.successResultOf(d)
        content = self.stub.content(response)
        self.stub.flush()
        return response.code, response.headers, orjson.loads(self.test.successResultOf(content))

    def get(self, path: str) -> tuple[int, Any]:
        code, _, body = self.request("GET", path)
        return code, body


def health_with(name: str, status: Any = "ok") -> HealthRegistry:
    health = HealthRegistry()
    health.register(name, lambda: Check(status, f"{name} is {status}"))
    return health


class InstanceTests(SynchronousTestCase):
    def test_two_apis_serve_their_own_collaborators(self) -> None:
        first = HttpApi(
            health_with("alpha"), now_clock(), catalog=loaded_catalog(self, [WHIP], []),
            models=load_registry(None, [], demo=False),
        )  # fmt: skip
        second = HttpApi(
            health_with("beta", "failing"), now_clock(NOW + 10),
            catalog=loaded_catalog(self, [item(4151, "Other whip")], [LatestPrice(4151, 5, NOW, 4, NOW)]),
        )  # fmt: skip
        one, two = Client(self, first.resource()), Client(self, second.resource())
        self.assertIsNot(first.app, second.app)

        code, body = one.get("/items/4151")
        self.assertEqual((code, body["name"], body["price"]), (200, "Abyssal whip", None))
        code, body = two.get("/items/4151")
        self.assertEqual((code, body["name"], body["price"]["high"]), (200, "Other whip", 5))

        code, body = one.get("/health")
        self.assertEqual((code, list(body["checks"])), (200, ["alpha"]))
        code, body = two.get("/health")
        self.assertEqual((code, list(body["checks"])), (503, ["beta"]))

        self.assertEqual([m["name"] for m in one.get("/models")[1]["models"]], ["noop"])
        self.assertEqual(two.get("/models")[1]["models"], [])

    def test_errors_keep_their_shapes(self) -> None:
        api = HttpApi(HealthRegistry(), now_clock(), catalog=loaded_catalog(self, [WHIP], []))
        client = Client(self, api.resource())
        self.assertEqual(client.get("/nowhere"), (404, {"error": "no such route", "code": "not_found"}))
        self.assertEqual(client.get("/items/x")[1]["code"], "bad_request")
        self.assertEqual(client.get("/items/current-price?item_source_id=x")[0], 422)
        self.assertEqual(list(client.get("/items/current-price?item_source_id=x")[1]), ["detail"])
        self.assertEqual(client.get("/items/search?name=nothing"), (404, {"detail": "Item nothing not found"}))
        code, headers, body = client.request("DELETE", "/items/4151")
        self.assertEqual((code, body["code"]), (405, "method_not_allowed"))
        self.assertIn("GET", headers.getRawHeaders("Allow")[0])


class HealthOnlyTests(SynchronousTestCase):
    """``--jobs-only``: the health routes and a JSON 404 for everything else."""

    def setUp(self) -> None:
        self.client = Client(self, HealthApi(health_with("jobs")).resource())

    def test_health_routes(self) -> None:
        code, body = self.client.get("/health")
        self.assertEqual((code, body["status"], list(body["checks"])), (200, "ok", ["jobs"]))
        self.assertEqual(self.client.get("/health/live"), (200, {"status": "ok"}))
        self.assertEqual(self.client.get("/health/")[0], 200)

    def test_everything_else_is_a_json_404(self) -> None:
        for path in ("/", "/items/4151", "/models", "/tasks", "/openapi.json", "/healthz"):
            self.assertEqual(self.client.get(path), (404, {"error": "no such route", "code": "not_found"}), path)

    def test_wrong_method_is_405(self) -> None:
        code, headers, body = self.client.request("POST", "/health")
        self.assertEqual((code, body["code"]), (405, "method_not_allowed"))
        self.assertIn("GET", headers.getRawHeaders("Allow")[0])
