"""Assembly: ``makeService(config, reactor=...)`` builds the whole process.

Children, started in this order and stopped in the reverse one, each waiting
for the one before: ``store``, ``models`` (with the model reloader,
``reload``, as its child; under ``http`` in an ``--http-only`` process),
``tcp``, ``http``, ``jobs``. The reactor and every collaborator are passed
in; nothing here is global.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import attrs
from twisted.application import strports
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.config import CommandConfig, Config, LimitsConfig, ModelsConfig
from osrs_twisted.console.history import HistorySampler
from osrs_twisted.console.pages import with_console
from osrs_twisted.gate import GatedFactory, StartGate
from osrs_twisted.health import Check, CheckFunction, HealthRegistry
from osrs_twisted.heap import freeze_long_lived
from osrs_twisted.http.api import HealthApi, HttpApi, HttpSettings, MetricsApi
from osrs_twisted.http.site import ApiSite
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.inference.pool import ModelPoolService
from osrs_twisted.inference.reload import ModelReloadService, WarmUp, no_warm_up
from osrs_twisted.inference.service import InferenceService
from osrs_twisted.jobs.build import build_scheduler
from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.market.actions import load_actions_file, load_starter_actions
from osrs_twisted.market.allocation import AllocatorConfig
from osrs_twisted.market.catalog import COMMAND_TOPICS, Catalog, InitialActions
from osrs_twisted.market.validation import FieldError
from osrs_twisted.policy import ModelLoadError, load_registry
from osrs_twisted.policy.registry import UnknownDefaultModel
from osrs_twisted.policy.reload import ModelSources, ServedModels
from osrs_twisted.readiness import ReadinessRegistry, catalog_readiness, models_readiness, store_readiness
from osrs_twisted.stopping import IBoundedStop
from osrs_twisted.store.factory import open_store
from osrs_twisted.store.interface import IStore
from osrs_twisted.store.service import StoreService
from osrs_twisted.telemetry import sources as metric_sources
from osrs_twisted.telemetry.collector import service_registry
from osrs_twisted.telemetry.recorders import HttpMetrics, RecentBots
from osrs_twisted.telemetry.sources import MetricsSources
from osrs_twisted.workers.listeners import Listen

log = Logger()


class StartupError(SystemExit):
    """A configuration that cannot start. A ``SystemExit``: raised while
    twistd or twist builds or starts the service, it ends the process with
    status 1 and its message as the one line shown, not a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"osrs: {message}")


class OsrsService(MultiService):
    """Stops its children one at a time, last started first, so listeners
    close before the work they feed is torn down, all within one budget.

    Each child gets what is left of ``stop_budget`` less ``reserve_each``
    seconds kept for every child still to stop (but never less than an even
    split of what is left): a slow child leaves less for the next, and the
    last ones still get a moment to close. A child that provides
    :class:`IBoundedStop` is told its share and trusted to keep it; any
    other is given its share as a timeout.
    """

    def __init__(self, reactor: IReactorTime, stop_budget: float = 30.0, reserve_each: float = 1.0) -> None:
        super().__init__()
        self.reactor = reactor
        self.stop_budget = stop_budget
        self.reserve_each = reserve_each
        self._bound = False
        #: What each component reports: health, readiness, metrics.
        self.health = HealthRegistry()
        self.readiness = ReadinessRegistry()
        self.metric_sources = MetricsSources()
        #: This process's own registry (never the global default), served at ``/metrics``.
        self.metrics_registry = service_registry(self.metric_sources.snapshot)

    def privilegedStartService(self) -> None:
        """Bind every port, before any child starts a thread: a port in use
        then ends the start cleanly (strports raises at once)."""
        try:
            super().privilegedStartService()
        except CannotListenError as e:
            raise StartupError(str(e)) from None
        self._bound = True

    def startService(self) -> None:
        if not self._bound:
            self.privilegedStartService()
        # The models and every module are loaded: they live as long as the
        # process, so later full collections need not walk them.
        freeze_long_lived(collect=True)
        super().startService()

    def stopService(self) -> "Deferred[None]":
        return Deferred.fromCoroutine(self._stop())

    def _share(self, deadline: float, still_to_stop: int) -> float:
        """The seconds the next child may take, with ``still_to_stop`` after it."""
        left = max(0.0, deadline - self.reactor.seconds())
        return max(left - still_to_stop * self.reserve_each, left / (still_to_stop + 1))

    async def _stop(self) -> None:
        self.running = 0
        deadline = self.reactor.seconds() + self.stop_budget
        children = list(reversed(list(self)))
        for index, child in enumerate(children):
            seconds = self._share(deadline, len(children) - index - 1)
            bounded = IBoundedStop(child, None)
            if bounded is not None:
                stopped = bounded.stopWithin(seconds)
            else:
                stopped = maybeDeferred(child.stopService)
                stopped.addTimeout(seconds, self.reactor)
            try:
                await stopped
            except Exception as e:
                log.warn("service {name} did not stop cleanly: {error}", name=child.name, error=e)
        log.info("osrs stopped")


