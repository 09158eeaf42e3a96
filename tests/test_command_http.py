"""Bot command over HTTP on the in-memory store: actions with live
economics and their CRUD, the trade ledger and limits, ``GET /task/`` with
pins, and the seed's shapes; every bad input a 400 naming its field."""

from __future__ import annotations

from typing import Any

import attrs
from jsonschema import Draft202012Validator
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.http.api import HttpSettings
from osrs_twisted.market.allocation import AllocatorConfig
from osrs_twisted.market.catalog import COMMAND_TOPICS, Catalog, InitialActions
from osrs_twisted.market.ledger import WINDOW_SECONDS
from osrs_twisted.store.interface import TOPIC_ASSIGNMENTS
from tests.command_helpers import (
    ACTIONS,
    ADMIN,
    COW_PROFIT,
    COWHIDE,
    GREEN_FLEET_BOTS,
    GREEN_HIDE,
    GREEN_LEATHER,
    GREEN_PROFIT,
    SETTINGS,
    TAN_COW,
    FleetClient,
)
from tests.http_helpers import NOW


def new_action(name: str = "TAN_NEW", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name, "type": "TAN_LEATHER", "params": {"rawHideName": "Cowhide"},
        "inputs": [{"itemId": COWHIDE, "quantity": 2}, {"itemId": 995, "quantity": 1}],
        "outputs": [{"itemId": 1741, "quantity": 2}], "requirements": {"skills": {"crafting": 5}},
        "actionsPerHour": 500, "experience": {"crafting": 1.5}, "members": False,
    }  # fmt: skip
    body.update(changes)
    return body


def trade(trade_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tradeId": trade_id, "instanceId": "bot-1", "account": "alice", "itemId": GREEN_HIDE,
        "quantity": 30, "price": 1500, "side": "buy", "time": NOW - 600,
    }  # fmt: skip
    body.update(changes)
    return body


