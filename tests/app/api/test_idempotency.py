"""Idempotent writes over HTTP, on SQLite and on PostgreSQL: a batch posted again, or by
many clients at once, maps every canonical architecture to one row and one id; the same
accuracy report is stored once; a score job posted again with its ``Idempotency-Key``, or
by many clients at once, is one job."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter, defaultdict

import httpx2
import pytest
from api_support import SYNTHETIC, TINY, Serve, check_error, nb201_items, submit
from fastapi.testclient import TestClient
from sqlalchemy import text

from app import services
from app.db.queue import create_job, create_job_once
from app.db.session import make_engine
from app.db.storage import Storage
from app.schemas import ScoreJobIn
from zero_cost.client import Client

THREADS = 8


def test_the_same_batch_twice(migrated_url: str, serve: Serve, cells) -> None:
    items = nb201_items(cells(10))
    with serve(migrated_url, embedded_worker=False) as client:
        first = client.post("/v1/architectures", json={"items": items}).json()
        second = client.post("/v1/architectures", json={"items": items}).json()
        assert first["created"] == 10 and second["created"] == 0
        assert all(item["created"] is True for item in first["items"])
        assert all(item["created"] is False for item in second["items"])
        assert [i["id"] for i in first["items"]] == [i["id"] for i in second["items"]]
        assert len({i["id"] for i in first["items"]}) == 10

        # one item posted alone, another spelling of one cell, other settings
        single = client.post("/v1/architectures", json=items[3]).json()
        assert single["created"] == 0 and single["items"][0]["id"] == first["items"][3]["id"]
        reordered = client.post("/v1/architectures", json={"items": items[::-1]}).json()
        assert [i["id"] for i in reordered["items"]] == [i["id"] for i in first["items"]][::-1]
        iso = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"
        twin = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
        a, b, again = submit(client, nb201_items([iso, twin, [2, 2, 0, 1, 1, 1]]))
        # Two cells of one function class are two architectures (the benchmark trained
        # both); the NASLib tuple of the first cell is that cell.
        assert a != b and again == a
        wide = submit(client, nb201_items([iso], {"channels": 8, "cells_per_stage": 1}))
        assert wide[0] != a  # other settings are another network


def test_concurrent_overlapping_batches(migrated_url: str, serve: Serve, cells) -> None:
    """8 clients post overlapping, differently ordered batches at the same moment, through
    two application instances (as two API processes would): every canonical key gets one
    row and one id, exactly one client is told it created it, and none is refused (on
    PostgreSQL, inserts in request order deadlocked: 503)."""
    size, step, rounds = 520, 10, 3  # a batch is more than one INSERT's worth (500 rows)
    width = size + step * (THREADS - 1)
    pool = cells(width * rounds)
    batches: list[list[list[str]]] = []  # per round, per client; new cells every round
    for r in range(rounds):
        cells_of_round = pool[r * width : (r + 1) * width]
        batches.append([])
        for k in range(THREADS):
            batch = cells_of_round[k * step : k * step + size]
            random.Random(r * THREADS + k).shuffle(batch)
            batches[r].append(batch)
    answers: list[list[dict]] = [[] for _ in range(THREADS)]
    failures: list[str] = []
    barrier = threading.Barrier(THREADS)

    def post(k: int, client: TestClient) -> None:
        try:
            for r in range(rounds):
                body = {"items": nb201_items(batches[r][k])}
                barrier.wait(timeout=60)
                response = client.post("/v1/architectures", json=body)
                if response.status_code != 200:
                    failures.append(f"client {k}: {response.status_code} {response.text}")
                    barrier.abort()
                    return
                answers[k] += response.json()["items"]
        except threading.BrokenBarrierError:
            pass  # another client failed; it reported why
        except Exception as error:  # noqa: BLE001  (reported below, with the client)
            failures.append(f"client {k}: {type(error).__name__}: {error}")
            barrier.abort()

    with (
        serve(migrated_url, embedded_worker=False) as one,
        serve(migrated_url, embedded_worker=False) as two,
    ):
        threads = [
            threading.Thread(target=post, args=(k, one if k % 2 else two)) for k in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not failures, failures

    ids_by_key: dict[str, set[int]] = defaultdict(set)
    creators: Counter[str] = Counter()
    for items in answers:
        for item in items:
            ids_by_key[item["canonical_key"]].add(item["id"])
            creators[item["canonical_key"]] += bool(item["created"])
    used = {cell for round_ in batches for batch in round_ for cell in batch}
    assert len(ids_by_key) == len(used)
    assert all(len(ids) == 1 for ids in ids_by_key.values()), ids_by_key
    assert len({next(iter(ids)) for ids in ids_by_key.values()}) == len(used)
    assert all(creators[key] == 1 for key in ids_by_key), creators

    engine = make_engine(migrated_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT canonical_key, id FROM architectures ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == len(used)
    assert {key: {i} for key, i in rows} == dict(ids_by_key)


def test_the_same_accuracy_report_twice(migrated_url: str, serve: Serve, cells) -> None:
    items = nb201_items(cells(6))
    with serve(migrated_url, embedded_worker=False) as client:
        ids = submit(client, items)
        by_spec = [
            {"architecture": item, "dataset": "cifar10", "value": 90.0 + i, "epochs": 200}
            for i, item in enumerate(items)
        ]
        by_id = [{**report, "architecture": i} for report, i in zip(by_spec, ids, strict=True)]
        first = client.post("/v1/accuracies", json={"items": by_spec}).json()
        assert first == {"created": 6, "architecture_ids": ids}
        # the same reports, by id this time, and repeated inside one request
        again = client.post("/v1/accuracies", json={"items": by_id + by_id[:2]}).json()
        assert again == {"created": 0, "architecture_ids": ids + ids[:2]}
        listed = client.get("/v1/accuracies", params={"dataset": "cifar10"}).json()
        assert listed["count"] == 6
        # another value, epoch count or source is another report
        other = [
            {**by_id[0], "value": 91.5},
            {**by_id[0], "epochs": 12},
            {**by_id[0], "source": "rerun"},
            {**by_id[0], "metric": "valid_accuracy"},
        ]
        assert client.post("/v1/accuracies", json={"items": other}).json()["created"] == 4
        assert client.get("/v1/accuracies").json()["count"] == 10
        detail = client.get(f"/v1/architectures/{ids[0]}").json()
        assert len(detail["accuracies"]) == 5


def _post_concurrently(client: TestClient, reports: list[dict]) -> tuple[list[int], list[str]]:
    """Each of ``THREADS`` clients posts ``reports`` in its own order, all at once: the
    ``created`` counts and the failures."""
    created: list[int] = []
    failures: list[str] = []
    barrier = threading.Barrier(THREADS)

    def post(k: int) -> None:
        batch = list(reports)
        random.Random(k).shuffle(batch)
        barrier.wait(timeout=30)
        response = client.post("/v1/accuracies", json={"items": batch})
        if response.status_code != 200:
            failures.append(f"client {k}: {response.status_code} {response.text}")
        else:
            created.append(response.json()["created"])

    threads = [threading.Thread(target=post, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return created, failures


def test_concurrent_identical_accuracy_reports(migrated_url: str, serve: Serve, cells) -> None:
    """8 clients report the same accuracies at once, each in its own order: one row each,
    and no client is refused. (Each request is more than one INSERT's worth: on PostgreSQL,
    inserts in request order used to deadlock, answering 503.)"""
    items = nb201_items(cells(800), TINY)
    with serve(migrated_url, embedded_worker=False) as client:
        ids = submit(client, items)
        for round_ in range(3):
            dataset = f"set{round_}"
            reports = [
                {"architecture": i, "dataset": dataset, "value": 50.0 + n / 20}
                for n, i in enumerate(ids)
            ]
            created, failures = _post_concurrently(client, reports)
            assert not failures, failures
            assert sum(created) == len(reports)
            listed = client.get("/v1/accuracies", params={"dataset": dataset, "limit": 1})
            assert listed.json()["count"] == len(reports)


# -- score jobs with an Idempotency-Key ------------------------------------------------------


def _rows(url: str, statement: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(statement)).all()
    finally:
        engine.dispose()


def _job_body(cells: list[str]) -> dict:
    return {"architectures": nb201_items(cells), "proxies": ["params"], "data": SYNTHETIC}


def test_a_score_job_posted_again_with_its_key(migrated_url: str, serve: Serve, cells) -> None:
    """The retry of a job whose answer was lost gets the same job, flagged as a replay, even
    when it spells the same request differently; nothing new is stored."""
    body = _job_body(cells(4))
    key = {"Idempotency-Key": "job-7d3f0c2e-4b1a-4c55-9a0e-2f6f1b9b8c11"}
    with serve(migrated_url, embedded_worker=False) as client:
        first = client.post("/v1/score-jobs", json=body, headers=key)
        assert first.status_code == 202, first.text
        assert "idempotent-replayed" not in first.headers
        # the same request: keys in another order, a default spelled out
        respelled = {"init_seed": 0, **dict(reversed(body.items()))}
        for again_body in (body, respelled):
            again = client.post("/v1/score-jobs", json=again_body, headers=key)
            assert again.status_code == 202, again.text
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json() == first.json()  # same id, same schema (not scored meanwhile)
        fetched = client.get(f"/v1/score-jobs/{first.json()['id']}").json()
        assert fetched == first.json()
    assert _rows(migrated_url, "SELECT count(*) FROM score_jobs")[0][0] == 1
    assert _rows(migrated_url, "SELECT count(*) FROM job_items")[0][0] == 4


def test_concurrent_retries_of_one_score_job(migrated_url: str, serve: Serve, cells) -> None:
    """8 clients post the same job with the same key at the same moment, through two
    application instances: one job row; every client gets its id, exactly one as the
    creator, and none is refused."""
    body = _job_body(cells(6))
    key = {"Idempotency-Key": "race-1"}
    answers: list[tuple[int, dict, str | None]] = []
    failures: list[str] = []
    barrier = threading.Barrier(THREADS)

    def post(client: TestClient) -> None:
        try:
            barrier.wait(timeout=60)
            response = client.post("/v1/score-jobs", json=body, headers=key)
            answers.append(
                (
                    response.status_code,
                    response.json(),
                    response.headers.get("idempotent-replayed"),
                )
            )
        except Exception as error:  # noqa: BLE001  (reported below)
            failures.append(f"{type(error).__name__}: {error}")
            barrier.abort()

    with (
        serve(migrated_url, embedded_worker=False) as one,
        serve(migrated_url, embedded_worker=False) as two,
    ):
        threads = [
            threading.Thread(target=post, args=(one if k % 2 else two,)) for k in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not failures, failures
    assert len(answers) == THREADS
    assert [status for status, _, _ in answers] == [202] * THREADS, answers
    assert len({answer["id"] for _, answer, _ in answers}) == 1, answers
    assert sorted(replayed or "" for _, _, replayed in answers) == [""] + ["true"] * (THREADS - 1)
    (job_id, stored_key), *more = _rows(migrated_url, "SELECT id, idempotency_key FROM score_jobs")
    assert not more and job_id == answers[0][1]["id"] and stored_key == "race-1"
    assert _rows(migrated_url, "SELECT count(*) FROM job_items")[0][0] == 6


def test_the_key_of_a_score_job_for_another_request(migrated_url: str, serve: Serve, cells) -> None:
    """A key is bound to its request: another body under it is refused and stores nothing;
    the original request still replays."""
    body = _job_body(cells(3))
    key = {"Idempotency-Key": "reused"}
    with serve(migrated_url, embedded_worker=False) as client:
        first = client.post("/v1/score-jobs", json=body, headers=key)
        assert first.status_code == 202, first.text
        for other in (
            {**body, "init_seed": 1},
            {**body, "proxies": ["params", "synflow"]},
            {**body, "architectures": body["architectures"][::-1]},
        ):
            refused = client.post("/v1/score-jobs", json=other, headers=key)
            error = check_error(refused, 422, "idempotency_key_reused", "Idempotency-Key")
            assert str(first.json()["id"]) in error["message"]
        again = client.post("/v1/score-jobs", json=body, headers=key)
        assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
    assert _rows(migrated_url, "SELECT count(*) FROM score_jobs")[0][0] == 1


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "caf\xe9".encode("latin-1"), "tab\there", "snow\u2603".encode()],
    ids=["empty", "too-long", "latin-1", "control", "utf-8"],
)
def test_an_invalid_idempotency_key(migrated_url: str, serve: Serve, cells, key) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        response = client.post(
            "/v1/score-jobs", json=_job_body(cells(1)), headers={"Idempotency-Key": key}
        )
        check_error(response, 422, "validation_error", "Idempotency-Key")
    assert _rows(migrated_url, "SELECT count(*) FROM score_jobs")[0][0] == 0


def test_the_longest_idempotency_key_and_none(migrated_url: str, serve: Serve, cells) -> None:
    """255 printable characters are a key; without a key every post is a new job, as ever."""
    body = _job_body(cells(2))
    longest = {"Idempotency-Key": "".join(chr(32 + i % 95) for i in range(255))}
    with serve(migrated_url, embedded_worker=False) as client:
        ids = []
        for headers in (longest, longest, None, None):
            response = client.post("/v1/score-jobs", json=body, headers=headers)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        assert "idempotent-replayed" not in response.headers
    assert ids[0] == ids[1] and len(set(ids)) == 3
    keys = [row[0] for row in _rows(migrated_url, "SELECT idempotency_key FROM score_jobs")]
    assert sorted(keys, key=str) == sorted([longest["Idempotency-Key"], None, None], key=str)


class _LosesFirstAnswer(httpx2.BaseTransport):
    """Serves requests with the in-process application, but drops the answer to the first
    POST /v1/score-jobs after the application handled it (as a dropped connection or an API
    restart would); records that path's headers."""

    def __init__(self, app_client: TestClient) -> None:
        self.app_client, self.job_posts, self.lost = app_client, [], 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.app_client.send(request)
        if request.method == "POST" and request.url.path == "/v1/score-jobs":
            self.job_posts.append(request.headers.get("idempotency-key"))
            if self.lost == 0:
                self.lost += 1
                raise httpx2.ReadError("connection lost before the answer", request=request)
        return httpx2.Response(
            response.status_code, headers=response.headers, content=response.content
        )


