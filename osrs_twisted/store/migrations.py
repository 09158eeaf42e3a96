"""Versioned schema migrations, kept as data for both dialects.

Each migration runs in the transaction that records it in ``schema_version``,
so a crash never leaves one half applied and re-running is a no-op.
"""

from __future__ import annotations

from typing import Mapping

import attrs

from osrs_twisted.store.interface import SchemaTooNew
from osrs_twisted.store.steps import Dialect, Lock, Op, Query


@attrs.frozen
class Migration:
    version: int
    description: str
    statements: Mapping[Dialect, tuple[str, ...]]


def _both(*statements: str) -> dict[Dialect, tuple[str, ...]]:
    """Statements that read the same in SQLite and PostgreSQL, except for the
    auto-increment key, written ``{serial}``."""
    return {
        "sqlite": tuple(s.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT") for s in statements),
        "postgresql": tuple(s.format(serial="BIGSERIAL PRIMARY KEY") for s in statements),
    }


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "items, prices, price buckets, job runs, heartbeats",
        _both(
            """CREATE TABLE items (
                id BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                examine TEXT NOT NULL,
                members BOOLEAN NOT NULL,
                lowalch BIGINT,
                highalch BIGINT,
                "limit" BIGINT,
                value BIGINT,
                icon TEXT NOT NULL,
                updated BIGINT NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE latest_prices (
                item_id BIGINT PRIMARY KEY,
                high BIGINT,
                high_time BIGINT,
                low BIGINT,
                low_time BIGINT
            )""",
            """CREATE TABLE price_buckets (
                item_id BIGINT NOT NULL,
                timestep TEXT NOT NULL CHECK (timestep IN ('5m', '1h', '6h', '24h')),
                ts BIGINT NOT NULL,
                avg_high DOUBLE PRECISION,
                avg_low DOUBLE PRECISION,
                high_volume BIGINT NOT NULL,
                low_volume BIGINT NOT NULL,
                PRIMARY KEY (item_id, timestep, ts)
            )""",
            "CREATE INDEX price_buckets_newest ON price_buckets (timestep, item_id, ts)",
            "CREATE INDEX price_buckets_ts ON price_buckets (ts)",
            """CREATE TABLE job_runs (
                id {serial},
                job TEXT NOT NULL,
                "trigger" TEXT NOT NULL CHECK ("trigger" IN ('schedule', 'manual')),
                slot BIGINT,
                state TEXT NOT NULL
                    CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                queued_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                duration_ms BIGINT,
                error TEXT,
                result TEXT,
                owner TEXT,
                lease_until BIGINT
            )""",
            """CREATE UNIQUE INDEX job_runs_schedule_slot ON job_runs (job, slot)
                WHERE "trigger" = 'schedule'""",
            "CREATE INDEX job_runs_job ON job_runs (job, id)",
            """CREATE TABLE heartbeats (
                id {serial},
                instance_id TEXT NOT NULL,
                payload TEXT NOT NULL,
                received_at BIGINT NOT NULL
            )""",
            "CREATE INDEX heartbeats_instance ON heartbeats (instance_id, received_at)",
            "CREATE INDEX heartbeats_received ON heartbeats (received_at)",
        ),
    ),
    Migration(
        2,
        "bot command: actions, trades, assignments, pins",
        _both(
            """CREATE TABLE actions (
                id {serial},
                name TEXT NOT NULL UNIQUE,
                record TEXT NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            """CREATE TABLE trades (
                id {serial},
                instance_id TEXT NOT NULL,
                trade_id TEXT NOT NULL,
                account TEXT NOT NULL,
                item_id BIGINT NOT NULL,
                quantity BIGINT NOT NULL,
                price BIGINT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
                time BIGINT NOT NULL,
                received_at BIGINT NOT NULL,
                UNIQUE (instance_id, trade_id)
            )""",
            "CREATE INDEX trades_account_item_time ON trades (account, item_id, time)",
            "CREATE INDEX trades_instance_time ON trades (instance_id, time)",
            """CREATE TABLE assignments (
                instance_id TEXT PRIMARY KEY,
                task TEXT NOT NULL,
                params TEXT NOT NULL,
                source TEXT NOT NULL CHECK (source IN ('pin', 'allocator', 'idle')),
                assigned_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                reason TEXT
            )""",
            """CREATE TABLE pins (
                instance_id TEXT PRIMARY KEY,
                task TEXT NOT NULL,
                params TEXT NOT NULL,
                expires_at BIGINT,
                pinned_at BIGINT NOT NULL
            )""",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

#: Held while migrating, so two processes starting at once migrate in turn.
MIGRATIONS_LOCK = "osrs_twisted schema migrations"


def migrate(dialect: Dialect, now: int, migrations: tuple[Migration, ...] = MIGRATIONS) -> Op[int]:
    """Bring the schema to the newest version; fires with that version."""
    yield Lock(MIGRATIONS_LOCK)
    yield Query(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)"
    )
    current = (yield Query("SELECT MAX(version) FROM schema_version")).rows[0][0] or 0
    latest = migrations[-1].version
    if current > latest:
        raise SchemaTooNew(
            f"the database schema is version {current}, newer than this code "
            f"understands (version {latest}); upgrade osrs-twisted or use another database"
        )
    for migration in migrations:
        if migration.version > current:
            for statement in migration.statements[dialect]:
                yield Query(statement)
            yield Query(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, now),
            )
    return latest
