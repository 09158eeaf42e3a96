"""Assembly: ``makeService(options, reactor=...)`` builds the whole process.

Children, started in this order and stopped in the reverse one, each waiting
for the one before: ``store``, ``models``, ``tcp``, ``http``, ``jobs``. The
reactor and every collaborator are passed in; nothing here is global.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Optional

import attrs
from twisted.application import strports
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

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
from osrs_twisted.store.factory import open_store
from osrs_twisted.store.interface import IStore
from osrs_twisted.store.service import StoreService

log = Logger()


class StartupError(SystemExit):
    """A configuration that cannot start. A ``SystemExit``: raised while
    twistd or twist builds or starts the service, it ends the process with
    status 1 and its message as the one line shown, not a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"osrs: {message}")


@attrs.frozen
class Roles:
    """Which sides this process serves, from ``--http-only``/``--tcp-only``/``--jobs-only``/``--no-jobs``."""

    http: bool
    tcp: bool
    jobs: bool
    api: bool

    @classmethod
    def from_options(cls, options: Any) -> "Roles":
        if options["jobs-only"]:
            return cls(http=True, tcp=False, jobs=True, api=False)
        return cls(
            http=not options["tcp-only"],
            tcp=not options["http-only"],
            jobs=not options["no-jobs"],
            api=not options["tcp-only"],
        )


class OsrsService(MultiService):
    """Stops its children one at a time, last started first, each within a
    bound, so listeners close before the work they feed is torn down."""

    def __init__(self, reactor: IReactorTime, stop_timeout: float = 15.0) -> None:
        super().__init__()
        self.reactor = reactor
        self.stop_timeout = stop_timeout
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

    async def _stop(self) -> None:
        self.running = 0
        for child in reversed(list(self)):
            stopped = maybeDeferred(child.stopService)
            stopped.addTimeout(self.stop_timeout, self.reactor)
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


def _load_models(options: Any) -> ModelRegistry:
    try:
        registry = load_registry(
            Path(options["models"]) if options["models"] else None,
            [Path(p) for p in options["model"]],
            demo=not options["no-demo-model"],
            default_model=options["default-model"],
            device=options["device"],
        )
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


def _add_store(root: OsrsService, options: Any, roles: Roles, reactor: Any, health: HealthRegistry) -> StoreService:
    try:
        store = open_store(options["database"], reactor)
    except ValueError as e:
        raise StartupError(str(e)) from None
    store_service = StoreService(store, reactor)
    store_service.setName("store")
    store_service.setServiceParent(root)
    store_check = partial(_store_check, store)
    health.register("store", _softened(store_check) if roles.tcp else store_check)
    return store_service


def _add_tcp(
    root: OsrsService, options: Any, roles: Roles, reactor: Any, health: HealthRegistry, registry: ModelRegistry
) -> None:
    pool = ModelPoolService(registry, reactor)
    pool.setName("models")
    pool.setServiceParent(root)
    inference = InferenceService(
        pool,
        options["tcp"],
        reactor,
        max_line_bytes=options["max-line-bytes"],
        max_inflight=options["max-inflight"],
        max_batch=options["max-batch"],
        max_queued=options["max-queued"],
    )
    inference.setName("tcp")
    inference.setServiceParent(root)
    health.register("models", _softened(inference.check) if roles.api else inference.check)


def _add_http(
    root: OsrsService,
    options: Any,
    roles: Roles,
    reactor: Any,
    health: HealthRegistry,
    store_service: Optional[StoreService],
    registry: Optional[ModelRegistry],
    jobs: Optional[JobScheduler],
) -> None:
    settings = HttpSettings(
        stale_after=options["stale-after"],
        admin_token=options["admin-token"],
        max_body_bytes=options["max-body-bytes"],
    )
    store = store_service.store if store_service is not None else None
    http = MultiService()
    http.setName("http")
    catalog = None
    if roles.api and store_service is not None:
        catalog = Catalog(store_service.store, reactor, ready=store_service.whenStarted)
        catalog.setServiceParent(http)
    gate = StartGate()
    HttpReadiness(reactor, gate, store_service, catalog).setServiceParent(http)
    api = HttpApi(health, reactor, settings, store=store, models=registry, catalog=catalog, jobs=jobs)
    resource = (api if roles.api else HealthApi(health)).resource()
    site = GatedFactory(ApiSite(resource, settings.max_body_bytes), gate)
    for description in options["http"]:
        strports.service(description, site, reactor=reactor).setServiceParent(http)
    http.setServiceParent(root)


def makeService(options: Any, reactor: Any = None) -> OsrsService:
    """Build the ``osrs`` service tree from parsed :class:`Options`.

    ``reactor`` defaults to the global one only here, at the edge; everything
    below receives it. It must provide time, threads and the listeners the
    endpoint descriptions name (a real reactor, or ``MemoryReactorClock``).
    """
    if reactor is None:
        from twisted.internet import reactor
    roles = Roles.from_options(options)
    root = OsrsService(reactor)
    health = HealthRegistry()
    store_service = _add_store(root, options, roles, reactor, health) if roles.api or roles.jobs else None
    registry = _load_models(options) if roles.tcp or roles.api else None
    if roles.tcp:
        assert registry is not None
        _add_tcp(root, options, roles, reactor, health, registry)
    jobs: Optional[JobScheduler] = None
    if roles.jobs:
        assert store_service is not None
        try:
            jobs = build_scheduler(options, store_service.store, reactor, ready=store_service.whenStarted)
        except ValueError as e:
            raise StartupError(str(e)) from None
        health.register("jobs", jobs.check)
    if roles.http:
        _add_http(root, options, roles, reactor, health, store_service, registry, jobs)
    if jobs is not None:
        jobs.setServiceParent(root)
    return root
