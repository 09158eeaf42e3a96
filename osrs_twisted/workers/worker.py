"""A worker process: ``python -m osrs_twisted.workers.worker``, started by the
supervisor (:mod:`osrs_twisted.workers.supervisor`), never by hand.

It reads its start message (index, configuration, inherited sockets) from
the pipe on stdin, builds the same service tree a single process runs
(``makeService``) over the adopted sockets, and then: reports its health
and counters every second, sends its log events up the pipe, keeps the
others' latest reports for ``/health``, and stops when told (SIGTERM) or
when the pipe closes (the supervisor is gone). SIGINT is left to the
supervisor, which stops every worker itself.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Mapping, Optional

from twisted.application.service import IService
from twisted.internet import stdio
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import connectionDone
from twisted.internet.task import LoopingCall
from twisted.logger import ILogObserver, Logger, LogLevel, eventAsJSON, globalLogBeginner
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.service import OsrsService, makeService
from osrs_twisted.workers.cluster import ClusterHealth, WorkerState, local_report
from osrs_twisted.workers.listeners import AdoptedListener, adopted_service
from osrs_twisted.workers.wire import LOG, PEERS, REPORT, START, Message, config_from_json, decode, encode

log = Logger()

#: Seconds between two reports to the supervisor.
REPORT_INTERVAL = 1.0


def read_start(fd: int = 0) -> Message:
    """The first line on ``fd``, read before the reactor owns it (byte by
    byte, so nothing after it is taken from the pipe)."""
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            raise SystemExit("osrs worker: the supervisor closed the pipe before starting it")
        line += chunk
    message = decode(bytes(line))
    if message["type"] != START:
        raise SystemExit(f"osrs worker: expected a start message, got {message['type']!r}")
    return message


class SupervisorChannel(LineReceiver):
    """The worker's end of the pipe: relayed peers in, reports and logs out;
    a closed pipe stops the worker."""

    delimiter = b"\n"
    MAX_LENGTH = 64 * 1024 * 1024

    def __init__(self, health: ClusterHealth, reactor: Any) -> None:
        self.health = health
        self.reactor = reactor

    def lineReceived(self, line: bytes) -> None:
        message = decode(line)
        if message["type"] == PEERS:
            self.health.peers = [WorkerState.from_json(state) for state in message["workers"]]

    def send(self, line: bytes) -> None:
        if self.transport is not None and self.connected:
            self.transport.write(line)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        if self.reactor.running:
            log.info("the supervisor's pipe closed; stopping")
            self.reactor.stop()


@implementer(ILogObserver)
class PipeLogObserver:
    """Sends each event of ``level`` and above to the supervisor's log."""

    def __init__(self, channel: SupervisorChannel, level: LogLevel = LogLevel.info) -> None:
        self.channel = channel
        self.level = level

    def __call__(self, event: Mapping[str, Any]) -> None:
        level = event.get("log_level", LogLevel.info)
        if level >= self.level:
            self.channel.send(encode(LOG, event=eventAsJSON(dict(event))))


def _inference_metrics(root: OsrsService) -> Optional[InferenceMetrics]:
    names = {service.name for service in root}
    if "tcp" not in names:
        return None
    metrics: InferenceMetrics = root.getServiceNamed("tcp").metrics
    return metrics


def run_worker(reactor: Any, start: Message) -> OsrsService:
    """Build and start this worker's service tree from its start message;
    a configuration that cannot start raises StartupError (exit status 1)."""
    index: int = start["index"]
    config = config_from_json(start["config"])
    adopted = {item["description"]: AdoptedListener(**item) for item in start["listeners"]}

    def listen(description: str, factory: IProtocolFactory) -> IService:
        return adopted_service(reactor, adopted[description], factory)

    root: Optional[OsrsService] = None
    health = ClusterHealth(index, os.getpid(), lambda: _inference_metrics(root) if root is not None else None)
    channel = SupervisorChannel(health, reactor)
    # The pipe up is the real stdout; stray writes to fd 1 go to stderr
    # instead, which the supervisor passes through (a start-up error's one
    # line among them).
    pipe_up = os.dup(1)
    os.dup2(2, 1)
    stdio.StandardIO(channel, stdin=0, stdout=pipe_up, reactor=reactor)  # type: ignore[call-arg]
    globalLogBeginner.beginLoggingTo([PipeLogObserver(channel)], redirectStandardIO=False)
    root = makeService(config, reactor, listen=listen, health=health)
    root.privilegedStartService()
    root.startService()
    reactor.addSystemEventTrigger("before", "shutdown", root.stopService)

    def report() -> None:
        channel.send(encode(REPORT, report=local_report(health.local(), health.metrics())))

    reporter = LoopingCall(report)
    reporter.clock = reactor
    reactor.callWhenRunning(reporter.start, REPORT_INTERVAL)
    reactor.callWhenRunning(signal.signal, signal.SIGINT, signal.SIG_IGN)
    log.info("worker {index} serving (pid {pid})", index=index, pid=os.getpid())
    return root


def main() -> None:
    from twisted.internet import reactor

    run_worker(reactor, read_start())
    reactor.run()


if __name__ == "__main__":
    main()
