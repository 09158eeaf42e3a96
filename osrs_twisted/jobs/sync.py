"""The sync jobs: Wiki prices API → store, each one bulk write per run.

A payload is fetched and parsed whole before anything is written, so a
malformed one fails the run and leaves the store as it was. Each job
returns a small summary that the run records (``{"rows": n}``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Awaitable, Callable, Mapping, Optional, TypeVar

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from osrs_twisted.jobs.offline import OfflineItems
from osrs_twisted.jobs.scheduler import Job, JobFunction, JobScheduler
from osrs_twisted.jobs.wiki import WikiClient, WikiError, WikiHTTPError, WikiUnavailable
from osrs_twisted.records import Item, Timestep
from osrs_twisted.store.interface import IStore

log = Logger()

T = TypeVar("T")

#: What "the Wiki cannot be reached" means: transient failures that outlived
#: the client's retries, or a refusal (blocked agent, wrong URL).
WIKI_UNREACHABLE = (WikiUnavailable, WikiHTTPError)

DAY = 86400


class SyncJobs:
    """The jobs' shared collaborators, and what they last learnt of the Wiki.

    ``reactor`` gives "now" (item ``updated`` times, the prune cutoff);
    ``offline`` is where ``sync_mapping`` turns when the Wiki cannot be
    reached and the store has no items yet. Their Wiki failures are
    expected (one log line, no traceback), and whether the Wiki can be
    reached is part of the ``jobs`` health check (:meth:`register`).
    """

    expected_failures: tuple[type[Exception], ...] = (WikiError,)

    def __init__(
        self,
        store: IStore,
        wiki: WikiClient,
        reactor: IReactorTime,
        retention_days: int = 30,
        offline: Optional[OfflineItems] = None,
    ) -> None:
        self.store = store
        self.wiki = wiki
        self.reactor = reactor
        self.retention_days = retention_days
        self.offline = offline
        self._wiki_problem: Optional[str] = None

    def wiki_problem(self) -> Optional[str]:
        """Why the last Wiki request failed to get through, or None."""
        return None if self._wiki_problem is None else f"the Wiki cannot be reached: {self._wiki_problem}"

    def register(self, scheduler: JobScheduler) -> None:
        """Report the Wiki's reachability in ``scheduler``'s health check."""
        scheduler.add_problem(self.wiki_problem)

    def _now(self) -> int:
        return int(self.reactor.seconds())

    async def _from_wiki(self, fetch: Awaitable[T]) -> T:
        """Await a Wiki fetch, remembering whether the Wiki could be reached."""
        try:
            result = await fetch
        except WIKI_UNREACHABLE as e:
            self._wiki_problem = str(e)
            raise
        self._wiki_problem = None
        return result

    async def sync_mapping(self) -> Mapping[str, Any]:
        """Every item's facts; offline sources only fill an empty store."""
        try:
            items = await self._from_wiki(self.wiki.mapping())
            source = "wiki"
        except WIKI_UNREACHABLE as unreachable:
            offline = await self._offline_items()
            if offline is None:
                raise unreachable
            source, items = offline
            log.warn(
                "the Wiki cannot be reached ({error}); items from {source}",
                error=unreachable,
                source=source,
            )
        now = self._now()
        rows = await self.store.upsert_items([attrs.evolve(item, updated=now) for item in items])
        return {"rows": rows, "source": source}

    async def _offline_items(self) -> Optional[tuple[str, list[Item]]]:
        if self.offline is None or await self.store.count_items() > 0:
            return None
        return await self.offline.load()

    async def sync_latest(self) -> Mapping[str, Any]:
        """The newest high and low of every traded item."""
        prices = await self._from_wiki(self.wiki.latest())
        return {"rows": await self.store.upsert_latest_prices(prices)}

    async def sync_bucket(self, timestep: Timestep) -> Mapping[str, Any]:
        """The newest complete bucket of one timestep, every item."""
        start, buckets = await self._from_wiki(self.wiki.bucket(timestep))
        return {"rows": await self.store.upsert_buckets(buckets), "timestamp": start}

    async def prune(self) -> Mapping[str, Any]:
        """Drop buckets and heartbeats older than the retention."""
        removed = await self.store.prune(self._now() - self.retention_days * DAY)
        return dict(removed)

    def jobs(self, intervals: Mapping[str, int], timeout: float = 600.0) -> list[Job]:
        """Every job in catch-up order, with its interval (0: manual only)."""
        return [Job(spec.name, intervals.get(spec.name, 0), spec.function(self), timeout) for spec in JOBS]


@attrs.frozen
class JobSpec:
    """One sync job: its name, its interval unless configured, and which
    of the :class:`SyncJobs` functions it runs."""

    name: str
    default_interval: int
    function: Callable[[SyncJobs], JobFunction]


def _bucket(step: Timestep) -> Callable[[SyncJobs], JobFunction]:
    return lambda sync: lambda: sync.sync_bucket(step)


#: Every job, in start-up catch-up order: items first (prices refer to
#: them), then prices from the newest to the longest history; pruning last.
JOBS: tuple[JobSpec, ...] = (
    JobSpec("sync_mapping", 86400, lambda sync: sync.sync_mapping),
    JobSpec("sync_latest", 60, lambda sync: sync.sync_latest),
    JobSpec("sync_5m", 300, _bucket("5m")),
    JobSpec("sync_1h", 3600, _bucket("1h")),
    JobSpec("sync_6h", 3600, _bucket("6h")),
    JobSpec("sync_24h", 3600, _bucket("24h")),
    JobSpec("prune", 86400, lambda sync: sync.prune),
)

JOB_NAMES: tuple[str, ...] = tuple(spec.name for spec in JOBS)

#: Job name → seconds between runs unless configured; ``0`` disables a job.
DEFAULT_JOB_INTERVALS: Mapping[str, int] = MappingProxyType({spec.name: spec.default_interval for spec in JOBS})
