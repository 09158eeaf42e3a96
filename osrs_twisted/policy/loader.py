"""Turn an unpickled pvp-ml checkpoint into a :class:`PolicyDescription`.

Every size the arithmetic relies on is checked against the weights here, so
a served model can never fail on a shape mismatch later. The input may come
from a file (pvp-ml records, :class:`StoredTensor`) or be built in memory
(plain dicts and numpy arrays, as the built-in ``demo`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from osrs_twisted.policy.errors import ModelLoadError
from osrs_twisted.policy.model import (
    ACTIVATIONS,
    ActionRule,
    Activation,
    Head,
    Linear,
    Mlp,
    ObservationStats,
    PolicyDescription,
    WinRateExtension,
    frozen_array,
)
from osrs_twisted.policy.unpickle import InertRecord, StoredTensor, read_checkpoint

WIN_RATE_TYPE = "pvp_ml.ppo.ext.win_rate_extension.WinRateExtension"
DEFAULT_WIN_RATE_MLP: Mapping[str, Any] = {
    "layers": [{"size": 64, "activation": "relu"}, {"size": 64, "activation": "relu"}]
}


class CheckpointError(Exception):
    """A checkpoint's content is unusable; the caller adds the file name."""


def _fields(value: Any, what: str) -> Mapping[Any, Any]:
    if isinstance(value, InertRecord):
        return value.fields()
    if isinstance(value, Mapping):
        return value
    raise CheckpointError(f"{what} is not a record (got {type(value).__name__})")


def _get(mapping: Mapping[str, Any], key: str, what: str) -> Any:
    try:
        return mapping[key]
    except KeyError:
        raise CheckpointError(f"{what} has no {key!r}") from None


def _int(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CheckpointError(f"{what} must be an integer >= {minimum} (got {value!r:.40})")
    return value


def _array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, StoredTensor):
        return value.array
    if isinstance(value, np.ndarray):
        return value
    raise CheckpointError(f"{what} is not a tensor")