class HttpReadiness(Service):
    """Opens the HTTP gate once start-up is done: the store's schema current
    (or the store found unreachable) and the item catalog's first load tried.
    A schema newer than this code stops the server."""

    def __init__(
        self,
        reactor: Any,
        gate: StartGate,
        store_service: Optional[StoreService],
        catalog: Optional[Catalog],
    ) -> None:
        self.reactor = reactor
        self.gate = gate
        self.store_service = store_service
        self.catalog = catalog

    def startService(self) -> None:
        super().startService()
        ready = self.store_service.whenStarted() if self.store_service else succeed(None)
        if self.catalog is not None:
            catalog = self.catalog
            ready.addCallback(lambda _: catalog.whenLoaded())
        ready.addCallbacks(lambda _: self.gate.open(), self._cannot_start)

    def _cannot_start(self, failure: Failure) -> None:
        log.critical("osrs cannot start: {error}", error=failure.getErrorMessage())
        self.reactor.stop()


class RecentBotsSeeder(Service):
    """Seeds the recent-bots map with the store's newest heartbeats once the
    store has started, so ``osrs_bots_recent`` counts bots seen before a restart."""

    def __init__(self, recent: RecentBots, store_service: StoreService) -> None:
        self.recent = recent
        self.store_service = store_service

    def startService(self) -> None:
        super().startService()
        store = self.store_service.store
        seeded = self.store_service.whenStarted().addCallback(lambda _: store.latest_heartbeats())
        seeded.addCallbacks(self.recent.seed, self._not_seeded)

    def _not_seeded(self, failure: Failure) -> None:
        log.warn("recent bots not read from the store: {error}", error=failure.getErrorMessage())


def _load_models(config: ModelsConfig) -> ServedModels:
    try:
        registry = load_registry(
            config.directory,
            config.files,
            demo=config.demo,
            default_model=config.default,
            device=config.device,
        )
    except UnknownDefaultModel as e:
        raise StartupError(f"--default-model: {e}") from None
    except (ModelLoadError, ValueError) as e:
        raise StartupError(str(e)) from None
    for warning in registry.warnings:
        log.warn("{model_warning}", model_warning=warning)
    served = ServedModels(registry)
    served.model_loads.update(loaded=len(registry.file_models), failed=len(registry.skipped))
    return served


def _takes_thread_calls(reactor: Any) -> bool:
    """A real reactor. A memory reactor (assembly tests) cannot be called
    back from a thread: a tree built on one leaves out the thread work that
    runs by itself (warm-up at start, the SIGHUP handler)."""
    return IReactorFromThreads.providedBy(reactor)


def _reloader(config: ModelsConfig, served: ServedModels, reactor: Any, warm: WarmUp) -> ModelReloadService:
    """Reloads on SIGHUP, ``POST /models/reload`` and every ``--models-poll`` seconds."""
    sources = ModelSources(config.directory, config.files, config.demo, config.default, config.device)
    reloader = ModelReloadService(
        served, sources, reactor, warm, poll=config.poll, sighup=_takes_thread_calls(reactor)
    )
    reloader.setName("reload")
    return reloader


def _softened(check: CheckFunction) -> CheckFunction:
    """A component whose failure leaves another served side working makes
    the process degraded, not failing."""

    def soft() -> Check:
        result = check()
        if result.status == "failing":
            return attrs.evolve(result, status="degraded")
        return result

    return soft


