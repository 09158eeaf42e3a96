"""Waiters: every caller gets its own Deferred, fired together."""

from __future__ import annotations

from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.waiters import Waiters


class WaitersTests(SynchronousTestCase):
    def test_fire_settles_everyone_waiting(self) -> None:
        waiters: Waiters[int] = Waiters()
        first, second = waiters.wait(), waiters.wait()
        self.assertNoResult(first)
        waiters.fire(7)
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)), (7, 7))
        self.assertEqual(len(waiters), 0)

    def test_a_later_wait_waits_for_the_next_fire(self) -> None:
        waiters: Waiters[None] = Waiters()
        waiters.fire(None)
        later = waiters.wait()
        self.assertNoResult(later)
        waiters.fire(None)
        self.successResultOf(later)

    def test_failure_errbacks(self) -> None:
        waiters: Waiters[None] = Waiters()
        waiter = waiters.wait()
        waiters.fire(Failure(ValueError("schema too new")))
        self.failureResultOf(waiter, ValueError)

    def test_a_cancelled_wait_leaves_the_others(self) -> None:
        waiters: Waiters[str] = Waiters()
        cancelled, kept = waiters.wait(), waiters.wait()
        cancelled.cancel()
        self.failureResultOf(cancelled, CancelledError)
        waiters.fire("done")
        self.assertEqual(self.successResultOf(kept), "done")

    def test_a_wait_from_a_callback_is_for_the_next_fire(self) -> None:
        waiters: Waiters[int] = Waiters()
        again = []
        waiters.wait().addCallback(lambda _: again.append(waiters.wait()))
        waiters.fire(1)
        self.assertNoResult(again[0])
        waiters.fire(2)
        self.assertEqual(self.successResultOf(again[0]), 2)
