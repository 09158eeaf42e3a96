"""The ``osrs`` twistd plugin's module: its options and service maker.

A configuration that cannot start raises :class:`~osrs_twisted.service.StartupError`,
which ends twistd or twist with one line and exit status 1.
"""

from typing import Any

from osrs_twisted import service
from osrs_twisted.options import Options
from osrs_twisted.workers.supervisor import makeSupervisor

__all__ = ["Options", "makeService"]


def makeService(options: Options, reactor: Any = None) -> service.OsrsService:
    """twistd's entry point: the service for parsed ``options`` (with
    ``--workers`` above 1, the supervisor of that many worker processes)."""
    if options.config.workers > 1:
        return makeSupervisor(options.config, reactor)
    return service.makeService(options.config, reactor)
