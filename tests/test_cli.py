"""The ``osrs`` command: its words become the plugin's options on ``twist``,
and the services they build are the right ones."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.application.service import IServiceCollection
from twisted.internet.testing import MemoryReactorClock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.cli import split_arguments, twist_arguments
from osrs_twisted.options import Options
from osrs_twisted.service import makeService

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ArgumentTests(SynchronousTestCase):
    def test_serve_runs_the_plugin_on_twist(self) -> None:
        self.assertEqual(twist_arguments(["serve", "--tcp-only"]), ["twist", "osrs", "--tcp-only"])

    def test_worker_is_jobs_only(self) -> None:
        self.assertEqual(twist_arguments(["worker", "--database", "x"]),
                         ["twist", "osrs", "--jobs-only", "--database", "x"])

    def test_twist_options_go_before_the_plugin(self) -> None:
        self.assertEqual(twist_arguments(["--log-format=json", "--log-level", "warn", "serve", "--http-only"]),
                         ["twist", "--log-format=json", "--log-level", "warn", "osrs", "--http-only"])

    def test_unknown_or_missing_command_is_named(self) -> None:
        with self.assertRaisesRegex(UsageError, "unknown command 'run'; expected one of serve, worker"):
            split_arguments(["run"])
        with self.assertRaisesRegex(UsageError, "no command given"):
            split_arguments(["--log-format=json"])


class AssemblyTests(SynchronousTestCase):
    """The services each command builds, on a memory reactor."""

    def children(self, args: list[str]) -> list[str]:
        _, plugin_options = split_arguments(args)
        options = Options(environ={})
        options.parseOptions([*plugin_options, "--database", "sqlite:///" + self.mktemp() + ".sqlite3"])
        service = makeService(options.config, reactor=MemoryReactorClock())
        return [child.name for child in IServiceCollection(service)]

    def test_serve(self) -> None:
        self.assertEqual(self.children(["serve"]), ["store", "models", "tcp", "http", "jobs"])

    def test_serve_tcp_only(self) -> None:
        self.assertEqual(self.children(["serve", "--tcp-only", "--no-jobs"]), ["models", "tcp"])

    def test_serve_http_only(self) -> None:
        self.assertEqual(self.children(["serve", "--http-only"]), ["store", "http", "jobs"])

    def test_worker(self) -> None:
        self.assertEqual(self.children(["worker"]), ["store", "http", "jobs"])

    def test_worker_excludes_the_serving_modes(self) -> None:
        with self.assertRaisesRegex(UsageError, "--jobs-only and --http-only exclude each other"):
            self.children(["worker", "--http-only"])

    def test_metrics_listener(self) -> None:
        names = self.children(["serve", "--tcp-only", "--no-jobs", "--metrics", "tcp:9102:interface=127.0.0.1"])
        self.assertEqual(names, ["models", "tcp", "metrics"])


class SubprocessTests(SynchronousTestCase):
    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": ROOT}
        return subprocess.run([sys.executable, "-m", "osrs_twisted.cli", *args], capture_output=True, text=True,
                              env=env, timeout=60, cwd=ROOT)

    def test_help(self) -> None:
        done = self.run_cli("--help")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("serve", done.stdout)
        self.assertIn("worker", done.stdout)

    def test_serve_help_lists_the_plugin_options(self) -> None:
        done = self.run_cli("serve", "--help")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("--tcp-only", done.stdout)
        self.assertIn("OSRS_METRICS", done.stdout)

    def test_unknown_command(self) -> None:
        done = self.run_cli("bogus")
        self.assertEqual(done.returncode, 2)
        self.assertIn("unknown command 'bogus'", done.stderr)
