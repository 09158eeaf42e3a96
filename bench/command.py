"""Benchmark bot command: ``GET /task/`` for a fleet, and ``POST /trades``.

Fills a store with ~4,500 items, prices and 24 h volumes, ``--bots``
heartbeats (skills, members, account) and writes ``--actions`` actions to an
actions file; starts the real server (``twist osrs --http-only --no-jobs``)
in a subprocess; lets every bot ask once (its assignment is recorded), then
drives, from ``--clients`` processes on keep-alive connections:

- ``GET /task/?instanceId=bot-N`` (random bots) and ``GET /health/live``
  (the baseline, a route doing nothing) in the same run, on SQLite;
- ``POST /trades`` (one new trade per request) on SQLite and PostgreSQL
  (``OSRS_TEST_DATABASE_URL``, or a throwaway server from tests/pgserver.py).

Prints JSON with answers per second, their ratio and the targets.

    .venv/bin/python bench/command.py [--bots 2000] [--actions 100] [--items 4500] [--seconds 5] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_TASK_RPS = 2000
TARGET_TASK_RATIO = 0.5
TARGET_TRADES_RPS = 1000
FIRST_ID = 2
SKILLS = ("crafting", "herblore", "smithing", "fletching", "magic")


def fill(database: str, items: int, bots: int) -> None:
    """Items, prices, volumes and one heartbeat per bot (in its own reactor)."""
    from twisted.internet import task
    from twisted.internet.defer import ensureDeferred

    from osrs_twisted.records import Heartbeat, Item, LatestPrice, PriceBucket
    from osrs_twisted.store.factory import open_store

    now = int(time.time())
    rng = random.Random(7)

    async def main(reactor: Any) -> None:
        store = open_store(database, reactor)
        await store.start()
        ids = range(FIRST_ID, FIRST_ID + items)
        await store.upsert_items(
            Item(i, f"Bench item {i}", "A benchmark item.", i % 2 == 0, i * 4, i * 6, 1000 + i % 9000, i * 10, "i.png")
            for i in ids
        )
        await store.upsert_latest_prices(LatestPrice(i, i * 7 + 50, now - 30, i * 7, now - 60) for i in ids)
        await store.upsert_buckets(PriceBucket(i, "24h", now - now % 86400, 1.0, 1.0, 10**7, 10**7) for i in ids)
        for n in range(bots):
            payload = {
                "instanceId": f"bot-{n}", "account": f"account-{n}", "members": n % 3 != 0,
                "skills": {skill: rng.randint(1, 99) for skill in SKILLS},
            }  # fmt: skip
            await store.add_heartbeat(Heartbeat(f"bot-{n}", payload, now))
        await store.stop()

    task.react(lambda reactor: ensureDeferred(main(reactor)))


def actions_document(count: int, items: int) -> dict[str, Any]:
    """``count`` actions over the bench items, most of them profitable."""
    rng = random.Random(11)
    actions = []
    for n in range(count):
        inputs = rng.sample(range(FIRST_ID, FIRST_ID + items), 2)
        output = rng.randrange(FIRST_ID, FIRST_ID + items)
        actions.append({
            "name": f"BENCH_ACTION_{n}", "type": f"BENCH_TYPE_{n % 10}", "params": {"n": n},
            "inputs": [{"itemId": item_id, "quantity": 1} for item_id in inputs],
            "outputs": [{"itemId": output, "quantity": rng.randint(1, 4)}],
            "requirements": {"skills": {rng.choice(SKILLS): rng.randint(1, 80)}},
            "actionsPerHour": rng.randint(200, 3000), "experience": {rng.choice(SKILLS): 10.0},
            "members": n % 4 == 0,
        })  # fmt: skip
    return {"actions": actions}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(database: str, actions_file: Path, directory: str) -> Iterator[int]:
    port = free_port()
    twist = Path(sys.executable).with_name("twist")
    process = subprocess.Popen(
        [str(twist), "osrs", "--http-only", "--no-jobs", "--database", database, "--actions-file", str(actions_file),
         "--http", f"tcp:{port}:interface=127.0.0.1", "--models", directory],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with status {process.returncode}")
            try:
                if request(port, "GET", "/actions")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer /actions in time")
            time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def request(port: int, method: str, path: str, body: Optional[bytes] = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def drive(port: int, kind: str, seconds: float, bots: int, worker: int, item_id: int) -> int:
    """One client process: requests of ``kind`` back to back on one connection; how many answered 200."""
    rng = random.Random(worker)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    done = 0
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < deadline:
        body: Optional[bytes] = None
        if kind == "task":
            method, path = "GET", f"/task/?instanceId=bot-{rng.randrange(bots)}"
        elif kind == "live":
            method, path = "GET", "/health/live"
        else:
            method, path = "POST", "/trades"
            body = orjson.dumps({
                "tradeId": f"w{worker}-{done}", "instanceId": f"bot-{worker}", "account": f"account-{worker}",
                "itemId": item_id, "quantity": 1, "price": 100, "side": "buy", "time": int(time.time()),
            })  # fmt: skip
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{method} {path} answered {response.status}")
        done += 1
    connection.close()
    return done


def rate(port: int, kind: str, seconds: float, clients: int, bots: int, item_id: int = FIRST_ID) -> float:
    with ProcessPoolExecutor(clients) as pool:
        futures = [pool.submit(drive, port, kind, seconds, bots, worker, item_id) for worker in range(clients)]
        return round(sum(future.result() for future in futures) / seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=2000)
    parser.add_argument("--actions", type=int, default=100)
    parser.add_argument("--items", type=int, default=4500)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--fill", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        fill(args.fill, args.items, args.bots)
        return
    report: dict[str, Any] = {"bots": args.bots, "actions": args.actions, "items": args.items,
                              "seconds": args.seconds, "clients": args.clients}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="osrs-bench-") as tmp:
        actions_file = Path(tmp) / "actions.json"
        actions_file.write_bytes(orjson.dumps(actions_document(args.actions, args.items)))
        databases = {"sqlite": "sqlite:///" + os.path.join(tmp, "bench.sqlite3")}
        drop = None
        if not args.sqlite_only:
            from twisted.trial.unittest import SkipTest

            from tests import pgserver

            try:
                databases["postgresql"], drop = pgserver.create_database()
            except SkipTest as reason:
                report["postgresql"] = {"skipped": str(reason)}
        try:
            for backend, database in databases.items():
                fill_args = ["--fill", database, "--items", str(args.items), "--bots", str(args.bots)]
                subprocess.run([sys.executable, __file__, *fill_args], check=True)
                with server(database, actions_file, tmp) as port:
                    result: dict[str, Any] = {}
                    if backend == "sqlite":
                        began = time.perf_counter()
                        tasks = [orjson.loads(request(port, "GET", f"/task/?instanceId=bot-{n}")[1])["task"]
                                 for n in range(args.bots)]  # fmt: skip
                        result["firstAsk"] = {"seconds": round(time.perf_counter() - began, 2),
                                              "idle": tasks.count("IDLE")}  # fmt: skip
                        task_rps = rate(port, "task", args.seconds, args.clients, args.bots)
                        live_rps = rate(port, "live", args.seconds, args.clients, args.bots)
                        result["task"] = {"rps": task_rps, "liveRps": live_rps, "ratio": round(task_rps / live_rps, 3),
                                          "met": task_rps >= TARGET_TASK_RPS
                                          and task_rps / live_rps >= TARGET_TASK_RATIO}  # fmt: skip
                    trades_rps = rate(port, "trades", args.seconds, args.clients, args.bots)
                    result["trades"] = {"rps": trades_rps, "met": trades_rps >= TARGET_TRADES_RPS}
                    report[backend] = result
        finally:
            if drop is not None:
                drop()
    report["targets"] = {"taskRps": TARGET_TASK_RPS, "taskRatio": TARGET_TASK_RATIO, "tradesRps": TARGET_TRADES_RPS}
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
