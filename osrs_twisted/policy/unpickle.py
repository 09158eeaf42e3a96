"""Read a ``torch.save`` zip without executing anything from it.

A model file is untrusted input. Its pickle may only name the globals that
real pvp-ml checkpoints use (docs/models.md); each is mapped to a harmless
stand-in here: pvp-ml classes become :class:`InertRecord`, tensors become
:class:`StoredTensor` holding a float32 numpy array (whatever device they
were saved on), and the few builtins are wrapped so that they only accept
the arguments a checkpoint needs. Any other global is refused by name.
"""

from __future__ import annotations

import _codecs
import collections
import io
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from osrs_twisted.policy.errors import ModelLoadError

_PVP_ML_CLASSES = frozenset(
    {
        ("pvp_ml.ppo.ppo", "PolicyParams"),
        ("pvp_ml.ppo.ppo", "Meta"),
        ("pvp_ml.util.running_mean_std", "TensorRunningMeanStd"),
        ("pvp_ml.util.contract_loader", "EnvironmentMeta"),
        ("pvp_ml.util.contract_loader", "ActionHead"),
        ("pvp_ml.util.contract_loader", "Action"),
        ("pvp_ml.util.contract_loader", "ActionDependencyConfig"),
        ("pvp_ml.util.contract_loader", "Observation"),
        ("pvp_ml.util.schedule", "ConstantSchedule"),
        ("pvp_ml.util.schedule", "LinearSchedule"),
        ("pvp_ml.util.schedule", "ExpressionSchedule"),
        ("pvp_ml.util.league", "League"),
        ("pvp_ml.util.elo_tracker", "EloTracker"),
        ("pvp_ml.util.match_outcome_tracker", "MatchOutcome"),
        ("pvp_ml.util.match_outcome_tracker", "MatchOutcomeTracker"),
        ("pvp_ml.ppo.ext.win_rate_extension", "WinRateExtension"),
    }
)


class InertRecord:
    """Stand-in for a pickled pvp-ml object: it only stores what it is given."""

    pickled_module: str = ""
    pickled_name: str = ""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> InertRecord:
        # Protocol 2 pickles call ``__new__`` directly (NEWOBJ), never ``__init__``.
        record = super().__new__(cls)
        record.args = args
        record.kwargs = kwargs
        record.state = None
        return record

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def fields(self) -> dict[str, Any]:
        """The attributes the object was pickled with (dataclass or plain ``__dict__``)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, Mapping):
                    merged.update(part)
            return merged
        if isinstance(state, Mapping):
            return dict(state)
        return dict(self.kwargs)

    def __repr__(self) -> str:
        return f"<pickled {self.pickled_module}.{self.pickled_name}>"


def _record_class(module: str, name: str) -> type[InertRecord]:
    return type(name, (InertRecord,), {"pickled_module": module, "pickled_name": name})


_RECORD_CLASSES = {key: _record_class(*key) for key in _PVP_ML_CLASSES}


class StoredTensor:
    """A tensor read from the file: a read-only float32 array, no torch object."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("a tensor cannot be given state")


class _FloatStorageType:
    """What ``torch.FloatStorage`` unpickles to: a marker, checked in ``persistent_load``."""


_FLOAT_STORAGE = _FloatStorageType()


