"""The live service that the CLI tests talk to."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from app.config import Settings
from app.db import migrations


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, live_server: Callable) -> Iterator[str]:
    """The URL of a live service (SQLite, embedded worker, CPU) for one test module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'zc.db'}"
    migrations.upgrade(url)
    settings = Settings(
        database_url=url,
        poll_seconds=0.05,
        data_dir="/work/shared/data",
        device="cpu",
        torch_threads=1,
    )
    with live_server(settings) as base:
        yield base
