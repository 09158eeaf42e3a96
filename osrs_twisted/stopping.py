"""Stopping within a budget: one owner of the time, children that report.

twistd waits for ``stopService`` without a bound, so the root service owns
the one stop budget and hands each child its share of what is left. A child
that knows how to wind down provides :class:`IBoundedStop`: given a number
of seconds, it finishes within them and always closes what it holds; the
root never cancels its Deferred, so no timeout races another (see
docs/operations.md).
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import Interface


class IBoundedStop(Interface):
    """A service that can stop within a given time."""

    def stopWithin(seconds: float) -> "Deferred[None]":
        """Stop as ``stopService`` does, firing within ``seconds`` of the
        clock. Never fails: work that did not end in time is logged and
        abandoned, and what the service holds is closed regardless."""


def settled_within(clock: IReactorTime, seconds: float, work: "Deferred[Any]") -> "Deferred[bool]":
    """Fires True once ``work`` has fired (either way), or False after
    ``seconds``. ``work`` is never cancelled; its result is consumed, so
    whoever cares about a failure handles it before passing it here."""
    outcome: Deferred[bool] = Deferred()

    def settle(done: bool) -> None:
        if not outcome.called:
            outcome.callback(done)

    def finished(_: object) -> None:
        if timer is not None and timer.active():
            timer.cancel()
        settle(True)

    timer: Optional[IDelayedCall] = None
    work.addBoth(finished)
    if not outcome.called:
        timer = clock.callLater(max(0.0, seconds), settle, False)
    return outcome
