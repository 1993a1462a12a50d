"""Helpers of the API tests: settings for a test service, polling a job, request bodies and
error checks. (Fixtures are in ``conftest.py``.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from app.config import Settings

# Tiny NB201 networks: scoring one takes milliseconds on a CPU.
TINY = {"channels": 4, "cells_per_stage": 1}
SYNTHETIC = {"source": "synthetic", "batch_size": 8}
Serve = Callable[..., AbstractContextManager[TestClient]]
"""The ``serve`` fixture: ``with serve(database_url, **settings) as client: ...``."""
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def service_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test service: CPU, one torch thread (several spin against each other
    on a busy machine: scoring got ten times slower), fast polling, the embedded worker on
    (also for PostgreSQL, where it is off by default), no API keys, the reference data
    folder when present."""
    values: dict[str, object] = {
        "database_url": database_url,
        "embedded_worker": True,
        "device": "cpu",
        "torch_threads": 1,
        "poll_seconds": 0.05,
        "data_dir": str(SHARED_DATA) if SHARED_DATA.is_dir() else None,
        "api_keys": [],
    }
    values.update(overrides)
    return Settings(**values)


def wait_job(
    client: TestClient, job_id: int, timeout: float = 120.0, headers: dict | None = None
) -> dict:
    """Poll ``GET /v1/score-jobs/{id}`` until the job is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/score-jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] not in {"queued", "running"}:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {timeout:.0f}s: {job}")
        time.sleep(0.05)


def nb201_items(cells: list[str], settings: dict | None = None) -> list[dict]:
    """``ArchitectureIn`` bodies for NB201 cell strings (tiny networks by default)."""
    settings = TINY if settings is None else settings
    return [{"space": "nb201", "spec": cell, "settings": settings} for cell in cells]


def submit(client: TestClient, items: list[dict], headers: dict | None = None) -> list[int]:
    """POST the architectures; their ids, in order."""
    response = client.post("/v1/architectures", json={"items": items}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def check_error(
    response: httpx2.Response, status: int, code: str, field: str | None = None
) -> dict:
    """Check an error answer's status, code and (when given) field; return its body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    if field is not None:
        assert body.get("field") == field, body
    return body
