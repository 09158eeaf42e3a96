"""Every JSON body of the HTTP API's own routes, rendered from domain values.

The domain modules (market, policy, jobs, inference, store records) return
attrs values with snake_case fields; this module alone knows the wire
spelling (camelCase, nulls, lists), so a field change touches this package
only. ``http/openapi.py`` describes the same shapes. The seed's paths keep
their own snake_case shapes in ``http/seed.py``.

The hot reads (``GET /items/{id}``, the market views) render from a
:class:`RenderCache`: each entry's objects are built once per catalog
snapshot and copied per request, with only ``stale`` computed per request.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any, Mapping, Optional, Sequence

from osrs_twisted import __version__
from osrs_twisted.console.fleet import LIVENESS, Thresholds
from osrs_twisted.console.history import HistoryPoint, HistorySampler
from osrs_twisted.health import Check, HealthReport
from osrs_twisted.inference.metrics import Histogram, InferenceMetrics
from osrs_twisted.market.actions import action_document
from osrs_twisted.market.allocation import Assignment, Pin, PricedAction
from osrs_twisted.market.economics import ActionEconomics
from osrs_twisted.market.gex import PriceFigures, is_stale
from osrs_twisted.market.ledger import WINDOW_SECONDS, LimitLeft
from osrs_twisted.market.movers import Mover
from osrs_twisted.market.snapshot import Entry, Snapshot
from osrs_twisted.policy import LoadedModel, ModelRegistry, SkippedModel
from osrs_twisted.policy.reload import ReloadResult, ServedModels
from osrs_twisted.readiness import Readiness
from osrs_twisted.records import Heartbeat, Item, JobRun, PriceBucket
from osrs_twisted.store.interface import StoredAction, TradeReceipt

Json = dict[str, Any]


def renamed(value: object, wire_names: Mapping[str, str]) -> Json:
    """``value``'s attributes under their wire names (attribute → JSON key)."""
    return {wire: getattr(value, name) for name, wire in wire_names.items()}


#: An item's fields as ``GET /items/{id}`` shows them, without its ``price``.
ITEM_FIELDS: Mapping[str, str] = {
    name: name for name in ("id", "name", "examine", "members", "lowalch", "highalch", "limit", "value", "icon")
}

#: The ``price`` object; every figure that is unknown is null.
PRICE_FIELDS: Mapping[str, str] = {
    "high": "high",
    "high_time": "highTime",
    "low": "low",
    "low_time": "lowTime",
    "mid": "mid",
    "tax": "tax",
    "margin": "margin",
    "roi": "roi",
    "limit_profit": "limitProfit",
    "volume_24h": "volume24h",
    "stale": "stale",
}

#: A job run's public fields; owner and lease are internal bookkeeping.
RUN_FIELDS: Mapping[str, str] = {
    "id": "id",
    "job": "job",
    "trigger": "trigger",
    "slot": "slot",
    "state": "state",
    "attempts": "attempts",
    "queued_at": "queuedAt",
    "started_at": "startedAt",
    "finished_at": "finishedAt",
    "duration_ms": "durationMs",
    "error": "error",
}


def item_json(item: Item) -> Json:
    """An item's fields, without its ``price``."""
    return renamed(item, ITEM_FIELDS)


def price_json(figures: PriceFigures) -> Json:
    """The ``price`` object; every figure that is unknown is null."""
    return renamed(figures, PRICE_FIELDS)


class RenderCache:
    """Each entry's item and ``price`` objects, built once per snapshot.

    A request copies them and sets ``stale`` as of its own clock, so the
    copies it hands out never alias the cache.
    """

    def __init__(self) -> None:
        self._snapshot: Optional[Snapshot] = None
        self._rendered: dict[int, tuple[Json, Optional[Json]]] = {}

    def item(self, snapshot: Snapshot, entry: Entry, now: int, stale_after: int) -> Json:
        """``entry`` as an item with its ``price`` object (null when it never traded)."""
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._rendered = {}
        rendered = self._rendered.get(entry.item.id)
        if rendered is None:
            figures = entry.figures
            rendered = (item_json(entry.item), None if figures is None else price_json(figures))
            self._rendered[entry.item.id] = rendered
        fields, price = rendered
        body = dict(fields)
        if price is None or entry.price is None:
            body["price"] = None
        else:
            body["price"] = {**price, "stale": is_stale(entry.price.high_time, entry.price.low_time, now, stale_after)}
        return body


