"""Faults the fake Wiki can be told to inject, for the next N requests or until cleared."""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional

import attrs

FaultKind = Literal["status", "slow", "malformed", "empty"]
FAULT_KINDS: tuple[FaultKind, ...] = ("status", "slow", "malformed", "empty")

_JSON_FIELDS: Mapping[str, str] = {
    "kind": "kind",
    "status": "status",
    "retryAfter": "retry_after",
    "delay": "delay",
    "path": "path",
    "times": "times",
}


def _not_negative(instance: object, attribute: attrs.Attribute[Any], value: Optional[float]) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


@attrs.frozen
class Fault:
    """One misbehaviour.

    ``status`` answers that HTTP status with ``{"error": ...}`` (and a
    ``Retry-After`` header when ``retry_after`` is set); ``slow`` waits
    ``delay`` seconds before answering normally; ``malformed`` truncates the
    JSON; ``empty`` answers the endpoint's shape with no data. ``path`` limits
    it to one endpoint; ``times`` to the next N matching requests (``None``:
    until cleared).
    """

    kind: FaultKind = attrs.field(validator=attrs.validators.in_(FAULT_KINDS))
    status: int = attrs.field(
        default=500, validator=[attrs.validators.ge(400), attrs.validators.le(599)]
    )
    retry_after: Optional[int] = attrs.field(default=None, validator=_not_negative)
    delay: float = attrs.field(default=0.0, validator=_not_negative)
    path: Optional[str] = None
    times: Optional[int] = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Fault:
        """Build a fault from the admin route's camelCase JSON; ``ValueError`` if bad."""
        unknown = set(body) - set(_JSON_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**{_JSON_FIELDS[key]: value for key, value in body.items()})
        except TypeError as e:
            raise ValueError(str(e)) from None


@attrs.define
class _Armed:
    fault: Fault
    remaining: Optional[int]


@attrs.define
class FaultBoard:
    """The active faults, applied first-injected first."""

    _active: list[_Armed] = attrs.field(factory=list)

    def add(self, fault: Fault) -> None:
        self._active.append(_Armed(fault, fault.times))

    def clear(self, path: Optional[str] = None) -> None:
        """Drop every fault, or only those injected for ``path``."""
        self._active = [
            armed for armed in self._active if path is not None and armed.fault.path != path
        ]

    def take(self, path: str) -> Optional[Fault]:
        """The fault that applies to this request, counting it off."""
        for armed in self._active:
            if armed.fault.path not in (None, path):
                continue
            if armed.remaining is not None:
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._active.remove(armed)
            return armed.fault
        return None