def test_the_client_retries_a_score_job_with_its_key(
    migrated_url: str, serve: Serve, cells
) -> None:
    """``zero_cost.client.Client.score`` sends a fresh UUID4 key per call, the same on its own
    retries: the retry of a job whose answer was lost gets that job, not a second one."""
    items = nb201_items(cells(3))
    with serve(migrated_url, embedded_worker=False) as app_client:
        transport = _LosesFirstAnswer(app_client)
        with Client("http://testserver", transport=transport, backoff=0.01) as client:
            job = client.score(items, ["params"], data=SYNTHETIC, wait=False)
            assert transport.lost == 1 and len(transport.job_posts) == 2
            first_key, retry_key = transport.job_posts
            assert first_key == retry_key and uuid.UUID(first_key).version == 4
            assert _rows(migrated_url, "SELECT id FROM score_jobs") == [(job.id,)]
            # another call is another request: a new key, a new job
            other = client.score(items, ["params"], data=SYNTHETIC, wait=False)
            assert other.id != job.id and transport.job_posts[2] != first_key
            # the caller's own key, reused across calls (e.g. after the caller restarted)
            mine = client.score(items, ["params"], data=SYNTHETIC, wait=False, idempotency_key="m")
            again = client.score(items, ["params"], data=SYNTHETIC, wait=False, idempotency_key="m")
            assert again.id == mine.id and transport.job_posts[-2:] == ["m", "m"]
    assert _rows(migrated_url, "SELECT count(*) FROM score_jobs")[0][0] == 3


