"""The embedded runner: one SQLite connection on one adbapi thread.

One writer is all SQLite allows anyway; WAL lets other processes read while
it writes. Ops run whole in that thread, writes inside ``BEGIN IMMEDIATE``,
waiting up to :data:`BUSY_TIMEOUT` seconds for another process's write.
The step loop and error translation here are shared with the in-memory
runner (:mod:`osrs_twisted.store.memory`), which runs them synchronously.

SQLite has no cross-process signal, so each signalled topic also bumps its
row of a small ``change_log`` table in the same transaction; the file
runner polls ``PRAGMA data_version`` (which moves only when another
connection commits) and, when it moved, reads which topics did: a
heartbeat written by another process signals ``heartbeats`` here, never
``prices`` (see docs/store.md).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Optional, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
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


#: Seconds a write waits for another process's write to end before failing.
BUSY_TIMEOUT = 30.0
#: Seconds between two looks for other processes' commits.
POLL_INTERVAL = 0.5

_CHANGE_LOG_SCHEMA = "CREATE TABLE IF NOT EXISTS change_log (topic TEXT PRIMARY KEY, seq INTEGER NOT NULL)"
_BUMP = (
    "INSERT INTO change_log (topic, seq) VALUES (?, 1) ON CONFLICT (topic) DO UPDATE SET seq = seq + 1 RETURNING seq"
)


class ChangeLog:
    """Which topics other processes committed since the last look.

    Used only from the runner's one database thread (or synchronously by
    the memory runner), so its state needs no lock. ``record`` runs inside
    this process's write transactions and ``poll`` between them."""

    def __init__(self) -> None:
        self._data_version: Optional[int] = None
        self._seen: dict[str, int] = {}

    def record(self, cursor: Any, topic: str) -> None:
        cursor.execute(_BUMP, (topic,))
        [(seq,)] = cursor.fetchall()
        self._seen[topic] = seq

    def poll(self, cursor: Any) -> list[str]:
        """The topics whose sequence moved in another process (none on the
        first look, which only takes the baseline)."""
        [(version,)] = cursor.execute("PRAGMA data_version").fetchall()
        if version == self._data_version:
            return []
        rows = dict(cursor.execute("SELECT topic, seq FROM change_log").fetchall())
        first, self._data_version = self._data_version is None, version
        changed = [] if first else [topic for topic, seq in rows.items() if self._seen.get(topic) != seq]
        self._seen.update(rows)
        return changed


def change_log_schema() -> Op[None]:
    """The ``change_log`` table, beside the versioned schema: it carries no
    data, only the signal, so it needs no migration of its own."""
    yield Query(_CHANGE_LOG_SCHEMA)


def configure(connection: sqlite3.Connection) -> None:
    """Autocommit at the driver level, so our own BEGIN covers DDL too."""
    connection.isolation_level = None
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


def run_op(cursor: Any, op: Op[T], write: bool, flight: InFlight, changes: ChangeLog) -> tuple[T, list[str]]:
    """Run ``op`` to completion on a sqlite3 cursor; returns its value and the
    topics it signalled, to dispatch once the transaction has committed
    (and, through ``changes``, in every other process)."""
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
                changes.record(cursor, step.topic)
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
        self.changes = ChangeLog()

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

        migrating = self._run(migrate(self.dialect, int(self._clock.seconds())), True, InFlight())
        return migrating.addCallback(migrated).addCallback(
            lambda version: self._run(change_log_schema(), True, InFlight()).addCallback(lambda _: version)
        )

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
        self._poller: Optional[LoopingCall] = None

    def _open(self) -> None:
        self._pool = adbapi.ConnectionPool(
            "sqlite3",
            self._path,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT,
            cp_min=1,
            cp_max=1,
            cp_openfun=configure,
            cp_reactor=self._reactor,
        )

        self._poller = LoopingCall(self._poll)
        self._poller.clock = self._reactor
        self._poller.start(POLL_INTERVAL, now=True)

    def _close(self) -> None:
        assert self._pool is not None and self._poller is not None
        self._poller.stop()
        self._poller = None
        self._pool.close()
        self._pool = None

    def _transact(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[tuple[T, list[str]]]":
        assert self._pool is not None
        d: "Deferred[tuple[T, list[str]]]" = self._pool.runInteraction(run_op, op, write, flight, self.changes)
        return d

    def _poll(self) -> "Deferred[None]":
        """Signal the topics other processes committed; a file that cannot be
        read now is retried on the next tick (health reports it elsewhere)."""
        assert self._pool is not None
        d: "Deferred[list[str]]" = self._pool.runInteraction(self.changes.poll)

        def signal(topics: list[str]) -> None:
            for topic in topics:
                self._changed(topic)

        def unreadable(failure: Failure) -> None:
            failure.trap(sqlite3.Error)
            log.debug("{where}: change poll failed: {error}", where=self.where, error=failure.getErrorMessage())

        return d.addCallbacks(signal, unreadable)
