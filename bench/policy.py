"""Benchmark the policy engine's predict() on one thread.

Usage: python bench/policy.py [MODEL_ZIP] [--repeats N]

Prints a JSON summary: median latency of one row and rows/s at batch 256,
for the given model (2 frames) and for a synthetic release-size policy
(actor 512x2, heads 128x2, critic 512x2), each for two kinds of request:
"plain" (deterministic, no extra outputs, as loadgen.py and the Java client
send) and "all_outputs" (logProb and probs too, which costs Python floats).
Targets for the fixture model: <= 0.8 ms for one row, >= 100,000 rows/s at
batch 256.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from osrs_twisted.policy.builtin import NHENV_HEAD_SIZES, release_size_policy  # noqa: E402
from osrs_twisted.policy.engine import PolicyEngine, make_runner  # noqa: E402
from osrs_twisted.policy.loader import load_policy_file  # noqa: E402
from osrs_twisted.policy.model import PolicyDescription  # noqa: E402
from osrs_twisted.policy.rows import PreparedRow, RowRequest, prepare_row  # noqa: E402

DEFAULT_MODEL = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "models" / "MyTrainedNh.zip"


#: What a request asks for besides the action: the protocol's defaults as
#: loadgen.py and the Java client send them ("plain"), or every output.
REQUEST_KINDS = {"plain": (False, False), "all_outputs": (True, True)}


def _rows(engine: PolicyEngine, count: int, rng: np.random.Generator, kind: str) -> list[PreparedRow]:
    frames = engine.description.frames
    log_prob, probs = REQUEST_KINDS[kind]
    return [
        prepare_row(
            engine.spec,
            RowRequest(
                (rng.normal(size=(frames, 176)) * 10).tolist(),
                [[bool(v) for v in rng.random(size) < 0.8] for size in NHENV_HEAD_SIZES],
                deterministic=True,
                return_log_prob=log_prob,
                return_probs=probs,
            ),
        )
        for _ in range(count)
    ]


def _median_seconds(engine: PolicyEngine, rows: list[PreparedRow], repeats: int) -> float:
    rng = np.random.default_rng(0)
    for _ in range(max(3, repeats // 10)):
        engine.predict(rows, rng)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.predict(rows, rng)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(name: str, description: PolicyDescription, repeats: int, device: str) -> dict[str, Any]:
    engine = PolicyEngine(name, description, make_runner(description, device))
    rng = np.random.default_rng(1)
    result: dict[str, Any] = {"model": name, "frames": description.frames}
    for kind in REQUEST_KINDS:
        single = _median_seconds(engine, _rows(engine, 1, rng, kind), repeats)
        batch = _median_seconds(engine, _rows(engine, 256, rng, kind), max(10, repeats // 10))
        result[kind] = {
            "one_row_ms": round(single * 1000, 4),
            "batch_256_ms": round(batch * 1000, 3),
            "batch_256_rows_per_s": round(256 / batch),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls for one row (batch: a tenth)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = [(args.model.stem, load_policy_file(args.model)), ("release-size", release_size_policy(frames=2))]
    results = [measure(name, description, args.repeats, args.device) for name, description in models]
    summary = {"device": args.device, "threads": 1, "results": results}
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
