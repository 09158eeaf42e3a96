"""The process's configuration as typed, immutable values.

:class:`~osrs_twisted.options.Options` parses the command line and the
environment into one :class:`Config`; ``makeService`` and every builder
below it read these sections, never option spellings (see
docs/configuration.md).
"""

from __future__ import annotations

import enum
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Optional

import attrs

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


@attrs.frozen
class ModelsConfig:
    """Where the policies come from and where they run."""

    directory: Optional[Path]
    files: tuple[Path, ...]
    default: Optional[str]
    demo: bool
    device: str


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


@attrs.frozen
class LimitsConfig:
    """Bounds on what one client may ask of the process."""

    max_line_bytes: int
    max_batch: int
    max_inflight: int
    max_queued: int
    max_body_bytes: int


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
