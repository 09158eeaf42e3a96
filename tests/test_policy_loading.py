"""Model files are untrusted: nothing in them runs, and every defect is a clear ModelLoadError."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.policy import ModelLoadError, load_policy_file, load_registry
from osrs_twisted.policy.builtin import synthetic_nhenv_checkpoint
from osrs_twisted.policy.engine import PolicyEngine
from osrs_twisted.policy.loader import describe_checkpoint
from osrs_twisted.policy.numpy_runner import NumpyRunner
from osrs_twisted.policy.rows import RowRequest, prepare_row
from tests.fixtures import trained_model_path
from tests.policy_helpers import save_checkpoint


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.target}",))


def _rewrite_member(source: Path, target: Path, suffix: str, data: bytes) -> Path:
    """Copy ``source`` to ``target`` with the member ending in ``suffix`` replaced."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for info in original.infolist():
            copy.writestr(info, data if info.filename.endswith(suffix) else original.read(info))
    return target


class MaliciousFileTests(SynchronousTestCase):
    def test_reduce_to_os_system_is_refused(self) -> None:
        tmp = Path(self.mktemp())
        tmp.mkdir()
        pwned = tmp / "pwned"
        payload = pickle.dumps({"policy": _Exploit(pwned)}, protocol=2)
        path = _rewrite_member(trained_model_path(), tmp / "evil.zip", "/data.pkl", payload)
        error = self.assertRaises(ModelLoadError, load_policy_file, path)
        self.assertIn(f"{os.system.__module__}.system", str(error))
        self.assertIn("evil.zip", str(error))
        self.assertFalse(pwned.exists())

    def test_other_globals_are_refused_by_name(self) -> None:
        tmp = Path(self.mktemp())
        tmp.mkdir()
        payload = pickle.dumps({"policy": zipfile.ZipFile}, protocol=2)
        path = _rewrite_member(trained_model_path(), tmp / "odd.zip", "/data.pkl", payload)
        error = self.assertRaises(ModelLoadError, load_policy_file, path)
        self.assertIn("zipfile.ZipFile", str(error))


class BadFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(self.mktemp())
        self.tmp.mkdir()

    def assertLoadError(self, path: Path, *fragments: str) -> None:
        error = self.assertRaises(ModelLoadError, load_policy_file, path)
        message = str(error)
        self.assertIn(str(path), message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_missing_file(self) -> None:
        self.assertLoadError(self.tmp / "absent.zip", "no such file")

    def test_truncated(self) -> None:
        data = trained_model_path().read_bytes()
        path = self.tmp / "truncated.zip"
        path.write_bytes(data[: len(data) // 2])
        self.assertLoadError(path, "zip")

    def test_not_a_zip(self) -> None:
        path = self.tmp / "text.zip"
        path.write_text("hello")
        self.assertLoadError(path, "not a readable zip file")

    def test_zip_that_is_not_a_checkpoint(self) -> None:
        path = self.tmp / "other.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hi")
        self.assertLoadError(path, "not a torch.save checkpoint")

    def test_missing_storage(self) -> None:
        path = self.tmp / "nostorage.zip"
        with zipfile.ZipFile(trained_model_path()) as original, zipfile.ZipFile(path, "w") as copy:
            for info in original.infolist():
                if not info.filename.endswith("/data/3"):
                    copy.writestr(info, original.read(info))
        self.assertLoadError(path, "data/3")

    def test_missing_top_level_key(self) -> None:
        checkpoint = synthetic_nhenv_checkpoint()
        del checkpoint["meta"]
        self.assertLoadError(save_checkpoint(self.tmp / "nometa.zip", checkpoint), "'meta'")

    def test_missing_weight(self) -> None:
        checkpoint = synthetic_nhenv_checkpoint()
        del checkpoint["policy"]["actor.heads.5.1.bias"]
        self.assertLoadError(save_checkpoint(self.tmp / "noweight.zip", checkpoint), "actor.heads.5.1.bias")

    def test_missing_param(self) -> None:
        checkpoint = synthetic_nhenv_checkpoint()
        del checkpoint["policy_params"]["actor_input_size"]
        self.assertLoadError(save_checkpoint(self.tmp / "noparam.zip", checkpoint), "actor_input_size")

    def test_weight_shape_disagrees_with_params(self) -> None:
        checkpoint = synthetic_nhenv_checkpoint()
        checkpoint["policy"]["actor.heads.3.0.0.weight"] = np.zeros((64, 70), np.float32)
        self.assertLoadError(
            save_checkpoint(self.tmp / "shape.zip", checkpoint), "actor.heads.3.0.0.weight", "[64, 70]", "[64, 74]"
        )

    def test_params_disagree_with_weights(self) -> None:
        checkpoint = synthetic_nhenv_checkpoint()
        checkpoint["policy_params"]["max_sequence_length"] = 2
        self.assertLoadError(save_checkpoint(self.tmp / "frames.zip", checkpoint), "actor.hidden.0.weight")


class RoundTripTests(SynchronousTestCase):
    def test_torch_saved_file_matches_the_in_memory_policy(self) -> None:
        """A checkpoint written by torch.save loads to the same policy as the dict it came from."""
        tmp = Path(self.mktemp())
        tmp.mkdir()
        checkpoint = synthetic_nhenv_checkpoint(seed=5, frames=2)
        obs = np.random.default_rng(0).normal(size=(2, 269)).tolist()
        replies = []
        from_file = load_policy_file(save_checkpoint(tmp / "s.zip", checkpoint))
        for description in (from_file, describe_checkpoint(checkpoint)):
            engine = PolicyEngine("synthetic", description, NumpyRunner(description))
            masks = [[True] * size for size in description.head_sizes]
            row = prepare_row(engine.spec, RowRequest(obs, masks, True, True, True, True, True, ["winrate"]))
            replies.append(engine.predict([row], np.random.default_rng(0)))
        self.assertEqual(replies[0], replies[1])
        self.assertIsInstance(replies[0][0]["values"], float)

    def test_fixture_loads_from_cuda_tensors(self) -> None:
        """The fixture's tensors were saved on cuda:0; they load as CPU float32 arrays."""
        description = load_policy_file(trained_model_path())
        self.assertEqual(description.frames, 2)
        self.assertEqual(description.head_sizes, (4, 3, 3, 4, 5, 2, 2, 2, 2, 5, 7, 6))
        self.assertEqual(description.trunk.layers[0].weight.shape, (64, 352))
        self.assertEqual(description.trunk.layers[0].weight.dtype, np.float32)
        self.assertEqual([ext.name for ext in description.extensions], ["winrate"])


class DeviceTests(SynchronousTestCase):
    def test_a_device_torch_cannot_use_is_a_load_error(self) -> None:
        """An unknown ``--device`` ends in one ModelLoadError naming it (a start-up line), not a traceback."""
        error = self.assertRaises(ModelLoadError, load_registry, None, [], device="quantum:0")
        self.assertIn("cannot use device 'quantum:0'", str(error))
