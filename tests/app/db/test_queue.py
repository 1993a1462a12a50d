"""The job queue, on SQLite and PostgreSQL: leases, guarded transitions, retries, expiry,
release, heartbeats and cancellation. Lease expiry is simulated by moving
``lease_expires_at`` back in SQL, never by sleeping."""

from __future__ import annotations

import threading

import pytest

from app.db.queue import JobQueue, cancel_job, create_job
from app.db.storage import ScoreRecord

PROXIES = [("params", "1")]


@pytest.fixture
def job(storage, nb201, cells, profile):
    """A queued job of 4 architectures; returns its id."""
    ids = [i for i, _ in storage.add_architectures([nb201(cell) for cell in cells(4)])]
    return create_job(storage.engine, ids, PROXIES, profile.id, 0)


@pytest.fixture
def make_queue(storage):
    def make(worker_id: str = "w1", lease_seconds: float = 60, max_attempts: int = 3):
        return JobQueue(storage.engine, worker_id, lease_seconds, max_attempts)

    return make


def score(item, profile_id: int, value: float = 1.0) -> ScoreRecord:
    return ScoreRecord(
        architecture_id=item.architecture_id,
        proxy="params",
        proxy_version="1",
        data_profile_id=profile_id,
        seed=0,
        value=value,
        log_value=None,
        status="ok",
        error=None,
        seconds=0.0,
        device="cpu",
    )


def item_row(sql, item_id: int):
    (row,) = sql(
        "SELECT status, attempts, lease_owner, lease_expires_at, error, finished_at"
        " FROM job_items WHERE id = :id",
        id=item_id,
    )
    return row


def expire(sql, item_id: int | None = None) -> None:
    """Move leases 1000 s into the past: as if the holder vanished long ago."""
    where = "" if item_id is None else " AND id = :id"
    sql(
        "UPDATE job_items SET lease_expires_at = lease_expires_at - 1000"
        f" WHERE status = 'running'{where}",
        id=item_id,
    )


def test_claim_then_complete(storage, sql, job, profile, make_queue):
    queue = make_queue()
    queue.register("cpu")
    claimed = queue.claim(3)
    assert [c.item_id for c in claimed] == sorted(c.item_id for c in claimed)
    assert len(claimed) == 3
    assert {c.job_id for c in claimed} == {job}
    assert {c.attempts for c in claimed} == {1}
    status, attempts, owner, expires, _, finished = item_row(sql, claimed[0].item_id)
    assert (status, attempts, owner, finished) == ("running", 1, "w1", None)
    assert expires is not None
    assert storage.get_job(job).counts == {"running": 3, "queued": 1}
    assert storage.get_job(job).status == "running"

    for item in claimed:
        assert queue.complete(item, [score(item, profile.id)])
    (last,) = queue.claim(3)
    assert queue.complete(last, [score(last, profile.id)])
    assert queue.claim(3) == []

    job_record = storage.get_job(job)
    assert job_record.counts == {"succeeded": 4}
    assert job_record.status == "succeeded"
    status, _, owner, _, error, finished = item_row(sql, last.item_id)
    assert (status, owner, error) == ("succeeded", None, None)
    assert finished is not None
    assert storage.list_scores()[1] == 4
    assert storage.workers()[0]["items_done"] == 4


def test_completing_twice_is_refused(storage, job, profile, make_queue):
    queue = make_queue()
    (item,) = queue.claim(1)
    assert queue.complete(item, [score(item, profile.id)])
    assert not queue.complete(item, [score(item, profile.id, value=2.0)])
    assert not queue.fail(item, "late", retry=True)
    (stored,) = storage.list_scores()[0]
    assert stored.value == 1.0


def test_two_queues_never_share_an_item(job, make_queue):
    first, second = make_queue("w1"), make_queue("w2")
    a = first.claim(2)
    b = second.claim(5)
    assert len(a) == 2 and len(b) == 2
    assert not {i.item_id for i in a} & {i.item_id for i in b}
    assert first.claim(5) == [] and second.claim(5) == []