def _expect_shape(array: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    if array.shape != shape:
        raise CheckpointError(f"{what} has shape {list(array.shape)}; the params need {list(shape)}")
    return frozen_array(array)


def _linear(state: Mapping[str, Any], prefix: str, in_size: int, out_size: int) -> Linear:
    weight = _array(_get(state, f"{prefix}.weight", "the state_dict"), f"{prefix}.weight")
    bias = _array(_get(state, f"{prefix}.bias", "the state_dict"), f"{prefix}.bias")
    return Linear(
        weight=_expect_shape(weight, (out_size, in_size), f"{prefix}.weight"),
        bias=_expect_shape(bias, (out_size,), f"{prefix}.bias"),
    )


def _mlp(state: Mapping[str, Any], prefix: str, config: Any, in_size: int) -> Mlp:
    """Expand ``{"layers": [{"size", "activation", "repeat"}]}`` as pvp-ml's Sequential."""
    entries = _get(_fields(config, f"{prefix} config"), "layers", f"{prefix} config")
    if not isinstance(entries, list):
        raise CheckpointError(f"{prefix} config 'layers' is not a list")
    layers: list[Linear] = []
    activations: list[Activation | None] = []
    index = 0
    size = in_size
    for entry in entries:
        entry = _fields(entry, f"{prefix} layer")
        out_size = _int(_get(entry, "size", f"{prefix} layer"), f"{prefix} layer size")
        activation = entry.get("activation")
        if activation is not None and activation not in ACTIVATIONS:
            raise CheckpointError(f"{prefix}: unsupported activation {activation!r:.40}")
        for _ in range(_int(entry.get("repeat", 1), f"{prefix} layer repeat")):
            layers.append(_linear(state, f"{prefix}.{index}", size, out_size))
            activations.append(cast("Activation | None", activation))
            index += 2 if activation is not None else 1
            size = out_size
    return Mlp(layers=tuple(layers), activations=tuple(activations))


def _pairs(value: Any, head: int, sizes: tuple[int, ...], what: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, (list, tuple)):
        raise CheckpointError(f"{what} is not a list of [head, action] pairs")
    pairs = []
    for pair in value:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise CheckpointError(f"{what} has an entry that is not a [head, action] pair")
        other = _int(pair[0], f"{what} head", 0)
        action = _int(pair[1], f"{what} action", 0)
        if other >= head or action >= sizes[other]:
            raise CheckpointError(f"{what} names [{other}, {action}], not an action of an earlier head")
        pairs.append((other, action))
    return tuple(pairs)


def _dependencies(value: Any, sizes: tuple[int, ...]) -> tuple[tuple[tuple[int, ActionRule], ...], ...]:
    table = _fields(value or {}, "action_dependencies")
    result = []
    for head, size in enumerate(sizes):
        actions = _fields(table.get(head) or {}, f"action_dependencies[{head}]")
        rules = []
        for key in sorted(actions):
            action = _int(key, f"action_dependencies[{head}] key", 0)
            if action >= size:
                raise CheckpointError(f"action_dependencies[{head}] names action {action} of {size}")
            what = f"action_dependencies[{head}][{action}]"
            spec = _fields(actions[key], what)
            any_pairs = spec.get("require_any")
            rules.append(
                (
                    action,
                    ActionRule(
                        require_all=_pairs(spec.get("require_all", ()), head, sizes, what),
                        require_any=None if any_pairs is None else _pairs(any_pairs, head, sizes, what),
                        require_none=_pairs(spec.get("require_none", ()), head, sizes, what),
                    ),
                )
            )
        result.append(tuple(rules))
    return tuple(result)


def _observation_stats(meta: Mapping[str, Any], needed: int) -> ObservationStats | None:
    if not _get(meta, "normalized_observations", "meta"):
        return None
    stats = _fields(_get(meta, "running_observation_stats", "meta"), "running_observation_stats")
    mean = _array(_get(stats, "mean", "running_observation_stats"), "observation mean")
    var = _array(_get(stats, "var", "running_observation_stats"), "observation var")
    if mean.ndim != 1 or mean.shape != var.shape or mean.shape[0] < needed:
        raise CheckpointError(
            f"observation statistics have shape {list(mean.shape)}/{list(var.shape)}; the params need ({needed},)"
        )
    return ObservationStats(
        mean=frozen_array(mean),
        var=frozen_array(var),
        epsilon=float(stats.get("epsilon", 1e-8)),
        clip_lower=float(stats.get("clip_lower", -5.0)),
        clip_upper=float(stats.get("clip_upper", 5.0)),
    )


def _type_name(value: Any) -> str:
    if isinstance(value, type) and issubclass(value, InertRecord):
        return f"{value.pickled_module}.{value.pickled_name}"
    return str(value)


def _extension(entry: Any, policy_frames: int) -> WinRateExtension:
    entry = _fields(entry, "an extension")
    name = _get(entry, "name", "an extension")
    if not isinstance(name, str):
        raise CheckpointError("an extension has a non-string name")
    kind = _type_name(entry.get("type"))
    if kind != WIN_RATE_TYPE:
        raise CheckpointError(f"extension {name!r}: unsupported type {kind:.80}")
    params = _fields(_get(entry, "params", f"extension {name!r}"), f"extension {name!r} params")
    input_size = _int(_get(params, "input_size", f"extension {name!r} params"), f"{name} input_size")
    frames = _int(params.get("max_sequence_length", 1), f"{name} max_sequence_length")
    if frames > policy_frames:
        raise CheckpointError(f"extension {name!r} reads {frames} frames; the policy has {policy_frames}")
    state = _fields(_get(params, "classifier_state", f"extension {name!r} params"), f"{name} classifier_state")
    net = _mlp(state, "net.0", params.get("mlp_config") or DEFAULT_WIN_RATE_MLP, frames * input_size)
    classifier = _linear(state, "net.1", net.out_size(frames * input_size), 2)
    return WinRateExtension(name=name, input_size=input_size, frames=frames, net=net, classifier=classifier)


def describe_checkpoint(checkpoint: Any) -> PolicyDescription:
    """Check a checkpoint's params against its weights and build the description."""
    top = _fields(checkpoint, "the checkpoint")
    state = _fields(_get(top, "policy", "the checkpoint"), "policy")
    params = _fields(_get(top, "policy_params", "the checkpoint"), "policy_params")
    meta = _fields(_get(top, "meta", "the checkpoint"), "meta")

    frames = _int(_get(params, "max_sequence_length", "policy_params"), "max_sequence_length")
    actor_input = _int(_get(params, "actor_input_size", "policy_params"), "actor_input_size")
    critic_input = _int(_get(params, "critic_input_size", "policy_params"), "critic_input_size")
    sizes_value = _get(params, "action_head_sizes", "policy_params")
    if not isinstance(sizes_value, (list, tuple)) or not sizes_value:
        raise CheckpointError("action_head_sizes is not a non-empty list")
    sizes = tuple(_int(size, "an action head size") for size in sizes_value)
    if params.get("feature_extractor_config"):
        raise CheckpointError("feature extractors are not supported")
    if params.get("append_future_action_masks"):
        raise CheckpointError("append_future_action_masks is not supported")
    autoregressive = bool(params.get("autoregressive_actions", True))

    trunk = _mlp(state, "actor.hidden", _get(params, "actor_config", "policy_params"), frames * actor_input)
    trunk_size = trunk.out_size(frames * actor_input)
    action_mean = action_var = None
    if autoregressive and params.get("normalize_autoregressive_actions", True):
        needed = sum(sizes[:-1])
        action_mean = _array(_get(state, "actor.action_mean", "the state_dict"), "actor.action_mean")
        action_var = _array(_get(state, "actor.action_var", "the state_dict"), "actor.action_var")
        if action_mean.ndim != 1 or action_mean.shape != action_var.shape or action_mean.shape[0] < needed:
            raise CheckpointError(f"actor.action_mean/var have shape {list(action_mean.shape)}; need ({needed},)")
        action_mean, action_var = frozen_array(action_mean), frozen_array(action_var)

    head_config = _get(params, "action_head_configs", "policy_params")
    heads = []
    for index, size in enumerate(sizes):
        in_size = trunk_size + (sum(sizes[:index]) if autoregressive else 0)
        mlp = _mlp(state, f"actor.heads.{index}.0", head_config, in_size)
        heads.append(Head(mlp=mlp, logits=_linear(state, f"actor.heads.{index}.1", mlp.out_size(in_size), size)))

    critic = _mlp(state, "critic.hidden", _get(params, "critic_config", "policy_params"), frames * critic_input)
    critic_head = _linear(state, "critic.head", critic.out_size(frames * critic_input), 1)

    extensions = top.get("extensions") or []
    if not isinstance(extensions, list):
        raise CheckpointError("extensions is not a list")
    return PolicyDescription(
        frames=frames,
        actor_input_size=actor_input,
        critic_input_size=critic_input,
        head_sizes=sizes,
        dependencies=_dependencies(params.get("action_dependencies"), sizes),
        observation_stats=_observation_stats(meta, max(actor_input, critic_input)),
        autoregressive=autoregressive,
        action_mean=action_mean,
        action_var=action_var,
        trunk=trunk,
        heads=tuple(heads),
        critic=critic,
        critic_head=critic_head,
        extensions=tuple(_extension(entry, frames) for entry in extensions),
    )


def load_policy_file(path: Path) -> PolicyDescription:
    """Read and check one pvp-ml ``.zip``; any problem is a :class:`ModelLoadError` naming it."""
    checkpoint = read_checkpoint(path)
    try:
        return describe_checkpoint(checkpoint)
    except CheckpointError as error:
        raise ModelLoadError(f"{path}: {error}") from None
    except (TypeError, ValueError, AttributeError) as error:
        # Odd values in an untrusted file (unsortable keys, wrong types deep inside).
        raise ModelLoadError(f"{path}: malformed checkpoint ({type(error).__name__}: {error})") from None
