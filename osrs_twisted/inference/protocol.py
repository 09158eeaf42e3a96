"""The BotScript line protocol: one JSON request per line, one reply line each,
in request order even when the client pipelines (docs/protocol.md)."""

from __future__ import annotations

from collections import deque
from functools import partial
from typing import Callable, Optional

import attrs
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from osrs_twisted.inference.batching import Batcher, Overloaded
from osrs_twisted.inference.errors import RequestError, RequestId, error_line, with_id
from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.inference.pool import PoolStopped
from osrs_twisted.inference.request import ModelLookup, parse_request

log = Logger()


@attrs.define
class _Reply:
    """One request's place in the connection's reply order."""

    line: Optional[bytes] = None


class InferenceProtocol(LineReceiver):
    """One bot connection.

    Reading stops (``pauseProducing``) while ``max_inflight`` requests await
    their replies, and while the client is not reading what was sent: the
    protocol is registered as the streaming producer of its own transport.
    """

    delimiter = b"\n"

    def __init__(self, factory: "InferenceFactory") -> None:
        self.factory = factory
        self.MAX_LENGTH = factory.max_line_bytes
        self._replies: deque[_Reply] = deque()
        self._write_blocked = False
        self._closing = False

    def connectionMade(self) -> None:
        self.factory.metrics.connections += 1
        assert self.transport is not None
        self.transport.registerProducer(self, True)  # type: ignore[attr-defined]

    def connectionLost(self, reason: Optional[Failure] = None) -> None:
        self.factory.metrics.connections -= 1
        self._replies.clear()

    def dataReceived(self, data: bytes) -> None:
        if not self._closing:
            super().dataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        reply = _Reply()
        self._replies.append(reply)
        immediate = self.factory.answer(line, partial(self._answered, reply))
        if immediate is not None:
            reply.line = immediate
            self._flush()
        else:
            self._update_reading()

    def lineLengthExceeded(self, line: bytes) -> None:
        self.factory.metrics.error("line_too_long")
        self._closing = True
        self._replies.append(
            _Reply(error_line("line_too_long", f"the line exceeds the limit of {self.MAX_LENGTH} bytes"))
        )
        self._flush()

    def _answered(self, reply: _Reply, line: bytes) -> None:
        reply.line = line
        self._flush()

    def _flush(self) -> None:
        """Send every reply that is ready and next in order."""
        ready = []
        replies = self._replies
        while replies and replies[0].line is not None:
            ready.append(replies.popleft().line)
        if ready and self.transport is not None:
            self.factory.metrics.replies += len(ready)
            self.transport.writeSequence(ready)  # type: ignore[arg-type]
        if self._closing and not replies:
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self._update_reading()

    # The transport calls these when its write buffer fills and drains.
    def pauseProducing(self) -> None:
        self._write_blocked = True
        self._update_reading()

    def resumeProducing(self) -> None:
        self._write_blocked = False
        self._update_reading()

    def stopProducing(self) -> None:
        self._closing = True

    def _update_reading(self) -> None:
        """Read while replies are wanted and being read; otherwise stop."""
        pause = (
            self._write_blocked
            or self._closing
            or len(self._replies) >= self.factory.max_inflight
        )
        if pause and not self.paused:
            LineReceiver.pauseProducing(self)
        elif not pause and self.paused:
            LineReceiver.resumeProducing(self)


class InferenceFactory(Factory):
    """Shared state of every connection: the models, the batcher, the bounds."""

    protocol = InferenceProtocol

    def __init__(
        self,
        models: ModelLookup,
        batcher: Batcher,
        metrics: InferenceMetrics,
        max_line_bytes: int = 1048576,
        max_inflight: int = 64,
    ) -> None:
        self.models = models
        self.batcher = batcher
        self.metrics = metrics
        self.max_line_bytes = max_line_bytes
        self.max_inflight = max_inflight
        self.stopping = False

    def buildProtocol(self, addr: object) -> InferenceProtocol:
        return InferenceProtocol(self)

    def answer(self, line: bytes, deliver: Callable[[bytes], None]) -> Optional[bytes]:
        """Answer one request line: an error line at once (returned), or
        None, and the model's reply line to ``deliver`` later."""
        self.metrics.requests += 1
        request_id: Optional[RequestId] = None
        try:
            if self.stopping:
                raise RequestError("unavailable", "the server is stopping")
            request = parse_request(line, self.models)
            request_id = request.request_id
            self.batcher.submit(request.model, request.row, partial(self._reply, deliver, request_id))
        except RequestError as e:
            self.metrics.error(e.code)
            return error_line(e.code, e.message, e.request_id)
        except Overloaded as e:
            self.metrics.error("overloaded")
            return error_line("overloaded", f"the server is overloaded: {e}", request_id)
        except Exception:
            return self._failed(Failure(), request_id)
        return None

    def _reply(
        self, deliver: Callable[[bytes], None], request_id: Optional[RequestId], outcome: bytes | Failure
    ) -> None:
        if isinstance(outcome, Failure):
            deliver(self._failed(outcome, request_id))
        else:
            deliver(with_id(outcome, request_id))

    def _failed(self, failure: Failure, request_id: Optional[RequestId]) -> bytes:
        if failure.check(PoolStopped):
            self.metrics.error("unavailable")
            return error_line("unavailable", "the server is stopping", request_id)
        self.metrics.error("internal")
        log.failure("inference failed", failure)
        return error_line("internal", "internal error; the server logged it", request_id)
