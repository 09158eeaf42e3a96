"""Benchmark the TCP inference server beside the harness ceiling, in one run.

Starts the real server (``twist osrs --no-jobs``, ``--workers N``) with a
model file and the shared ``echo_server.py``, drives both with the shared
``loadgen.py`` (``--clients K`` load-generator processes at once, the
connections split among them) and prints one JSON summary: medians over
``--repeats`` runs of each scenario, the server's closed-loop throughput as
a fraction of the echo ceiling, the server's CPU time per reply (user +
system from ``/proc``, summed over the supervisor and its workers), and,
with several workers, how the bots' connections spread over them. With
``--baseline TREE`` (a checkout of an earlier commit) that tree's server runs
too and the closed-loop runs alternate between the two, so both are measured
under the same noise; ``--console`` alternates them with the console's
overview page open in headless Chromium and closed.

    .venv/bin/python bench/tcp.py --seconds 10 --repeats 3 --workers 2 --clients 2
    git worktree add --detach ../base cd7d9db && .venv/bin/python bench/tcp.py --baseline ../base
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
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

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
def running(
    command: list[str], port: int, cwd: str, env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


#: loadgen figures that add up over several load generators.
ADDITIVE = ("conns", "requests", "errors", "missed_ticks", "req_per_s")


def loadgen_process(port: int, *args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, str(TOOLS / "loadgen.py"), "--port", str(port), *args],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def loadgen(port: int, conns: int, clients: int, *args: str) -> dict[str, Any]:
    """``clients`` load generators at once sharing ``conns`` connections;
    rates and counts add up, a latency is the worst client's."""
    shares = [conns // clients + (1 if n < conns % clients else 0) for n in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        runs = list(pool.map(lambda share: loadgen_process(port, "--conns", str(share), *args), shares))
    combined: dict[str, Any] = dict(runs[0])
    for key in runs[0]:
        values = [run[key] for run in runs if isinstance(run.get(key), (int, float))]
        if values and key.endswith("_ms"):
            combined[key] = max(values)
        elif values and key in ADDITIVE:
            combined[key] = round(sum(values), 3)
    return combined


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and its descendants, now."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def with_cpu(root: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s figures plus the server's CPU microseconds per reply."""
    before = cpu_seconds(root)
    result = run()
    used = cpu_seconds(root) - before
    replies = result.get("requests") or 0
    result["server_cpu_us_per_reply"] = round(used / replies * 1e6, 1) if replies else None
    return result


def worker_connections(http_port: int) -> list[int]:
    """Each worker's open inference connections, from ``/health``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=10) as response:
        health = json.load(response)
    workers = health["checks"].get("workers")
    if workers is None:
        return [health["checks"]["models"]["inference"]["connections"]]
    return [worker.get("connections", 0) for worker in workers["workers"]]


def spread_during(http_port: int, seconds: float, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s figures plus the connection spread read ``seconds`` in."""
    seen: list[list[int]] = []
    timer = threading.Timer(seconds, lambda: seen.append(worker_connections(http_port)))
    timer.start()
    try:
        result = run()
    finally:
        timer.cancel()
    if seen:
        counts = seen[0]
        fair = sum(counts) / len(counts)
        result["connections_per_worker"] = counts
        result["max_over_fair_share"] = round(max(counts) / fair, 3) if fair else None
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> Any:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("req_per_s", "p50_ms", "p99_ms", "max_ms", "errors", "missed_ticks", "requests", "server_cpu_us_per_reply")
    return {key: median_of(runs, key) for key in keys if any(key in run for run in runs)}


@contextmanager
def console_browser(profile: Path) -> Iterator[Any]:
    """Headless Chromium (Debian's, through selenium), on a blank page until told otherwise."""
    sys.path.insert(0, str(ROOT))
    from tests.browser import start_browser

    driver = start_browser(profile / "chromium")
    try:
        driver.get("about:blank")
        yield driver
    finally:
        driver.quit()


def write_release_size(path: Path) -> Path:
    """A checkpoint shaped like pvp-ml's released models (2 frames, as the load generator sends)."""
    sys.path.insert(0, str(ROOT))
    from osrs_twisted.policy.builtin import synthetic_nhenv_checkpoint
    from tests.policy_helpers import save_checkpoint

    checkpoint = synthetic_nhenv_checkpoint(seed=1, frames=2, trunk=(512, 512), heads=(128, 128), critic=(512, 512))
    return save_checkpoint(path, checkpoint)


def baseline_server(tree: Path, port: int, model: Path) -> list[str]:
    """The earlier commit's server, one process, TCP only (its options predate ``--workers``)."""
    return [
        sys.executable, "-m", "twisted", "osrs", "--no-jobs", "--no-demo-model", "--tcp-only",
        "--database", "sqlite:///baseline.sqlite3", "--tcp", f"tcp:{port}:interface=127.0.0.1",
        "--model", str(model),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument(
        "--release-size", action="store_true",
        help="serve a synthetic policy the size of pvp-ml's released models (actor 2x512, heads 2x128) instead",
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--conns", type=int, default=256)
    parser.add_argument("--bots", type=int, default=2000)
    parser.add_argument("--bot-seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (--workers)")
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes at once")
    parser.add_argument(
        "--baseline", type=Path,
        help="a checkout of an earlier commit (e.g. a git worktree): its server runs one process beside this one "
        "and the closed-loop runs alternate between them",
    )
    parser.add_argument(
        "--console", action="store_true",
        help="alternate closed-loop runs with the console's overview page open in headless Chromium "
        "(refreshing every second) and closed",
    )
    arguments = parser.parse_args()

    server_port, echo_port, http_port, baseline_port = free_port(), free_port(), free_port(), free_port()
    seconds = str(arguments.seconds)
    clients = arguments.clients
    closed = ["--seconds", seconds, "--frames", "2"]
    with tempfile.TemporaryDirectory() as workdir:
        if arguments.release_size:
            arguments.model = write_release_size(Path(workdir) / "release-size.zip")
        model_name = arguments.model.stem
        result: dict[str, Any] = {"model": model_name, "workers": arguments.workers, "clients": clients}
        server = [
            sys.executable, "-m", "twisted", "osrs", "--no-jobs", "--no-demo-model",
            "--workers", str(arguments.workers), "--database", "sqlite:///bench.sqlite3",
            "--tcp", f"tcp:{server_port}:interface=127.0.0.1", "--http", f"tcp:{http_port}:interface=127.0.0.1",
            "--model", str(arguments.model),
        ]
        echo = [sys.executable, str(TOOLS / "echo_server.py"), str(echo_port)]
        with ExitStack() as stack:
            process = stack.enter_context(running(server, server_port, workdir))
            stack.enter_context(running(echo, echo_port, workdir))
            wait_for_port(http_port, process)
            baseline: subprocess.Popen[bytes] | None = None
            if arguments.baseline:
                baseline = stack.enter_context(running(
                    baseline_server(arguments.baseline, baseline_port, arguments.model), baseline_port, workdir,
                    env={**os.environ, "PYTHONPATH": str(arguments.baseline.resolve())},
                ))
            pid = process.pid
            server_runs, echo_runs, baseline_runs, console_runs = [], [], [], []
            console = stack.enter_context(console_browser(Path(workdir))) if arguments.console else None
            for _ in range(arguments.repeats):
                echo_runs.append(loadgen(echo_port, arguments.conns, clients, *closed))
                server_runs.append(with_cpu(pid, lambda: loadgen(
                    server_port, arguments.conns, clients, *closed, "--model", model_name)))
                if console is not None:
                    console.get(f"http://127.0.0.1:{http_port}/ui/index.html?refresh=1")
                    console_runs.append(with_cpu(pid, lambda: loadgen(
                        server_port, arguments.conns, clients, *closed, "--model", model_name)))
                    console.get("about:blank")
                if baseline is not None:
                    baseline_pid = baseline.pid
                    baseline_runs.append(with_cpu(baseline_pid, lambda: loadgen(
                        baseline_port, arguments.conns, clients, *closed, "--model", model_name)))
            single = [
                loadgen(server_port, 1, 1, "--seconds", seconds, "--frames", "2", "--model", model_name)
                for _ in range(arguments.repeats)
            ]
            bots = spread_during(http_port, min(arguments.bot_seconds / 2, 5.0), lambda: with_cpu(pid, lambda: loadgen(
                server_port, arguments.bots, clients, "--tick-ms", "600",
                "--seconds", str(arguments.bot_seconds), "--frames", "2", "--model", model_name,
            )))
    result["closed_loop"] = {"server": summarise(server_runs), "echo": summarise(echo_runs)}
    server_rate, echo_rate = result["closed_loop"]["server"]["req_per_s"], result["closed_loop"]["echo"]["req_per_s"]
    result["closed_loop"]["fraction_of_echo"] = round(server_rate / echo_rate, 3) if echo_rate else None
    result["closed_loop"]["runs"] = {"server": server_runs, "echo": echo_runs}
    if console_runs:
        console_rate = median_of(console_runs, "req_per_s")
        result["closed_loop"]["console_open"] = summarise(console_runs)
        result["closed_loop"]["console_open_vs_closed"] = round(console_rate / server_rate, 3) if server_rate else None
        result["closed_loop"]["runs"]["console_open"] = console_runs
    if baseline_runs:
        baseline_rate = median_of(baseline_runs, "req_per_s")
        result["closed_loop"]["baseline"] = {"tree": str(arguments.baseline), **summarise(baseline_runs)}
        result["closed_loop"]["vs_baseline"] = round(server_rate / baseline_rate, 3) if baseline_rate else None
        result["closed_loop"]["runs"]["baseline"] = baseline_runs
    result["single_connection"] = summarise(single)
    result["bots"] = bots
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
