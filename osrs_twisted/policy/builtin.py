"""The built-in models: ``noop``'s shape, ``demo``, and synthetic NhEnv policies.

``demo`` is UNTRAINED: seeded random weights that only show the server
working end to end. It is built as a checkpoint-shaped dict and goes through
:func:`describe_checkpoint`, exactly like a file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from osrs_twisted.policy.loader import WIN_RATE_TYPE, describe_checkpoint
from osrs_twisted.policy.model import PolicyDescription

NHENV_HEAD_SIZES: tuple[int, ...] = (4, 3, 3, 4, 5, 2, 2, 2, 2, 5, 7, 6)
NHENV_ACTOR_INPUT = 176
NHENV_CRITIC_INPUT = 269

DEMO_WARNING = "model demo is built in and UNTRAINED (seeded random weights): its actions are meaningless"


def _rule(kind: str, head: int, action: int) -> dict[str, list[tuple[int, int]]]:
    return {kind: [(head, action)]}


def _gated(gate: tuple[int, int], size: int) -> dict[int, dict[str, list[tuple[int, int]]]]:
    """Action 0 only without ``gate`` chosen; actions 1.. only with it."""
    rules = {0: _rule("require_none", *gate)}
    rules.update({action: _rule("require_all", *gate) for action in range(1, size)})
    return rules


def nhenv_dependencies() -> dict[int, dict[int, dict[str, list[tuple[int, int]]]]]:
    """NhEnv's action dependency table (docs/models.md), in checkpoint form."""
    table: dict[int, dict[int, dict[str, list[tuple[int, int]]]]] = {
        head: {} for head in range(len(NHENV_HEAD_SIZES))
    }
    table[1] = _gated((0, 3), 3)
    table[2] = _gated((0, 2), 3)
    table[3] = _gated((0, 1), 4)
    table[8] = _gated((0, 0), 2)
    table[10] = _gated((9, 3), 7)
    return table


def _mlp_config(sizes: tuple[int, ...]) -> dict[str, Any]:
    return {"layers": [{"size": size, "activation": "relu"} for size in sizes]}


def _add_mlp(
    state: dict[str, np.ndarray], rng: np.random.Generator, prefix: str, in_size: int, sizes: tuple[int, ...]
) -> int:
    """Random weights (torch's default uniform range) for a ReLU MLP; returns its width."""
    for index, size in enumerate(sizes):
        _add_linear(state, rng, f"{prefix}.{2 * index}", in_size, size)
        in_size = size
    return in_size


def _add_linear(state: dict[str, np.ndarray], rng: np.random.Generator, prefix: str, in_size: int, out: int) -> None:
    bound = 1.0 / np.sqrt(in_size)
    state[f"{prefix}.weight"] = rng.uniform(-bound, bound, (out, in_size)).astype(np.float32)
    state[f"{prefix}.bias"] = rng.uniform(-bound, bound, (out,)).astype(np.float32)


def synthetic_nhenv_checkpoint(
    *,
    seed: int = 0,
    frames: int = 1,
    trunk: tuple[int, ...] = (64,),
    heads: tuple[int, ...] = (64,),
    critic: tuple[int, ...] = (64, 64),
    winrate: tuple[int, ...] | None = (64, 64),
) -> dict[str, Any]:
    """A checkpoint-shaped dict (plain dicts, numpy arrays) of an NhEnv policy with seeded random weights."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    total = sum(NHENV_HEAD_SIZES)
    state["actor.action_mean"] = np.zeros(total, np.float32)
    state["actor.action_var"] = np.ones(total, np.float32)
    trunk_size = _add_mlp(state, rng, "actor.hidden", frames * NHENV_ACTOR_INPUT, trunk)
    for index, size in enumerate(NHENV_HEAD_SIZES):
        width = _add_mlp(state, rng, f"actor.heads.{index}.0", trunk_size + sum(NHENV_HEAD_SIZES[:index]), heads)
        _add_linear(state, rng, f"actor.heads.{index}.1", width, size)
    critic_width = _add_mlp(state, rng, "critic.hidden", frames * NHENV_CRITIC_INPUT, critic)
    _add_linear(state, rng, "critic.head", critic_width, 1)
    extensions = []
    if winrate is not None:
        classifier: dict[str, np.ndarray] = {}
        classifier_width = _add_mlp(classifier, rng, "net.0", frames * NHENV_ACTOR_INPUT, winrate)
        _add_linear(classifier, rng, "net.1", classifier_width, 2)
        extensions.append(
            {
                "name": "winrate",
                "type": WIN_RATE_TYPE,
                "params": {
                    "input_size": NHENV_ACTOR_INPUT,
                    "max_sequence_length": frames,
                    "mlp_config": _mlp_config(winrate),
                    "classifier_state": classifier,
                },
            }
        )
    width = max(NHENV_ACTOR_INPUT, NHENV_CRITIC_INPUT)
    return {
        "policy": state,
        "policy_params": {
            "max_sequence_length": frames,
            "actor_input_size": NHENV_ACTOR_INPUT,
            "critic_input_size": NHENV_CRITIC_INPUT,
            "action_head_sizes": list(NHENV_HEAD_SIZES),
            "feature_extractor_config": {},
            "share_feature_extractor": False,
            "actor_config": _mlp_config(trunk),
            "critic_config": _mlp_config(critic),
            "action_head_configs": _mlp_config(heads),
            "action_dependencies": nhenv_dependencies(),
            "autoregressive_actions": True,
            "append_future_action_masks": False,
            "normalize_autoregressive_actions": True,
        },
        "meta": {
            "normalized_observations": True,
            "running_observation_stats": {
                "mean": np.zeros(width, np.float32),
                "var": np.ones(width, np.float32),
                "epsilon": 1e-8,
                "clip_lower": -5.0,
                "clip_upper": 5.0,
            },
        },
        "extensions": extensions,
    }


def synthetic_nhenv_policy(
    *,
    seed: int = 0,
    frames: int = 1,
    trunk: tuple[int, ...] = (64,),
    heads: tuple[int, ...] = (64,),
    critic: tuple[int, ...] = (64, 64),
    winrate: tuple[int, ...] | None = (64, 64),
) -> PolicyDescription:
    """An NhEnv-shaped policy with seeded random weights (for ``demo`` and benchmarks)."""
    return describe_checkpoint(
        synthetic_nhenv_checkpoint(seed=seed, frames=frames, trunk=trunk, heads=heads, critic=critic, winrate=winrate)
    )


def demo_policy() -> PolicyDescription:
    """The built-in ``demo``: UNTRAINED, seed 0, 1 frame, trunk 64, heads 64, critic 2x64, winrate 2x64."""
    return synthetic_nhenv_policy(seed=0)


def release_size_policy(seed: int = 0, frames: int = 1) -> PolicyDescription:
    """A synthetic policy the size of pvp-ml's released models (trunk 512x2, heads 128x2, critic 512x2)."""
    return synthetic_nhenv_policy(seed=seed, frames=frames, trunk=(512, 512), heads=(128, 128), critic=(512, 512))
