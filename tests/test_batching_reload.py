"""The batcher across a model swap: queued rows go to the newest version of
their name, a running batch finishes on its own, nothing waiting is lost."""

from __future__ import annotations

import orjson
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.inference.batching import Batcher
from osrs_twisted.inference.metrics import InferenceMetrics
from tests.inference_fakes import FakeModel, ManualPool
from tests.test_batching import Outcome, submit


class VersionedModel(FakeModel):
    """A fake model version: ``spec`` says what input it takes; replies carry ``version``."""

    def __init__(self, name: str, version: int, spec: str = "2 masks") -> None:
        super().__init__(name)
        self.version = version
        self.spec = spec

    def predict(self, rows, rng):  # type: ignore[no-untyped-def]
        return [{**reply, "version": self.version} for reply in super().predict(rows, rng)]


class SwapTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.pool = ManualPool()
        self.serving: dict[str, VersionedModel] = {}
        self.batcher = Batcher(
            self.pool.run_batch, Clock(), InferenceMetrics(), 256, 100, current=self.serving.get
        )

    def serve(self, model: VersionedModel) -> VersionedModel:
        self.serving[model.name] = model
        return model

    def versions(self, outcomes: list[Outcome]) -> list[int]:
        return [orjson.loads(outcome.line)["version"] for outcome in outcomes]

    def test_queued_rows_go_to_the_newest_version_and_the_running_batch_keeps_its_own(self) -> None:
        old = self.serve(VersionedModel("m", 1))
        running = submit(self.batcher, old, 1)
        queued = [submit(self.batcher, old, value) for value in (2, 3, 4)]
        self.assertIs(self.pool.pending[0][0], old, "the lone request left at once on version 1")
        new = self.serve(VersionedModel("m", 2))
        self.pool.release()
        self.assertEqual(self.versions([running]), [1], "the running batch finished on the version it started on")
        [(model, rows, _)] = self.pool.pending
        self.assertIs(model, new, "the waiting rows left on the newest version")
        self.assertEqual(len(rows), 3)
        self.pool.release()
        self.assertEqual(self.versions(queued), [2, 2, 2])
        self.assertEqual(self.batcher.queued, 0)

    def test_rows_submitted_on_both_sides_of_a_swap_leave_together(self) -> None:
        old = self.serve(VersionedModel("m", 1))
        submit(self.batcher, old, 1)
        before = submit(self.batcher, old, 2)
        new = self.serve(VersionedModel("m", 2))
        after = submit(self.batcher, new, 3)
        self.pool.release()
        self.assertEqual([len(rows) for _, rows, _ in self.pool.pending], [2])
        self.pool.release()
        self.assertEqual(self.versions([before, after]), [2, 2])

    def test_a_version_with_other_inputs_leaves_waiting_rows_on_theirs(self) -> None:
        old = self.serve(VersionedModel("m", 1))
        submit(self.batcher, old, 1)
        before = submit(self.batcher, old, 2)
        new = self.serve(VersionedModel("m", 2, spec="3 frames"))
        after = submit(self.batcher, new, 3)
        self.pool.release()
        self.pool.release()
        self.pool.release()
        self.assertEqual(self.versions([before, after]), [1, 2], "rows checked against version 1 ran on it")

    def test_rows_of_an_unloaded_model_still_run_on_their_version(self) -> None:
        old = self.serve(VersionedModel("gone", 1))
        submit(self.batcher, old, 1)
        waiting = submit(self.batcher, old, 2)
        del self.serving["gone"]
        self.pool.release()
        self.pool.release()
        self.assertEqual(self.versions([waiting]), [1])

    def test_queues_stay_per_name_across_a_swap(self) -> None:
        first = self.serve(VersionedModel("a", 1))
        other = self.serve(VersionedModel("b", 1))
        submit(self.batcher, first, 1)
        waiting_a = submit(self.batcher, first, 2)
        waiting_b = submit(self.batcher, other, 3)
        self.serve(VersionedModel("a", 2))
        for _ in range(3):
            self.pool.release()
        self.assertEqual(self.versions([waiting_a, waiting_b]), [2, 1])
        self.assertEqual([name for name, _ in self.pool.batches], ["a", "a", "b"])
