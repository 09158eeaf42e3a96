"""The vocabulary shared by both backends: an operation is a generator that
yields SQL steps and receives their results, so every query and every
decision is written once and each backend only knows how to execute a step.
"""

from __future__ import annotations

from typing import Any, Generator, Optional, Sequence, TypeVar, Union

import attrs

T = TypeVar("T")

#: Name of the PostgreSQL NOTIFY channel carrying change topics.
CHANNEL = "osrs_changes"


@attrs.frozen
class Query:
    """One statement with ``?`` placeholders; its rows (if any) come back."""

    sql: str
    params: Sequence[Any] = ()


@attrs.frozen
class Bulk:
    """One statement run for many rows; ``sql`` holds ``{values}`` where the
    row tuples go (SQLite: ``executemany``; PostgreSQL: multi-row VALUES)."""

    sql: str
    rows: Sequence[Sequence[Any]]
    width: int


@attrs.frozen
class Notify:
    """Signal ``topic`` to change listeners once the transaction commits."""

    topic: str


Step = Union[Query, Bulk, Notify]


@attrs.frozen
class Result:
    """What a step gave back: its rows and how many rows it touched."""

    rows: list[tuple[Any, ...]] = attrs.field(factory=list)
    rowcount: int = 0

    def first(self) -> Optional[tuple[Any, ...]]:
        return self.rows[0] if self.rows else None


Op = Generator[Step, Result, T]


@attrs.frozen
class Dialect:
    """The few things that differ between the two SQL dialects."""

    name: str
    #: Serialises manual-run creation across processes (SQLite: one writer).
    lock_job: Optional[str]
    #: Serialises migrations across processes.
    lock_migrations: Optional[str]

    def placeholders(self, sql: str) -> str:
        """Turn ``?`` placeholders into the driver's own style."""
        if self.name == "postgresql":
            return sql.replace("%", "%%").replace("?", "%s")
        return sql


SQLITE = Dialect("sqlite", lock_job=None, lock_migrations=None)
POSTGRESQL = Dialect(
    "postgresql",
    lock_job="SELECT pg_advisory_xact_lock(hashtext(?))",
    lock_migrations="SELECT pg_advisory_xact_lock(7306021)",
)
