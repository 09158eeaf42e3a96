"""A plain, JSON-able set of metric samples: what the process's counters
read at one moment, before any Prometheus rendering.

Snapshots of several processes can be sent over a pipe (``to_json``,
``from_json``) and rendered the same way as one's own. Pure values, no
reactor and no ``prometheus_client``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Literal, Mapping, Sequence, Union

import attrs

from osrs_twisted.inference.metrics import Histogram

Kind = Literal["counter", "gauge", "histogram", "info"]
KINDS: tuple[Kind, ...] = ("counter", "gauge", "histogram", "info")

#: Prometheus' base unit of time is the second; the counters keep milliseconds.
MS = 0.001


@attrs.frozen
class Buckets:
    """A histogram's value: counts per bucket of ``bounds`` (not cumulative;
    one more count than bounds, for the open last bucket) and their sum."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, count up to it)`` pairs, the last bound infinite,
        as Prometheus counts buckets."""
        pairs: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip([*self.bounds, math.inf], self.counts, strict=True):
            running += count
            pairs.append((bound, running))
        return pairs


def buckets_of(histogram: Histogram, scale: float = 1.0) -> Buckets:
    """``histogram`` as a sample value, its bounds and sum multiplied by ``scale``."""
    return Buckets(
        tuple(float(bound) * scale for bound in histogram.bounds),
        tuple(histogram.counts),
        histogram.total * scale,
    )


Value = Union[float, Buckets]


@attrs.frozen
class Sample:
    """One labelled value of a family; ``labels`` in the family's label order.
    An info sample's labels are the information; its value is 1."""

    labels: tuple[str, ...]
    value: Value


@attrs.frozen
class Family:
    """One metric: its name (a counter's without ``_total``, an info's without
    ``_info``: the renderer adds them), kind, help text, label names, samples."""

    name: str
    kind: Kind
    documentation: str
    label_names: tuple[str, ...]
    samples: tuple[Sample, ...]


def family(
    name: str,
    kind: Kind,
    documentation: str,
    label_names: Sequence[str],
    values: Mapping[tuple[str, ...], Value],
) -> Family:
    """A family from ``labels → value``, sorted by labels so output is stable."""
    samples = tuple(Sample(labels, value) for labels, value in sorted(values.items()))
    return Family(name, kind, documentation, tuple(label_names), samples)


def single(name: str, kind: Kind, documentation: str, value: Value) -> Family:
    """A family of one unlabelled sample."""
    return Family(name, kind, documentation, (), (Sample((), value),))


@attrs.frozen
class MetricsSnapshot:
    """Every family the process reports, read at one moment."""

    families: tuple[Family, ...]

    @classmethod
    def of(cls, families: Iterable[Family]) -> "MetricsSnapshot":
        return cls(tuple(families))

    def to_json(self) -> dict[str, Any]:
        return {
            "families": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "help": f.documentation,
                    "labels": list(f.label_names),
                    "samples": [[list(s.labels), _value_json(s.value)] for s in f.samples],
                }
                for f in self.families
            ]
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "MetricsSnapshot":
        """The inverse of ``to_json``; ``ValueError`` naming what is malformed."""
        families = []
        for entry in data["families"]:
            kind = entry["kind"]
            if kind not in KINDS:
                raise ValueError(f"metric {entry['name']!r}: unknown kind {kind!r}")
            samples = tuple(Sample(tuple(labels), _value_from_json(value)) for labels, value in entry["samples"])
            families.append(Family(entry["name"], kind, entry["help"], tuple(entry["labels"]), samples))
        return cls(tuple(families))


def _value_json(value: Value) -> Any:
    if isinstance(value, Buckets):
        return {"bounds": list(value.bounds), "counts": list(value.counts), "sum": value.total}
    return value


def _value_from_json(value: Any) -> Value:
    if isinstance(value, dict):
        return Buckets(tuple(value["bounds"]), tuple(value["counts"]), value["sum"])
    return float(value)
