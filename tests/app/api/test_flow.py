"""The whole flow of the service over HTTP, on SQLite and on PostgreSQL: submit 50 NB201
cells of the reference set, score them with snip, grasp and synflow on the CIFAR-10 sample,
report their accuracies, read the correlations, rank them, and serve the same job again
from the database alone; plus the read endpoints, health, metrics and the docs."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from api_support import Serve, nb201_items, submit, wait_job

from app.db import migrations
from zero_cost import ensemble

PROXIES = ["snip", "grasp", "synflow"]
# A small batch and narrow networks keep scoring 50 cells to a few seconds on a CPU.
NETWORK = {"channels": 8, "cells_per_stage": 1}
CIFAR10_SAMPLE = {"source": "npz", "file": "cifar10_sample.npz", "batch_size": 16}
CELLS = 50


def reference_rows(shared_data: Path, count: int) -> list[dict]:
    with open(shared_data / "nb201_dev.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    assert len(rows) == count
    return rows


def test_whole_flow(migrated_url: str, shared_data: Path, serve: Serve) -> None:
    rows = reference_rows(shared_data, CELLS)
    items = nb201_items([row["arch_str"] for row in rows], NETWORK)
    job_body = {"proxies": PROXIES, "data": CIFAR10_SAMPLE}
    with serve(migrated_url, data_dir=str(shared_data)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text

        # -- submit: isomorphic cells of the reference set share one architecture
        answer = client.post("/v1/architectures", json={"items": items})
        assert answer.status_code == 200, answer.text
        ids = [item["id"] for item in answer.json()["items"]]
        distinct = list(dict.fromkeys(ids))
        assert answer.json()["created"] == len(distinct)
        assert all(item["created"] for item in answer.json()["items"])
        assert all(item["settings"] == NETWORK for item in answer.json()["items"])
        n = len(distinct)
        assert 30 <= n <= CELLS

        # -- score
        created = client.post("/v1/score-jobs", json={"architectures": ids, **job_body})
        assert created.status_code == 202, created.text
        job = created.json()
        assert job["total"] == n and job["proxies"] == PROXIES
        assert job["status"] in {"queued", "running"}
        done = wait_job(client, job["id"], timeout=240)
        assert done["status"] == "succeeded", done
        assert done["counts"] == {"succeeded": n} and done["errors"] == []
        assert done["data_profile_id"] == job["data_profile_id"]

        # -- accuracies, by spec: resolved to the same architectures
        reports = [
            {
                "architecture": item,
                "dataset": "cifar10",
                "value": float(row["cifar10_test"]),
                "source": "nb201_dev.csv",
            }
            for item, row in zip(items, rows, strict=True)
        ]
        stored = client.post("/v1/accuracies", json={"items": reports})
        assert stored.status_code == 200, stored.text
        assert stored.json()["architecture_ids"] == ids
        distinct_reports = {(a, r["value"]) for a, r in zip(ids, reports, strict=True)}
        assert stored.json()["created"] == len(distinct_reports)

        # -- correlations: every proxy and every ensemble, with bootstrap intervals
        answer = client.get("/v1/correlations", params={"dataset": "cifar10", "bootstrap": 200})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["n_architectures"] == n
        assert report["data_profile_id"] == job["data_profile_id"]
        rows_by_name = {row["name"]: row for row in report["rows"]}
        assert set(rows_by_name) == set(PROXIES) | set(ensemble.names())
        for name, row in rows_by_name.items():
            assert row["kind"] == ("proxy" if name in PROXIES else "ensemble")
            assert row["n"] == n
            assert math.isfinite(row["spearman"]) and -1 <= row["spearman"] <= 1
            low, high = row["spearman_ci"]
            assert math.isfinite(low) and math.isfinite(high) and low <= high, row
            assert len(row["kendall_ci"]) == 2 and len(row["pearson_ci"]) == 2
        # synflow is the strong proxy on NB201 (published rho ~0.76 on CIFAR-10)
        assert rows_by_name["synflow"]["spearman"] > 0.3, rows_by_name["synflow"]

        # -- rank: best first, ranks 1..n, from stored scores
        rank_body = {"architectures": distinct, "proxies": PROXIES, "data": CIFAR10_SAMPLE}
        answer = client.post("/v1/rank", json=rank_body)
        assert answer.status_code == 200, answer.text
        ranked = answer.json()
        assert ranked["complete"] is True and ranked["job_id"] is None
        assert [c["rank"] for c in ranked["ranking"]] == list(range(1, n + 1))
        assert sorted(c["architecture_id"] for c in ranked["ranking"]) == sorted(distinct)
        ensemble_scores = [c["score"] for c in ranked["ranking"]]
        assert ensemble_scores == sorted(ensemble_scores, reverse=True)
        assert all(set(c["scores"]) == set(PROXIES) for c in ranked["ranking"])
        first_ranking = [c["architecture_id"] for c in ranked["ranking"]]

        # -- an architecture with its scores and accuracies
        detail = client.get(f"/v1/architectures/{ids[0]}")
        assert detail.status_code == 200, detail.text
        detail = detail.json()
        assert detail["id"] == ids[0] and detail["space"] == "nb201"
        assert sorted(s["proxy"] for s in detail["scores"]) == sorted(PROXIES)
        assert all(s["data_profile_id"] == job["data_profile_id"] for s in detail["scores"])
        assert [a["dataset"] for a in detail["accuracies"]] == ["cifar10"] * len(
            detail["accuracies"]
        )
        assert float(rows[0]["cifar10_test"]) in [a["value"] for a in detail["accuracies"]]

        # -- scores: pages cover every score once; CSV export
        seen = []
        for offset in range(0, 3 * n, 40):
            page = client.get("/v1/scores", params={"limit": 40, "offset": offset})
            assert page.status_code == 200, page.text
            assert page.json()["count"] == 3 * n
            seen += [(s["architecture_id"], s["proxy"]) for s in page.json()["data"]]
        assert len(seen) == len(set(seen)) == 3 * n
        past_end = client.get("/v1/scores", params={"offset": 3 * n}).json()
        assert past_end == {"data": [], "count": 3 * n, "limit": 1000, "offset": 3 * n}
        synflow = client.get("/v1/scores", params={"proxy": "synflow"}).json()
        assert synflow["count"] == n and {s["proxy"] for s in synflow["data"]} == {"synflow"}
        exported = client.get("/v1/scores", params={"format": "csv", "limit": 10})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert exported.headers["x-total-count"] == str(3 * n)
        table = list(csv.DictReader(io.StringIO(exported.text)))
        assert len(table) == 10 and {"architecture_id", "proxy", "value"} <= set(table[0])

        # -- metrics
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        for name in (
            'zc_job_items{status="succeeded"}',
            'zc_jobs{status="succeeded"} 1.0',
            "zc_scoring_seconds_bucket",
            "zc_scoring_seconds_count",
            "zc_worker_seconds_since_heartbeat{",
        ):
            assert name in metrics.text, name

        # -- documentation
        assert client.get("/docs").status_code == 200
        schema = client.get("/openapi.json")
        assert schema.status_code == 200
        assert {"/v1/architectures", "/v1/score-jobs", "/v1/rank"} <= set(schema.json()["paths"])

    # -- the same job again, with no worker anywhere: served from the database at once
    with serve(migrated_url, data_dir=str(shared_data), embedded_worker=False) as client:
        again = client.post("/v1/score-jobs", json={"architectures": ids, **job_body})
        assert again.status_code == 202, again.text
        assert again.json()["status"] == "succeeded", again.json()
        assert again.json()["counts"] == {"succeeded": n}
        assert client.get(f"/v1/score-jobs/{again.json()['id']}").json()["status"] == "succeeded"

        answer = client.post("/v1/rank", json={**rank_body, "wait": True})
        assert answer.status_code == 200, answer.text
        assert answer.json()["complete"] is True and answer.json()["job_id"] is None
        assert [c["architecture_id"] for c in answer.json()["ranking"]] == first_ranking

        # a new candidate is queued, not waited for, and ranked after the scored ones
        new = submit(
            client,
            nb201_items(
                ["|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"]
            ),
        )
        answer = client.post(
            "/v1/rank", json={**rank_body, "architectures": [*distinct[:5], *new]}
        ).json()
        assert answer["complete"] is False and answer["job_id"] is not None
        assert answer["ranking"][-1] == {
            "architecture_id": new[0],
            "rank": None,
            "score": None,
            "scores": dict.fromkeys(PROXIES),
        }
        assert [c["rank"] for c in answer["ranking"][:5]] == [1, 2, 3, 4, 5]
        assert client.get(f"/v1/score-jobs/{answer['job_id']}").json()["status"] == "queued"


def test_readyz_names_the_upgrade_on_an_unmigrated_database(
    database_url: str, serve: Serve
) -> None:
    with serve(database_url, embedded_worker=False) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503, answer.text
        assert "zero-cost db upgrade" in answer.json()["migrations"]
        assert answer.json()["database"] == "ok"
        assert client.get("/healthz").status_code == 200

        migrations.upgrade(database_url)
        answer = client.get("/readyz")
        assert answer.status_code == 200, answer.text
        assert answer.json()["migrations"] == migrations.head_revision()


def test_readyz_names_an_old_schema(migrated_url: str, serve: Serve) -> None:
    """A database behind the code's head (here: emptied to base) is not ready either."""
    migrations.downgrade(migrated_url, "base")
    with serve(migrated_url, embedded_worker=False) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert "zero-cost db upgrade" in answer.json()["migrations"]


@pytest.mark.parametrize("embedded", [False, True])
def test_metrics_of_an_idle_service(
    migrated_url: str, serve: Serve, wait_for: Callable, embedded: bool
) -> None:
    with serve(migrated_url, embedded_worker=embedded) as client:
        if embedded:  # the worker registers from its own thread
            heartbeat = "zc_worker_seconds_since_heartbeat{"
            wait_for(lambda: heartbeat in client.get("/metrics").text, 10)
        metrics = client.get("/metrics").text
    assert "# TYPE zc_job_items gauge" in metrics and "# TYPE zc_jobs gauge" in metrics
    assert 'zc_scoring_seconds_bucket{le="+Inf"} 0.0' in metrics
    assert ("zc_worker_seconds_since_heartbeat{" in metrics) is embedded
