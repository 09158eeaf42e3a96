"""The HTTP API's roots: state injected per instance, one Klein app each,
JSON for every error (``routing.py``)."""

from __future__ import annotations

from typing import Optional

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource

from osrs_twisted.console.fleet import XpRates
from osrs_twisted.console.history import HistorySampler
from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.bots import BotRoutes
from osrs_twisted.http.console import ConsoleRoutes, MoversCache
from osrs_twisted.http.health import HealthRoutes
from osrs_twisted.http.items import ItemRoutes
from osrs_twisted.http.models import ModelRoutes
from osrs_twisted.http.openapi import OpenApiRoutes
from osrs_twisted.http.prices import PriceRoutes
from osrs_twisted.http.render import RenderCache
from osrs_twisted.http.routing import routed_app
from osrs_twisted.http.seed import SeedRoutes
from osrs_twisted.http.state import HttpSettings
from osrs_twisted.http.tasks import TaskRoutes
from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.policy import ModelRegistry
from osrs_twisted.store.interface import IStore

__all__ = ["HealthApi", "HttpApi", "HttpSettings"]

DEFAULT_SETTINGS = HttpSettings()


class _Routed:
    app: Klein

    def resource(self) -> IResource:
        return self.app.resource()


class HealthApi(_Routed, HealthRoutes):
    """A ``--jobs-only`` worker's API: ``/health`` and ``/health/live``, a
    JSON 404 for every other path."""

    def __init__(self, health: HealthRegistry) -> None:
        self.health = health
        self.app = routed_app(self)


class HttpApi(
    _Routed, HealthRoutes, ItemRoutes, PriceRoutes, SeedRoutes, BotRoutes, ModelRoutes, OpenApiRoutes, TaskRoutes,
    ConsoleRoutes,
):
    """Every route of the API, bound to the collaborators given here."""

    def __init__(
        self,
        health: HealthRegistry,
        clock: IReactorTime,
        settings: HttpSettings = DEFAULT_SETTINGS,
        store: Optional[IStore] = None,
        models: Optional[ModelRegistry] = None,
        catalog: Optional[Catalog] = None,
        jobs: Optional[JobScheduler] = None,
        inference: Optional[HistorySampler] = None,
    ) -> None:
        self.health = health
        self.clock = clock
        self.settings = settings
        self.store = store
        self.models = models
        self.catalog = catalog
        self.jobs = jobs
        self.inference = inference
        self.xp_rates = XpRates()
        self.movers_cache = MoversCache()
        self.rendered = RenderCache()
        self.app = routed_app(self)
