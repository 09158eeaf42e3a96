"""Metrics for ``GET /metrics`` (docs/metrics.md).

The hot paths keep plain counters (``inference/metrics.py``,
:mod:`~osrs_twisted.telemetry.recorders`); at scrape time
:mod:`~osrs_twisted.telemetry.sources` turns them into one serialisable
:class:`~osrs_twisted.telemetry.snapshot.MetricsSnapshot`, and
:mod:`~osrs_twisted.telemetry.collector` renders a snapshot through
``prometheus_client``. Nothing calls ``prometheus_client`` per request.
"""
