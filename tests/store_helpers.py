"""Stores for tests that need no real database: the in-memory runner answers
synchronously, so a test can be a ``SynchronousTestCase`` driven by a
``Clock`` and read results with ``successResultOf``."""

from __future__ import annotations

from typing import Optional

from twisted.internet.interfaces import IReactorTime

from osrs_twisted.store.memory import MemoryRunner
from osrs_twisted.store.store import Store


def memory_store(clock: Optional[IReactorTime] = None) -> Store:
    """A started, migrated in-memory store (``clock`` stamps the migration).

    Nothing to stop: it lives as long as the object does."""
    store = Store(MemoryRunner(clock))
    started = store.start()
    assert started.called, "the memory runner starts synchronously"
    return store
