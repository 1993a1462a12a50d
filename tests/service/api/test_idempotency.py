"""Idempotent writes over HTTP, on SQLite and on PostgreSQL: a batch posted again, or by
many clients at once, maps every canonical architecture to one row and one id; the same
accuracy report is stored once."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict

from api_support import TINY, Serve, nb201_items, submit
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.db.session import make_engine

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

        # one item posted alone, an isomorphic spelling, other settings
        single = client.post("/v1/architectures", json=items[3]).json()
        assert single["created"] == 0 and single["items"][0]["id"] == first["items"][3]["id"]
        reordered = client.post("/v1/architectures", json={"items": items[::-1]}).json()
        assert [i["id"] for i in reordered["items"]] == [i["id"] for i in first["items"]][::-1]
        iso = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"
        twin = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
        a, b = submit(client, nb201_items([iso, twin]))
        assert a == b  # one architecture: the same computation
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
                {"architecture": i, "dataset": dataset, "value": 80.0 + n / 10}
                for n, i in enumerate(ids)
            ]
            created, failures = _post_concurrently(client, reports)
            assert not failures, failures
            assert sum(created) == len(reports)
            listed = client.get("/v1/accuracies", params={"dataset": dataset, "limit": 1})
            assert listed.json()["count"] == len(reports)
