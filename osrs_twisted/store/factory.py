"""Pick a runner from a ``--database`` URL (see docs/configuration.md)."""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from osrs_twisted.store.postgres import PostgresRunner
from osrs_twisted.store.runner import Runner
from osrs_twisted.store.sqlite import SQLiteRunner
from osrs_twisted.store.store import Store

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url: str, reactor: IReactorTime) -> Store:
    """A store for ``url``, not yet started.

    ``sqlite:///relative/path``, ``sqlite:////absolute/path``,
    ``sqlite:///:memory:``, ``postgresql://user@host:port/db`` (or
    ``postgres://``). Anything else is a ValueError naming the URL, which the
    server reports as its one-line startup error.
    """
    runner: Runner
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        runner = SQLiteRunner(url[len(SQLITE_PREFIX) :], reactor)
    elif url.startswith(POSTGRES_SCHEMES):
        runner = PostgresRunner(url, reactor)
    else:
        raise ValueError(
            f"unsupported database URL {url!r}: expected sqlite:///relative/path, "
            "sqlite:////absolute/path, sqlite:///:memory: or postgresql://user@host:port/db"
        )
    return Store(runner)
