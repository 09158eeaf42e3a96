"""The process's configuration as typed, immutable values.

:class:`~osrs_twisted.options.Options` parses the command line and the
environment into one :class:`Config`; ``makeService`` and every builder
below it read these sections, never option spellings (see
docs/configuration.md).
"""

from __future__ import annotations

import enum
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Optional

import attrs

from osrs_twisted.console.fleet import DEFAULT_GONE_AFTER, DEFAULT_LATE_AFTER

#: Seconds the whole process may take to stop, shared out among its services.
DEFAULT_STOP_BUDGET = 30.0


class Mode(enum.Enum):
    """Which sides this process serves."""

    #: TCP inference and the HTTP API.
    FULL = "full"
    #: The HTTP API only.
    HTTP_ONLY = "http-only"
    #: TCP inference only.
    TCP_ONLY = "tcp-only"
    #: A worker: background jobs, and ``/health`` over HTTP.
    JOBS_ONLY = "jobs-only"

    @property
    def serves_tcp(self) -> bool:
        return self in (Mode.FULL, Mode.TCP_ONLY)

    @property
    def serves_api(self) -> bool:
        """The HTTP API proper (items, prices, models, tasks)."""
        return self in (Mode.FULL, Mode.HTTP_ONLY)

    @property
    def listens_http(self) -> bool:
        """An HTTP listener: the API, or a worker's ``/health``."""
        return self is not Mode.TCP_ONLY


def _frozen_mapping(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


@attrs.frozen
class ListenConfig:
    """Endpoint descriptions (strports syntax) to listen on."""

    http: tuple[str, ...]
    tcp: tuple[str, ...]
    #: A listener of its own for ``/metrics`` (besides the HTTP API's).
    metrics: Optional[str] = None


@attrs.frozen
class ModelsConfig:
    """Where the policies come from and where they run."""

    directory: Optional[Path]
    files: tuple[Path, ...]
    default: Optional[str]
    demo: bool
    device: str
    #: Seconds between checks of the model files for a reload; 0: never (SIGHUP and HTTP still reload).
    poll: float = 0.0


@attrs.frozen
class StoreConfig:
    """The database: ``sqlite:///path`` or ``postgresql://...``."""

    database: str


@attrs.frozen
class JobsConfig:
    """The background jobs: whether they run, how often, and what they reach."""

    enabled: bool
    intervals: Mapping[str, int] = attrs.field(converter=_frozen_mapping)
    wiki_url: str
    wiki_user_agent: str
    retention_days: int
    items_file: Optional[Path]


@attrs.frozen
class HttpConfig:
    """The HTTP API's own settings."""

    admin_token: Optional[str]
    stale_after: int
    #: The console marks a bot late, then gone, after this many silent seconds.
    console_late_after: int = DEFAULT_LATE_AFTER
    console_gone_after: int = DEFAULT_GONE_AFTER


@attrs.frozen
class LimitsConfig:
    """Bounds on what one client may ask of the process."""

    max_line_bytes: int
    max_batch: int
    max_inflight: int
    max_queued: int
    max_body_bytes: int


@attrs.frozen
class CommandConfig:
    """Bot command: where the actions come from and how ``GET /task/`` allocates."""

    #: Actions loaded (inserted or replaced by name) at every start; None:
    #: the starter set, into an empty table only.
    actions_file: Optional[Path] = None
    #: The most of an action's 24 h market volume the fleet may take on it.
    fleet_share: Fraction = Fraction(1, 10)
    #: Seconds an assignment lasts before the bot is reconsidered.
    task_ttl: int = 900


@attrs.frozen
class Config:
    """Everything ``makeService`` needs to build the process."""

    mode: Mode
    listen: ListenConfig
    models: ModelsConfig
    store: StoreConfig
    jobs: JobsConfig
    http: HttpConfig
    limits: LimitsConfig
    stop_budget: float = DEFAULT_STOP_BUDGET
    command: CommandConfig = CommandConfig()
    #: Reactor processes serving the listeners; more than one makes this
    #: process their supervisor (docs/operations.md, "Workers").
    workers: int = 1

    @property
    def needs_store(self) -> bool:
        return self.mode.serves_api or self.jobs.enabled

    @property
    def needs_models(self) -> bool:
        """The TCP side runs the models; the API describes them (``/models``)."""
        return self.mode.serves_tcp or self.mode.serves_api
