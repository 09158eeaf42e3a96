"""Rows in, reply dicts out: the part of a model call both runners share.

:func:`assemble` stacks prepared rows into arrays (grouped by frame width,
since rows may send frames of different widths); a runner turns a
:class:`Batch` into :class:`RunnerOutputs`; :func:`replies` derives
``logProb``/``entropy`` and writes the tcp-protocol reply of every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import accumulate, pairwise
from typing import Any, Protocol

import attrs
import numpy as np

from osrs_twisted.policy.rows import PreparedRow

EPS32 = np.float32(np.finfo(np.float32).eps)


@attrs.frozen(eq=False)
class ObsGroup:
    """Rows whose frames share one width: ``obs`` is (rows, frames, width)."""

    rows: np.ndarray
    obs: np.ndarray


@attrs.frozen(eq=False)
class Batch:
    """A model call's inputs as arrays; ``value_rows``/``extension_rows`` say who asked."""

    size: int
    groups: tuple[ObsGroup, ...]
    masks: np.ndarray
    deterministic: np.ndarray
    value_rows: np.ndarray
    extension_rows: Mapping[str, np.ndarray]


@attrs.frozen(eq=False)
class RunnerOutputs:
    """Per-row results: actions (B, heads), probs (B, Σ sizes), values (B,) and
    extension class probabilities (B, 2), NaN in rows that did not ask."""

    actions: np.ndarray
    probs: np.ndarray
    values: np.ndarray
    extensions: Mapping[str, np.ndarray]


class Runner(Protocol):
    """Runs a description's arithmetic on a batch (numpy on the CPU, or torch)."""

    def run(self, batch: Batch, rng: np.random.Generator) -> RunnerOutputs: ...


def assemble(rows: Sequence[PreparedRow]) -> Batch:
    """Stack rows; almost always one width group, so this is a handful of numpy calls."""
    size = len(rows)
    widths = [row.obs.shape[1] for row in rows]
    if len(set(widths)) == 1:
        groups: tuple[ObsGroup, ...] = (ObsGroup(rows=np.arange(size), obs=np.stack([row.obs for row in rows])),)
    else:
        by_width: dict[int, list[int]] = {}
        for index, width in enumerate(widths):
            by_width.setdefault(width, []).append(index)
        groups = tuple(
            ObsGroup(rows=np.array(indices), obs=np.stack([rows[index].obs for index in indices]))
            for indices in by_width.values()
        )
    names = {name for row in rows for name in row.extensions}
    return Batch(
        size=size,
        groups=groups,
        masks=np.stack([row.mask for row in rows]),
        deterministic=np.stack([row.deterministic for row in rows]),
        value_rows=np.array([row.return_value for row in rows], dtype=bool),
        extension_rows={name: np.array([name in row.extensions for row in rows], dtype=bool) for name in names},
    )


def _log_prob(probs: np.ndarray, actions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    chosen = np.take_along_axis(probs, actions + offsets, axis=1)
    return np.log(np.clip(chosen, EPS32, np.float32(1) - EPS32)).sum(axis=1, dtype=np.float32)


def _entropy(probs: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    terms = -probs * np.log(np.clip(probs, EPS32, np.float32(1) - EPS32))
    return np.add.reduceat(terms, offsets, axis=1)


def _split(flat: list[float], split: tuple[int, ...]) -> list[list[float]]:
    bounds = list(accumulate(split, initial=0))
    return [flat[start:end] for start, end in pairwise(bounds)]


class _Probs:
    """Each row's probs split like its request; the usual per-head split costs one
    ``tolist`` per head for the whole batch instead of Python slicing per row."""

    def __init__(self, probs: np.ndarray, head_sizes: tuple[int, ...]) -> None:
        bounds = list(accumulate(head_sizes, initial=0))
        per_head = [probs[:, start:end].tolist() for start, end in pairwise(bounds)]
        self._by_head = [list(parts) for parts in zip(*per_head, strict=True)]
        self._probs = probs
        self._head_sizes = head_sizes

    def row(self, index: int, split: tuple[int, ...]) -> list[list[float]]:
        if split == self._head_sizes:
            return self._by_head[index]
        return _split(self._probs[index].tolist(), split)


def replies(rows: Sequence[PreparedRow], outputs: RunnerOutputs, head_sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """The tcp-protocol reply of every row, with plain Python numbers."""
    offsets = np.fromiter(accumulate(head_sizes[:-1], initial=0), dtype=np.int64)
    actions = outputs.actions.tolist()
    wants_log_prob = any(row.return_log_prob for row in rows)
    log_prob = _log_prob(outputs.probs, outputs.actions, offsets).tolist() if wants_log_prob else None
    entropy = _entropy(outputs.probs, offsets).tolist() if any(row.return_entropy for row in rows) else None
    probs = _Probs(outputs.probs, head_sizes) if any(row.return_probs for row in rows) else None
    values = outputs.values.tolist()
    extensions = {name: result.tolist() for name, result in outputs.extensions.items()}
    result = []
    for index, row in enumerate(rows):
        result.append(
            {
                "action": actions[index],
                "logProb": log_prob[index] if log_prob is not None and row.return_log_prob else None,
                "entropy": entropy[index] if entropy is not None and row.return_entropy else None,
                "values": values[index] if row.return_value else None,
                "probs": probs.row(index, row.split) if probs is not None and row.return_probs else None,
                "extensionResults": [
                    {"WIN": [extensions[name][index][1]], "LOSE": [extensions[name][index][0]]}
                    for name in row.extensions
                ]
                if row.extensions
                else [],
            }
        )
    return result