def test_concurrent_claims_hand_out_each_item_once(storage, nb201, cells, profile, make_queue):
    ids = [i for i, _ in storage.add_architectures([nb201(cell) for cell in cells(60)])]
    create_job(storage.engine, ids, PROXIES, profile.id, 0)
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(worker_id: str) -> None:
        queue = make_queue(worker_id)
        mine = got.setdefault(worker_id, [])
        try:
            barrier.wait()
            while claimed := queue.claim(3):
                for item in claimed:
                    mine.append(item.item_id)
                    assert queue.complete(item, [score(item, profile.id)])
        except BaseException as error:  # noqa: BLE001  (reported by the main thread)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    handed_out = [item for items in got.values() for item in items]
    assert len(handed_out) == len(set(handed_out)) == 60
    assert storage.queue_depth() == {"succeeded": 60}
    assert storage.list_scores()[1] == 60


def test_a_worker_that_lost_its_lease_cannot_finish(storage, sql, job, profile, make_queue):
    slow, fast = make_queue("slow"), make_queue("fast")
    (item,) = slow.claim(1)
    expire(sql, item.item_id)
    (taken,) = fast.claim(1)
    assert taken.item_id == item.item_id
    assert taken.attempts == 2
    assert item_row(sql, item.item_id)[2] == "fast"

    assert not slow.complete(item, [score(item, profile.id, value=-1.0)])
    assert not slow.fail(item, "boom", retry=True, scores=[score(item, profile.id, value=-1.0)])
    assert not slow.fail(item, "boom", retry=False)
    assert slow.heartbeat() == set()
    assert storage.list_scores()[1] == 0  # nothing stored by the loser
    status, attempts, owner, _, error, _ = item_row(sql, item.item_id)
    assert (status, attempts, owner, error) == ("running", 2, "fast", None)
    assert slow.release() == 0

    assert fast.complete(taken, [score(taken, profile.id, value=5.0)])
    (stored,) = storage.list_scores()[0]
    assert stored.value == 5.0


def test_retryable_failures_requeue_until_max_attempts(storage, sql, job, profile, make_queue):
    queue = make_queue(max_attempts=3)
    (item,) = queue.claim(1)
    for attempt in (1, 2):
        assert item.attempts == attempt
        assert queue.fail(item, f"flaky {attempt}", retry=True)
        status, attempts, owner, expires, error, _ = item_row(sql, item.item_id)
        assert (status, attempts, owner, expires) == ("queued", attempt, None, None)
        assert error == f"flaky {attempt}"
        (item,) = queue.claim(1)  # the lowest id first: the same item again
    assert item.attempts == 3
    assert queue.fail(item, "flaky 3", retry=True, scores=[score(item, profile.id)])
    status, attempts, owner, _, error, finished = item_row(sql, item.item_id)
    assert (status, attempts, owner, error) == ("failed", 3, None, "flaky 3")
    assert finished is not None
    assert storage.list_scores()[1] == 1  # the scores it did compute are kept
    job_record = storage.get_job(job)
    assert job_record.counts == {"failed": 1, "queued": 3}
    expected = {"architecture_id": item.architecture_id, "status": "failed", "attempts": 3}
    assert job_record.errors == [{**expected, "error": "flaky 3"}]


def test_a_non_retryable_failure_fails_at_once(storage, sql, job, make_queue):
    queue = make_queue(max_attempts=3)
    (item,) = queue.claim(1)
    assert queue.fail(item, "SpecError: bad", retry=False)
    status, attempts, _, _, error, _ = item_row(sql, item.item_id)
    assert (status, attempts, error) == ("failed", 1, "SpecError: bad")


def test_a_later_success_clears_the_error(storage, sql, job, profile, make_queue):
    queue = make_queue()
    (item,) = queue.claim(1)
    queue.fail(item, "flaky", retry=True)
    (item,) = queue.claim(1)
    assert queue.complete(item, [score(item, profile.id)])
    assert item_row(sql, item.item_id)[4] is None
    assert storage.get_job(job).errors == []


