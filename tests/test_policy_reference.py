"""The engine reproduces pvp-ml's own outputs on the real fixture model."""

from __future__ import annotations

import numpy as np
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.policy.engine import PolicyEngine
from osrs_twisted.policy.registry import LoadedModel
from osrs_twisted.policy.torch_runner import TorchRunner
from tests.policy_helpers import assert_close, nhenv_request, prepare, reference_cases, trained_model

TOLERANCE = 1e-5


class ReferenceTests(SynchronousTestCase):
    def test_each_case_alone(self) -> None:
        """Every reference request, one at a time, matches pvp-ml's reply."""
        model = trained_model()
        cases = reference_cases()
        self.assertEqual(len(cases), 64)
        for index, case in enumerate(cases):
            [reply] = model.predict([prepare(model, case["request"])], np.random.default_rng(index))
            assert_close(reply, case["response"], TOLERANCE, f"case {index}")

    def test_all_cases_in_one_batch(self) -> None:
        """The 64 requests as a single batch give the same replies."""
        model = trained_model()
        cases = reference_cases()
        replies = model.predict([prepare(model, case["request"]) for case in cases], np.random.default_rng(0))
        for index, (reply, case) in enumerate(zip(replies, cases, strict=True)):
            assert_close(reply, case["response"], TOLERANCE, f"case {index}")


class TorchRunnerTests(SynchronousTestCase):
    """The plain torch runner (the ``--device cuda`` path, here on CPU) agrees with numpy."""

    def setUp(self) -> None:
        self.numpy_model = trained_model()
        engine = self.numpy_model.engine
        assert isinstance(engine, PolicyEngine)
        self.torch_model = LoadedModel(
            name="MyTrainedNh",
            source="file",
            path=None,
            sha256=None,
            loaded_at=0.0,
            engine=PolicyEngine("MyTrainedNh", engine.description, TorchRunner(engine.description, "cpu")),
        )

    def test_reference_cases(self) -> None:
        cases = reference_cases()
        replies = self.torch_model.predict(
            [prepare(self.torch_model, case["request"]) for case in cases], np.random.default_rng(0)
        )
        for index, (reply, case) in enumerate(zip(replies, cases, strict=True)):
            assert_close(reply, case["response"], TOLERANCE, f"case {index}")

    def test_values_and_mixed_widths(self) -> None:
        """Critic values (269-wide frames) and a batch mixing frame widths agree between runners."""
        rng = np.random.default_rng(7)
        options = {"returnValue": True, "returnLogProb": True, "returnEntropy": True, "returnProbs": True}
        requests = [
            nhenv_request(rng, frames=int(rng.integers(1, 3)), width=269, extensions=["winrate"], **options)
            for _ in range(20)
        ] + [nhenv_request(rng, frames=2, returnProbs=True, returnLogProb=True) for _ in range(20)]
        expected = self.numpy_model.predict(
            [prepare(self.numpy_model, r) for r in requests], np.random.default_rng(1)
        )
        replies = self.torch_model.predict([prepare(self.torch_model, r) for r in requests], np.random.default_rng(1))
        for index, (reply, wanted) in enumerate(zip(replies, expected, strict=True)):
            assert_close(reply, wanted, TOLERANCE, f"row {index}")
        self.assertIsInstance(expected[0]["values"], float)
        self.assertIsNone(expected[-1]["values"])
