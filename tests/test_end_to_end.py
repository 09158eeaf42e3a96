"""The real plugin in a subprocess: ``twist osrs`` on free loopback ports,
``/health`` read with treq, an inference over TCP, and a SIGTERM stop that
runs shutdown to the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import HTTPConnectionPool

from osrs_twisted.policy.builtin import NHENV_HEAD_SIZES
from osrs_twisted.policy.registry import file_sha256
from tests.fixtures import trained_model_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _LineClient(Protocol):
    def __init__(self) -> None:
        self.data = b""

    def dataReceived(self, data: bytes) -> None:
        self.data += data


class _Server:
    """``twist osrs`` in a subprocess on free loopback ports, read over HTTP."""

    def __init__(self, test: TestCase, *arguments: str) -> None:
        self.http_port, self.tcp_port = free_port(), free_port()
        self.workdir = os.path.abspath(test.mktemp())
        os.makedirs(self.workdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_URL", "MODEL_PATH"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "twisted", "--log-format=json", "osrs",
             "--http", f"tcp:{self.http_port}:interface=127.0.0.1",
             "--tcp", f"tcp:{self.tcp_port}:interface=127.0.0.1",
             "--database", "sqlite:///osrs.sqlite3", "--no-jobs", *arguments],
            cwd=self.workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        test.addCleanup(self._kill_if_running)
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        test.addCleanup(self.pool.closeCachedConnections)
        self.test = test

    def _kill_if_running(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    async def get(self, path: str) -> Any:
        """The first answer to ``GET path`` (retried while the server starts): (response, JSON body)."""
        for _ in range(300):
            if self.process.poll() is not None:
                self.test.fail(f"server exited early: {self.process.stdout.read().decode()}")  # type: ignore[union-attr]
            try:
                response = await treq.get(f"http://127.0.0.1:{self.http_port}{path}", pool=self.pool)
                body = await response.json()
                return response, body
            except Exception:
                await deferLater(reactor, 0.1, lambda: None)
        self.test.fail(f"the server never answered {path}")


class TwistOsrsTests(TestCase):
    timeout = 120

    async def test_serves_and_stops_on_sigterm(self) -> None:
        server = _Server(self)
        process, tcp_port = server.process, server.tcp_port
        response, body = await server.get("/health")
        self.assertEqual(response.code, 200)
        self.assertEqual(body["status"], "degraded", "only built-in models are loaded")
        self.assertEqual(body["checks"]["store"]["status"], "ok")
        self.assertIn("demo", body["checks"]["models"]["loaded"])

        client = _LineClient()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", tcp_port), client)
        request = {"model": "demo", "obs": [[0.0] * 176], "actionMasks": [[True] * n for n in NHENV_HEAD_SIZES],
                   "deterministic": True, "id": 1}
        assert client.transport is not None
        client.transport.write(json.dumps(request).encode() + b"\n")
        for _ in range(100):
            if client.data.endswith(b"\n"):
                break
            await deferLater(reactor, 0.05)
        reply = json.loads(client.data)
        self.assertEqual(len(reply["action"]), len(NHENV_HEAD_SIZES))
        self.assertEqual(reply["id"], 1)
        client.transport.loseConnection()

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        self.assertEqual(process.returncode, -signal.SIGTERM, output.decode())
        events = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
        formats = [event.get("log_format", "") for event in events]
        self.assertTrue(any("osrs stopped" in f for f in formats), formats[-10:])
        self.assertFalse([e for e in events if e.get("log_level", {}).get("name") in ("error", "critical")])

    async def test_sighup_reloads_the_models_directory(self) -> None:
        models = self.mktemp()
        os.makedirs(models)
        server = _Server(self, "--models", os.path.abspath(models))
        _, before = await server.get("/models")
        self.assertNotIn("Nh", [m["name"] for m in before["models"]])
        shutil.copy(trained_model_path(), os.path.join(models, "Nh.zip"))
        server.process.send_signal(signal.SIGHUP)
        for _ in range(100):
            _, after = await server.get("/models")
            if after["lastReload"] is not None:
                break
            await deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(after["lastReload"]["trigger"], "signal")
        self.assertEqual(after["lastReload"]["loaded"], ["Nh"])
        [nh] = [m for m in after["models"] if m["name"] == "Nh"]
        self.assertEqual(nh["sha256"], file_sha256(trained_model_path()))
        self.assertIsNone(server.process.poll(), "SIGHUP reloads; it does not stop the server")
        server.process.send_signal(signal.SIGTERM)
        output, _ = server.process.communicate(timeout=30)
        self.assertEqual(server.process.returncode, -signal.SIGTERM, output.decode())


class StartFailureTests(TestCase):
    """An invalid configuration ends the start with one line and status 1."""

    timeout = 120

    def run_osrs(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        workdir = self.mktemp()
        os.makedirs(workdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_URL", "MODEL_PATH"))}
        return subprocess.run(
            [sys.executable, "-m", "twisted", "osrs", "--no-jobs", "--database", "sqlite:///osrs.sqlite3", *arguments],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=60,
        )

    def assertOneLineFailure(self, result: subprocess.CompletedProcess[str], fragment: str) -> None:
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr + result.stdout)
        self.assertIn(fragment, result.stderr)

    def test_port_in_use(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = self.run_osrs("--http", f"tcp:{port}:interface=127.0.0.1", "--tcp", "tcp:0:interface=127.0.0.1")
        self.assertOneLineFailure(result, f"osrs: Couldn't listen on 127.0.0.1:{port}")

    def test_unreadable_model(self) -> None:
        model = os.path.abspath(self.mktemp() + ".zip")
        with open(model, "wb") as f:
            f.write(b"not a zip at all")
        result = self.run_osrs("--model", model, "--http", "tcp:0", "--tcp", "tcp:0")
        self.assertOneLineFailure(result, "osrs: ")
        self.assertIn(model, result.stderr)

    def test_bad_option(self) -> None:
        result = self.run_osrs("--max-batch", "0")
        self.assertEqual(result.returncode, 64, "twist's exit status for a usage error (EX_USAGE)")
        self.assertIn("--max-batch must be at least 1", result.stderr)
