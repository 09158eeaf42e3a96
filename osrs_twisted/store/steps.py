"""The vocabulary every runner speaks: an operation is a generator that
yields SQL steps and receives their results, so every query and every
decision is written once and each runner only knows how to execute a step.
"""

from __future__ import annotations

from typing import Any, Generator, Literal, Optional, Sequence, TypeVar, Union

import attrs

T = TypeVar("T")

#: The SQL dialects the migrations and statements are written for.
Dialect = Literal["sqlite", "postgresql"]


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


@attrs.frozen
class Lock:
    """Serialise with every other transaction (of any process) that locks the
    same ``key``, until this one ends. SQLite has one writer: nothing to do."""

    key: str


Step = Union[Query, Bulk, Notify, Lock]


@attrs.frozen
class Result:
    """What a step gave back: its rows and how many rows it touched."""

    rows: list[tuple[Any, ...]] = attrs.field(factory=list)
    rowcount: int = 0

    def first(self) -> Optional[tuple[Any, ...]]:
        return self.rows[0] if self.rows else None


Op = Generator[Step, Result, T]
