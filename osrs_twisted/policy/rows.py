"""Check one request's fields against a model and prepare them for a batch.

This runs on the reactor thread for every request, so the common, valid
case takes a few numpy calls; only a failing input is walked in Python to
name exactly what is wrong.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from osrs_twisted.policy.errors import PolicyInputError


@attrs.frozen
class InputSpec:
    """What a model accepts.

    ``max_frames`` ``None``: any number of frames, none padded (``noop``).
    ``critic_input_size`` ``None``: ``returnValue`` gives null. ``max_width``
    ``None``: frames may be any width. ``extensions`` maps each extension to
    the frame width it reads.
    """

    model_name: str
    max_frames: int | None
    actor_input_size: int
    critic_input_size: int | None
    max_width: int | None
    head_sizes: tuple[int, ...]
    extensions: Mapping[str, int]


@attrs.frozen(eq=False)
class PreparedRow:
    """One validated request: ``obs`` is (frames, width) float32, zero-padded to the model's frames."""

    obs: np.ndarray
    mask: np.ndarray
    deterministic: np.ndarray
    return_log_prob: bool
    return_entropy: bool
    return_value: bool
    return_probs: bool
    extensions: tuple[str, ...]
    split: tuple[int, ...]


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


def _finite32(value: float) -> bool:
    try:
        with np.errstate(over="ignore"):
            return bool(np.isfinite(np.float32(value)))
    except OverflowError:
        return False


def _obs_problem(obs: object) -> str:
    """Why ``obs`` is not a list of equal-length lists of finite numbers (the slow path)."""
    if not isinstance(obs, list):
        return f"obs must be a list of frames, got {_describe(obs)}"
    if not obs:
        return "obs must have at least one frame"
    width = None
    for index, frame in enumerate(obs):
        if not isinstance(frame, list):
            return f"obs[{index}] must be a list of numbers, got {_describe(frame)}"
        if width is not None and len(frame) != width:
            return f"obs frames must have equal lengths; obs[0] has {width} values, obs[{index}] has {len(frame)}"
        width = len(frame)
        for position, value in enumerate(frame):
            if not isinstance(value, (int, float)):
                return f"obs[{index}][{position}] must be a number, got {_describe(value)}"
            if not _finite32(value):
                return f"obs[{index}][{position}] must be a finite number within float32 range"
    if not width:
        return "obs frames must not be empty"
    return "obs must be a list of frames of finite numbers"


def _obs_array(obs: object) -> np.ndarray:
    """``obs`` as a (frames, width) float32 array, or :class:`PolicyInputError`."""
    if isinstance(obs, list) and obs:
        try:
            raw = np.asarray(obs)
        except (ValueError, TypeError, OverflowError):
            raw = None
        if raw is not None and raw.ndim == 2 and raw.shape[1] and raw.dtype.kind in "biuf":
            with np.errstate(over="ignore", invalid="ignore"):
                array = raw.astype(np.float32)
            if np.isfinite(array).all():
                return array
    raise PolicyInputError("obs", _obs_problem(obs))


