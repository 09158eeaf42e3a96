"""The snapshot → collector path without a reactor: families rendered by
``prometheus_client`` and parsed back, snapshots through JSON, the plain
recorders behind them."""

from __future__ import annotations

import orjson
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.inference.metrics import InferenceMetrics
from osrs_twisted.records import Heartbeat
from osrs_twisted.telemetry.collector import SnapshotCollector, exposition, service_registry
from osrs_twisted.telemetry.recorders import HttpMetrics, JobMetrics, RecentBots
from osrs_twisted.telemetry.snapshot import Buckets, MetricsSnapshot, family, single
from osrs_twisted.telemetry.sources import MetricsSources, http_families, inference_families, job_families


def parsed(snapshot: MetricsSnapshot) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    """Family name → (sample name, labels, value), as a Prometheus scraper reads them."""
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot))
    text = exposition(registry).decode()
    return {
        f.name: [(s.name, dict(s.labels), s.value) for s in f.samples]
        for f in text_string_to_metric_families(text)
    }


SNAPSHOT = MetricsSnapshot.of([
    family("things", "counter", "Things done.", ("kind",), {("a",): 3, ("b",): 1}),
    single("depth", "gauge", "How deep.", 7),
    family("wait_seconds", "histogram", "Waits.", ("model",),
           {("m",): Buckets((0.1, 1.0), (2, 1, 1), 3.5)}),
    family("model", "info", "Models.", ("model", "sha256"), {("m", "ab12"): 1}),
])


class RenderTests(SynchronousTestCase):
    def test_each_kind_renders_with_the_prefix(self) -> None:
        metrics = parsed(SNAPSHOT)
        self.assertEqual(metrics["osrs_things"], [
            ("osrs_things_total", {"kind": "a"}, 3.0), ("osrs_things_total", {"kind": "b"}, 1.0),
        ])
        self.assertEqual(metrics["osrs_depth"], [("osrs_depth", {}, 7.0)])
        self.assertEqual(metrics["osrs_model_info"], [("osrs_model_info", {"model": "m", "sha256": "ab12"}, 1.0)])

    def test_histogram_buckets_are_cumulative(self) -> None:
        samples = parsed(SNAPSHOT)["osrs_wait_seconds"]
        buckets = {s[1]["le"]: s[2] for s in samples if s[0] == "osrs_wait_seconds_bucket"}
        self.assertEqual(buckets, {"0.1": 2.0, "1.0": 3.0, "+Inf": 4.0})
        totals = {s[0]: s[2] for s in samples if s[0] != "osrs_wait_seconds_bucket"}
        self.assertEqual(totals, {"osrs_wait_seconds_count": 4.0, "osrs_wait_seconds_sum": 3.5})

    def test_json_round_trip(self) -> None:
        data = orjson.loads(orjson.dumps(SNAPSHOT.to_json()))
        self.assertEqual(MetricsSnapshot.from_json(data), SNAPSHOT)

    def test_unknown_kind_is_named(self) -> None:
        data = SNAPSHOT.to_json()
        data["families"][0]["kind"] = "summary"
        with self.assertRaisesRegex(ValueError, "'things': unknown kind 'summary'"):
            MetricsSnapshot.from_json(data)

    def test_service_registry_has_the_process_metrics(self) -> None:
        sources = MetricsSources()
        sources.add(lambda: [single("depth", "gauge", "How deep.", 1)])
        text = exposition(service_registry(sources.snapshot)).decode()
        names = {f.name for f in text_string_to_metric_families(text)}
        self.assertIn("osrs_depth", names)
        self.assertIn("process_cpu_seconds", names)
        self.assertIn("python_info", names)


class SourceTests(SynchronousTestCase):
    def test_inference_requests_by_model_and_code(self) -> None:
        metrics = InferenceMetrics(requests=6, replies=5, connections=2)
        metrics.model("m").ok = 3
        metrics.model("m").queue_wait_ms.add(2.0)
        metrics.error("bad_request", "m")
        metrics.error("bad_json")
        samples = parsed(MetricsSnapshot.of(inference_families(metrics)))
        self.assertEqual(
            sorted((s[1]["model"], s[1]["code"], s[2]) for s in samples["osrs_inference_requests"]),
            [("", "bad_json", 1.0), ("m", "bad_request", 1.0), ("m", "ok", 3.0)],
        )
        wait = {s[1]["le"]: s[2] for s in samples["osrs_inference_queue_wait_seconds"] if "le" in s[1]}
        self.assertEqual((wait["0.001"], wait["0.002"]), (0.0, 1.0), "milliseconds become seconds")
        self.assertEqual(samples["osrs_inference_connections"], [("osrs_inference_connections", {}, 2.0)])

    def test_http_and_jobs(self) -> None:
        http = HttpMetrics()
        http.record("/items/<int:item_id>", 200, 0.003)
        http.record("/items/<int:item_id>", 404, 0.001)
        jobs = JobMetrics()
        jobs.record_run("sync_latest", "succeeded", 1.5, 1000)
        jobs.record_run("sync_latest", "failed", 0.5, 1100)
        samples = parsed(MetricsSnapshot.of([*http_families(http), *job_families(jobs)]))
        self.assertEqual(
            sorted((s[1]["status"], s[2]) for s in samples["osrs_http_requests"]), [("200", 1.0), ("404", 1.0)]
        )
        self.assertEqual(
            samples["osrs_job_last_success_timestamp_seconds"],
            [("osrs_job_last_success_timestamp_seconds", {"job": "sync_latest"}, 1000.0)],
        )
        runs = sorted((s[1]["state"], s[2]) for s in samples["osrs_job_runs"])
        self.assertEqual(runs, [("failed", 1.0), ("succeeded", 1.0)])


class RecentBotsTests(SynchronousTestCase):
    def test_counts_the_window_and_forgets_older(self) -> None:
        bots = RecentBots(window=300)
        bots.seed([Heartbeat("old", {}, received_at=100), Heartbeat("a", {}, received_at=900)])
        bots.saw("b", 1000)
        bots.saw("a", 950)
        self.assertEqual(bots.count(1000), 2)
        self.assertEqual(bots.count(1251), 1, "a was last seen at 950")

    def test_memory_follows_the_fleet(self) -> None:
        bots = RecentBots(window=10)
        for n in range(5000):
            bots.saw(f"bot-{n}", n)
        self.assertLess(len(bots._seen), 1100)
        self.assertEqual(bots.count(5000), 10, "bots 4990 to 4999")
