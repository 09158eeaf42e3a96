"""The supervisor: with ``--workers N`` (N > 1) the ``twistd osrs`` process
binds every listener, starts N worker processes that serve them, and
serves nothing itself (see docs/operations.md, "Workers").

It restarts a worker that exits unexpectedly, with back-off; a crash loop
(:class:`RestartPolicy`) or a worker that cannot start at all stops the
server with one line and exit status 1. SIGHUP is forwarded to every
worker; stopping (SIGTERM) stops every worker within the root's stop
budget. Each worker's reports are relayed to all of them, about once a
second, so any of them answers ``/health`` for the whole.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any, Callable, Mapping, Optional

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.interfaces import IDelayedCall, IProcessTransport
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import ILogObserver, Logger, eventFromJSON, globalLogPublisher
from twisted.python.failure import Failure
from zope.interface import implementer

from osrs_twisted.config import Config
from osrs_twisted.service import OsrsService
from osrs_twisted.stopping import IBoundedStop, settled_within
from osrs_twisted.waiters import Waiters
from osrs_twisted.workers.cluster import WorkerPhase, WorkerState
from osrs_twisted.workers.listeners import ListenAddress, bind_tcp, bind_unix, parse_listen_address
from osrs_twisted.workers.wire import LOG, PEERS, REPORT, START, config_json, decode, encode

log = Logger()

#: The worker's descriptor of its first inherited socket (0-2 are the pipe and stderr).
FIRST_SOCKET_FD = 3
#: Seconds between two relays of every worker's state.
RELAY_INTERVAL = 1.0
#: Seconds of the supervisor's stop budget kept back from the workers' own,
#: to kill and reap one that overran it.
STOP_MARGIN = 2.0

#: ``spawnProcess``'s signature (called with keywords: env, path, childFDs).
Spawn = Callable[..., IProcessTransport]


@attrs.define
class RestartPolicy:
    """Back-off after each unexpected exit, and the crash-loop rule: ``limit``
    exits (of any worker) within ``window`` seconds stop the server."""

    limit: int = 5
    window: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 10.0
    _exits: list[float] = attrs.field(factory=list)

    def exited(self, now: float) -> Optional[float]:
        """The seconds to wait before restarting, or None for a crash loop."""
        self._exits = [t for t in self._exits if now - t < self.window] + [now]
        if len(self._exits) >= self.limit:
            return None
        return min(self.max_delay, self.base_delay * 2 ** (len(self._exits) - 1))


def exit_status(reason: Failure) -> str:
    """How a process ended, in words."""
    error = reason.value
    if isinstance(error, (ProcessDone, ProcessTerminated)):
        if error.signal is not None:
            return f"signal {error.signal}"
        return f"exit status {error.exitCode}"
    return str(error)


def _exit_process(status: int) -> None:
    """End the supervisor with ``status`` once the reactor has shut down:
    twistd and twist themselves would exit 0."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@attrs.frozen
class SharedListener:
    """One listening address and the socket each worker slot serves it on."""

    address: ListenAddress
    sockets: tuple[socket.socket, ...]


@attrs.define(eq=False)
class WorkerSlot:
    """One of the N workers: the process now in it and what it last said."""

    index: int
    process: Optional[IProcessTransport] = None
    #: The pid of the process now (or last) in this slot.
    pid: Optional[int] = None
    phase: WorkerPhase = "exited"
    exit: Optional[str] = None
    report: Optional[Mapping[str, Any]] = None
    reported_at: Optional[float] = None
    #: Whether any process in this slot ever reported.
    reported_once: bool = False
    restart: Optional[IDelayedCall] = None
    ended: Waiters[None] = attrs.field(factory=Waiters)

    def state(self, now: float) -> WorkerState:
        age = now - self.reported_at if self.reported_at is not None else None
        return WorkerState(self.index, self.pid, self.phase, self.exit, self.report, age)


class WorkerProtocol(ProcessProtocol):
    """The supervisor's end of one worker's pipe: lines in, exit noticed."""

    def __init__(self, supervisor: "WorkerSupervisor", slot: WorkerSlot) -> None:
        self.supervisor = supervisor
        self.slot = slot
        self._buffer = b""

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                message = decode(line)
            except ValueError:
                log.warn("worker {index}: unreadable line {line!r}", index=self.slot.index, line=line[:80])
                continue
            self.supervisor.received(self.slot, message)

    def processEnded(self, reason: Failure) -> None:
        self.supervisor.ended(self.slot, reason)


