"""The dedicated thread pool that holds the models and runs every ``predict``.

The reactor thread never runs a model: batches reach the pool through
``deferToThreadPool``. The reply lines are encoded on the worker too, which
keeps that work off the reactor thread's hot path.
"""

from __future__ import annotations

import gc
import time
from typing import Optional, Sequence

import numpy as np
import orjson
from threadpoolctl import threadpool_limits
from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from osrs_twisted.health import Check
from osrs_twisted.inference.batching import BatchOutput
from osrs_twisted.inference.metrics import LOAD_FAILED, LOAD_OK, ModelLoads
from osrs_twisted.policy import LoadedModel, ModelRegistry, PreparedRow

log = Logger()


class PoolStopped(Exception):
    """The pool is not running (not started yet, or stopping)."""


class ModelPoolService(Service):
    """Owns the model registry and the worker thread(s) that run it.

    One worker by default: batching, not threads, is what scales inference
    on a small machine, and numpy code holds the GIL between kernels.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        reactor: IReactorFromThreads,
        threads: int = 1,
        seed: Optional[int] = None,
    ) -> None:
        self.registry = registry
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=threads, maxthreads=threads, name="osrs-model")
        self._rng = np.random.default_rng(seed)
        #: Load events; the start's own loads are the first ones.
        self.loads = ModelLoads()
        for _ in registry.file_models:
            self.loads.record_load(LOAD_OK)
        for _ in registry.skipped:
            self.loads.record_load(LOAD_FAILED)

    @property
    def ready(self) -> bool:
        """Whether every model may serve (``/health/ready``)."""
        return bool(self.running)

    def startService(self) -> None:
        super().startService()
        # BLAS's own threads would fight the reactor and the worker for the
        # cores; batching already fills one core. Measured: 2x throughput.
        threadpool_limits(limits=1)
        # Everything allocated so far (torch, the weights) lives for the
        # process: keep the collector from re-scanning it on every pass.
        gc.freeze()
        self._pool.start()
        log.info(
            "model pool started with {threads} thread(s); models: {names}",
            threads=self._pool.max,
            names=", ".join(self.registry.names),
        )

    def stopService(self) -> "Deferred[None]":
        """Stop the workers; the caller has already let in-flight batches finish."""
        super().stopService()
        self._pool.stop()
        return succeed(None)

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