def buckets_json(buckets: Sequence[PriceBucket]) -> list[Json]:
    return [
        {
            "timestamp": b.timestamp,
            "avgHighPrice": b.avg_high,
            "avgLowPrice": b.avg_low,
            "highPriceVolume": b.high_volume,
            "lowPriceVolume": b.low_volume,
        }
        for b in buckets
    ]


def bot_json(heartbeat: Heartbeat, now: int, command: Optional[Json] = None) -> Json:
    """A bot's newest heartbeat in ``GET /bots``, with its ``command_json`` fields when it has any."""
    return {
        "instanceId": heartbeat.instance_id,
        "receivedAt": heartbeat.received_at,
        "ageSeconds": max(0, now - heartbeat.received_at),
        "state": heartbeat.payload,
        **(command or {}),
    }


def bot_history_json(instance_id: str, heartbeats: Sequence[Heartbeat], command: Optional[Json] = None) -> Json:
    return {
        "instanceId": instance_id,
        "heartbeats": [{"receivedAt": h.received_at, "state": h.payload} for h in heartbeats],
        **(command or {}),
    }


#: An assignment's wire names; ``task`` is the action's unique name (or a pinned task).
ASSIGNMENT_FIELDS: Mapping[str, str] = {
    "task": "task",
    "params": "params",
    "source": "source",
    "assigned_at": "assignedAt",
    "expires_at": "expiresAt",
    "reason": "reason",
}


def assignment_json(assignment: Assignment, now: int) -> Json:
    return {**renamed(assignment, ASSIGNMENT_FIELDS), "live": assignment.live(now)}


def pin_json(pin: Pin) -> Json:
    return {"task": pin.task, "params": pin.params, "expiresAt": pin.expires_at}


def command_json(assignment: Optional[Assignment], pin: Optional[Pin], now: int) -> Json:
    """What ``GET /bots`` adds for a bot: ``assignment`` once it asked for a
    task, ``pin`` while an operator pinned it (absent otherwise)."""
    body: Json = {}
    if assignment is not None:
        body["assignment"] = assignment_json(assignment, now)
    if pin is not None:
        body["pin"] = pin_json(pin)
    return body


#: An action's figures; each group is null together with its reason.
ECONOMICS_FIELDS: Mapping[str, str] = {
    "cost": "cost",
    "revenue": "revenue",
    "tax": "tax",
    "profit": "profit",
    "profit_per_hour": "profitPerHour",
    "gp_per_xp": "gpPerXp",
    "price_reason": "priceReason",
    "actions_per_4h": "actionsPer4h",
    "limit_reason": "limitReason",
    "fleet_actions_per_24h": "fleetActionsPer24h",
    "volume_reason": "volumeReason",
}


def economics_json(economics: ActionEconomics, fleet_bots: Optional[int], assigned_bots: int) -> Json:
    """``economics``, with the most bots the fleet share allows on the action
    (null: unbounded or unknown) and how many hold it now."""
    return {**renamed(economics, ECONOMICS_FIELDS), "fleetBots": fleet_bots, "assignedBots": assigned_bots}


def action_json(stored: StoredAction, priced: PricedAction, fleet_bots: Optional[int], assigned_bots: int) -> Json:
    """One action as ``GET /actions/{name}`` shows it."""
    return {
        "id": stored.id,
        **action_document(stored.action),
        "updatedAt": stored.updated_at,
        "economics": economics_json(priced.economics, fleet_bots, assigned_bots),
    }


def receipt_json(receipt: TradeReceipt) -> Json:
    return {"recorded": receipt.recorded, "duplicates": receipt.duplicates}


