"""A synchronous runner for fast tests: stdlib ``sqlite3`` on ``:memory:``,
running the same ops and migrations as the real runners on the calling
thread, so every Deferred it returns has already fired (tests use
``SynchronousTestCase`` and ``successResultOf``, with a ``Clock``).

Change listeners are told after commit, before the call's Deferred fires.
"""

from __future__ import annotations

import sqlite3
from typing import Optional, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock

from osrs_twisted.store.runner import InFlight
from osrs_twisted.store.sqlite import SQLiteDatabase, configure, run_op
from osrs_twisted.store.steps import Op

T = TypeVar("T")


def shared_memory_uri(name: str) -> str:
    """The sqlite3 URI (``uri=True``) of the in-memory database ``name``: every
    connection to it in this process sees the same data while one is open."""
    return f"file:{name}?mode=memory&cache=shared"


class MemoryRunner(SQLiteDatabase):
    """An in-memory SQLite database: private to this runner and gone at stop,
    or, given a ``name``, shared with every connection to
    :func:`shared_memory_uri` of that name (several stores on one database).
    ``clock`` (a fresh ``Clock`` by default) stamps the migrations."""

    def __init__(self, clock: Optional[IReactorTime] = None, name: Optional[str] = None) -> None:
        self._uri = ":memory:" if name is None else shared_memory_uri(name)
        super().__init__(self._uri, clock if clock is not None else Clock())
        self._connection: Optional[sqlite3.Connection] = None

    def _open(self) -> None:
        self._connection = sqlite3.connect(self._uri, uri=True)
        configure(self._connection)

    def _close(self) -> None:
        assert self._connection is not None
        self._connection.close()
        self._connection = None

    def _transact(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[tuple[T, list[str]]]":
        return maybeDeferred(self._transaction, op, write, flight)

    def _transaction(self, op: Op[T], write: bool, flight: InFlight) -> tuple[T, list[str]]:
        assert self._connection is not None
        try:
            outcome = run_op(self._connection.cursor(), op, write, flight, self.changes)
        except BaseException:
            self._connection.rollback()
            raise
        self._connection.commit()
        return outcome
