"""The CPU path runs on numpy alone: torch is imported only for a GELU model."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.policy.builtin import synthetic_nhenv_checkpoint
from osrs_twisted.policy.engine import PolicyEngine
from osrs_twisted.policy.loader import describe_checkpoint
from osrs_twisted.policy.numpy_runner import NumpyRunner
from osrs_twisted.policy.rows import RowRequest, prepare_row
from osrs_twisted.policy.torch_runner import TorchRunner
from tests.fixtures import PROJECT_ROOT
from tests.policy_helpers import assert_close, nhenv_request

#: Imports the CPU runner, serves the built-in ``demo`` with every output asked
#: for, and prints whether torch was imported after each step.
_PROBE = """
import sys
import numpy as np
import osrs_twisted.policy.numpy_runner
from osrs_twisted.policy import RowRequest, load_registry
after_import = "torch" in sys.modules
model = load_registry(None, [], device="cpu").get("demo")
masks = [[True] * size for size in (4, 3, 3, 4, 5, 2, 2, 2, 2, 5, 7, 6)]
row = model.prepare(RowRequest([[0.5] * 269], masks, True, True, True, True, True, ["winrate"]))
[reply] = model.predict([row], np.random.default_rng(0))
assert len(reply["action"]) == 12 and reply["values"] is not None, reply
print(after_import, "torch" in sys.modules)
"""


class NoTorchTests(SynchronousTestCase):
    def test_cpu_path_never_imports_torch(self) -> None:
        """Importing the numpy runner and serving ``demo`` on the CPU leave torch unimported."""
        path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.split(), ["False", "False"])


def _row_request(request: dict[str, Any]) -> RowRequest:
    return RowRequest(
        request["obs"],
        request["actionMasks"],
        request["deterministic"],
        request["returnLogProb"],
        request["returnEntropy"],
        request["returnValue"],
        request["returnProbs"],
    )


def _gelu_checkpoint() -> dict[str, Any]:
    """The synthetic NhEnv policy with every hidden layer a GELU (same weights layout as ReLU)."""
    checkpoint = synthetic_nhenv_checkpoint(seed=3, trunk=(64, 64), heads=(32,), critic=(64,))
    params = checkpoint["policy_params"]
    for key in ("actor_config", "action_head_configs", "critic_config"):
        for layer in params[key]["layers"]:
            layer["activation"] = "gelu"
    return checkpoint


class GeluTests(SynchronousTestCase):
    def test_numpy_gelu_agrees_with_torch(self) -> None:
        """A GELU policy gives the same replies on the numpy runner as on torch's own GELU."""
        description = describe_checkpoint(_gelu_checkpoint())
        self.assertEqual(set(description.trunk.activations), {"gelu"})
        numpy_engine = PolicyEngine("gelu", description, NumpyRunner(description))
        torch_engine = PolicyEngine("gelu", description, TorchRunner(description, "cpu"))
        rng = np.random.default_rng(11)
        options = {"returnValue": True, "returnLogProb": True, "returnEntropy": True, "returnProbs": True}
        requests = [_row_request(nhenv_request(rng, width=269, **options)) for _ in range(64)]
        rows = [prepare_row(numpy_engine.spec, request) for request in requests]
        expected = torch_engine.predict(rows, np.random.default_rng(0))
        replies = numpy_engine.predict(rows, np.random.default_rng(0))
        for index, (reply, wanted) in enumerate(zip(replies, expected, strict=True)):
            assert_close(reply, wanted, 1e-5, f"row {index}")
