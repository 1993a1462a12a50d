"""Overhead of the HTTP API, measured against a real uvicorn server on 127.0.0.1.

Two measurements, with their targets:

* ``POST /v1/rank`` of 100 already-scored candidates (params, flops and synflow, ranked by
  the log-rank ensemble): requests/second and latency (median, p90) over sequential requests
  on one keep-alive connection; target: median under 50 ms;
* ``POST /v1/architectures`` of 10,000 distinct NB201 cell strings in one request (parsed,
  canonicalised, counted and stored): seconds for the first post (inserting) and for the same
  batch again (all known); target: under 5 s.

The server runs in a subprocess (``uvicorn app.main:app``; its own interpreter, so the client
does not share its GIL) with the embedded worker on, over a fresh SQLite database migrated
with ``app.db.migrations.upgrade``, or over ``--database-url`` (e.g. PostgreSQL; migrated
too, never emptied). The 100 candidates are scored before any timing starts.

    .venv/bin/python benchmarks/api_overhead.py
    .venv/bin/python benchmarks/api_overhead.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/zc_bench
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from app.db import migrations
from zero_cost import spaces
from zero_cost.spaces.nb201 import OPS

PROXIES = ["params", "flops", "synflow"]
DATA = {"source": "synthetic", "batch_size": 16, "seed": 0}
CANDIDATE_SETTINGS = {"channels": 4, "cells_per_stage": 1}
RANK_TARGET_MS = 50.0
BULK_TARGET_S = 5.0


def nb201_cells(count: int, *, representatives_only: bool = False) -> list[str]:
    """``count`` distinct NB201 cell strings in a fixed order: first one cell per canonical
    architecture (non-degenerate ones first), then the remaining spellings, so that a batch
    holds as many distinct architectures as NB201 allows (4,930 in all)."""
    space = spaces.get("nb201")
    firsts, degenerate, rest, keys = [], [], [], set()
    for ops in itertools.product(OPS, repeat=6):
        cell = f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"
        arch = space.parse(cell)
        key = space.canonical_key(arch)
        if key in keys:
            rest.append(cell)
        else:
            keys.add(key)
            (degenerate if arch.is_degenerate else firsts).append(cell)
    cells = firsts if representatives_only else firsts + degenerate + rest
    if len(cells) < count:
        raise SystemExit(f"NB201 has fewer than {count} such cells")
    return cells[:count]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(database_url: str, log: Path) -> Iterator[str]:
    """``uvicorn app.main:app`` in a subprocess; yields its base URL once /readyz is 200."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ZC_EMBEDDED_WORKER": "true",
        "ZC_DEVICE": "cpu",
        "ZC_POLL_SECONDS": "0.2",
        "ZC_TORCH_THREADS": os.environ.get("ZC_TORCH_THREADS", "1"),  # pre-scoring only
        "ZC_API_KEYS": "",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise SystemExit(f"the server exited ({process.returncode}); see {log}")
                try:
                    if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"the server did not become ready in 60 s; see {log}")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def prescore(client: httpx2.Client, count: int) -> list[int]:
    """Submit ``count`` candidates and score them; their ids."""
    items = [
        {"space": "nb201", "spec": cell, "settings": CANDIDATE_SETTINGS}
        for cell in nb201_cells(count, representatives_only=True)
    ]
    answer = client.post("/v1/architectures", json={"items": items})
    answer.raise_for_status()
    ids = [item["id"] for item in answer.json()["items"]]
    job = client.post(
        "/v1/score-jobs", json={"architectures": ids, "proxies": PROXIES, "data": DATA}
    )
    job.raise_for_status()
    started = time.perf_counter()
    while True:
        state = client.get(f"/v1/score-jobs/{job.json()['id']}").json()
        if state["status"] not in {"queued", "running"}:
            break
        if time.perf_counter() - started > 600:
            raise SystemExit(f"pre-scoring did not finish in 600 s: {state}")
        time.sleep(0.2)
    if state["status"] != "succeeded" or state["errors"]:
        raise SystemExit(f"pre-scoring failed: {state}")
    print(
        f"pre-scored {len(ids)} candidates ({', '.join(PROXIES)}) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return ids


def bench_rank(client: httpx2.Client, ids: list[int], requests: int, warmup: int = 5) -> bool:
    body = {"architectures": ids, "proxies": PROXIES, "data": DATA}
    for _ in range(warmup):
        client.post("/v1/rank", json=body).raise_for_status()
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        answer = client.post("/v1/rank", json=body)
        latencies.append(time.perf_counter() - t0)
        answer.raise_for_status()
        ranked = answer.json()
        if not ranked["complete"] or len(ranked["ranking"]) != len(ids):
            raise SystemExit(f"rank was not served from stored scores: {ranked}")
    elapsed = time.perf_counter() - started
    median_ms = statistics.median(latencies) * 1000
    print(
        f"(a) POST /v1/rank, {len(ids)} scored candidates, {len(PROXIES)} proxies, "
        f"{requests} sequential requests:\n"
        f"    {requests / elapsed:7.1f} requests/s   median {median_ms:6.1f} ms   "
        f"p90 {percentile(latencies, 0.9) * 1000:6.1f} ms   "
        f"min {min(latencies) * 1000:6.1f} ms   max {max(latencies) * 1000:6.1f} ms"
    )
    ok = median_ms < RANK_TARGET_MS
    print(f"    target: median < {RANK_TARGET_MS:.0f} ms -> {'met' if ok else 'MISSED'}")
    return ok


def bench_bulk(client: httpx2.Client, count: int) -> bool:
    items = [{"space": "nb201", "spec": cell} for cell in nb201_cells(count)]
    print(f"(b) POST /v1/architectures, {count:,} distinct NB201 cell strings in one request:")
    ok = True
    for label in ("first post", "same again"):
        t0 = time.perf_counter()
        answer = client.post("/v1/architectures", json={"items": items}, timeout=300)
        elapsed = time.perf_counter() - t0
        answer.raise_for_status()
        result = answer.json()
        distinct = len({item["id"] for item in result["items"]})
        print(
            f"    {label:10s}  {elapsed:6.2f} s  ({count / elapsed:8.0f} architectures/s, "
            f"{1 / elapsed:5.2f} requests/s)  created {result['created']:,} of "
            f"{distinct:,} distinct architectures"
        )
        ok = ok and elapsed < BULK_TARGET_S
    print(f"    target: < {BULK_TARGET_S:.0f} s -> {'met' if ok else 'MISSED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default: a fresh SQLite file in a temp dir)"
    )
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--rank-requests", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=10_000)
    args = parser.parse_args()
    if args.rank_requests < 30:
        parser.error("--rank-requests must be at least 30")

    with tempfile.TemporaryDirectory(prefix="zc-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        migrations.upgrade(url)
        print(
            f"api_overhead: {url.split('://')[0]} database, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {platform.machine()}"
        )
        with (
            server(url, Path(tmp) / "server.log") as base,
            httpx2.Client(base_url=base, timeout=60) as client,
        ):
            ids = prescore(client, args.candidates)
            rank_ok = bench_rank(client, ids, args.rank_requests)
            bulk_ok = bench_bulk(client, args.bulk)
    sys.exit(0 if rank_ok and bulk_ok else 1)


if __name__ == "__main__":
    main()
