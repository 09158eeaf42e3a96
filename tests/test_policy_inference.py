"""Batch semantics: isolation, padding, masks, per-head flags and sampling."""

from __future__ import annotations

import numpy as np
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.policy import load_registry
from osrs_twisted.policy.builtin import NHENV_HEAD_SIZES
from tests.policy_helpers import assert_close, nhenv_request, prepare, trained_model

ALL_OPTIONS = {"returnLogProb": True, "returnEntropy": True, "returnProbs": True, "extensions": ["winrate"]}


class IsolationTests(SynchronousTestCase):
    def test_alone_equals_in_a_batch_of_500(self) -> None:
        """Each row's reply is the same alone and inside a batch of 500 varied rows."""
        model = trained_model()
        rng = np.random.default_rng(3)
        requests = [
            nhenv_request(
                rng,
                frames=int(rng.integers(1, 3)),
                width=int(rng.choice([176, 269])),
                deterministic=[bool(v) for v in rng.random(12) < 0.5],
                **ALL_OPTIONS,
            )
            for _ in range(500)
        ]
        for request in requests[::25]:
            request["deterministic"] = True
        batch = model.predict([prepare(model, r) for r in requests], np.random.default_rng(0))
        for index in range(0, 500, 25):
            [alone] = model.predict([prepare(model, requests[index])], np.random.default_rng(0))
            assert_close(alone, batch[index], 1e-6, f"row {index}")


class PaddingTests(SynchronousTestCase):
    def test_one_frame_is_zero_padded(self) -> None:
        model = trained_model()
        request = nhenv_request(np.random.default_rng(4), frames=1, **ALL_OPTIONS)
        padded = dict(request, obs=[request["obs"][0], [0.0] * 176])
        rng = np.random.default_rng(0)
        one, two = model.predict([prepare(model, request), prepare(model, padded)], rng)
        self.assertEqual(one, two)


class MaskTests(SynchronousTestCase):
    def test_all_masked_head_falls_back_to_action_0(self) -> None:
        model = trained_model()
        request = nhenv_request(np.random.default_rng(5), returnProbs=True)
        request["actionMasks"][4] = [False] * 5
        request["actionMasks"][11] = [False] * 6
        [reply] = model.predict([prepare(model, request)], np.random.default_rng(0))
        self.assertEqual((reply["action"][4], reply["action"][11]), (0, 0))
        self.assertEqual(reply["probs"][4], [1.0, 0.0, 0.0, 0.0, 0.0])

    def test_masked_actions_have_zero_probability(self) -> None:
        model = trained_model()
        request = nhenv_request(np.random.default_rng(6), returnProbs=True)
        [reply] = model.predict([prepare(model, request)], np.random.default_rng(0))
        for head, mask in enumerate(request["actionMasks"]):
            if any(mask):
                for allowed, p in zip(mask, reply["probs"][head], strict=True):
                    if not allowed:
                        self.assertEqual(p, 0.0)
            self.assertAlmostEqual(sum(reply["probs"][head]), 1.0, places=5)

    def test_dependencies_follow_attack_choice(self) -> None:
        """With melee chosen, the melee type head may not pick 'no melee' (NhEnv table)."""
        model = trained_model()
        request = nhenv_request(np.random.default_rng(8), returnProbs=True)
        request["actionMasks"][0] = [False, False, False, True]
        request["actionMasks"][1] = [True, True, True]
        [reply] = model.predict([prepare(model, request)], np.random.default_rng(0))
        self.assertEqual(reply["action"][0], 3)
        self.assertEqual(reply["probs"][1][0], 0.0)
        self.assertEqual(reply["probs"][2], [1.0, 0.0, 0.0])

    def test_probs_split_like_the_request(self) -> None:
        """``probs`` follows the client's sublist lengths, not the head sizes."""
        model = trained_model()
        request = nhenv_request(np.random.default_rng(9), returnProbs=True)
        flat = [v for head in request["actionMasks"] for v in head]
        request["actionMasks"] = [flat[:40], flat[40:]]
        [reply] = model.predict([prepare(model, request)], np.random.default_rng(0))
        self.assertEqual([len(part) for part in reply["probs"]], [40, 5])


class DeterministicTests(SynchronousTestCase):
    def test_per_head_flags(self) -> None:
        """Deterministic heads take the argmax; others vary across draws but stay allowed."""
        model = trained_model()
        request = nhenv_request(np.random.default_rng(10), returnProbs=True)
        request["actionMasks"] = [[True] * size for size in NHENV_HEAD_SIZES]
        flags = [head % 2 == 0 for head in range(12)]
        request["deterministic"] = flags
        rows = [prepare(model, request)] * 200
        replies = model.predict(rows, np.random.default_rng(0))
        for reply in replies:
            for head in range(0, 12, 2):
                self.assertEqual(reply["action"][head], int(np.argmax(reply["probs"][head])), f"head {head}")
        self.assertGreater(len({tuple(r["action"][1::2]) for r in replies}), 1)


class SamplingTests(SynchronousTestCase):
    def test_only_allowed_actions(self) -> None:
        model = trained_model()
        rng = np.random.default_rng(11)
        requests = [nhenv_request(rng, deterministic=False, returnProbs=True) for _ in range(300)]
        for reply in model.predict([prepare(model, r) for r in requests], rng):
            for head, action in enumerate(reply["action"]):
                self.assertGreater(reply["probs"][head][action], 0.0)

    def test_draws_follow_probs(self) -> None:
        """Chi-square of 20000 draws of head 0 (which depends on no earlier head) against its probs."""
        model = load_registry(None, []).get("demo")
        assert model is not None
        request = nhenv_request(np.random.default_rng(12), deterministic=False, returnProbs=True)
        request["actionMasks"][0] = [True, True, False, True]
        draws = 20000
        replies = model.predict([prepare(model, request)] * draws, np.random.default_rng(13))
        probs = np.array(replies[0]["probs"][0])
        self.assertEqual(probs[2], 0.0)
        counts = np.bincount([r["action"][0] for r in replies], minlength=4)
        self.assertEqual(counts[2], 0)
        allowed = probs > 0
        expected = probs[allowed] * draws
        self.assertTrue((expected > 50).all(), f"probs too skewed for the test: {probs}")
        chi_square = float((((counts[allowed] - expected) ** 2) / expected).sum())
        # 2 degrees of freedom: P(chi2 > 13.82) = 0.001.
        self.assertLess(chi_square, 13.82)