def limits_json(instance_id: str, account: str, limits: Mapping[int, LimitLeft], snapshot: Snapshot) -> Json:
    """``GET /bots/{id}/limits``: each item the account bought in an open window."""

    def name(item_id: int) -> Optional[str]:
        entry = snapshot.items.get(item_id)
        return None if entry is None else entry.item.name

    return {
        "instanceId": instance_id,
        "account": account,
        "windowSeconds": WINDOW_SECONDS,
        "items": [
            {"itemId": left.item_id, "name": name(left.item_id), "limit": left.limit, "bought": left.bought,
             "left": left.left, "resetsAt": left.resets_at}
            for left in limits.values()
            if left.resets_at is not None
        ],
    }  # fmt: skip
def fleet_json(
    heartbeats: Sequence[Heartbeat], xp_rates: Mapping[str, Optional[float]], thresholds: Thresholds, now: int
) -> Json:
    """``GET /console/fleet``: ``GET /bots`` with each bot's liveness and XP per hour."""
    bots = []
    counts = dict.fromkeys(LIVENESS, 0)
    for heartbeat in heartbeats:
        body = bot_json(heartbeat, now)
        liveness = thresholds.liveness(body["ageSeconds"])
        counts[liveness] += 1
        body["liveness"] = liveness
        body["xpPerHour"] = xp_rates.get(heartbeat.instance_id)
        bots.append(body)
    return {
        "now": now,
        "lateAfter": thresholds.late_after,
        "goneAfter": thresholds.gone_after,
        "counts": counts,
        "bots": bots,
    }


def console_bot_json(
    instance_id: str,
    heartbeats: Sequence[Heartbeat],
    xp: Sequence[tuple[int, int]],
    xp_per_hour: Optional[float],
    thresholds: Thresholds,
    now: int,
) -> Json:
    """``GET /console/bots/{id}``: the heartbeats (newest first), liveness and the XP series."""
    age = max(0, now - heartbeats[0].received_at)
    return {
        **bot_history_json(instance_id, heartbeats),
        "ageSeconds": age,
        "liveness": thresholds.liveness(age),
        "xpPerHour": xp_per_hour,
        "xp": [{"at": at, "total": total} for at, total in xp],
    }


#: A point of the inference history, attribute → wire name.
HISTORY_POINT_FIELDS: Mapping[str, str] = {
    "at": "at",
    "seconds": "seconds",
    "requests_per_second": "requestsPerSecond",
    "replies_per_second": "repliesPerSecond",
    "errors_per_second": "errorsPerSecond",
    "latency_p50_ms": "latencyP50Ms",
    "latency_p99_ms": "latencyP99Ms",
    "batch_mean": "batchMean",
    "connections": "connections",
    "queue_depth": "queueDepth",
}


def history_point_json(point: HistoryPoint) -> Json:
    return {**renamed(point, HISTORY_POINT_FIELDS), "errors": dict(point.errors)}


def inference_history_json(sampler: Optional[HistorySampler]) -> Json:
    """``GET /console/inference-history``: the ring, oldest first, and the counters now."""
    if sampler is None:
        return {
            "available": False,
            "reason": "this process serves no TCP inference",
            "intervalSeconds": None,
            "capacity": 0,
            "points": [],
            "current": None,
        }
    return {
        "available": True,
        "reason": None,
        "intervalSeconds": sampler.interval,
        "capacity": sampler.history.capacity,
        "points": [history_point_json(point) for point in sampler.history],
        "current": inference_json(sampler.metrics),
    }


def mover_json(mover: Mover) -> Json:
    item = mover.entry.item
    return {
        "id": item.id,
        "name": item.name,
        "price": mover.price,
        "average24h": mover.average_24h,
        "change": mover.change,
        "changeRatio": mover.change_ratio,
        "volume24h": mover.entry.volume_24h,
    }


def movers_json(risers: Sequence[Mover], fallers: Sequence[Mover]) -> Json:
    """``GET /console/movers``: the largest rises and falls against the 24 h average."""
    return {"risers": [mover_json(m) for m in risers], "fallers": [mover_json(m) for m in fallers]}


def run_json(run: JobRun) -> Json:
    """A job run as ``/tasks`` shows it."""
    return {**renamed(run, RUN_FIELDS), "result": None if run.result is None else dict(run.result)}