def test_racing_first_attempts_meet_at_the_unique_index(storage: Storage, nb201, cells) -> None:
    """The look-up before creating a job is only a shortcut: two first attempts that both
    missed it are settled by the unique index, the second getting the first's job and
    request hash (to be compared by the caller) and writing nothing."""
    ids = [i for i, _ in storage.add_architectures([nb201(c) for c in cells(3)])]
    profile = storage.get_or_create_profile("p", "synthetic", {"batch_size": 8})
    versions = [("params", "1")]
    first = create_job_once(storage.engine, ids, versions, profile.id, 0, "k", "a" * 64)
    assert first.created
    second = create_job_once(storage.engine, ids[:1], versions, profile.id, 5, "k", "b" * 64)
    assert (second.id, second.request_hash, second.created) == (first.id, "a" * 64, False)
    assert storage.job_for_key("k") == second
    assert storage.job_for_key("other") is None
    assert sum(storage.get_job(first.id).counts.values()) == 3
    plain = create_job(storage.engine, ids, versions, profile.id, 0)
    assert plain != first.id and storage.get_job(plain).init_seed == 0


def test_the_request_hash_is_canonical() -> None:
    base = {"architectures": [1, 2], "proxies": ["params"]}
    digest = services.request_hash(ScoreJobIn(**base))
    assert len(digest) == 64
    same = {"proxies": ["params"], "init_seed": 0, "data": None, **base}
    assert services.request_hash(ScoreJobIn(**same)) == digest
    # Naming the data is another request than leaving it to the server's default.
    named = {**base, "data": {"source": "synthetic"}}
    for other in ({**base, "architectures": [2, 1]}, {**base, "init_seed": 1}, named):
        assert services.request_hash(ScoreJobIn(**other)) != digest
