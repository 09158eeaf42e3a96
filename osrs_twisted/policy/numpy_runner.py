"""The CPU path: docs/models.md's arithmetic in float32 numpy, few calls per head.

It imports torch only for a model that uses GELU (numpy has no erf). Per-call overhead dominates small batches and the
12 heads run one after the other, so work is moved to load time:

* the trunk output and the normalised one-hots of chosen actions live in one
  buffer, so each head's first Linear is a single matmul over its prefix
  (no concatenation); a chosen action's normalised one-hot is a row gathered
  from a table precomputed per head;
* dependency masks are a precomputed boolean table per head, indexed by the
  actions already chosen for the heads it depends on.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import attrs
import numpy as np

from osrs_twisted.policy.batch import Batch, ObsGroup, RunnerOutputs
from osrs_twisted.policy.errors import ModelLoadError
from osrs_twisted.policy.model import ActionRule, Linear, Mlp, PolicyDescription, WinRateExtension

ArrayFn = Callable[[np.ndarray], np.ndarray]
MAX_DEPENDENCY_COMBINATIONS = 1 << 16


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0), out=x)


def _gelu() -> ArrayFn:
    """The exact (erf) GELU as torch computes it. torch is imported here, when
    a GELU layer is built at load time, so ReLU and tanh models never pay for it."""
    import torch

    def gelu(x: np.ndarray) -> np.ndarray:
        return torch.nn.functional.gelu(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    return gelu


def _identity(x: np.ndarray) -> np.ndarray:
    return x


_ACTIVATION: dict[str | None, Callable[[], ArrayFn]] = {
    "relu": lambda: _relu,
    "tanh": lambda: np.tanh,
    "gelu": _gelu,
    None: lambda: _identity,
}


@attrs.frozen(eq=False)
class _Layer:
    weight_t: np.ndarray
    bias: np.ndarray
    activation: ArrayFn

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.weight_t
        y += self.bias
        return self.activation(y)


def _layers(linears: tuple[Linear, ...], activations: tuple[str | None, ...]) -> tuple[_Layer, ...]:
    return tuple(
        _Layer(np.ascontiguousarray(linear.weight.T), linear.bias, _ACTIVATION[activation]())
        for linear, activation in zip(linears, activations, strict=True)
    )


def _mlp_layers(mlp: Mlp, then: Linear | None = None) -> tuple[_Layer, ...]:
    linears = mlp.layers + ((then,) if then is not None else ())
    return _layers(linears, mlp.activations + ((None,) if then is not None else ()))


def _forward(layers: tuple[ArrayFn, ...], x: np.ndarray) -> np.ndarray:
    for layer in layers:
        x = layer(x)
    return x


@attrs.frozen(eq=False)
class _Dependency:
    """Allowed actions of one head, indexed by the flattened actions of the heads it reads."""

    heads: np.ndarray
    strides: np.ndarray
    table: np.ndarray


def _satisfied(rule: ActionRule, chosen: set[tuple[int, int]]) -> bool:
    return (
        all(pair in chosen for pair in rule.require_all)
        and (rule.require_any is None or any(pair in chosen for pair in rule.require_any))
        and not any(pair in chosen for pair in rule.require_none)
    )


def _dependency(rules: tuple[tuple[int, ActionRule], ...], sizes: tuple[int, ...], head: int) -> _Dependency | None:
    if not rules:
        return None
    pairs = [pair for _, rule in rules for pair in rule.require_all + (rule.require_any or ()) + rule.require_none]
    heads = sorted({other for other, _ in pairs})
    combinations = int(np.prod([sizes[other] for other in heads], dtype=np.int64))
    if combinations > MAX_DEPENDENCY_COMBINATIONS:
        raise ModelLoadError(f"head {head} depends on {combinations} combinations of earlier actions; too many")
    by_action = dict(rules)
    rows = []
    for combination in itertools.product(*(range(sizes[other]) for other in heads)):
        chosen = set(zip(heads, combination, strict=True))
        rows.append(
            [action not in by_action or _satisfied(by_action[action], chosen) for action in range(sizes[head])]
        )
    strides = [
        int(np.prod([sizes[other] for other in heads[index + 1 :]], dtype=np.int64)) for index in range(len(heads))
    ]
    return _Dependency(
        heads=np.array(heads), strides=np.array(strides, dtype=np.int64), table=np.array(rows, dtype=bool)
    )


@attrs.frozen(eq=False)
class _Head:
    offset: int
    size: int
    inputs: slice
    layers: tuple[_Layer, ...]
    dependency: _Dependency | None
    features: slice
    onehots: np.ndarray


def _onehots(description: PolicyDescription, offset: int, size: int) -> np.ndarray:
    """Head j's one-hots as the next heads see them (normalised, clipped), one per row."""
    eye = np.eye(size, dtype=np.float32)
    if description.action_mean is None or description.action_var is None:
        return eye
    mean = description.action_mean[offset : offset + size]
    std = np.sqrt(description.action_var[offset : offset + size] + np.float32(1e-8))
    return np.clip((eye - mean) / std, np.float32(-5), np.float32(5))


