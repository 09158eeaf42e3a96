"""Cross-connection micro-batching in front of the model thread.

One batch is in flight at a time. A request that arrives while the pool is
idle goes at once, alone, so a lone bot waits for nothing; requests that
arrive while a batch runs queue per model name and leave together, up to
``max_batch`` rows, as soon as the running batch returns. There is no timed
collection window: the batch size follows the load by itself.

A model reload may swap the version serving a name while rows wait: the
version is resolved when the batch leaves, so queued rows go to the newest
version (when it takes the same input as the one they were checked against),
and a running batch finishes on the version it started with.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional, Sequence, Union

import attrs
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.policy import LoadedModel, PreparedRow
from osrs_twisted.waiters import Waiters


@attrs.frozen
class BatchOutput:
    """A batch's reply lines, one per row in order, and the seconds spent
    inside ``predict`` (measured on the model thread, for metrics)."""

    lines: list[bytes]
    compute_seconds: float = 0.0


#: Runs one batch of rows for one model off the reactor thread.
RunBatch = Callable[[LoadedModel, Sequence[PreparedRow]], "Deferred[BatchOutput]"]

#: The version now serving a name (None once it is unloaded).
CurrentModel = Callable[[str], Optional[LoadedModel]]

#: Receives one request's outcome: its encoded reply line, or the failure of
#: the batch it was in. A plain callable, not a Deferred per request: this
#: is the hot path, and nothing else ever waits on one request.
Deliver = Callable[[Union[bytes, Failure]], None]


class Overloaded(Exception):
    """The bound on queued requests is reached."""


@attrs.define
class _Waiting:
    model: LoadedModel
    row: PreparedRow
    deliver: Deliver
    since: float


class Batcher:
    """Stacks requests for the same model into one ``predict`` call."""

    def __init__(
        self,
        run_batch: RunBatch,
        clock: IReactorTime,
        metrics: InferenceMetrics,
        max_batch: int,
        max_queued: int,
        current: Optional[CurrentModel] = None,
    ) -> None:
        """``current`` gives the version serving a name at dispatch; without
        it each row runs on the model it was submitted with."""
        self._run_batch = run_batch
        self._current = current
        self._clock = clock
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_queued = max_queued
        self._queues: dict[str, deque[_Waiting]] = {}
        self._queued = 0
        self._busy = False
        self._drained: Waiters[None] = Waiters()

    @property
    def queued(self) -> int:
        """Requests waiting for the model thread (not counting the running batch)."""
        return self._queued

    def submit(self, model: LoadedModel, row: PreparedRow, deliver: Deliver) -> None:
        """Queue one row; ``deliver`` gets its outcome later. Raises
        :class:`Overloaded` at once when the queue is full."""
        if self._queued >= self._max_queued:
            raise Overloaded(f"{self._queued} requests are already waiting for the model")
        queue = self._queues.get(model.name)
        if queue is None:
            queue = self._queues[model.name] = deque()
        queue.append(_Waiting(model, row, deliver, self._clock.seconds()))
        self._queued += 1
        self._metrics.set_queued(self._queued)
        if not self._busy:
            self._dispatch()

    def drained(self) -> "Deferred[None]":
        """Fires when nothing is queued or running: for a graceful stop."""
        if not self._busy and not self._queued:
            return succeed(None)
        return self._drained.wait()

    def _oldest_queue(self) -> Optional[deque[_Waiting]]:
        waiting = [queue for queue in self._queues.values() if queue]
        return min(waiting, key=lambda queue: queue[0].since, default=None)

    def _target(self, waiting: _Waiting) -> LoadedModel:
        """The version a queued row runs on: the one serving its name now, when
        it takes the same input as the row's own; otherwise the row's own."""
        if self._current is None:
            return waiting.model
        current = self._current(waiting.model.name)
        if current is None or current is waiting.model or current.spec != waiting.model.spec:
            return waiting.model
        return current

    def _dispatch(self) -> None:
        queue = self._oldest_queue()
        if queue is None:
            self._drained.fire(None)
            return
        first = queue[0].model
        model = self._target(queue[0])
        batch = [queue.popleft()]
        # Rows checked against the first row's version or the target one run
        # together (identity tests: this is the hot path); others wait.
        while queue and len(batch) < self._max_batch and (queue[0].model is first or queue[0].model is model):
            batch.append(queue.popleft())
        take = len(batch)
        self._queued -= take
        self._metrics.set_queued(self._queued)
        self._metrics.batches.add(take)
        self._busy = True
        self._run_batch(model, [w.row for w in batch]).addBoth(
            self._finished, batch, model.name, self._clock.seconds()
        )

    def _finished(self, result: "BatchOutput | Failure", batch: list[_Waiting], model: str, dispatched: float) -> None:
        now = self._clock.seconds()
        latency = self._metrics.latency_ms
        if isinstance(result, Failure):
            for waiting in batch:
                waiting.deliver(result)
        else:
            figures = self._metrics.model(model)
            figures.ok += len(batch)
            figures.batch_size.add(len(batch))
            figures.compute_ms.add(result.compute_seconds * 1000.0)
            queue_wait = figures.queue_wait_ms
            for waiting, line in zip(batch, result.lines, strict=False):
                since = waiting.since
                latency.add((now - since) * 1000.0)
                queue_wait.add((dispatched - since) * 1000.0)
                waiting.deliver(line)
        self._busy = False
        self._dispatch()