class ActionsTests(SynchronousTestCase):
    def test_list_with_live_economics(self) -> None:
        client = FleetClient(self)
        reply = client.get("/actions")
        self.assertEqual(reply.code, 200)
        actions = reply.body["actions"]
        self.assertEqual([a["name"] for a in actions], ["TAN_GREEN", "TAN_COW", "TAN_BLUE"])
        green = actions[0]
        self.assertEqual(green["inputs"], [{"itemId": GREEN_HIDE, "quantity": 1}, {"itemId": 995, "quantity": 20}])
        self.assertEqual(green["economics"], {
            "cost": 1520, "revenue": 1666, "tax": 34, "profit": GREEN_PROFIT, "profitPerHour": GREEN_PROFIT * 1000,
            "gpPerXp": GREEN_PROFIT / 2, "priceReason": None, "actionsPer4h": 100, "limitReason": None,
            "fleetActionsPer24h": 2400, "volumeReason": None, "fleetBots": GREEN_FLEET_BOTS, "assignedBots": 0,
        })  # fmt: skip
        blue = actions[2]["economics"]
        self.assertEqual((blue["profit"], blue["profitPerHour"], blue["gpPerXp"]), (None, None, None))
        self.assertEqual(blue["priceReason"], "stale price for item 1751 (Blue dragonhide)")
        free = client.get("/actions?members=false&sort=profit").body["actions"]
        self.assertEqual([a["name"] for a in free], ["TAN_COW"])
        self.assertEqual(free[0]["economics"]["profit"], COW_PROFIT)
        self.assertEqual(client.get("/actions/TAN_COW/").body["economics"]["profit"], COW_PROFIT)

    def test_bad_queries(self) -> None:
        client = FleetClient(self)
        for path, name in [("/actions?sort=margin", "sort"), ("/actions?members=maybe", "members"),
                           ("/actions?account=", "account")]:  # fmt: skip
            reply = client.get(path)
            self.assertEqual((reply.code, reply.body["code"]), (400, "bad_request"), path)
            self.assertIn(name, reply.body["error"])
        missing = client.get("/actions/NOPE")
        self.assertEqual((missing.code, missing.body["code"]), (404, "not_found"))

    def test_create_replace_delete(self) -> None:
        client = FleetClient(self)
        created = client.admin("POST", "/actions", new_action())
        self.assertEqual(created.code, 201, created.body)
        self.assertEqual((created.body["id"], created.body["economics"]["profit"]), (4, 2 * (150 - 3) - 201))
        self.assertEqual(client.get("/actions/TAN_NEW").body["actionsPerHour"], 500)
        again = client.admin("POST", "/actions", new_action())
        self.assertEqual((again.code, again.body["code"], again.body["field"]), (409, "conflict", "name"))
        replaced = client.admin("PUT", "/actions/TAN_NEW", new_action(actionsPerHour=900))
        self.assertEqual((replaced.code, replaced.body["id"], replaced.body["actionsPerHour"]), (200, 4, 900))
        self.assertEqual(client.admin("PUT", "/actions/TAN_OTHER", new_action("TAN_OTHER")).code, 404)
        deleted = client.admin("DELETE", "/actions/TAN_NEW")
        self.assertEqual((deleted.code, deleted.body), (200, {"name": "TAN_NEW", "deleted": True}))
        self.assertEqual(client.get("/actions/TAN_NEW").code, 404)
        self.assertEqual(client.admin("DELETE", "/actions/TAN_NEW").code, 404)

    def test_bad_bodies_name_the_field_and_store_nothing(self) -> None:
        client = FleetClient(self)
        cases: list[tuple[Any, str, str]] = [
            (new_action(inputs=[{"itemId": COWHIDE, "quantity": 1}, {"itemId": 995, "quantity": -2}]),
             "inputs[1].quantity", "inputs[1].quantity must be a positive integer"),
            (new_action(outputs=[{"itemId": 999999, "quantity": 1}]), "outputs[0].itemId",
             "outputs[0].itemId 999999 is not a known item id"),
            (new_action(requirements={"skills": {"sailing": 5}}), "requirements.skills.sailing",
             "requirements.skills.sailing 'sailing' is not an OSRS skill"),
            (new_action(name="tan new"), "name", "name must be UPPER_SNAKE_CASE (A-Z, 0-9, single underscores)"),
            (new_action(colour="red"), "colour", "colour is not a known field"),
            ([1, 2], "body", "body must be a JSON object"),
        ]  # fmt: skip
        for payload, field, message in cases:
            reply = client.admin("POST", "/actions", payload)
            self.assertEqual((reply.code, reply.body["field"], reply.body["error"]), (400, field, message))
        bad_json = client.request("POST", "/actions", raw=b"{nope", headers=ADMIN)
        self.assertEqual((bad_json.code, bad_json.body["field"]), (400, "body"))
        renamed = client.admin("PUT", "/actions/TAN_COW", new_action("TAN_NEW"))
        self.assertEqual((renamed.code, renamed.body["field"]), (400, "name"))
        self.assertEqual(len(self.successResultOf(client.store.all_actions())), len(ACTIONS))

    def test_writes_need_the_admin_token(self) -> None:
        client = FleetClient(self)
        for method, path in [("POST", "/actions"), ("PUT", "/actions/TAN_COW"), ("DELETE", "/actions/TAN_COW")]:
            reply = client.request(method, path, new_action("TAN_COW"), {"Authorization": "Bearer wrong"})
            self.assertEqual((reply.code, reply.body["code"]), (401, "unauthorized"), path)
        self.assertEqual(client.get("/actions/TAN_COW").body["actionsPerHour"], 1000)

    def test_seed_paths(self) -> None:
        client = FleetClient(self)
        listed = client.get("/actions/")
        self.assertEqual(listed.code, 200)
        self.assertEqual([a["id"] for a in listed.body], [1, 2, 3])
        self.assertEqual(listed.body[0], {
            "id": 1, "name": "TAN_GREEN", "type": "TAN_LEATHER", "params": {"rawHideName": "Tan_Green"},
            "inputs": [{"item_source_id": GREEN_HIDE, "quantity": 1}, {"item_source_id": 995, "quantity": 20}],
            "outputs": [{"item_source_id": GREEN_LEATHER, "quantity": 1}],
            "requirements": {"skills": {"crafting": 1}, "items": [], "quests": []},
            "actions_per_hour": 1000, "experience": {"crafting": 2.0}, "is_members": True,
            "cost": 1520, "revenue": 1666, "profit": GREEN_PROFIT, "profit_per_hour": GREEN_PROFIT * 1000,
            "gp_per_xp": GREEN_PROFIT / 2,
        })  # fmt: skip
        self.assertEqual(client.get("/actions/2").body["name"], "TAN_COW")
        self.assertEqual(client.get("/actions/name/TAN_COW/").body["id"], 2)
        self.assertEqual(client.get("/actions/9").body, {"detail": "Action 9 not found"})
        self.assertEqual(client.get("/actions/name/NOPE").code, 404)


