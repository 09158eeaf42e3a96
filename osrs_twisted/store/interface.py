"""What the application asks of its store, whatever database sits behind it.

Every method returns a Deferred; a store that cannot reach its database
fails the Deferred with :class:`StoreUnavailable` at once instead of waiting.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import attrs
from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from osrs_twisted.market.actions import Action
from osrs_twisted.market.allocation import Assignment, Pin
from osrs_twisted.market.ledger import Trade
from osrs_twisted.records import Heartbeat, Item, JobRun, LatestPrice, PriceBucket, RunState, Timestep

#: Topics of the change signal, named after the data that changed.
TOPIC_ITEMS = "items"
TOPIC_PRICES = "prices"
TOPIC_BUCKETS = "buckets"
TOPIC_RUNS = "runs"
TOPIC_HEARTBEATS = "heartbeats"
TOPIC_ACTIONS = "actions"
TOPIC_TRADES = "trades"
#: Assignments and pins: what each bot was told, and the operators' orders.
TOPIC_ASSIGNMENTS = "assignments"

#: Every topic, for a listener that must assume all of them changed.
ALL_TOPICS: tuple[str, ...] = (
    TOPIC_ITEMS, TOPIC_PRICES, TOPIC_BUCKETS, TOPIC_RUNS, TOPIC_HEARTBEATS, TOPIC_ACTIONS, TOPIC_TRADES,
    TOPIC_ASSIGNMENTS,
)  # fmt: skip


class StoreError(Exception):
    """Base class of the errors a store raises."""


class StoreUnavailable(StoreError):
    """The database cannot be reached now; the call wrote nothing."""


class SchemaTooNew(StoreError):
    """The database carries a schema version newer than this code knows."""


class RunStateError(StoreError):
    """The run does not exist, or is not in the state the call needs
    (``start_run`` needs ``queued``)."""


class RunInProgress(StoreError):
    """A run of this job is queued or running already."""

    def __init__(self, job: str, run_id: int) -> None:
        super().__init__(f"job {job} already has run {run_id} in progress")
        self.job = job
        self.run_id = run_id


class ActionExists(StoreError):
    """An action of that name is stored already."""

    def __init__(self, name: str) -> None:
        super().__init__(f"an action named {name} exists already")
        self.name = name


@attrs.frozen
class StoredAction:
    """An action as the store keeps it: with its row id (the seed's
    ``/actions/{id}``) and when it was last written."""

    id: int
    action: Action
    updated_at: int


@attrs.frozen
class TradeReceipt:
    """What a trade report changed: trades newly recorded, and exact retries
    of recorded ones (which change nothing)."""

    recorded: int
    duplicates: int


@attrs.frozen
class StoreHealth:
    """The store's own view of itself, for ``/health``."""

    reachable: bool
    backend: str
    detail: str
    schema_version: Optional[int] = None


ChangeListener = Callable[[str], None]


