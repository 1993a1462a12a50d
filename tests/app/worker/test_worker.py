"""The worker end to end: in a thread on SQLite and PostgreSQL (scores stored once, poisoned
items, limits, failing proxies), and as processes on PostgreSQL (two workers sharing a job,
a worker killed mid-item whose item another worker finishes)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.config import Settings
from app.db.queue import create_job
from app.db.session import DatabaseUnavailable
from app.db.storage import NewArchitecture, Storage
from app.worker import Worker
from zero_cost import proxies as proxy_registry

CONV3 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
POOLS = "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
DUPLICATE_SCORES = """
    SELECT architecture_id, proxy, proxy_version, data_profile_id, seed, count(*)
    FROM scores
    GROUP BY architecture_id, proxy, proxy_version, data_profile_id, seed
    HAVING count(*) > 1
"""


def versions(names: list[str]) -> list[tuple[str, str]]:
    return [(name, proxy_registry.get(name).version) for name in names]


def settings_for(url: str, **overrides: object) -> Settings:
    values = {"lease_seconds": 5.0, "poll_seconds": 0.05, "device": "cpu", **overrides}
    return Settings(_env_file=None, database_url=url, **values)


@contextmanager
def running_worker(settings: Settings) -> Iterator[Worker]:
    """A Worker running in a thread; stopped, joined and its engine disposed on exit."""
    worker = Worker(settings)
    crashed: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as error:  # noqa: BLE001  (reported by the test thread)
            crashed.append(error)

    thread = threading.Thread(target=run, name="test-worker", daemon=True)
    thread.start()
    worker.crashed = crashed
    try:
        yield worker
    finally:
        worker.stop.set()
        thread.join(timeout=30)
        worker.engine.dispose()
        assert not thread.is_alive(), "the worker did not stop"
        assert not crashed, crashed


def finish(storage: Storage, job_id: int, worker: Worker, wait_for, timeout: float = 120):
    """Wait until every item of the job is finished; return the job."""

    def done():
        assert not worker.crashed, worker.crashed
        job = storage.get_job(job_id)
        return job if job.finished == sum(job.counts.values()) else None

    return wait_for(done, timeout, what=f"job {job_id} to finish")


def add(storage: Storage, architectures: list[NewArchitecture]) -> list[int]:
    return [i for i, _ in storage.add_architectures(architectures)]


def item_rows(sql, job_id: int) -> dict[int, tuple]:
    """architecture id -> (status, attempts, error, lease_owner) of a job's items."""
    rows = sql(
        "SELECT architecture_id, status, attempts, error, lease_owner FROM job_items"
        " WHERE job_id = :job",
        job=job_id,
    )
    return {row[0]: tuple(row[1:]) for row in rows}


# -- a worker thread --------------------------------------------------------------------------


def test_worker_scores_a_job_once(storage, sql, migrated_url, nb201, cells, profile, wait_for):
    proxies = versions(["synflow", "params", "snip"])
    ids = add(storage, [nb201(cell) for cell in cells(10)])
    job_id = create_job(storage.engine, ids, proxies, profile.id, 0)

    with running_worker(settings_for(migrated_url)) as worker:
        job = finish(storage, job_id, worker, wait_for)
        assert storage.workers()[0]["items_done"] == 10

    assert job.counts == {"succeeded": 10}
    assert job.status == "succeeded" and job.errors == []
    assert {attempts for _, attempts, _, _ in item_rows(sql, job_id).values()} == {1}
    assert storage.list_scores()[1] == 10 * 3
    assert sql(DUPLICATE_SCORES) == []
    stored = storage.scores_for(ids, profile.id, 0, proxies)
    assert set(stored) == set(ids)
    for by_proxy in stored.values():
        assert set(by_proxy) == {"synflow", "params", "snip"}
        assert by_proxy["params"].value > 0 and by_proxy["params"].status == "ok"
        assert by_proxy["synflow"].device == "cpu"

    again = storage.get_job(create_job(storage.engine, ids, proxies, profile.id, 0))
    assert again.counts == {"succeeded": 10} and again.status == "succeeded"
    # the worker stopped cleanly: nothing held, nothing registered
    assert "running" not in storage.queue_depth()
    assert storage.workers() == []


