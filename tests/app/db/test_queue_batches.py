"""The queue's batched verbs and its fairness, on SQLite and PostgreSQL: ``inputs_many``
reads what ``inputs`` reads, item by item; ``complete_many`` completes the items whose lease
the worker holds and stores only their scores; jobs waiting at the same time take turns."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from test_queue import PROXIES, expire, item_row, score

from app.db.queue import JobQueue, cancel_job, create_job
from app.db.storage import ScoreRecord
from zero_cost.repeats import Repeats

TWO_PROXIES = [("params", "1"), ("flops", "1")]


@pytest.fixture
def architecture_ids(storage, nb201, cells):
    """Twelve stored NB201 architectures; their ids."""
    return [i for i, _ in storage.add_architectures([nb201(cell) for cell in cells(12)])]


@pytest.fixture
def make_queue(storage):
    def make(worker_id: str = "w1", lease_seconds: float = 60, max_attempts: int = 3):
        return JobQueue(storage.engine, worker_id, lease_seconds, max_attempts)

    return make


def scores_of(item, profile_id: int, proxies=PROXIES, value: float = 1.0) -> list[ScoreRecord]:
    """The item's scores of ``proxies`` (seed 0, scored once)."""
    return [
        ScoreRecord(
            architecture_id=item.architecture_id,
            proxy=proxy,
            proxy_version=version,
            data_profile_id=profile_id,
            seed=0,
            value=value,
            log_value=None,
            status="ok",
            error=None,
            seconds=0.0,
            device="cpu",
        )
        for proxy, version in proxies
    ]


def count_statements(engine) -> list[str]:
    """The SQL statements ``engine`` runs from now on (appended as they run)."""
    statements: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda *args: statements.append(args[2]), retval=False
    )
    return statements


def store_score(sql, architecture_id: int, proxy: str, profile_id: int) -> None:
    sql(
        "INSERT INTO scores (architecture_id, proxy, proxy_version, data_profile_id, seed,"
        " value, status, seconds, device) VALUES (:a, :proxy, '1', :profile, 0, 1.0, 'ok', 0,"
        " 'cpu')",
        a=architecture_id,
        proxy=proxy,
        profile=profile_id,
    )


def test_inputs_many_equals_inputs_item_by_item(
    storage, sql, architecture_ids, profile, make_profile, make_queue
):
    """Two jobs (other proxies, profiles, seeds and repeats), some scores stored: each item's
    inputs from one batched read equal those read for it alone."""
    other_profile = make_profile(storage, batch_size=4, seed=1)
    store_score(sql, architecture_ids[0], "params", profile.id)
    for proxy, _ in TWO_PROXIES:
        store_score(sql, architecture_ids[1], proxy, profile.id)
    create_job(storage.engine, architecture_ids[:6], TWO_PROXIES, profile.id, 0)
    create_job(storage.engine, architecture_ids[6:], PROXIES, other_profile.id, 7, Repeats(3, 2))
    queue = make_queue()
    claimed = queue.claim(12)
    assert len(claimed) == 11  # architecture 1 has every score: its item is done already

    batched = queue.inputs_many(claimed)
    assert set(batched) == {item.item_id for item in claimed}
    for item in claimed:
        assert batched[item.item_id] == queue.inputs(item)
    first = next(i for i in claimed if i.architecture_id == architecture_ids[0])
    assert batched[first.item_id].missing == TWO_PROXIES[1:]
    later = next(i for i in claimed if i.architecture_id == architecture_ids[6])
    assert batched[later.item_id].repeats == Repeats(3, 2)
    assert batched[later.item_id].profile.id == other_profile.id
    assert batched[later.item_id].seed == 7
    assert queue.inputs_many([]) == {}


def test_batched_verbs_take_a_few_statements_whatever_the_batch(
    storage, architecture_ids, profile, make_queue
):
    create_job(storage.engine, architecture_ids, PROXIES, profile.id, 0)
    queue = make_queue()
    queue.register("cpu")
    small, large = queue.claim(2), queue.claim(10)
    statements = count_statements(storage.engine)
    counts = []
    for batch in (small, large):
        start = len(statements)
        queue.inputs_many(batch)
        queue.complete_many([(item, scores_of(item, profile.id)) for item in batch])
        counts.append(len(statements) - start)
    assert counts[0] == counts[1]
    assert storage.workers()[0]["items_done"] == 12


