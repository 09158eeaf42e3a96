"""``twist osrs --workers 2`` in a subprocess on free loopback ports: inference
checked against pvp-ml's reference replies from 50 connections, one
``/health`` for both workers, a SIGKILLed worker replaced, a SIGTERM that
leaves no process behind, a supervisor killed outright taking its workers
with it, and a price written by another process visible through every worker.

Every wait has a deadline; the clients use blocking sockets with timeouts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional, TypeVar

from twisted.trial.unittest import SynchronousTestCase

from tests import pgserver
from tests.fixtures import PROJECT_ROOT, trained_model_path
from tests.policy_helpers import assert_close, reference_cases

T = TypeVar("T")

TOLERANCE = 1e-5
CONNECTIONS = 50

#: Writes one item and its latest price through the store, as the jobs do.
PRICE_WRITER = """
import sys
from twisted.internet import defer, task
from osrs_twisted.records import Item, LatestPrice
from osrs_twisted.store.factory import open_store

async def write(reactor, url, high):
    store = open_store(url, reactor)
    await store.start()
    try:
        await store.upsert_items([Item(4151, "Abyssal whip", "A weapon.", True, 1, 2, 70, 3, "whip.png")])
        await store.upsert_latest_prices([LatestPrice(4151, int(high), 1, int(high) - 10, 1)])
    finally:
        await store.stop()

