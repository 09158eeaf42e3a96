"""Bot command round trips through the real stores, SQLite and PostgreSQL:
actions, trades and limits, a task and a pin; and the same trade report
posted at once over several loopback connections counts once."""

from __future__ import annotations

from typing import Any, Callable, Optional

import orjson
import treq
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool
from twisted.web.server import Site

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.store.interface import IStore
from tests import pgserver
from tests.command_helpers import ADMIN, BUCKETS, GREEN_HIDE, ITEMS, PRICES, SETTINGS, command_catalog
from tests.http_helpers import DEADLINE, NOW, TEST_TIMEOUT, ApiClient, deferred_test, now_clock, start_store


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for another connection's change signal to reach the catalog."""
    waited = 0.0
    while not condition():
        if waited > DEADLINE:
            raise AssertionError(f"not within {DEADLINE}s: {what}")
        await deferLater(reactor, 0.01, lambda: None)  # type: ignore[arg-type]
        waited += 0.01


class CommandRoundTrip:
    timeout = TEST_TIMEOUT

    def database_url(self) -> Optional[str]:
        return None

    async def api(self, test: TestCase) -> tuple[HttpApi, Catalog, IStore]:
        store = await start_store(test, self.database_url())
        await store.upsert_items(ITEMS)
        await store.upsert_latest_prices(PRICES)
        await store.upsert_buckets(BUCKETS)
        catalog = command_catalog(store, now_clock())
        catalog.startService()
        test.addCleanup(catalog.stopService)
        await catalog.whenLoaded()
        return HttpApi(HealthRegistry(), catalog._clock, SETTINGS, store=store, catalog=catalog), catalog, store

    @deferred_test
    async def test_round_trip(self: Any) -> None:
        api, catalog, store = await self.api(self)
        client = ApiClient(api)
        self.assertEqual([a["name"] for a in (await client.get("/actions")).json["actions"]],
                         ["TAN_GREEN", "TAN_COW", "TAN_BLUE"])  # fmt: skip
        body = {"name": "TAN_NEW", "type": "TAN_LEATHER", "inputs": [{"itemId": 1739, "quantity": 1}],
                "outputs": [{"itemId": 1741, "quantity": 1}], "actionsPerHour": 10, "members": False}  # fmt: skip
        created = await client.request("POST", "/actions", orjson.dumps(body), ADMIN)
        self.assertEqual(created.code, 201, created.content)
        await eventually(lambda: len(catalog.actions) == 4, "the new action in the catalog")
        self.assertEqual((await client.get("/actions/TAN_NEW")).json["economics"]["profit"], 150 - 3 - 100)

        trade = {"tradeId": "t1", "instanceId": "bot-1", "account": "alice", "itemId": GREEN_HIDE,
                 "quantity": 40, "price": 1500, "side": "buy", "time": NOW - 60}  # fmt: skip
        self.assertEqual((await client.post_json("/trades", {"trades": [trade]}, gzipped=True)).json,
                         {"recorded": 1, "duplicates": 0})  # fmt: skip
        self.assertEqual((await client.post_json("/trades", trade)).json, {"recorded": 0, "duplicates": 1})
        conflict = await client.post_json("/trades", {**trade, "quantity": 41})
        self.assertEqual((conflict.code, conflict.json["fields"]), (409, ["quantity"]))
        await client.post_json("/healthcheck", {"instanceId": "bot-1", "account": "alice", "members": True})
        limits = (await client.get("/bots/bot-1/limits")).json["items"]
        self.assertEqual([(i["itemId"], i["left"], i["resetsAt"]) for i in limits],
                         [(GREEN_HIDE, 60, NOW - 60 + 4 * 3600)])  # fmt: skip

        task = (await client.get("/task/?instanceId=bot-1")).json
        self.assertEqual((task["task"], task["name"], task["quota"]), ("TAN_LEATHER", "TAN_GREEN", 60))
        pinned = await client.request("PUT", "/bots/bot-1/task", orjson.dumps({"task": "TAN_COW"}), ADMIN)
        self.assertEqual(pinned.code, 200)
        self.assertEqual((await client.get("/task?instanceId=bot-1")).json["name"], "TAN_COW")
        bots = (await client.get("/bots")).json["bots"]
        self.assertEqual((bots[0]["assignment"]["task"], bots[0]["pin"]["task"]), ("TAN_COW", "TAN_COW"))
        self.assertEqual([(a.instance_id, a.task) for a in await store.all_assignments()], [("bot-1", "TAN_COW")])

    @deferred_test
    async def test_concurrent_reports_over_loopback_count_once(self: Any) -> None:
        api, _catalog, store = await self.api(self)
        port = reactor.listenTCP(0, Site(api.resource()), interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        url = f"http://127.0.0.1:{port.getHost().port}/trades"
        report = orjson.dumps({"trades": [
            {"tradeId": f"t{n}", "instanceId": "bot-1", "account": "alice", "itemId": GREEN_HIDE,
             "quantity": n + 1, "price": 1500, "side": "buy", "time": NOW - 60}
            for n in range(25)
        ]})  # fmt: skip
        pools = [HTTPConnectionPool(reactor, persistent=False) for _ in range(6)]  # type: ignore[arg-type]
        for pool in pools:
            self.addCleanup(pool.closeCachedConnections)

        async def post(pool: HTTPConnectionPool) -> Any:
            response = await treq.post(url, data=report, headers={"Content-Type": "application/json"}, pool=pool)
            self.assertEqual(response.code, 200)
            return orjson.loads(await response.content())

        from twisted.internet.defer import ensureDeferred, gatherResults

        receipts = await gatherResults([ensureDeferred(post(pool)) for pool in pools])
        self.assertEqual(sum(r["recorded"] for r in receipts), 25)
        self.assertEqual(sum(r["duplicates"] for r in receipts), 125)
        buys = await store.account_buys("alice", 0)
        self.assertEqual(sum(t.quantity for t in buys), sum(range(1, 26)))


class SQLiteCommandTests(CommandRoundTrip, TestCase):
    pass


class PostgresCommandTests(CommandRoundTrip, TestCase):
    def database_url(self) -> Optional[str]:
        return pgserver.fresh_database(self)
