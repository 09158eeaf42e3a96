"""One view of every worker: ``/health`` answered by any of them covers all.

Each worker reports its own checks and raw inference counters to the
supervisor about once a second; the supervisor relays everyone's latest to
every worker. :class:`ClusterHealth` (the health registry of a worker)
combines its own live checks with the others' latest: each check's status
is the worst any worker reports, the inference counters are summed, and a
``workers`` check lists every worker with its pid (a dead or silent one
makes it degraded). Pure: no reactor, no I/O.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Literal, Mapping, Optional, Sequence

import attrs

from osrs_twisted.health import Check, HealthRegistry, HealthReport, Status, worst
from osrs_twisted.http.render import check_json
from osrs_twisted.inference.metrics import BATCH_BOUNDS, LATENCY_BOUNDS_MS, Histogram, InferenceMetrics

#: A running worker silent for longer than this is reported as such.
REPORT_STALE_AFTER = 3.0

WorkerPhase = Literal["starting", "running", "exited"]


@attrs.frozen
class WorkerState:
    """What the supervisor knows of one worker slot."""

    index: int
    pid: Optional[int]
    phase: WorkerPhase
    #: How the last process in this slot ended ("exit status 1", "signal 9").
    exit: Optional[str] = None
    #: The worker's latest report (see :func:`local_report`), if any.
    report: Optional[Mapping[str, Any]] = None
    #: Seconds since that report.
    age: Optional[float] = None

    def serving(self) -> bool:
        return self.phase == "running" and self.age is not None and self.age <= REPORT_STALE_AFTER

    def problem(self) -> str:
        who = f"worker {self.index}" + (f" (pid {self.pid})" if self.pid else "")
        if self.phase == "exited":
            return f"{who} exited ({self.exit or 'unknown status'}); restarting"
        if self.phase == "starting":
            return f"{who} is starting" + (f" after it exited ({self.exit})" if self.exit else "")
        return f"{who} has not reported for {self.age or 0:.0f}s"

    def json(self) -> Any:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "WorkerState":
        return cls(**value)


def _histogram(bounds: Sequence[float], raws: Sequence[Mapping[str, Any]]) -> Histogram:
    histogram = Histogram(bounds)
    for raw in raws:
        histogram.counts = [a + b for a, b in zip(histogram.counts, raw["counts"], strict=True)]
        histogram.count += raw["count"]
        histogram.total += raw["total"]
        histogram.maximum = max(histogram.maximum, raw["maximum"])
    return histogram


def inference_raw(metrics: InferenceMetrics) -> Any:
    """The counters as plain JSON (every field, histograms whole), summable
    across processes by :func:`summed_inference`."""
    return attrs.asdict(metrics)


def summed_inference(raws: Sequence[Mapping[str, Any]]) -> InferenceMetrics:
    """Every worker's counters as one: sums, and the largest maxima."""
    errors: Counter[str] = Counter()
    for raw in raws:
        errors.update(raw["errors"])
    return InferenceMetrics(
        connections=sum(raw["connections"] for raw in raws),
        requests=sum(raw["requests"] for raw in raws),
        replies=sum(raw["replies"] for raw in raws),
        errors=errors,
        queued=sum(raw["queued"] for raw in raws),
        max_queued=max((raw["max_queued"] for raw in raws), default=0),
        batches=_histogram(BATCH_BOUNDS, [raw["batches"] for raw in raws]),
        latency_ms=_histogram(LATENCY_BOUNDS_MS, [raw["latency_ms"] for raw in raws]),
    )


def local_report(report: HealthReport, metrics: Optional[InferenceMetrics]) -> Any:
    """What a worker tells the others: its checks as JSON and its raw counters."""
    return {
        "status": report.status,
        "checks": {name: check_json(check) for name, check in report.checks.items()},
        "inference": inference_raw(metrics) if metrics is not None else None,
    }


def _check_from_json(value: Mapping[str, Any]) -> Check:
    figures = {key: item for key, item in value.items() if key not in ("status", "detail")}
    return Check(value["status"], value["detail"], figures)


def _workers_check(me: WorkerState, peers: Sequence[WorkerState]) -> Check:
    everyone = sorted([me, *peers], key=lambda worker: worker.index)
    listed = []
    for worker in everyone:
        entry: dict[str, Any] = {"index": worker.index, "pid": worker.pid, "state": worker.phase}
        if worker.report is not None:
            entry["status"] = worker.report["status"]
            inference = worker.report.get("inference")
            if inference is not None:
                entry["connections"] = inference["connections"]
        if worker.exit is not None:
            entry["lastExit"] = worker.exit
        listed.append(entry)
    serving = [worker for worker in everyone if worker is me or worker.serving()]
    problems = [worker.problem() for worker in everyone if worker not in serving]
    detail = f"{len(serving)} of {len(everyone)} workers serving"
    status: Status = "degraded" if problems else "ok"
    return Check(status, "; ".join([detail, *problems]), {"workers": listed})


def cluster_report(
    local: HealthReport,
    metrics: Optional[InferenceMetrics],
    me: WorkerState,
    peers: Sequence[WorkerState],
) -> HealthReport:
    """This worker's live report combined with the others' latest."""
    reported = [peer.report for peer in peers if peer.report is not None]
    checks: dict[str, Check] = dict(local.checks)
    for report in reported:
        for name, value in report["checks"].items():
            theirs = _check_from_json(value)
            ours = checks.get(name)
            if ours is None:
                checks[name] = theirs
            elif worst([ours.status, theirs.status]) != ours.status:
                detail = f"{ours.detail}; another worker: {theirs.detail}"
                checks[name] = attrs.evolve(ours, status=theirs.status, detail=detail)
    models = checks.get("models")
    if models is not None and metrics is not None:
        raws = [inference_raw(metrics), *(r["inference"] for r in reported if r.get("inference") is not None)]
        checks["models"] = attrs.evolve(models, figures={**models.figures, "inference": summed_inference(raws)})
    checks["workers"] = _workers_check(me, peers)
    return HealthReport(worst([check.status for check in checks.values()]), checks)


class ClusterHealth(HealthRegistry):
    """A worker's health registry: its own checks, reported with the others'.

    ``metrics`` reads this worker's live inference counters (None without a
    TCP side); ``peers`` is replaced whenever the supervisor relays news.
    """

    def __init__(self, index: int, pid: int, metrics: Callable[[], Optional[InferenceMetrics]]) -> None:
        super().__init__()
        self.index = index
        self.pid = pid
        self.metrics = metrics
        self.peers: list[WorkerState] = []

    def local(self) -> HealthReport:
        return super().report()

    def report(self) -> HealthReport:
        local, metrics = self.local(), self.metrics()
        me = WorkerState(self.index, self.pid, "running", report=local_report(local, metrics), age=0.0)
        return cluster_report(local, metrics, me, self.peers)
