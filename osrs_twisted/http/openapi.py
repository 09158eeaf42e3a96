"""``GET /openapi.json``: an OpenAPI 3.1 description of every route.

3.1 so the component schemas are plain JSON Schema (2020-12): nullable
fields are ``["integer", "null"]`` and the tests validate real responses
against these schemas with an ordinary JSON Schema validator.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from twisted.web.iweb import IRequest

from osrs_twisted import __version__
from osrs_twisted.console.fleet import LIVENESS
from osrs_twisted.http.actions import ACTION_SORTS
from osrs_twisted.http.errors import CODES
from osrs_twisted.http.prices import FLIP_SORTS
from osrs_twisted.http.routing import json_response, route
from osrs_twisted.http.state import ApiState
from osrs_twisted.market.actions import SKILLS
from osrs_twisted.records import RUN_STATES, TIMESTEPS

Schema = dict[str, Any]

INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    if "type" in schema and len(schema) == 1:
        return {"type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def enum(values: Sequence[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def obj(required: Mapping[str, Schema], optional: Optional[Mapping[str, Schema]] = None, closed: bool = True) -> Schema:
    """An object with these properties; ``closed`` forbids any other."""
    schema: Schema = {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def _run_schema() -> Schema:
    return obj({
        "id": INT, "job": STR, "trigger": enum(["schedule", "manual"]), "slot": nullable(INT),
        "state": enum(RUN_STATES), "attempts": INT, "queuedAt": INT, "startedAt": nullable(INT),
        "finishedAt": nullable(INT), "durationMs": nullable(INT), "error": nullable(STR),
        "result": nullable(OBJECT),
    })  # fmt: skip


def _action_fields(amount: Schema) -> dict[str, Schema]:
    """What an action is, as ``POST /actions`` takes it and ``GET /actions`` shows it."""
    skill_map = {"type": "object", "propertyNames": enum(SKILLS)}
    return {
        "name": {"type": "string", "pattern": "^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$"}, "type": STR, "params": OBJECT,
        "inputs": array(amount), "outputs": array(amount),
        "requirements": obj({}, {"skills": {**skill_map, "additionalProperties": INT}, "items": array(INT),
                                 "quests": array(STR)}),
        "actionsPerHour": INT, "experience": {**skill_map, "additionalProperties": NUM}, "members": BOOL,
    }  # fmt: skip


_AMOUNT = obj({"itemId": INT, "quantity": INT})
_SEED_AMOUNT = obj({"item_source_id": INT, "quantity": INT})
_ASSIGNMENT_FIELDS: dict[str, Schema] = {
    "assignment": obj({
        "task": STR, "params": OBJECT, "source": enum(["pin", "allocator", "idle"]), "assignedAt": INT,
        "expiresAt": INT, "reason": nullable(STR), "live": BOOL,
    }),
    "pin": obj({"task": STR, "params": OBJECT, "expiresAt": nullable(INT)}),
}  # fmt: skip

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {"error": STR, "code": enum(sorted(set(CODES.values())))},
        {"id": INT, "field": STR, "tradeId": STR, "instanceId": STR, "fields": array(STR)},
    ),
    "SeedError": obj({"detail": STR}),
    "Price": obj(
        {
            "high": nullable(INT), "highTime": nullable(INT), "low": nullable(INT), "lowTime": nullable(INT),
            "mid": nullable(INT), "tax": nullable(INT), "margin": nullable(INT), "roi": nullable(NUM),
            "limitProfit": nullable(INT), "volume24h": nullable(INT), "stale": BOOL,
        },
        {"alchProfit": INT},
    ),  # fmt: skip
    "Item": obj({
        "id": INT, "name": STR, "examine": STR, "members": BOOL, "lowalch": nullable(INT),
        "highalch": nullable(INT), "limit": nullable(INT), "value": nullable(INT), "icon": STR,
        "price": nullable(ref("Price")),
    }),  # fmt: skip
    "ItemPage": obj({"items": array(ref("Item")), "total": INT}),
    "ItemList": obj({"items": array(ref("Item"))}),
    "Bucket": obj({
        "timestamp": INT, "avgHighPrice": nullable(NUM), "avgLowPrice": nullable(NUM),
        "highPriceVolume": INT, "lowPriceVolume": INT,
    }),  # fmt: skip
    "PriceHistory": obj({"id": INT, "timestep": enum(TIMESTEPS), "buckets": array(ref("Bucket"))}),
    "SeedItem": obj({
        "id": INT, "source_id": INT, "name": STR, "is_members": BOOL, "low_alch_price": nullable(INT),
        "high_alch_price": nullable(INT), "ge_buy_limit": nullable(INT), "examine_text": STR, "item_type": STR,
    }),  # fmt: skip
    "SeedPrice": obj({
        "item_source_id": INT, "high_price": nullable(INT), "high_timestamp": nullable(STR),
        "low_price": nullable(INT), "low_timestamp": nullable(STR), "average_price": nullable(INT),
        "average_timestamp": nullable(STR),
    }),  # fmt: skip
    "Heartbeat": obj(
        {"instanceId": {"type": "string", "minLength": 1}},
        {
            "timestamp": nullable(INT), "task": nullable(STR), "hp": nullable(INT), "x": nullable(INT),
            "y": nullable(INT), "plane": nullable(INT), "inCombat": nullable(BOOL),
            "inventoryCount": nullable(INT), "runEnergy": nullable(NUM),
            "xpGained": nullable({"type": "object", "additionalProperties": INT}),
        },
        closed=False,
    ),  # fmt: skip
    "HeartbeatAck": obj({"status": {"const": "ok"}}),
    "Bot": obj(
        {"instanceId": STR, "receivedAt": INT, "ageSeconds": INT, "state": ref("Heartbeat")}, _ASSIGNMENT_FIELDS
    ),
    "BotList": obj({"bots": array(ref("Bot"))}),
    "BotHistory": obj({
        "instanceId": STR,
        "heartbeats": array(obj({"receivedAt": INT, "state": ref("Heartbeat")})),
    }, _ASSIGNMENT_FIELDS),  # fmt: skip
    "ActionBody": obj(
        {k: v for k, v in _action_fields(_AMOUNT).items() if k in ("name", "type", "inputs", "outputs",
                                                                  "actionsPerHour", "members")},
        {k: v for k, v in _action_fields(_AMOUNT).items() if k in ("params", "requirements", "experience")},
    ),
    "Economics": obj({
        "cost": nullable(INT), "revenue": nullable(INT), "tax": nullable(INT), "profit": nullable(INT),
        "profitPerHour": nullable(INT), "gpPerXp": nullable(NUM), "priceReason": nullable(STR),
        "actionsPer4h": nullable(INT), "limitReason": nullable(STR), "fleetActionsPer24h": nullable(INT),
        "volumeReason": nullable(STR), "fleetBots": nullable(INT), "assignedBots": INT,
    }),
    "Action": obj({
        "id": INT, **_action_fields(_AMOUNT), "updatedAt": INT, "economics": ref("Economics"),
    }),
    "ActionList": obj({"actions": array(ref("Action"))}),
    "ActionDeleted": obj({"name": STR, "deleted": {"const": True}}),
    "SeedAction": obj({
        "id": INT, "name": STR, "type": STR, "params": OBJECT, "inputs": array(_SEED_AMOUNT),
        "outputs": array(_SEED_AMOUNT),
        "requirements": obj({"skills": {"type": "object", "additionalProperties": INT}, "items": array(INT),
                             "quests": array(STR)}),
        "actions_per_hour": INT, "experience": {"type": "object", "additionalProperties": NUM},
        "is_members": BOOL, "cost": nullable(INT), "revenue": nullable(INT), "profit": nullable(INT),
        "profit_per_hour": nullable(INT), "gp_per_xp": nullable(NUM),
    }),
    "SeedActionList": array(ref("SeedAction")),
    "Trade": obj({
        "tradeId": STR, "instanceId": STR, "account": STR, "itemId": INT, "quantity": {"type": "integer",
        "minimum": 1}, "price": {"type": "integer", "minimum": 0}, "side": enum(["buy", "sell"]), "time": INT,
    }),
    "TradeReport": {"anyOf": [ref("Trade"), obj({"trades": array(ref("Trade"))})]},
    "TradeReceipt": obj({"recorded": INT, "duplicates": INT}),
    "Limits": obj({
        "instanceId": STR, "account": STR, "windowSeconds": INT,
        "items": array(obj({"itemId": INT, "name": nullable(STR), "limit": nullable(INT), "bought": INT,
                            "left": nullable(INT), "resetsAt": INT})),
    }),
    "SeedTask": obj({
        "task": STR, "params": OBJECT, "name": STR, "source": enum(["pin", "allocator", "idle"]),
        "expires_at": STR, "expires_in": INT, "reason": nullable(STR), "quota": nullable(INT),
    }),
    "PinBody": obj({"task": STR}, {"params": OBJECT, "expiresAt": INT}),
    "Pin": obj({"instanceId": STR, "task": STR, "params": OBJECT, "expiresAt": nullable(INT)}),
    "PinRemoved": obj({"instanceId": STR, "removed": {"const": True}}),
    "Model": obj({
        "name": STR, "source": enum(["file", "builtin"]), "path": nullable(STR), "sha256": nullable(STR),
        "loadedAt": NUM, "frames": nullable(INT), "obsSize": nullable(INT), "criticSize": nullable(INT),
        "heads": array(INT), "extensions": array(STR),
    }),  # fmt: skip
    "ModelList": obj({
        "default": nullable(STR),
        "models": array(ref("Model")),
        "skipped": array(obj({"path": STR, "error": STR})),
    }, {"lastReload": nullable(ref("ModelReload"))}),  # fmt: skip
    "ModelReload": obj({
        "outcome": enum(["ok", "failed"]), "trigger": enum(["signal", "http", "poll", "api"]),
        "startedAt": NUM, "finishedAt": NUM, "loaded": array(STR), "replaced": array(STR), "removed": array(STR),
        "unchanged": array(STR), "failed": array(obj({"path": STR, "error": STR})),
    }),  # fmt: skip
    "Check": obj({"status": enum(["ok", "degraded", "failing"]), "detail": STR}, closed=False),
    "Health": obj({
        "status": enum(["ok", "degraded", "failing"]),
        "version": STR,
        "checks": {"type": "object", "additionalProperties": ref("Check")},
    }),  # fmt: skip
    "Live": obj({"status": {"const": "ok"}}),
    "Ready": obj({"status": enum(("ready", "not_ready"))}, {"reasons": array(STR)}),
    "Run": _run_schema(),
    "RunList": obj({"runs": array(ref("Run"))}),
    "Job": obj({
        "name": STR, "intervalSeconds": INT, "enabled": BOOL, "lastRun": nullable(ref("Run")),
        "nextRunAt": nullable(INT),
    }),  # fmt: skip
    "JobList": obj({"jobs": array(ref("Job"))}),
    "FleetBot": obj({
        "instanceId": STR, "receivedAt": INT, "ageSeconds": INT, "state": ref("Heartbeat"),
        "liveness": enum(LIVENESS), "xpPerHour": nullable(NUM),
    }),  # fmt: skip
    "Fleet": obj({
        "now": INT, "lateAfter": INT, "goneAfter": INT,
        "counts": obj({name: INT for name in LIVENESS}), "bots": array(ref("FleetBot")),
    }),  # fmt: skip
    "ConsoleBot": obj({
        "instanceId": STR, "heartbeats": array(obj({"receivedAt": INT, "state": ref("Heartbeat")})),
        "ageSeconds": INT, "liveness": enum(LIVENESS), "xpPerHour": nullable(NUM),
        "xp": array(obj({"at": INT, "total": INT})),
    }),  # fmt: skip
    "InferencePoint": obj({
        "at": NUM, "seconds": NUM, "requestsPerSecond": NUM, "repliesPerSecond": NUM, "errorsPerSecond": NUM,
        "errors": {"type": "object", "additionalProperties": INT}, "latencyP50Ms": nullable(NUM),
        "latencyP99Ms": nullable(NUM), "batchMean": nullable(NUM), "connections": INT, "queueDepth": INT,
    }),  # fmt: skip
    "InferenceHistory": obj({
        "available": BOOL, "reason": nullable(STR), "intervalSeconds": nullable(NUM), "capacity": INT,
        "points": array(ref("InferencePoint")), "current": nullable(OBJECT),
    }),  # fmt: skip
    "Mover": obj({
        "id": INT, "name": STR, "price": INT, "average24h": NUM, "change": NUM, "changeRatio": NUM,
        "volume24h": INT,
    }),  # fmt: skip
    "Movers": obj({"risers": array(ref("Mover")), "fallers": array(ref("Mover"))}),
}

_STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 400: "Bad request: the message names the parameter or field",
    401: "Admin token missing or wrong", 403: "Admin route from a non-loopback client without a token",
    404: "Not found", 409: "Conflict: a run in progress, an action name taken, a trade id reused",
    413: "Request body too large",
    415: "Unsupported Content-Encoding", 422: "Missing or invalid query parameter",
    503: "The store is unavailable",
}  # fmt: skip


def _response(status: int, schema: str) -> Schema:
    return {"description": _STATUS_TEXT[status], "content": {"application/json": {"schema": ref(schema)}}}


def _param(name: str, where: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}  # fmt: skip


def _op(
    summary: str,
    ok: tuple[int, str],
    errors: Sequence[int] = (),
    params: Sequence[Schema] = (),
    body: Optional[str] = None,
    seed: bool = False,
) -> Schema:
    error_schema = "SeedError" if seed else "Error"
    responses = {str(ok[0]): _response(ok[0], ok[1])}
    responses.update({str(status): _response(status, error_schema) for status in errors})
    operation: Schema = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "description": "JSON, optionally with Content-Encoding: gzip",
            "content": {"application/json": {"schema": ref(body)}},
        }
    return operation


def _limit(default: int) -> Schema:
    return _param("limit", "query", {"type": "integer", "minimum": 1, "default": default},
                  "How many to return (capped at the server's maximum)")  # fmt: skip


ITEM_ID = _param("itemId", "path", {"type": "integer", "minimum": 0}, "OSRS item id")
INSTANCE_ID = _param("instanceId", "path", STR, "The bot's instanceId")
ACCOUNT = _param("account", "query", STR, "Limit figures from what this account has left of each buy limit")
ACTION_NAME = _param("name", "path", STR, "The action's unique name")
ADMIN_ERRORS = [400, 401, 403, 404, 413, 415, 503]

PATHS: dict[str, dict[str, Schema]] = {
    "/health": {"get": _op("Process health (200 ok/degraded, 503 failing)", (200, "Health"))},
    "/health/live": {"get": _op("Liveness: 200 whenever the reactor runs", (200, "Live"))},
    "/health/ready": {"get": {
        "summary": "Readiness: 200 once the store is migrated, the catalog loaded and the models warmed",
        "responses": {"200": _response(200, "Ready"), "503": _response(503, "Ready")},
    }},
    "/metrics": {"get": {
        "summary": "Prometheus metrics in the text exposition format (docs/metrics.md)",
        "responses": {"200": {"description": _STATUS_TEXT[200], "content": {"text/plain": {"schema": STR}}}},
    }},
    "/items": {"get": _op(
        "Search items by name: exact, then prefix, then substring matches, each by name",
        (200, "ItemPage"), [400, 503],
        [_param("q", "query", STR, "Part of the name, case-insensitive"),
         _param("members", "query", BOOL, "Only members (true) or free-to-play (false) items"),
         _limit(20), _param("offset", "query", {"type": "integer", "minimum": 0}, "Matches to skip")],
    )},
    "/items/{itemId}": {"get": _op("One item with its price figures", (200, "Item"), [400, 404, 503], [ITEM_ID])},
    "/items/{itemId}/prices": {"get": _op(
        "One item's price history, oldest first", (200, "PriceHistory"), [400, 404, 503],
        [ITEM_ID, _param("timestep", "query", {**enum(TIMESTEPS), "default": "5m"}, "Bucket size"),
         _param("since", "query", INT, "First bucket start (Unix seconds)"),
         _param("until", "query", INT, "Last bucket start (Unix seconds)"), _limit(100)],
    )},
    "/prices/latest": {"get": _op(
        "Chosen items with their prices; unknown ids are left out", (200, "ItemList"), [400, 503],
        [_param("ids", "query", STR, "Comma-separated item ids", required=True)],
    )},
    "/prices/flips": {"get": _op(
        "Items with both sides and a fresh price, best flip first", (200, "ItemList"), [400, 503],
        [_param("sort", "query", {**enum(list(FLIP_SORTS)), "default": "margin"}, "Ranking"),
         _param("minVolume", "query", INT, "Least 24 h volume"),
         _param("members", "query", BOOL, "Only members (true) or free-to-play (false) items"),
         _param("maxPrice", "query", INT, "Highest buy (low) price"), _limit(20)],
    )},
    "/prices/alchs": {"get": _op(
        "Items by high-alchemy profit (price.alchProfit), best first", (200, "ItemList"), [400, 503], [_limit(20)],
    )},
    "/items/search": {"get": _op(
        "Seed path: one item by exact name, case-insensitive", (200, "SeedItem"), [404, 422, 503],
        [_param("name", "query", STR, "The item's name", required=True)], seed=True,
    )},
    "/items/current-price": {"get": _op(
        "Seed path: an item's latest price", (200, "SeedPrice"), [404, 422, 503],
        [_param("item_source_id", "query", INT, "OSRS item id", required=True)], seed=True,
    )},
    "/healthcheck": {"post": _op(
        "Seed path: a bot's heartbeat", (200, "HeartbeatAck"), [400, 413, 415, 503], body="Heartbeat", seed=True,
    )},
    "/bots": {"get": _op("Each bot's newest heartbeat, newest first", (200, "BotList"), [503])},
    "/bots/{instanceId}": {"get": _op(
        "One bot's heartbeats, newest first", (200, "BotHistory"), [400, 404, 503],
        [_param("instanceId", "path", STR, "The bot's instanceId"), _limit(50)],
    )},
    "/models": {"get": _op("The loaded policy models and the skipped files", (200, "ModelList"))},
    "/models/reload": {"post": _op(
        "Reload the model files now and answer with what changed (admin)", (200, "ModelReload"), [401, 403, 503],
    )},
    "/tasks": {"get": _op("The background jobs with their last run and next run time", (200, "JobList"), [503])},
    "/tasks/runs": {"get": _op(
        "Job runs, newest first", (200, "RunList"), [400, 503],
        [_param("job", "query", STR, "Only this job's runs"),
         _param("state", "query", enum(RUN_STATES), "Only runs in this state"), _limit(50)],
    )},
    "/tasks/runs/{runId}": {"get": _op(
        "One run", (200, "Run"), [400, 404, 503], [_param("runId", "path", INT, "The run's id")],
    )},
    "/tasks/{job}/run": {"post": _op(
        "Queue a manual run of a job (admin)", (202, "Run"), [401, 403, 404, 409, 503],
        [_param("job", "path", STR, "The job's name")],
    )},
    "/actions": {
        "get": _op(
            "Actions with their live economics, best first", (200, "ActionList"), [400, 503],
            [_param("sort", "query", {**enum(list(ACTION_SORTS)), "default": "profitPerHour"}, "Ranking"),
             _param("members", "query", BOOL, "Only members (true) or free-to-play (false) actions"), ACCOUNT],
        ),
        "post": _op("Create an action (admin)", (201, "Action"), [*ADMIN_ERRORS, 409], body="ActionBody"),
    },
    "/actions/{action}": {
        "get": _op(
            "One action by name; a numeric id answers the seed's shape (SeedAction, {detail} errors)",
            (200, "Action"), [400, 404, 503],
            [_param("action", "path", STR, "The action's name, or (seed) its id"), ACCOUNT],
        ),
        "put": _op("Replace an action (admin); the body's name must be the path's", (200, "Action"),
                   ADMIN_ERRORS, [_param("action", "path", STR, "The action's name")], body="ActionBody"),
        "delete": _op("Delete an action (admin)", (200, "ActionDeleted"), ADMIN_ERRORS,
                      [_param("action", "path", STR, "The action's name")]),
    },
    "/actions/": {"get": _op("Seed path: every action, by id", (200, "SeedActionList"), [503], seed=True)},
    "/actions/name/{name}": {"get": _op(
        "Seed path: one action by name", (200, "SeedAction"), [404, 503], [ACTION_NAME], seed=True,
    )},
    "/trades": {"post": _op(
        "Report Grand Exchange fills: one trade or {trades: [...]}, idempotent by (instanceId, tradeId)",
        (200, "TradeReceipt"), [400, 409, 413, 415, 503], body="TradeReport",
    )},
    "/bots/{instanceId}/limits": {"get": _op(
        "What the bot's account has left of each buy limit it used", (200, "Limits"), [404, 503], [INSTANCE_ID],
    )},
    "/bots/{instanceId}/task": {
        "put": _op("Pin a bot to a task (admin)", (200, "Pin"), ADMIN_ERRORS, [INSTANCE_ID], body="PinBody"),
        "delete": _op("Remove a bot's pin (admin)", (200, "PinRemoved"), ADMIN_ERRORS, [INSTANCE_ID]),
    },
    "/task": {"get": _op(
        "Seed path: the asking bot's task (?instanceId= wins over the X-Instance-Id header)",
        (200, "SeedTask"), [422, 503],
        [_param("instanceId", "query", STR, "The asking bot"),
         _param("X-Instance-Id", "header", STR, "The asking bot, when the query does not name it")], seed=True,
    )},
    "/console/fleet": {"get": _op(
        "Console: every bot's newest heartbeat with its liveness and XP per hour", (200, "Fleet"), [400, 503],
        [_param("lateAfter", "query", {"type": "integer", "minimum": 1}, "Seconds of silence before late"),
         _param("goneAfter", "query", {"type": "integer", "minimum": 1}, "Seconds of silence before gone")],
    )},
    "/console/bots/{instanceId}": {"get": _op(
        "Console: one bot's heartbeats, liveness and XP series", (200, "ConsoleBot"), [400, 404, 503],
        [_param("instanceId", "path", STR, "The bot's instanceId"), _limit(200),
         _param("lateAfter", "query", {"type": "integer", "minimum": 1}, "Seconds of silence before late"),
         _param("goneAfter", "query", {"type": "integer", "minimum": 1}, "Seconds of silence before gone")],
    )},
    "/console/inference-history": {"get": _op(
        "Console: the inference counters sampled every few seconds, oldest first", (200, "InferenceHistory"),
    )},
    "/console/movers": {"get": _op(
        "Console: fresh prices furthest from their 24 h average, rises and falls", (200, "Movers"), [400, 503],
        [_param("minVolume", "query", INT, "Least 24 h volume"), _limit(10)],
    )},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {
        "description": "OK", "content": {"application/json": {"schema": OBJECT}}}}}},
}  # fmt: skip


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "osrs-twisted",
            "version": __version__.public(),
            "description": "OSRS Grand Exchange items and prices, bot heartbeats and the loaded policy models. "
            "Errors of the project's own routes are {error, code}; the seed's paths answer {detail}.",
        },
        "paths": PATHS,
        "components": {"schemas": SCHEMAS},
    }


class OpenApiRoutes(ApiState):
    @route("/openapi.json", methods=["GET"])
    def openapi(self, request: IRequest) -> bytes:
        return json_response(request, document())
