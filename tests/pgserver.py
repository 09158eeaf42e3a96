"""Find or start a PostgreSQL for tests; never read ``DATABASE_URL``.

Order: ``OSRS_TEST_DATABASE_URL`` when set (its role must be allowed to
create databases); else a throwaway server started once per test run from
the binaries under ``/usr/lib/postgresql/*/bin`` (stopped at exit); else the
test skips, or fails when ``OSRS_REQUIRE_POSTGRES=1``. Each test gets a fresh
database, dropped afterwards. Outage tests get a dedicated server they may
stop and start. Setup runs blocking subprocesses, each bounded in time.
"""

from __future__ import annotations

import atexit
import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit, urlunsplit

import attrs
import psycopg2
from twisted.trial.unittest import SkipTest, SynchronousTestCase

_COMMAND_TIMEOUT = 60


def _bindir() -> Optional[Path]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    return Path(found[-1]) if found else None


def _unavailable(reason: str) -> SkipTest:
    """Skip with ``reason``, or fail the test when CI requires PostgreSQL."""
    if os.environ.get("OSRS_REQUIRE_POSTGRES") == "1":
        raise AssertionError(reason + " (OSRS_REQUIRE_POSTGRES=1)")
    return SkipTest(reason)


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb refuses root: run server commands as the ``postgres`` user then."""
    if os.geteuid() == 0:
        return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]
    return argv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@attrs.define
class ThrowawayServer:
    """A PostgreSQL cluster in a temporary directory, on one fixed port."""

    bindir: Path
    directory: Path
    port: int
    running: bool = False

    @classmethod
    def create(cls) -> "ThrowawayServer":
        bindir = _bindir()
        if bindir is None:
            raise _unavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        directory = Path(tempfile.mkdtemp(prefix="osrs-pg-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
        server = cls(bindir, directory, _free_port())
        server._run(["initdb", "-D", str(server.data), "-U", "postgres", "-A", "trust",
                     "-E", "UTF8", "--no-sync"])
        atexit.register(server.destroy)
        server.start()
        return server

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                   "-c fsync=off -c full_page_writes=off")
        self._run(["pg_ctl", "-D", str(self.data), "-o", options,
                   "-l", str(self.directory / "log"), "-w", "-t", "30", "start"])
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self._run(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"])
        self.running = False

    def destroy(self) -> None:
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, argv: list[str]) -> None:
        argv = [str(self.bindir / argv[0]), *argv[1:]]
        done = subprocess.run(_as_postgres(argv), capture_output=True, text=True,
                              timeout=_COMMAND_TIMEOUT, check=False)
        if done.returncode != 0:
            raise _unavailable(f"{shlex.join(argv)} failed: {done.stderr.strip()[-500:]}")


_shared: Optional[ThrowawayServer] = None


def admin_url() -> str:
    """A URL to a database on a server where tests may create databases."""
    global _shared
    url = os.environ.get("OSRS_TEST_DATABASE_URL")
    if url:
        return url
    if _shared is None:
        _shared = ThrowawayServer.create()
    return _shared.url()


def dedicated_server() -> ThrowawayServer:
    """A server of the test's own, to stop and start mid-test."""
    return ThrowawayServer.create()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def create_database(server_url: Optional[str] = None) -> tuple[str, Callable[[], None]]:
    """Create an empty database; return its URL and a function dropping it."""
    url = server_url or admin_url()
    name = "osrs_t_" + uuid.uuid4().hex[:12]
    _admin(url, f"CREATE DATABASE {name}")
    return _with_database(url, name), lambda: _drop(url, name)


def fresh_database(test: SynchronousTestCase, server_url: Optional[str] = None) -> str:
    """Create an empty database for one test, dropped at its cleanup."""
    url, drop = create_database(server_url)
    test.addCleanup(drop)
    return url


def _drop(url: str, name: str) -> None:
    try:
        _admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except psycopg2.OperationalError:
        pass  # the server is gone (an outage test's own): nothing left to drop


def _admin(url: str, statement: str) -> None:
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def execute(url: str, statement: str) -> list[tuple[object, ...]]:
    """Run one statement on its own blocking connection (test assertions)."""
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        conn.close()
