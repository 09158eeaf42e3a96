"""Health: each component reports its own check; this module combines them.

``failing`` means nothing this process is configured to serve can work;
``degraded`` means it serves but something is wrong (see docs/configuration.md).
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Mapping

import attrs

Status = Literal["ok", "degraded", "failing"]
_RANK: Mapping[Status, int] = {"ok": 0, "degraded": 1, "failing": 2}


@attrs.frozen
class Check:
    """One component's state: a status, a sentence, and figures that help."""

    status: Status
    detail: str
    #: Rendered as JSON by ``http/render.py``: plain values, or domain values it knows.
    figures: Mapping[str, Any] = attrs.field(factory=dict)


#: A component's check, called on every ``/health`` request (cheap, no I/O).
CheckFunction = Callable[[], Check]


def worst(statuses: list[Status]) -> Status:
    """The most serious of some statuses (``ok`` for none)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


@attrs.frozen
class HealthReport:
    """The ``/health`` document and the HTTP status it is served with."""

    status: Status
    checks: Mapping[str, Check]

    @property
    def http_status(self) -> int:
        return 503 if self.status == "failing" else 200


@attrs.define
class HealthRegistry:
    """The checks of the components this process runs, by name."""

    checks: dict[str, CheckFunction] = attrs.field(factory=dict)

    def register(self, name: str, check: CheckFunction) -> None:
        self.checks[name] = check

    def report(self) -> HealthReport:
        results = {name: check() for name, check in self.checks.items()}
        return HealthReport(worst([r.status for r in results.values()]), results)
