"""Storage contract, on SQLite and PostgreSQL: idempotent and concurrency-safe inserts, jobs
that are complete at once when their scores exist, cancellation, accuracies and paging."""

from __future__ import annotations

import random
import threading

import pytest

from app.db.queue import JobQueue, cancel_job, create_job
from app.db.storage import AccuracyRecord, NewArchitecture, ScoreRecord, Storage
from zero_cost import proxies as proxy_registry

PROXIES = [("synflow", proxy_registry.get("synflow").version), ("params", "1")]


def scores(architecture_ids, profile_id, seed=0, proxies=PROXIES, value=1.0):
    return [
        ScoreRecord(
            architecture_id=a,
            proxy=name,
            proxy_version=version,
            data_profile_id=profile_id,
            seed=seed,
            value=value + a,
            log_value=None,
            status="ok",
            error=None,
            seconds=0.01,
            device="cpu",
        )
        for a in architecture_ids
        for name, version in proxies
    ]


def store_scores(storage: Storage, records: list[ScoreRecord], proxies=PROXIES, seed=0) -> None:
    """Store scores the way a worker does: through a job, claimed and completed."""
    by_architecture: dict[int, list[ScoreRecord]] = {}
    for record in records:
        by_architecture.setdefault(record.architecture_id, []).append(record)
    profile_id = records[0].data_profile_id
    job_id = create_job(storage.engine, list(by_architecture), proxies, profile_id, seed)
    queue = JobQueue(storage.engine, "scorer", lease_seconds=60, max_attempts=3)
    for item in queue.claim(len(by_architecture)):
        assert item.job_id == job_id
        assert queue.complete(item, by_architecture[item.architecture_id])


# -- architectures ----------------------------------------------------------------------------


def test_add_architectures_is_idempotent(storage, nb201, cells):
    batch = [nb201(cell) for cell in cells(5)]
    first = storage.add_architectures(batch)
    assert [created for _, created in first] == [True] * 5
    assert len({i for i, _ in first}) == 5
    second = storage.add_architectures(batch)
    assert [i for i, _ in second] == [i for i, _ in first]
    assert [created for _, created in second] == [False] * 5

    stored = storage.get_architectures([i for i, _ in first] + [999_999])
    assert set(stored) == {i for i, _ in first}
    for (architecture_id, _), new in zip(first, batch, strict=True):
        record = stored[architecture_id]
        assert (record.canonical_key, record.spec, record.params) == (
            new.canonical_key,
            new.spec,
            new.params,
        )


def test_add_architectures_keeps_order_and_duplicates(storage, nb201, cells):
    a, b = (nb201(cell) for cell in cells(2))
    result = storage.add_architectures([a, b, a])
    assert result[0] == result[2]
    assert result[0][0] != result[1][0]
    assert storage.add_architectures([]) == []


def test_same_key_in_other_settings_is_another_architecture(storage, nb201, cells):
    (cell,) = cells(1)
    small = nb201(cell)
    wide = nb201(cell, {"channels": 8, "cells_per_stage": 1})
    assert small.canonical_key == wide.canonical_key
    (small_id, _), (wide_id, _) = storage.add_architectures([small, wide])
    assert small_id != wide_id


