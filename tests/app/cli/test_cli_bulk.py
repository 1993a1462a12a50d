"""``zero-cost bulk``: whole-space enumeration, chunk keys and the output file (fast), and
500 NB201 cells scored through a real service with two worker processes, the client killed
mid-way and resumed without anything scored twice (slow)."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from app.cli import app
from app.cli.bulk import (
    KEY_PREFIX,
    METADATA_KEY,
    ScoreRequest,
    chunk_key,
    enumerate_space,
    make_chunks,
    metadata_path,
    write_table,
)
from app.db import migrations
from zero_cost import spaces
from zero_cost.repeats import ONCE, Repeats

ROOT = Path(__file__).resolve().parents[3]
TINY = {"channels": 4, "cells_per_stage": 1}
REQUEST = ScoreRequest(("params", "synflow"), {"source": "synthetic", "batch_size": 8}, 0, ONCE)


# -- the spec list ---------------------------------------------------------------------------


def test_all_nb201_cells_in_a_fixed_order() -> None:
    cells = enumerate_space("nb201")
    assert len(cells) == len(set(cells)) == 5**6
    assert cells == enumerate_space("nb201")
    assert cells[0] == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert cells[1] == "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    space = spaces.get("nb201")
    keys = {space.identity_key(space.parse(cell)) for cell in cells}
    assert len(keys) == len(cells)  # every cell is its own architecture


def test_all_nats_sss_width_lists() -> None:
    specs = enumerate_space("nats_sss")
    assert len(specs) == len(set(specs)) == 8**5
    assert specs[0] == "8:8:8:8:8" and specs[-1] == "64:64:64:64:64"
    space = spaces.get("nats_sss")
    assert all(space.to_spec(space.parse(spec)) == spec for spec in specs[:50])


def test_a_space_that_cannot_be_listed_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bulk", "--all", "--space", "darts", "--out", str(tmp_path / "x.parquet")]
    )
    assert result.exit_code == 1
    assert "darts space cannot be enumerated" in result.output
    assert "nats_sss, nb201" in result.output and "FILE of specs" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.txt", "--all"], "must end in .parquet or .csv"),
        (["--out", "nowhere/x.csv", "--all"], "no such directory: nowhere"),
        (["--out", "x.csv"], "either a FILE of specs or --all"),
        (["specs.json", "--all", "--out", "x.csv"], "either a FILE of specs or --all"),
        (["--all", "--out", "x.csv", "--settings", "[1]"], "--settings: expected a JSON object"),
        (["--all", "--out", "x.csv", "--proxies", ","], "name at least one proxy"),
    ],
)
def test_refused_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["bulk", *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


# -- chunks and their keys -------------------------------------------------------------------


def test_chunks_are_fixed_slices_with_keys_of_their_requests() -> None:
    ids = list(range(1, 108))
    chunks = make_chunks(ids, 25, REQUEST)
    assert [len(c.architecture_ids) for c in chunks] == [25, 25, 25, 25, 7]
    assert [i for c in chunks for i in c.architecture_ids] == ids
    # The same run gives the same keys (a restart replays its jobs); every chunk its own.
    assert [c.key for c in chunks] == [c.key for c in make_chunks(ids, 25, REQUEST)]
    assert len({c.key for c in chunks}) == len(chunks)
    for c in chunks:  # a valid Idempotency-Key: 1-255 printable ASCII characters
        assert c.key.startswith(KEY_PREFIX) and len(c.key) <= 255 and c.key.isprintable()


@pytest.mark.parametrize(
    "other",
    [
        ScoreRequest(("params",), REQUEST.data, 0, ONCE),
        ScoreRequest(("synflow", "params"), REQUEST.data, 0, ONCE),
        ScoreRequest(REQUEST.proxies, None, 0, ONCE),
        ScoreRequest(REQUEST.proxies, {"source": "synthetic", "batch_size": 16}, 0, ONCE),
        ScoreRequest(REQUEST.proxies, REQUEST.data, 1, ONCE),
        ScoreRequest(REQUEST.proxies, REQUEST.data, 0, Repeats(2, 1)),
    ],
)
def test_another_request_gets_another_key(other: ScoreRequest) -> None:
    # A key reused with another body would be refused (422 idempotency_key_reused).
    assert chunk_key([1, 2, 3], other) != chunk_key([1, 2, 3], REQUEST)


def test_other_architectures_get_another_key() -> None:
    assert chunk_key([1, 2, 3], REQUEST) != chunk_key([1, 2, 4], REQUEST)
    assert chunk_key([1, 2, 3], REQUEST) != chunk_key([3, 2, 1], REQUEST)


# -- the output file -------------------------------------------------------------------------

ROWS = [
    {"id": 3, "space": "nb201", "spec": "|a|", "canonical_key": "k3", "snip": 0.5, "nwot": None},
    {"id": 1, "space": "nb201", "spec": "[0,1]", "canonical_key": "k1", "snip": 1e300, "nwot": 2.0},
]
METADATA = {"proxies": {"snip": "1", "nwot": "2"}, "data_profile": {"id": 4}, "jobs": [7]}


def test_parquet_file_with_metadata(tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    write_table(path, ROWS, ["snip", "nwot"], METADATA)
    table = pq.read_table(path)
    assert table.column_names == ["id", "space", "spec", "canonical_key", "snip", "nwot"]
    assert table.to_pylist() == ROWS
    assert json.loads(table.schema.metadata[METADATA_KEY]) == METADATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]  # no partial left


def test_csv_file_with_metadata_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("an older file\n")
    write_table(path, ROWS, ["snip", "nwot"], METADATA)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["3", "1"]
    assert [r["snip"] for r in rows] == ["0.5", "1e+300"]
    assert [r["nwot"] for r in rows] == ["", "2.0"]
    assert metadata_path(path) == tmp_path / "scores.csv.json"
    assert json.loads(metadata_path(path).read_text()) == METADATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv", "scores.csv.json"]


# -- a real service: 500 cells, two workers, a kill and a resume -----------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """A service process and two worker processes on one SQLite file."""

    url: str
    database_url: str
    workdir: Path
    processes: list[subprocess.Popen]

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.workdir.glob("*.log"))
        )


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """``zero-cost serve`` without its embedded worker and two ``zero-cost worker``
    processes (CPU, one thread each), over a fresh SQLite file."""
    database_url = f"sqlite:///{tmp_path / 'zc.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZC_")}
    env |= {
        "DATABASE_URL": database_url,
        "ZC_EMBEDDED_WORKER": "false",
        "ZC_DEVICE": "cpu",
        "ZC_TORCH_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "ZC_POLL_SECONDS": "0.05",
        "ZC_CLAIM_BATCH_SIZE": "8",
    }
    migrations.upgrade(database_url)  # here, so that the server and workers start together
    port = _free_port()
    cli = [sys.executable, "-m", "app.cli"]
    api = _start([*cli, "serve", "--port", str(port)], env, tmp_path / "api.log")
    running = Service(f"http://127.0.0.1:{port}", database_url, tmp_path, [api])
    for i in range(2):
        running.processes.append(_start([*cli, "worker"], env, tmp_path / f"worker-{i}.log"))
    try:
        deadline = time.monotonic() + 120
        while True:
            assert api.poll() is None, running.logs()
            try:
                if httpx2.get(f"{running.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, running.logs()
            time.sleep(0.2)
        yield running
    finally:
        for process in running.processes:
            process.send_signal(signal.SIGTERM)
        for process in running.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _bulk_args(service: Service, specs: Path, out: Path) -> list[str]:
    """The arguments of ``zero-cost`` that score ``specs`` into ``out`` in 10 chunks of 50,
    2 in flight."""
    return [
        "--url", service.url, "bulk", str(specs), "--out", str(out),
        "--proxies", "params,synflow", "--data", "synthetic", "--batch-size", "8",
        "--settings", json.dumps(TINY), "--chunk-size", "50", "--in-flight", "2",
        "--poll-seconds", "0.1",
    ]  # fmt: skip


def _resume(service: Service, specs: Path, out: Path) -> None:
    """Run bulk again, in this process, to its end."""
    result = CliRunner().invoke(app, _bulk_args(service, specs, out), catch_exceptions=False)
    assert result.exit_code == 0, f"{result.output}\n{service.logs()}"


def _count(service: Service, path: str, **filters: str) -> int:
    """How many resources a list endpoint of the service has (matching ``filters``)."""
    params = filters | {"limit": 1}
    return httpx2.get(f"{service.url}{path}", params=params, timeout=10).json()["count"]


@pytest.mark.slow
def test_bulk_is_stopped_and_resumed_without_scoring_anything_twice(
    service: Service, tmp_path: Path
) -> None:
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps(enumerate_space("nb201")[:500]))
    out = tmp_path / "scores.parquet"

    # First run, its own process: stopped by SIGTERM once two of its ten chunks are scored.
    first = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *_bulk_args(service, specs, out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while _count(service, "/v1/score-jobs", status="succeeded") < 2:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, service.logs()
        time.sleep(0.1)
    first.send_signal(signal.SIGTERM)
    try:
        _, err = first.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        first.kill()
        pytest.fail(f"bulk did not stop on SIGTERM: {first.communicate()}")
    assert first.returncode == 130, err
    assert "Run the same command again to resume" in " ".join(err.split())
    assert not out.exists()
    listed = httpx2.get(f"{service.url}/v1/score-jobs", timeout=10).json()["data"]
    submitted = sorted(job["id"] for job in listed)
    assert len(submitted) < 10  # stopped mid-way

    # Second run: resumes, re-submitting the same chunks under the same keys.
    _resume(service, specs, out)

    # Nothing scored twice: one job per chunk, each architecture in one job, each item
    # claimed once, and the workers finished exactly 500 items.
    engine = create_engine(service.database_url)
    with engine.connect() as connection:
        jobs = connection.scalar(text("SELECT count(*) FROM score_jobs"))
        items = connection.execute(
            text("SELECT count(*), count(DISTINCT architecture_id), max(attempts) FROM job_items")
        ).one()
        done = connection.scalar(text("SELECT sum(items_done) FROM workers"))
        scores = connection.scalar(text("SELECT count(*) FROM scores"))
    engine.dispose()
    assert jobs == 10
    assert tuple(items) == (500, 500, 1)
    assert done == 500
    assert scores == 500 * 2

    # The file matches GET /v1/scores value by value.
    table = pq.read_table(out)
    metadata = json.loads(table.schema.metadata[METADATA_KEY])
    profile = metadata["data_profile"]["id"]
    stored = httpx2.get(
        f"{service.url}/v1/scores",
        params={"data_profile_id": profile, "limit": 100_000},
        timeout=30,
    ).json()["data"]
    assert len(stored) == 1000
    expected = {(s["architecture_id"], s["proxy"]): s["value"] for s in stored}
    rows = table.to_pylist()
    assert [r["spec"] for r in rows] == json.loads(specs.read_text())
    assert len({r["id"] for r in rows}) == 500
    assert {(r["id"], p): r[p] for r in rows for p in ("params", "synflow")} == expected
    assert metadata["proxies"] == {s["proxy"]: s["proxy_version"] for s in stored}
    assert metadata["data_profile"]["source"] == "synthetic"
    assert metadata["architectures"] == 500 and metadata["missing"] == 0
    assert len(metadata["jobs"]) == 10
    assert metadata["jobs"][: len(submitted)] == submitted  # the first run's jobs, replayed

    # A third run of the finished run writes the CSV from the same jobs, creating nothing.
    csv_out = tmp_path / "scores.csv"
    _resume(service, specs, csv_out)
    assert _count(service, "/v1/score-jobs") == 10
    with open(csv_out, newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [int(r["id"]) for r in csv_rows] == [r["id"] for r in rows]
    assert [float(r["synflow"]) for r in csv_rows] == [r["synflow"] for r in rows]
    assert json.loads(metadata_path(csv_out).read_text())["jobs"] == metadata["jobs"]
