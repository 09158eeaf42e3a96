"""SQLite shared by several processes (``--workers``): a commit elsewhere is
signalled here by topic within a second, and concurrent writers wait for
each other instead of failing with ``database is locked``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from osrs_twisted.records import Heartbeat, LatestPrice
from osrs_twisted.store.factory import open_store
from osrs_twisted.store.interface import TOPIC_HEARTBEATS, TOPIC_PRICES
from osrs_twisted.store.sqlite import POLL_INTERVAL
from tests.fixtures import PROJECT_ROOT

#: A writer process: many heartbeats, each in its own transaction, as fast as it can.
WRITER = """
import sys
from twisted.internet import defer, task
from osrs_twisted.records import Heartbeat
from osrs_twisted.store.factory import open_store

async def write(reactor, url, name, count):
    store = open_store(url, reactor)
    await store.start()
    try:
        for n in range(count):
            await store.add_heartbeat(Heartbeat(name, {"n": n}, n))
    finally:
        await store.stop()

def main(reactor, url, name, count):
    return defer.Deferred.fromCoroutine(write(reactor, url, name, int(count)))

task.react(main, sys.argv[1:])
"""


class ChangeSignalTests(TestCase):
    timeout = 30

    @inlineCallbacks
    def test_another_connections_commit_signals_only_its_topics(self) -> Any:
        url = "sqlite:///" + os.path.abspath(self.mktemp())
        writer, reader = open_store(url, reactor), open_store(url, reactor)
        yield writer.start()
        self.addCleanup(writer.stop)
        yield reader.start()
        self.addCleanup(reader.stop)
        heard: list[str] = []
        reader.subscribe(heard.append)
        yield deferLater(reactor, POLL_INTERVAL * 2, lambda: None)
        self.assertEqual(heard, [], "starting signals nothing")

        yield writer.add_heartbeat(Heartbeat("bot-1", {}, 1))
        yield self.heard_within(heard, TOPIC_HEARTBEATS, 1.0)
        self.assertEqual(heard, [TOPIC_HEARTBEATS], "a heartbeat does not make the catalog reload prices")

        yield writer.upsert_latest_prices([LatestPrice(4151, 10, 1, 9, 1)])
        yield self.heard_within(heard, TOPIC_PRICES, 1.0)
        self.assertEqual(heard, [TOPIC_HEARTBEATS, TOPIC_PRICES])

        yield reader.add_heartbeat(Heartbeat("bot-2", {}, 2))
        yield deferLater(reactor, POLL_INTERVAL * 2, lambda: None)
        self.assertEqual(heard, [TOPIC_HEARTBEATS, TOPIC_PRICES, TOPIC_HEARTBEATS],
                         "a store's own commit is signalled once, not again by the poll")

    @inlineCallbacks
    def heard_within(self, heard: list[str], topic: str, seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        while topic not in heard[-1:]:
            self.assertLess(time.monotonic(), deadline, f"{topic} not signalled within {seconds}s: {heard}")
            yield deferLater(reactor, 0.05, lambda: None)


class ConcurrentWriterTests(TestCase):
    timeout = 60

    def test_two_processes_write_at_once(self) -> None:
        path = os.path.abspath(self.mktemp())
        url = "sqlite:///" + path
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, url, f"bot-{n}", "300"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for n in range(2)
        ]
        for writer in writers:
            output, _ = writer.communicate(timeout=50)
            self.assertEqual(writer.returncode, 0, output.decode())
            self.assertNotIn(b"locked", output)
        with sqlite3.connect(path) as connection:
            counts = dict(connection.execute("SELECT instance_id, COUNT(*) FROM heartbeats GROUP BY instance_id"))
            [(seq,)] = connection.execute("SELECT seq FROM change_log WHERE topic = ?", (TOPIC_HEARTBEATS,))
        self.assertEqual(counts, {"bot-0": 300, "bot-1": 300})
        self.assertEqual(seq, 600, "every commit bumped the topic's sequence")
