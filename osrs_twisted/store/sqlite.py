"""The embedded backend: one SQLite connection on one adbapi thread.

One writer is all SQLite allows anyway; WAL lets other processes read while
it writes. Ops run whole in that thread, writes inside ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Optional, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from osrs_twisted.store.base import BaseStore, InFlight
from osrs_twisted.store.interface import IStore, SchemaTooNew, StoreError, StoreHealth, StoreUnavailable
from osrs_twisted.store.migrations import migrate
from osrs_twisted.store.steps import SQLITE, Bulk, Op, Query, Result

T = TypeVar("T")

log = Logger()

#: sqlite3.OperationalError messages that mean "cannot use the file now"
#: rather than a bad statement.
_UNAVAILABLE = ("unable to open", "locked", "disk i/o", "readonly", "disk is full", "not a database")


def _configure(connection: sqlite3.Connection) -> None:
    """Autocommit at the driver level, so our own BEGIN covers DDL too."""
    connection.isolation_level = None
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


def _interact(trans: Any, op: Op[T], write: bool, flight: InFlight) -> tuple[T, list[str]]:
    """Run ``op`` to completion in the pool's thread; the topics it signals
    are dispatched on the reactor thread after adbapi commits."""
    flight.check()
    if write:
        trans.execute("BEGIN IMMEDIATE")
    topics: list[str] = []
    try:
        step = next(op)
        while True:
            flight.check()
            if isinstance(step, Query):
                trans.execute(step.sql, tuple(step.params))
                result = Result(trans.fetchall(), trans.rowcount)
            elif isinstance(step, Bulk):
                values = "(" + ", ".join("?" * step.width) + ")"
                trans.executemany(step.sql.format(values=values), step.rows)
                result = Result([], trans.rowcount)
            else:
                topics.append(step.topic)
                result = Result()
            step = op.send(result)
    except StopIteration as done:
        return done.value, topics


@implementer(IStore)
class SQLiteStore(BaseStore):
    """SQLite through ``twisted.enterprise.adbapi`` (``path`` may be ``:memory:``)."""

    backend = "sqlite"
    dialect = SQLITE

    def __init__(self, path: str, reactor: IReactorTime) -> None:
        super().__init__(reactor)
        self._path = path
        self._pool: Optional[adbapi.ConnectionPool] = None
        self._schema_version: Optional[int] = None
        self._problem: Optional[str] = "not started"

    def start(self) -> "Deferred[None]":
        self._pool = adbapi.ConnectionPool(
            "sqlite3",
            self._path,
            check_same_thread=False,
            timeout=5.0,
            cp_min=1,
            cp_max=1,
            cp_openfun=_configure,
            cp_reactor=self._reactor,
        )
        d = self._migrate()

        def unreachable(failure: Failure) -> None:
            failure.trap(StoreUnavailable)
            log.warn("SQLite store at {path} unavailable at start: {problem}", path=self._path, problem=self._problem)

        return d.addCallback(lambda _: None).addErrback(unreachable)

    def stop(self) -> "Deferred[None]":
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._problem = "stopped"
        return succeed(None)

    def health(self) -> StoreHealth:
        where = f"sqlite {self._path}"
        if self._problem is not None:
            return StoreHealth(False, self.backend, f"{where}: {self._problem}", self._schema_version)
        return StoreHealth(True, self.backend, f"{where}, schema version {self._schema_version}", self._schema_version)

    def _migrate(self) -> "Deferred[int]":
        def migrated(version: int) -> int:
            self._schema_version = version
            return version

        def too_new(failure: Failure) -> Failure:
            if failure.check(SchemaTooNew):
                self._problem = str(failure.value)
                log.critical("{problem}", problem=self._problem)
            return failure

        d = self._run_op(migrate(SQLITE, self._now()), True, InFlight())
        return d.addCallbacks(migrated, too_new)

    def _execute(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
        if self._pool is None:
            return fail(StoreUnavailable(f"sqlite {self._path}: store not started"))
        if self._schema_version is None:
            return self._migrate().addCallback(lambda _: self._run_op(op, write, flight))
        return self._run_op(op, write, flight)

    def _run_op(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
        assert self._pool is not None
        d: "Deferred[tuple[T, list[str]]]" = self._pool.runInteraction(_interact, op, write, flight)
        return d.addCallbacks(self._committed, self._failed)

    def _committed(self, outcome: tuple[T, list[str]]) -> T:
        value, topics = outcome
        self._problem = None
        for topic in topics:
            self._dispatch(topic)
        return value

    def _failed(self, failure: Failure) -> Failure:
        error = failure.value
        if not isinstance(error, sqlite3.Error):
            return failure
        message = str(error)
        if isinstance(error, sqlite3.OperationalError) and any(m in message.lower() for m in _UNAVAILABLE):
            self._problem = message
            translated: StoreError = StoreUnavailable(f"sqlite {self._path}: {message}")
        else:
            translated = StoreError(f"sqlite {self._path}: {message}")
        translated.__cause__ = error
        return Failure(translated)
