"""The HTTP API's roots: state injected per instance, one Klein app each,
JSON for every error (``routing.py``)."""

from __future__ import annotations

from typing import Optional

from klein import Klein
from prometheus_client.registry import CollectorRegistry
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource

from osrs_twisted.console.fleet import XpRates
from osrs_twisted.console.history import HistorySampler
from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.actions import ActionRoutes
from osrs_twisted.http.bots import BotRoutes
from osrs_twisted.http.command import CommandRoutes
from osrs_twisted.http.console import ConsoleRoutes, MoversCache
from osrs_twisted.http.health import HealthRoutes
from osrs_twisted.http.items import ItemRoutes
from osrs_twisted.http.metrics import MetricsRoutes
from osrs_twisted.http.models import ModelRoutes
from osrs_twisted.http.openapi import OpenApiRoutes
from osrs_twisted.http.prices import PriceRoutes
from osrs_twisted.http.render import RenderCache
from osrs_twisted.http.routing import routed_app
from osrs_twisted.http.seed import SeedRoutes
from osrs_twisted.http.state import HttpSettings
from osrs_twisted.http.tasks import TaskRoutes
from osrs_twisted.http.trades import TradeRoutes
from osrs_twisted.inference.reload import ModelReloadService
from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.policy import ModelRegistry
from osrs_twisted.policy.reload import ServedModels
from osrs_twisted.readiness import ReadinessRegistry
from osrs_twisted.store.interface import IStore
from osrs_twisted.telemetry.recorders import RecentBots

__all__ = ["HealthApi", "HttpApi", "HttpSettings", "MetricsApi"]

DEFAULT_SETTINGS = HttpSettings()


class _Routed:
    app: Klein

    def resource(self) -> IResource:
        return self.app.resource()


class MetricsApi(_Routed, MetricsRoutes):
    """The ``--metrics`` listener's API: ``/metrics`` only."""

    def __init__(self, metrics_registry: CollectorRegistry) -> None:
        self.metrics_registry = metrics_registry
        self.app = routed_app(self)


class HealthApi(_Routed, HealthRoutes, MetricsRoutes):
    """A ``--jobs-only`` worker's API: ``/health``, its ``live`` and ``ready``
    probes and ``/metrics``, a JSON 404 for every other path."""

    def __init__(
        self,
        health: HealthRegistry,
        readiness: Optional[ReadinessRegistry] = None,
        metrics_registry: Optional[CollectorRegistry] = None,
    ) -> None:
        self.health = health
        self.readiness = ReadinessRegistry() if readiness is None else readiness
        self.metrics_registry = CollectorRegistry() if metrics_registry is None else metrics_registry
        self.app = routed_app(self)


class HttpApi(
    _Routed, HealthRoutes, MetricsRoutes, ItemRoutes, PriceRoutes, SeedRoutes, BotRoutes, ModelRoutes,
    OpenApiRoutes, TaskRoutes, ActionRoutes, TradeRoutes, CommandRoutes, ConsoleRoutes,
):
    """Every route of the API, bound to the collaborators given here.
    ``recent_bots`` learns of every heartbeat accepted (metrics)."""

    def __init__(
        self,
        health: HealthRegistry,
        clock: IReactorTime,
        settings: HttpSettings = DEFAULT_SETTINGS,
        store: Optional[IStore] = None,
        models: Optional[ModelRegistry | ServedModels] = None,
        catalog: Optional[Catalog] = None,
        jobs: Optional[JobScheduler] = None,
        readiness: Optional[ReadinessRegistry] = None,
        metrics_registry: Optional[CollectorRegistry] = None,
        recent_bots: Optional[RecentBots] = None,
        reloader: Optional[ModelReloadService] = None,
        inference: Optional[HistorySampler] = None,
    ) -> None:
        """``models``: what ``/models`` shows (a fixed registry is served as is);
        ``reloader``: what ``POST /models/reload`` runs (503 without one)."""
        self.health = health
        self.readiness = ReadinessRegistry() if readiness is None else readiness
        self.metrics_registry = CollectorRegistry() if metrics_registry is None else metrics_registry
        self.recent_bots = RecentBots() if recent_bots is None else recent_bots
        self.clock = clock
        self.settings = settings
        self.store = store
        self.models = ServedModels(models) if isinstance(models, ModelRegistry) else models
        self.reloader = reloader
        self.catalog = catalog
        self.jobs = jobs
        self.inference = inference
        self.xp_rates = XpRates()
        self.movers_cache = MoversCache()
        self.rendered = RenderCache()
        self.app = routed_app(self)
