"""``twistd osrs`` options: defaults, environment precedence, every error path."""

from __future__ import annotations

import operator
from fractions import Fraction
from pathlib import Path
from typing import Mapping, Optional

import attrs
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.config import (
    DEFAULT_STOP_BUDGET,
    HttpConfig,
    JobsConfig,
    LimitsConfig,
    ListenConfig,
    Mode,
    ModelsConfig,
    StoreConfig,
)
from osrs_twisted.jobs.sync import DEFAULT_JOB_INTERVALS
from osrs_twisted.options import (
    DEFAULT_DATABASE,
    DEFAULT_WIKI_URL,
    DEFAULT_WIKI_USER_AGENT,
    Options,
)


def parse(args: list[str], environ: Optional[Mapping[str, str]] = None) -> Options:
    options = Options(environ=environ or {})
    options.parseOptions(args)
    return options


DEFAULTS = {
    "http": ["tcp:8080:interface=127.0.0.1"],
    "tcp": ["tcp:5555:interface=127.0.0.1"],
    "http-only": 0,
    "tcp-only": 0,
    "no-jobs": 0,
    "jobs-only": 0,
    "no-demo-model": 0,
    "models": "./models",
    "model": [],
    "default-model": None,
    "models-poll": 0.0,
    "device": "cpu",
    "database": DEFAULT_DATABASE,
    "wiki-url": DEFAULT_WIKI_URL,
    "wiki-user-agent": DEFAULT_WIKI_USER_AGENT,
    "admin-token": None,
    "max-line-bytes": 1048576,
    "max-batch": 256,
    "max-inflight": 64,
    "max-queued": 8192,
    "max-body-bytes": 1048576,
    "job-interval": dict(DEFAULT_JOB_INTERVALS),
    "retention-days": 30,
    "items-file": None,
    "stale-after": 1800,
    "metrics": None,
    "actions-file": None,
    "fleet-share": Fraction(1, 10),
    "task-ttl": 900,
    "console-late-after": 120,
    "console-gone-after": 600,
    "workers": 1,
}


class DefaultsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        self.assertEqual(dict(parse([])), DEFAULTS)

    def test_job_interval_defaults(self) -> None:
        self.assertEqual(
            parse([])["job-interval"],
            {"sync_mapping": 86400, "sync_latest": 60, "sync_5m": 300, "sync_1h": 3600,
             "sync_6h": 3600, "sync_24h": 3600, "prune": 86400},
        )


class CommandLineTests(SynchronousTestCase):
    def test_repeatable_endpoints_replace_default(self) -> None:
        options = parse(["--tcp", "tcp:5555", "--tcp", "tcp:9999", "--http", "tcp:8081"])
        self.assertEqual(options["tcp"], ["tcp:5555", "tcp:9999"])
        self.assertEqual(options["http"], ["tcp:8081"])

    def test_everything(self) -> None:
        model = self.mktemp()
        Path(model).write_bytes(b"x")
        options = parse([
            "--http-only", "--no-jobs", "--models", "/m", "--model", model, "--default-model", "X",
            "--no-demo-model", "--device", "cuda:1", "--database", "postgresql://u@h:5432/db",
            "--wiki-url", "http://127.0.0.1:1/api", "--wiki-user-agent", "me (a@b.c)",
            "--admin-token", "s3cret", "--max-line-bytes", "10", "--max-batch", "11",
            "--max-inflight", "12", "--max-queued", "13", "--max-body-bytes", "14",
            "--job-interval", "sync_latest=30", "--job-interval", "prune=0",
            "--retention-days", "7", "--stale-after", "99", "--workers", "3",
        ])
        expected = dict(DEFAULTS)
        expected.update({
            "http-only": 1, "no-jobs": 1, "models": "/m", "model": [model], "default-model": "X",
            "no-demo-model": 1, "device": "cuda:1", "database": "postgresql://u@h:5432/db",
            "wiki-url": "http://127.0.0.1:1/api", "wiki-user-agent": "me (a@b.c)",
            "admin-token": "s3cret", "max-line-bytes": 10, "max-batch": 11, "max-inflight": 12,
            "max-queued": 13, "max-body-bytes": 14, "retention-days": 7, "stale-after": 99,
            "workers": 3, "job-interval": {**DEFAULT_JOB_INTERVALS, "sync_latest": 30, "prune": 0},
        })
        self.assertEqual(dict(options), expected)


