"""The embedded runner: one SQLite connection on one adbapi thread.

One writer is all SQLite allows anyway; WAL lets other processes read while
it writes. Ops run whole in that thread, writes inside ``BEGIN IMMEDIATE``.
The step loop and error translation here are shared with the in-memory
runner (:mod:`osrs_twisted.store.memory`), which runs them synchronously.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Optional, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.store.interface import ChangeListener, SchemaTooNew, StoreError, StoreHealth, StoreUnavailable
from osrs_twisted.store.migrations import migrate
from osrs_twisted.store.runner import InFlight
from osrs_twisted.store.steps import Bulk, Dialect, Lock, Notify, Op, Query, Result

T = TypeVar("T")

log = Logger()

#: sqlite3.OperationalError messages that mean "cannot use the file now"
#: rather than a bad statement.
_UNAVAILABLE = ("unable to open", "locked", "disk i/o", "readonly", "disk is full", "not a database")


def configure(connection: sqlite3.Connection) -> None:
    """Autocommit at the driver level, so our own BEGIN covers DDL too."""
    connection.isolation_level = None
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


def run_op(cursor: Any, op: Op[T], write: bool, flight: InFlight) -> tuple[T, list[str]]:
    """Run ``op`` to completion on a sqlite3 cursor; returns its value and the
    topics it signalled, to dispatch once the transaction has committed."""
    flight.check()
    if write:
        cursor.execute("BEGIN IMMEDIATE")
    topics: list[str] = []
    try:
        step = next(op)
        while True:
            flight.check()
            if isinstance(step, Query):
                cursor.execute(step.sql, tuple(step.params))
                result = Result(cursor.fetchall(), cursor.rowcount)
            elif isinstance(step, Bulk):
                values = "(" + ", ".join("?" * step.width) + ")"
                cursor.executemany(step.sql.format(values=values), step.rows)
                result = Result([], cursor.rowcount)
            elif isinstance(step, Notify):
                topics.append(step.topic)
                result = Result()
            else:
                assert isinstance(step, Lock)  # one writer: already serialised
                result = Result()
            step = op.send(result)
    except StopIteration as done:
        return done.value, topics


class SQLiteDatabase:
    """What both SQLite runners share: the lifecycle, migrations on start (or
    on first use when the file could not be opened then), health, and how
    sqlite3 errors read. A subclass says how to open, close and run one
    transaction (:func:`run_op` on some cursor)."""

    backend = "sqlite"
    dialect: Dialect = "sqlite"

    def __init__(self, path: str, clock: IReactorTime) -> None:
        self.where = f"sqlite {path}"
        self._clock = clock
        self._started = False
        self._schema_version: Optional[int] = None
        self._problem: Optional[str] = "not started"
        self._changed: ChangeListener = lambda topic: None

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _transact(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[tuple[T, list[str]]]":
        raise NotImplementedError

    def start(self, changed: ChangeListener) -> "Deferred[None]":
        self._changed = changed
        self._open()
        self._started = True

        def unreachable(failure: Failure) -> None:
            failure.trap(StoreUnavailable)
            log.warn("{where} unavailable at start: {problem}", where=self.where, problem=self._problem)

        return self._migrate().addCallback(lambda _: None).addErrback(unreachable)

    def stop(self) -> "Deferred[None]":
        if self._started:
            self._close()
            self._started = False
        self._problem = "stopped"
        return succeed(None)

    def health(self) -> StoreHealth:
        if self._problem is not None:
            return StoreHealth(False, self.backend, f"{self.where}: {self._problem}", self._schema_version)
        detail = f"{self.where}, schema version {self._schema_version}"
        return StoreHealth(True, self.backend, detail, self._schema_version)

    def execute(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
        if not self._started:
            op.close()
            return fail(StoreUnavailable(f"{self.where}: store not started"))
        if self._schema_version is None:
            return self._migrate().addCallback(lambda _: self._run(op, write, flight))
        return self._run(op, write, flight)

    def _migrate(self) -> "Deferred[int]":
        def migrated(version: int) -> int:
            self._schema_version = version
            return version

        return self._run(migrate(self.dialect, int(self._clock.seconds())), True, InFlight()).addCallback(migrated)

    def _run(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
        return self._transact(op, write, flight).addCallbacks(self._committed, self._failed)

    def _committed(self, outcome: tuple[T, list[str]]) -> T:
        value, topics = outcome
        self._problem = None
        for topic in topics:
            self._changed(topic)
        return value

    def _failed(self, failure: Failure) -> Failure:
        """sqlite3 errors as StoreError (StoreUnavailable when the file cannot
        be used now); SchemaTooNew is remembered for health."""
        error = failure.value
        if isinstance(error, SchemaTooNew):
            self._problem = str(error)
            log.critical("{problem}", problem=self._problem)
        if not isinstance(error, sqlite3.Error):
            return failure
        message = str(error)
        if isinstance(error, sqlite3.OperationalError) and any(m in message.lower() for m in _UNAVAILABLE):
            self._problem = message
            translated: StoreError = StoreUnavailable(f"{self.where}: {message}")
        else:
            translated = StoreError(f"{self.where}: {message}")
        translated.__cause__ = error
        return Failure(translated)


class SQLiteRunner(SQLiteDatabase):
    """SQLite through ``twisted.enterprise.adbapi`` (``path`` may be ``:memory:``)."""

    def __init__(self, path: str, reactor: IReactorTime) -> None:
        super().__init__(path, reactor)
        self._path = path
        self._reactor = reactor
        self._pool: Optional[adbapi.ConnectionPool] = None

    def _open(self) -> None:
        self._pool = adbapi.ConnectionPool(
            "sqlite3",
            self._path,
            check_same_thread=False,
            timeout=5.0,
            cp_min=1,
            cp_max=1,
            cp_openfun=configure,
            cp_reactor=self._reactor,
        )

    def _close(self) -> None:
        assert self._pool is not None
        self._pool.close()
        self._pool = None

    def _transact(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[tuple[T, list[str]]]":
        assert self._pool is not None
        d: "Deferred[tuple[T, list[str]]]" = self._pool.runInteraction(run_op, op, write, flight)
        return d
