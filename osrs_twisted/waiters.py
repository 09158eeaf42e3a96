"""Deferreds for "tell me when it next happens", fired together.

Start-up, catalog reloads, the inference drain and the job scheduler each
let callers wait for a moment (schema current, reload settled, queue empty,
no job running). :class:`Waiters` is that one pattern: every ``wait()`` gets
its own Deferred, so one caller cancelling or timing out its wait never
disturbs the others, and ``fire`` settles everyone waiting at that moment.
"""

from __future__ import annotations

from typing import Generic, TypeVar, Union

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")


class Waiters(Generic[T]):
    """The callers waiting for the next occurrence of one event."""

    def __init__(self) -> None:
        self._waiting: list[Deferred[T]] = []

    def wait(self) -> "Deferred[T]":
        """A Deferred that fires at the next ``fire``."""
        waiter: Deferred[T] = Deferred()
        self._waiting.append(waiter)
        return waiter

    def fire(self, result: Union[T, Failure]) -> None:
        """Fire every Deferred handed out so far with ``result`` (a Failure
        errbacks them), in the order they were asked for. A waiter already
        cancelled by its caller is skipped; a ``wait()`` made from one of
        the callbacks waits for the next ``fire``."""
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if waiter.called:
                continue
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    def __len__(self) -> int:
        return len(self._waiting)
