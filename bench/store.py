"""Store benchmark: bulk upsert of 4,500 latest prices and item lookup by id,
on SQLite (temp file) and PostgreSQL (OSRS_TEST_DATABASE_URL, or a throwaway
server from tests/pgserver.py). Prints one JSON summary.

    .venv/bin/python bench/store.py [--runs 9] [--lookups 500] [--sqlite-only]

Targets: upsert median <= 150 ms, lookup median <= 1 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.interfaces import IReactorTime  # noqa: E402
from twisted.internet.task import react  # noqa: E402
from twisted.trial.unittest import SkipTest  # noqa: E402

from osrs_twisted.records import Item, LatestPrice  # noqa: E402
from osrs_twisted.store.interface import IStore  # noqa: E402
from osrs_twisted.store.postgres import PostgresRunner  # noqa: E402
from osrs_twisted.store.sqlite import SQLiteRunner  # noqa: E402
from osrs_twisted.store.store import Store  # noqa: E402
from tests import pgserver  # noqa: E402

ROWS = 4500
UPSERT_TARGET_MS = 150.0
LOOKUP_TARGET_MS = 1.0


async def measure(store: IStore, runs: int, lookups: int) -> dict[str, Any]:
    await store.start()
    try:
        upserts = []
        for run in range(runs):
            prices = [LatestPrice(i, 2**33 + i * run, 1700000000 + run, i, 1700000000) for i in range(ROWS)]
            began = time.perf_counter()
            await store.upsert_latest_prices(prices)
            upserts.append((time.perf_counter() - began) * 1000)
        items = [Item(i, f"item {i}", "examine", i % 2 == 0, 1, 2, 3, 4, "icon.png") for i in range(ROWS)]
        await store.upsert_items(items)
        rng = random.Random(1)
        lookup_ms = []
        for _ in range(lookups):
            began = time.perf_counter()
            await store.get_item(rng.randrange(ROWS))
            lookup_ms.append((time.perf_counter() - began) * 1000)
    finally:
        await store.stop()
    upsert_median = statistics.median(upserts)
    lookup_median = statistics.median(lookup_ms)
    return {
        "upsert_4500_latest_prices_ms": {
            "median": round(upsert_median, 2), "min": round(min(upserts), 2), "max": round(max(upserts), 2),
            "runs": runs, "target": UPSERT_TARGET_MS, "ok": upsert_median <= UPSERT_TARGET_MS,
        },
        "get_item_ms": {
            "median": round(lookup_median, 3), "p95": round(statistics.quantiles(lookup_ms, n=20)[-1], 3),
            "lookups": lookups, "target": LOOKUP_TARGET_MS, "ok": lookup_median <= LOOKUP_TARGET_MS,
        },
    }


async def main(reactor: IReactorTime, argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--lookups", type=int, default=500)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args(argv)
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        store = Store(SQLiteRunner(str(Path(directory) / "bench.sqlite3"), reactor))
        summary["sqlite"] = await measure(store, args.runs, args.lookups)
    if not args.sqlite_only:
        try:
            url, drop = pgserver.create_database()
        except SkipTest as reason:
            summary["postgresql"] = {"skipped": str(reason)}
        else:
            try:
                summary["postgresql"] = await measure(Store(PostgresRunner(url, reactor)), args.runs, args.lookups)
            finally:
                drop()
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    react(lambda reactor: Deferred.fromCoroutine(main(reactor, sys.argv[1:])))