class TradesTests(SynchronousTestCase):
    def test_report_retry_and_limits(self) -> None:
        client = FleetClient(self)
        first = client.request("POST", "/trades", trade("t1"))
        self.assertEqual((first.code, first.body), (200, {"recorded": 1, "duplicates": 0}))
        self.assertEqual(client.request("POST", "/trades", trade("t1")).body, {"recorded": 0, "duplicates": 1})
        batch = {"trades": [trade("t1"), trade("t2", time=NOW - 300, quantity=20), trade("t3", side="sell")]}
        self.assertEqual(client.request("POST", "/trades/", batch, gzipped=True).body,
                         {"recorded": 2, "duplicates": 1})  # fmt: skip
        limits = client.get("/bots/bot-1/limits")
        self.assertEqual(limits.body, {
            "instanceId": "bot-1", "account": "alice", "windowSeconds": WINDOW_SECONDS,
            "items": [{"itemId": GREEN_HIDE, "name": "Green dragonhide", "limit": 100, "bought": 50, "left": 50,
                       "resetsAt": NOW - 600 + WINDOW_SECONDS}],
        })  # fmt: skip
        client.clock.advance(WINDOW_SECONDS - 600)
        self.assertEqual(client.get("/bots/bot-1/limits").body["items"], [])
        self.assertEqual(client.get("/bots/bot-9/limits").code, 404)

    def test_conflicting_retry_is_refused(self) -> None:
        client = FleetClient(self)
        client.request("POST", "/trades", trade("t1"))
        reply = client.request("POST", "/trades", {"trades": [trade("t0"), trade("t1", quantity=31, price=1)]})
        self.assertEqual((reply.code, reply.body["code"]), (409, "conflict"))
        self.assertEqual((reply.body["tradeId"], reply.body["fields"]), ("t1", ["quantity", "price"]))
        self.assertIn("quantity 30, price 1500", reply.body["error"])
        self.assertEqual(len(self.successResultOf(client.store.account_buys("alice", 0))), 1)

    def test_one_bad_trade_stores_none(self) -> None:
        client = FleetClient(self)
        cases: list[tuple[Any, str]] = [
            ({"trades": [trade("t1"), trade("t2", quantity=0)]}, "trades[1].quantity"),
            ({"trades": [trade("t1"), trade("t2", itemId=999999)]}, "trades[1].itemId"),
            ({"trades": [trade("t1"), trade("t2", side="swap")]}, "trades[1].side"),
            ({"trades": [trade("t1"), trade("t1", price=1)]}, "trades[1].tradeId"),
            (trade("t1", time=NOW + 3600), "time"),
            ({k: v for k, v in trade("t1").items() if k != "account"}, "account"),
        ]
        for payload, field in cases:
            reply = client.request("POST", "/trades", payload)
            self.assertEqual((reply.code, reply.body["field"]), (400, field), reply.body)
            self.assertTrue(reply.body["error"].startswith(field), reply.body)
        self.assertEqual(self.successResultOf(client.store.account_buys("alice", 0)), [])

    def test_account_figures_use_what_is_left(self) -> None:
        client = FleetClient(self)
        client.request("POST", "/trades", trade("t1", quantity=70))
        mine = client.get("/actions/TAN_GREEN?account=alice").body["economics"]
        self.assertEqual((mine["actionsPer4h"], mine["profit"]), (30, GREEN_PROFIT))
        self.assertEqual(client.get("/actions/TAN_GREEN?account=bob").body["economics"]["actionsPer4h"], 100)
        flips = client.get("/prices/flips?account=alice&sort=limitProfit").body["items"]
        hide = next(i for i in flips if i["id"] == GREEN_HIDE)
        self.assertEqual(hide["price"]["limitProfit"], hide["price"]["margin"] * 30)
        fleet = next(i for i in client.get("/prices/flips").body["items"] if i["id"] == GREEN_HIDE)
        self.assertEqual(fleet["price"]["limitProfit"], fleet["price"]["margin"] * 100)


