"""``GET /openapi.json`` and ``GET /models``: the document names every route
of the app, and real responses of every route validate against its schemas."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.policy import load_registry
from tests.http_helpers import NOW, ApiClient, make_client


def template(path: str) -> str:
    """A path with its parameters blanked: ``/items/<item_id>`` and ``/items/{itemId}`` → ``/items/{}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    operation = doc["paths"][path][method.lower()]
    schema: dict[str, Any] = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return schema


class OpenApiTests(SynchronousTestCase):
    def document(self, client: ApiClient) -> dict[str, Any]:
        reply = client.get("/openapi.json")
        self.assertEqual(reply.code, 200)
        doc: dict[str, Any] = reply.json
        self.assertEqual(doc["openapi"], "3.1.0")
        return doc

    def test_every_route_is_documented(self) -> None:
        client = make_client(self)
        doc = self.document(client)
        documented = {(template(path), method.upper()) for path, ops in doc["paths"].items() for method in ops}
        for rule in client.api.app.url_map.iter_rules():
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                self.assertIn((template(rule.rule), method), documented, rule.rule)
        for path in ("/tasks", "/tasks/runs", "/tasks/runs/{runId}", "/tasks/{job}/run", "/health", "/health/live"):
            self.assertIn(path, doc["paths"])

    def test_every_schema_reference_resolves(self) -> None:
        doc = self.document(make_client(self))
        Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
        references = set(re.findall(r'"#/components/schemas/([A-Za-z]+)"', str(doc).replace("'", '"')))
        self.assertTrue(references)
        self.assertLessEqual(references, set(doc["components"]["schemas"]))

    def test_real_responses_match_their_schemas(self) -> None:
        client = make_client(self, models=load_registry(None, [], demo=True))
        doc = self.document(client)
        client.post_json("/healthcheck", {"instanceId": "bot-1", "hp": 5, "xpGained": {"magic": 3}})
        cases: list[tuple[str, str, str, int, Any]] = [
            ("/health", "GET", "/health", 200, None),
            ("/health/live", "GET", "/health/live", 200, None),
            ("/items", "GET", "/items?q=whip", 200, None),
            ("/items", "GET", "/items?limit=0", 400, None),
            ("/items/{itemId}", "GET", "/items/4151", 200, None),
            ("/items/{itemId}", "GET", "/items/30004", 200, None),
            ("/items/{itemId}", "GET", "/items/1127", 200, None),
            ("/items/{itemId}", "GET", "/items/5", 404, None),
            ("/items/{itemId}", "GET", "/items/x", 400, None),
            ("/items/{itemId}/prices", "GET", f"/items/4151/prices?since={NOW - 1000}", 200, None),
            ("/items/{itemId}/prices", "GET", "/items/4151/prices?timestep=1d", 400, None),
            ("/prices/latest", "GET", "/prices/latest?ids=4151,561,1127,30004", 200, None),
            ("/prices/flips", "GET", "/prices/flips?sort=volume", 200, None),
            ("/prices/alchs", "GET", "/prices/alchs", 200, None),
            ("/items/search", "GET", "/items/search?name=nature%20rune", 200, None),
            ("/items/search", "GET", "/items/search?name=nothing", 404, None),
            ("/items/search", "GET", "/items/search", 422, None),
            ("/items/current-price", "GET", "/items/current-price?item_source_id=4151", 200, None),
            ("/items/current-price", "GET", "/items/current-price?item_source_id=30004", 404, None),
            ("/healthcheck", "POST", "/healthcheck", 200, {"instanceId": "bot-2", "inCombat": True}),
            ("/healthcheck", "POST", "/healthcheck", 400, {"instanceId": ""}),
            ("/bots", "GET", "/bots", 200, None),
            ("/bots/{instanceId}", "GET", "/bots/bot-1", 200, None),
            ("/bots/{instanceId}", "GET", "/bots/bot-0", 404, None),
            ("/models", "GET", "/models", 200, None),
        ]
        for path, method, url, status, payload in cases:
            if payload is None:
                reply = client.request(method, url)
            else:
                reply = client.post_json(url, payload)
            self.assertEqual(reply.code, status, url)
            schema = {**response_schema(doc, path, method, status), "components": doc["components"]}
            errors = [e.message for e in Draft202012Validator(schema).iter_errors(reply.json)]
            self.assertEqual(errors, [], f"{method} {url}")
        healthcheck = doc["paths"]["/healthcheck"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**healthcheck, "components": doc["components"]})
        self.assertTrue(validator.is_valid({"instanceId": "b", "extra": 1}))
        self.assertFalse(validator.is_valid({"instanceId": "b", "hp": "full"}))


class ModelsTests(SynchronousTestCase):
    def test_models_document(self) -> None:
        client = make_client(self, models=load_registry(None, [], demo=True))
        body = client.get("/models/").json
        self.assertEqual(body["default"], "demo")
        self.assertEqual(sorted(m["name"] for m in body["models"]), ["demo", "noop"])
        self.assertEqual(body["skipped"], [])

    def test_no_registry(self) -> None:
        client = make_client(self, filled=False)
        self.assertEqual(client.get("/models").json, {"default": None, "models": [], "skipped": []})