class EnvironmentTests(SynchronousTestCase):
    def test_environment_fills_defaults(self) -> None:
        options = parse([], {
            "OSRS_HTTP": "tcp:1 tcp:2", "OSRS_TCP": "tcp:3", "DATABASE_URL": "postgresql://x/y",
            "OSRS_MAX_BATCH": "32", "OSRS_ROLE": "tcp", "OSRS_JOBS": "off", "OSRS_DEMO_MODEL": "off",
            "OSRS_JOB_INTERVALS": "sync_latest=15,prune=0", "OSRS_DEVICE": "cuda",
            "OSRS_ADMIN_TOKEN": "t", "OSRS_STALE_AFTER": "60",
        })
        self.assertEqual(options["http"], ["tcp:1", "tcp:2"])
        self.assertEqual(options["tcp"], ["tcp:3"])
        self.assertEqual(options["database"], "postgresql://x/y")
        self.assertEqual(options["max-batch"], 32)
        self.assertEqual((options["tcp-only"], options["no-jobs"], options["no-demo-model"]), (1, 1, 1))
        self.assertEqual(options["job-interval"]["sync_latest"], 15)
        self.assertEqual(options["job-interval"]["prune"], 0)
        self.assertEqual((options["device"], options["admin-token"], options["stale-after"]), ("cuda", "t", 60))

    def test_command_line_beats_environment(self) -> None:
        options = parse(
            ["--max-batch", "8", "--tcp", "tcp:7", "--database", "sqlite:///a.db", "--job-interval", "sync_latest=5"],
            {"OSRS_MAX_BATCH": "32", "OSRS_TCP": "tcp:3", "DATABASE_URL": "postgresql://x/y",
             "OSRS_JOB_INTERVALS": "sync_latest=15,sync_5m=600"},
        )
        self.assertEqual(options["max-batch"], 8)
        self.assertEqual(options["tcp"], ["tcp:7"])
        self.assertEqual(options["database"], "sqlite:///a.db")
        self.assertEqual(options["job-interval"]["sync_latest"], 5)
        self.assertEqual(options["job-interval"]["sync_5m"], 600)

    def test_command_line_default_value_beats_environment(self) -> None:
        self.assertEqual(parse(["--max-batch", "256"], {"OSRS_MAX_BATCH": "32"})["max-batch"], 256)

    def test_port_variables(self) -> None:
        options = parse([], {"HTTP_PORT": "8000", "TCP_PORT": "9999"})
        self.assertEqual(options["http"], ["tcp:8000:interface=127.0.0.1"])
        self.assertEqual(options["tcp"], ["tcp:9999:interface=127.0.0.1"])

    def test_list_variable_beats_port_variable(self) -> None:
        self.assertEqual(parse([], {"OSRS_TCP": "tcp:1", "TCP_PORT": "2"})["tcp"], ["tcp:1"])

    def test_model_path_directory_and_file(self) -> None:
        directory = self.mktemp()
        Path(directory).mkdir()
        self.assertEqual(parse([], {"MODEL_PATH": directory})["models"], directory)
        model = Path(directory, "m.zip")
        model.write_bytes(b"x")
        options = parse([], {"MODEL_PATH": str(model)})
        self.assertEqual(options["model"], [str(model)])
        self.assertEqual(options["models"], "./models")

    def test_jobs_only_from_environment(self) -> None:
        self.assertEqual(parse([], {"OSRS_JOBS": "only"})["jobs-only"], 1)


