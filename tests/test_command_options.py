"""Bot command's options: ``--actions-file``, ``--fleet-share``, ``--task-ttl``
and their environment variables, and what ``makeService`` makes of them."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.config import CommandConfig
from osrs_twisted.market.actions import load_starter_actions
from osrs_twisted.options import Options
from osrs_twisted.service import StartupError, makeService


def parse(args: list[str], environ: dict[str, str] | None = None) -> Options:
    options = Options(environ=environ or {})
    options.parseOptions(args)
    return options


class CommandOptionsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.database = "sqlite:///" + self.mktemp() + ".sqlite3"

    def test_defaults(self) -> None:
        self.assertEqual(parse([]).config.command, CommandConfig(None, Fraction(1, 10), 900))

    def test_command_line_and_environment(self) -> None:
        path = self.mktemp()
        Path(path).write_text("{}")
        config = parse(["--fleet-share", "0.25", "--task-ttl", "60", "--actions-file", path]).config.command
        self.assertEqual(config, CommandConfig(Path(path), Fraction(1, 4), 60))
        env = {"OSRS_FLEET_SHARE": "1", "OSRS_TASK_TTL": "30", "OSRS_ACTIONS_FILE": path}
        self.assertEqual(parse([], env).config.command, CommandConfig(Path(path), Fraction(1), 30))
        self.assertEqual(parse(["--fleet-share", "0.5"], env).config.command.fleet_share, Fraction(1, 2))

    def test_bad_values(self) -> None:
        for args, words in [
            (["--fleet-share", "0"], "more than 0"), (["--fleet-share", "1.5"], "at most 1"),
            (["--fleet-share", "lots"], "must be a number"), (["--task-ttl", "0"], "--task-ttl"),
            (["--actions-file", "/no/such/file.json"], "no such file"),
        ]:  # fmt: skip
            error = self.assertRaises(usage.UsageError, parse, args)
            self.assertIn(words, str(error))

    def test_bad_actions_file_stops_the_start_naming_the_field(self) -> None:
        document = {"actions": [{
            "name": "TAN", "type": "TAN", "inputs": [{"itemId": 1739, "quantity": 0}], "outputs": [],
            "actionsPerHour": 1, "members": False,
        }]}  # fmt: skip
        path = self.mktemp()
        Path(path).write_text(json.dumps(document))
        options = parse(["--database", self.database, "--actions-file", path, "--no-jobs", "--http-only"])
        error = self.assertRaises(StartupError, makeService, options.config, MemoryReactorClock())
        self.assertEqual(
            str(error), f"osrs: --actions-file {path}: actions[0].inputs[0].quantity must be a positive integer"
        )

    def test_starter_set_is_valid(self) -> None:
        names = [action.name for action in load_starter_actions()]
        self.assertGreaterEqual(len(names), 12)
        self.assertEqual(len(names), len(set(names)))
