"""What both backends share: the IStore data methods (each one op from
:mod:`~osrs_twisted.store.ops`), change listeners and safe cancellation.

A backend supplies ``_execute(op, write, flight)``: run the op in one
transaction when ``write``, and fire with its value.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

import attrs
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from osrs_twisted.records import (
    Heartbeat,
    Item,
    JobRun,
    LatestPrice,
    PriceBucket,
    RunState,
    Timestep,
)
from osrs_twisted.store import ops
from osrs_twisted.store.interface import ChangeListener
from osrs_twisted.store.steps import Dialect, Op

T = TypeVar("T")

log = Logger()


@attrs.define
class InFlight:
    """One call's cancellation state, shared with whatever runs its op."""

    cancelled: bool = False
    #: Set by the backend while a statement runs: stops it at the database.
    interrupt: Optional[Callable[[], None]] = None

    def check(self) -> None:
        """Called between steps, so a cancelled op stops and rolls back."""
        if self.cancelled:
            raise CancelledError()


def shielded(inner: "Deferred[T]", flight: InFlight) -> "Deferred[T]":
    """The caller's Deferred. Cancelling it never cancels the driver's own
    Deferreds (txpostgres then logs a critical error and wedges the
    connection): the op is interrupted at the database and its outcome,
    arriving later, is dropped."""

    def cancel(_: "Deferred[T]") -> None:
        flight.cancelled = True
        if flight.interrupt is not None:
            flight.interrupt()

    outer: "Deferred[T]" = Deferred(cancel)

    def forward(result: Any) -> None:
        if outer.called:
            return
        if isinstance(result, Failure):
            outer.errback(result)
        else:
            outer.callback(result)

    inner.addBoth(forward)
    return outer


class BaseStore:
    """IStore's data methods over an abstract op runner."""

    backend: str
    dialect: Dialect

    def __init__(self, reactor: IReactorTime) -> None:
        self._reactor = reactor
        self._listeners: list[ChangeListener] = []

    def _execute(self, op: Op[T], write: bool, flight: InFlight) -> "Deferred[T]":
        raise NotImplementedError

    def _call(self, op: Op[T], write: bool = False) -> "Deferred[T]":
        flight = InFlight()
        return shielded(self._execute(op, write, flight), flight)

    def _now(self) -> int:
        return int(self._reactor.seconds())

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _dispatch(self, topic: str) -> None:
        """Tell every listener; one that raises is logged, not propagated."""
        for listener in list(self._listeners):
            try:
                listener(topic)
            except Exception:
                log.failure("change listener {listener!r} failed on {topic}", listener=listener, topic=topic)

    # items
    def upsert_items(self, items: Iterable[Item]) -> "Deferred[int]":
        return self._call(ops.upsert_items(list(items)), write=True)

    def get_item(self, item_id: int) -> "Deferred[Optional[Item]]":
        return self._call(ops.get_item(item_id))

    def all_items(self) -> "Deferred[list[Item]]":
        return self._call(ops.all_items())

    def count_items(self) -> "Deferred[int]":
        return self._call(ops.count_items())

    # latest prices
    def upsert_latest_prices(self, prices: Iterable[LatestPrice]) -> "Deferred[int]":
        return self._call(ops.upsert_latest_prices(list(prices)), write=True)

    def get_latest_price(self, item_id: int) -> "Deferred[Optional[LatestPrice]]":
        return self._call(ops.get_latest_price(item_id))

    def all_latest_prices(self) -> "Deferred[list[LatestPrice]]":
        return self._call(ops.all_latest_prices())

    # price buckets
    def upsert_buckets(self, buckets: Iterable[PriceBucket]) -> "Deferred[int]":
        return self._call(ops.upsert_buckets(list(buckets)), write=True)

    def price_history(
        self,
        item_id: int,
        timestep: Timestep,
        since: Optional[int],
        until: Optional[int],
        limit: int,
    ) -> "Deferred[list[PriceBucket]]":
        return self._call(ops.price_history(item_id, timestep, since, until, limit))

    def newest_buckets(self, timestep: Timestep) -> "Deferred[list[PriceBucket]]":
        return self._call(ops.newest_buckets(timestep))

    def prune(self, before: int) -> "Deferred[Mapping[str, int]]":
        return self._call(ops.prune(before), write=True)

    # job runs
    def claim_scheduled_run(
        self, job: str, slot: int, owner: str, now: int, lease_seconds: int
    ) -> "Deferred[Optional[JobRun]]":
        return self._call(ops.claim_scheduled_run(job, slot, owner, now, lease_seconds), write=True)

    def create_manual_run(self, job: str, now: int) -> "Deferred[JobRun]":
        return self._call(ops.create_manual_run(self.dialect, job, now), write=True)

    def start_run(self, run_id: int, owner: str, now: int, lease_seconds: int) -> "Deferred[JobRun]":
        return self._call(ops.start_run(run_id, owner, now, lease_seconds), write=True)

    def finish_run(
        self,
        run_id: int,
        state: RunState,
        now: int,
        duration_ms: int,
        error: Optional[str],
        result: Optional[Mapping[str, Any]],
    ) -> "Deferred[JobRun]":
        return self._call(ops.finish_run(run_id, state, now, duration_ms, error, result), write=True)

    def get_run(self, run_id: int) -> "Deferred[Optional[JobRun]]":
        return self._call(ops.get_run(run_id))

    def list_runs(self, job: Optional[str], state: Optional[RunState], limit: int) -> "Deferred[list[JobRun]]":
        return self._call(ops.list_runs(job, state, limit))

    def last_runs(self) -> "Deferred[Mapping[str, JobRun]]":
        return self._call(ops.last_runs())

    def last_success(self, job: str) -> "Deferred[Optional[JobRun]]":
        return self._call(ops.last_success(job))

    # heartbeats
    def add_heartbeat(self, heartbeat: Heartbeat) -> "Deferred[None]":
        return self._call(ops.add_heartbeat(heartbeat), write=True)

    def latest_heartbeats(self) -> "Deferred[list[Heartbeat]]":
        return self._call(ops.latest_heartbeats())

    def heartbeats_for(self, instance_id: str, limit: int) -> "Deferred[list[Heartbeat]]":
        return self._call(ops.heartbeats_for(instance_id, limit))
