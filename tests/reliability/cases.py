"""The eight reliability cases, each a function that runs real processes and returns a
``CaseResult`` (one row of docs/reliability.md) with its measurements in ``notes``.

The tests (``test_*.py``) call them with small sizes and assert the invariants; the report
script calls them with the sizes of the issue. Sizes are arguments, never hidden constants.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx2
from harness import (
    PROXIES,
    SYNTHETIC,
    TINY,
    ApiServer,
    CaseResult,
    PgCluster,
    Stats,
    WorkerPool,
    distinct_cells,
    duplicate_rows,
    item_counts,
    nb201_items,
    send,
    shared_database,
    sql,
    wait_until,
)
from sqlalchemy.engine import make_url

FINISHED = ("succeeded", "failed", "cancelled")


def _finished(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in FINISHED)


def make_job(url: str, cells: list[str], proxies: list[str] | None = None) -> tuple[int, int]:
    """A score job over NB201 cells, created through the service layer; (id, items)."""
    from app import services
    from app.config import Settings
    from app.db.session import make_engine
    from app.db.storage import Storage
    from app.schemas import ScoreJobIn

    storage = Storage(make_engine(url))
    try:
        body = ScoreJobIn(
            architectures=nb201_items(cells), proxies=proxies or PROXIES, data=SYNTHETIC
        )
        job = services.create_score_job(storage, Settings(database_url=url), body)
    finally:
        storage.engine.dispose()
    return job.id, job.total


def canonical_keys(cells: list[str]) -> list[str]:
    from zero_cost import spaces

    space = spaces.get("nb201", **TINY)
    return [space.canonical_key(space.parse(cell)) for cell in cells]


# -- 1. worker crashes -----------------------------------------------------------------------


def worker_crashes(
    workdir: Path,
    cells: int = 300,
    workers: int = 3,
    kill_every: tuple[float, float] = (1.0, 3.0),
    max_attempts: int = 5,
    timeout: float = 300,
    seed: int = 0,
) -> CaseResult:
    """Workers scoring a job are SIGKILLed at random and restarted until it is done."""
    started = time.monotonic()
    result = CaseResult(
        "1. worker crashes",
        f"{workers} workers, {cells} NB201 cells",
        "",
    )
    with shared_database() as url:
        job_id, total = make_job(url, distinct_cells(cells), PROXIES + ["snip"])
        pool = WorkerPool(url, workdir, workers, ZC_LEASE_SECONDS=2, ZC_MAX_ATTEMPTS=max_attempts)
        rng = random.Random(seed)
        pool.start()
        try:
            deadline = time.monotonic() + timeout
            next_kill = time.monotonic() + rng.uniform(*kill_every)
            while time.monotonic() < deadline:
                if _finished(item_counts(url, [job_id])) == total:
                    break
                if time.monotonic() >= next_kill:
                    pool.kill_random(rng)
                    next_kill = time.monotonic() + rng.uniform(*kill_every)
                time.sleep(0.1)
        finally:
            pool.stop(signal.SIGKILL)  # SIGKILL keeps every worker's row (items_done)
        counts = item_counts(url, [job_id])
        finishes = sql(url, "SELECT coalesce(sum(items_done), 0) FROM workers")[0][0]
        max_seen = sql(url, "SELECT max(attempts) FROM job_items")[0][0]
        scores = sql(url, "SELECT count(*) FROM scores WHERE status <> 'error'")[0][0]
        dups = duplicate_rows(url)
    result.faults = f"{pool.kills} SIGKILLs (every {kill_every[0]:g}-{kill_every[1]:g} s)"
    result.lost = total - counts.get("succeeded", 0)
    result.duplicates = sum(dups.values()) + max(0, finishes - counts.get("succeeded", 0))
    result.seconds = time.monotonic() - started
    result.notes = {
        "items": total,
        "counts": counts,
        "finish_transitions": finishes,
        "kills": pool.kills,
        "max_attempts_seen": max_seen,
        "scores": scores,
        "expected_scores": total * 3,
        "duplicate_rows": dups,
    }
    return result


# -- 2. API restarts under load --------------------------------------------------------------


def api_restarts(
    workdir: Path, clients: int = 8, duration: float = 30.0, restarts: int = 2, seed: int = 0
) -> CaseResult:
    """Clients write architectures, jobs and accuracies while the API is SIGKILLed and
    restarted; every acknowledged write must be stored, and retries must not duplicate.

    Score jobs carry an ``Idempotency-Key`` (one per logical submission, the same on every
    retry and repeat of it): a key answered with two job ids, a repeat not answered as a
    replay of its job, or two job rows with one key (``duplicate_rows``) are duplicates."""
    started = time.monotonic()
    result = CaseResult(
        "2. API restarts",
        f"{clients} clients, {duration:.0f} s",
        f"{restarts} API SIGKILL+restart",
    )
    pool_cells = distinct_cells(400)
    keys = dict(zip(pool_cells, canonical_keys(pool_cells), strict=True))
    lock = threading.Lock()
    acked_archs: dict[str, set[int]] = {}  # canonical key -> ids answered
    acked_jobs: set[int] = set()
    job_ids_by_key: dict[str, set[int]] = {}  # Idempotency-Key -> job ids answered
    acked_accuracies: set[tuple[str, float]] = set()
    refused: list[str] = []
    repeats_created = [0]
    stats = Stats()
    stop = threading.Event()

    def accuracy(cell: str) -> float:
        return int(hashlib.sha256(cell.encode()).hexdigest()[:6], 16) % 1000 / 10

    def client(k: int, base_url: str) -> None:
        rng = random.Random(seed * 1000 + k)
        with httpx2.Client(base_url=base_url, timeout=30) as http:
            for n in itertools.count():
                if stop.is_set():
                    break
                cells = rng.sample(pool_cells, 5)
                kind = rng.random()
                until = time.monotonic() + 90
                headers = {}
                if kind < 0.5:
                    body = {"items": nb201_items(cells)}
                    path = "/v1/architectures"
                elif kind < 0.75:
                    body = {
                        "architectures": nb201_items(cells),
                        "proxies": ["params"],
                        "data": SYNTHETIC,
                    }
                    path = "/v1/score-jobs"
                    # one key per submission, sent again with each retry and repeat of it
                    headers = {"Idempotency-Key": f"restarts-{seed}-{k}-{n}"}
                else:
                    body = {
                        "items": [
                            {
                                "architecture": item,
                                "dataset": "cifar10",
                                "value": accuracy(item["spec"]),
                                "epochs": 1,
                            }
                            for item in nb201_items(cells)
                        ]
                    }
                    path = "/v1/accuracies"
                response = send(
                    http, stats, "POST", path, json=body, headers=headers, retry_until=until
                )
                if response is None or response.status_code >= 300:
                    with lock:
                        refused.append(f"{path}: {response and response.status_code}")
                    continue
                answer = response.json()
                with lock:
                    if path == "/v1/architectures":
                        for item in answer["items"]:
                            acked_archs.setdefault(item["canonical_key"], set()).add(item["id"])
                    elif path == "/v1/score-jobs":
                        acked_jobs.add(answer["id"])
                        job_ids_by_key.setdefault(headers["Idempotency-Key"], set()).add(
                            answer["id"]
                        )
                    else:
                        acked_accuracies.update((keys[c], accuracy(c)) for c in cells)
                if rng.random() < 0.3:
                    # the same payload again (as a client whose answer was lost would)
                    again = send(
                        http, stats, "POST", path, json=body, headers=headers, retry_until=until
                    )
                    if again is None or again.status_code >= 300:
                        continue
                    repeat = again.json()
                    with lock:
                        if path == "/v1/score-jobs":
                            ids = job_ids_by_key[headers["Idempotency-Key"]]
                            if repeat["id"] in ids:  # the same job: it must be told a replay
                                replayed = again.headers.get("idempotent-replayed") == "true"
                                repeats_created[0] += int(not replayed)
                            ids.add(repeat["id"])  # another job: counted per key, below
                        else:
                            repeats_created[0] += repeat["created"]

    with shared_database() as url:
        api = ApiServer(url, workdir)
        api.start()
        pool = WorkerPool(url, workdir, 1)
        pool.start()
        threads = [
            threading.Thread(target=client, args=(k, api.url), daemon=True) for k in range(clients)
        ]
        try:
            for thread in threads:
                thread.start()
            for _ in range(restarts):
                time.sleep(duration / (restarts + 1))
                api.kill(signal.SIGKILL)
                time.sleep(0.5)  # clients see connection refused meanwhile
                api.start()
            time.sleep(duration / (restarts + 1))
            stop.set()
            for thread in threads:
                thread.join(timeout=120)
            jobs = sorted(acked_jobs)
            wait_until(
                lambda: _finished(item_counts(url, jobs)) == sum(item_counts(url, jobs).values()),
                timeout=120,
            )
        finally:
            stop.set()
            pool.stop()
            api.kill(signal.SIGTERM)
        stored = {
            key: ident for ident, key in sql(url, "SELECT id, canonical_key FROM architectures")
        }
        lost_archs = sum(
            1 for key, ids in acked_archs.items() if ids != {stored.get(key)}
        )  # a key answered with another id, or not stored
        job_rows = sql(url, "SELECT id, idempotency_key FROM score_jobs")
        stored_jobs = {ident for ident, _ in job_rows}
        lost_jobs = len(acked_jobs - stored_jobs)
        # a key answered with several jobs (each id beyond the first is a duplicate job)
        keys_with_several_jobs = sum(len(ids) - 1 for ids in job_ids_by_key.values())
        job_rows_without_key = sum(1 for _, key in job_rows if key is None)
        counts = item_counts(url, jobs)
        unfinished = sum(counts.values()) - counts.get("succeeded", 0)
        rows = sql(
            url,
            "SELECT a.canonical_key, c.value FROM accuracies c "
            "JOIN architectures a ON a.id = c.architecture_id",
        )
        stored_acc = {(key, round(value, 6)) for key, value in rows}
        lost_acc = sum(
            1 for key, value in acked_accuracies if (key, round(value, 6)) not in stored_acc
        )
        dups = duplicate_rows(url)
    result.requests = stats.requests
    result.lost = lost_archs + lost_jobs + lost_acc + unfinished
    result.duplicates = sum(dups.values()) + repeats_created[0] + keys_with_several_jobs
    result.server_errors = len(stats.server_errors)
    result.p99_ms = stats.p(99)
    result.seconds = time.monotonic() - started
    result.notes = {
        "acknowledged": {
            "architectures": len(acked_archs),
            "jobs": len(acked_jobs),
            "accuracies": len(acked_accuracies),
        },
        "lost": {
            "architectures": lost_archs,
            "jobs": lost_jobs,
            "accuracies": lost_acc,
            "job_items_not_succeeded": unfinished,
        },
        "job_rows_without_answer": len(stored_jobs - acked_jobs),
        "job_rows_without_key": job_rows_without_key,
        "keys_answered_with_several_jobs": keys_with_several_jobs,
        "transport_errors": stats.transport_errors,
        "refused": refused[:10],
        "server_errors": stats.server_errors[:10],
        "duplicate_rows": dups,
        "repeat_created": repeats_created[0],
        "p50_ms": stats.p(50),
    }
    return result


# -- 3. database faults ----------------------------------------------------------------------


def database_faults(
    workdir: Path, cells: int = 150, clients: int = 4, outage: float = 5.0
) -> CaseResult:
    """A throwaway cluster: backends terminated twice, then the server stopped for
    ``outage`` seconds and started again; nothing is restarted by hand."""
    started = time.monotonic()
    result = CaseResult(
        "3. database faults",
        f"{clients} clients + 2 workers, {cells}-item job",
        f"pg_terminate_backend x2, PostgreSQL down {outage:g} s",
    )
    stats = Stats()
    stop = threading.Event()
    lock = threading.Lock()
    acked: dict[str, int] = {}
    refused: list[str] = []
    probes: dict[str, object] = {}
    with PgCluster() as pg:
        url = pg.database()
        dbname = make_url(url).database
        api = ApiServer(url, workdir)
        api.start()
        pool = WorkerPool(url, workdir, 2, ZC_LEASE_SECONDS=10)
        pool.start()
        pids = [api.pid] + [w.pid for w in pool.workers]
        job_cells = distinct_cells(cells)
        client_cells = distinct_cells(clients * 200, offset=cells)

        def client(k: int) -> None:
            mine = client_cells[k * 200 : (k + 1) * 200]
            with httpx2.Client(base_url=api.url, timeout=30) as http:
                for i in range(0, len(mine), 5):
                    if stop.is_set():
                        return
                    body = {"items": nb201_items(mine[i : i + 5])}
                    until = time.monotonic() + 90
                    r = send(http, stats, "POST", "/v1/architectures", json=body, retry_until=until)
                    with lock:
                        if r is None or r.status_code >= 300:
                            refused.append(str(r and r.status_code))
                        else:
                            acked.update((x["canonical_key"], x["id"]) for x in r.json()["items"])
                    time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
        try:
            with httpx2.Client(base_url=api.url, timeout=30) as http:
                body = {
                    "architectures": nb201_items(job_cells),
                    "proxies": PROXIES,
                    "data": SYNTHETIC,
                }
                job = send(http, stats, "POST", "/v1/score-jobs", json=body).json()
                for thread in threads:
                    thread.start()
                time.sleep(1.5)
                terminated = pg.terminate_backends(dbname)
                time.sleep(1.5)
                terminated += pg.terminate_backends(dbname)
                time.sleep(1.0)
                pg.stop("fast")
                down_at = time.monotonic()
                time.sleep(0.5)
                write = http.post("/v1/architectures", json={"items": nb201_items(job_cells[:1])})
                ready = http.get("/readyz")
                probes = {
                    "write_status": write.status_code,
                    "write_retry_after": write.headers.get("retry-after"),
                    "write_code": write.json().get("code"),
                    "readyz_status": ready.status_code,
                    "readyz_body": ready.json(),
                    "healthz_status": http.get("/healthz").status_code,
                }
                time.sleep(max(0.0, outage - (time.monotonic() - down_at)))
                pg.start()
                up_at = time.monotonic()
                recovered = wait_until(lambda: _ready(http), timeout=60, interval=0.1)
                probes["ready_again_after_s"] = (
                    round(time.monotonic() - up_at, 2) if recovered else None
                )
                for thread in threads:
                    thread.join(timeout=180)
                done = wait_until(
                    lambda: _finished(item_counts(url, [job["id"]])) == job["total"], timeout=180
                )
                probes["job_done"] = bool(done)
            alive = [api.alive()] + [w.alive() for w in pool.workers]
            same = pids == [api.pid] + [w.pid for w in pool.workers]
        finally:
            stop.set()
            pool.stop()
            api.kill(signal.SIGTERM)
        counts = item_counts(url, [job["id"]])
        stored = {
            key: ident for ident, key in sql(url, "SELECT id, canonical_key FROM architectures")
        }
        lost_archs = sum(1 for key, ident in acked.items() if stored.get(key) != ident)
        dups = duplicate_rows(url)
    result.requests = stats.requests
    result.lost = lost_archs + job["total"] - counts.get("succeeded", 0)
    result.duplicates = sum(dups.values())
    result.server_errors = len(stats.server_errors)
    result.p99_ms = stats.p(99)
    result.seconds = time.monotonic() - started
    result.notes = {
        "terminated_backends": terminated,
        "probes_while_down": probes,
        "processes_alive_and_unrestarted": all(alive) and same,
        "job_counts": counts,
        "acknowledged_architectures": len(acked),
        "lost_architectures": lost_archs,
        "refused": refused[:10],
        "answers_503_retry_after": stats.unavailable,
        "transport_errors": stats.transport_errors,
        "server_errors": stats.server_errors[:10],
        "duplicate_rows": dups,
    }
    return result


def _ready(http: httpx2.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx2.TransportError:
        return False


# -- 4. concurrency --------------------------------------------------------------------------


def concurrency(
    workdir: Path, clients: int = 16, architectures: int = 1000, batch: int = 250, servers: int = 2
) -> CaseResult:
    """``clients`` post the same architectures at the same moment, shuffled, in batches,
    through ``servers`` API processes: one row per canonical key, one id for everyone."""
    started = time.monotonic()
    result = CaseResult(
        "4. concurrency",
        f"{clients} clients x {architectures} archs, {servers} API processes",
        "simultaneous overlapping batches",
    )
    cells = distinct_cells(architectures)
    stats = Stats()
    answers: list[dict[str, int]] = [{} for _ in range(clients)]
    created = [0] * clients
    failures: list[str] = []
    with shared_database() as url:
        apis = [ApiServer(url, workdir, name=f"api-{i}") for i in range(servers)]
        for api in apis:
            api.start()
        barrier = threading.Barrier(clients)

        def client(k: int) -> None:
            order = cells[:]
            random.Random(k).shuffle(order)
            with httpx2.Client(base_url=apis[k % servers].url, timeout=120) as http:
                barrier.wait()
                for i in range(0, len(order), batch):
                    body = {"items": nb201_items(order[i : i + batch])}
                    r = send(http, stats, "POST", "/v1/architectures", json=body)
                    if r is None or r.status_code != 200:
                        failures.append(f"{r and r.status_code}: {r and r.text[:200]}")
                        continue
                    for item in r.json()["items"]:
                        answers[k][item["canonical_key"]] = item["id"]
                        created[k] += bool(item["created"])

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
        finally:
            for api in apis:
                api.kill(signal.SIGTERM)
        rows = sql(url, "SELECT id, canonical_key FROM architectures")
    stored = {key: ident for ident, key in rows}
    disagreements = sum(1 for a in answers for key, ident in a.items() if stored.get(key) != ident)
    result.requests = stats.requests
    result.lost = sum(1 for a in answers for key in stored if key not in a) + len(failures)
    result.duplicates = len(rows) - len(stored) + max(0, sum(created) - architectures)
    result.server_errors = len(stats.server_errors)
    result.p99_ms = stats.p(99)
    result.seconds = time.monotonic() - started
    result.notes = {
        "rows": len(rows),
        "distinct_keys": len(stored),
        "clients_disagreeing_ids": disagreements,
        "created_told": sum(created),
        "failures": failures[:10],
        "server_errors": stats.server_errors[:10],
    }
    return result


# -- 5. hostile input ------------------------------------------------------------------------


def fuzz(url: str, requests: int = 300, seed: int = 0) -> dict:
    """Schemathesis over the whole OpenAPI schema (positive and negative data), in process
    against the ASGI application: counts, statuses and every check failure."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    from app.config import Settings
    from app.main import create_app

    app = create_app(
        Settings(database_url=url, embedded_worker=False, api_keys=[], rank_wait_seconds=0.5)
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [op.ok() for op in schema.get_all_operations()]
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    # a quarter more: operations without inputs have no negative cases
    per_run = max(1, math.ceil(1.25 * requests / (len(operations) * len(modes))))
    sent = Counter()
    failures: list[str] = []
    for operation in operations:
        for mode in modes:
            try:
                _fuzz_operation(operation, mode, per_run, sent, failures)()
            except Unsatisfiable:  # no negative data for an operation without inputs
                pass
    app.state.storage.engine.dispose()
    return {
        "operations": len(operations),
        "requests": sum(sent.values()),
        "statuses": dict(sorted(sent.items())),
        "failures": failures,
    }


def _fuzz_operation(
    operation: object, mode: object, examples: int, sent: Counter, failures: list[str]
) -> object:
    """A Hypothesis test over one operation's generated cases (failures are collected)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: object) -> None:
        try:
            response = case.call()
        except Exception as error:  # noqa: BLE001  (in process, a 500 raises: count it)
            sent[500] += 1
            failures.append(f"{operation.label}: raised {type(error).__name__}: {error}"[:400])
            return
        sent[response.status_code] += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except Exception as error:  # noqa: BLE001  (collected, reported together)
            failures.append(f"{operation.label}: {str(error)[:400]}")

    return run


def nasty_corpus() -> list[tuple[str, str, str, object]]:
    """(name, method, path, body) of hostile requests; body bytes are sent raw."""
    deep = "[" * 100_000 + "]" * 100_000
    graph_huge = {  # 10^6 x 10^6 linear layers: about 10^12 parameters
        "space": "graph",
        "spec": {
            "input_shape": [1_000_000],
            "nodes": [
                {"name": "fc1", "op": "linear", "out_features": 1_000_000},
                {"name": "fc2", "op": "linear", "out_features": 1_000_000},
            ],
        },
    }
    million_nodes = {
        "space": "graph",
        "spec": {
            "input_shape": [8],
            "nodes": [{"name": f"r{i}", "op": "relu"} for i in range(1_000_000)],
        },
    }
    cycle = {
        "space": "graph",
        "spec": {
            "input_shape": [8],
            "nodes": [
                {"name": "a", "op": "add", "inputs": ["input", "c"]},
                {"name": "b", "op": "relu", "inputs": ["a"]},
                {"name": "c", "op": "relu", "inputs": ["b"]},
                {"name": "fc", "op": "linear", "out_features": 10, "inputs": ["c"]},
            ],
        },
    }
    arch = {"space": "nb201", "spec": distinct_cells(1)[0], "settings": TINY}
    return [
        ("deep JSON nesting (100k)", "POST", "/v1/architectures", deep.encode()),
        ("deep nesting in spec", "POST", "/v1/architectures",
         ('{"space":"graph","spec":' + "{\"a\":" * 50_000 + "1" + "}" * 50_000 + "}").encode()),
        ("100 MB body", "POST", "/v1/architectures", b"{" + b" " * (100 * 2**20) + b"}"),
        ("NaN accuracy", "POST", "/v1/accuracies",
         b'{"items":[{"architecture":1,"dataset":"c","value":NaN}]}'),
        ("Infinity accuracy", "POST", "/v1/accuracies",
         b'{"items":[{"architecture":1,"dataset":"c","value":Infinity}]}'),
        ("NaN in spec", "POST", "/v1/architectures", b'{"space":"nb201","spec":NaN}'),
        ("lone surrogate", "POST", "/v1/architectures", b'{"space":"nb201","spec":"\\ud800"}'),
        ("invalid UTF-8", "POST", "/v1/architectures", b'{"space":"nb201","spec":"\xff\xfe"}'),
        ("RTL/zero-width space name", "POST", "/v1/architectures",
         json.dumps({"space": "nb\u200b201\u202e", "spec": "x"}).encode()),
        ("emoji dataset", "POST", "/v1/accuracies",
         json.dumps({"items": [{"architecture": 1, "dataset": "\U0001f4a9", "value": 1.0}]})
         .encode()),
        ("NUL in cell", "POST", "/v1/architectures",
         json.dumps({"space": "nb201", "spec": "|none~0|\u0000"}).encode()),
        ("graph cycle", "POST", "/v1/architectures", json.dumps(cycle).encode()),
        ("10^12-parameter graph", "POST", "/v1/architectures", json.dumps(graph_huge).encode()),
        ("10^6 nodes", "POST", "/v1/architectures", json.dumps(million_nodes).encode()),
        ("negative channels", "POST", "/v1/architectures",
         json.dumps({**arch, "settings": {"channels": -4, "cells_per_stage": 1}}).encode()),
        ("huge channels", "POST", "/v1/architectures",
         json.dumps({**arch, "settings": {"channels": 10**12, "cells_per_stage": 10**6}}).encode()),
        ("negative batch size", "POST", "/v1/score-jobs",
         json.dumps({"architectures": [arch], "proxies": ["params"],
                     "data": {"source": "synthetic", "batch_size": -8}}).encode()),
        ("huge batch size", "POST", "/v1/score-jobs",
         json.dumps({"architectures": [arch], "proxies": ["params"],
                     "data": {"source": "synthetic", "batch_size": 10**9}}).encode()),
        ("200k-item batch", "POST", "/v1/architectures",
         json.dumps({"items": [arch] * 200_000}).encode()),
        ("path traversal in npz file", "POST", "/v1/score-jobs",
         json.dumps({"architectures": [arch], "proxies": ["params"],
                     "data": {"source": "npz", "file": "../../../../etc/passwd"}}).encode()),
        ("path traversal in profile path", "GET", "/v1/data-profiles/..%2F..%2Fetc%2Fpasswd", None),
        ("path traversal in proxy name", "POST", "/v1/score-jobs",
         json.dumps({"architectures": [arch], "proxies": ["../../etc/passwd"]}).encode()),
        ("integer overflow id", "GET", "/v1/architectures/" + "9" * 40, None),
        ("huge seed", "POST", "/v1/rank",
         json.dumps({"architectures": [arch], "proxies": ["params"], "init_seed": 2**80}).encode()),
        ("not JSON", "POST", "/v1/architectures", b"\x00\x01\x02garbage"),
        # Issue 12: each of these answered a text/plain 500 or was wrongly accepted.
        ("id beyond int64 in path", "GET", f"/v1/architectures/{2**63}", None),
        ("offset beyond int64", "GET", "/v1/scores?offset=99999999999999999999", None),
        ("id beyond int64 in body", "POST", "/v1/score-jobs",
         json.dumps({"architectures": [2**70], "proxies": ["params"]}).encode()),
        ("rank candidate beyond int64", "POST", "/v1/rank",
         json.dumps({"architectures": [2**70], "proxies": ["params"]}).encode()),
        ("profile_id beyond int64", "GET", f"/v1/correlations?dataset=c&profile_id={2**70}", None),
        ("data_profile_id beyond int64", "GET",
         f"/v1/correlations?dataset=c&data_profile_id={2**70}", None),
        ("dashboard profile_id beyond int64", "GET", f"/?data_profile_id={2**70}", None),
        ("batch size as a string", "POST", "/v1/score-jobs",
         json.dumps({"architectures": [arch], "proxies": ["params"],
                     "data": {"source": "synthetic", "batch_size": "8"}}).encode()),
        ("accuracy as a string", "POST", "/v1/accuracies",
         b'{"items":[{"architecture":1,"dataset":"c","value":"90"}]}'),
        ("accuracy of 150", "POST", "/v1/accuracies",
         b'{"items":[{"architecture":1,"dataset":"c","value":150}]}'),
        ("accuracy of -5", "POST", "/v1/accuracies",
         b'{"items":[{"architecture":1,"dataset":"c","value":-5}]}'),
    ]  # fmt: skip


def hostile_input(
    workdir: Path, fuzz_requests: int = 300, healthy_p99_ms: float = 500.0
) -> CaseResult:
    """Schemathesis, then the nasty corpus against a live server, then a health check."""
    started = time.monotonic()
    result = CaseResult(
        "5. hostile input",
        f"schemathesis {fuzz_requests}+ requests, {len(nasty_corpus())} nasty specs",
        "fuzzed and malformed requests",
    )
    stats = Stats()
    outcomes: dict[str, int | str] = {}
    with shared_database() as url:
        fuzzed = fuzz(url, fuzz_requests)
        api = ApiServer(url, workdir)
        api.start()
        try:
            with httpx2.Client(base_url=api.url, timeout=120) as http:
                for name, method, path, body in nasty_corpus():
                    headers = {"content-type": "application/json"} if body is not None else {}
                    # a transport error is retried once: after a 500 the server closes the
                    # kept-alive connection, which must not be blamed on the next request
                    until = time.monotonic() + 5
                    r = send(
                        http, stats, method, path, content=body, headers=headers, retry_until=until
                    )
                    outcomes[name] = r.status_code if r is not None else "no answer"
                    bad = r is None or not 400 <= r.status_code < 500
                    if r is not None and not bad:
                        bad = "code" not in r.json()
                    if bad:
                        outcomes[name] = (
                            f"NOT A CLEAN 4xx: {r and r.status_code} {r and r.text[:200]}"
                        )
                after = Stats()
                item = {"items": nb201_items(distinct_cells(1))}
                for _ in range(50):
                    send(http, after, "POST", "/v1/architectures", json=item)
                    send(http, after, "GET", "/healthz")
                healthy = http.get("/readyz").status_code == 200 and api.alive()
                rss = api.rss_kib()
        finally:
            api.kill(signal.SIGTERM)
    not_clean = [name for name, status in outcomes.items() if not isinstance(status, int)]
    result.requests = fuzzed["requests"] + stats.requests + after.requests
    result.server_errors = (
        sum(n for s, n in fuzzed["statuses"].items() if s >= 500)
        + len(stats.server_errors)
        + len(after.server_errors)
    )
    result.p99_ms = after.p(99)
    result.seconds = time.monotonic() - started
    result.notes = {
        "fuzz": {k: v for k, v in fuzzed.items() if k != "failures"},
        "fuzz_failures": fuzzed["failures"][:20],
        "fuzz_failure_count": len(fuzzed["failures"]),
        "corpus": outcomes,
        "not_clean_4xx": not_clean,
        "healthy_after": healthy and after.ok == after.requests,
        "p99_after_ms": after.p(99),
        "healthy_p99_limit_ms": healthy_p99_ms,
        "api_rss_mib_after": round(rss / 1024, 1),
    }
    return result


# -- 6. resource limits ----------------------------------------------------------------------


def resource_limits(
    workdir: Path, cells: int = 60, max_attempts: int = 3, item_timeout: float = 15.0
) -> CaseResult:
    """An oversized model is refused per item (once, no retry); an item that hangs is killed
    and failed after ``item_timeout`` seconds (once, no retry); a poisoned item that kills its
    scoring process and one that raises fail after ``max_attempts``; the queue drains."""
    started = time.monotonic()
    result = CaseResult(
        "6. resource limits",
        f"{cells}-item job + 1 oversized + 1 hanging + 2 poisoned items, 2 workers",
        "hanging, process-killing and raising items",
    )
    good = distinct_cells(cells)
    exit_cell, raise_cell, hang_cell = distinct_cells(3, offset=cells)
    exit_key, raise_key, hang_key = canonical_keys([exit_cell, raise_cell, hang_cell])
    poisoned = (exit_key, raise_key, hang_key)
    big = {"channels": 64, "cells_per_stage": 5}
    with shared_database() as url:
        # the poisoned items first, so that they are claimed before the rest
        job_id, total = make_job(url, [exit_cell, raise_cell, hang_cell] + good)
        big_job, _ = _big_job(url, big)
        pool = WorkerPool(
            url,
            workdir,
            2,
            poison=True,
            ZC_LEASE_SECONDS=2,
            ZC_MAX_ATTEMPTS=max_attempts,
            ZC_MAX_PARAMS=200_000,
            ZC_TEST_POISON_EXIT=exit_key,
            ZC_TEST_POISON_RAISE=raise_key,
            ZC_TEST_POISON_HANG=hang_key,
            ZC_ITEM_TIMEOUT_SECONDS=item_timeout,
        )
        pool.start()
        revived = 0
        good_done_at = None
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                revived += pool.revive()  # a supervisor restarting crashed workers
                # all finished? (asked before reading the items: a later snapshot of them)
                finished = _finished(item_counts(url, [job_id, big_job])) == total + 1
                rows = sql(
                    url,
                    "SELECT a.canonical_key, i.status FROM job_items i "
                    "JOIN architectures a ON a.id = i.architecture_id WHERE i.job_id = :j",
                    j=job_id,
                )
                good_left = sum(
                    1 for key, status in rows if key not in poisoned and status != "succeeded"
                )
                if good_left == 0 and good_done_at is None:
                    good_done_at = time.monotonic() - started
                if finished:
                    break
                time.sleep(0.2)
        finally:
            pool.stop()
        items = {
            key: (status, attempts, error)
            for key, status, attempts, error in sql(
                url,
                "SELECT a.canonical_key, i.status, i.attempts, i.error FROM job_items i "
                "JOIN architectures a ON a.id = i.architecture_id WHERE i.job_id = :j",
                j=job_id,
            )
        }
        big_item = sql(
            url, "SELECT status, attempts, error FROM job_items WHERE job_id = :j", j=big_job
        )[0]
        dups = duplicate_rows(url)
    good_keys = set(canonical_keys(good))
    result.lost = sum(1 for key in good_keys if items[key][0] != "succeeded")
    result.duplicates = sum(dups.values())
    result.seconds = time.monotonic() - started
    result.notes = {
        "exit_item": items[exit_key],
        "raise_item": items[raise_key],
        "hang_item": items[hang_key],
        "oversized_item": tuple(big_item),
        "worker_restarts": revived,
        "good_items_done_after_s": good_done_at,
        "max_attempts": max_attempts,
    }
    return result


def _big_job(url: str, settings: dict) -> tuple[int, int]:
    from app import services
    from app.config import Settings
    from app.db.session import make_engine
    from app.db.storage import Storage
    from app.schemas import ScoreJobIn

    storage = Storage(make_engine(url))
    try:
        body = ScoreJobIn(
            architectures=nb201_items(distinct_cells(1), settings),
            proxies=PROXIES,
            data=SYNTHETIC,
        )
        job = services.create_score_job(storage, Settings(database_url=url), body)
    finally:
        storage.engine.dispose()
    return job.id, job.total


# -- 7. auth ---------------------------------------------------------------------------------

WRITE_KEY = "w-" + "7f3a9c" * 6
READ_KEY = "r-" + "c0ffee" * 6


def auth(workdir: Path) -> CaseResult:
    """Every write endpoint with no key (401), a read key (403) and the write key (allowed);
    the keys are compared with ``hmac.compare_digest`` against every configured key and never
    appear in the API's log or answers."""
    started = time.monotonic()
    result = CaseResult("7. auth", "every write endpoint x 4 credentials", "missing/read/bad keys")
    stats = Stats()
    wrong: list[str] = []
    with shared_database() as url:
        api = ApiServer(
            url,
            workdir,
            ZC_API_KEYS=f"{WRITE_KEY}:write,{READ_KEY}:read",
            ZC_LOG_LEVEL="debug",
        )
        api.args += ["--log-level", "debug"]
        api.start()
        endpoints = write_endpoints()
        leaked_in_answers = 0
        try:
            with httpx2.Client(base_url=api.url, timeout=60) as http:
                for method, path in endpoints:
                    path = path.replace("{job_id}", "1")
                    for label, headers, expected in (
                        ("no key", {}, {401}),
                        ("bad key", {"X-API-Key": "nope"}, {401}),
                        ("read key", {"X-API-Key": READ_KEY}, {403}),
                        ("read key (Bearer)", {"Authorization": f"Bearer {READ_KEY}"}, {403}),
                    ):
                        r = send(http, stats, method, path, json={}, headers=headers)
                        if r is None or r.status_code not in expected:
                            wrong.append(f"{method} {path} {label}: {r and r.status_code}")
                        leaked_in_answers += r is not None and READ_KEY in r.text
                    r = send(http, stats, method, path, json={}, headers={"X-API-Key": WRITE_KEY})
                    if r is None or r.status_code in (401, 403):
                        wrong.append(f"{method} {path} write key: {r and r.status_code}")
                    leaked_in_answers += r is not None and WRITE_KEY in r.text
                reads = send(http, stats, "GET", "/v1/scores", headers={"X-API-Key": READ_KEY})
                if reads is None or reads.status_code != 200:
                    wrong.append(f"GET /v1/scores read key: {reads and reads.status_code}")
        finally:
            api.kill(signal.SIGTERM)
        log = api.log_text()
    result.requests = stats.requests
    result.server_errors = len(stats.server_errors)
    result.p99_ms = stats.p(99)
    result.seconds = time.monotonic() - started
    result.notes = {
        "write_endpoints": [f"{m} {p}" for m, p in endpoints],
        "wrong_answers": wrong,
        "key_in_log": WRITE_KEY in log or READ_KEY in log,
        "key_in_answers": leaked_in_answers,
        "constant_time": constant_time_comparison(),
    }
    return result


def write_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every operation that changes state, from the application's own
    OpenAPI schema (FastAPI nests included routers, so ``app.routes`` is not flat).
    POST /v1/rank is not one: a read-only key may rank what is stored and scored (only what
    it would have to store or score is refused, tested in tests/app/api/test_edge_cases.py)."""
    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(database_url="sqlite:///:memory:", embedded_worker=False))
    found = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in {"POST", "PUT", "PATCH", "DELETE"} and path != "/v1/rank"
    ]
    app.state.storage.engine.dispose()
    return sorted(found)


def constant_time_comparison() -> dict:
    """Spy on ``hmac.compare_digest`` in ``app.api.deps``: each presented key must be
    compared with every configured key (no early exit), and no ``==`` on keys in the code."""
    import inspect
    from unittest import mock

    from fastapi.testclient import TestClient

    from app.api import deps
    from app.config import Settings
    from app.main import create_app

    keys = [f"k{i}-{'x' * 20}:{'write' if i % 2 else 'read'}" for i in range(5)]
    app = create_app(
        Settings(database_url="sqlite:///:memory:", embedded_worker=False, api_keys=keys)
    )
    real = deps.hmac.compare_digest
    calls: list[int] = []
    with mock.patch.object(
        deps.hmac, "compare_digest", side_effect=lambda a, b: (calls.append(1), real(a, b))[1]
    ):
        with TestClient(app) as client:
            per_key = []
            for presented in (keys[0].rsplit(":", 1)[0], keys[4].rsplit(":", 1)[0], "wrong"):
                calls.clear()
                client.get("/v1/scores", headers={"X-API-Key": presented})
                per_key.append(len(calls))
    app.state.storage.engine.dispose()
    source = inspect.getsource(deps._role)
    return {
        "comparisons_per_request": per_key,
        "configured_keys": len(keys),
        "all_keys_compared": all(n == len(keys) for n in per_key),
        "equality_on_keys_in_source": bool(
            re.search(r"presented\s*[!=]=|presented\s+in\s", source)
        ),
    }


# -- 8. sustained load -----------------------------------------------------------------------


def soak(
    workdir: Path,
    seconds: float = 60.0,
    rank_clients: int = 3,
    candidates: int = 50,
    max_requests: int = 20_000,
    submit_interval: float = 0.5,
) -> CaseResult:
    """Clients rank cached candidates while one submits new work; throughput, latency,
    errors and the API's memory at start and end."""
    started = time.monotonic()
    result = CaseResult(
        "8. sustained load",
        f"{seconds:.0f} s, {rank_clients} rank clients + 1 submitter",
        "none",
    )
    stats = Stats()
    new_work = Stats()
    stop = threading.Event()
    cached = distinct_cells(candidates)
    fresh = distinct_cells(int(seconds / submit_interval) + 10, offset=candidates)
    failures: list[str] = []
    with shared_database() as url:
        api = ApiServer(url, workdir)
        api.start()
        pool = WorkerPool(url, workdir, 1)
        pool.start()
        try:
            with httpx2.Client(base_url=api.url, timeout=60) as http:
                body = {"architectures": nb201_items(cached), "proxies": PROXIES, "wait": True}
                warm = wait_until(
                    lambda: http.post("/v1/rank", json=body).json().get("complete"), timeout=120
                )
                if not warm:
                    raise RuntimeError("the candidates were not scored in 120 s")
                for _ in range(200):  # warm up before measuring the starting memory
                    http.post("/v1/rank", json={**body, "wait": False})
                rss_start = api.rss_kib()

            def ranker(k: int) -> None:
                rng = random.Random(k)
                with httpx2.Client(base_url=api.url, timeout=60) as http:
                    while not stop.is_set() and stats.requests < max_requests:
                        chosen = rng.sample(cached, 20)
                        r = send(
                            http,
                            stats,
                            "POST",
                            "/v1/rank",
                            json={"architectures": nb201_items(chosen), "proxies": PROXIES},
                        )
                        if r is None or r.status_code != 200 or not r.json()["complete"]:
                            failures.append(f"rank: {r and r.status_code}")

            def submitter() -> None:
                with httpx2.Client(base_url=api.url, timeout=60) as http:
                    for i in range(0, len(fresh), 2):
                        if stop.is_set():
                            return
                        job = {
                            "architectures": nb201_items(fresh[i : i + 2]),
                            "proxies": PROXIES,
                            "data": SYNTHETIC,
                        }
                        r = send(http, new_work, "POST", "/v1/score-jobs", json=job)
                        if r is None or r.status_code >= 300:
                            failures.append(f"job: {r and r.status_code}")
                        stop.wait(submit_interval)

            threads = [threading.Thread(target=ranker, args=(k,)) for k in range(rank_clients)]
            threads.append(threading.Thread(target=submitter))
            load_started = time.monotonic()
            for thread in threads:
                thread.start()
            stop.wait(seconds)
            stop.set()
            for thread in threads:
                thread.join(timeout=120)
            elapsed = time.monotonic() - load_started
            rss_end = api.rss_kib()
        finally:
            stop.set()
            pool.stop()
            api.kill(signal.SIGTERM)
    total = stats.requests + new_work.requests
    errors = len(failures) + len(stats.server_errors) + len(new_work.server_errors)
    result.requests = total
    result.server_errors = len(stats.server_errors) + len(new_work.server_errors)
    result.p99_ms = stats.p(99)
    result.seconds = time.monotonic() - started
    result.notes = {
        "throughput_rps": round(total / elapsed, 1),
        "rank_p50_ms": round(stats.p(50), 1),
        "rank_p99_ms": round(stats.p(99), 1),
        "error_rate": errors / max(1, total),
        "failures": failures[:10],
        "rss_start_mib": round(rss_start / 1024, 1),
        "rss_end_mib": round(rss_end / 1024, 1),
        "rss_growth": round(rss_end / rss_start - 1, 4),
    }
    return result
