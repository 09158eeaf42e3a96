"""The torch path (``--device cuda``): docs/models.md's arithmetic written plainly.

Each head's input is the trunk output concatenated with the normalised
one-hots of earlier choices, as pvp-ml computes it; dependency masks come from
rule matrices over those one-hots. It is deliberately not a port of the
numpy runner's tricks, so the two check each other in the tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import attrs
import numpy as np
import torch

from osrs_twisted.policy.batch import Batch, RunnerOutputs
from osrs_twisted.policy.model import ActionRule, Linear, Mlp, PolicyDescription

TensorFn = Callable[[torch.Tensor], torch.Tensor]

_ACTIVATION: dict[str | None, TensorFn] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": torch.nn.functional.gelu,
    None: lambda x: x,
}


class _Net:
    """Linear layers with activations, weights on the device."""

    def __init__(self, linears: tuple[Linear, ...], activations: tuple[str | None, ...], device: torch.device) -> None:
        self._steps = [
            (torch.tensor(linear.weight, device=device), torch.tensor(linear.bias, device=device), _ACTIVATION[act])
            for linear, act in zip(linears, activations, strict=True)
        ]

    @classmethod
    def of(cls, mlp: Mlp, device: torch.device, then: Linear | None = None) -> _Net:
        if then is None:
            return cls(mlp.layers, mlp.activations, device)
        return cls(mlp.layers + (then,), mlp.activations + (None,), device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for weight, bias, activation in self._steps:
            x = activation(torch.nn.functional.linear(x, weight, bias))
        return x


@attrs.frozen(eq=False)
class _Rules:
    """Per head: counts of satisfied pairs are ``chosen_onehots @ matrix``."""

    require_all: torch.Tensor
    all_needed: torch.Tensor
    require_any: torch.Tensor
    has_any: torch.Tensor
    require_none: torch.Tensor

    def allowed(self, chosen: torch.Tensor) -> torch.Tensor:
        all_ok = chosen @ self.require_all == self.all_needed
        any_ok = ~self.has_any | (chosen @ self.require_any > 0)
        none_ok = chosen @ self.require_none == 0
        return all_ok & any_ok & none_ok


def _rules(
    rules: tuple[tuple[int, ActionRule], ...], offsets: list[int], size: int, total: int, device: torch.device
) -> _Rules | None:
    if not rules:
        return None
    require_all = torch.zeros(total, size)
    require_any = torch.zeros(total, size)
    require_none = torch.zeros(total, size)
    has_any = torch.zeros(size, dtype=torch.bool)
    for action, rule in rules:
        for head, other in rule.require_all:
            require_all[offsets[head] + other, action] += 1
        for head, other in rule.require_none:
            require_none[offsets[head] + other, action] = 1
        if rule.require_any is not None:
            has_any[action] = True
            for head, other in rule.require_any:
                require_any[offsets[head] + other, action] = 1
    return _Rules(
        require_all=require_all.to(device),
        all_needed=require_all.sum(0).to(device),
        require_any=require_any.to(device),
        has_any=has_any.to(device),
        require_none=require_none.to(device),
    )


def _softmax_after(net: _Net) -> TensorFn:
    def classify(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(x), dim=1)

    return classify


class TorchRunner:
    """Serves one :class:`PolicyDescription` with torch on ``device``."""

    def __init__(self, description: PolicyDescription, device: str) -> None:
        self._description = description
        self._device = dev = torch.device(device)
        stats = description.observation_stats
        self._stats = None
        if stats is not None:
            self._stats = (
                torch.tensor(stats.mean, device=dev),
                torch.sqrt(torch.tensor(stats.var, device=dev) + stats.epsilon),
                stats.clip_lower,
                stats.clip_upper,
            )
        self._trunk = _Net.of(description.trunk, dev)
        self._heads = [_Net.of(head.mlp, dev, head.logits) for head in description.heads]
        self._critic = _Net.of(description.critic, dev)
        self._critic_head = _Net((description.critic_head,), (None,), dev)
        self._extensions = {ext.name: (ext, _Net.of(ext.net, dev, ext.classifier)) for ext in description.extensions}
        sizes = description.head_sizes
        self._offsets = list(itertools.accumulate(sizes, initial=0))
        total = self._offsets[-1]
        self._rules = [
            _rules(rules, self._offsets, size, total, dev)
            for rules, size in zip(description.dependencies, sizes, strict=True)
        ]
        if description.action_mean is not None and description.action_var is not None:
            self._action_mean = torch.tensor(description.action_mean, device=dev)
            self._action_std = torch.sqrt(torch.tensor(description.action_var, device=dev) + 1e-8)

    def _normalised(self, obs: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(obs).to(self._device)
        if self._stats is None:
            return x
        mean, std, lower, upper = self._stats
        width = x.shape[2]
        return torch.clamp((x - mean[:width]) / std[:width], lower, upper)

    def _onehot_features(self, chosen: torch.Tensor, count: int) -> torch.Tensor:
        if self._description.action_mean is None:
            return chosen[:, :count]
        mean, std = self._action_mean[:count], self._action_std[:count]
        return torch.clamp((chosen[:, :count] - mean) / std, -5.0, 5.0)

    def _choose(self, probs: torch.Tensor, deterministic: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        greedy = probs.argmax(dim=1)
        if deterministic.all():
            return greedy
        cumulative = torch.cumsum(probs.double(), dim=1)
        threshold = torch.from_numpy(rng.random(probs.shape[0])).to(self._device) * cumulative[:, -1]
        drawn = (cumulative <= threshold[:, None]).sum(dim=1)
        last_allowed = probs.shape[1] - 1 - torch.argmax((probs.flip(1) > 0).int(), dim=1)
        drawn = torch.minimum(drawn, last_allowed)
        return torch.where(torch.from_numpy(deterministic).to(self._device), greedy, drawn)

    def _rows(self, batch: Batch, wanted: np.ndarray, net: Callable[[torch.Tensor], torch.Tensor],
              cut: Callable[[torch.Tensor], torch.Tensor], width: int) -> np.ndarray:
        result = np.full((batch.size, width), np.nan, dtype=np.float32)
        for group in batch.groups:
            chosen = wanted[group.rows]
            if chosen.any():
                frames = self._normalised(group.obs[chosen])
                result[group.rows[chosen]] = net(cut(frames)).cpu().numpy()
        return result

    @torch.no_grad()
    def run(self, batch: Batch, rng: np.random.Generator) -> RunnerOutputs:
        description = self._description
        size = batch.size
        actor_width = description.frames * description.actor_input_size
        actor = torch.empty(size, actor_width, device=self._device)
        for group in batch.groups:
            frames = self._normalised(group.obs)
            actor[torch.from_numpy(group.rows).to(self._device)] = frames.reshape(len(group.rows), -1)[:, :actor_width]
        hidden = torch.relu(self._trunk(actor))
        masks = torch.from_numpy(batch.masks).to(self._device)
        chosen = torch.zeros(size, self._offsets[-1], device=self._device)
        actions = []
        probs = []
        for index, head in enumerate(self._heads):
            start, end = self._offsets[index], self._offsets[index + 1]
            features = hidden
            if description.autoregressive and start:
                features = torch.cat([hidden, self._onehot_features(chosen, start)], dim=1)
            logits = head(features)
            allowed = masks[:, start:end]
            rules = self._rules[index]
            if rules is not None:
                allowed = allowed & rules.allowed(chosen)
            fallback = torch.zeros_like(allowed)
            fallback[:, 0] = ~allowed.any(dim=1)
            allowed = allowed | fallback
            head_probs = torch.softmax(logits - (~allowed).float() * 1e8, dim=1)
            action = self._choose(head_probs, batch.deterministic[:, index], rng)
            chosen[torch.arange(size, device=self._device), start + action] = 1.0
            actions.append(action)
            probs.append(head_probs)

        def critic(x: torch.Tensor) -> torch.Tensor:
            return self._critic_head(torch.relu(self._critic(x)))

        critic_width = description.frames * description.critic_input_size
        values = self._rows(batch, batch.value_rows, critic, lambda x: x.reshape(x.shape[0], -1)[:, :critic_width], 1)
        extensions = {}
        for name, wanted in batch.extension_rows.items():
            extension, net = self._extensions[name]

            def cut(x: torch.Tensor, frames: int = extension.frames, width: int = extension.input_size) -> torch.Tensor:
                return x[:, :frames, :width].reshape(x.shape[0], -1)

            extensions[name] = self._rows(batch, wanted, _softmax_after(net), cut, 2)
        return RunnerOutputs(
            actions=torch.stack(actions, dim=1).cpu().numpy(),
            probs=torch.cat(probs, dim=1).cpu().numpy(),
            values=values[:, 0],
            extensions=extensions,
        )
