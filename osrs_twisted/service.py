"""Assembly: ``makeService(config, reactor=...)`` builds the whole process.

Children, started in this order and stopped in the reverse one, each waiting
for the one before: ``store``, ``models``, ``tcp``, ``http``, ``jobs``. The
reactor and every collaborator are passed in; nothing here is global.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import attrs
from twisted.application import strports
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.config import Config, LimitsConfig, ModelsConfig
from osrs_twisted.gate import GatedFactory, StartGate
from osrs_twisted.health import Check, CheckFunction, HealthRegistry
from osrs_twisted.http.api import HealthApi, HttpApi, HttpSettings
from osrs_twisted.http.site import ApiSite
from osrs_twisted.inference.pool import ModelPoolService
from osrs_twisted.inference.service import InferenceService
from osrs_twisted.jobs.build import build_scheduler
from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.policy import ModelLoadError, ModelRegistry, load_registry
from osrs_twisted.policy.registry import UnknownDefaultModel
from osrs_twisted.stopping import IBoundedStop
from osrs_twisted.store.factory import open_store
from osrs_twisted.store.interface import IStore
from osrs_twisted.store.service import StoreService
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


def _load_models(config: ModelsConfig) -> ModelRegistry:
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
    return registry


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
    return store_service


def _add_tcp(
    root: OsrsService,
    endpoints: tuple[str, ...],
    limits: LimitsConfig,
    soften: bool,
    reactor: Any,
    health: HealthRegistry,
    registry: ModelRegistry,
    listen: Listen,
) -> None:
    pool = ModelPoolService(registry, reactor)
    pool.setName("models")
    pool.setServiceParent(root)
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


def _add_jobs(config: Config, reactor: Any, health: HealthRegistry, store_service: StoreService) -> JobScheduler:
    try:
        jobs = build_scheduler(config.jobs, store_service.store, reactor, ready=store_service.whenStarted)
    except ValueError as e:
        raise StartupError(str(e)) from None
    health.register("jobs", jobs.check)
    return jobs


def _add_http(
    root: OsrsService,
    config: Config,
    reactor: Any,
    health: HealthRegistry,
    store_service: Optional[StoreService],
    registry: Optional[ModelRegistry],
    jobs: Optional[JobScheduler],
    listen: Listen,
) -> None:
    settings = HttpSettings(
        stale_after=config.http.stale_after,
        admin_token=config.http.admin_token,
        max_body_bytes=config.limits.max_body_bytes,
    )
    serves_api = config.mode.serves_api
    store = store_service.store if store_service is not None else None
    http = MultiService()
    http.setName("http")
    catalog = None
    if serves_api and store_service is not None:
        catalog = Catalog(store_service.store, reactor, ready=store_service.whenStarted)
        catalog.setServiceParent(http)
    gate = StartGate()
    HttpReadiness(reactor, gate, store_service, catalog).setServiceParent(http)
    api = HttpApi(health, reactor, settings, store=store, models=registry, catalog=catalog, jobs=jobs)
    resource = (api if serves_api else HealthApi(health)).resource()
    site = GatedFactory(ApiSite(resource, settings.max_body_bytes), gate)
    for description in config.listen.http:
        listen(description, site).setServiceParent(http)
    http.setServiceParent(root)


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
    if health is None:
        health = HealthRegistry()
    mode = config.mode
    root = OsrsService(reactor, stop_budget=config.stop_budget)
    store_service = _add_store(root, config, reactor, health) if config.needs_store else None
    registry = _load_models(config.models) if config.needs_models else None
    if mode.serves_tcp:
        assert registry is not None
        _add_tcp(root, config.listen.tcp, config.limits, mode.serves_api, reactor, health, registry, listen)
    jobs: Optional[JobScheduler] = None
    if config.jobs.enabled:
        assert store_service is not None
        jobs = _add_jobs(config, reactor, health, store_service)
    if mode.listens_http:
        _add_http(root, config, reactor, health, store_service, registry, jobs, listen)
    if jobs is not None:
        jobs.setServiceParent(root)
    return root