def test_worker_scores_only_the_missing_proxies(
    storage, sql, migrated_url, nb201, cells, profile, wait_for
):
    ids = add(storage, [nb201(cell) for cell in cells(3)])
    first = create_job(storage.engine, ids, versions(["params"]), profile.id, 0)
    with running_worker(settings_for(migrated_url)) as worker:
        finish(storage, first, worker, wait_for)
        before = {(s.architecture_id, s.proxy): s for s in storage.list_scores()[0]}
        second = create_job(storage.engine, ids, versions(["params", "synflow"]), profile.id, 0)
        assert storage.get_job(second).counts == {"queued": 3}
        finish(storage, second, worker, wait_for)
    after = {(s.architecture_id, s.proxy): s for s in storage.list_scores()[0]}
    assert len(after) == 6
    assert {key: after[key] for key in before} == before  # params not recomputed


def test_a_poisoned_item_fails_at_once_and_the_others_succeed(
    storage, sql, migrated_url, nb201, cells, profile, wait_for
):
    good = [nb201(cell) for cell in cells(3)]
    poisoned = NewArchitecture(
        space="nb201",
        settings=good[0].settings,
        identity_key="0" * 64,
        canonical_key="0" * 64,
        spec=json.dumps("|nor_conv_3x3~0|+|this is not a cell|"),
        is_degenerate=False,
        params=100,
        flops=100,
    )
    ids = add(storage, [*good, poisoned])
    job_id = create_job(storage.engine, ids, versions(["synflow", "params"]), profile.id, 0)

    with running_worker(settings_for(migrated_url)) as worker:
        job = finish(storage, job_id, worker, wait_for)

    assert job.counts == {"succeeded": 3, "failed": 1}
    assert job.status == "succeeded"  # not every item failed
    items = item_rows(sql, job_id)
    status, attempts, error, owner = items[ids[-1]]
    assert (status, attempts, owner) == ("failed", 1, None)  # invalid specs are not retried
    assert error.startswith("SpecError: ")
    assert [e["architecture_id"] for e in job.errors] == [ids[-1]]
    assert all(items[i][:2] == ("succeeded", 1) for i in ids[:3])
    assert storage.list_scores()[1] == 3 * 2
    assert storage.list_scores(architecture_ids=[ids[-1]])[1] == 0


@pytest.mark.parametrize(
    ("setting", "limit", "variable"),
    [("max_params", 10_000, "ZC_MAX_PARAMS"), ("max_flops", 2_000_000, "ZC_MAX_FLOPS")],
)
def test_items_over_the_limits_are_refused(
    storage, sql, migrated_url, nb201, profile, wait_for, setting, limit, variable
):
    small, large = nb201(POOLS), nb201(CONV3)
    assert getattr(small, setting[4:]) <= limit < getattr(large, setting[4:])
    ids = add(storage, [small, large])
    job_id = create_job(storage.engine, ids, versions(["params"]), profile.id, 0)

    with running_worker(settings_for(migrated_url, **{setting: limit})) as worker:
        job = finish(storage, job_id, worker, wait_for)

    assert job.counts == {"succeeded": 1, "failed": 1}
    status, attempts, error, _ = item_rows(sql, job_id)[ids[1]]
    assert (status, attempts) == ("failed", 1)
    assert error.startswith("ItemRefused: ")
    assert f"the limit is {limit:,} ({variable})" in error
    assert storage.list_scores()[1] == 1


BROKEN_PROXIES = '''
import os
import time

from zero_cost import proxies


@proxies.register("test_always_fails", version="1")
def always_fails(passes: object) -> float:
    """Raises, as a buggy proxy would."""
    raise RuntimeError("this proxy is broken")


@proxies.register("test_hangs", version="1")
def hangs(passes: object) -> float:
    """Never returns."""
    time.sleep(3600)


@proxies.register("test_kills_its_process", version="1")
def kills_its_process(passes: object) -> float:
    """Ends the process that runs it, as a crash in native code would."""
    os._exit(3)
'''


