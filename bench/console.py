"""Benchmark the console's fleet page with a large fleet.

Fills a SQLite store with one heartbeat from each of ``--bots`` bots (2,000
by default), starts the real server (``twist osrs --http-only --no-jobs``)
in a subprocess, then measures:

- server: ``GET /console/fleet`` (the JSON the page polls), median and
  worst wall time over ``--requests`` sequential requests, and its size;
- browser: headless Chromium opening ``/ui/fleet.html``: time from the start
  of navigation to the first full render (every bot sorted into the table,
  the rows in view drawn, laid out and painted), and the time to re-render
  it (a filter change, layout included), median over ``--loads``.

Prints JSON. Needs Debian's ``chromium`` and ``chromium-driver`` and the
``selenium`` package (the ``test`` extra).

    .venv/bin/python bench/console.py [--bots 2000] [--requests 20] [--loads 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser import Server, start_browser, wait_for  # noqa: E402

#: The issue's bound on the browser's first full render of 2,000 bots.
TARGET_RENDER_MS = 1000.0

TASKS = ("FISHING", "MINING", "WOODCUTTING", "TAN_LEATHER", "SMITHING", "PVP")


def fill(database: str, bots: int) -> None:
    """One heartbeat per bot, spread over the last ten minutes (runs in its own reactor)."""
    from twisted.internet import task
    from twisted.internet.defer import ensureDeferred

    from osrs_twisted.records import Heartbeat
    from osrs_twisted.store.factory import open_store

    now = int(time.time())

    async def main(reactor: Any) -> None:
        store = open_store(database, reactor)
        await store.start()
        for n in range(bots):
            instance_id = f"bot-{n:05d}"
            payload = {
                "instanceId": instance_id, "task": TASKS[n % len(TASKS)], "hp": 10 + n % 90,
                "x": 3000 + n % 400, "y": 3200 + n % 300, "plane": n % 3, "inCombat": n % 7 == 0,
                "inventoryCount": n % 29, "runEnergy": (n * 7) % 100, "xpGained": {"fishing": n * 13, "magic": n},
            }  # fmt: skip
            await store.add_heartbeat(Heartbeat(instance_id, payload, now - n % 600))
        await store.stop()

    task.react(lambda reactor: ensureDeferred(main(reactor)))


def time_json(base: str, requests: int) -> dict[str, Any]:
    times, size, bots = [], 0, 0
    for _ in range(requests):
        started = time.perf_counter()
        with urllib.request.urlopen(base + "/console/fleet", timeout=30) as response:
            body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        size, bots = len(body), len(orjson.loads(body)["bots"])
    return {"bots": bots, "bytes": size, "medianMs": round(statistics.median(times), 1), "maxMs": round(max(times), 1)}


FIRST_RENDER = """
const table = document.getElementById('fleet');
const rows = table ? Number(table.dataset.rows) : 0;
const stamp = Number(document.body.dataset.rendered || 0);
return rows >= arguments[0] && stamp ? stamp - performance.timeOrigin : null;
"""

RERENDER = """
const search = document.getElementById('fleet-search');
const started = performance.now();
search.value = ''; search.dispatchEvent(new Event('input'));
document.getElementById('fleet').offsetHeight;
return [performance.now() - started, Number(document.getElementById('fleet').dataset.rows)];
"""


def time_browser(base: str, bots: int, loads: int, profile: Path) -> dict[str, Any]:
    driver = start_browser(profile)
    try:
        first, rerender = [], []
        for _ in range(loads):
            driver.get(base + "/ui/fleet.html?refresh=600")
            rendered = wait_for("the full table", lambda: driver.execute_script(FIRST_RENDER, bots), every=0.02)
            first.append(rendered)
            elapsed, rows = driver.execute_script(RERENDER)
            if rows != bots:
                raise SystemExit(f"the table shows {rows} bots, not {bots}")
            rerender.append(elapsed)
    finally:
        driver.quit()
    median_first = statistics.median(first)
    return {
        "firstFullRenderMs": {"median": round(median_first, 1), "runs": [round(t, 1) for t in first]},
        "rerenderMs": {"median": round(statistics.median(rerender), 1), "runs": [round(t, 1) for t in rerender]},
        "target": TARGET_RENDER_MS,
        "met": median_first < TARGET_RENDER_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--fill", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        fill(args.fill, args.bots)
        return
    with tempfile.TemporaryDirectory(prefix="osrs-bench-") as tmp:
        database = "sqlite:///" + os.path.join(tmp, "bench.sqlite3")
        subprocess.run([sys.executable, __file__, "--fill", database, "--bots", str(args.bots)], check=True)
        server = Server(Path(tmp), ("--http-only", "--no-jobs", "--models", tmp), wiki=False, database=database)
        try:
            server.wait_until("the server", lambda: server.get("/health/live")["status"] == "ok")
            report = {
                "server": time_json(server.base, args.requests),
                "browser": time_browser(server.base, args.bots, args.loads, Path(tmp) / "profile"),
            }
        finally:
            server.stop()
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
