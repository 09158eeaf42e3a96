"""The policy engine: load pvp-ml policy files safely and run their inference.

A plain library (no Twisted): the TCP and HTTP layers call it. Stable names:

``load_registry(models_dir: Path | None, model_files: Sequence[Path], demo: bool = True,
default_model: str | None = None, device: str = "cpu") -> ModelRegistry``
    Load the built-ins (``noop``; ``demo``, UNTRAINED, unless ``demo=False``),
    every ``*.zip`` in ``models_dir`` (bad ones skipped and recorded) and each
    ``model_files`` entry (a bad one raises :class:`ModelLoadError`). Models
    are named by file stem; a file named ``noop``/``demo`` replaces the
    built-in. ``device="cpu"`` runs numpy; any other torch device runs torch.

``ModelRegistry``
    Immutable, safe to read from any thread: ``.get(name) -> LoadedModel | None``,
    ``.names``, ``.default_name``, ``.skipped`` (``SkippedModel(path, error)``),
    ``.warnings`` (messages for the caller to log: skipped files, replaced
    built-ins, the untrained ``demo``).

``LoadedModel.prepare(request: RowRequest) -> PreparedRow``
    Validate one request's already-decoded fields (``RowRequest(obs,
    action_masks, deterministic=False, return_log_prob=False, ...,
    extensions=())``; fast, meant for the reactor thread). Raises
    :class:`PolicyInputError` (``.field``, ``str()``).

``LoadedModel.predict(rows: Sequence[PreparedRow], rng: numpy.random.Generator) -> list[dict]``
    Run a batch of one model's rows (on a worker thread) and return each
    row's tcp-protocol reply dict (``action``, ``logProb``, ``entropy``,
    ``values``, ``probs``, ``extensionResults``) with plain Python numbers,
    in order. Rows never influence each other; ``rng`` drives sampling.
"""

from osrs_twisted.policy.builtin import demo_policy, release_size_policy, synthetic_nhenv_policy
from osrs_twisted.policy.errors import ModelLoadError, PolicyInputError
from osrs_twisted.policy.loader import load_policy_file
from osrs_twisted.policy.model import PolicyDescription
from osrs_twisted.policy.registry import LoadedModel, ModelRegistry, SkippedModel, load_model_file, load_registry
from osrs_twisted.policy.rows import PreparedRow, RowRequest

__all__ = [
    "LoadedModel",
    "ModelLoadError",
    "ModelRegistry",
    "PolicyDescription",
    "PolicyInputError",
    "PreparedRow",
    "RowRequest",
    "SkippedModel",
    "demo_policy",
    "load_model_file",
    "load_policy_file",
    "load_registry",
    "release_size_policy",
    "synthetic_nhenv_policy",
]