def _encode(text: object, encoding: object = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it for bytes: text to latin-1 only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin1 text")
    return _codecs.encode(text, "latin1")


def _dtype(spec: object, align: object = False, copy: object = False) -> np.dtype[Any]:
    """``numpy.dtype`` for plain numeric types only (never ``object``)."""
    if not isinstance(spec, str):
        raise pickle.UnpicklingError("numpy.dtype is only allowed from a type code")
    dtype = np.dtype(spec)
    if dtype.hasobject or dtype.fields is not None:
        raise pickle.UnpicklingError(f"numpy.dtype({spec!r}) is not allowed")
    return dtype


def _scalar(dtype: object, data: object = None) -> Any:
    """A numpy scalar from its raw bytes, as numpy pickles them."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("numpy scalar needs a numeric dtype and bytes")
    if len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar has the wrong number of bytes")
    return np.frombuffer(data, dtype=dtype)[0].item()


def _ordered_dict(*args: Any) -> collections.OrderedDict[Any, Any]:
    return collections.OrderedDict(*args)


def _set(*args: Any) -> set[Any]:
    return set(*args)


def _rebuild_tensor(
    storage: object,
    offset: object,
    size: object,
    stride: object,
    requires_grad: object = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> StoredTensor:
    """``torch._utils._rebuild_tensor_v2``, re-done on numpy with bounds checks."""
    if not isinstance(storage, np.ndarray):
        raise pickle.UnpicklingError("a tensor must be built from a storage")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise pickle.UnpicklingError("a tensor needs an integer offset, size and stride")
    if len(size) != len(stride) or not all(isinstance(v, int) and v >= 0 for v in size + stride):
        raise pickle.UnpicklingError("a tensor's size and stride disagree")
    count = 1
    for extent in size:
        count *= extent
    if count:
        last = offset + sum((extent - 1) * step for extent, step in zip(size, stride, strict=True))
        if offset < 0 or last >= storage.shape[0]:
            raise pickle.UnpicklingError("a tensor reaches outside its storage")
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:] if count else storage[:0],
        shape=size,
        strides=tuple(step * itemsize for step in stride),
    )
    array = np.array(view, dtype=np.float32)
    array.flags.writeable = False
    return StoredTensor(array)


_BUILTINS: dict[tuple[str, str], Callable[..., Any] | object] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch", "FloatStorage"): _FLOAT_STORAGE,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
    ("__builtin__", "set"): _set,
    ("builtins", "set"): _set,
}


class _CheckpointUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; storages come from the zip's ``data/`` members."""

    def __init__(self, data: bytes, storages: Callable[[str, int], np.ndarray]) -> None:
        super().__init__(io.BytesIO(data))
        self._storages = storages
        self._cache: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _BUILTINS:
            return _BUILTINS[key]
        if key in _RECORD_CLASSES:
            return _RECORD_CLASSES[key]
        raise pickle.UnpicklingError(f"refusing global {module}.{name}")

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if kind is not _FLOAT_STORAGE:
            raise pickle.UnpicklingError("only float32 storages are allowed")
        if not isinstance(key, str) or not isinstance(numel, int):
            raise pickle.UnpicklingError("malformed storage reference")
        if key not in self._cache:
            self._cache[key] = self._storages(key, numel)
        return self._cache[key]


def _checkpoint_stem(archive: zipfile.ZipFile) -> str:
    stems = {name.split("/", 1)[0] for name in archive.namelist() if name.endswith("/data.pkl")}
    if len(stems) != 1:
        raise ModelLoadError("no single <stem>/data.pkl inside: not a torch.save checkpoint")
    return stems.pop()


def read_checkpoint(path: Path) -> Any:
    """Unpickle a pvp-ml ``.zip`` safely; errors are :class:`ModelLoadError` naming ``path``."""
    try:
        with zipfile.ZipFile(path) as archive:
            stem = _checkpoint_stem(archive)
            byteorder = f"{stem}/byteorder"
            if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
                raise ModelLoadError("big-endian checkpoints are not supported")

            def storage(key: str, numel: int) -> np.ndarray:
                raw = archive.read(f"{stem}/data/{key}")
                if len(raw) != numel * 4:
                    raise pickle.UnpicklingError(
                        f"storage {key} has {len(raw)} bytes; {numel} float32 values need {numel * 4}"
                    )
                return np.frombuffer(raw, dtype="<f4")

            return _CheckpointUnpickler(archive.read(f"{stem}/data.pkl"), storage).load()
    except ModelLoadError as error:
        raise ModelLoadError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, EOFError) as error:
        raise ModelLoadError(f"{path}: not a readable zip file ({error})") from None
    except KeyError as error:
        raise ModelLoadError(f"{path}: missing archive member {error}") from None
    except pickle.UnpicklingError as error:
        raise ModelLoadError(f"{path}: {error}") from None
    except (OSError, ValueError, TypeError, AttributeError, IndexError, MemoryError, RecursionError) as error:
        raise ModelLoadError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from None
