"""The ``osrs`` twistd plugin's module: its options and service maker.

A configuration that cannot start raises :class:`~osrs_twisted.service.StartupError`,
which ends twistd or twist with one line and exit status 1.
"""

from osrs_twisted.options import Options
from osrs_twisted.service import makeService

__all__ = ["Options", "makeService"]
