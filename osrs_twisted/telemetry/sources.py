"""What each component reports, as snapshot families (see docs/metrics.md).

Each function reads a component's plain counters at scrape time; nothing
here queries the database or touches the hot paths. Names lack the
``osrs_`` prefix and counters their ``_total`` suffix: the collector adds
them.
"""

from __future__ import annotations

from typing import Callable, Iterable

from twisted.internet.interfaces import IReactorTime

from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.market.catalog import Catalog
from osrs_twisted.market.gex import is_stale
from osrs_twisted.policy.reload import ServedModels
from osrs_twisted.store.interface import IStore
from osrs_twisted.telemetry.recorders import HttpMetrics, JobMetrics, RecentBots
from osrs_twisted.telemetry.snapshot import MS, Family, MetricsSnapshot, buckets_of, family, single

#: A component's families, read on every scrape.
Source = Callable[[], Iterable[Family]]

#: The ``code`` label of a request answered with the model's reply.
OK = "ok"


class MetricsSources:
    """The sources of one process; ``snapshot`` reads them all."""

    def __init__(self) -> None:
        self._sources: list[Source] = []

    def add(self, source: Source) -> None:
        self._sources.append(source)

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot.of(f for source in self._sources for f in source())


def inference_families(metrics: InferenceMetrics) -> list[Family]:
    """The TCP side: requests by model and outcome, where their time went."""
    outcomes: dict[tuple[str, ...], float] = {(name, OK): m.ok for name, m in metrics.models.items()}
    outcomes.update(metrics.model_errors.items())
    models = metrics.models.items()
    return [
        family(
            "inference_requests", "counter",
            "Inference requests answered, by model and outcome code (ok or the error code; "
            "model is empty when the request named no loaded model).",
            ("model", "code"), outcomes,
        ),
        single("inference_replies", "counter", "Reply lines written to bot connections.", metrics.replies),
        single("inference_connections", "gauge", "Bot connections open now.", metrics.connections),
        single("inference_queue_depth", "gauge", "Requests waiting for the model thread now.", metrics.queued),
        single("inference_queue_depth_max", "gauge", "The deepest the queue has been since start.",
               metrics.max_queued),
        family("inference_batch_size", "histogram", "Rows per model call, by model.",
               ("model",), {(name, ): buckets_of(m.batch_size) for name, m in models}),
        family("inference_queue_wait_seconds", "histogram",
               "Per request: from its arrival to its batch's dispatch to the model thread, by model.",
               ("model",), {(name, ): buckets_of(m.queue_wait_ms, MS) for name, m in models}),
        family("inference_compute_seconds", "histogram",
               "Per batch: time inside the model's predict, measured on the model thread, by model.",
               ("model",), {(name, ): buckets_of(m.compute_ms, MS) for name, m in models}),
        single("inference_latency_seconds", "histogram",
               "Per request: from its arrival to its reply line being ready (end to end on the server).",
               buckets_of(metrics.latency_ms, MS)),
    ]


def model_families(served: Callable[[], ServedModels]) -> list[Family]:
    """The models loaded now (an info metric with their sha256), model loads
    by outcome (at start and on reload) and reloads by outcome."""
    models = served()
    return [
        family(
            "model", "info", "A loaded model: its name, source (file or builtin) and the sha256 of its file.",
            ("model", "source", "sha256"),
            {(m.name, m.source, m.sha256 or ""): 1.0 for m in models.registry.models.values()},
        ),
        family(
            "model_loads", "counter", "Model files loaded since start, at start and on reload, by outcome "
            "(loaded, replaced, removed, failed).",
            ("outcome",), {(outcome,): n for outcome, n in models.model_loads.items()},
        ),
        family(
            "model_reloads", "counter", "Reloads since start by outcome (ok; failed: a file did not load; "
            "error: a bug).", ("outcome",), {(outcome,): n for outcome, n in models.reloads.items()},
        ),
    ]


def http_families(metrics: HttpMetrics) -> list[Family]:
    """HTTP requests by route template and status, and their latency."""
    return [
        family(
            "http_requests", "counter",
            "HTTP requests answered, by route template (unmatched for no route) and status.",
            ("route", "status"), {(route, str(status)): n for (route, status), n in metrics.requests.items()},
        ),
        family(
            "http_request_duration_seconds", "histogram",
            "From a request's first line to its response's end, by route template.",
            ("route",), {(route, ): buckets_of(h, MS) for route, h in metrics.latency_ms.items()},
        ),
    ]


def job_families(metrics: JobMetrics) -> list[Family]:
    """Job runs by job and outcome, their durations, the newest successes."""
    return [
        family("job_runs", "counter", "Job runs this process executed, by job and outcome (succeeded, failed).",
               ("job", "state"), {key: n for key, n in metrics.runs.items()}),
        family("job_duration_seconds", "histogram", "Durations of the job runs this process executed, by job.",
               ("job",), {(job, ): buckets_of(h) for job, h in metrics.durations.items()}),
        family("job_last_success_timestamp_seconds", "gauge",
               "Unix time of each job's newest successful run known (any instance's).",
               ("job",), {(job, ): at for job, at in metrics.last_success.items()}),
    ]


def store_families(store: IStore) -> list[Family]:
    """Whether the database can be reached now (no query: the store's own view)."""
    health = store.health()
    return [family("store_up", "gauge", "1 when the store's database is reachable, else 0.",
                   ("backend",), {(health.backend, ): 1.0 if health.reachable else 0.0})]


def catalog_families(catalog: Catalog, clock: IReactorTime, stale_after: int) -> list[Family]:
    """How old the in-memory catalog is and how many of its prices are stale."""
    now = int(clock.seconds())
    families = [single("catalog_loaded", "gauge", "1 once the item catalog has loaded from the store.",
                       1.0 if catalog.loaded else 0.0)]
    if catalog.loaded_at is not None:
        families.append(single("catalog_age_seconds", "gauge", "Seconds since the catalog last loaded.",
                               max(0.0, clock.seconds() - catalog.loaded_at)))
    if catalog.loaded:
        prices = [entry.price for entry in catalog.snapshot().items.values() if entry.price is not None]
        stale = sum(1 for p in prices if is_stale(p.high_time, p.low_time, now, stale_after))
        families.append(single("catalog_stale_prices", "gauge",
                               f"Items whose newest trade is older than the staleness limit ({stale_after} s).",
                               stale))
    return families


def bot_families(bots: RecentBots, clock: IReactorTime) -> list[Family]:
    return [single("bots_recent", "gauge",
                   f"Bots that sent a heartbeat in the last {bots.window} seconds.", bots.count(int(clock.seconds())))]