def test_complete_many_skips_an_item_whose_lease_was_lost(
    storage, sql, architecture_ids, profile, make_queue
):
    job = create_job(storage.engine, architecture_ids[:4], PROXIES, profile.id, 0)
    slow, fast = make_queue("slow"), make_queue("fast")
    slow.register("cpu")
    fast.register("cpu")
    claimed = slow.claim(4)
    lost = claimed[1]
    expire(sql, lost.item_id)
    (taken,) = fast.claim(4)  # the expired item, alone
    assert taken.item_id == lost.item_id

    done = slow.complete_many(
        [(item, scores_of(item, profile.id, TWO_PROXIES, value=-1.0)) for item in claimed]
    )
    assert done == {item.item_id for item in claimed} - {lost.item_id}
    stored = {(s.architecture_id, s.proxy) for s in storage.list_scores(limit=100)[0]}
    others = [item for item in claimed if item is not lost]
    assert stored == {(i.architecture_id, p) for i in others for p, _ in TWO_PROXIES}
    assert item_row(sql, lost.item_id)[:3] == ("running", 2, "fast")
    assert {w["id"]: w["items_done"] for w in storage.workers()} == {"slow": 3, "fast": 0}

    assert fast.complete_many([(taken, scores_of(taken, profile.id, value=5.0))]) == {taken.item_id}
    assert slow.complete_many([(lost, scores_of(lost, profile.id))]) == set()
    assert storage.get_job(job).counts == {"succeeded": 4}
    assert slow.complete_many([]) == set()


def test_complete_is_complete_many_of_one(storage, sql, architecture_ids, profile, make_queue):
    create_job(storage.engine, architecture_ids[:1], PROXIES, profile.id, 0)
    queue = make_queue()
    (item,) = queue.claim(1)
    assert queue.complete(item, scores_of(item, profile.id))
    assert not queue.complete(item, scores_of(item, profile.id, value=2.0))
    assert item_row(sql, item.item_id)[0] == "succeeded"
    (stored,) = storage.list_scores()[0]
    assert stored.value == 1.0


def test_two_jobs_submitted_at_once_take_turns(storage, architecture_ids, profile, make_queue):
    first = create_job(storage.engine, architecture_ids[:6], PROXIES, profile.id, 0)
    second = create_job(storage.engine, architecture_ids[6:], PROXIES, profile.id, 0)
    queue = make_queue()
    claimed = queue.claim(4)
    assert [item.job_id for item in claimed].count(first) == 2
    assert [item.job_id for item in claimed].count(second) == 2
    queue.complete_many([(item, [score(item, profile.id)]) for item in claimed])
    (item,) = queue.claim(1)
    assert item.job_id == first  # both are at their third item: the older job goes first
    (item,) = queue.claim(1)
    assert item.job_id == second


def test_a_job_submitted_later_does_not_wait_for_the_backlog(
    storage, architecture_ids, profile, make_queue
):
    """A job submitted while another is half done takes turns with its rest at once."""
    big = create_job(storage.engine, architecture_ids[:8], PROXIES, profile.id, 0)
    queue = make_queue()
    first_half = queue.claim(4)
    assert {item.job_id for item in first_half} == {big}
    small = create_job(storage.engine, architecture_ids[8:], PROXIES, profile.id, 0)
    jobs = [item.job_id for item in queue.claim(4)]
    assert jobs.count(big) == jobs.count(small) == 2


def test_fairness_keeps_the_orphan_and_cancellation_rules(
    storage, sql, architecture_ids, profile, make_queue
):
    first = create_job(storage.engine, architecture_ids[:4], PROXIES, profile.id, 0)
    second = create_job(storage.engine, architecture_ids[4:8], PROXIES, profile.id, 0)
    lost = make_queue("lost").claim(2)
    expire(sql)
    (orphan,) = make_queue("w2").claim(5)  # an expired item comes alone
    assert orphan.item_id == lost[0].item_id
    cancel_job(storage.engine, first)
    (other,) = make_queue("w3").claim(10)  # the other expired item, alone too
    assert other.item_id == lost[1].item_id and other.job_id == second
    claimed = make_queue("w4").claim(10)
    assert [item.job_id for item in claimed] == [second] * 3
    assert storage.get_job(first).counts == {"cancelled": 3, "running": 1}
