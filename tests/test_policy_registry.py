"""Which models load, which are skipped, and which one is the default."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import numpy as np
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.http.render import models_json
from osrs_twisted.policy import ModelLoadError, RowRequest, load_registry
from osrs_twisted.policy.builtin import synthetic_nhenv_checkpoint
from tests.fixtures import trained_model_path
from tests.policy_helpers import prepare, save_checkpoint


class RegistryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(self.mktemp())
        self.tmp.mkdir()

    def _models_dir(self, *names: str) -> Path:
        directory = self.tmp / "models"
        directory.mkdir(exist_ok=True)
        for name in names:
            shutil.copy(trained_model_path(), directory / name)
        return directory

    def test_builtins_without_files(self) -> None:
        registry = load_registry(None, [])
        self.assertEqual(set(registry.names), {"noop", "demo"})
        self.assertEqual(registry.default_name, "demo")
        self.assertEqual(registry.skipped, ())
        self.assertTrue(any("UNTRAINED" in warning for warning in registry.warnings))
        self.assertIsNone(registry.get("nothing"))

    def test_missing_models_dir_is_fine(self) -> None:
        self.assertEqual(set(load_registry(self.tmp / "absent", []).names), {"noop", "demo"})

    def test_no_demo(self) -> None:
        registry = load_registry(None, [], demo=False)
        self.assertEqual(registry.names, ("noop",))
        self.assertIsNone(registry.default_name)
        self.assertEqual(registry.warnings, ())

    def test_good_and_bad_files_in_dir(self) -> None:
        directory = self._models_dir("Good.zip")
        (directory / "broken.zip").write_text("not a zip")
        (directory / "notes.txt").write_text("ignored")
        registry = load_registry(directory, [])
        self.assertIn("Good", registry.names)
        self.assertEqual(registry.default_name, "Good")
        [skipped] = registry.skipped
        self.assertEqual(skipped.path, directory / "broken.zip")
        self.assertIn("broken.zip", skipped.error)
        self.assertTrue(any("broken.zip" in warning for warning in registry.warnings))

    def test_bad_model_file_raises(self) -> None:
        bad = self.tmp / "bad.zip"
        bad.write_bytes(b"PK\x03\x04 truncated")
        error = self.assertRaises(ModelLoadError, load_registry, None, [bad])
        self.assertIn("bad.zip", str(error))

    def test_default_model_rules(self) -> None:
        directory = self._models_dir("One.zip", "Two.zip")
        self.assertEqual(load_registry(directory, []).default_name, "demo")
        self.assertIsNone(load_registry(directory, [], demo=False).default_name)
        self.assertEqual(load_registry(directory, [], default_model="Two").default_name, "Two")
        self.assertEqual(load_registry(None, [], default_model="noop").default_name, "noop")
        error = self.assertRaises(ModelLoadError, load_registry, directory, [], default_model="Three")
        self.assertIn("Three", str(error))

    def test_model_file_option(self) -> None:
        registry = load_registry(None, [trained_model_path()])
        self.assertEqual(registry.default_name, trained_model_path().stem)

    def test_file_named_demo_replaces_builtin(self) -> None:
        directory = self._models_dir("demo.zip")
        registry = load_registry(directory, [])
        demo = registry.get("demo")
        assert demo is not None
        self.assertEqual(demo.source, "file")
        self.assertEqual(demo.frames, 2)
        self.assertEqual(registry.default_name, "demo")
        self.assertTrue(any("replaces the built-in model 'demo'" in warning for warning in registry.warnings))
        self.assertFalse(any("UNTRAINED" in warning for warning in registry.warnings))

    def test_describe(self) -> None:
        directory = self._models_dir("Good.zip")
        (directory / "broken.zip").write_text("x")
        document = models_json(load_registry(directory, []))
        self.assertEqual(document["default"], "Good")
        entries = {entry["name"]: entry for entry in document["models"]}
        good = entries["Good"]
        self.assertEqual(good["source"], "file")
        self.assertEqual(good["path"], str(directory / "Good.zip"))
        self.assertEqual(good["sha256"], hashlib.sha256(trained_model_path().read_bytes()).hexdigest())
        self.assertIsInstance(good["loadedAt"], float)
        self.assertEqual(
            (good["frames"], good["obsSize"], good["criticSize"], good["heads"], good["extensions"]),
            (2, 176, 269, [4, 3, 3, 4, 5, 2, 2, 2, 2, 5, 7, 6], ["winrate"]),
        )
        self.assertEqual(entries["demo"]["source"], "builtin")
        self.assertEqual((entries["demo"]["frames"], entries["demo"]["criticSize"]), (1, 269))
        self.assertEqual(entries["noop"]["extensions"], [])
        self.assertEqual([skip["path"] for skip in document["skipped"]], [str(directory / "broken.zip")])

    def test_demo_is_the_synthetic_policy_through_a_file(self) -> None:
        """The in-memory demo behaves exactly as its checkpoint saved to a file and loaded."""
        path = save_checkpoint(self.tmp / "copy.zip", synthetic_nhenv_checkpoint(seed=0))
        registry = load_registry(None, [path])
        demo, copy = registry.get("demo"), registry.get("copy")
        assert demo is not None and copy is not None
        request = {
            "obs": np.random.default_rng(0).normal(size=(1, 269)).tolist(),
            "actionMasks": [[True] * size for size in demo.heads],
            "deterministic": True,
            "returnValue": True,
            "returnProbs": True,
            "extensions": ["winrate"],
        }
        rng = np.random.default_rng(0)
        self.assertEqual(demo.predict([prepare(demo, request)], rng), copy.predict([prepare(copy, request)], rng))

    def test_usable_from_another_thread(self) -> None:
        registry = load_registry(None, [])
        model = registry.get("demo")
        assert model is not None
        masks = [[True] * size for size in model.heads]
        row = model.prepare(RowRequest([[0.0] * 176], masks, True, True, True, False, True, []))
        results = []
        worker = threading.Thread(target=lambda: results.append(model.predict([row], np.random.default_rng(0))))
        worker.start()
        worker.join()
        self.assertEqual(results[0], model.predict([row], np.random.default_rng(0)))
