"""Every store operation, written once for every runner, with row mapping.

Ops yield :mod:`~osrs_twisted.store.steps` and get results back; the runner
decides how each step reaches its database. Write ops yield :class:`Notify`
only when something changed. Each public function here is one IStore method
(:class:`~osrs_twisted.store.store.Store` runs it under the same name).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional, Sequence

from osrs_twisted.market.actions import Action, from_record, to_record
from osrs_twisted.market.allocation import Assignment, Pin
from osrs_twisted.market.ledger import Trade, TradeKey, trades_to_record
from osrs_twisted.records import Heartbeat, Item, JobRun, LatestPrice, PriceBucket, RunState, Timestep
from osrs_twisted.store.interface import (
    TOPIC_ACTIONS,
    TOPIC_ASSIGNMENTS,
    TOPIC_BUCKETS,
    TOPIC_HEARTBEATS,
    TOPIC_ITEMS,
    TOPIC_PRICES,
    TOPIC_RUNS,
    TOPIC_TRADES,
    ActionExists,
    RunInProgress,
    RunStateError,
    StoredAction,
    TradeReceipt,
)
from osrs_twisted.store.steps import Bulk, Lock, Notify, Op, Query

Row = Sequence[Any]

ITEM_COLUMNS = 'id, name, examine, members, lowalch, highalch, "limit", value, icon, updated'
PRICE_COLUMNS = "item_id, high, high_time, low, low_time"
BUCKET_COLUMNS = "item_id, timestep, ts, avg_high, avg_low, high_volume, low_volume"
RUN_COLUMNS = (
    'id, job, "trigger", slot, state, attempts, queued_at, started_at, finished_at, '
    "duration_ms, error, result, owner, lease_until"
)
HEARTBEAT_COLUMNS = "instance_id, payload, received_at"
ACTION_COLUMNS = "id, record, updated_at"
TRADE_COLUMNS = "trade_id, instance_id, account, item_id, quantity, price, side, time"
ASSIGNMENT_COLUMNS = "instance_id, task, params, source, assigned_at, expires_at, reason"
PIN_COLUMNS = "instance_id, task, params, expires_at"


def _upsert(table: str, columns: str, key: str) -> str:
    names = [c.strip() for c in columns.split(",")]
    updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in key.split(", "))
    return f"INSERT INTO {table} ({columns}) VALUES {{values}} ON CONFLICT ({key}) DO UPDATE SET {updates}"


UPSERT_ITEMS = _upsert("items", ITEM_COLUMNS, "id")
UPSERT_PRICES = _upsert("latest_prices", PRICE_COLUMNS, "item_id")
UPSERT_BUCKETS = _upsert("price_buckets", BUCKET_COLUMNS, "item_id, timestep, ts")


def item_from_row(row: Row) -> Item:
    return Item(row[0], row[1], row[2], bool(row[3]), *row[4:10])


def price_from_row(row: Row) -> LatestPrice:
    return LatestPrice(*row)


def bucket_from_row(row: Row) -> PriceBucket:
    avg_high, avg_low = (None if v is None else float(v) for v in row[3:5])
    return PriceBucket(row[0], row[1], row[2], avg_high, avg_low, row[5], row[6])


def run_from_row(row: Row) -> JobRun:
    return JobRun(
        id=row[0],
        job=row[1],
        trigger=row[2],
        slot=row[3],
        state=row[4],
        attempts=row[5],
        queued_at=row[6],
        started_at=row[7],
        finished_at=row[8],
        duration_ms=row[9],
        error=row[10],
        result=None if row[11] is None else json.loads(row[11]),
        owner=row[12],
        lease_until=row[13],
    )


def heartbeat_from_row(row: Row) -> Heartbeat:
    return Heartbeat(row[0], json.loads(row[1]), row[2])


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _bulk(sql: str, topic: str, rows: Mapping[Any, tuple[Any, ...]], width: int) -> Op[int]:
    """Upsert rows (deduplicated by key, last one wins: PostgreSQL refuses one
    statement touching a row twice) and signal ``topic``. The upserts build
    ``rows`` before returning this op, so the caller's iterable is read at
    call time, on the caller's thread."""
    if not rows:
        return 0
    yield Bulk(sql, list(rows.values()), width)
    yield Notify(topic)
    return len(rows)


