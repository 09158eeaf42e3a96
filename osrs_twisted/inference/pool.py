"""The dedicated thread pool that holds the models and runs every ``predict``.

The reactor thread never runs a model: batches reach the pool through
``deferToThreadPool``. The reply lines are encoded on the worker too, which
keeps that work off the reactor thread's hot path. Every model warms up on
this thread before it serves: at start (then :attr:`ModelPoolService.ready`)
and, for a reload's new versions, before the swap.
"""

from __future__ import annotations

import gc
import time
from typing import Iterable, Optional, Sequence

import numpy as np
import orjson
from threadpoolctl import threadpool_limits
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from osrs_twisted.health import Check
from osrs_twisted.inference.batching import BatchOutput
from osrs_twisted.policy import LoadedModel, PreparedRow
from osrs_twisted.policy.reload import ServedModels, warmup_row, warmup_sizes
from osrs_twisted.waiters import Waiters

log = Logger()


class PoolStopped(Exception):
    """The pool is not running (not started yet, or stopping)."""


class ModelPoolService(MultiService):
    """Owns the models serving (:class:`ServedModels`) and the worker
    thread(s) that run them; its children (the model reloader) stop before
    the workers do.

    One worker by default: batching, not threads, is what scales inference
    on a small machine, and numpy code holds the GIL between kernels.
    """

    def __init__(
        self,
        registry: ServedModels,
        reactor: IReactorFromThreads,
        threads: int = 1,
        seed: Optional[int] = None,
        max_batch: int = 256,
        warm_at_start: bool = True,
    ) -> None:
        super().__init__()
        self.registry = registry
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=threads, maxthreads=threads, name="osrs-model")
        self._rng = np.random.default_rng(seed)
        self._max_batch = max_batch
        self._warm_at_start = warm_at_start
        self._warmed = not warm_at_start
        self._ready: Waiters[None] = Waiters()

    @property
    def ready(self) -> bool:
        """True once every model loaded at start has warmed up (and while running)."""
        return bool(self.running) and self._warmed

    def startService(self) -> None:
        # BLAS's own threads would fight the reactor and the worker for the
        # cores; batching already fills one core. Measured: 2x throughput.
        threadpool_limits(limits=1)
        # Everything allocated so far (torch, the weights) lives for the
        # process: keep the collector from re-scanning it on every pass.
        gc.freeze()
        self._pool.start()
        super().startService()
        log.info(
            "model pool started with {threads} thread(s); models: {names}",
            threads=self._pool.max,
            names=", ".join(self.registry.names),
        )
        if self._warm_at_start:
            self.warm(self.registry.registry.models.values()).addCallbacks(self._started_warm, self._warm_failed)

    def whenReady(self) -> "Deferred[None]":
        """Fires once :attr:`ready` is (at once if it already is); fails if the warm-up at start fails."""
        return succeed(None) if self.ready else self._ready.wait()

    def _started_warm(self, _: None) -> None:
        self._warmed = True
        self._ready.fire(None)

    def _warm_failed(self, failure: Failure) -> None:
        log.failure("model warm-up failed at start; the server stays unready", failure)
        self._ready.fire(failure)

    def stopService(self) -> "Deferred[None]":
        """Stop the reloader, then the workers; the caller has already let
        in-flight batches finish."""
        return super().stopService().addCallback(lambda _: self._pool.stop())

    def warm(self, models: Iterable[LoadedModel]) -> "Deferred[None]":
        """Run each model's warm-up batches on the model thread, in turn."""
        if not self._pool.started:
            return fail(PoolStopped("the model pool is not running"))
        return deferToThreadPool(self._reactor, self._pool, self._warm_up, tuple(models))

    def _warm_up(self, models: Sequence[LoadedModel]) -> None:
        rng = np.random.default_rng(0)  # not the serving generator: warm-ups leave its sequence alone
        for model in models:
            started = time.perf_counter()
            row = warmup_row(model)
            for size in warmup_sizes(self._max_batch):
                model.predict([row] * size, rng)
            self._reactor.callFromThread(
                log.info, "model {name} warmed up in {ms:.1f} ms", name=model.name,
                ms=(time.perf_counter() - started) * 1000,
            )

    def run_batch(self, model: LoadedModel, rows: Sequence[PreparedRow]) -> "Deferred[BatchOutput]":
        """Run one batch on a worker; fires with one encoded reply line per row."""
        if not self.running:
            return fail(PoolStopped("the model pool is not running"))
        return deferToThreadPool(self._reactor, self._pool, self._predict, model, rows)

    def _predict(self, model: LoadedModel, rows: Sequence[PreparedRow]) -> BatchOutput:
        started = time.perf_counter()
        replies = model.predict(rows, self._rng)
        seconds = time.perf_counter() - started
        return BatchOutput([orjson.dumps(reply, option=orjson.OPT_APPEND_NEWLINE) for reply in replies], seconds)

    def check(self) -> Check:
        """Health of the model side: failing when no model can run."""
        figures = {
            "loaded": self.registry.names,
            "default": self.registry.default_name,
            "skipped": self.registry.skipped,
        }
        if not self.running:
            return Check("failing", "the model pool is not running", figures)
        if self.registry.skipped:
            return Check("degraded", f"{len(self.registry.skipped)} model file(s) skipped", figures)
        if not self.registry.file_models:
            return Check("degraded", "no model file loaded; only the built-in models serve", figures)
        return Check("ok", f"{len(self.registry.names)} model(s) loaded", figures)