def test_expired_leases_are_reclaimed_then_failed(storage, sql, job, make_queue):
    queues = [make_queue(f"w{n}", max_attempts=3) for n in range(4)]
    (item,) = queues[0].claim(1)
    for attempt, queue in zip((2, 3), queues[1:3], strict=True):
        expire(sql, item.item_id)
        (item,) = queue.claim(1)
        assert item.attempts == attempt
    expire(sql, item.item_id)
    # third expiry with max_attempts=3: failed, and the next queued item is handed out instead
    (other,) = queues[3].claim(1)
    assert other.item_id != item.item_id
    status, attempts, owner, _, error, finished = item_row(sql, item.item_id)
    assert (status, attempts, owner) == ("failed", 3, None)
    assert "lease expired" in error
    assert finished is not None
    assert not queues[2].complete(item, [])


def test_an_unexpired_lease_is_not_reclaimed(job, make_queue):
    first, second = make_queue("w1"), make_queue("w2")
    held = first.claim(4)
    assert len(held) == 4
    assert second.claim(4) == []


def test_release_gives_items_back_without_counting_the_attempt(storage, sql, job, make_queue):
    queue = make_queue()
    claimed = queue.claim(3)
    assert queue.release() == 3
    for item in claimed:
        status, attempts, owner, expires, _, _ = item_row(sql, item.item_id)
        assert (status, attempts, owner, expires) == ("queued", 0, None, None)
    assert storage.get_job(job).counts == {"queued": 4}
    again = make_queue("w2").claim(4)
    assert {i.attempts for i in again} == {1}
    assert queue.release() == 0


def test_release_after_a_retry_keeps_the_earlier_attempts(sql, job, make_queue):
    queue = make_queue()
    (item,) = queue.claim(1)
    queue.fail(item, "flaky", retry=True)
    (item,) = queue.claim(1)
    assert item.attempts == 2
    queue.release()
    assert item_row(sql, item.item_id)[:2] == ("queued", 1)


def test_heartbeat_extends_the_lease(storage, sql, job, make_queue):
    queue = make_queue(lease_seconds=30)
    queue.register("cpu")
    claimed = queue.claim(2)
    expire(sql)  # as if the last heartbeat were long ago (but nobody reclaimed them yet)
    before = {item.item_id: item_row(sql, item.item_id)[3] for item in claimed}
    sql("UPDATE workers SET heartbeat_at = heartbeat_at - 500")
    assert storage.workers()[0]["seconds_since_heartbeat"] >= 500

    assert queue.heartbeat() == set(before)
    for item_id, old in before.items():
        new = item_row(sql, item_id)[3]
        assert new >= old + 1000
    assert storage.workers()[0]["seconds_since_heartbeat"] < 30
    others = make_queue("w2").claim(4)  # the renewed leases are not reclaimed
    assert len(others) == 2
    assert not {i.item_id for i in others} & set(before)


def test_heartbeat_of_another_worker_does_not_touch_my_items(sql, job, make_queue):
    mine, other = make_queue("mine"), make_queue("other")
    (item,) = mine.claim(1)
    expire(sql)
    before = item_row(sql, item.item_id)[3]
    assert other.heartbeat() == set()
    assert item_row(sql, item.item_id)[3] == before


def test_a_cancelled_jobs_items_are_not_handed_out(storage, sql, job, make_queue):
    queue = make_queue()
    cancel_job(storage.engine, job)
    assert queue.claim(10) == []
    assert storage.get_job(job).counts == {"cancelled": 4}


def test_items_requeued_after_cancellation_are_not_handed_out(storage, sql, job, make_queue):
    """Running items finish after a cancel; given back (release, retry) or expired, they
    must not be scored again but cancelled."""
    worker = make_queue("w1")
    released, retried, expired, finished = worker.claim(4)
    cancel_job(storage.engine, job)
    assert storage.get_job(job).counts == {"running": 4}

    assert worker.fail(retried, "flaky", retry=True)
    expire(sql, expired.item_id)
    assert worker.complete(finished, [])
    other = make_queue("w2")
    assert other.claim(10) == []
    assert worker.release() == 1
    assert other.claim(10) == []

    assert storage.get_job(job).counts == {"cancelled": 3, "succeeded": 1}
    for item in (released, retried, expired):
        status, _, owner, _, _, finished_at = item_row(sql, item.item_id)
        assert (status, owner) == ("cancelled", None)
        assert finished_at is not None