def _store_check(store: IStore) -> Check:
    state = store.health()
    figures = {"backend": state.backend, "schemaVersion": state.schema_version}
    return Check("ok" if state.reachable else "failing", state.detail, figures)


def _add_store(root: OsrsService, config: Config, reactor: Any, health: HealthRegistry) -> StoreService:
    try:
        store = open_store(config.store.database, reactor)
    except ValueError as e:
        raise StartupError(str(e)) from None
    store_service = StoreService(store, reactor)
    store_service.setName("store")
    store_service.setServiceParent(root)
    store_check = partial(_store_check, store)
    health.register("store", _softened(store_check) if config.mode.serves_tcp else store_check)
    root.readiness.register("store", partial(store_readiness, store))
    root.metric_sources.add(partial(metric_sources.store_families, store))
    return store_service


def _add_tcp(
    root: OsrsService,
    endpoints: tuple[str, ...],
    limits: LimitsConfig,
    soften: bool,
    reactor: Any,
    health: HealthRegistry,
    served: ServedModels,
    models: ModelsConfig,
    listen: Listen,
) -> tuple[ModelReloadService, InferenceMetrics]:
    pool = ModelPoolService(served, reactor, max_batch=limits.max_batch, warm_at_start=_takes_thread_calls(reactor))
    pool.setName("models")
    pool.setServiceParent(root)
    reloader = _reloader(models, served, reactor, pool.warm)
    reloader.setServiceParent(pool)
    inference = InferenceService(
        pool,
        endpoints,
        reactor,
        max_line_bytes=limits.max_line_bytes,
        max_inflight=limits.max_inflight,
        max_batch=limits.max_batch,
        max_queued=limits.max_queued,
        listen=listen,
    )
    inference.setName("tcp")
    inference.setServiceParent(root)
    health.register("models", _softened(inference.check) if soften else inference.check)
    root.readiness.register("models", partial(models_readiness, pool))
    root.metric_sources.add(partial(metric_sources.inference_families, inference.metrics))
    root.metric_sources.add(partial(metric_sources.model_families, lambda: served))
    return reloader, inference.metrics


def _add_jobs(config: Config, reactor: Any, health: HealthRegistry, store_service: StoreService) -> JobScheduler:
    try:
        jobs = build_scheduler(config.jobs, store_service.store, reactor, ready=store_service.whenStarted)
    except ValueError as e:
        raise StartupError(str(e)) from None
    health.register("jobs", jobs.check)
    return jobs


def _initial_actions(config: CommandConfig) -> InitialActions:
    """The ``--actions-file`` (loaded at every start), else the starter set
    (into an empty table); read now, so a bad file stops the start."""
    path = config.actions_file
    if path is None:
        return InitialActions(load_starter_actions(), replace=False)
    try:
        return InitialActions(load_actions_file(path, None), replace=True)
    except (FieldError, OSError, UnicodeDecodeError) as e:
        raise StartupError(f"--actions-file {path}: {e}") from None