# items


def upsert_items(items: Iterable[Item]) -> Op[int]:
    rows = {
        i.id: (i.id, i.name, i.examine, i.members, i.lowalch, i.highalch, i.limit, i.value, i.icon, i.updated)
        for i in items
    }
    return _bulk(UPSERT_ITEMS, TOPIC_ITEMS, rows, 10)


def get_item(item_id: int) -> Op[Optional[Item]]:
    row = (yield Query(f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))).first()
    return None if row is None else item_from_row(row)


def all_items() -> Op[list[Item]]:
    result = yield Query(f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id")
    return [item_from_row(r) for r in result.rows]


def count_items() -> Op[int]:
    result = yield Query("SELECT COUNT(*) FROM items")
    return int(result.rows[0][0])


# latest prices


def upsert_latest_prices(prices: Iterable[LatestPrice]) -> Op[int]:
    rows = {p.item_id: (p.item_id, p.high, p.high_time, p.low, p.low_time) for p in prices}
    return _bulk(UPSERT_PRICES, TOPIC_PRICES, rows, 5)


def get_latest_price(item_id: int) -> Op[Optional[LatestPrice]]:
    row = (yield Query(f"SELECT {PRICE_COLUMNS} FROM latest_prices WHERE item_id = ?", (item_id,))).first()
    return None if row is None else price_from_row(row)


def all_latest_prices() -> Op[list[LatestPrice]]:
    result = yield Query(f"SELECT {PRICE_COLUMNS} FROM latest_prices ORDER BY item_id")
    return [price_from_row(r) for r in result.rows]


# price buckets


def upsert_buckets(buckets: Iterable[PriceBucket]) -> Op[int]:
    rows = {
        (b.item_id, b.timestep, b.timestamp): (
            b.item_id, b.timestep, b.timestamp, b.avg_high, b.avg_low, b.high_volume, b.low_volume
        )
        for b in buckets
    }
    return _bulk(UPSERT_BUCKETS, TOPIC_BUCKETS, rows, 7)


def price_history(
    item_id: int, timestep: Timestep, since: Optional[int], until: Optional[int], limit: int
) -> Op[list[PriceBucket]]:
    where = ["item_id = ?", "timestep = ?"]
    params: list[Any] = [item_id, timestep]
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts <= ?")
        params.append(until)
    result = yield Query(
        f"SELECT {BUCKET_COLUMNS} FROM (SELECT {BUCKET_COLUMNS} FROM price_buckets "
        f"WHERE {' AND '.join(where)} ORDER BY ts DESC LIMIT ?) newest ORDER BY ts",
        (*params, limit),
    )
    return [bucket_from_row(r) for r in result.rows]


def newest_buckets(timestep: Timestep) -> Op[list[PriceBucket]]:
    cols = ", ".join("b." + c.strip() for c in BUCKET_COLUMNS.split(","))
    result = yield Query(
        f"SELECT {cols} FROM price_buckets b JOIN ("
        "SELECT item_id, MAX(ts) AS ts FROM price_buckets WHERE timestep = ? GROUP BY item_id"
        ") m ON b.item_id = m.item_id AND b.ts = m.ts WHERE b.timestep = ? ORDER BY b.item_id",
        (timestep, timestep),
    )
    return [bucket_from_row(r) for r in result.rows]


def prune(before: int) -> Op[Mapping[str, int]]:
    buckets = (yield Query("DELETE FROM price_buckets WHERE ts < ?", (before,))).rowcount
    heartbeats = (yield Query("DELETE FROM heartbeats WHERE received_at < ?", (before,))).rowcount
    if buckets:
        yield Notify(TOPIC_BUCKETS)
    if heartbeats:
        yield Notify(TOPIC_HEARTBEATS)
    return {"buckets": buckets, "heartbeats": heartbeats}


# job runs


def _run_or_raise(row: Optional[Row], run_id: int, wanted: str) -> JobRun:
    if row is None:
        raise RunStateError(f"run {run_id} does not exist or is not {wanted}")
    return run_from_row(row)


def claim_scheduled_run(job: str, slot: int, owner: str, now: int, lease_seconds: int) -> Op[Optional[JobRun]]:
    lease = now + lease_seconds
    row = (yield Query(
        'INSERT INTO job_runs (job, "trigger", slot, state, attempts, queued_at, started_at, owner, lease_until) '
        "VALUES (?, 'schedule', ?, 'running', 1, ?, ?, ?, ?) "
        "ON CONFLICT (job, slot) WHERE \"trigger\" = 'schedule' DO NOTHING "
        f"RETURNING {RUN_COLUMNS}",
        (job, slot, now, now, owner, lease),
    )).first()
    if row is None:
        row = (yield Query(
            "UPDATE job_runs SET attempts = attempts + 1, owner = ?, lease_until = ?, started_at = ? "
            "WHERE job = ? AND slot = ? AND \"trigger\" = 'schedule' AND state = 'running' "
            f"AND lease_until < ? RETURNING {RUN_COLUMNS}",
            (owner, lease, now, job, slot, now),
        )).first()
    if row is None:
        return None
    yield Notify(TOPIC_RUNS)
    return run_from_row(row)


def create_manual_run(job: str, now: int) -> Op[JobRun]:
    yield Lock(job)
    busy = (yield Query(
        "SELECT id FROM job_runs WHERE job = ? AND (state = 'queued' OR (state = 'running' "
        "AND (lease_until IS NULL OR lease_until >= ?))) ORDER BY id DESC LIMIT 1",
        (job, now),
    )).first()
    if busy is not None:
        raise RunInProgress(job, busy[0])
    row = (yield Query(
        'INSERT INTO job_runs (job, "trigger", slot, state, attempts, queued_at) '
        f"VALUES (?, 'manual', NULL, 'queued', 0, ?) RETURNING {RUN_COLUMNS}",
        (job, now),
    )).first()
    assert row is not None, "INSERT ... RETURNING gives its row"
    yield Notify(TOPIC_RUNS)
    return run_from_row(row)


def start_run(run_id: int, owner: str, now: int, lease_seconds: int) -> Op[JobRun]:
    row = (yield Query(
        "UPDATE job_runs SET state = 'running', attempts = attempts + 1, started_at = ?, owner = ?, "
        f"lease_until = ? WHERE id = ? AND state = 'queued' RETURNING {RUN_COLUMNS}",
        (now, owner, now + lease_seconds, run_id),
    )).first()
    run = _run_or_raise(row, run_id, "queued")
    yield Notify(TOPIC_RUNS)
    return run


def finish_run(
    run_id: int,
    state: RunState,
    now: int,
    duration_ms: int,
    error: Optional[str],
    result: Optional[Mapping[str, Any]],
) -> Op[JobRun]:
    if state not in ("succeeded", "failed"):
        raise ValueError(f"a run finishes as succeeded or failed, not {state!r}")
    row = (yield Query(
        "UPDATE job_runs SET state = ?, finished_at = ?, duration_ms = ?, error = ?, result = ?, "
        f"lease_until = NULL WHERE id = ? RETURNING {RUN_COLUMNS}",
        (state, now, duration_ms, error, None if result is None else _dump(result), run_id),
    )).first()
    run = _run_or_raise(row, run_id, "known")
    yield Notify(TOPIC_RUNS)
    return run


def get_run(run_id: int) -> Op[Optional[JobRun]]:
    row = (yield Query(f"SELECT {RUN_COLUMNS} FROM job_runs WHERE id = ?", (run_id,))).first()
    return None if row is None else run_from_row(row)


def list_runs(job: Optional[str], state: Optional[RunState], limit: int) -> Op[list[JobRun]]:
    where, params = ["1 = 1"], []
    if job is not None:
        where.append("job = ?")
        params.append(job)
    if state is not None:
        where.append("state = ?")
        params.append(state)
    result = yield Query(
        f"SELECT {RUN_COLUMNS} FROM job_runs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [run_from_row(r) for r in result.rows]


def last_runs() -> Op[Mapping[str, JobRun]]:
    result = yield Query(
        f"SELECT {RUN_COLUMNS} FROM job_runs WHERE id IN (SELECT MAX(id) FROM job_runs GROUP BY job) ORDER BY job"
    )
    return {run.job: run for run in map(run_from_row, result.rows)}


def last_success(job: str) -> Op[Optional[JobRun]]:
    row = (yield Query(
        f"SELECT {RUN_COLUMNS} FROM job_runs WHERE job = ? AND state = 'succeeded' ORDER BY id DESC LIMIT 1",
        (job,),
    )).first()
    return None if row is None else run_from_row(row)


# heartbeats


def add_heartbeat(heartbeat: Heartbeat) -> Op[None]:
    yield Query(
        f"INSERT INTO heartbeats ({HEARTBEAT_COLUMNS}) VALUES (?, ?, ?)",
        (heartbeat.instance_id, _dump(heartbeat.payload), heartbeat.received_at),
    )
    yield Notify(TOPIC_HEARTBEATS)


def latest_heartbeats() -> Op[list[Heartbeat]]:
    result = yield Query(
        f"SELECT {HEARTBEAT_COLUMNS} FROM heartbeats h WHERE NOT EXISTS ("
        "SELECT 1 FROM heartbeats n WHERE n.instance_id = h.instance_id AND "
        "(n.received_at > h.received_at OR (n.received_at = h.received_at AND n.id > h.id))"
        ") ORDER BY received_at DESC, instance_id"
    )
    return [heartbeat_from_row(r) for r in result.rows]


def heartbeats_for(instance_id: str, limit: int) -> Op[list[Heartbeat]]:
    result = yield Query(
        f"SELECT {HEARTBEAT_COLUMNS} FROM heartbeats WHERE instance_id = ? ORDER BY received_at DESC, id DESC LIMIT ?",
        (instance_id, limit),
    )
    return [heartbeat_from_row(r) for r in result.rows]


# actions


def action_from_row(row: Row) -> StoredAction:
    return StoredAction(row[0], from_record(row[1]), row[2])


def all_actions() -> Op[list[StoredAction]]:
    result = yield Query(f"SELECT {ACTION_COLUMNS} FROM actions ORDER BY id")
    return [action_from_row(r) for r in result.rows]


def _insert_action(action: Action, now: int) -> Op[Optional[StoredAction]]:
    """Insert unless the name is taken; the stored action, or None."""
    row = (yield Query(
        "INSERT INTO actions (name, record, updated_at) VALUES (?, ?, ?) "
        f"ON CONFLICT (name) DO NOTHING RETURNING {ACTION_COLUMNS}",
        (action.name, to_record(action), now),
    )).first()
    return None if row is None else action_from_row(row)


def _update_action(action: Action, now: int) -> Op[Optional[StoredAction]]:
    row = (yield Query(
        f"UPDATE actions SET record = ?, updated_at = ? WHERE name = ? RETURNING {ACTION_COLUMNS}",
        (to_record(action), now, action.name),
    )).first()
    return None if row is None else action_from_row(row)


def create_action(action: Action, now: int) -> Op[StoredAction]:
    stored = yield from _insert_action(action, now)
    if stored is None:
        raise ActionExists(action.name)
    yield Notify(TOPIC_ACTIONS)
    return stored


def replace_action(action: Action, now: int) -> Op[Optional[StoredAction]]:
    stored = yield from _update_action(action, now)
    if stored is not None:
        yield Notify(TOPIC_ACTIONS)
    return stored


def delete_action(name: str) -> Op[bool]:
    deleted = (yield Query("DELETE FROM actions WHERE name = ?", (name,))).rowcount > 0
    if deleted:
        yield Notify(TOPIC_ACTIONS)
    return deleted


def load_actions(actions: Sequence[Action], now: int, replace: bool) -> Op[int]:
    yield Lock("osrs_twisted actions load")
    if not replace and (yield Query("SELECT COUNT(*) FROM actions")).rows[0][0]:
        return 0
    for action in actions:
        stored = yield from _insert_action(action, now)
        if stored is None:
            yield from _update_action(action, now)
    if actions:
        yield Notify(TOPIC_ACTIONS)
    return len(actions)


# trades


def trade_from_row(row: Row) -> Trade:
    return Trade(*row)


def record_trades(trades: Sequence[Trade], now: int) -> Op[TradeReceipt]:
    """Insert first and let the unique key say which trades were known: two
    connections reporting one trade at once cannot both count it. Rows go in
    key order, so concurrent reports lock shared keys in the same order."""
    incoming = sorted(trades, key=lambda trade: trade.key)
    if not incoming:
        return TradeReceipt(0, 0)
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(incoming))
    params = [
        value
        for t in incoming
        for value in (t.instance_id, t.trade_id, t.account, t.item_id, t.quantity, t.price, t.side, t.time, now)
    ]
    inserted = yield Query(
        "INSERT INTO trades (instance_id, trade_id, account, item_id, quantity, price, side, time, received_at) "
        f"VALUES {values} ON CONFLICT (instance_id, trade_id) DO NOTHING RETURNING instance_id, trade_id",
        params,
    )
    fresh = {(row[0], row[1]) for row in inserted.rows}
    retried = [trade for trade in incoming if trade.key not in fresh]
    stored: dict[TradeKey, Trade] = {}
    for trade in retried:
        row = (yield Query(
            f"SELECT {TRADE_COLUMNS} FROM trades WHERE instance_id = ? AND trade_id = ?",
            (trade.instance_id, trade.trade_id),
        )).first()
        assert row is not None, "a trade the insert skipped is stored"
        stored[trade.key] = trade_from_row(row)
    trades_to_record(stored, retried)  # raises TradeConflict: the transaction rolls back
    if fresh:
        yield Notify(TOPIC_TRADES)
    return TradeReceipt(len(fresh), len(retried))


def account_buys(account: str, since: int) -> Op[list[Trade]]:
    result = yield Query(
        f"SELECT {TRADE_COLUMNS} FROM trades WHERE account = ? AND side = 'buy' AND time >= ? "
        "ORDER BY time, trade_id",
        (account, since),
    )
    return [trade_from_row(r) for r in result.rows]


def instance_account(instance_id: str) -> Op[Optional[str]]:
    row = (yield Query(
        "SELECT account FROM trades WHERE instance_id = ? ORDER BY time DESC, id DESC LIMIT 1", (instance_id,)
    )).first()
    return None if row is None else str(row[0])


# assignments and pins


def assignment_from_row(row: Row) -> Assignment:
    return Assignment(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])