class IStore(Interface):
    """Persistence for items, prices, price history, job runs and heartbeats."""

    backend = Attribute("Short backend name: 'sqlite' or 'postgresql'.")

    def start() -> "Deferred[None]":
        """Connect and migrate; fires once the schema is current or, if the
        database is down, at once (migrations then run on first connection)."""

    def stop() -> "Deferred[None]":
        """Close every connection."""

    def health() -> StoreHealth:
        """Report reachability and schema state without touching the database."""

    def subscribe(listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener(topic)`` after every committed write, from this
        process or (PostgreSQL) any other; returns a function that unsubscribes."""

    # items
    def upsert_items(items: Iterable[Item]) -> "Deferred[int]":
        """Insert or replace items in one transaction; fires with the count."""

    def get_item(item_id: int) -> "Deferred[Optional[Item]]":
        """One item by OSRS id."""

    def all_items() -> "Deferred[list[Item]]":
        """Every item, ordered by id."""

    def count_items() -> "Deferred[int]":
        """How many items are stored."""

    # latest prices
    def upsert_latest_prices(prices: Iterable[LatestPrice]) -> "Deferred[int]":
        """Insert or replace latest prices in one transaction."""

    def get_latest_price(item_id: int) -> "Deferred[Optional[LatestPrice]]":
        """One item's latest price."""

    def all_latest_prices() -> "Deferred[list[LatestPrice]]":
        """Every latest price, ordered by item id."""

    # price buckets
    def upsert_buckets(buckets: Iterable[PriceBucket]) -> "Deferred[int]":
        """Insert or replace price buckets (unique per item, timestep, start)."""

    def price_history(
        item_id: int,
        timestep: Timestep,
        since: Optional[int],
        until: Optional[int],
        limit: int,
    ) -> "Deferred[list[PriceBucket]]":
        """Buckets of one item and timestep within [since, until], oldest first;
        the newest ``limit`` of them when there are more."""

    def newest_buckets(timestep: Timestep) -> "Deferred[list[PriceBucket]]":
        """For each item, its newest bucket of this timestep."""

    def prune(before: int) -> "Deferred[Mapping[str, int]]":
        """Delete buckets and heartbeats older than ``before``; fires with the
        number of rows removed per table."""

    # job runs
    def claim_scheduled_run(
        job: str, slot: int, owner: str, now: int, lease_seconds: int
    ) -> "Deferred[Optional[JobRun]]":
        """Claim the run of ``job`` for time ``slot``: a new row in state
        ``running``, or a takeover of one whose lease expired without
        finishing; None when another owner holds or finished that slot."""

    def create_manual_run(job: str, now: int) -> "Deferred[JobRun]":
        """Record a queued manual run; fails with RunInProgress when a run of
        that job is queued or running with a live lease."""

    def start_run(run_id: int, owner: str, now: int, lease_seconds: int) -> "Deferred[JobRun]":
        """Move a queued run to running, counting an attempt."""

    def finish_run(
        run_id: int,
        state: RunState,
        now: int,
        duration_ms: int,
        error: Optional[str],
        result: Optional[Mapping[str, Any]],
    ) -> "Deferred[JobRun]":
        """Record the end of a run: succeeded or failed, when, and how long it took."""

    def get_run(run_id: int) -> "Deferred[Optional[JobRun]]":
        """One run by id."""

    def list_runs(
        job: Optional[str], state: Optional[RunState], limit: int
    ) -> "Deferred[list[JobRun]]":
        """Runs, newest first, optionally of one job and/or state."""

    def last_runs() -> "Deferred[Mapping[str, JobRun]]":
        """The newest run of each job."""

    def last_success(job: str) -> "Deferred[Optional[JobRun]]":
        """The newest succeeded run of a job."""

    # heartbeats
    def add_heartbeat(heartbeat: Heartbeat) -> "Deferred[None]":
        """Store one heartbeat."""

    def latest_heartbeats() -> "Deferred[list[Heartbeat]]":
        """The newest heartbeat of each instance, newest first."""

    def heartbeats_for(instance_id: str, limit: int) -> "Deferred[list[Heartbeat]]":
        """One instance's heartbeats, newest first."""

    # actions
    def all_actions() -> "Deferred[list[StoredAction]]":
        """Every action, by id."""

    def create_action(action: Action, now: int) -> "Deferred[StoredAction]":
        """Store a new action; fails with ActionExists when the name is taken."""

    def replace_action(action: Action, now: int) -> "Deferred[Optional[StoredAction]]":
        """Replace the action of that name (keeping its id); None when there is none."""

    def delete_action(name: str) -> "Deferred[bool]":
        """Remove an action; whether there was one."""

    def load_actions(actions: Sequence[Action], now: int, replace: bool) -> "Deferred[int]":
        """Load a set of actions in one transaction: with ``replace``, insert or
        replace each by name; without, only into an empty table (first start).
        Fires with the number written."""

    # trades
    def record_trades(trades: Sequence[Trade], now: int) -> "Deferred[TradeReceipt]":
        """Record a report of trades in one transaction, each once by
        (instance id, trade id): an exact retry changes nothing, a retry with
        other content fails the whole report with ``ledger.TradeConflict``.
        Safe against the same report arriving on several connections at once."""

    def account_buys(account: str, since: int) -> "Deferred[list[Trade]]":
        """One account's buys stamped at or after ``since``, oldest first."""

    def instance_account(instance_id: str) -> "Deferred[Optional[str]]":
        """The account of a bot's newest trade; None when it reported none."""

    # assignments and pins
    def record_assignment(assignment: Assignment) -> "Deferred[None]":
        """Record what a bot was told, replacing its previous assignment."""

    def all_assignments() -> "Deferred[list[Assignment]]":
        """Every bot's recorded assignment, by instance id."""

    def set_pin(pin: Pin, now: int) -> "Deferred[None]":
        """Pin a bot to a task (replacing any pin it had)."""

    def remove_pin(instance_id: str) -> "Deferred[bool]":
        """Remove a bot's pin; whether it had one."""

    def all_pins() -> "Deferred[list[Pin]]":
        """Every pin, by instance id."""