task.react(lambda reactor, url, high: defer.Deferred.fromCoroutine(write(reactor, url, high)), sys.argv[1:])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, seconds: float, probe: Callable[[], Optional[T]]) -> T:
    """``probe()`` until it returns something, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds}s")
        time.sleep(0.1)


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.split()[1:2] == ["Z"] for line in status if line.startswith("State:"))
    except FileNotFoundError:
        return True


class Server:
    """One ``twist osrs --workers 2`` and what the tests ask of it."""

    def __init__(self, workdir: str, *arguments: str) -> None:
        self.http_port, self.tcp_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_URL", "MODEL_PATH"))}
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        self.log = open(os.path.join(workdir, "server.log"), "w+b")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "twisted", "--log-format=text", "osrs", "--workers", "2",
             "--http", f"tcp:{self.http_port}:interface=127.0.0.1", "--tcp", f"tcp:{self.tcp_port}:interface=127.0.0.1",
             *arguments],
            cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def health(self) -> Optional[dict[str, Any]]:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.output()}")
        try:
            return self.get("/health")[1]
        except OSError:
            return None

    def workers(self) -> Optional[list[dict[str, Any]]]:
        """Every worker once all report running (with a pid), else None."""
        health = self.health()
        if health is None:
            return None
        workers = health["checks"]["workers"]["workers"]
        if len(workers) == 2 and all(w["state"] == "running" and w.get("status") for w in workers):
            return workers
        return None


def exchange(connections: list[socket.socket], requests: list[dict[str, Any]]) -> list[Optional[dict[str, Any]]]:
    """Send one request on each connection, then read each reply (None when
    the connection was closed instead)."""
    for connection, request in zip(connections, requests, strict=True):
        try:
            connection.sendall(json.dumps(request).encode() + b"\n")
        except OSError:
            pass
    replies: list[Optional[dict[str, Any]]] = []
    for connection in connections:
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            data = b""
        replies.append(json.loads(data) if data.endswith(b"\n") else None)
    return replies


class WorkersEndToEndTests(SynchronousTestCase):
    def start(self, *arguments: str) -> Server:
        workdir = self.mktemp()
        os.makedirs(workdir)
        server = Server(workdir, *arguments)
        self.addCleanup(server.close)
        return server

    def connect(self, server: Server, count: int) -> list[socket.socket]:
        connections = [socket.create_connection(("127.0.0.1", server.tcp_port), timeout=30) for _ in range(count)]
        for connection in connections:
            self.addCleanup(connection.close)
        return connections

    def check_replies(self, cases: list[dict[str, Any]], replies: list[Optional[dict[str, Any]]], first: int) -> int:
        """Every reply that came matches its reference case; returns how many came."""
        answered = 0
        for offset, reply in enumerate(replies):
            if reply is None:
                continue
            index = (first + offset) % len(cases)
            self.assertEqual(reply.pop("id"), first + offset)
            assert_close(reply, cases[index]["response"], TOLERANCE, f"case {index}")
            answered += 1
        return answered

    def requests(self, cases: list[dict[str, Any]], first: int, count: int) -> list[dict[str, Any]]:
        return [{**cases[(first + n) % len(cases)]["request"], "id": first + n} for n in range(count)]

    def test_serve_replace_and_stop(self) -> None:
        cases = reference_cases()
        server = self.start("--model", str(trained_model_path()), "--no-demo-model", "--no-jobs",
                            "--database", "sqlite:///osrs.sqlite3")
        workers = until("both workers running", 120, server.workers)
        pids = [w["pid"] for w in workers]
        self.assertEqual(len(set(pids)), 2)
        for pid in pids:
            with open(f"/proc/{pid}/status") as status:
                self.assertIn(f"PPid:\t{server.process.pid}\n", status.read(), "a worker is the supervisor's child")

        connections = self.connect(server, CONNECTIONS)
        sent = 0
        for _ in range(2):
            replies = exchange(connections, self.requests(cases, sent, CONNECTIONS))
            self.assertEqual(self.check_replies(cases, replies, sent), CONNECTIONS)
            sent += CONNECTIONS

        def counted() -> Optional[list[dict[str, Any]]]:
            health = server.health()
            if health is None or health["checks"]["models"]["inference"]["requests"] != sent:
                return None
            return list(health["checks"]["workers"]["workers"])

        spread = until("the /health totals cover every worker", 5, counted)
        for _ in range(10):
            health = server.health()
            assert health is not None
            self.assertEqual(health["checks"]["models"]["inference"]["replies"], sent, "whichever worker answered")
        by_pid = {w["pid"]: w["connections"] for w in spread}
        self.assertEqual(sum(by_pid.values()), CONNECTIONS)

        victim, survivor = pids[1], pids[0]
        os.kill(victim, signal.SIGKILL)
        replies = exchange(connections, self.requests(cases, sent, CONNECTIONS))
        answered = self.check_replies(cases, replies, sent)
        self.assertEqual(answered, by_pid[survivor], "the other worker's connections keep being answered")

        def replaced() -> Optional[list[dict[str, Any]]]:
            workers = server.workers()
            return workers if workers is not None and victim not in [w["pid"] for w in workers] else None

        new_pids = [w["pid"] for w in until("the killed worker replaced", 120, replaced)]
        self.assertIn(survivor, new_pids)
        self.assertIn("exited unexpectedly (signal 9)", server.output())
        fresh = self.connect(server, 10)
        self.assertEqual(self.check_replies(cases, exchange(fresh, self.requests(cases, 0, 10)), 0), 10)

        server.process.send_signal(signal.SIGTERM)
        server.process.wait(40)
        self.assertEqual(server.process.returncode, -signal.SIGTERM, server.output())
        until("every worker gone", 5, lambda: all(gone(pid) for pid in new_pids) or None)
        self.assertIn("osrs stopped", server.output())

    def test_workers_exit_with_their_supervisor(self) -> None:
        server = self.start("--no-jobs", "--database", "sqlite:///osrs.sqlite3")
        pids = [w["pid"] for w in until("both workers running", 120, server.workers)]
        server.process.kill()
        server.process.wait(10)
        until("the workers exit once the pipe closes", 30, lambda: all(gone(pid) for pid in pids) or None)

    def check_price_visible_everywhere(self, database: str, *arguments: str) -> None:
        server = self.start("--no-jobs", "--database", database, *arguments)
        until("both workers running", 120, server.workers)
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        for high in (1000, 2000):
            subprocess.run([sys.executable, "-c", PRICE_WRITER, database, str(high)], env=env, check=True, timeout=60)
            written = time.monotonic()
            time.sleep(max(0.0, written + 1.0 - time.monotonic()))
            for _ in range(20):
                code, body = server.get("/items/4151")
                self.assertEqual(code, 200, body)
                self.assertEqual(body["price"]["high"], high, "every worker sees the write within 1 s")

    def test_price_write_visible_through_every_worker_sqlite(self) -> None:
        self.check_price_visible_everywhere("sqlite:///" + os.path.abspath(self.mktemp()))

    def test_price_write_visible_through_every_worker_postgresql(self) -> None:
        url, drop = pgserver.create_database()
        self.addCleanup(drop)
        self.check_price_visible_everywhere(url)


class WorkersStartFailureTests(SynchronousTestCase):
    def test_an_unloadable_model_stops_the_start(self) -> None:
        workdir = self.mktemp()
        os.makedirs(workdir)
        model = os.path.join(os.path.abspath(workdir), "broken.zip")
        with open(model, "wb") as f:
            f.write(b"not a zip")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_URL", "MODEL_PATH"))}
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        result = subprocess.run(
            [sys.executable, "-m", "twisted", "osrs", "--workers", "2", "--no-jobs", "--model", model,
             "--database", "sqlite:///osrs.sqlite3", "--http", "tcp:0:interface=127.0.0.1",
             "--tcp", "tcp:0:interface=127.0.0.1"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=90,
        )
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn(model, result.stderr, "the worker's own one-line reason")
        self.assertIn("could not start", result.stdout)