def _mask_array(action_masks: object, total: int, model_name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    if type(action_masks) is list and set(map(type, action_masks)) <= _LIST:
        flat = list(itertools.chain.from_iterable(action_masks))
        if len(flat) == total and set(map(type, flat)) <= _BOOL:
            return np.array(flat, dtype=bool), tuple(map(len, action_masks))
    return _mask_problem(action_masks, total, model_name)


_BOOL = {bool}
_LIST = {list}


def _mask_problem(action_masks: object, total: int, model_name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """The slow path: walk the masks to name what is wrong (or, for a
    list subclass, accept them)."""
    if not isinstance(action_masks, list):
        raise PolicyInputError(
            "actionMasks", f"actionMasks must be a list of lists of booleans, got {_describe(action_masks)}"
        )
    for index, head in enumerate(action_masks):
        if not isinstance(head, list):
            raise PolicyInputError(
                "actionMasks", f"actionMasks[{index}] must be a list of booleans, got {_describe(head)}"
            )
        for position, value in enumerate(head):
            if value is not True and value is not False:
                raise PolicyInputError(
                    "actionMasks", f"actionMasks[{index}][{position}] must be a boolean, got {_describe(value)}"
                )
    split = tuple(len(head) for head in action_masks)
    given = sum(split)
    if given != total:
        raise PolicyInputError(
            "actionMasks", f"actionMasks has {given} entries in total; model {model_name} needs {total}"
        )
    return np.fromiter(itertools.chain.from_iterable(action_masks), dtype=bool, count=total), split


@functools.cache
def _same_flag(flag: bool, heads: int) -> np.ndarray:
    """The flags of a request that sets one for every head, shared read-only."""
    flags = np.full(heads, flag, dtype=bool)
    flags.flags.writeable = False
    return flags


def _deterministic_array(deterministic: object, heads: int, model_name: str) -> np.ndarray:
    if deterministic is True or deterministic is False:
        return _same_flag(deterministic, heads)
    if isinstance(deterministic, list) and all(value is True or value is False for value in deterministic):
        if len(deterministic) != heads:
            raise PolicyInputError(
                "deterministic",
                f"deterministic has {len(deterministic)} entries; model {model_name} has {heads} action heads",
            )
        return np.array(deterministic, dtype=bool)
    raise PolicyInputError(
        "deterministic",
        f"deterministic must be a boolean or a list of {heads} booleans, got {_describe(deterministic)}",
    )


@attrs.frozen
class RowRequest:
    """One request's decoded fields, before they are checked against a model."""

    obs: object
    action_masks: object
    deterministic: object = False
    return_log_prob: bool = False
    return_entropy: bool = False
    return_value: bool = False
    return_probs: bool = False
    extensions: Sequence[str] = ()


def prepare_row(spec: InputSpec, request: RowRequest) -> PreparedRow:
    """Validate one request's decoded fields; raises :class:`PolicyInputError` naming the field."""
    name = spec.model_name
    extensions = request.extensions
    array = _obs_array(request.obs)
    frames, width = array.shape
    if spec.max_frames is not None and frames > spec.max_frames:
        raise PolicyInputError("obs", f"obs has {frames} frames; model {name} takes at most {spec.max_frames}")
    if width < spec.actor_input_size:
        raise PolicyInputError(
            "obs", f"obs frames have {width} values; model {name} needs at least {spec.actor_input_size}"
        )
    if spec.max_width is not None and width > spec.max_width:
        raise PolicyInputError("obs", f"obs frames have {width} values; model {name} reads at most {spec.max_width}")
    mask, split = _mask_array(request.action_masks, sum(spec.head_sizes), name)
    flags = _deterministic_array(request.deterministic, len(spec.head_sizes), name)
    for extension in extensions:
        if extension not in spec.extensions:
            have = ", ".join(sorted(spec.extensions)) or "none"
            raise PolicyInputError(
                "extensions", f"model {name} has no extension {extension!r} (it has: {have})"
            )
        if width < spec.extensions[extension]:
            raise PolicyInputError(
                "extensions",
                f"extension {extension!r} of model {name} needs frames of at least {spec.extensions[extension]} values",
            )
    want_value = bool(request.return_value) and spec.critic_input_size is not None
    if want_value and spec.critic_input_size is not None and width < spec.critic_input_size:
        raise PolicyInputError(
            "returnValue",
            f"returnValue needs frames of at least {spec.critic_input_size} values (model {name}'s critic input); "
            f"obs frames have {width}",
        )
    if spec.max_frames is not None and frames < spec.max_frames:
        padded = np.zeros((spec.max_frames, width), dtype=np.float32)
        padded[:frames] = array
        array = padded
    array.flags.writeable = False
    return PreparedRow(
        obs=array,
        mask=mask,
        deterministic=flags,
        return_log_prob=bool(request.return_log_prob),
        return_entropy=bool(request.return_entropy),
        return_value=want_value,
        return_probs=bool(request.return_probs),
        extensions=tuple(extensions),
        split=split,
    )
