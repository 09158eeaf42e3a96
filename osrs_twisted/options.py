"""``twistd osrs`` options, as docs/configuration.md tables them.

Precedence is command line > environment > default. A repeatable flag given
on the command line replaces its default (and its environment value) rather
than adding to it. Every invalid combination is a ``UsageError``, which
twistd reports as one line before exiting non-zero. Parsed, the options
become one typed :class:`~osrs_twisted.config.Config` (``options.config``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, TypeVar

from twisted.internet import endpoints
from twisted.internet.testing import MemoryReactor
from twisted.python import usage

from osrs_twisted.config import (
    CommandConfig,
    Config,
    HttpConfig,
    JobsConfig,
    LimitsConfig,
    ListenConfig,
    Mode,
    ModelsConfig,
    StoreConfig,
)
from osrs_twisted.console.fleet import DEFAULT_GONE_AFTER, DEFAULT_LATE_AFTER
from osrs_twisted.jobs.sync import DEFAULT_JOB_INTERVALS
from osrs_twisted.workers.listeners import parse_listen_address

DEFAULT_HTTP = "tcp:8080:interface=127.0.0.1"
DEFAULT_TCP = "tcp:5555:interface=127.0.0.1"
DEFAULT_DATABASE = "sqlite:///osrs.sqlite3"
DEFAULT_WIKI_URL = "https://prices.runescape.wiki/api/v1/osrs"
DEFAULT_WIKI_USER_AGENT = (
    "osrs-twisted/0.1 (OSRS bot-fleet price sync; https://github.com/osrs-twisted/osrs-twisted)"
)

# The environment: each variable is named once, here; the help's "Env:"
# notes are made from these tables.

#: Parameters read from one variable each: option → variable.
_PARAMETER_VARIABLES: Mapping[str, str] = {
    "models": "OSRS_MODELS",
    "default-model": "OSRS_DEFAULT_MODEL",
    "models-poll": "OSRS_MODELS_POLL",
    "device": "OSRS_DEVICE",
    "database": "DATABASE_URL",
    "wiki-url": "OSRS_WIKI_URL",
    "wiki-user-agent": "OSRS_WIKI_USER_AGENT",
    "admin-token": "OSRS_ADMIN_TOKEN",
    "max-line-bytes": "OSRS_MAX_LINE_BYTES",
    "max-batch": "OSRS_MAX_BATCH",
    "max-inflight": "OSRS_MAX_INFLIGHT",
    "max-queued": "OSRS_MAX_QUEUED",
    "max-body-bytes": "OSRS_MAX_BODY_BYTES",
    "retention-days": "OSRS_RETENTION_DAYS",
    "items-file": "OSRS_ITEMS_FILE",
    "stale-after": "OSRS_STALE_AFTER",
    "metrics": "OSRS_METRICS",
    "actions-file": "OSRS_ACTIONS_FILE",
    "fleet-share": "OSRS_FLEET_SHARE",
    "task-ttl": "OSRS_TASK_TTL",
    "console-late-after": "OSRS_CONSOLE_LATE_AFTER",
    "console-gone-after": "OSRS_CONSOLE_GONE_AFTER",
    "workers": "OSRS_WORKERS",
}

#: Endpoint lists: option → (space-separated descriptions, a port number on loopback).
_ENDPOINT_VARIABLES: Mapping[str, tuple[str, str]] = {
    "http": ("OSRS_HTTP", "HTTP_PORT"),
    "tcp": ("OSRS_TCP", "TCP_PORT"),
}

#: Switches: variable → each value it takes → the flag that value sets.
_SWITCH_VARIABLES: Mapping[str, Mapping[str, str]] = {
    "OSRS_ROLE": {"http": "http-only", "tcp": "tcp-only"},
    "OSRS_JOBS": {"off": "no-jobs", "only": "jobs-only"},
}

#: ``off`` drops the demo model; any other value leaves it.
_DEMO_MODEL_VARIABLE = "OSRS_DEMO_MODEL"
#: A directory (as ``--models``) or one file (as ``--model``).
_MODEL_PATH_VARIABLE = "MODEL_PATH"
#: Comma-separated ``JOB=SECONDS``.
_JOB_INTERVALS_VARIABLE = "OSRS_JOB_INTERVALS"


def _environment_notes() -> Mapping[str, str]:
    """Option → the "Env: ..." note its help ends with."""
    notes: defaultdict[str, list[str]] = defaultdict(list)
    for option, variable in _PARAMETER_VARIABLES.items():
        notes[option].append(variable)
    for option, variables in _ENDPOINT_VARIABLES.items():
        notes[option].append(" or ".join(variables))
    for variable, flags in _SWITCH_VARIABLES.items():
        for value, flag in flags.items():
            notes[flag].append(f"{variable}={value}")
    notes["no-demo-model"].append(f"{_DEMO_MODEL_VARIABLE}=off")
    notes["models"].append(f"{_MODEL_PATH_VARIABLE} naming a directory")
    notes["model"].append(f"{_MODEL_PATH_VARIABLE} naming a file")
    notes["job-interval"].append(_JOB_INTERVALS_VARIABLE)
    return {option: "Env: " + ", or ".join(names) for option, names in notes.items()}


#: The flags that narrow what the process serves (they exclude each other).
_MODE_FLAGS: Mapping[str, Mode] = {
    "jobs-only": Mode.JOBS_ONLY,
    "http-only": Mode.HTTP_ONLY,
    "tcp-only": Mode.TCP_ONLY,
}


_Number = TypeVar("_Number", int, float)


def _checked(
    name: str, convert: Callable[[str], _Number], what: str, valid: Callable[[_Number], bool], rule: str, doc: str
) -> Callable[[str], _Number]:
    """A coercer for ``--name``: ``convert`` the text, then require ``valid``."""

    def parse(text: str) -> _Number:
        try:
            value = convert(text)
        except ValueError:
            raise ValueError(f"--{name} must be {what}, not {text!r}") from None
        if not valid(value):
            raise ValueError(f"--{name} must be {rule}, not {value}")
        return value

    parse.coerceDoc = doc  # type: ignore[attr-defined]
    return parse


def _positive_int(name: str) -> Callable[[str], int]:
    return _checked(name, int, "a whole number", lambda value: value > 0, "at least 1", "A whole number of at least 1.")


def _non_negative_seconds(name: str) -> Callable[[str], float]:
    return _checked(
        name, float, "a number of seconds", lambda value: 0 <= value < float("inf"),
        "a finite number of seconds of at least 0", "Seconds (a number of at least 0).",
    )


def _fleet_share(text: str) -> Fraction:
    """A share in (0, 1], exact: ``0.1`` is one tenth."""
    try:
        share = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"--fleet-share must be a number, not {text!r}") from None
    if not 0 < share <= 1:
        raise ValueError(f"--fleet-share must be more than 0 and at most 1, not {text.strip()}")
    return share


_fleet_share.coerceDoc = "A number in (0, 1]."  # type: ignore[attr-defined]


def _worker_count(text: str) -> int:
    """``auto`` (one per CPU this process may run on) or a whole number of at least 1."""
    if text.strip().lower() == "auto":
        return len(os.sched_getaffinity(0))
    return _positive_int("workers")(text)


_worker_count.coerceDoc = "auto, or a whole number of at least 1."  # type: ignore[attr-defined]


def _port_description(port: str, variable: str) -> str:
    if not port.isdigit():
        raise usage.UsageError(f"{variable} must be a port number, not {port!r}")
    return f"tcp:{port}:interface=127.0.0.1"


def _check_endpoint(option: str, description: str) -> None:
    """Parse ``description`` as the listener would, against a reactor that
    only records: nothing listens yet."""
    try:
        endpoints.serverFromString(MemoryReactor(), description)
    except Exception as e:
        raise usage.UsageError(f"--{option} {description!r} is not a valid endpoint: {e}") from None


def _check_shareable(option: str, description: str) -> None:
    try:
        parse_listen_address(description)
    except ValueError as e:
        raise usage.UsageError(f"--{option} {description!r}: {e}") from None


def parse_job_interval(text: str) -> tuple[str, int]:
    """``JOB=SECONDS`` → (job, seconds), naming what was wrong otherwise."""
    job, sep, seconds = text.partition("=")
    job = job.strip()
    if not sep or job not in DEFAULT_JOB_INTERVALS:
        known = ", ".join(DEFAULT_JOB_INTERVALS)
        raise usage.UsageError(f"--job-interval {text!r}: expected JOB=SECONDS with JOB one of {known}")
    try:
        value = int(seconds)
    except ValueError:
        raise usage.UsageError(f"--job-interval {text!r}: SECONDS must be a whole number") from None
    if value < 0:
        raise usage.UsageError(f"--job-interval {text!r}: SECONDS must be 0 (off) or more")
    return job, value


class _RecordedParameter(usage.CoerceParameter):
    """A parameter that notes it came from the command line, so the
    environment does not override it."""

    def __init__(self, options: usage.Options, coerce: Callable[[str], Any], given: set[str]) -> None:
        super().__init__(options, coerce)
        self.given = given

    def dispatch(self, parameterName: str, value: Optional[str]) -> None:
        self.given.add(parameterName)
        super().dispatch(parameterName, value)


class Options(usage.Options):
    """Options of the ``osrs`` plugin; see docs/configuration.md.

    After parsing, ``config`` holds the typed configuration.
    """

    config: Config

    synopsis = "[osrs options]"
    longdesc = (
        "Serve pvp-ml policy inference over TCP (BotScript line protocol) and the "
        "OSRS items/prices HTTP API on one reactor, with background price sync jobs."
    )

    optFlags = [
        ["http-only", None, "Serve HTTP only (no TCP inference)."],
        ["tcp-only", None, "Serve TCP inference only (no HTTP)."],
        ["no-jobs", None, "Run no background jobs."],
        ["jobs-only", None, "A worker: background jobs and /health only."],
        ["no-demo-model", None, "Drop the built-in untrained `demo` model."],
    ]

    optParameters: list[list[Any]] = [
        ["models", None, "./models", "Directory of *.zip models, named by file stem."],
        ["default-model", None, None, "Model for requests without `model`."],
        ["models-poll", None, 0.0, "Seconds between checks of the model files for a reload; 0: never.",
         _non_negative_seconds("models-poll")],
        ["device", None, "cpu", "Torch device for the models (cpu, cuda, cuda:1)."],
        ["database", None, DEFAULT_DATABASE, "sqlite:///path or postgresql://user@host:port/db."],
        ["wiki-url", None, DEFAULT_WIKI_URL, "OSRS Wiki prices API base."],
        ["wiki-user-agent", None, DEFAULT_WIKI_USER_AGENT, "User-Agent sent to the Wiki."],
        ["admin-token", None, None, "Bearer token for admin endpoints."],
        ["max-line-bytes", None, 1048576, "Longest TCP request line.", _positive_int("max-line-bytes")],
        ["max-batch", None, 256, "Most rows in one model call.", _positive_int("max-batch")],
        ["max-inflight", None, 64, "Requests in flight per connection.", _positive_int("max-inflight")],
        ["max-queued", None, 8192, "Requests waiting for the model, all connections.", _positive_int("max-queued")],
        ["max-body-bytes", None, 1048576, "Largest HTTP request body.", _positive_int("max-body-bytes")],
        ["retention-days", None, 30, "Prune price buckets and heartbeats older than this.",
         _positive_int("retention-days")],
        ["items-file", None, None, "Offline item list in /mapping shape."],
        ["stale-after", None, 1800, "A price older than this many seconds is stale.", _positive_int("stale-after")],
        ["metrics", None, None, "Endpoint (strports) of a listener serving only /metrics."],
        ["actions-file", None, None, "Bot command actions to load at start (else the starter set, once)."],
        ["fleet-share", None, Fraction(1, 10), "Most of an action's 24 h volume the fleet may take.", _fleet_share],
        ["task-ttl", None, 900, "Seconds a GET /task/ assignment lasts.", _positive_int("task-ttl")],
        ["console-late-after", None, DEFAULT_LATE_AFTER, "The console shows a bot silent this many seconds as late.",
         _positive_int("console-late-after")],
        ["console-gone-after", None, DEFAULT_GONE_AFTER, "The console shows a bot silent this many seconds as gone.",
         _positive_int("console-gone-after")],
        ["workers", None, 1, "Reactor processes serving the listeners; auto: one per usable CPU.", _worker_count],
    ]

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        super().__init__()
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self["http"] = [DEFAULT_HTTP]
        self["tcp"] = [DEFAULT_TCP]
        self["model"] = []
        self["job-interval"] = dict(DEFAULT_JOB_INTERVALS)
        self._given: set[str] = set()
        self._given_parameters: set[str] = set()
        self._given_jobs: set[str] = set()
        for name in _PARAMETER_VARIABLES:
            handler = self._dispatch[name]
            coerce = handler.coerce if isinstance(handler, usage.CoerceParameter) else str
            self._dispatch[name] = _RecordedParameter(self, coerce, self._given_parameters)
        for option, note in _environment_notes().items():
            self.docs[option] = f"{self.docs[option]} {note}"

    def opt_http(self, description: str) -> None:
        """HTTP endpoint (strports); repeat for several; replaces the default."""
        self._append("http", description)

    def opt_tcp(self, description: str) -> None:
        """Inference endpoint (strports); repeat for several; replaces the default."""
        self._append("tcp", description)

    def opt_model(self, path: str) -> None:
        """One model file; repeatable."""
        self._append("model", path)

    def opt_job_interval(self, text: str) -> None:
        """JOB=SECONDS: one job's interval, 0 disables it; repeatable."""
        job, seconds = parse_job_interval(text)
        self._given_jobs.add(job)
        self["job-interval"][job] = seconds

    def _append(self, key: str, value: str) -> None:
        if key not in self._given:
            self._given.add(key)
            self[key] = []
        self[key].append(value)

    def postOptions(self) -> None:
        self._apply_environment()
        self._check_combinations()
        if self["console-gone-after"] <= self["console-late-after"]:
            raise usage.UsageError(
                f"--console-gone-after ({self['console-gone-after']}) must be more than "
                f"--console-late-after ({self['console-late-after']})"
            )
        for option in ("http", "tcp"):
            for description in self[option]:
                _check_endpoint(option, description)
                if self["workers"] > 1:
                    _check_shareable(option, description)
        if self["metrics"] is not None:
            _check_endpoint("metrics", self["metrics"])
            if self["workers"] > 1:
                _check_shareable("metrics", self["metrics"])
        for path in self["model"]:
            if not Path(path).is_file():
                raise usage.UsageError(f"--model {path}: no such file")
        items_file = self["items-file"]
        if items_file is not None and not Path(items_file).is_file():
            raise usage.UsageError(f"--items-file {items_file}: no such file")
        actions_file = self["actions-file"]
        if actions_file is not None and not Path(actions_file).is_file():
            raise usage.UsageError(f"--actions-file {actions_file}: no such file")
        self.config = self._config()

    def _mode(self) -> Mode:
        for flag, mode in _MODE_FLAGS.items():
            if self[flag]:
                return mode
        return Mode.FULL

    def _config(self) -> Config:
        """The parsed options as typed sections."""
        mode = self._mode()
        return Config(
            mode=mode,
            listen=ListenConfig(http=tuple(self["http"]), tcp=tuple(self["tcp"]), metrics=self["metrics"]),
            models=ModelsConfig(
                directory=Path(self["models"]) if self["models"] else None,
                files=tuple(Path(path) for path in self["model"]),
                default=self["default-model"],
                demo=not self["no-demo-model"],
                device=self["device"],
                poll=self["models-poll"],
            ),
            store=StoreConfig(database=self["database"]),
            jobs=JobsConfig(
                enabled=mode is Mode.JOBS_ONLY or not self["no-jobs"],
                intervals=self["job-interval"],
                wiki_url=self["wiki-url"],
                wiki_user_agent=self["wiki-user-agent"],
                retention_days=self["retention-days"],
                items_file=Path(self["items-file"]) if self["items-file"] else None,
            ),
            http=HttpConfig(
                admin_token=self["admin-token"],
                stale_after=self["stale-after"],
                console_late_after=self["console-late-after"],
                console_gone_after=self["console-gone-after"],
            ),
            limits=LimitsConfig(
                max_line_bytes=self["max-line-bytes"],
                max_batch=self["max-batch"],
                max_inflight=self["max-inflight"],
                max_queued=self["max-queued"],
                max_body_bytes=self["max-body-bytes"],
            ),
            command=CommandConfig(
                actions_file=Path(self["actions-file"]) if self["actions-file"] else None,
                fleet_share=self["fleet-share"],
                task_ttl=self["task-ttl"],
            ),
            workers=self["workers"],
        )

    def _apply_environment(self) -> None:
        """Fill what the command line left unset from the environment."""
        env = self.environ
        for name, variable in _PARAMETER_VARIABLES.items():
            if name in self._given_parameters or variable not in env:
                continue
            coerce = self._dispatch[name].coerce
            try:
                self[name] = coerce(env[variable])
            except ValueError as e:
                raise usage.UsageError(f"{variable}={env[variable]!r}: {e}") from None
        for option, (listVariable, portVariable) in _ENDPOINT_VARIABLES.items():
            if option in self._given:
                continue
            if env.get(listVariable, "").split():
                self[option] = env[listVariable].split()
            elif portVariable in env:
                self[option] = [_port_description(env[portVariable], portVariable)]
        self._apply_model_path(env)
        for text in filter(str.strip, env.get(_JOB_INTERVALS_VARIABLE, "").split(",")):
            job, seconds = parse_job_interval(text)
            if job not in self._given_jobs:
                self["job-interval"][job] = seconds
        for variable, flags in _SWITCH_VARIABLES.items():
            self._apply_switch(env, variable, flags)
        if env.get(_DEMO_MODEL_VARIABLE, "").lower() == "off":
            self["no-demo-model"] = 1

    def _apply_model_path(self, env: Mapping[str, str]) -> None:
        path = env.get(_MODEL_PATH_VARIABLE)
        if not path:
            return
        if Path(path).is_dir():
            if "models" not in self._given_parameters and _PARAMETER_VARIABLES["models"] not in env:
                self["models"] = path
        elif "model" not in self._given:
            self["model"] = [path]

    def _apply_switch(self, env: Mapping[str, str], variable: str, choices: Mapping[str, str]) -> None:
        if variable not in env:
            return
        value = env[variable].lower()
        if value not in choices:
            raise usage.UsageError(f"{variable}={env[variable]!r}: expected one of {', '.join(choices)}")
        if not any(self[flag] for flag in choices.values()):
            self[choices[value]] = 1

    def _check_combinations(self) -> None:
        if self["http-only"] and self["tcp-only"]:
            raise usage.UsageError("--http-only and --tcp-only exclude each other")
        if self["jobs-only"] and self["workers"] > 1:
            raise usage.UsageError("--jobs-only runs in one process: it excludes --workers above 1")
        if self["jobs-only"]:
            for other in ("http-only", "tcp-only", "no-jobs"):
                if self[other]:
                    raise usage.UsageError(f"--jobs-only and --{other} exclude each other")

