"""The store as a child service: started with the application, stopped
within a bound (twistd waits for stopService without a timeout)."""

from __future__ import annotations

from typing import Optional

from twisted.application import service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from osrs_twisted.stopping import IBoundedStop, settled_within
from osrs_twisted.store.interface import IStore
from osrs_twisted.waiters import Waiters

log = Logger()


@implementer(IBoundedStop)
class StoreService(service.Service):
    """Starts the store (migrations included) and stops it, bounded.

    A MultiService ignores the Deferred its children's startService returns:
    whoever must wait for the schema (listening ports) uses ``whenStarted``.
    A plain ``stopService`` waits ``stop_timeout`` seconds for the store.
    """

    name = "store"

    def __init__(self, store: IStore, reactor: IReactorTime, stop_timeout: float = 10.0) -> None:
        self.store = store
        self._reactor = reactor
        self._stop_timeout = stop_timeout
        self._outcome: Optional[Failure] = None
        self._settled = False
        self._started: Waiters[None] = Waiters()

    def startService(self) -> "Deferred[None]":
        service.Service.startService(self)
        self.store.start().addBoth(self._start_settled)
        return self.whenStarted()

    def whenStarted(self) -> "Deferred[None]":
        """Fires once the schema is current, or at once when the database is
        unreachable; fails only for what no retry fixes (SchemaTooNew)."""
        if not self._settled:
            return self._started.wait()
        return fail(self._outcome) if self._outcome is not None else succeed(None)

    def _start_settled(self, outcome: Optional[Failure]) -> None:
        self._outcome, self._settled = outcome, True
        self._started.fire(outcome)

    def stopService(self) -> "Deferred[None]":
        return self.stopWithin(self._stop_timeout)

    def stopWithin(self, seconds: float) -> "Deferred[None]":
        service.Service.stopService(self)
        stopping = self.store.stop().addErrback(
            lambda failure: log.warn("the store failed to stop: {error}", error=failure.getErrorMessage())
        )

        def report(stopped: bool) -> None:
            if not stopped:
                log.warn("store did not stop within {seconds}s", seconds=seconds)

        return settled_within(self._reactor, seconds, stopping).addCallback(report)