def _add_http(
    root: OsrsService,
    config: Config,
    reactor: Any,
    health: HealthRegistry,
    store_service: Optional[StoreService],
    served: Optional[ServedModels],
    reloader: Optional[ModelReloadService],
    jobs: Optional[JobScheduler],
    http_metrics: HttpMetrics,
    inference_metrics: Optional[InferenceMetrics],
    listen: Listen,
) -> None:
    settings = HttpSettings(
        stale_after=config.http.stale_after,
        admin_token=config.http.admin_token,
        max_body_bytes=config.limits.max_body_bytes,
        allocator=AllocatorConfig(fleet_share=config.command.fleet_share, ttl=config.command.task_ttl),
        console_late_after=config.http.console_late_after,
        console_gone_after=config.http.console_gone_after,
    )
    serves_api = config.mode.serves_api
    store = store_service.store if store_service is not None else None
    http = MultiService()
    http.setName("http")
    catalog = None
    if serves_api and store_service is not None:
        catalog = Catalog(
            store_service.store,
            reactor,
            ready=store_service.whenStarted,
            topics=COMMAND_TOPICS,
            initial_actions=_initial_actions(config.command),
        )
        catalog.setServiceParent(http)
    if catalog is not None:
        root.readiness.register("catalog", partial(catalog_readiness, catalog))
        root.metric_sources.add(partial(metric_sources.catalog_families, catalog, reactor, settings.stale_after))
    gate = StartGate()
    HttpReadiness(reactor, gate, store_service, catalog).setServiceParent(http)
    if served is not None and reloader is None:
        reloader = _reloader(config.models, served, reactor, no_warm_up)
        reloader.setServiceParent(http)
    recent_bots = RecentBots()
    sampler = None
    if serves_api:
        if store_service is not None:
            RecentBotsSeeder(recent_bots, store_service).setServiceParent(http)
        root.metric_sources.add(partial(metric_sources.bot_families, recent_bots, reactor))
        if inference_metrics is not None:
            sampler = HistorySampler(inference_metrics, reactor)
            sampler.setServiceParent(http)
    api = HttpApi(
        health, reactor, settings, store=store, models=served, catalog=catalog, jobs=jobs,
        readiness=root.readiness, metrics_registry=root.metrics_registry, recent_bots=recent_bots,
        reloader=reloader, inference=sampler,
    )
    resource = with_console(api.resource()) if serves_api else HealthApi(
        health, root.readiness, root.metrics_registry
    ).resource()
    site = GatedFactory(ApiSite(resource, settings.max_body_bytes, reactor, http_metrics), gate)
    for description in config.listen.http:
        listen(description, site).setServiceParent(http)
    http.setServiceParent(root)


def _add_metrics_listener(
    root: OsrsService, description: str, reactor: Any, http_metrics: HttpMetrics, listen: Listen
) -> None:
    """``--metrics``: a listener serving only ``/metrics``, not held by the
    start-up gate (so a scrape sees start-up too)."""
    site = ApiSite(MetricsApi(root.metrics_registry).resource(), 1024, reactor, http_metrics)
    listener = listen(description, site)
    listener.setName("metrics")
    listener.setServiceParent(root)


def makeService(
    config: Config,
    reactor: Any = None,
    listen: Optional[Listen] = None,
    health: Optional[HealthRegistry] = None,
) -> OsrsService:
    """Build the ``osrs`` service tree of one process from its configuration.

    ``reactor`` defaults to the global one only here, at the edge; everything
    below receives it. It must provide time, threads and the listeners the
    endpoint descriptions name (a real reactor, or ``MemoryReactorClock``).
    ``listen`` makes each listener (strports by default) and ``health``
    collects the checks: a worker process passes its own (see
    :mod:`osrs_twisted.workers`).
    """
    if reactor is None:
        from twisted.internet import reactor
    if listen is None:
        listen = partial(strports.service, reactor=reactor)
    mode = config.mode
    root = OsrsService(reactor, stop_budget=config.stop_budget)
    if health is not None:
        root.health = health
    health = root.health
    store_service = _add_store(root, config, reactor, health) if config.needs_store else None
    served = _load_models(config.models) if config.needs_models else None
    reloader: Optional[ModelReloadService] = None
    inference_metrics: Optional[InferenceMetrics] = None
    if mode.serves_tcp:
        assert served is not None
        reloader, inference_metrics = _add_tcp(
            root, config.listen.tcp, config.limits, mode.serves_api, reactor, health, served, config.models, listen
        )
    elif served is not None:
        http_served = served
        root.metric_sources.add(partial(metric_sources.model_families, lambda: http_served))
    jobs: Optional[JobScheduler] = None
    if config.jobs.enabled:
        assert store_service is not None
        jobs = _add_jobs(config, reactor, health, store_service)
        root.metric_sources.add(partial(metric_sources.job_families, jobs.metrics))
    http_metrics = HttpMetrics()
    if mode.listens_http or config.listen.metrics is not None:
        root.metric_sources.add(partial(metric_sources.http_families, http_metrics))
    if mode.listens_http:
        _add_http(
            root, config, reactor, health, store_service, served, reloader, jobs, http_metrics, inference_metrics,
            listen,
        )
    if config.listen.metrics is not None:
        _add_metrics_listener(root, config.listen.metrics, reactor, http_metrics, listen)
    if jobs is not None:
        jobs.setServiceParent(root)
    return root
