"""An immutable description of a policy: its sizes, statistics and weights.

Loaded files and the built-in ``demo`` both become a
:class:`PolicyDescription`, so every model runs through the same code. Arrays
are float32 and read-only; the classes compare by identity (``eq=False``)
because element-wise array equality makes no sense for ``==`` here.
"""

from __future__ import annotations

from typing import Literal

import attrs
import numpy as np

Activation = Literal["relu", "tanh", "gelu"]
ACTIVATIONS: frozenset[str] = frozenset({"relu", "tanh", "gelu"})


def frozen_array(values: np.ndarray) -> np.ndarray:
    """A read-only float32 copy, so a description can be shared between threads."""
    array = np.array(values, dtype=np.float32, copy=True)
    array.flags.writeable = False
    return array


@attrs.frozen(eq=False)
class Linear:
    """``y = x @ weight.T + bias`` as torch stores it: weight is (out, in)."""

    weight: np.ndarray
    bias: np.ndarray

    @property
    def in_size(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_size(self) -> int:
        return int(self.weight.shape[0])


@attrs.frozen(eq=False)
class Mlp:
    """Linear layers, each followed by its activation (``None``: none)."""

    layers: tuple[Linear, ...]
    activations: tuple[Activation | None, ...]

    def out_size(self, in_size: int) -> int:
        return self.layers[-1].out_size if self.layers else in_size


@attrs.frozen(eq=False)
class Head:
    """One action head: an MLP over trunk features (+ earlier one-hots), then logits."""

    mlp: Mlp
    logits: Linear


@attrs.frozen
class ActionRule:
    """When an action stays allowed, by ``(head, action)`` pairs of earlier heads.

    ``require_any`` is ``None`` when the checkpoint has no such list (an empty
    list present means the action can never be chosen).
    """

    require_all: tuple[tuple[int, int], ...] = ()
    require_any: tuple[tuple[int, int], ...] | None = None
    require_none: tuple[tuple[int, int], ...] = ()


@attrs.frozen(eq=False)
class ObservationStats:
    """Running mean/variance used to normalise observations (docs/models.md, "Normalisation")."""

    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    clip_lower: float
    clip_upper: float


@attrs.frozen(eq=False)
class WinRateExtension:
    """pvp-ml's win-rate classifier: normalised frames -> P(LOSE), P(WIN)."""

    name: str
    input_size: int
    frames: int
    net: Mlp
    classifier: Linear


@attrs.frozen(eq=False)
class PolicyDescription:
    """Everything needed to serve a policy; built once at load, then only read."""

    frames: int
    actor_input_size: int
    critic_input_size: int
    head_sizes: tuple[int, ...]
    dependencies: tuple[tuple[tuple[int, ActionRule], ...], ...]
    observation_stats: ObservationStats | None
    autoregressive: bool
    action_mean: np.ndarray | None
    action_var: np.ndarray | None
    trunk: Mlp
    heads: tuple[Head, ...]
    critic: Mlp
    critic_head: Linear
    extensions: tuple[WinRateExtension, ...]

    @property
    def trunk_size(self) -> int:
        return self.trunk.out_size(self.frames * self.actor_input_size)

    @property
    def action_count(self) -> int:
        return sum(self.head_sizes)

    @property
    def max_obs_width(self) -> int | None:
        """Widest frame the statistics cover (``None``: unnormalised, any width)."""
        stats = self.observation_stats
        return None if stats is None else int(stats.mean.shape[0])
