"""Pick a backend from a ``--database`` URL (see spec/configuration.md)."""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from osrs_twisted.store.interface import IStore
from osrs_twisted.store.postgres import PostgresStore
from osrs_twisted.store.sqlite import SQLiteStore

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url: str, reactor: IReactorTime) -> IStore:
    """A store for ``url``, not yet started.

    ``sqlite:///relative/path``, ``sqlite:////absolute/path``,
    ``sqlite:///:memory:``, ``postgresql://user@host:port/db`` (or
    ``postgres://``). Anything else is a ValueError naming the URL, which the
    server reports as its one-line startup error.
    """
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        return SQLiteStore(url[len(SQLITE_PREFIX) :], reactor)
    if url.startswith(POSTGRES_SCHEMES):
        return PostgresStore(url, reactor)
    raise ValueError(
        f"unsupported database URL {url!r}: expected sqlite:///relative/path, "
        "sqlite:////absolute/path, sqlite:///:memory: or postgresql://user@host:port/db"
    )
