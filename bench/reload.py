"""The longest reactor stall while models reload.

Runs the real model pool and reloader on the reactor, with a probe that a
``LoopingCall`` fires every millisecond, and reloads the models directory
``--reloads`` times: each reload adds a copy of the model under a new name
and removes the previous copy, so each one reads, hashes, loads, validates,
builds and warms a whole checkpoint. The files are copied on a thread, as an
operator's deploy would from its own process, so the copy is not timed as a
stall. Prints one JSON object: the largest gap between two probe ticks during
the reloads and that gap less the probe's 1 ms interval (the stall a bot
would feel; the target is at most 5 ms), its p99, the same figures for an
idle stretch of equal length, and the mean reload time.

    .venv/bin/python bench/reload.py --reloads 20
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet import reactor as global_reactor
from twisted.internet import task, threads
from twisted.internet.defer import Deferred, ensureDeferred

import osrs_twisted.service  # noqa: F401  (the whole server's modules: a heap the size of the server's)
from osrs_twisted.heap import freeze_long_lived
from osrs_twisted.inference.pool import ModelPoolService
from osrs_twisted.inference.reload import ModelReloadService
from osrs_twisted.policy import load_registry
from osrs_twisted.policy.reload import ModelSources, ServedModels

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT.parent / "shared" / "fixtures" / "models" / "MyTrainedNh.zip"
PROBE_INTERVAL = 0.001
#: The global reactor, typed as the services take it (it provides threads, time and TCP).
reactor: Any = global_reactor


class Probe:
    """Records the time between consecutive ticks of a 1 ms LoopingCall."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = reactor

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self._loop.start(PROBE_INTERVAL, now=False)

    def stop(self) -> list[float]:
        self._loop.stop()
        return list(self.gaps)


def _figures(gaps: list[float]) -> dict[str, float]:
    ordered = sorted(gaps)
    return {
        "maxGapMs": round(ordered[-1] * 1000, 3),
        # the reactor was late by the gap less the probe's own interval
        "maxStallMs": round((ordered[-1] - PROBE_INTERVAL) * 1000, 3),
        "p99GapMs": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
        "ticks": len(ordered),
    }


def _replace_copy(model: Path, directory: Path, index: int) -> None:
    """What an operator's deploy does to the directory, in its own thread (as it
    would be in its own process): the copy must not be timed as a reactor stall."""
    (directory / f"copy{index - 1}.zip").unlink()
    shutil.copy(model, directory / f"copy{index}.zip")


def _sleep(seconds: float) -> "Deferred[None]":
    return task.deferLater(reactor, seconds, lambda: None)


async def measure(model: Path, reloads: int, max_batch: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="osrs-reload-bench-"))
    try:
        shutil.copy(model, directory / "copy0.zip")
        served = ServedModels(load_registry(directory, [], demo=False))
        pool = ModelPoolService(served, reactor, max_batch=max_batch)
        reloader = ModelReloadService(served, ModelSources(directory, demo=False), reactor, pool.warm)
        reloader.setServiceParent(pool)
        pool.startService()
        await pool.whenReady()
        freeze_long_lived(collect=True)  # as the server does once it has started
        probe = Probe()
        durations = []
        probe.start()
        started = time.perf_counter()
        for index in range(1, reloads + 1):
            await threads.deferToThread(_replace_copy, model, directory, index)
            began = time.perf_counter()
            result = await reloader.reload("api")
            durations.append(time.perf_counter() - began)
            if result.loaded != (f"copy{index}",) or result.failed:
                raise RuntimeError(f"reload {index} did not load the copy: {result}")
        busy = probe.stop()
        elapsed = time.perf_counter() - started
        probe.start()
        await _sleep(elapsed)
        idle = probe.stop()
        await pool.stopService()
        return {
            "model": str(model),
            "modelBytes": model.stat().st_size,
            "reloads": reloads,
            "reloadMsMean": round(statistics.mean(durations) * 1000, 2),
            "duringReloads": _figures(busy),
            "idle": _figures(idle),
            "targetMaxGapMs": 5.0,
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="checkpoint to reload")
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--max-batch", type=int, default=256, help="largest warm-up batch")
    args = parser.parse_args()
    if not args.model.is_file():
        sys.exit(f"no model file at {args.model}")
    outcome: dict[str, Any] = {}

    async def run() -> None:
        try:
            outcome.update(await measure(args.model, args.reloads, args.max_batch))
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(run()))
    reactor.run()
    print(json.dumps(outcome, indent=2))


if __name__ == "__main__":
    main()
