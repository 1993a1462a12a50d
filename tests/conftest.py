"""Shared fixtures: the reference data folder next to the project (see ../shared/data/README.md)."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import uvicorn

from app.config import Settings
from app.main import create_app

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


@contextmanager
def _serve(settings: Settings) -> Iterator[str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.fixture(scope="session")
def live_server() -> Callable[[Settings], AbstractContextManager[str]]:
    """``with live_server(settings) as url``: the real app served by uvicorn in a thread on a
    free port of 127.0.0.1, stopped (lifespan and embedded worker included) on exit."""
    return _serve
