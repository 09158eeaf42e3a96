"""The PostgreSQL backend over txpostgres: a pool of self-reconnecting
asynchronous connections, plus one LISTEN connection for the change signal.

While no pooled connection is alive calls fail at once with
StoreUnavailable; each connection reconnects with back-off by itself, and
the first one back runs pending migrations.
"""

from __future__ import annotations

from typing import Any, Optional, TypeVar
from urllib.parse import urlsplit

import psycopg2
from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from osrs_twisted.store.base import BaseStore, InFlight
from osrs_twisted.store.interface import (
    TOPIC_BUCKETS,
    TOPIC_HEARTBEATS,
    TOPIC_ITEMS,
    TOPIC_PRICES,
    TOPIC_RUNS,
    IStore,
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
    transaction,
)
from osrs_twisted.store.steps import CHANNEL, POSTGRESQL, Op

T = TypeVar("T")

log = Logger()

ALL_TOPICS = (TOPIC_ITEMS, TOPIC_PRICES, TOPIC_BUCKETS, TOPIC_RUNS, TOPIC_HEARTBEATS)


@implementer(IStore)
class PostgresStore(BaseStore):
    """PostgreSQL through txpostgres; ``dsn`` is a ``postgresql://`` URL."""

    backend = "postgresql"
    dialect = POSTGRESQL

    def __init__(self, dsn: str, reactor: IReactorTime, pool_size: int = 4, max_reconnect_delay: float = 5.0) -> None:
        super().__init__(reactor)
        self._dsn = dsn
        self._pool_size = pool_size
        self._max_delay = max_reconnect_delay
        parts = urlsplit(dsn)
        self._where = f"postgresql {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        self._pool: Optional[Pool] = None
        self._listener: Optional[PgConnection] = None
        self._schema_version: Optional[int] = None
        self._too_new: Optional[str] = None
        self._problem: Optional[str] = "not started"
        self._migrating: Optional["Deferred[None]"] = None

    # lifecycle

    def start(self) -> "Deferred[None]":
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
        d = self._pool.run_with_cursor(transaction(migrate(POSTGRESQL, self._now()), True, InFlight()))

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
                self._dispatch(topic)

        return self._listen().addCallback(heard)

    def _notified(self, notify: Any) -> None:
        if notify.channel == CHANNEL:
            self._dispatch(notify.payload)

    # running ops

    def _usable(self) -> bool:
        return (
            self._pool is not None
            and self._schema_version is not None
            and self._too_new is None
            and any(c.alive for c in self._pool.members)
        )

    def _execute(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
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