class TaskTests(SynchronousTestCase):
    def test_seed_shape_and_recorded_once(self) -> None:
        client = FleetClient(self)
        client.heartbeat("bot-1", account="alice", members=True, skills={"crafting": 60})
        writes: list[str] = []
        client.store.subscribe(lambda topic: writes.append(topic) if topic == TOPIC_ASSIGNMENTS else None)
        reply = client.get("/task/?instanceId=bot-1")
        self.assertEqual(reply.body, {
            "task": "TAN_LEATHER", "params": {"rawHideName": "Tan_Green"}, "name": "TAN_GREEN",
            "source": "allocator", "expires_at": "2024-11-30T21:08:20Z", "expires_in": 900, "reason": None,
            "quota": 100,
        })  # fmt: skip
        client.clock.advance(10)
        self.assertEqual(client.get("/task?instanceId=bot-1").body["expires_in"], 890)
        self.assertEqual(len(writes), 1, "asking again while live records nothing")
        recorded = self.successResultOf(client.store.all_assignments())
        self.assertEqual([(a.instance_id, a.task, a.expires_at) for a in recorded], [("bot-1", "TAN_GREEN", NOW + 900)])
        bot = client.get("/bots").body["bots"][0]
        self.assertEqual(bot["assignment"], {
            "task": "TAN_GREEN", "params": {"rawHideName": "Tan_Green"}, "source": "allocator",
            "assignedAt": NOW, "expiresAt": NOW + 900, "reason": None, "live": True,
        })  # fmt: skip
        self.assertEqual(client.get("/bots/bot-1").body["assignment"]["task"], "TAN_GREEN")

    def test_instance_from_query_or_header(self) -> None:
        client = FleetClient(self)
        by_header = client.get("/task/", {"X-Instance-Id": "bot-h"})
        self.assertEqual(by_header.code, 200)
        both = client.get("/task/?instanceId=bot-q", {"X-Instance-Id": "bot-h"})
        self.assertEqual(both.code, 200)
        recorded = {a.instance_id for a in self.successResultOf(client.store.all_assignments())}
        self.assertEqual(recorded, {"bot-h", "bot-q"})
        missing = client.get("/task/")
        self.assertEqual(missing.code, 422)
        self.assertIn("instanceId", missing.body["detail"])

    def test_fleet_spreads_and_idles_with_a_reason(self) -> None:
        client = FleetClient(self)
        for n in range(4):
            client.heartbeat(f"bot-{n}", account=f"acct-{n}", members=True)
        tasks = [client.get(f"/task/?instanceId=bot-{n}").body["name"] for n in range(4)]
        self.assertEqual(tasks, ["TAN_GREEN"] * GREEN_FLEET_BOTS + ["TAN_COW"] * (4 - GREEN_FLEET_BOTS))
        self.assertEqual(client.get("/actions/TAN_GREEN").body["economics"]["assignedBots"], GREEN_FLEET_BOTS)
        client.heartbeat("f2p", members=False)
        client.request("POST", "/trades", trade("t1", instanceId="f2p", account="f2p", itemId=COWHIDE, quantity=1000))
        idle = client.get("/task/?instanceId=f2p").body
        self.assertEqual((idle["task"], idle["name"], idle["source"], idle["params"]), ("IDLE", "IDLE", "idle", {}))
        self.assertEqual(idle["expires_in"], AllocatorConfig().idle_ttl)
        self.assertEqual(idle["reason"], "no eligible action (1 unpriced, 1 members, 1 buy limit); "
                                         "best: TAN_GREEN is members only")  # fmt: skip

    def test_pins_win_until_removed(self) -> None:
        client = FleetClient(self)
        client.heartbeat("bot-1", members=True)
        self.assertEqual(client.get("/task/?instanceId=bot-1").body["name"], "TAN_GREEN")
        pinned = client.admin("PUT", "/bots/bot-1/task", {"task": "TAN_COW"})
        self.assertEqual(pinned.body, {"instanceId": "bot-1", "task": "TAN_COW",
                                       "params": {"rawHideName": "Tan_Cow"}, "expiresAt": None})  # fmt: skip
        answer = client.get("/task/?instanceId=bot-1").body
        self.assertEqual((answer["task"], answer["name"], answer["source"]), ("TAN_LEATHER", "TAN_COW", "pin"))
        client.admin("PUT", "/bots/bot-1/task", {"task": "PVP_EDGEVILLE", "params": {"world": 318},
                                                 "expiresAt": NOW + 60})  # fmt: skip
        pvp = client.get("/task/?instanceId=bot-1").body
        self.assertEqual((pvp["task"], pvp["params"], pvp["expires_in"]), ("PVP_EDGEVILLE", {"world": 318}, 60))
        self.assertEqual(client.get("/bots/bot-1").body["pin"]["task"], "PVP_EDGEVILLE")
        removed = client.admin("DELETE", "/bots/bot-1/task")
        self.assertEqual(removed.body, {"instanceId": "bot-1", "removed": True})
        self.assertEqual(client.get("/task/?instanceId=bot-1").body["name"], "TAN_GREEN")
        self.assertEqual(client.admin("DELETE", "/bots/bot-1/task").code, 404)

    def test_bad_pins(self) -> None:
        client = FleetClient(self)
        cases: list[tuple[Any, str]] = [
            ({"task": "tan cow"}, "task"), ({}, "task"), ({"task": "TAN_COW", "params": [1]}, "params"),
            ({"task": "TAN_COW", "expiresAt": NOW}, "expiresAt"), ({"task": "TAN_COW", "until": 5}, "until"),
        ]  # fmt: skip
        for payload, field in cases:
            reply = client.admin("PUT", "/bots/bot-1/task", payload)
            self.assertEqual((reply.code, reply.body["field"]), (400, field), reply.body)
        refused = client.request("PUT", "/bots/bot-1/task", {"task": "TAN_COW"})
        self.assertEqual(refused.code, 401)
        self.assertEqual(self.successResultOf(client.store.all_pins()), [])

    def test_without_token_only_loopback_may_pin(self) -> None:
        client = FleetClient(self, settings=HttpSettings(allocator=SETTINGS.allocator))
        self.assertEqual(client.request("PUT", "/bots/bot-1/task", {"task": "TAN_COW"}).code, 200)


