"""txpostgres plumbing for the PostgreSQL runner: self-reconnecting
connections with back-off, and a pool of them.

txpostgres's own ``runInteraction`` and reconnection loop log through
``log.err`` when a rollback fails or a retry is cancelled; these replace
them so a cancelled or failed call logs nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional, TypeVar

import psycopg2
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure
from txpostgres.reconnection import ConnectionDead, DeadConnectionDetector
from txpostgres.retrying import simpleBackoffIterator
from txpostgres.txpostgres import Connection, ConnectionPool, RollbackFailed

T = TypeVar("T")

#: Keepalives notice a silently vanished server on an idle connection.
CONNECT_OPTIONS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "application_name": "osrs-twisted",
}

def is_connection_error(error: Optional[BaseException]) -> bool:
    """The server or the link is gone (as opposed to a bad statement)."""
    if isinstance(error, (ConnectionDead, RollbackFailed, ConnectionClosed, psycopg2.InterfaceError)):
        return True
    if isinstance(error, psycopg2.OperationalError):
        code = error.pgcode
        return code is None or code.startswith("08") or code.startswith("57P")
    return False


def describe_error(error: Optional[BaseException]) -> str:
    """One line for health: psycopg2 messages span several."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


class Detector(DeadConnectionDetector):
    """Reconnects with back-off, and can be stopped: txpostgres' own retry
    loop leaves a pending timer and logs its cancellation."""

    def __init__(self, reactor: IReactorTime, max_delay: float) -> None:
        super().__init__(
            deathChecker=lambda f: is_connection_error(f.value),
            reconnectionIterator=lambda: simpleBackoffIterator(
                initialDelay=0.25, maxDelay=max_delay, factor=1.7, maxRetries=0, now=True
            ),
            reactor=reactor,
        )
        self._stopped = False
        self._pending: Optional[IDelayedCall] = None
        #: Told why, whenever the connection is found dead.
        self.on_death: Callable[[Failure], None] = lambda f: None

    def checkForDeadConnection(self, f: Failure) -> Failure:
        if self._stopped:
            return f
        if not self.connectionIsDead and self.deathChecker(f):
            self.on_death(f)
        result: Failure = super().checkForDeadConnection(f)
        return result

    def startReconnecting(self, f: Failure) -> None:
        self._schedule(iter(self.reconnectionIterator()))

    def _schedule(self, delays: Any) -> None:
        if not self._stopped:
            self._pending = self.reactor.callLater(next(delays), self._attempt, delays)

    def _attempt(self, delays: Any) -> None:
        self._pending = None
        d = maybeDeferred(self.reconnect)
        d.addCallbacks(lambda _: self.connectionRecovered(), lambda _: self._schedule(delays))

    def stop(self) -> None:
        self._stopped = True
        if self._pending is not None and self._pending.active():
            self._pending.cancel()


class PgConnection(Connection):
    """A txpostgres connection whose failures never reach the reactor's log."""

    detector: Detector

    def doRead(self) -> Any:
        # An idle connection whose server went away raises from poll(); hand
        # the error back to the reactor as the reason instead of raising.
        try:
            return super().doRead()
        except psycopg2.Error as error:
            return error

    def close(self) -> None:
        if self._connection is not None:
            super().close()

    @property
    def alive(self) -> bool:
        return not self.detector.connectionIsDead and self._connection is not None and not self._connection.closed

    def run_with_cursor(self, body: Callable[["PgConnection", Any], "Deferred[T]"]) -> "Deferred[T]":
        """Run ``body(connection, cursor)`` alone on this connection, failing
        fast while it is known to be dead."""
        return self._doit(lambda: body(self, self.cursor()))


class _Immediately:
    """Runs txpostgres' NOTIFY dispatch at once: our observer is synchronous
    and cheap, and a Cooperator would add timers and its own lifecycle."""

    def cooperate(self, work: Iterator[Any]) -> None:
        for _ in work:
            pass


def new_connection(reactor: IReactorTime, max_delay: float) -> PgConnection:
    return PgConnection(reactor, _Immediately(), detector=Detector(reactor, max_delay))


class Pool(ConnectionPool):
    """txpostgres' pool of ``size`` connections, preferring live ones."""

    def __init__(self, reactor: IReactorTime, dsn: str, size: int, max_delay: float) -> None:
        self.reactor = reactor
        self._max_delay = max_delay
        super().__init__(None, dsn, min=size, **CONNECT_OPTIONS)
        self.members: list[PgConnection] = list(self.connections)

    def connectionFactory(self, reactor: IReactorTime, cooperator: None) -> PgConnection:
        return new_connection(reactor, self._max_delay)

    def run_with_cursor(self, body: Callable[[PgConnection, Any], "Deferred[T]"]) -> "Deferred[T]":
        return self._semaphore.run(self._run_with_cursor, body)

    def _run_with_cursor(self, body: Callable[[PgConnection, Any], "Deferred[T]"]) -> "Deferred[T]":
        free: list[PgConnection] = sorted(self.connections, key=lambda c: not c.alive)
        connection = free[0]
        self.connections.remove(connection)
        d = connection.run_with_cursor(body)
        return d.addBoth(self._putBackAndPassthrough, connection)