class ErrorTests(SynchronousTestCase):
    """Each invalid configuration is one clear line naming what was wrong."""

    def assertUsageError(self, args: list[str], environ: Optional[Mapping[str, str]], fragment: str) -> None:
        error = self.assertRaises(usage.UsageError, parse, args, environ)
        self.assertIn(fragment, str(error))
        self.assertNotIn("\n", str(error))

    def test_exclusive_roles(self) -> None:
        self.assertUsageError(["--http-only", "--tcp-only"], None, "exclude each other")
        for other in ("--http-only", "--tcp-only", "--no-jobs"):
            self.assertUsageError(["--jobs-only", other], None, "--jobs-only and")

    def test_role_flag_beats_contrary_environment(self) -> None:
        options = parse(["--http-only"], {"OSRS_ROLE": "tcp"})
        self.assertEqual((options["http-only"], options["tcp-only"], options["jobs-only"]), (1, 0, 0))

    def test_bad_numbers(self) -> None:
        self.assertUsageError(["--max-batch", "0"], None, "--max-batch must be at least 1")
        self.assertUsageError(["--max-queued", "many"], None, "--max-queued must be a whole number")
        self.assertUsageError([], {"OSRS_MAX_INFLIGHT": "-3"}, "OSRS_MAX_INFLIGHT")

    def test_bad_endpoint(self) -> None:
        self.assertUsageError(["--tcp", "tcp:notaport"], None, "--tcp 'tcp:notaport' is not a valid endpoint")
        self.assertUsageError(["--http", "bogus:1"], None, "--http 'bogus:1' is not a valid endpoint")
        self.assertUsageError([], {"HTTP_PORT": "eighty"}, "HTTP_PORT must be a port number")

    def test_bad_job_interval(self) -> None:
        self.assertUsageError(["--job-interval", "sync_latest"], None, "expected JOB=SECONDS")
        self.assertUsageError(["--job-interval", "nope=5"], None, "JOB one of sync_mapping")
        self.assertUsageError(["--job-interval", "prune=-1"], None, "0 (off) or more")
        self.assertUsageError([], {"OSRS_JOB_INTERVALS": "sync_5m=x"}, "SECONDS must be a whole number")

    def test_missing_files(self) -> None:
        self.assertUsageError(["--model", "/no/such/model.zip"], None, "--model /no/such/model.zip: no such file")
        self.assertUsageError(["--items-file", "/no/items.json"], None, "--items-file /no/items.json")

    def test_bad_switch_values(self) -> None:
        self.assertUsageError([], {"OSRS_ROLE": "both"}, "OSRS_ROLE='both'")
        self.assertUsageError([], {"OSRS_JOBS": "maybe"}, "OSRS_JOBS='maybe'")

    def test_unknown_option(self) -> None:
        self.assertUsageError(["--frobnicate"], None, "frobnicate")


