"""Build the jobs scheduler from parsed options (for ``makeService``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from twisted.internet.defer import Deferred

from osrs_twisted.jobs.offline import OfflineItems
from osrs_twisted.jobs.scheduler import JobScheduler
from osrs_twisted.jobs.sync import SyncJobs
from osrs_twisted.jobs.wiki import WikiClient
from osrs_twisted.store.interface import IStore


def build_scheduler(
    options: Mapping[str, Any],
    store: IStore,
    reactor: Any,
    ready: Optional[Callable[[], Deferred[Any]]] = None,
) -> JobScheduler:
    """The ``jobs`` service: Wiki client, offline items, sync jobs, scheduler.

    ``reactor`` must run time, threads and TCP (the global reactor);
    ``ready`` fires once the store is migrated (``StoreService.whenStarted``).
    ``ValueError`` (a generic ``--wiki-user-agent``) is a startup error.
    """
    wiki = WikiClient(reactor, options["wiki-url"], options["wiki-user-agent"])
    items_file = options["items-file"]
    offline = OfflineItems(reactor, lambda: reactor.getThreadPool(), Path(items_file) if items_file else None)
    sync = SyncJobs(store, wiki, reactor, options["retention-days"], offline)
    return JobScheduler(
        store,
        reactor,
        sync.jobs(options["job-interval"]),
        wiki_problem=sync.wiki_problem,
        ready=ready,
        on_stop=[wiki.close],
    )
