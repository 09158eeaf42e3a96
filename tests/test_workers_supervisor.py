"""The supervisor's service tree on a memory reactor, with a recording
process spawner: it binds, spawns, restarts, gives up, and stops."""

from __future__ import annotations

import signal
import socket
from typing import Any, Optional

import orjson
from twisted.application.service import IServiceCollection
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted import tap
from osrs_twisted.options import Options
from osrs_twisted.service import StartupError
from osrs_twisted.workers.supervisor import RestartPolicy, WorkerSupervisor, makeSupervisor
from osrs_twisted.workers.wire import config_from_json


class FakeProcess:
    """What the supervisor uses of a spawned process's transport."""

    def __init__(self, protocol: Any, pid: int, child_fds: dict[int, Any]) -> None:
        self.protocol = protocol
        self.pid: Optional[int] = pid
        self.child_fds = child_fds
        self.written = b""
        self.signals: list[str] = []

    def write(self, data: bytes) -> None:
        self.written += data

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)

    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.written.splitlines()]

    def end(self, reason: Exception) -> None:
        self.pid = None
        self.protocol.processEnded(Failure(reason))


class Spawner:
    def __init__(self) -> None:
        self.processes: list[FakeProcess] = []

    def __call__(self, protocol: Any, executable: str, args: list[str], env: dict[str, str], path: str,
                 childFDs: dict[int, Any]) -> FakeProcess:
        process = FakeProcess(protocol, 1000 + len(self.processes), childFDs)
        self.processes.append(process)
        return process


class ThreadedMemoryReactor(MemoryReactorClock):
    """Signal handlers hand their work to the reactor with callFromThread."""

    def callFromThread(self, f: Any, *args: Any) -> None:
        f(*args)


class SupervisorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = ThreadedMemoryReactor()
        self.spawner = Spawner()
        self.exits: list[int] = []
        self.installed: dict[int, Any] = {}

    def supervisor(self, *args: str) -> WorkerSupervisor:
        options = Options(environ={})
        options.parseOptions([
            "--workers", "2", "--database", "sqlite:///" + self.mktemp(), "--http", "tcp:0:interface=127.0.0.1",
            "--tcp", "tcp:0:interface=127.0.0.1", *args,
        ])
        supervisor = WorkerSupervisor(
            options.config, self.reactor, spawn=self.spawner, install_signal=self.install,
            exit_process=self.exits.append, policy=RestartPolicy(limit=3, window=60.0, base_delay=1.0),
        )
        supervisor.privilegedStartService()
        supervisor.startService()
        self.addCleanup(lambda: supervisor.running and supervisor.stopWithin(0))
        return supervisor

    def install(self, signum: int, handler: Any) -> Any:
        previous, self.installed[signum] = self.installed.get(signum), handler
        return previous

    def report(self, supervisor: WorkerSupervisor, index: int) -> None:
        supervisor.received(supervisor.slots[index], {"type": "report", "report": {"status": "ok", "checks": {}}})

    def test_tap_builds_a_supervisor_holding_no_model(self) -> None:
        options = Options(environ={})
        options.parseOptions(["--workers", "2", "--database", "sqlite:///" + self.mktemp()])
        root = tap.makeService(options, self.reactor)
        self.assertEqual([child.name for child in IServiceCollection(root)], ["workers"])
        self.assertEqual(root.stop_budget, options.config.stop_budget)
        self.assertEqual([child.name for child in IServiceCollection(makeSupervisor(options.config, self.reactor))],
                         ["workers"])

    def test_binds_once_and_spawns_every_worker_with_the_sockets(self) -> None:
        supervisor = self.supervisor()
        self.assertEqual(len(self.spawner.processes), 2)
        self.assertEqual(self.reactor.tcpServers, [], "the supervisor itself listens on nothing")
        [http, tcp] = supervisor.listeners
        for listener in (http, tcp):
            ports = {sock.getsockname()[1] for sock in listener.sockets}
            self.assertEqual(len(ports), 1, "every worker's socket is on the one address")
            self.assertEqual(len(set(listener.sockets)), 2, "one SO_REUSEPORT socket per worker")
            self.assertTrue(all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in listener.sockets))
        for index, process in enumerate(self.spawner.processes):
            self.assertEqual({fd: process.child_fds[fd] for fd in (0, 1, 2)}, {0: "w", 1: "r", 2: 2})
            [start] = process.messages()
            self.assertEqual((start["type"], start["index"]), ("start", index))
            config = config_from_json(start["config"])
            self.assertEqual(config.workers, 1)
            self.assertEqual(config.jobs.enabled, index == 0, "jobs run in worker 0 only")
            self.assertLess(config.stop_budget, supervisor.config.stop_budget)
            fds = [listener["fd"] for listener in start["listeners"]]
            self.assertEqual([process.child_fds[fd] for fd in fds],
                             [http.sockets[index].fileno(), tcp.sockets[index].fileno()])

    def test_a_port_in_use_fails_the_start(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            options = Options(environ={})
            options.parseOptions(["--workers", "2", "--database", "sqlite:///" + self.mktemp(),
                                  "--tcp", f"tcp:{port}:interface=127.0.0.1", "--http", "tcp:0:interface=127.0.0.1"])
            root = makeSupervisor(options.config, self.reactor, spawn=self.spawner)
            error = self.assertRaises(StartupError, root.privilegedStartService)
        self.assertIn(f"Couldn't listen on 127.0.0.1:{port}", str(error))
        self.assertEqual(self.spawner.processes, [])

    def test_peers_relayed_every_second(self) -> None:
        supervisor = self.supervisor()
        self.report(supervisor, 0)
        self.reactor.advance(1.0)
        peers = [m for m in self.spawner.processes[1].messages() if m["type"] == "peers"]
        self.assertEqual([(w["index"], w["pid"], w["phase"]) for w in peers[-1]["workers"]], [(0, 1000, "running")])

    def test_an_exited_worker_is_restarted_with_back_off(self) -> None:
        supervisor = self.supervisor()
        self.report(supervisor, 0)
        self.spawner.processes[1].end(ProcessTerminated(signal=signal.SIGKILL))
        self.assertEqual(supervisor.slots[1].state(0).exit, "signal 9")
        self.reactor.advance(0.9)
        self.assertEqual(len(self.spawner.processes), 2)
        self.reactor.advance(0.1)
        self.assertEqual(len(self.spawner.processes), 3)
        self.assertEqual(config_from_json(self.spawner.processes[2].messages()[0]["config"]).jobs.enabled, False)
        self.spawner.processes[0].end(ProcessTerminated(exitCode=1))
        self.reactor.advance(1.9)
        self.assertEqual(len(self.spawner.processes), 3, "the second exit waits twice as long")
        self.reactor.advance(0.1)
        self.assertTrue(config_from_json(self.spawner.processes[3].messages()[0]["config"]).jobs.enabled,
                        "the restarted worker 0 takes up the jobs again")
        self.assertEqual(self.exits, [])

    def test_a_crash_loop_stops_the_server(self) -> None:
        supervisor = self.supervisor()
        self.report(supervisor, 0)
        for _ in range(3):
            self.spawner.processes[-1].end(ProcessTerminated(exitCode=3))
            self.reactor.advance(5)
        self.assertTrue(self.reactor.hasStopped)
        [(trigger, *_)] = self.reactor.triggers["after"]["shutdown"]
        trigger(1)
        self.assertEqual(self.exits, [1])
        self.assertEqual(len(self.spawner.processes), 4, "no restart after the third exit")
        self.flushLoggedErrors()

    def test_a_worker_that_never_started_stops_the_server(self) -> None:
        self.supervisor()
        self.spawner.processes[0].end(ProcessTerminated(exitCode=1))
        self.assertTrue(self.reactor.hasStopped)
        self.assertEqual(len(self.spawner.processes), 2)

    def test_sighup_is_forwarded(self) -> None:
        self.supervisor()
        self.installed[signal.SIGHUP](signal.SIGHUP, None)
        self.assertEqual([p.signals for p in self.spawner.processes], [["HUP"], ["HUP"]])

    def test_stop_terminates_then_kills_within_the_budget(self) -> None:
        supervisor = self.supervisor()
        stopped = supervisor.stopWithin(10)
        self.assertEqual([p.signals for p in self.spawner.processes], [["TERM"], ["TERM"]])
        self.spawner.processes[0].end(ProcessDone(0))
        self.assertNoResult(stopped)
        self.reactor.advance(9)
        self.assertEqual(self.spawner.processes[1].signals, ["TERM", "KILL"])
        self.spawner.processes[1].end(ProcessTerminated(signal=signal.SIGKILL))
        self.successResultOf(stopped)
        self.assertEqual(len(self.spawner.processes), 2, "no restart while stopping")
        self.assertEqual(supervisor.listeners, [])
        self.assertIsNone(self.installed[signal.SIGHUP], "the previous SIGHUP handler is back")
