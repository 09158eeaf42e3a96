"""A small market and a bot command API over it, for the command HTTP tests:
the in-memory store (synchronous, so tests are ``SynchronousTestCase``s)
or a real one, with a catalog that holds actions, assignments and pins."""

from __future__ import annotations

import gzip
from typing import Any, Mapping, Optional, Sequence

import attrs
import orjson
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HttpApi, HttpSettings
from osrs_twisted.market.actions import Action, ItemAmount, Requirements
from osrs_twisted.market.allocation import AllocatorConfig
from osrs_twisted.market.catalog import COMMAND_TOPICS, Catalog, InitialActions
from osrs_twisted.records import LatestPrice, PriceBucket
from osrs_twisted.store.interface import IStore
from tests.http_helpers import NOW, ApiClient, item, now_clock
from tests.store_helpers import memory_store

TOKEN = "s3cret"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SETTINGS = HttpSettings(admin_token=TOKEN, allocator=AllocatorConfig(fleet_share="0.5", ttl=900))

GREEN_HIDE, GREEN_LEATHER, COWHIDE, LEATHER, STALE_HIDE, STALE_LEATHER = 1753, 1745, 1739, 1741, 1751, 2505

ITEMS = [
    item(GREEN_HIDE, "Green dragonhide", limit=100),
    item(GREEN_LEATHER, "Green dragon leather", limit=1000),
    item(COWHIDE, "Cowhide", members=False, limit=1000),
    item(LEATHER, "Leather", members=False, limit=1000),
    item(STALE_HIDE, "Blue dragonhide", limit=100),
    item(STALE_LEATHER, "Blue dragon leather", limit=100),
]

PRICES = [
    LatestPrice(GREEN_HIDE, 1500, NOW - 10, 1450, NOW - 10),
    LatestPrice(GREEN_LEATHER, 1750, NOW - 10, 1700, NOW - 10),
    LatestPrice(COWHIDE, 100, NOW - 10, 90, NOW - 10),
    LatestPrice(LEATHER, 160, NOW - 10, 150, NOW - 10),
    LatestPrice(STALE_HIDE, 2000, NOW - 9000, 1900, NOW - 9000),
    LatestPrice(STALE_LEATHER, 2900, NOW - 9000, 2800, NOW - 9000),
]

#: 24 h volumes: with share 1/2 and 1000 actions/h (100 per 4 h by the green
#: hide's limit: 600 a day), green takes 600 / (600 * 2) = ... see FLEET_BOTS.
BUCKETS = [
    PriceBucket(item_id, "24h", NOW - 86400, 1.0, 1.0, volume, 0)
    for item_id, volume in [(GREEN_HIDE, 2400), (GREEN_LEATHER, 2400), (COWHIDE, 10**6), (LEATHER, 10**6),
                            (STALE_HIDE, 10**6), (STALE_LEATHER, 10**6)]
]  # fmt: skip


def tanning(name: str, hide: int, leather: int, members: bool, crafting: int = 1, per_hour: int = 1000) -> Action:
    return Action(
        name=name,
        type="TAN_LEATHER",
        params={"rawHideName": name.title()},
        inputs=(ItemAmount(hide, 1), ItemAmount(995, 20)),
        outputs=(ItemAmount(leather, 1),),
        requirements=Requirements(skills={"crafting": crafting}),
        actions_per_hour=per_hour,
        experience={"crafting": 2.0},
        members=members,
    )


TAN_GREEN = tanning("TAN_GREEN", GREEN_HIDE, GREEN_LEATHER, members=True)
TAN_COW = tanning("TAN_COW", COWHIDE, LEATHER, members=False)
TAN_BLUE = tanning("TAN_BLUE", STALE_HIDE, STALE_LEATHER, members=True, crafting=50)
ACTIONS = (TAN_GREEN, TAN_COW, TAN_BLUE)

#: TAN_GREEN: 1500 + 20 gp in, 1700 - 34 tax out.
GREEN_PROFIT = 1700 - 34 - 1520
#: TAN_COW: 100 + 20 gp in, 150 - 3 tax out.
COW_PROFIT = 150 - 3 - 120

#: Bots TAN_GREEN takes: half of 2400 a day, each bot doing 100 per 4 h (600 a day).
GREEN_FLEET_BOTS = 2


def fill(test: SynchronousTestCase, store: IStore) -> None:
    test.successResultOf(store.upsert_items(ITEMS))
    test.successResultOf(store.upsert_latest_prices(PRICES))
    test.successResultOf(store.upsert_buckets(BUCKETS))


def command_catalog(store: IStore, clock: Clock, actions: Sequence[Action] = ACTIONS) -> Catalog:
    return Catalog(store, clock, topics=COMMAND_TOPICS, initial_actions=InitialActions(actions, replace=False))


def start_command_catalog(
    test: SynchronousTestCase, store: IStore, clock: Clock, actions: Sequence[Action] = ACTIONS
) -> "Deferred[Catalog]":
    """A started command catalog, stopped at cleanup; fires once its first
    load was tried (at once on the in-memory store)."""
    catalog = command_catalog(store, clock, actions)
    catalog.startService()
    test.addCleanup(catalog.stopService)
    return catalog.whenLoaded().addCallback(lambda _: catalog)


@attrs.define
class Reply:
    code: int
    body: Any
    headers: Any


class FleetClient:
    """The API over a filled in-memory store: every route answers at once."""

    def __init__(
        self, test: SynchronousTestCase, settings: HttpSettings = SETTINGS, actions: Sequence[Action] = ACTIONS
    ) -> None:
        self.test = test
        self.clock = now_clock()
        self.store = memory_store(self.clock)
        fill(test, self.store)
        self.catalog = test.successResultOf(start_command_catalog(test, self.store, self.clock, actions))
        self.api = HttpApi(HealthRegistry(), self.clock, settings, store=self.store, catalog=self.catalog)
        self.client = ApiClient(self.api)

    def request(
        self, method: str, path: str, payload: Any = None, headers: Optional[Mapping[str, str]] = None,
        raw: Optional[bytes] = None, gzipped: bool = False,
    ) -> Reply:  # fmt: skip
        body = raw if raw is not None else None if payload is None else orjson.dumps(payload)
        sent = dict(headers or {})
        if gzipped and body is not None:
            body = gzip.compress(body)
            sent["Content-Encoding"] = "gzip"
        reply = self.client.request(method, path, body, sent)
        return Reply(reply.code, reply.json, reply.headers)

    def get(self, path: str, headers: Optional[Mapping[str, str]] = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def admin(self, method: str, path: str, payload: Any = None) -> Reply:
        return self.request(method, path, payload, ADMIN)

    def heartbeat(self, instance_id: str, **fields: Any) -> None:
        reply = self.request("POST", "/healthcheck", {"instanceId": instance_id, **fields})
        self.test.assertEqual(reply.code, 200, reply.body)
