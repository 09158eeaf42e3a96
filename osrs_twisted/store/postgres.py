"""The PostgreSQL runner over txpostgres: a pool of self-reconnecting
asynchronous connections, plus one LISTEN connection for the change signal.

While no pooled connection is alive calls fail at once with
StoreUnavailable; each connection reconnects with back-off by itself, and
the first one back runs pending migrations. Committed topics reach the
store through NOTIFY on :data:`CHANNEL`, from this process and every other.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar
from urllib.parse import urlsplit

import psycopg2
from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.store.interface import (
    ALL_TOPICS,
    ChangeListener,
    SchemaTooNew,
    StoreError,
    StoreHealth,
    StoreUnavailable,
)
from osrs_twisted.store.migrations import migrate
from osrs_twisted.store.pgdriver import (
    CONNECT_OPTIONS,
    PgConnection,
    Pool,
    describe_error,
    is_connection_error,
    new_connection,
)
from osrs_twisted.store.runner import InFlight
from osrs_twisted.store.steps import Bulk, Dialect, Lock, Op, Query, Result

T = TypeVar("T")

log = Logger()

#: Name of the NOTIFY channel carrying change topics.
CHANNEL = "osrs_changes"

#: Rows per multi-row INSERT: few round trips, bounded statement size.
PAGE_ROWS = 1000


def placeholders(sql: str) -> str:
    """Turn the ops' ``?`` placeholders into psycopg2's ``%s``."""
    return sql.replace("%", "%%").replace("?", "%s")


def _steps(cursor: Any, op: Op[T], flight: InFlight) -> "Deferred[T]":
    """Drive ``op`` on ``cursor``, one round trip per step (bulk: per page)."""

    async def drive() -> T:
        try:
            step = next(op)
            while True:
                flight.check()
                if isinstance(step, Query):
                    await cursor.execute(placeholders(step.sql), tuple(step.params))
                    rows = cursor.fetchall() if cursor.description else []
                    result = Result(rows, cursor.rowcount)
                elif isinstance(step, Bulk):
                    prefix, suffix = (part.encode() for part in step.sql.split("{values}"))
                    template = "(" + ", ".join(["%s"] * step.width) + ")"
                    for start in range(0, len(step.rows), PAGE_ROWS):
                        page = step.rows[start : start + PAGE_ROWS]
                        await cursor.execute(prefix + b",".join(cursor.mogrify(template, r) for r in page) + suffix)
                        flight.check()
                    result = Result([], len(step.rows))
                elif isinstance(step, Lock):
                    await cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (step.key,))
                    result = Result()
                else:
                    await cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, step.topic))
                    result = Result()
                step = op.send(result)
        except StopIteration as done:
            value: T = done.value
            return value

    return Deferred.fromCoroutine(drive())


def transaction(op: Op[T], write: bool, flight: InFlight) -> Callable[[PgConnection, Any], "Deferred[T]"]:
    """The body run on one connection: ``op`` inside BEGIN/COMMIT when it
    writes (NOTIFY is delivered at COMMIT), interruptible by ``flight``."""

    async def body(connection: PgConnection, cursor: Any) -> T:
        raw = connection.pollable()

        def interrupt() -> None:
            try:
                raw.cancel()
            except psycopg2.Error:
                pass  # the connection is gone: nothing to interrupt

        flight.check()
        flight.interrupt = interrupt
        try:
            if write:
                await cursor.execute("BEGIN")
            try:
                value = await _steps(cursor, op, flight)
            except BaseException:
                if write:
                    await _rollback(connection, cursor)
                raise
            if write:
                await cursor.execute("COMMIT")
            return value
        finally:
            flight.interrupt = None

    return lambda connection, cursor: Deferred.fromCoroutine(body(connection, cursor))


async def _rollback(connection: PgConnection, cursor: Any) -> None:
    """Roll back; a connection that cannot is closed (and so reconnects)
    rather than reused mid-transaction."""
    try:
        await cursor.execute("ROLLBACK")
    except Exception:
        connection.close()


class PostgresRunner:
    """PostgreSQL through txpostgres; ``dsn`` is a ``postgresql://`` URL."""

    backend = "postgresql"
    dialect: Dialect = "postgresql"

    def __init__(self, dsn: str, reactor: IReactorTime, pool_size: int = 4, max_reconnect_delay: float = 5.0) -> None:
        self._reactor = reactor
        self._dsn = dsn
        self._pool_size = pool_size
        self._max_delay = max_reconnect_delay
        parts = urlsplit(dsn)
        self._where = f"postgresql {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        self._pool: Optional[Pool] = None
        self._listener: Optional[PgConnection] = None
        self._changed: ChangeListener = lambda topic: None
        self._schema_version: Optional[int] = None
        self._too_new: Optional[str] = None
        self._problem: Optional[str] = "not started"
        self._migrating: Optional["Deferred[None]"] = None

    # lifecycle

    def start(self, changed: ChangeListener) -> "Deferred[None]":
        self._changed = changed
        self._pool = Pool(self._reactor, self._dsn, self._pool_size, self._max_delay)
        self._listener = new_connection(self._reactor, self._max_delay)
        self._listener.addNotifyObserver(self._notified)
        self._listener.detector.addRecoveryHandler(self._relisten)
        for member in self._pool.members:
            member.detector.addRecoveryHandler(self._recovered)
            member.detector.on_death = self._died
        connecting = [self._connect(c) for c in self._pool.members]
        listening = self._connect(self._listener).addCallback(lambda up: self._listen() if up else None)

        def connected(ups: list[bool]) -> "Deferred[None]":
            if not any(ups):
                log.warn("{where} unreachable at start: {problem}", where=self._where, problem=self._problem)
                return succeed(None)
            return self._migrate()

        migrated = gatherResults(connecting).addCallback(connected)
        return listening.addCallback(lambda _: migrated)

    def stop(self) -> "Deferred[None]":
        if self._pool is not None:
            for connection in [*self._pool.members, self._listener]:
                assert connection is not None
                connection.detector.stop()
                connection.close()
        self._pool = None
        self._listener = None
        self._problem = "stopped"
        return succeed(None)

    def health(self) -> StoreHealth:
        reachable = self._usable()
        if self._too_new is not None:
            detail = f"{self._where}: {self._too_new}"
        elif reachable:
            detail = f"{self._where}, schema version {self._schema_version}"
            if self._listener is not None and not self._listener.alive:
                detail += "; change signal reconnecting"
        elif self._pool is not None and any(c.alive for c in self._pool.members):
            detail = f"{self._where}: connected, migrating"
        else:
            detail = f"{self._where}: unreachable: {self._problem or 'not connected'}"
        return StoreHealth(reachable, self.backend, detail, self._schema_version)

    def _connect(self, connection: PgConnection) -> "Deferred[bool]":
        """Connect once; on failure start the detector's reconnection loop."""

        def failed(failure: Failure) -> bool:
            self._died(failure)
            connection.detector.checkForDeadConnection(failure)
            return False

        d: "Deferred[bool]" = connection.connect(self._dsn, **CONNECT_OPTIONS)
        return d.addCallbacks(lambda _: True, failed)

    def _died(self, failure: Failure) -> None:
        self._problem = describe_error(failure.value)

    def _recovered(self) -> "Deferred[None]":
        """A pooled connection is back. Migrate (again: the database may have
        been restored or replaced meanwhile; a current schema costs one query)."""
        log.info("{where} reachable", where=self._where)
        if self._too_new is not None:
            return succeed(None)
        return self._migrate().addErrback(lambda f: log.failure("migrating {where} failed", f, where=self._where))

    def _migrate(self) -> "Deferred[None]":
        """Run pending migrations once at a time; SchemaTooNew and statement
        errors fail (start() then fails), lost connections wait for recovery."""
        if self._migrating is not None:
            return self._migrating
        assert self._pool is not None
        now = int(self._reactor.seconds())
        d = self._pool.run_with_cursor(transaction(migrate(self.dialect, now), True, InFlight()))

        def done(version: int) -> None:
            self._schema_version = version
            self._problem = None
            log.info("{where} at schema version {version}", where=self._where, version=version)

        def failed(failure: Failure) -> Optional[Failure]:
            if is_connection_error(failure.value):
                self._problem = describe_error(failure.value)
                return None
            if failure.check(SchemaTooNew):
                self._too_new = str(failure.value)
                log.critical("{where}: {problem}", where=self._where, problem=self._too_new)
            return failure

        def finished(result: Any) -> Any:
            self._migrating = None
            return result

        self._migrating = d.addCallbacks(done, failed).addBoth(finished)
        return self._migrating

    # change signal

    def _listen(self) -> "Deferred[None]":
        assert self._listener is not None
        d: "Deferred[None]" = self._listener.runOperation(f"LISTEN {CHANNEL}")

        def failed(failure: Failure) -> None:
            # a lost connection LISTENs again when its detector recovers it
            if not is_connection_error(failure.value):
                failure.raiseException()

        return d.addErrback(failed)

    def _relisten(self) -> "Deferred[None]":
        """LISTEN again on the new connection; changes made while it was down
        went unheard, so every topic is signalled once."""

        def heard(_: None) -> None:
            for topic in ALL_TOPICS:
                self._changed(topic)

        return self._listen().addCallback(heard)

    def _notified(self, notify: Any) -> None:
        if notify.channel == CHANNEL:
            self._changed(notify.payload)

    # running ops

    def _usable(self) -> bool:
        return (
            self._pool is not None
            and self._schema_version is not None
            and self._too_new is None
            and any(c.alive for c in self._pool.members)
        )

    def execute(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
        if not self._usable():
            op.close()
            return fail(StoreUnavailable(self.health().detail))
        assert self._pool is not None
        d: "Deferred[T]" = self._pool.run_with_cursor(transaction(op, write, flight))
        return d.addCallbacks(self._succeeded, self._failed)

    def _succeeded(self, value: T) -> T:
        self._problem = None
        return value

    def _failed(self, failure: Failure) -> Failure:
        error = failure.value
        if is_connection_error(error):
            self._problem = describe_error(error)
            translated: StoreError = StoreUnavailable(f"{self._where}: {self._problem}")
        elif isinstance(error, psycopg2.Error):
            translated = StoreError(f"{self._where}: {str(error).strip()}")
        else:
            return failure
        translated.__cause__ = error
        return Failure(translated)