def _winrate_layers(extension: WinRateExtension) -> tuple[_Layer, ...]:
    return _mlp_layers(extension.net, extension.classifier)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row by inverse CDF; never an action of probability 0."""
    cumulative = np.cumsum(probs, axis=1, dtype=np.float64)
    threshold = rng.random(probs.shape[0]) * cumulative[:, -1]
    choice = (cumulative <= threshold[:, None]).sum(axis=1)
    last_allowed = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    return np.minimum(choice, last_allowed)


def choose(probs: np.ndarray, deterministic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Argmax where a row's flag is set, a draw from ``probs`` otherwise."""
    greedy = probs.argmax(axis=1)
    if deterministic.all():
        return greedy
    return np.where(deterministic, greedy, _sample(probs, rng))


class NumpyRunner:
    """Serves one :class:`PolicyDescription` on the CPU with numpy (float32)."""

    def __init__(self, description: PolicyDescription) -> None:
        self._description = description
        stats = description.observation_stats
        if stats is None:
            self._mean = self._std = None
        else:
            self._mean = stats.mean
            self._std = np.sqrt(stats.var + np.float32(stats.epsilon))
            self._clip = (np.float32(stats.clip_lower), np.float32(stats.clip_upper))
        # Steps 4 and 10: one more ReLU after the trunk and after the critic's MLP.
        self._trunk: tuple[ArrayFn, ...] = (*_mlp_layers(description.trunk), _relu)
        self._critic: tuple[ArrayFn, ...] = (
            *_mlp_layers(description.critic),
            _relu,
            *_layers((description.critic_head,), (None,)),
        )
        self._extensions = {ext.name: (ext, _winrate_layers(ext)) for ext in description.extensions}
        self._actor_width = description.frames * description.actor_input_size
        self._critic_width = description.frames * description.critic_input_size
        self._build_heads(description)

    def _build_heads(self, description: PolicyDescription) -> None:
        trunk = description.trunk_size
        sizes = description.head_sizes
        offsets = list(itertools.accumulate(sizes[:-1], initial=0))
        self._heads = tuple(
            _Head(
                offset=offset,
                size=size,
                inputs=slice(0, trunk + (offset if description.autoregressive else 0)),
                layers=_mlp_layers(head.mlp, head.logits),
                dependency=_dependency(description.dependencies[index], sizes, index),
                features=slice(trunk + offset, trunk + offset + size),
                onehots=_onehots(description, offset, size),
            )
            for index, (head, offset, size) in enumerate(zip(description.heads, offsets, sizes, strict=True))
        )
        self._features_width = trunk + (description.action_count if description.autoregressive else 0)

    def _normalise(self, group: ObsGroup) -> np.ndarray:
        if self._mean is None or self._std is None:
            return group.obs
        width = group.obs.shape[2]
        normalised = (group.obs - self._mean[:width]) / self._std[:width]
        return np.clip(normalised, *self._clip, out=normalised)

    def _inputs(self, batch: Batch) -> tuple[np.ndarray, list[tuple[ObsGroup, np.ndarray]]]:
        """Actor input (B, frames·actor_input) and every group's normalised frames."""
        normalised = [(group, self._normalise(group)) for group in batch.groups]
        if len(normalised) == 1:
            group, frames = normalised[0]
            return frames.reshape(batch.size, -1)[:, : self._actor_width], normalised
        actor = np.empty((batch.size, self._actor_width), dtype=np.float32)
        for group, frames in normalised:
            actor[group.rows] = frames.reshape(len(group.rows), -1)[:, : self._actor_width]
        return actor, normalised

    def _subset(
        self,
        wanted: np.ndarray,
        normalised: list[tuple[ObsGroup, np.ndarray]],
        layers: tuple[ArrayFn, ...],
        cut: Callable[[np.ndarray], np.ndarray],
        width: int,
    ) -> np.ndarray:
        """Run ``layers`` for the rows that asked, NaN elsewhere."""
        result = np.full((wanted.shape[0], width), np.nan, dtype=np.float32)
        for group, frames in normalised:
            chosen = wanted[group.rows]
            if chosen.any():
                result[group.rows[chosen]] = _forward(layers, cut(frames[chosen]))
        return result

    def run(self, batch: Batch, rng: np.random.Generator) -> RunnerOutputs:
        actor, normalised = self._inputs(batch)
        size = batch.size
        # Trunk output, then the normalised one-hots of the actions chosen so far.
        features = np.empty((size, self._features_width), dtype=np.float32)
        features[:, : self._description.trunk_size] = _forward(self._trunk, actor)
        autoregressive = self._description.autoregressive
        actions = np.empty((size, len(self._heads)), dtype=np.int64)
        probs = np.empty((size, self._description.action_count), dtype=np.float32)
        for index, head in enumerate(self._heads):
            logits = _forward(head.layers, features[:, head.inputs])
            allowed = batch.masks[:, head.offset : head.offset + head.size]
            if head.dependency is None:
                allowed = allowed.copy()
            else:
                allowed = allowed & head.dependency.table[actions[:, head.dependency.heads] @ head.dependency.strides]
            allowed[:, 0] |= ~allowed.any(axis=1)
            head_probs = _softmax_rows(np.where(allowed, logits, np.float32(-np.inf)))
            probs[:, head.offset : head.offset + head.size] = head_probs
            chosen = choose(head_probs, batch.deterministic[:, index], rng)
            actions[:, index] = chosen
            if autoregressive:
                features[:, head.features] = head.onehots[chosen]
        values = np.full(size, np.nan, dtype=np.float32)
        if batch.value_rows.any():
            values = self._subset(
                batch.value_rows,
                normalised,
                self._critic,
                lambda frames: _flat_cut(frames, self._critic_width),
                1,
            )[:, 0]
        extensions = {}
        for name, wanted in batch.extension_rows.items():
            extension, layers = self._extensions[name]
            extensions[name] = _softmax_rows(
                self._subset(wanted, normalised, layers, _winrate_cut(extension), 2)
            )
        return RunnerOutputs(actions=actions, probs=probs, values=values, extensions=extensions)


def _flat_cut(frames: np.ndarray, width: int) -> np.ndarray:
    return frames.reshape(frames.shape[0], -1)[:, :width]


def _winrate_cut(extension: WinRateExtension) -> Callable[[np.ndarray], np.ndarray]:
    def cut(frames: np.ndarray) -> np.ndarray:
        return frames[:, : extension.frames, : extension.input_size].reshape(frames.shape[0], -1)

    return cut
