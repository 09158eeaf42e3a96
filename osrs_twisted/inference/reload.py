"""Model reload while serving: SIGHUP, ``POST /models/reload`` and the poll.

A reload reads, hashes and loads files on a dedicated loader thread (never
the reactor's, never the model thread), warms the new versions up on the
model thread, then swaps the served registry on the reactor thread in one
assignment. No connection is touched. Reloads never overlap: one runs, and
at most one more waits, taking in every trigger that came while it waited
(docs/models.md, "Model reload").
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Callable, Iterable, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from osrs_twisted.heap import freeze_long_lived
from osrs_twisted.policy import LoadedModel
from osrs_twisted.policy.reload import (
    Fingerprint,
    ModelSources,
    ReloadPlan,
    ReloadResult,
    ServedModels,
    Trigger,
    plan_reload,
)
from osrs_twisted.stopping import IBoundedStop, settled_within
from osrs_twisted.waiters import Waiters

log = Logger()

#: Python's thread switch interval while a reload runs. The default (5 ms)
#: lets the loader thread hold the GIL that long between switches, which the
#: reactor would feel as a stall of as much; 1 ms keeps it under 5 ms
#: (bench/reload.py measures it).
RELOAD_SWITCH_INTERVAL = 0.001

#: Warms new model versions up before they serve (the model thread's
#: ``ModelPoolService.warm``; a process without one passes :func:`no_warm_up`).
WarmUp = Callable[[Iterable[LoadedModel]], "Deferred[None]"]


def no_warm_up(models: Iterable[LoadedModel]) -> "Deferred[None]":
    """For a process that describes models but never runs them (``--http-only``)."""
    return succeed(None)


@implementer(IBoundedStop)
class ModelReloadService(Service):
    """Reloads the models on request; on SIGHUP when ``sighup`` is set; and
    every ``poll`` seconds (0: never) when the model files' names, sizes or
    mtimes changed."""

    def __init__(
        self,
        served: ServedModels,
        sources: ModelSources,
        reactor: Any,
        warm: WarmUp = no_warm_up,
        poll: float = 0.0,
        sighup: bool = False,
        loader: Optional[ThreadPool] = None,
    ) -> None:
        self.served = served
        self.sources = sources
        self.reactor = reactor
        self.warm = warm
        self.poll = poll
        self.sighup = sighup
        self._loader = loader or ThreadPool(minthreads=0, maxthreads=1, name="osrs-model-loader")
        self._running: Optional[Deferred[ReloadResult]] = None
        self._queued: Optional[Waiters[ReloadResult]] = None
        self._queued_trigger: Trigger = "api"
        self._poller: Optional[LoopingCall] = None
        self._fingerprint: Optional[Fingerprint] = None
        self._previous_handler: Any = None

    def startService(self) -> None:
        super().startService()
        self._loader.start()
        if self.sighup:
            self._previous_handler = signal.signal(
                signal.SIGHUP, lambda *_: self.reactor.callFromThread(self._signalled)
            )
        if self.poll > 0:
            self._poller = LoopingCall(lambda: Deferred.fromCoroutine(self._poll_once()))
            self._poller.clock = self.reactor
            self._poller.start(self.poll, now=True)

    def stopService(self) -> "Deferred[None]":
        return self.stopWithin(10.0)

    def stopWithin(self, seconds: float) -> "Deferred[None]":
        super().stopService()
        if self.sighup:
            signal.signal(signal.SIGHUP, self._previous_handler)
        if self._poller is not None and self._poller.running:
            self._poller.stop()
        return Deferred.fromCoroutine(self._stop(seconds))

    async def _stop(self, seconds: float) -> None:
        # A stopped service starts no queued reload: the running one is the last.
        running = self._running
        if running is not None and not await settled_within(self.reactor, seconds, running):
            log.warn("a model reload was still running after {seconds}s; stopping its thread", seconds=seconds)
        self._loader.stop()

    @property
    def reloading(self) -> bool:
        return self._running is not None

    def reload(self, trigger: Trigger = "api") -> "Deferred[ReloadResult]":
        """Reload now, or, while one runs, once more right after it (triggers
        that come meanwhile share that one). Fires with what it did."""
        if self._running is None:
            return self._start(trigger)
        if self._queued is None:
            self._queued = Waiters()
            self._queued_trigger = trigger
        return self._queued.wait()

    def _start(self, trigger: Trigger) -> "Deferred[ReloadResult]":
        running = self._running = Deferred.fromCoroutine(self._reload(trigger))
        running.addBoth(self._finished)
        result: Deferred[ReloadResult] = Deferred()
        running.chainDeferred(result)
        return result

    def _finished(self, outcome: "ReloadResult | Failure") -> "ReloadResult | Failure":
        self._running = None
        queued, self._queued = self._queued, None
        if queued is not None and self.running:
            self._start(self._queued_trigger).addBoth(queued.fire)
        elif queued is not None:
            queued.fire(outcome)
        return outcome

    async def _reload(self, trigger: Trigger) -> ReloadResult:
        started_at = self.reactor.seconds()
        log.info("model reload started ({trigger})", trigger=trigger)
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, RELOAD_SWITCH_INTERVAL))
        try:
            plan: ReloadPlan = await deferToThreadPool(
                self.reactor, self._loader, plan_reload, self.served.registry, self.sources
            )
            plan = await self._warmed(plan)
        except Exception:
            self.served.reloads["error"] += 1
            log.failure("model reload ({trigger}) failed", trigger=trigger)
            raise
        finally:
            sys.setswitchinterval(switch_interval)
        result = plan.result(trigger, started_at, self.reactor.seconds())
        self.served.swap(plan, result)
        freeze_long_lived()  # the new versions live long; no full pass (it would stall)
        self._report(result)
        return result

    async def _warmed(self, plan: ReloadPlan) -> ReloadPlan:
        """``plan`` less any new version whose warm-up fails."""
        for model in plan.new_models:
            try:
                await self.warm([model])
            except Exception as error:
                plan = plan.reject(model.name, f"warm-up failed: {error}")
        return plan

    def _report(self, result: ReloadResult) -> None:
        for warning in result.warnings:
            log.warn("{model_warning}", model_warning=warning)
        for failed in result.failed:
            log.error("model file {path} failed to load: {error}", path=str(failed.path), error=failed.error)
        log.info(
            "model reload ({trigger}) {outcome}: loaded {loaded}, replaced {replaced}, removed {removed}, "
            "failed {failed}, unchanged {unchanged}",
            trigger=result.trigger,
            outcome=result.outcome,
            loaded=list(result.loaded),
            replaced=list(result.replaced),
            removed=list(result.removed),
            failed=[str(f.path) for f in result.failed],
            unchanged=list(result.unchanged),
        )

    def _signalled(self) -> None:
        log.info("SIGHUP: reloading the models")
        self.reload("signal").addErrback(lambda _: None)  # logged and counted by _reload

    async def _poll_once(self) -> None:
        """One poll: reload when the files' fingerprint changed since the last."""
        try:
            fingerprint = await deferToThreadPool(self.reactor, self._loader, self.sources.fingerprint)
            if self._fingerprint is not None and fingerprint != self._fingerprint:
                await self.reload("poll")
            self._fingerprint = fingerprint
        except Exception:
            log.failure("model poll failed")
