"""Find the shared test fixtures; skip without them unless CI requires them.

The fixtures live beside the project in ``../shared/fixtures`` and are never
copied into it. A user's own checkout may lack them: tests then skip with a
reason, except when ``OSRS_REQUIRE_FIXTURES=1`` (as CI sets), where a missing
fixture fails the run.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.trial.unittest import SkipTest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"


def fixture_path(relative: str) -> Path:
    """The path of one fixture file, or skip (fail under CI) when it is missing."""
    path = FIXTURES / relative
    if path.exists():
        return path
    reason = f"fixture {relative} not found under {FIXTURES}"
    if os.environ.get("OSRS_REQUIRE_FIXTURES") == "1":
        raise AssertionError(reason + " (OSRS_REQUIRE_FIXTURES=1)")
    raise SkipTest(reason)


def trained_model_path() -> Path:
    """The real pvp-ml checkpoint the reference cases were computed on."""
    return fixture_path("models/MyTrainedNh.zip")


def reference_cases_path() -> Path:
    """pvp-ml's own outputs for 64 deterministic requests."""
    return fixture_path("reference/MyTrainedNh-deterministic.jsonl")
