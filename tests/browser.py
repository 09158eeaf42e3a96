"""A real console in a real browser: ``twist osrs`` and the Wiki fake as
subprocesses on free loopback ports, bots sending heartbeats over HTTP and
inference over TCP, and Debian's headless Chromium driven by selenium.

Without Chromium, its driver or selenium the browser tests skip with the
reason, unless ``OSRS_REQUIRE_BROWSER=1`` (as CI sets): then they fail.
Every wait is explicit and bounded; nothing sleeps and hopes.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, TypeVar

from twisted.trial.unittest import SkipTest

from osrs_twisted.policy.builtin import NHENV_HEAD_SIZES
from tests.fixtures import PROJECT_ROOT, fixture_path

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
)  # fmt: skip
ADMIN_TOKEN = "console-test-token"
#: The longest any single wait may take before the test fails.
WAIT_SECONDS = 20.0


def require_browser() -> None:
    """Skip (fail under ``OSRS_REQUIRE_BROWSER=1``) unless Chromium, its driver and selenium are here."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if not missing:
        return
    reason = f"browser tests need {', '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("OSRS_REQUIRE_BROWSER") == "1":
        raise AssertionError(reason + " (OSRS_REQUIRE_BROWSER=1)")
    raise SkipTest(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, probe: Callable[[], Optional[T]], seconds: float = WAIT_SECONDS, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    last_error: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception as e:  # the thing waited for is not there yet
            last_error = e
        else:
            if result:
                return result
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}" + (f": {last_error}" if last_error else ""))


def png_colours(png: bytes) -> int:
    """How many distinct byte values the PNG's pixel data holds (a blank page has very few)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    offset, data = 8, b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        if kind == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return len(set(zlib.decompress(data)))


class Server:
    """``twist osrs`` on free ports in ``workdir``; with ``wiki``, its jobs
    sync from the Wiki fake, itself on a free port."""

    def __init__(
        self,
        workdir: Path,
        extra: tuple[str, ...] = (),
        wiki: bool = True,
        database: str = "sqlite:///osrs.sqlite3",
    ) -> None:
        self.workdir = workdir
        self.http_port, self.tcp_port, self.wiki_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OSRS_", "DATABASE_URL", "MODEL_PATH"))}
        env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), env.get("PYTHONPATH", "")])
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []
        if wiki:
            captures = fixture_path("wiki")
            self._spawn("wiki.log", "-m", "tests.wikifake", "--captures", str(captures), "--port", str(self.wiki_port))
            extra = ("--wiki-url", f"http://127.0.0.1:{self.wiki_port}", *extra)
        self.osrs = self._spawn(
            "osrs.log", "-m", "twisted", "--log-format=json", "osrs",
            "--http", f"tcp:{self.http_port}:interface=127.0.0.1",
            "--tcp", f"tcp:{self.tcp_port}:interface=127.0.0.1",
            "--database", database, "--admin-token", ADMIN_TOKEN, *extra,
        )  # fmt: skip

    def _spawn(self, log_name: str, *arguments: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / log_name, "wb")
        try:
            process = subprocess.Popen(
                [sys.executable, *arguments], cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        self.processes.append(process)
        return process

    def log(self) -> str:
        return (self.workdir / "osrs.log").read_text(errors="replace")[-4000:]

    def wait_until(self, what: str, ready: Callable[[], bool]) -> None:
        """Until ``ready()`` while the server runs (a minute at most)."""

        def running_and_ready() -> bool:
            if self.osrs.poll() is not None:
                raise AssertionError(f"the server exited: {self.log()}")
            return ready()

        wait_for(what, running_and_ready, seconds=60)

    def wait_ready(self) -> None:
        """Until the HTTP side answers and the first sync has filled the catalog."""
        self.wait_until(
            "the server and its first price sync",
            lambda: self.get("/items/4151")["id"] == 4151 and bool(self.get("/items/4151/prices")["buckets"]),
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def request(
        self, method: str, path: str, body: Any = None, headers: Optional[Mapping[str, str]] = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=dict(headers or {}))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}: {body}")
        return body

    def heartbeat(self, instance_id: str, **fields: Any) -> None:
        status, body = self.request("POST", "/healthcheck", {"instanceId": instance_id, **fields})
        if status != 200:
            raise AssertionError(f"heartbeat refused with {status}: {body}")

    def infer(self, count: int) -> None:
        """``count`` inference requests to the built-in demo model over one TCP connection."""
        request = {"model": "demo", "obs": [[0.0] * 176], "actionMasks": [[True] * n for n in NHENV_HEAD_SIZES]}
        with socket.create_connection(("127.0.0.1", self.tcp_port), timeout=10) as connection:
            reader = connection.makefile("rb")
            for index in range(count):
                connection.sendall(json.dumps({**request, "id": index}).encode() + b"\n")
                reply = json.loads(reader.readline())
                if reply.get("id") != index:
                    raise AssertionError(f"unexpected inference reply {reply}")


def start_browser(profile: Path) -> Any:
    """Headless Chromium with a fresh profile, its console log readable."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver


def severe_logs(driver: Any) -> list[str]:
    """The browser console's errors since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