@pytest.fixture
def broken_proxies(tmp_path, monkeypatch) -> Iterator[None]:
    """Proxies that raise, hang or end their process, registered here and, as a
    ``sitecustomize`` module on PYTHONPATH, in the worker's scoring process (a fresh
    interpreter); unregistered afterwards."""
    plugin = tmp_path / "sitecustomize.py"
    plugin.write_text(BROKEN_PROXIES)
    paths = [str(tmp_path), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    spec = importlib.util.spec_from_file_location("broken_proxies", plugin)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    try:
        yield
    finally:
        for name in ("test_always_fails", "test_hangs", "test_kills_its_process"):
            proxy_registry._REGISTRY.pop(name, None)


def test_a_failing_proxy_is_retried_then_failed_keeping_the_other_scores(
    storage, sql, migrated_url, nb201, cells, profile, wait_for, broken_proxies
):
    failing_proxy = "test_always_fails"
    ids = add(storage, [nb201(cell) for cell in cells(2)])
    proxies = versions(["params", failing_proxy, "synflow"])
    job_id = create_job(storage.engine, ids, proxies, profile.id, 0)

    with running_worker(settings_for(migrated_url, max_attempts=3)) as worker:
        job = finish(storage, job_id, worker, wait_for)

    assert job.counts == {"failed": 2}
    assert job.status == "failed"
    for status, attempts, error, _ in item_rows(sql, job_id).values():
        assert (status, attempts) == ("failed", 3)
        assert error == f"{failing_proxy}: RuntimeError: this proxy is broken"
    stored = storage.list_scores()[0]
    assert sorted((s.architecture_id, s.proxy) for s in stored) == sorted(
        (a, p) for a in ids for p in ("params", "synflow")
    )
    assert sql(DUPLICATE_SCORES) == []


def broken_then_good(storage, sql, nb201, cells, profile, wait_for, proxy, settings):
    """A job of one item scored with the broken ``proxy``, then a job of one good item, run
    by one worker thread with ``settings``: (status, attempts, error) of each item."""
    broken, good = add(storage, [nb201(cell) for cell in cells(2)])
    broken_job = create_job(storage.engine, [broken], versions([proxy]), profile.id, 0)
    good_job = create_job(storage.engine, [good], versions(["params"]), profile.id, 0)
    with running_worker(settings) as worker:
        finish(storage, broken_job, worker, wait_for)
        finish(storage, good_job, worker, wait_for)
    return item_rows(sql, broken_job)[broken][:3], item_rows(sql, good_job)[good][:3]


def test_an_item_past_the_time_limit_is_killed_and_failed_once(
    storage, sql, migrated_url, nb201, cells, profile, wait_for, broken_proxies
):
    """The hanging item fails without a retry, naming the limit; the same worker (a new
    scoring process) then scores the next job."""
    settings = settings_for(migrated_url, item_timeout_seconds=2.0, claim_batch_size=1)
    (status, attempts, error), good = broken_then_good(
        storage, sql, nb201, cells, profile, wait_for, "test_hangs", settings
    )
    assert (status, attempts) == ("failed", 1)
    assert error.startswith("TimeLimitExceeded: scoring took longer than 2 s")
    assert "ZC_ITEM_TIMEOUT_SECONDS" in error
    assert good[:2] == ("succeeded", 1)


def test_an_item_that_kills_its_scoring_process_fails_and_the_worker_survives(
    storage, sql, migrated_url, nb201, cells, profile, wait_for, broken_proxies
):
    settings = settings_for(migrated_url, max_attempts=2, claim_batch_size=1)
    (status, attempts, error), good = broken_then_good(
        storage, sql, nb201, cells, profile, wait_for, "test_kills_its_process", settings
    )
    assert (status, attempts) == ("failed", 2)
    assert error == "ScoringProcessDied: the scoring process exited with code 3 on this item"
    assert good[:2] == ("succeeded", 1)


def test_an_outage_while_reading_an_item_does_not_strand_it(
    storage, sql, migrated_url, nb201, cells, profile
):
    """The database drops while the worker reads a claimed item: the worker waits for it and
    finishes the item (dropping it left it "running" for good, its lease renewed by the
    heartbeat)."""
    ids = add(storage, [nb201(cell) for cell in cells(1)])
    job_id = create_job(storage.engine, ids, versions(["params"]), profile.id, 0)
    worker = Worker(settings_for(migrated_url))
    reads = []
    inputs = worker.queue.inputs_many

    def inputs_after_an_outage(*args: object, **kwargs: object) -> object:
        reads.append(len(reads))
        if len(reads) == 1:
            raise DatabaseUnavailable("server closed the connection unexpectedly")
        return inputs(*args, **kwargs)

    worker.queue.inputs_many = inputs_after_an_outage
    try:
        (item,) = worker.queue.claim(1)
        worker.process(item)
    finally:
        worker.scorer.close()
        worker.engine.dispose()
    assert reads == [0, 1]
    assert item_rows(sql, job_id)[ids[0]][:2] == ("succeeded", 1)


# -- worker processes (PostgreSQL) ------------------------------------------------------------


def registered_workers(sql) -> dict[int, dict]:
    """pid -> worker row of the registered workers."""
    rows = sql("SELECT id, pid, items_done FROM workers")
    return {pid: {"id": worker_id, "items_done": done} for worker_id, pid, done in rows}


POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def wait_registered(sql, processes, wait_for) -> dict[int, dict]:
    """Wait until every process has registered its worker; pid -> worker row."""

    def registered():
        for process in processes:
            assert process.poll() is None, f"worker {process.pid} exited: {process.returncode}"
        workers = registered_workers(sql)
        return workers if all(p.pid in workers for p in processes) else None

    return wait_for(registered, 60, what="the workers to register")


def stop(process, timeout: float = 30) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


@pytest.mark.slow
@POSTGRESQL_ONLY
def test_two_worker_processes_share_a_job(
    storage, sql, migrated_url, nb201, cells, profile, wait_for, spawn_worker
):
    ids = add(storage, [nb201(cell) for cell in cells(200)])
    environment = {
        "ZC_LEASE_SECONDS": 3,
        "ZC_POLL_SECONDS": 0.05,
        "ZC_CLAIM_BATCH_SIZE": 2,
    }
    workers = [spawn_worker(migrated_url, f"worker{n}", **environment) for n in range(2)]
    wait_registered(sql, workers, wait_for)  # both ready before there is work to share
    job_id = create_job(storage.engine, ids, versions(["params", "synflow"]), profile.id, 0)

    def finished():
        for process in workers:
            assert process.poll() is None, f"worker {process.pid} exited: {process.returncode}"
        job = storage.get_job(job_id)
        return job if job.finished == 200 else None

    job = wait_for(finished, 120, interval=0.2, what="200 items")
    done = registered_workers(sql)
    assert [stop(process) for process in workers] == [0, 0]

    assert job.counts == {"succeeded": 200}
    items_done = [done[process.pid]["items_done"] for process in workers]
    assert all(count > 0 for count in items_done), items_done  # both did work
    assert sum(items_done) == 200  # and each item was finished once
    assert storage.list_scores()[1] == 200 * 2
    assert sql(DUPLICATE_SCORES) == []
    assert "running" not in storage.queue_depth()  # they released what they held
    assert registered_workers(sql) == {}  # and unregistered


# Slow items for the SIGKILL test: a first item takes seconds on a CPU (snip and grasp share
# a double backward pass whose first run in a process is slow), later ones a fraction of that.
SLOW = {"channels": 8, "cells_per_stage": 2}


@pytest.mark.slow
@POSTGRESQL_ONLY
def children(pid: int) -> list[int]:
    """Process ids of ``pid``'s children (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def test_an_item_of_a_killed_worker_is_finished_by_another(
    storage, sql, migrated_url, nb201, cells, make_profile, wait_for, spawn_worker
):
    ids = add(storage, [nb201(cell, SLOW) for cell in [CONV3, *cells(2)]])
    profile = make_profile(storage, batch_size=32)
    job_id = create_job(storage.engine, ids, versions(["snip", "grasp", "synflow"]), profile.id, 0)
    environment = {"ZC_LEASE_SECONDS": 3, "ZC_POLL_SECONDS": 0.05, "ZC_CLAIM_BATCH_SIZE": 1}

    a = spawn_worker(migrated_url, "worker_a", **environment)
    a_id = wait_registered(sql, [a], wait_for)[a.pid]["id"]

    def a_is_scoring():
        assert a.poll() is None, f"worker A exited: {a.returncode}"
        rows = sql(
            "SELECT id, architecture_id FROM job_items"
            " WHERE status = 'running' AND lease_owner = :owner",
            owner=a_id,
        )
        return rows[0] if rows else None

    item_id, architecture_id = wait_for(a_is_scoring, 60, interval=0.02, what="A to claim")
    scoring = wait_for(lambda: children(a.pid), 30, what="A's scoring process")
    a.send_signal(signal.SIGKILL)
    assert a.wait(timeout=10) == -signal.SIGKILL
    # its scoring process dies with it, mid-item (no orphan left running)
    wait_for(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in scoring),
        10,
        what="A's scoring process to die with A",
    )
    status, attempts, _, owner = item_rows(sql, job_id)[architecture_id]
    assert (status, attempts, owner) == ("running", 1, a_id)  # killed mid-item
    assert storage.list_scores(architecture_ids=[architecture_id])[1] == 0

    b = spawn_worker(migrated_url, "worker_b", **environment)

    def finished():
        assert b.poll() is None, f"worker B exited: {b.returncode}"
        job = storage.get_job(job_id)
        return job if job.finished == 3 else None

    job = wait_for(finished, 120, interval=0.2, what="B to finish the job")
    b_row = registered_workers(sql)[b.pid]
    assert stop(b) == 0

    assert job.counts == {"succeeded": 3}
    status, attempts, error, owner = item_rows(sql, job_id)[architecture_id]
    assert (status, attempts, error, owner) == ("succeeded", 2, None, None)
    assert b_row["items_done"] == 3
    assert storage.list_scores()[1] == 3 * 3
    assert sql(DUPLICATE_SCORES) == []
    assert item_id in {row[0] for row in sql("SELECT id FROM job_items")}
