"""The HTTP API's root: state injected per instance, JSON for every error."""

from __future__ import annotations

from typing import Optional

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from osrs_twisted.catalog import Catalog
from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.bots import BotRoutes
from osrs_twisted.http.errors import CODES, NO_SUCH_ROUTE, ApiError
from osrs_twisted.http.health import HealthRoutes
from osrs_twisted.http.items import ItemRoutes
from osrs_twisted.http.models import ModelRoutes
from osrs_twisted.http.openapi import OpenApiRoutes
from osrs_twisted.http.prices import PriceRoutes
from osrs_twisted.http.routing import app, json_response
from osrs_twisted.http.seed import SeedRoutes
from osrs_twisted.http.state import HttpSettings
from osrs_twisted.http.tasks import TaskRoutes
from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.policy import ModelRegistry
from osrs_twisted.store.interface import IStore, StoreUnavailable

__all__ = ["HealthOnlyResource", "HttpApi", "HttpSettings"]

log = Logger()


class ErrorHandlers:
    """Klein runs error handlers in registration order: werkzeug's routing
    errors first (keeping ``Allow``), the API's own, then a catch-all."""

    @app.handle_errors(HTTPException)
    def routing_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, HTTPException)
        status = error.code or 500
        for name, value in error.get_headers():
            if name.lower() == "allow":
                request.setHeader(b"Allow", value.encode("ascii"))
        message = {404: NO_SUCH_ROUTE["error"], 405: "method not allowed"}.get(status, error.description or "")
        if isinstance(error, MethodNotAllowed):
            allowed = ", ".join(error.valid_methods or [])
            message = f"method {request.method.decode('ascii', 'replace')} not allowed; use {allowed}"
        return json_response(request, {"error": message, "code": CODES.get(status, "internal")}, status)

    @app.handle_errors(ApiError)
    def api_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, ApiError)
        for name, value in error.headers.items():
            request.setHeader(name.encode("ascii"), value.encode("latin-1"))
        return json_response(request, error.body(), error.status)

    @app.handle_errors(StoreUnavailable)
    def store_unavailable(self, request: IRequest, failure: Failure) -> bytes:
        return json_response(
            request, {"error": f"the store is unavailable: {failure.value}", "code": "unavailable"}, 503
        )

    @app.handle_errors(Exception)
    def internal_error(self, request: IRequest, failure: Failure) -> bytes:
        log.failure("unhandled error serving {method} {uri}", failure, method=request.method, uri=request.uri)
        return json_response(request, {"error": "internal server error", "code": "internal"}, 500)


class HttpApi(
    ErrorHandlers, HealthRoutes, ItemRoutes, PriceRoutes, SeedRoutes, BotRoutes, ModelRoutes, OpenApiRoutes,
    TaskRoutes,
):
    """Every route of the API, bound to the collaborators given here."""

    app = app

    def __init__(
        self,
        health: HealthRegistry,
        clock: IReactorTime,
        settings: HttpSettings = HttpSettings(),
        store: Optional[IStore] = None,
        models: Optional[ModelRegistry] = None,
        catalog: Optional[Catalog] = None,
        jobs: Optional[JobScheduler] = None,
    ) -> None:
        self.health = health
        self.clock = clock
        self.settings = settings
        self.store = store
        self.models = models
        self.catalog = catalog
        self.jobs = jobs

    def resource(self) -> IResource:
        return self.app.resource()


class HealthOnlyResource(Resource):
    """A ``--jobs-only`` worker serves ``/health`` alone; the rest is a JSON 404."""

    def __init__(self, api: HttpApi) -> None:
        super().__init__()
        self._api = api.resource()

    def getChild(self, path: bytes, request: IRequest) -> IResource:
        if path == b"health":
            request.prepath.pop()
            request.postpath.insert(0, path)
            return self._api
        return _NotFound()

    def render(self, request: IRequest) -> bytes:
        return _NotFound().render(request)


class _NotFound(Resource):
    isLeaf = True

    def render(self, request: IRequest) -> bytes:
        return json_response(request, NO_SUCH_ROUTE, 404)
