"""The store as a child service: started with the application, stopped
within a bound (twistd waits for stopService without a timeout)."""

from __future__ import annotations

from typing import Optional, Union

from twisted.application import service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.store.interface import IStore

log = Logger()


class StoreService(service.Service):
    """Starts the store (migrations included) and stops it, bounded.

    A MultiService ignores the Deferred its children's startService returns:
    whoever must wait for the schema (listening ports) uses ``whenStarted``.
    """

    name = "store"

    def __init__(self, store: IStore, reactor: IReactorTime, stop_timeout: float = 10.0) -> None:
        self.store = store
        self._reactor = reactor
        self._stop_timeout = stop_timeout
        self._outcome: Optional[Union[None, Failure]] = None
        self._settled = False
        self._waiting: list["Deferred[None]"] = []

    def startService(self) -> "Deferred[None]":
        service.Service.startService(self)
        self.store.start().addBoth(self._started)
        return self.whenStarted()

    def whenStarted(self) -> "Deferred[None]":
        """Fires once the schema is current, or at once when the database is
        unreachable; fails only for what no retry fixes (SchemaTooNew)."""
        if not self._settled:
            d: "Deferred[None]" = Deferred()
            self._waiting.append(d)
            return d
        return fail(self._outcome) if isinstance(self._outcome, Failure) else succeed(None)

    def _started(self, outcome: Union[None, Failure]) -> None:
        self._outcome, self._settled = outcome, True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if isinstance(outcome, Failure):
                d.errback(outcome)
            else:
                d.callback(None)

    def stopService(self) -> "Deferred[None]":
        service.Service.stopService(self)
        d = self.store.stop()
        d.addTimeout(self._stop_timeout, self._reactor)

        def late(failure: Failure) -> None:
            log.warn("store did not stop within {seconds}s", seconds=self._stop_timeout)

        return d.addErrback(late)
