"""What every route group may use: the settings and the collaborators that
:class:`~osrs_twisted.http.api.HttpApi` injects, declared once for mypy."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import attrs
from twisted.internet.interfaces import IReactorTime

from osrs_twisted.console.fleet import DEFAULT_GONE_AFTER, DEFAULT_LATE_AFTER
from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.render import RenderCache
from osrs_twisted.inference.reload import ModelReloadService
from osrs_twisted.market.allocation import AllocatorConfig
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.market.snapshot import Entry, Snapshot
from osrs_twisted.policy.reload import ServedModels
from osrs_twisted.store.interface import IStore, StoreUnavailable
from osrs_twisted.telemetry.recorders import RecentBots

#: The largest ``limit`` any route accepts; larger values are capped to it.
MAX_LIMIT = 1000


@attrs.frozen
class HttpSettings:
    """The options the routes read."""

    stale_after: int = 1800
    admin_token: Optional[str] = None
    #: Largest request body, also after gzip inflation (``--max-body-bytes``).
    max_body_bytes: int = 1048576
    max_limit: int = MAX_LIMIT
    #: The fleet share and assignment lifetimes ``GET /task/`` allocates with.
    allocator: AllocatorConfig = AllocatorConfig()
    #: The console's liveness thresholds (``--console-late-after``, ``--console-gone-after``).
    console_late_after: int = DEFAULT_LATE_AFTER
    console_gone_after: int = DEFAULT_GONE_AFTER


class ApiState:
    """The injected state, as the route groups see it."""

    health: HealthRegistry
    clock: IReactorTime
    settings: HttpSettings
    store: Optional[IStore]
    models: Optional[ServedModels]
    reloader: Optional[ModelReloadService]
    catalog: Optional[Catalog]
    rendered: RenderCache
    recent_bots: RecentBots

    def now(self) -> int:
        return int(self.clock.seconds())

    def require_store(self) -> IStore:
        if self.store is None:
            raise StoreUnavailable("this process has no store")
        return self.store

    def snapshot(self) -> Snapshot:
        """The catalog's current snapshot (hot reads never wait on the store)."""
        if self.catalog is None:
            raise StoreUnavailable("this process has no item catalog")
        return self.catalog.snapshot()

    def items_json(self, snapshot: Snapshot, entries: Sequence[Entry]) -> list[dict[str, Any]]:
        """``entries`` as items with their ``price`` objects, ``stale`` as of now."""
        now, stale_after, item = self.now(), self.settings.stale_after, self.rendered.item
        return [item(snapshot, entry, now, stale_after) for entry in entries]
