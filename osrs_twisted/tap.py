"""The ``osrs`` twistd plugin's module: its options and service maker.

A configuration that cannot start ends the process with one line on stderr
and exit status 1, instead of a traceback.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService

from osrs_twisted.options import Options
from osrs_twisted.service import StartupError
from osrs_twisted.service import makeService as _makeService

__all__ = ["Options", "makeService"]


def makeService(options: Any) -> IService:
    try:
        return _makeService(options)
    except StartupError as e:
        raise SystemExit(f"osrs: {e}") from None