def test_concurrent_overlapping_batches_store_one_row_per_key(storage, nb201, cells):
    architectures = [nb201(cell) for cell in cells(300)]
    batches = []
    for thread in range(16):
        rng = random.Random(thread)
        batch = architectures[:] if thread == 0 else rng.sample(architectures, 200)
        rng.shuffle(batch)  # different orders: inserts must not deadlock each other
        batches.append(batch)
    results: list[list[tuple[int, bool]] | BaseException] = [None] * 16
    barrier = threading.Barrier(16)

    def add(index: int) -> None:
        try:
            barrier.wait()
            results[index] = storage.add_architectures(batches[index])
        except BaseException as error:  # noqa: BLE001  (re-raised in the main thread)
            results[index] = error

    threads = [threading.Thread(target=add, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [r for r in results if not isinstance(r, list)]
    assert not errors, errors

    ids: dict[str, set[int]] = {}
    created: dict[str, int] = {}
    for batch, result in zip(batches, results, strict=True):
        for new, (architecture_id, was_created) in zip(batch, result, strict=True):
            ids.setdefault(new.canonical_key, set()).add(architecture_id)
            created[new.canonical_key] = created.get(new.canonical_key, 0) + was_created
    assert len(ids) == 300
    assert all(len(found) == 1 for found in ids.values())  # every thread got the same id
    assert set(created.values()) == {1}  # and exactly one of them created it
    stored = storage.get_architectures(i for found in ids.values() for i in found)
    assert len(stored) == 300
    assert {r.canonical_key: r.id for r in stored.values()} == {
        key: next(iter(found)) for key, found in ids.items()
    }
    again = storage.add_architectures(architectures)
    assert {i for i, _ in again} == set(stored)


# -- data profiles ----------------------------------------------------------------------------


def test_get_or_create_profile_deduplicates(storage, make_profile):
    first = make_profile(storage, batch_size=8)
    second = make_profile(storage, batch_size=8)
    other = make_profile(storage, batch_size=16)
    assert first == second
    assert other.id != first.id
    assert first.source == "synthetic"
    assert first.config["batch_size"] == 8
    assert storage.get_profile(first.id) == first
    assert storage.get_profile(999_999) is None


def test_profile_blob_round_trips(storage):
    blob = bytes(range(256)) * 4
    profile = storage.get_or_create_profile("k" * 64, "uploaded", {"batch_size": 4}, blob)
    assert storage.get_profile(profile.id).blob == blob
    again = storage.get_or_create_profile("k" * 64, "uploaded", {"batch_size": 4}, blob)
    assert again.id == profile.id


# -- jobs -------------------------------------------------------------------------------------


def _architectures(storage, nb201, cells, count):
    return [i for i, _ in storage.add_architectures([nb201(cell) for cell in cells(count)])]


def test_new_job_is_queued(storage, nb201, cells, profile):
    ids = _architectures(storage, nb201, cells, 3)
    job_id = create_job(storage.engine, ids + ids[:1], PROXIES, profile.id, 7)
    job = storage.get_job(job_id)
    assert job.counts == {"queued": 3}  # duplicates collapse to one item
    assert job.status == "queued"
    assert job.proxies == ["synflow", "params"]
    assert (job.data_profile_id, job.init_seed, job.cancelled) == (profile.id, 7, False)
    assert storage.get_job(999_999) is None


def test_job_whose_scores_all_exist_is_complete_at_once(storage, nb201, cells, profile):
    ids = _architectures(storage, nb201, cells, 4)
    store_scores(storage, scores(ids[:3], profile.id))

    job = storage.get_job(create_job(storage.engine, ids[:3], PROXIES, profile.id, 0))
    assert job.counts == {"succeeded": 3}
    assert job.status == "succeeded"

    # one new architecture: only its item waits
    job = storage.get_job(create_job(storage.engine, ids, PROXIES, profile.id, 0))
    assert job.counts == {"succeeded": 3, "queued": 1}
    assert job.status == "running"


def test_partly_scored_items_are_queued(storage, nb201, cells, profile, make_profile):
    ids = _architectures(storage, nb201, cells, 2)
    store_scores(storage, scores(ids, profile.id, proxies=PROXIES[:1]), proxies=PROXIES[:1])
    # a proxy missing, another seed, another profile or another proxy version: not complete
    other_profile = make_profile(storage, batch_size=16)
    for proxies, profile_id, seed in [
        (PROXIES, profile.id, 0),
        (PROXIES[:1], profile.id, 1),
        (PROXIES[:1], other_profile.id, 0),
        ([("synflow", "old")], profile.id, 0),
    ]:
        job = storage.get_job(create_job(storage.engine, ids, proxies, profile_id, seed))
        assert job.counts == {"queued": 2}, (proxies, profile_id, seed)
    job = storage.get_job(create_job(storage.engine, ids, PROXIES[:1], profile.id, 0))
    assert job.counts == {"succeeded": 2}


def test_cancel_job_cancels_queued_items_and_lets_running_ones_finish(
    storage, nb201, cells, profile
):
    ids = _architectures(storage, nb201, cells, 3)
    job_id = create_job(storage.engine, ids, PROXIES, profile.id, 0)
    queue = JobQueue(storage.engine, "w1", lease_seconds=60, max_attempts=3)
    (running,) = queue.claim(1)

    assert cancel_job(storage.engine, job_id)
    job = storage.get_job(job_id)
    assert job.cancelled
    assert job.status == "cancelled"
    assert job.counts == {"running": 1, "cancelled": 2}
    assert queue.claim(5) == []

    assert queue.complete(running, scores([running.architecture_id], profile.id))
    assert storage.get_job(job_id).counts == {"succeeded": 1, "cancelled": 2}
    assert cancel_job(storage.engine, job_id)  # again: harmless
    assert not cancel_job(storage.engine, 999_999)


def test_jobs_by_status_and_queue_depth(storage, nb201, cells, profile):
    ids = _architectures(storage, nb201, cells, 2)
    queued = create_job(storage.engine, ids, PROXIES, profile.id, 0)
    cancelled = create_job(storage.engine, ids, PROXIES, profile.id, 1)
    cancel_job(storage.engine, cancelled)
    assert storage.jobs_by_status() == {"queued": 1, "cancelled": 1}
    assert storage.queue_depth() == {"queued": 2, "cancelled": 2}
    assert storage.get_job(queued).status == "queued"


def test_scores_for_returns_the_requested_versions(storage, nb201, cells, profile):
    ids = _architectures(storage, nb201, cells, 2)
    store_scores(storage, scores(ids, profile.id))
    found = storage.scores_for(ids, profile.id, 0, PROXIES)
    assert set(found) == set(ids)
    assert found[ids[0]]["synflow"].value == 1.0 + ids[0]
    assert storage.scores_for(ids, profile.id, 0, [("synflow", "old")]) == {}
    assert storage.scores_for(ids, profile.id, 1, PROXIES) == {}
    assert storage.list_scores()[1] == 4


# -- listing ----------------------------------------------------------------------------------


def test_list_scores_filters_and_pages(storage, nb201, cells, profile):
    ids = _architectures(storage, nb201, cells, 5)
    store_scores(storage, scores(ids, profile.id))

    page, total = storage.list_scores(limit=3)
    assert total == 10 and len(page) == 3
    rest, total = storage.list_scores(limit=100, offset=3)
    assert total == 10 and len(rest) == 7
    keys = [(s.architecture_id, s.proxy) for s in page + rest]
    assert len(set(keys)) == 10  # pages neither overlap nor skip

    page, total = storage.list_scores(proxy="params", limit=2, offset=4)
    assert total == 5 and len(page) == 1 and page[0].proxy == "params"
    page, total = storage.list_scores(architecture_ids=[ids[2]])
    assert total == 2 and {s.proxy for s in page} == {"synflow", "params"}
    page, total = storage.list_scores(data_profile_id=profile.id + 1)
    assert (page, total) == ([], 0)
    page, total = storage.list_scores(offset=50)
    assert (page, total) == ([], 10)


def accuracy(architecture_id, value, dataset="cifar10", metric="top1", epochs=200, source=""):
    return AccuracyRecord(architecture_id, dataset, metric, value, epochs, source)


def test_add_accuracies_stores_an_identical_report_once(storage, nb201, cells):
    (a,) = _architectures(storage, nb201, cells, 1)
    assert storage.add_accuracies([accuracy(a, 91.5), accuracy(a, 91.5)]) == 1
    assert storage.add_accuracies([accuracy(a, 91.5)]) == 0
    # any difference is another report
    assert (
        storage.add_accuracies(
            [
                accuracy(a, 91.6),
                accuracy(a, 91.5, epochs=12),
                accuracy(a, 91.5, source="paper"),
                accuracy(a, 91.5, metric="top5"),
                accuracy(a, 91.5, dataset="cifar100"),
            ]
        )
        == 5
    )
    assert storage.list_accuracies()[1] == 6


def test_list_accuracies_and_means(storage, nb201, cells):
    a, b, c = _architectures(storage, nb201, cells, 3)
    storage.add_accuracies(
        [
            accuracy(a, 90.0),
            accuracy(a, 92.0, source="rerun"),
            accuracy(b, 80.0),
            accuracy(b, 70.0, metric="top5"),
            accuracy(c, 60.0, dataset="cifar100"),
        ]
    )
    assert storage.mean_accuracies("cifar10", "top1") == pytest.approx({a: 91.0, b: 80.0})
    assert storage.mean_accuracies("cifar100", "top1") == pytest.approx({c: 60.0})
    assert storage.mean_accuracies("imagenet", "top1") == {}

    page, total = storage.list_accuracies(dataset="cifar10", limit=2)
    assert total == 4 and len(page) == 2
    rest, _ = storage.list_accuracies(dataset="cifar10", limit=2, offset=2)
    assert {(r.architecture_id, r.value) for r in page + rest} == {
        (a, 90.0),
        (a, 92.0),
        (b, 80.0),
        (b, 70.0),
    }
    page, total = storage.list_accuracies(architecture_id=b, metric="top5")
    assert total == 1 and page == [accuracy(b, 70.0, metric="top5")]


def test_ping_and_workers(storage):
    storage.ping()
    assert storage.workers() == []
    queue = JobQueue(storage.engine, "w-test", lease_seconds=60, max_attempts=3)
    queue.register("cpu")
    (worker,) = storage.workers()
    assert worker["id"] == "w-test" and worker["items_done"] == 0
    assert 0 <= worker["seconds_since_heartbeat"] < 60
    queue.unregister()
    assert storage.workers() == []


def test_new_architecture_fixture_matches_the_space(nb201):
    new = nb201("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert isinstance(new, NewArchitecture)
    assert new.settings == '{"cells_per_stage": 1, "channels": 4}'
    assert new.params > 0 and new.flops > 0 and not new.is_degenerate
