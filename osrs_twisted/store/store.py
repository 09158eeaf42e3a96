"""The one IStore: each data method is an op of :mod:`~osrs_twisted.store.ops`
run by a :class:`~osrs_twisted.store.runner.Runner`, plus the change
listeners and safe cancellation every runner shares.

The table below is the only place that maps a method to its op; the op's own
signature is the method's (less ``self``), so nothing is written twice.
"""

from __future__ import annotations

from typing import Callable, Generic, ParamSpec, TypeVar, overload

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from osrs_twisted.store import ops
from osrs_twisted.store.interface import ChangeListener, IStore, StoreHealth
from osrs_twisted.store.runner import InFlight, Runner, shielded
from osrs_twisted.store.steps import Op

P = ParamSpec("P")
T = TypeVar("T")

log = Logger()


class _Method(Generic[P, T]):
    """A store method that runs ``op(*args)``, writing or only reading."""

    def __init__(self, op: Callable[P, Op[T]], write: bool) -> None:
        self._op = op
        self._write = write

    @overload
    def __get__(self, store: None, owner: type) -> "_Method[P, T]": ...

    @overload
    def __get__(self, store: "Store", owner: type) -> Callable[P, "Deferred[T]"]: ...

    def __get__(self, store: "Store | None", owner: type) -> "_Method[P, T] | Callable[P, Deferred[T]]":
        if store is None:
            return self
        op, write = self._op, self._write

        def call(*args: P.args, **kwargs: P.kwargs) -> "Deferred[T]":
            return store._call(op(*args, **kwargs), write)

        return call


def _reads(op: Callable[P, Op[T]]) -> _Method[P, T]:
    return _Method(op, write=False)


def _writes(op: Callable[P, Op[T]]) -> _Method[P, T]:
    return _Method(op, write=True)


@implementer(IStore)
class Store:
    """IStore over a runner (see :mod:`osrs_twisted.store.factory`)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._listeners: list[ChangeListener] = []

    @property
    def backend(self) -> str:
        return self._runner.backend

    def start(self) -> "Deferred[None]":
        return self._runner.start(self._dispatch)

    def stop(self) -> "Deferred[None]":
        return self._runner.stop()

    def health(self) -> StoreHealth:
        return self._runner.health()

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

    def _call(self, op: Op[T], write: bool = False) -> "Deferred[T]":
        """Run one op; the caller may cancel the Deferred safely."""
        flight = InFlight()
        return shielded(self._runner.execute(op, write, flight), flight)

    # items
    upsert_items = _writes(ops.upsert_items)
    get_item = _reads(ops.get_item)
    all_items = _reads(ops.all_items)
    count_items = _reads(ops.count_items)

    # latest prices
    upsert_latest_prices = _writes(ops.upsert_latest_prices)
    get_latest_price = _reads(ops.get_latest_price)
    all_latest_prices = _reads(ops.all_latest_prices)

    # price buckets
    upsert_buckets = _writes(ops.upsert_buckets)
    price_history = _reads(ops.price_history)
    newest_buckets = _reads(ops.newest_buckets)
    prune = _writes(ops.prune)

    # job runs
    claim_scheduled_run = _writes(ops.claim_scheduled_run)
    create_manual_run = _writes(ops.create_manual_run)
    start_run = _writes(ops.start_run)
    finish_run = _writes(ops.finish_run)
    get_run = _reads(ops.get_run)
    list_runs = _reads(ops.list_runs)
    last_runs = _reads(ops.last_runs)
    last_success = _reads(ops.last_success)

    # heartbeats
    add_heartbeat = _writes(ops.add_heartbeat)
    latest_heartbeats = _reads(ops.latest_heartbeats)
    heartbeats_for = _reads(ops.heartbeats_for)

    # actions
    all_actions = _reads(ops.all_actions)
    create_action = _writes(ops.create_action)
    replace_action = _writes(ops.replace_action)
    delete_action = _writes(ops.delete_action)
    load_actions = _writes(ops.load_actions)

    # trades
    record_trades = _writes(ops.record_trades)
    account_buys = _reads(ops.account_buys)
    instance_account = _reads(ops.instance_account)

    # assignments and pins
    record_assignment = _writes(ops.record_assignment)
    all_assignments = _reads(ops.all_assignments)
    set_pin = _writes(ops.set_pin)
    remove_pin = _writes(ops.remove_pin)
    all_pins = _reads(ops.all_pins)
