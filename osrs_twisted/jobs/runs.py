"""A job run as the ``/tasks`` routes show it (camelCase, Unix seconds)."""

from __future__ import annotations

from typing import Any, Optional

from osrs_twisted.records import JobRun


def run_json(run: JobRun) -> dict[str, Any]:
    """The run's public fields; owner and lease are internal bookkeeping."""
    return {
        "id": run.id,
        "job": run.job,
        "trigger": run.trigger,
        "slot": run.slot,
        "state": run.state,
        "attempts": run.attempts,
        "queuedAt": run.queued_at,
        "startedAt": run.started_at,
        "finishedAt": run.finished_at,
        "durationMs": run.duration_ms,
        "error": run.error,
        "result": None if run.result is None else dict(run.result),
    }


def optional_run_json(run: Optional[JobRun]) -> Optional[dict[str, Any]]:
    """``run_json`` for a run that may not exist yet."""
    return None if run is None else run_json(run)
