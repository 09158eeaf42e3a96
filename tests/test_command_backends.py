"""Bot command round trips through the real stores, SQLite and PostgreSQL:
actions, trades and limits, a task and a pin; and the same trade report
posted at once over several loopback connections counts once."""

from __future__ import annotations

from typing import Callable, Optional

import orjson
from twisted.internet.defer import gatherResults
from twisted.trial.unittest import TestCase

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.store.interface import TOPIC_ACTIONS, IStore
from tests import pgserver
from tests.command_helpers import ADMIN, BUCKETS, GREEN_HIDE, ITEMS, PRICES, SETTINGS, start_command_catalog
from tests.http_helpers import NOW, TEST_TIMEOUT, LoopbackClient, now_clock, serve, start_store
from tests.test_store_contract import wait_for_topic

#: Change signals an action write may wait behind on PostgreSQL (the late
#: NOTIFYs of the initial load's own writes, then its own).
SIGNAL_ROUNDS = 5


async def actions_signalled(catalog: Catalog, store: IStore, condition: Callable[[], bool], what: str) -> None:
    """Wait for an action write to reach the catalog: its reload is under way
    once the write returns on SQLite; on PostgreSQL it starts when the NOTIFY
    arrives, so wait (a bounded number of rounds) for that signal."""
    for _ in range(SIGNAL_ROUNDS):
        await catalog.settled()
        if condition():
            return
        await wait_for_topic(store, TOPIC_ACTIONS)
    raise AssertionError(f"not after {SIGNAL_ROUNDS} action signals: {what}")


class CommandRoundTrip:
    timeout = TEST_TIMEOUT

    def database_url(self) -> Optional[str]:
        return None

    async def serve(self) -> tuple[LoopbackClient, Catalog, IStore]:
        assert isinstance(self, TestCase)
        store = await start_store(self, self.database_url())
        await store.upsert_items(ITEMS)
        await store.upsert_latest_prices(PRICES)
        await store.upsert_buckets(BUCKETS)
        clock = now_clock()
        catalog = await start_command_catalog(self, store, clock)
        return serve(self, HttpApi(HealthRegistry(), clock, SETTINGS, store=store, catalog=catalog)), catalog, store

    async def test_round_trip(self) -> None:
        assert isinstance(self, TestCase)
        client, catalog, store = await self.serve()
        self.assertEqual([a["name"] for a in (await client.get("/actions")).json["actions"]],
                         ["TAN_GREEN", "TAN_COW", "TAN_BLUE"])  # fmt: skip
        body = {"name": "TAN_NEW", "type": "TAN_LEATHER", "inputs": [{"itemId": 1739, "quantity": 1}],
                "outputs": [{"itemId": 1741, "quantity": 1}], "actionsPerHour": 10, "members": False}  # fmt: skip
        created = await client.request("POST", "/actions", orjson.dumps(body), ADMIN)
        self.assertEqual(created.code, 201, created.content)
        await actions_signalled(catalog, store, lambda: len(catalog.actions) == 4, "the new action in the catalog")
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

    async def test_concurrent_reports_over_loopback_count_once(self) -> None:
        assert isinstance(self, TestCase)
        client, _catalog, store = await self.serve()
        report = {"trades": [
            {"tradeId": f"t{n}", "instanceId": "bot-1", "account": "alice", "itemId": GREEN_HIDE,
             "quantity": n + 1, "price": 1500, "side": "buy", "time": NOW - 60}
            for n in range(25)
        ]}  # fmt: skip
        # Sent at once, none finds an idle connection in the pool: six connections.
        replies = await gatherResults([client.post_json("/trades", report) for _ in range(6)])
        self.assertEqual([r.code for r in replies], [200] * 6)
        receipts = [r.json for r in replies]
        self.assertEqual(sum(r["recorded"] for r in receipts), 25)
        self.assertEqual(sum(r["duplicates"] for r in receipts), 125)
        buys = await store.account_buys("alice", 0)
        self.assertEqual(sum(t.quantity for t in buys), sum(range(1, 26)))


class SQLiteCommandTests(CommandRoundTrip, TestCase):
    pass


class PostgresCommandTests(CommandRoundTrip, TestCase):
    def database_url(self) -> Optional[str]:
        return pgserver.fresh_database(self)
