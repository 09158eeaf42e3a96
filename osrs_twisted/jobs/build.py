"""Build the jobs scheduler from its configuration (for ``makeService``)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred

from osrs_twisted.config import JobsConfig
from osrs_twisted.jobs.offline import OfflineItems
from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.jobs.sync import SyncJobs
from osrs_twisted.jobs.wiki import WikiClient
from osrs_twisted.store.interface import IStore


def build_scheduler(
    config: JobsConfig,
    store: IStore,
    reactor: Any,
    ready: Optional[Callable[[], Deferred[Any]]] = None,
) -> JobScheduler:
    """The ``jobs`` service: Wiki client, offline items, sync jobs, scheduler.

    ``reactor`` must run time, threads and TCP (the global reactor);
    ``ready`` fires once the store is migrated (``StoreService.whenStarted``).
    Raises ``ValueError`` (naming the option) for a User-Agent the Wiki would block.
    """
    wiki = WikiClient(reactor, config.wiki_url, config.wiki_user_agent)
    offline = OfflineItems(reactor, lambda: reactor.getThreadPool(), config.items_file)
    sync = SyncJobs(store, wiki, reactor, config.retention_days, offline)
    scheduler = JobScheduler(
        store,
        reactor,
        sync.jobs(config.intervals),
        expected_failures=sync.expected_failures,
        ready=ready,
        on_stop=[wiki.close],
    )
    sync.register(scheduler)
    return scheduler
