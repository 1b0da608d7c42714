"""Shared fixtures: where the real records of ``../shared/data`` are, and small helpers for tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_REFERENCE = REPO.parent / "shared" / "reference"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _need(path: Path) -> Path:
    """``path`` if it exists; otherwise skip (or fail when REQUIRE_SHARED_DATA=1, as in CI)."""
    if path.exists():
        return path
    reason = f"needs the shared real records at {path} (absent here)"
    if os.environ.get("REQUIRE_SHARED_DATA") == "1":
        pytest.fail(f"REQUIRE_SHARED_DATA=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real Challenge-format records (see its README)."""
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """``../shared/reference``: the official class tables."""
    return _need(SHARED_REFERENCE)
