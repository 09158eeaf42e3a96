"""Benchmark the HTTP API's hot read against a trivial route.

Fills a SQLite store with ~4,500 items, prices and 24 h buckets, starts the
real server (``twist osrs --http-only --no-jobs``) in a subprocess and drives
``GET /items/{id}`` (random ids) and ``GET /health/live`` (the baseline: a
Klein route doing nothing) with ``wrk`` over 64 connections. Prints JSON
with the median requests/second of each and their ratio.

    .venv/bin/python bench/http_api.py [--items 4500] [--runs 3] [--seconds 5] [--connections 64]

Needs ``wrk`` (Debian: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

TARGET_RPS = 2000
TARGET_RATIO = 0.60

LUA = """
math.randomseed(42)
local first, count = %d, %d
request = function()
  return wrk.format("GET", "/items/" .. (first + math.random(0, count - 1)))
end
"""


def fill(database: str, count: int) -> None:
    """Write the items, prices and buckets (runs in its own reactor)."""
    from twisted.internet import task
    from twisted.internet.defer import ensureDeferred

    from osrs_twisted.records import Item, LatestPrice, PriceBucket
    from osrs_twisted.store.factory import open_store

    now = int(time.time())

    async def main(reactor: Any) -> None:
        store = open_store(database, reactor)
        await store.start()
        ids = range(2, 2 + count)
        await store.upsert_items(
            Item(i, f"Bench item {i}", "A benchmark item.", i % 2 == 0, i * 4, i * 6, 100 + i % 900, i * 10, f"{i}.png")
            for i in ids
        )
        await store.upsert_latest_prices(LatestPrice(i, i * 7 + 50, now - 30, i * 7, now - 60) for i in ids)
        await store.upsert_buckets(PriceBucket(i, "24h", now - now % 86400, i * 7.0, i * 7.0 - 1, i, i) for i in ids)
        await store.stop()

    task.react(lambda reactor: ensureDeferred(main(reactor)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_live(base: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/items/2", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer /items/2 in time (catalog not loaded?)")


def run_wrk(url: str, seconds: int, connections: int, script: Path | None) -> float:
    argv = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    done = subprocess.run(argv + [url], capture_output=True, text=True, timeout=seconds + 30, check=True)
    match = re.search(r"Requests/sec:\s+([0-9.]+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if match is None or errors is not None:
        raise SystemExit(f"wrk failed or saw errors:\n{done.stdout}{done.stderr}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=4500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--fill", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        fill(args.fill, args.items)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")

    with tempfile.TemporaryDirectory(prefix="osrs-bench-") as tmp:
        database = "sqlite:///" + os.path.join(tmp, "bench.sqlite3")
        subprocess.run([sys.executable, __file__, "--fill", database, "--items", str(args.items)], check=True)
        script = Path(tmp) / "items.lua"
        script.write_text(LUA % (2, args.items))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        twist = Path(sys.executable).with_name("twist")
        server = subprocess.Popen(
            [str(twist), "osrs", "--http-only", "--no-jobs", "--database", database,
             "--http", f"tcp:{port}:interface=127.0.0.1", "--models", tmp],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_until_live(base, server)
            items, live = [], []
            for _ in range(args.runs):
                items.append(run_wrk(base + "/items/2", args.seconds, args.connections, script))
                live.append(run_wrk(base + "/health/live", args.seconds, args.connections, None))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)

    items_rps, live_rps = statistics.median(items), statistics.median(live)
    report = {
        "connections": args.connections,
        "items": args.items,
        "runs": args.runs,
        "seconds": args.seconds,
        "itemsById": {"median": items_rps, "runs": items},
        "healthLive": {"median": live_rps, "runs": live},
        "ratio": round(items_rps / live_rps, 3),
        "targets": {"rps": TARGET_RPS, "ratio": TARGET_RATIO},
        "met": items_rps >= TARGET_RPS and items_rps / live_rps >= TARGET_RATIO,
    }
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
