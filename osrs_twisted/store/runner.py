"""What a :class:`~osrs_twisted.store.store.Store` asks of the runner that
executes its ops against one database, and the cancellation state they share.

A runner owns connections, transactions, migrations and health; it knows
nothing of the store's methods. It tells the store which topics changed,
after commit, through the ``changed`` callback it is started with (the
PostgreSQL runner hears them back from the server, from every process).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol, TypeVar

import attrs
from twisted.internet.defer import CancelledError, Deferred
from twisted.python.failure import Failure

from osrs_twisted.store.interface import ChangeListener, StoreHealth
from osrs_twisted.store.steps import Dialect, Op

T = TypeVar("T")


@attrs.define
class InFlight:
    """One call's cancellation state, shared with whatever runs its op."""

    cancelled: bool = False
    #: Set by the runner while a statement runs: stops it at the database.
    interrupt: Optional[Callable[[], None]] = None

    def check(self) -> None:
        """Called between steps, so a cancelled op stops and rolls back."""
        if self.cancelled:
            raise CancelledError()


class Runner(Protocol):
    """Executes ops on one database."""

    @property
    def backend(self) -> str:
        """Short backend name for health: ``sqlite`` or ``postgresql``."""

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect its migrations are written in."""

    def start(self, changed: ChangeListener) -> "Deferred[None]":
        """Connect and migrate (see ``IStore.start``); from now on call
        ``changed(topic)`` for every topic a committed write signals."""

    def stop(self) -> "Deferred[None]":
        """Close every connection."""

    def health(self) -> StoreHealth:
        """Reachability and schema state, without touching the database."""

    def execute(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
        """Run ``op`` (in one transaction when ``write``) and fire with its
        value; fail with StoreUnavailable at once when the database is down."""


def shielded(inner: "Deferred[T]", flight: InFlight) -> "Deferred[T]":
    """The caller's Deferred. Cancelling it never cancels the runner's own
    Deferreds (txpostgres then logs a critical error and wedges the
    connection): the op is interrupted at the database and its outcome,
    arriving later, is dropped."""

    def cancel(_: "Deferred[T]") -> None:
        flight.cancelled = True
        if flight.interrupt is not None:
            flight.interrupt()

    outer: "Deferred[T]" = Deferred(cancel)

    def forward(result: Any) -> None:
        if not outer.called:  # else the caller cancelled: drop the late outcome
            settle = outer.errback if isinstance(result, Failure) else outer.callback
            settle(result)

    inner.addBoth(forward)
    return outer
