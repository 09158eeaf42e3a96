"""Benchmark the TCP inference server beside the harness ceiling, in one run.

Starts the real server (``twist osrs --tcp-only``) with a model file and the
shared ``echo_server.py``, drives both with the shared ``loadgen.py`` and
prints one JSON summary: medians over ``--repeats`` runs of each scenario,
and the server's closed-loop throughput as a fraction of the echo ceiling.

    .venv/bin/python bench/tcp.py --seconds 10 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT.parent / "shared" / "tools"
DEFAULT_MODEL = ROOT.parent / "shared" / "fixtures" / "models" / "MyTrainedNh.zip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process exited early with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened")


@contextmanager
def running(command: list[str], port: int, cwd: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def loadgen(port: int, *args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, str(TOOLS / "loadgen.py"), "--port", str(port), *args],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def median_of(runs: list[dict[str, Any]], key: str) -> Any:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("req_per_s", "p50_ms", "p99_ms", "max_ms", "errors", "missed_ticks", "requests")
    return {key: median_of(runs, key) for key in keys if any(key in run for run in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--conns", type=int, default=256)
    parser.add_argument("--bots", type=int, default=2000)
    parser.add_argument("--bot-seconds", type=float, default=20)
    arguments = parser.parse_args()

    model_name = arguments.model.stem
    server_port, echo_port = free_port(), free_port()
    seconds = str(arguments.seconds)
    closed = ["--conns", str(arguments.conns), "--seconds", seconds, "--frames", "2"]
    result: dict[str, Any] = {"model": model_name}
    with tempfile.TemporaryDirectory() as workdir:
        server = [
            sys.executable, "-m", "twisted", "osrs", "--tcp-only", "--no-jobs", "--no-demo-model",
            "--tcp", f"tcp:{server_port}:interface=127.0.0.1", "--model", str(arguments.model),
        ]
        echo = [sys.executable, str(TOOLS / "echo_server.py"), str(echo_port)]
        with running(server, server_port, workdir), running(echo, echo_port, workdir):
            server_runs, echo_runs = [], []
            for _ in range(arguments.repeats):
                echo_runs.append(loadgen(echo_port, *closed))
                server_runs.append(loadgen(server_port, *closed, "--model", model_name))
            single = [
                loadgen(server_port, "--conns", "1", "--seconds", seconds, "--frames", "2", "--model", model_name)
                for _ in range(arguments.repeats)
            ]
            bots = loadgen(
                server_port, "--conns", str(arguments.bots), "--tick-ms", "600",
                "--seconds", str(arguments.bot_seconds), "--frames", "2", "--model", model_name,
            )
    result["closed_loop"] = {"server": summarise(server_runs), "echo": summarise(echo_runs)}
    server_rate, echo_rate = result["closed_loop"]["server"]["req_per_s"], result["closed_loop"]["echo"]["req_per_s"]
    result["closed_loop"]["fraction_of_echo"] = round(server_rate / echo_rate, 3) if echo_rate else None
    result["closed_loop"]["runs"] = {"server": server_runs, "echo": echo_runs}
    result["single_connection"] = summarise(single)
    result["bots"] = bots
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