def optional_run_json(run: Optional[JobRun]) -> Optional[Json]:
    """``run_json`` for a run that may not exist yet."""
    return None if run is None else run_json(run)


def model_json(model: LoadedModel) -> Json:
    """A model's entry in ``GET /models``."""
    return {
        "name": model.name,
        "source": model.source,
        "path": None if model.path is None else str(model.path),
        "sha256": model.sha256,
        "loadedAt": model.loaded_at,
        "frames": model.frames,
        "obsSize": model.obs_size,
        "criticSize": model.critic_size,
        "heads": list(model.heads),
        "extensions": list(model.extensions),
    }


def skipped_json(skipped: SkippedModel) -> Json:
    return {"path": str(skipped.path), "error": skipped.error}


#: ``GET /models`` in a process that loads no models.
NO_MODELS: Mapping[str, Any] = {"default": None, "models": [], "skipped": []}


def reload_json(result: ReloadResult) -> Json:
    """What one model reload did: ``POST /models/reload``'s body, and ``lastReload`` in ``GET /models``."""
    return {
        "outcome": result.outcome,
        "trigger": result.trigger,
        "startedAt": result.started_at,
        "finishedAt": result.finished_at,
        "loaded": list(result.loaded),
        "replaced": list(result.replaced),
        "removed": list(result.removed),
        "unchanged": list(result.unchanged),
        "failed": [skipped_json(failed) for failed in result.failed],
    }


def models_json(models: Optional[ModelRegistry | ServedModels]) -> Mapping[str, Any]:
    """The ``GET /models`` document (``lastReload``: null until a reload ran)."""
    if models is None:
        return NO_MODELS
    served = models if isinstance(models, ServedModels) else ServedModels(models)
    registry, last = served.registry, served.last_reload
    return {
        "default": registry.default_name,
        "models": [model_json(model) for model in registry.models.values()],
        "skipped": [skipped_json(skip) for skip in registry.skipped],
        "lastReload": None if last is None else reload_json(last),
    }


def histogram_json(histogram: Histogram) -> Json:
    return {
        "count": histogram.count,
        "mean": histogram.total / histogram.count if histogram.count else None,
        "max": histogram.maximum,
        "p50": histogram.quantile(0.5),
        "p99": histogram.quantile(0.99),
        "buckets": {str(b): c for b, c in zip([*histogram.bounds, "inf"], histogram.counts, strict=True) if c},
    }


def inference_json(metrics: InferenceMetrics) -> Json:
    """The TCP side's counters, as ``/health`` shows them under ``models``."""
    return {
        "connections": metrics.connections,
        "requests": metrics.requests,
        "replies": metrics.replies,
        "errors": dict(metrics.errors),
        "queueDepth": metrics.queued,
        "maxQueueDepth": metrics.max_queued,
        "batchSize": histogram_json(metrics.batches),
        "latencyMs": histogram_json(metrics.latency_ms),
    }


@singledispatch
def figure_json(value: Any) -> Any:
    """A health check's figure as JSON: plain values as they are, domain
    values through their renderer, containers element by element."""
    return value


@figure_json.register
def _inference_figure(value: InferenceMetrics) -> Json:
    return inference_json(value)


@figure_json.register
def _skipped_figure(value: SkippedModel) -> Json:
    return skipped_json(value)


@figure_json.register(tuple)
@figure_json.register(list)
def _sequence_figure(value: Sequence[Any]) -> list[Any]:
    return [figure_json(v) for v in value]


@figure_json.register(dict)
def _mapping_figure(value: Mapping[str, Any]) -> Json:
    return {k: figure_json(v) for k, v in value.items()}


def check_json(check: Check) -> Json:
    return {"status": check.status, "detail": check.detail, **figure_json(dict(check.figures))}


def health_json(report: HealthReport) -> Json:
    """The ``/health`` document."""
    return {
        "status": report.status,
        "version": __version__.public(),
        "checks": {name: check_json(check) for name, check in report.checks.items()},
    }


def readiness_json(readiness: Readiness) -> Json:
    """The ``/health/ready`` document."""
    if readiness.ready:
        return {"status": "ready"}
    return {"status": "not_ready", "reasons": list(readiness.reasons)}
