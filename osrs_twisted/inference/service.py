"""The ``tcp`` service: listeners for the line protocol and a graceful stop."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional, Sequence

import attrs
from twisted.application import strports
from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory
from twisted.logger import Logger
from zope.interface import implementer

from osrs_twisted.health import Check
from osrs_twisted.inference.batching import Batcher
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.inference.pool import ModelPoolService
from osrs_twisted.inference.protocol import InferenceFactory
from osrs_twisted.stopping import IBoundedStop, settled_within

log = Logger()


@implementer(IBoundedStop)
class InferenceService(MultiService):
    """Listens on every ``--tcp`` endpoint; on stop, refuses new requests and
    lets queued ones finish within the time given (``drain_timeout`` seconds
    for a plain ``stopService``). ``listen`` makes each listener (strports
    by default; a worker process adopts its supervisor's sockets)."""

    def __init__(
        self,
        pool: ModelPoolService,
        endpoints: Sequence[str],
        reactor: Any,
        max_line_bytes: int,
        max_inflight: int,
        max_batch: int,
        max_queued: int,
        drain_timeout: float = 10.0,
        listen: Optional[Callable[[str, IProtocolFactory], IService]] = None,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.reactor = reactor
        self.metrics = InferenceMetrics()
        self.batcher = Batcher(pool.run_batch, reactor, self.metrics, max_batch, max_queued, pool.registry.get)
        self.factory = InferenceFactory(pool.registry, self.batcher, self.metrics, max_line_bytes, max_inflight)
        self.drain_timeout = drain_timeout
        if listen is None:
            listen = partial(strports.service, reactor=reactor)
        for description in endpoints:
            listen(description, self.factory).setServiceParent(self)

    def check(self) -> Check:
        """The model pool's health, with the inference counters as figures."""
        pool = self.pool.check()
        return attrs.evolve(pool, figures={**pool.figures, "inference": self.metrics})

    def stopService(self) -> "Deferred[None]":
        return self.stopWithin(self.drain_timeout)

    def stopWithin(self, seconds: float) -> "Deferred[None]":
        return Deferred.fromCoroutine(self._stop(seconds))

    async def _stop(self, seconds: float) -> None:
        deadline = self.reactor.seconds() + seconds
        self.factory.stopping = True
        listeners = super().stopService()
        if not await settled_within(self.reactor, seconds, listeners):
            log.warn("inference listeners still closing after {seconds}s", seconds=seconds)
        queued = self.batcher.queued
        drained = await settled_within(self.reactor, deadline - self.reactor.seconds(), self.batcher.drained())
        if drained:
            log.info("inference drained ({queued} request(s) were waiting)", queued=queued)
        else:
            log.warn("stopped with {queued} inference request(s) unanswered", queued=self.batcher.queued)