def pin_from_row(row: Row) -> Pin:
    return Pin(row[0], row[1], json.loads(row[2]), row[3])


def record_assignment(assignment: Assignment) -> Op[None]:
    a = assignment
    yield Query(
        _upsert("assignments", ASSIGNMENT_COLUMNS, "instance_id").format(values="(?, ?, ?, ?, ?, ?, ?)"),
        (a.instance_id, a.task, _dump(a.params), a.source, a.assigned_at, a.expires_at, a.reason),
    )
    yield Notify(TOPIC_ASSIGNMENTS)


def all_assignments() -> Op[list[Assignment]]:
    result = yield Query(f"SELECT {ASSIGNMENT_COLUMNS} FROM assignments ORDER BY instance_id")
    return [assignment_from_row(r) for r in result.rows]


def set_pin(pin: Pin, now: int) -> Op[None]:
    yield Query(
        _upsert("pins", f"{PIN_COLUMNS}, pinned_at", "instance_id").format(values="(?, ?, ?, ?, ?)"),
        (pin.instance_id, pin.task, _dump(pin.params), pin.expires_at, now),
    )
    yield Notify(TOPIC_ASSIGNMENTS)


def remove_pin(instance_id: str) -> Op[bool]:
    removed = (yield Query("DELETE FROM pins WHERE instance_id = ?", (instance_id,))).rowcount > 0
    if removed:
        yield Notify(TOPIC_ASSIGNMENTS)
    return removed


def all_pins() -> Op[list[Pin]]:
    result = yield Query(f"SELECT {PIN_COLUMNS} FROM pins ORDER BY instance_id")
    return [pin_from_row(r) for r in result.rows]
