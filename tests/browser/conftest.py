"""Fixtures of the browser tests: headless Chromium (Debian's ``chromium`` package) driven by
Playwright for Python, and a live service seeded with the 400 reference cells.

The tests skip, saying what to install, when Chromium or the playwright package is missing
(``.ci/run`` installs Chromium; ``playwright install`` is never needed: the system browser
is launched through ``executable_path``). ``ZC_CHROMIUM`` names another executable.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from app.config import Settings
from app.db import migrations

READ_KEY, WRITE_KEY = "dashboard-reader", "dashboard-writer"
# Narrow networks keep scoring the 270 distinct cells of the 400 to well under a minute on an
# idle 2-core machine (several minutes when it is busy with other work).
NETWORK = {"channels": 8, "cells_per_stage": 1}
DATA = {"source": "npz", "file": "cifar10_sample.npz", "batch_size": 16}
JOBS = (["params", "flops", "synflow"], ["nwot", "jacob_cov"])
DATASETS = {
    "cifar10": "cifar10_test",
    "cifar100": "cifar100_test",
    "imagenet16-120": "imagenet16_test",
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str | None:
    candidates = [os.environ.get("ZC_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable; skips when it or the playwright package is missing."""
    path = _chromium()
    if path is None:
        pytest.skip(
            "Chromium is not installed: the browser tests need Debian's package "
            "(apt-get install chromium; .ci/run installs it) or ZC_CHROMIUM=/path/to/chromium"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -e '.[test]'")
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    """A headless Chromium for this module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@dataclass(frozen=True)
class Service:
    """A seeded live service: its URL and keys, and what was seeded."""

    url: str
    read_key: str
    write_key: str
    data: dict
    profile_id: int
    job_ids: list[int]
    architecture_ids: list[int]  # distinct, in first-seen order
    proxies: list[str]
    seed_seconds: float

    def get(self, path: str, **params: object) -> httpx2.Response:
        """GET with the read key (as any API client would)."""
        return httpx2.get(
            self.url + path, params=params, headers={"X-API-Key": READ_KEY}, timeout=120
        )


def _wait(client: httpx2.Client, job_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/score-jobs/{job_id}").raise_for_status().json()
        if job["status"] not in {"queued", "running"}:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {timeout:.0f}s: {job}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def seeded_service(
    chromium_path: str,
    shared_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
    live_server: Callable,
) -> Iterator[Service]:
    """A live service (SQLite, embedded worker, API keys 'read' and 'write') holding the 400
    reference cells, their CIFAR-10/100 and ImageNet16-120 accuracies, and their params,
    flops, synflow, nwot and jacob_cov scores on 16 CIFAR-10 images (two jobs), all through
    the API."""
    database = tmp_path_factory.mktemp("dashboard") / "zc.db"
    url = f"sqlite:///{database}"
    migrations.upgrade(url)
    settings = Settings(
        database_url=url,
        api_keys=[f"{READ_KEY}:read", f"{WRITE_KEY}:write"],
        embedded_worker=True,
        device="cpu",
        poll_seconds=0.05,
        data_dir=str(shared_data),
        # One thread scores these tiny networks as fast as two, and does not slow to a crawl
        # when other processes busy the cores (it is set in the scoring process only).
        torch_threads=1,
    )
    with open(shared_data / "nb201_dev.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    started = time.monotonic()
    with live_server(settings) as base:
        headers = {"X-API-Key": WRITE_KEY}
        with httpx2.Client(base_url=base, headers=headers, timeout=120) as client:
            items = [
                {"space": "nb201", "spec": r["arch_str"], "settings": NETWORK} for r in rows
            ]
            stored = client.post("/v1/architectures", json={"items": items}).raise_for_status()
            ids = [item["id"] for item in stored.json()["items"]]
            reports = [
                {"architecture": a, "dataset": dataset, "value": float(row[column])}
                for dataset, column in DATASETS.items()
                for a, row in zip(ids, rows, strict=True)
            ]
            client.post("/v1/accuracies", json={"items": reports}).raise_for_status()
            distinct = list(dict.fromkeys(ids))
            job_ids = []
            for proxies in JOBS:
                body = {"architectures": distinct, "proxies": proxies, "data": DATA}
                job_ids.append(
                    client.post("/v1/score-jobs", json=body).raise_for_status().json()
                )
            done = [_wait(client, job["id"], timeout=600) for job in job_ids]
        assert all(job["status"] == "succeeded" for job in done), done
        assert len({job["data_profile_id"] for job in done}) == 1
        yield Service(
            url=base,
            read_key=READ_KEY,
            write_key=WRITE_KEY,
            data=DATA,
            profile_id=done[0]["data_profile_id"],
            job_ids=[job["id"] for job in done],
            architecture_ids=distinct,
            proxies=sorted(p for proxies in JOBS for p in proxies),
            seed_seconds=time.monotonic() - started,
        )
