"""Request validation: every problem is a PolicyInputError naming the field."""

from __future__ import annotations

from typing import Any

import numpy as np
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.policy import PolicyInputError, RowRequest, load_registry
from osrs_twisted.policy.builtin import NHENV_HEAD_SIZES
from osrs_twisted.policy.registry import LoadedModel


def _model(name: str = "demo") -> LoadedModel:
    model = load_registry(None, []).get(name)
    assert model is not None
    return model


def _masks() -> list[list[bool]]:
    return [[True] * size for size in NHENV_HEAD_SIZES]


class PrepareTests(SynchronousTestCase):
    def prepare(self, model: LoadedModel | None = None, **fields: Any) -> Any:
        request: dict[str, Any] = {
            "obs": [[0.5] * 176],
            "action_masks": _masks(),
            "deterministic": True,
            "return_log_prob": False,
            "return_entropy": False,
            "return_value": False,
            "return_probs": False,
            "extensions": [],
        }
        request.update(fields)
        return (model or _model()).prepare(RowRequest(**request))

    def assertRefused(self, field: str, fragment: str, model: LoadedModel | None = None, **fields: Any) -> None:
        error = self.assertRaises(PolicyInputError, self.prepare, model, **fields)
        self.assertEqual(error.field, field)
        self.assertIn(fragment, str(error))

    def test_valid_row(self) -> None:
        row = self.prepare(obs=[[True, False] + [1] * 174])
        self.assertEqual(row.obs.dtype, np.float32)
        self.assertEqual(row.obs[0, :3].tolist(), [1.0, 0.0, 1.0])
        self.assertEqual(row.split, NHENV_HEAD_SIZES)

    def test_too_many_frames(self) -> None:
        self.assertRefused("obs", "obs has 2 frames; model demo takes at most 1", obs=[[0.0] * 176] * 2)

    def test_frame_too_short(self) -> None:
        self.assertRefused("obs", "obs frames have 175 values; model demo needs at least 176", obs=[[0.0] * 175])

    def test_frame_too_long(self) -> None:
        self.assertRefused("obs", "reads at most 269", obs=[[0.0] * 300])

    def test_unequal_frames(self) -> None:
        model = load_registry(None, []).get("noop")
        self.assertRefused("obs", "equal lengths", model, obs=[[0.0] * 176, [0.0] * 177])

    def test_non_finite(self) -> None:
        self.assertRefused("obs", "obs[0][3] must be a finite number", obs=[[0.0] * 3 + [float("nan")] + [0.0] * 172])
        self.assertRefused("obs", "finite", obs=[[0.0] * 3 + [1e39] + [0.0] * 172])
        self.assertRefused("obs", "finite", obs=[[0.0] * 3 + [10**400] + [0.0] * 172])

    def test_non_numeric(self) -> None:
        self.assertRefused("obs", "obs[0][1] must be a number, got a string", obs=[[0.0, "1.5"] + [0.0] * 174])
        self.assertRefused("obs", "obs[0][0] must be a number, got null", obs=[[None] + [0.0] * 175])
        self.assertRefused("obs", "obs[0] must be a list of numbers, got a number", obs=[1.0])
        self.assertRefused("obs", "obs must be a list of frames, got an object", obs={"a": 1})
        self.assertRefused("obs", "at least one frame", obs=[])
        self.assertRefused("obs", "obs[0][0] must be a number, got a list", obs=[[[0.0]] * 176])

    def test_masks_not_lists_of_booleans(self) -> None:
        self.assertRefused("actionMasks", "actionMasks must be a list of lists of booleans", action_masks="x")
        self.assertRefused("actionMasks", "actionMasks[2] must be a list", action_masks=_masks()[:2] + [True])
        bad = _masks()
        bad[3][1] = 1
        self.assertRefused("actionMasks", "actionMasks[3][1] must be a boolean", action_masks=bad)

    def test_mask_total(self) -> None:
        short = _masks()
        short[11].pop()
        self.assertRefused(
            "actionMasks", "actionMasks has 44 entries in total; model demo needs 45", action_masks=short
        )

    def test_deterministic(self) -> None:
        self.assertRefused(
            "deterministic", "deterministic has 11 entries; model demo has 12", deterministic=[True] * 11
        )
        self.assertRefused("deterministic", "a boolean or a list of 12 booleans", deterministic=[1] * 12)
        self.assertRefused("deterministic", "got null", deterministic=None)
        row = self.prepare(deterministic=[True, False] * 6)
        self.assertEqual(row.deterministic.tolist(), [True, False] * 6)

    def test_unknown_extension(self) -> None:
        self.assertRefused("extensions", "model demo has no extension 'elo' (it has: winrate)", extensions=["elo"])
        self.assertRefused("extensions", "(it has: none)", _model("noop"), extensions=["winrate"])

    def test_return_value_needs_critic_width(self) -> None:
        self.assertRefused("returnValue", "at least 269 values", return_value=True)
        self.assertTrue(self.prepare(obs=[[0.0] * 269], return_value=True).return_value)

    def test_noop_returns_nulls(self) -> None:
        model = _model("noop")
        row = self.prepare(model, obs=[[0.0] * 176] * 3, return_value=True, return_probs=True, return_log_prob=True)
        [reply] = model.predict([row], np.random.default_rng(0))
        self.assertEqual(
            reply,
            {
                "action": [0] * 12,
                "logProb": None,
                "entropy": None,
                "values": None,
                "probs": None,
                "extensionResults": [],
            },
        )
