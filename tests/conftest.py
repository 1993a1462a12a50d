"""Shared fixtures: the reference data folder next to the project (see ../shared/data/README.md)."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data folder; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"reference data not found at {SHARED_DATA}; it lives outside the repository "
            "(../shared/data relative to the project root), see its README.md"
        )
    return SHARED_DATA
