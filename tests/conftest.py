"""Shared pytest configuration.

Hypothesis runs a bounded number of examples under `make test`; `make fuzz` raises it through
STORMPACK_FUZZ_EXAMPLES. No deadline: CI machines are slow and timing is not what we test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent

settings.register_profile(
    "stormpack",
    max_examples=int(os.environ.get("STORMPACK_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize="STORMPACK_FUZZ_EXAMPLES" not in os.environ,
)
settings.load_profile("stormpack")

# the on-disk start-up cache (stormpack.cache) of this run lives in a fresh directory, never in
# the user's ~/.cache; subprocesses inherit it
if "STORMPACK_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["STORMPACK_CACHE_DIR"] = tempfile.mkdtemp(prefix="stormpack-test-cache-")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