@implementer(IBoundedStop)
class WorkerSupervisor(Service):
    """Binds the listeners once, runs ``config.workers`` worker processes on
    them, and keeps them running. ``spawn`` is ``reactor.spawnProcess`` by
    default; ``publish`` receives the workers' log events."""

    name = "workers"

    def __init__(
        self,
        config: Config,
        reactor: Any,
        spawn: Optional[Spawn] = None,
        publish: ILogObserver = globalLogPublisher,
        install_signal: Callable[[int, Any], Any] = signal.signal,
        exit_process: Callable[[int], None] = _exit_process,
        policy: Optional[RestartPolicy] = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self._spawn = spawn
        self._publish = publish
        self._install_signal = install_signal
        self._exit_process = exit_process
        self.policy = policy if policy is not None else RestartPolicy()
        self.slots = [WorkerSlot(index) for index in range(config.workers)]
        self.listeners: list[SharedListener] = []
        self._relay = LoopingCall(self.relay)
        self._relay.clock = reactor
        self._previous_hup: Optional[tuple[Any]] = None
        self._stopping = False

    # start

    def _descriptions(self) -> list[str]:
        mode, listen = self.config.mode, self.config.listen
        metrics = () if listen.metrics is None else (listen.metrics,)
        return [*(listen.http if mode.listens_http else ()), *(listen.tcp if mode.serves_tcp else ()), *metrics]

    def privilegedStartService(self) -> None:
        """Bind every address (a CannotListenError ends the start: the root
        reports it as one line); nothing is spawned yet."""
        super().privilegedStartService()
        try:
            for description in self._descriptions():
                address = parse_listen_address(description)
                if address.kind == "tcp":
                    sockets = tuple(bind_tcp(address, len(self.slots)))
                else:
                    sockets = (bind_unix(address),) * len(self.slots)
                self.listeners.append(SharedListener(address, sockets))
        except BaseException:
            self._close_sockets()
            raise

    def startService(self) -> None:
        super().startService()
        self._previous_hup = (self._install_signal(signal.SIGHUP, self._hangup),)
        for slot in self.slots:
            self.start_worker(slot)
        self._relay.start(RELAY_INTERVAL, now=False)
        log.info("supervising {count} workers", count=len(self.slots))

    def worker_config(self, index: int) -> Config:
        """A worker's own configuration: one process; the jobs only in
        worker 0; a stop budget inside the supervisor's."""
        jobs = attrs.evolve(self.config.jobs, enabled=self.config.jobs.enabled and index == 0)
        budget = max(1.0, self.config.stop_budget - STOP_MARGIN)
        return attrs.evolve(self.config, workers=1, jobs=jobs, stop_budget=budget)

    def start_worker(self, slot: WorkerSlot) -> None:
        slot.restart = None
        child_fds: dict[int, Any] = {0: "w", 1: "r", 2: 2}
        listeners = []
        for offset, listener in enumerate(self.listeners):
            fd = FIRST_SOCKET_FD + offset
            child_fds[fd] = listener.sockets[slot.index].fileno()
            listeners.append({"description": listener.address.description, "fd": fd, "family": listener.address.family})
        args = [sys.executable, "-m", "osrs_twisted.workers.worker"]
        protocol = WorkerProtocol(self, slot)
        spawn = self._spawn if self._spawn is not None else self.reactor.spawnProcess
        slot.process = spawn(
            protocol, sys.executable, args, env=dict(os.environ), path=os.getcwd(), childFDs=child_fds
        )
        slot.pid = slot.process.pid
        slot.phase = "starting"
        slot.report = slot.reported_at = None
        config = config_json(self.worker_config(slot.index))
        slot.process.write(encode(START, index=slot.index, config=config, listeners=listeners))
        log.info("worker {index} started (pid {pid})", index=slot.index, pid=slot.pid)

    # the workers' lines

    def received(self, slot: WorkerSlot, message: Mapping[str, Any]) -> None:
        kind = message["type"]
        if kind == REPORT:
            slot.report, slot.reported_at = message["report"], self.reactor.seconds()
            slot.phase, slot.reported_once = "running", True
        elif kind == LOG:
            event = eventFromJSON(message["event"])
            event["log_system"] = f"worker-{slot.index}"
            event["osrs_worker"] = slot.index
            self._publish(event)

    def relay(self) -> None:
        """Send every worker the others' latest state."""
        now = self.reactor.seconds()
        states = [slot.state(now) for slot in self.slots]
        for slot in self.slots:
            if slot.process is not None and slot.phase != "exited":
                others = [state.json() for state in states if state.index != slot.index]
                slot.process.write(encode(PEERS, workers=others))

    # exits

    def ended(self, slot: WorkerSlot, reason: Failure) -> None:
        slot.exit, slot.phase = exit_status(reason), "exited"
        pid, slot.process, slot.report = slot.pid, None, None
        slot.pid = None
        slot.ended.fire(None)
        if self._stopping or not self.running:
            log.info("worker {index} (pid {pid}) stopped ({exit})", index=slot.index, pid=pid, exit=slot.exit)
            return
        log.warn("worker {index} (pid {pid}) exited unexpectedly ({exit})", index=slot.index, pid=pid, exit=slot.exit)
        if not any(s.reported_once for s in self.slots):
            self.fail(f"osrs: worker {slot.index} could not start ({slot.exit}); its own lines above say why")
            return
        delay = self.policy.exited(self.reactor.seconds())
        if delay is None:
            self.fail(
                f"osrs: workers are crash-looping ({self.policy.limit} exits within {self.policy.window:.0f}s, "
                f"last: worker {slot.index}, {slot.exit}); stopping"
            )
            return
        log.info("restarting worker {index} in {delay}s", index=slot.index, delay=delay)
        slot.restart = self.reactor.callLater(delay, self.start_worker, slot)

    def fail(self, line: str) -> None:
        """Stop the server for good: one line, then exit status 1."""
        log.critical("{line}", line=line)
        self.reactor.addSystemEventTrigger("after", "shutdown", self._exit_process, 1)
        self.reactor.stop()

    def _hangup(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.signal_all, "HUP")

    def signal_all(self, name: str) -> None:
        for slot in self.slots:
            if slot.process is not None:
                slot.process.signalProcess(name)
        if name == "HUP":
            log.info("SIGHUP forwarded to every worker")

    # stop

    def stopService(self) -> "Deferred[None]":
        return self.stopWithin(self.config.stop_budget)

    def stopWithin(self, seconds: float) -> "Deferred[None]":
        return Deferred.fromCoroutine(self._stop(seconds))

    async def _stop(self, seconds: float) -> None:
        self._stopping = True
        super().stopService()
        if self._relay.running:
            self._relay.stop()
        if self._previous_hup is not None:
            self._install_signal(signal.SIGHUP, self._previous_hup[0])
            self._previous_hup = None
        for slot in self.slots:
            if slot.restart is not None and slot.restart.active():
                slot.restart.cancel()
        deadline = self.reactor.seconds() + seconds
        if not await self._wait_for_workers("TERM", max(0.0, seconds - STOP_MARGIN / 2)):
            log.warn("workers still running after {seconds}s; killing them", seconds=seconds)
            await self._wait_for_workers("KILL", max(0.0, deadline - self.reactor.seconds()))
        self._close_sockets()
        self._stopping = False

    def _wait_for_workers(self, name: str, seconds: float) -> "Deferred[bool]":
        running = [slot for slot in self.slots if slot.process is not None]
        waits = [slot.ended.wait() for slot in running]
        self.signal_all(name)
        return settled_within(self.reactor, seconds, DeferredList(waits))

    def _close_sockets(self) -> None:
        for listener in self.listeners:
            for sock in set(listener.sockets):
                sock.close()
        self.listeners = []


def makeSupervisor(config: Config, reactor: Any = None, spawn: Optional[Spawn] = None) -> OsrsService:
    """The service tree of a supervisor: the root (its stop budget) over one
    :class:`WorkerSupervisor`; no store, no models, no listeners of its own."""
    if reactor is None:
        from twisted.internet import reactor
    root = OsrsService(reactor, stop_budget=config.stop_budget)
    WorkerSupervisor(config, reactor, spawn=spawn).setServiceParent(root)
    return root
