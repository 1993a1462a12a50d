"""Fixtures of the API tests: the real application (``create_app``) served in-process by
Starlette's ``TestClient`` with its lifespan, so the embedded worker scores jobs, over the
fresh SQLite and PostgreSQL databases of ``tests/app/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from api_support import Serve, service_settings
from fastapi.testclient import TestClient

from app.main import create_app


@contextmanager
def _serve(database_url: str, **overrides: object) -> Iterator[TestClient]:
    app = create_app(service_settings(database_url, **overrides))
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.storage.engine.dispose()


@pytest.fixture
def serve() -> Serve:
    """Factory: ``with serve(database_url, **settings) as client:`` runs the application,
    lifespan included (the embedded worker starts and stops with the block); ``settings``
    override ``api_support.service_settings``."""
    return _serve
