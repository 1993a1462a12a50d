"""The prune queue, on SQLite and PostgreSQL: one job per key (concurrent requests too),
leases guarded by their holder, heartbeats, retries up to the attempts limit, expiry and
release. Lease expiry is simulated by moving ``lease_expires_at`` back in SQL."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from app.db.prune_queue import PruneQueue, create_prune_job
from app.db.records import PruneConfig, PrunedLayer, PruneResult


@pytest.fixture
def config(storage, nb201, cells, profile) -> PruneConfig:
    ((architecture_id, _),) = storage.add_architectures([nb201(cells(1)[0])])
    return PruneConfig(
        architecture_id=architecture_id,
        method="snip",
        version="0.2.0",
        density=0.1,
        target_kind="sparsity",
        target=0.9,
        scope="global",
        iterations=1,
        data_profile_id=profile.id,
        init_seed=0,
    )


def queue(storage, worker_id: str = "w1", max_attempts: int = 3) -> PruneQueue:
    return PruneQueue(storage.engine, worker_id, 60, max_attempts)


def row(sql, job_id: int):
    (found,) = sql(
        "SELECT status, attempts, lease_owner, error FROM prune_jobs WHERE id = :id", id=job_id
    )
    return tuple(found)


RESULT = PruneResult([PrunedLayer("fc.weight", (2, 4), 8, 3)], b"\xe0", 0.1, "cpu")


def test_one_job_per_key(storage, sql, config):
    first, created = create_prune_job(storage.engine, config)
    assert created
    again = dataclasses.replace(config, target_kind="compression", target=10.0)
    assert create_prune_job(storage.engine, again) == (first, False)
    other = dataclasses.replace(config, scope="layerwise")
    second, created = create_prune_job(storage.engine, other)
    assert created and second != first
    results = []

    def request() -> None:
        results.append(create_prune_job(storage.engine, dataclasses.replace(config, init_seed=7)))

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert sql("SELECT count(*) FROM prune_jobs")[0][0] == 3


def test_claim_heartbeat_succeed_guarded(storage, sql, config):
    job_id, _ = create_prune_job(storage.engine, config)
    mine, other = queue(storage), queue(storage, "w2")
    assert mine.claim() == (job_id, 1)
    assert other.claim() is None
    assert row(sql, job_id) == ("running", 1, "w1", None)
    assert mine.heartbeat() == {job_id} and other.heartbeat() == set()
    assert mine.inputs(job_id).config == config
    assert not other.succeed(job_id, RESULT)
    assert mine.succeed(job_id, RESULT)
    assert row(sql, job_id) == ("succeeded", 1, None, None)
    record = storage.get_prune_job(job_id)
    assert record.layers == RESULT.layers and storage.prune_masks(job_id) == RESULT.masks


def test_retries_until_the_attempts_run_out(storage, sql, config):
    job_id, _ = create_prune_job(storage.engine, config)
    worker = queue(storage, max_attempts=2)
    _, attempts = worker.claim()
    assert worker.fail(job_id, attempts, "RuntimeError: flaky", retry=True)
    assert row(sql, job_id) == ("queued", 1, None, "RuntimeError: flaky")
    _, attempts = worker.claim()
    assert attempts == 2
    assert worker.fail(job_id, attempts, "RuntimeError: flaky", retry=True)
    assert row(sql, job_id) == ("failed", 2, None, "RuntimeError: flaky")


def test_refusals_fail_at_once(storage, sql, config):
    job_id, _ = create_prune_job(storage.engine, config)
    worker = queue(storage)
    _, attempts = worker.claim()
    assert worker.fail(job_id, attempts, "over ZC_MAX_PARAMS", retry=False)
    assert row(sql, job_id) == ("failed", 1, None, "over ZC_MAX_PARAMS")


def test_expired_leases_are_reclaimed_then_failed(storage, sql, config):
    job_id, _ = create_prune_job(storage.engine, config)
    lost, rescuer = queue(storage, max_attempts=2), queue(storage, "w2", max_attempts=2)
    assert lost.claim() == (job_id, 1)
    assert rescuer.claim() is None  # the lease holds
    expire = "UPDATE prune_jobs SET lease_expires_at = lease_expires_at - 1000"
    sql(expire)
    assert rescuer.claim() == (job_id, 2)
    assert not lost.succeed(job_id, RESULT)  # no longer the holder
    sql(expire)
    assert lost.claim() is None
    status, attempts, owner, error = row(sql, job_id)
    assert (status, attempts, owner) == ("failed", 2, None) and "lease expired" in error


def test_release_gives_the_job_back_uncounted(storage, sql, config):
    job_id, _ = create_prune_job(storage.engine, config)
    worker = queue(storage)
    worker.claim()
    assert worker.release() == 1
    assert row(sql, job_id) == ("queued", 0, None, None)
