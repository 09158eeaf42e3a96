"""Readiness: whether this process should be sent traffic now.

Liveness (``/health/live``) says the process runs; readiness
(``/health/ready``) says everything it serves has started: the store
migrated, the item catalog loaded, every model warmed. Each component
registers a check returning None when ready or a sentence saying why not
(docs/operations.md). Checks are called on every probe: cheap, no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import attrs

from osrs_twisted.store.interface import IStore
from osrs_twisted.store.migrations import LATEST_VERSION

if TYPE_CHECKING:
    from osrs_twisted.inference.pool import ModelPoolService
    from osrs_twisted.market.catalog import Catalog

#: A component's readiness: None when ready, else the reason it is not.
ReadinessCheck = Callable[[], Optional[str]]


@attrs.frozen
class Readiness:
    """The reasons this process is not ready (none: ready)."""

    reasons: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.reasons

    @property
    def http_status(self) -> int:
        return 200 if self.ready else 503


@attrs.define
class ReadinessRegistry:
    """The readiness checks of the components this process runs, by name."""

    checks: dict[str, ReadinessCheck] = attrs.field(factory=dict)

    def register(self, name: str, check: ReadinessCheck) -> None:
        self.checks[name] = check

    def report(self) -> Readiness:
        reasons = (f"{name}: {reason}" for name, check in self.checks.items() if (reason := check()) is not None)
        return Readiness(tuple(reasons))


def store_readiness(store: IStore) -> Optional[str]:
    """Ready once the database is reachable and its schema current."""
    health = store.health()
    if not health.reachable:
        return f"the store is unreachable: {health.detail}"
    if health.schema_version != LATEST_VERSION:
        return f"the store's schema is not migrated yet (version {health.schema_version}, needs {LATEST_VERSION})"
    return None


def catalog_readiness(catalog: "Catalog") -> Optional[str]:
    """Ready once the item catalog has loaded from the store."""
    return None if catalog.loaded else "the item catalog has not loaded yet"


def models_readiness(pool: "ModelPoolService") -> Optional[str]:
    """Ready once every model has warmed and the model thread runs."""
    return None if pool.ready else "the models are not warmed yet"
