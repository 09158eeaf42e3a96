"""The console's options and where ``makeService`` puts its parts."""

from __future__ import annotations

from typing import Any

from twisted.application.service import IServiceCollection
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.console.history import HistorySampler
from osrs_twisted.options import Options
from osrs_twisted.service import makeService


def options(*args: str, **environ: str) -> Options:
    parsed = Options(environ=environ)
    parsed.parseOptions(list(args))
    return parsed


class ConsoleOptionTests(SynchronousTestCase):
    def test_thresholds_from_flags_and_environment(self) -> None:
        http = options().config.http
        self.assertEqual((http.console_late_after, http.console_gone_after), (120, 600))
        http = options("--console-late-after", "30", OSRS_CONSOLE_GONE_AFTER="90").config.http
        self.assertEqual((http.console_late_after, http.console_gone_after), (30, 90))

    def test_gone_must_be_after_late(self) -> None:
        with self.assertRaises(usage.UsageError) as raised:
            options("--console-late-after", "600", "--console-gone-after", "600")
        self.assertIn("--console-gone-after (600) must be more than --console-late-after (600)", str(raised.exception))
        self.assertRaises(usage.UsageError, options, "--console-late-after", "0")


class AssemblyTests(SynchronousTestCase):
    def samplers(self, *args: str) -> list[Any]:
        database = "sqlite:///" + self.mktemp() + ".sqlite3"
        config = options("--database", database, "--http", "tcp:0", "--tcp", "tcp:0", "--no-jobs", *args).config
        root = makeService(config, reactor=MemoryReactorClock())
        found = []
        for child in IServiceCollection(root):
            if child.name == "http":
                found = [c for c in IServiceCollection(child) if isinstance(c, HistorySampler)]
        return found

    def test_history_sampled_where_inference_and_the_api_share_a_process(self) -> None:
        (sampler,) = self.samplers()
        self.assertEqual(sampler.interval, 5.0)
        self.assertEqual(self.samplers("--http-only"), [])