class ConfigTests(SynchronousTestCase):
    """``postOptions`` leaves the typed configuration in ``options.config``."""

    def test_defaults(self) -> None:
        config = parse([]).config
        self.assertEqual(config.mode, Mode.FULL)
        self.assertEqual(config.listen, ListenConfig(http=("tcp:8080:interface=127.0.0.1",),
                                                     tcp=("tcp:5555:interface=127.0.0.1",)))
        self.assertEqual(config.models, ModelsConfig(directory=Path("./models"), files=(), default=None,
                                                     demo=True, device="cpu"))
        self.assertEqual(config.store, StoreConfig(database=DEFAULT_DATABASE))
        self.assertEqual(config.jobs, JobsConfig(enabled=True, intervals=DEFAULT_JOB_INTERVALS,
                                                 wiki_url=DEFAULT_WIKI_URL, wiki_user_agent=DEFAULT_WIKI_USER_AGENT,
                                                 retention_days=30, items_file=None))
        self.assertEqual(config.http, HttpConfig(admin_token=None, stale_after=1800))
        self.assertEqual(config.limits, LimitsConfig(max_line_bytes=1048576, max_batch=256, max_inflight=64,
                                                     max_queued=8192, max_body_bytes=1048576))
        self.assertEqual(config.stop_budget, DEFAULT_STOP_BUDGET)

    def test_command_line_and_environment(self) -> None:
        model = self.mktemp()
        Path(model).write_bytes(b"x")
        config = parse(
            ["--http-only", "--max-batch", "8", "--model", model, "--job-interval", "prune=0"],
            {"OSRS_JOBS": "off", "DATABASE_URL": "postgresql://x/y", "OSRS_DEFAULT_MODEL": "m",
             "OSRS_TCP": "tcp:3", "OSRS_JOB_INTERVALS": "sync_latest=15", "OSRS_ADMIN_TOKEN": "t"},
        ).config
        self.assertEqual((config.mode, config.jobs.enabled), (Mode.HTTP_ONLY, False))
        self.assertEqual(config.limits.max_batch, 8)
        self.assertEqual(config.store.database, "postgresql://x/y")
        self.assertEqual((config.models.files, config.models.default), ((Path(model),), "m"))
        self.assertEqual(config.listen.tcp, ("tcp:3",))
        self.assertEqual(config.jobs.intervals, {**DEFAULT_JOB_INTERVALS, "sync_latest": 15, "prune": 0})
        self.assertEqual(config.http.admin_token, "t")

    def test_modes(self) -> None:
        cases = {
            (): (Mode.FULL, True),
            ("--tcp-only",): (Mode.TCP_ONLY, True),
            ("--tcp-only", "--no-jobs"): (Mode.TCP_ONLY, False),
            ("--jobs-only",): (Mode.JOBS_ONLY, True),
        }
        for args, expected in cases.items():
            config = parse(list(args)).config
            self.assertEqual((config.mode, config.jobs.enabled), expected, args)
        self.assertEqual(
            [(mode.serves_tcp, mode.serves_api, mode.listens_http) for mode in Mode],
            [(True, True, True), (False, True, True), (True, False, False), (False, False, True)],
        )

    def test_frozen(self) -> None:
        config = parse([]).config
        self.assertRaises(attrs.exceptions.FrozenInstanceError, setattr, config.limits, "max_batch", 1)
        self.assertRaises(TypeError, operator.setitem, config.jobs.intervals, "prune", 1)

    def test_endpoint_checked_without_listening(self) -> None:
        options = parse(["--tcp", "tcp:5555:interface=127.0.0.1", "--http", "unix:" + self.mktemp()])
        self.assertEqual(options.config.listen.tcp, ("tcp:5555:interface=127.0.0.1",))


class HelpTests(SynchronousTestCase):
    """``twistd osrs --help`` names every option's environment variable."""

    VARIABLES = [
        "OSRS_HTTP", "HTTP_PORT", "OSRS_TCP", "TCP_PORT", "OSRS_ROLE=http", "OSRS_ROLE=tcp", "OSRS_JOBS=off",
        "OSRS_JOBS=only", "OSRS_MODELS", "MODEL_PATH", "OSRS_DEFAULT_MODEL", "OSRS_DEMO_MODEL=off", "OSRS_DEVICE",
        "DATABASE_URL", "OSRS_WIKI_URL", "OSRS_WIKI_USER_AGENT", "OSRS_ADMIN_TOKEN", "OSRS_MAX_LINE_BYTES",
        "OSRS_MAX_BATCH", "OSRS_MAX_INFLIGHT", "OSRS_MAX_QUEUED", "OSRS_MAX_BODY_BYTES", "OSRS_JOB_INTERVALS",
        "OSRS_RETENTION_DAYS", "OSRS_ITEMS_FILE", "OSRS_STALE_AFTER",
    ]

    def test_every_option_names_its_variable(self) -> None:
        options = Options(environ={})
        for option, doc in options.docs.items():
            if option not in ("help", "version"):
                self.assertIn("Env: ", doc, option)
        usage_text = " ".join(options.getUsage().split())
        for variable in self.VARIABLES:
            self.assertIn(variable, usage_text)
        self.assertIn("--models= Directory of *.zip models, named by file stem. Env: OSRS_MODELS, or MODEL_PATH "
                      "naming a directory", usage_text)