class SchemaTests(SynchronousTestCase):
    """The command routes' real responses validate against /openapi.json."""

    def test_responses_match_their_schemas(self) -> None:
        client = FleetClient(self)
        doc = client.get("/openapi.json").body
        client.heartbeat("bot-1", members=True, account="alice")
        client.request("POST", "/trades", trade("t1"))
        cases: list[tuple[str, str, str, int, Any]] = [
            ("/actions", "get", "/actions?account=alice", 200, None),
            ("/actions", "post", "/actions", 201, new_action()),
            ("/actions", "post", "/actions", 400, new_action(members="no")),
            ("/actions/{action}", "get", "/actions/TAN_BLUE", 200, None),
            ("/actions/{action}", "put", "/actions/TAN_NEW", 200, new_action()),
            ("/actions/{action}", "delete", "/actions/TAN_NEW", 200, None),
            ("/actions/", "get", "/actions/", 200, None),
            ("/actions/name/{name}", "get", "/actions/name/TAN_COW", 200, None),
            ("/trades", "post", "/trades", 200, {"trades": [trade("t2")]}),
            ("/trades", "post", "/trades", 409, trade("t2", price=7)),
            ("/bots/{instanceId}/limits", "get", "/bots/bot-1/limits", 200, None),
            ("/task", "get", "/task/?instanceId=bot-1", 200, None),
            ("/task", "get", "/task/", 422, None),
            ("/bots/{instanceId}/task", "put", "/bots/bot-2/task", 200, {"task": "TAN_COW"}),
            ("/bots/{instanceId}/task", "delete", "/bots/bot-2/task", 200, None),
        ]
        for path, method, url, status, payload in cases:
            reply = client.request(method.upper(), url, payload, ADMIN)
            self.assertEqual(reply.code, status, (url, reply.body))
            operation = doc["paths"][path][method]
            schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
            errors = [e.message for e in Draft202012Validator({**schema, "components": doc["components"]})
                      .iter_errors(reply.body)]  # fmt: skip
            self.assertEqual(errors, [], f"{method} {url}")
        bots = client.get("/bots").body
        schema = {**doc["paths"]["/bots"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
                  "components": doc["components"]}  # fmt: skip
        self.assertEqual([e.message for e in Draft202012Validator(schema).iter_errors(bots)], [])
        self.assertIn("assignment", bots["bots"][0])


class InitialActionsTests(SynchronousTestCase):
    def load(self, client: FleetClient, initial: InitialActions) -> list[str]:
        catalog = Catalog(client.store, client.clock, topics=COMMAND_TOPICS, initial_actions=initial)
        catalog.startService()
        self.addCleanup(catalog.stopService)
        self.successResultOf(catalog.whenLoaded())
        return [f"{s.action.name}:{s.action.actions_per_hour}" for s in catalog.actions]

    def test_starter_set_only_into_an_empty_table_and_a_file_at_every_start(self) -> None:
        client = FleetClient(self)
        changed = attrs.evolve(TAN_COW, actions_per_hour=5)
        self.assertEqual(self.load(client, InitialActions([changed], replace=False)),
                         ["TAN_GREEN:1000", "TAN_COW:1000", "TAN_BLUE:1000"])  # fmt: skip
        self.assertEqual(self.load(client, InitialActions([changed], replace=True)),
                         ["TAN_GREEN:1000", "TAN_COW:5", "TAN_BLUE:1000"])  # fmt: skip
