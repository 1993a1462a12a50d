"""Learned predictors over HTTP, on SQLite and on PostgreSQL: train one as a job from stored
scores and the reference accuracies (the fallback below ``min_labels``, the model above),
read its cross-validated metrics and learning curve, rank with ``ensemble=learned``, see it
in the correlations (out-of-fold predictions only), retrain automatically when new labels
arrive; the model itself never leaves the service."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import pytest
from api_support import SYNTHETIC, Serve, check_error, nb201_items, submit, wait_job
from fastapi.testclient import TestClient

PROXIES = ["flops", "nwot", "params", "synflow"]
CELLS = 60
LATE = 8  # architectures whose accuracy is reported only after training (auto-retrain)
METRIC_KEYS = {"n", "spearman", "kendall_tau_b", "precision_at_10", "top_spearman"}


def reference(shared_data: Path) -> list[dict]:
    with open(shared_data / "nb201_dev.csv", newline="") as handle:
        return list(csv.DictReader(handle))[:CELLS]


def wait_predictor(client: TestClient, predictor_id: int, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/v1/predictors/{predictor_id}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["status"] not in {"queued", "running"}:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"predictor {predictor_id} still {body['status']} after {timeout:.0f}s")
        time.sleep(0.05)


def no_model(body: object) -> None:
    """No response carries model bytes or out-of-fold predictions (no such key, anywhere)."""
    if isinstance(body, dict):
        assert not {"model", "oof"} & set(body), body
        for value in body.values():
            no_model(value)
    elif isinstance(body, list):
        for value in body:
            no_model(value)


def report(client: TestClient, ids: list[int], rows: list[dict]) -> None:
    """Report 100 - the true accuracy: labels the label-free baseline (which ranks by proxies
    that grow with accuracy) ranks backwards, so a model must beat it in the predictor's inner
    cross-validation and a predictor with enough labels is a model, not the baseline."""
    items = [
        {"architecture": a, "dataset": "cifar10", "value": 100 - float(row["cifar10_test"])}
        for a, row in zip(ids, rows, strict=True)
    ]
    answer = client.post("/v1/accuracies", json={"items": items})
    assert answer.status_code == 200, answer.text


def test_predictor_round_trip(migrated_url: str, shared_data: Path, serve: Serve) -> None:
    rows = reference(shared_data)
    with serve(migrated_url, predictor_retrain_labels=LATE) as client:
        ids = submit(client, nb201_items([row["arch_str"] for row in rows]))
        # isomorphic cells share an architecture: keep the first row of each
        first = {a: row for a, row in reversed(list(zip(ids, rows, strict=True)))}
        ids = list(dict.fromkeys(ids))
        rows = [first[a] for a in ids]
        n = len(ids)
        job = client.post(
            "/v1/score-jobs", json={"architectures": ids, "proxies": PROXIES, "data": SYNTHETIC}
        )
        assert job.status_code == 202, job.text
        assert wait_job(client, job.json()["id"])["status"] == "succeeded"
        early = n - LATE
        report(client, ids[:early], rows[:early])
        body = {"dataset": "cifar10", "proxies": PROXIES}

        # -- errors: unknown proxy, unknown predictor, no predictor to rank with yet
        answer = client.post("/v1/predictors", json={**body, "proxies": ["synflow", "nope"]})
        check_error(answer, 422, "unknown_proxy", "proxies[1]")
        check_error(client.get("/v1/predictors/999"), 404, "not_found")
        rank_body = {"architectures": ids, "proxies": PROXIES, "data": SYNTHETIC}
        answer = client.post("/v1/rank", json={**rank_body, "ensemble": "learned"})
        check_error(answer, 422, "dataset_required", "dataset")
        answer = client.post(
            "/v1/rank", json={**rank_body, "ensemble": "learned", "dataset": "cifar10"}
        )
        check_error(answer, 422, "no_predictor", "dataset")

        # -- version 1: fewer labels than min_labels -> the label-free fallback
        answer = client.post("/v1/predictors", json={**body, "min_labels": 1000})
        assert answer.status_code == 202, answer.text
        queued = answer.json()
        # the in-process worker may claim it before the answer is written
        assert queued["status"] in ("queued", "running") and queued["version"] == 1
        assert queued["proxies"] == sorted(PROXIES) and queued["features"] == "proxies+encoding"
        no_model(queued)
        fallback = wait_predictor(client, queued["id"])
        assert fallback["status"] == "succeeded", fallback
        assert fallback["mode"] == "fallback" and fallback["n_labels"] == early
        assert "fewer than the minimum of 1000" in fallback["fallback_reason"]
        answer = client.post(
            "/v1/rank", json={**rank_body, "ensemble": "learned", "dataset": "cifar10"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictor_id"] == fallback["id"]
        assert "fallback mode" in answer.json()["note"]

        # -- version 2: enough labels -> the model, with cross-validated metrics
        answer = client.post("/v1/predictors", json={**body, "min_labels": 10})
        assert answer.status_code == 202, answer.text
        trained = wait_predictor(client, answer.json()["id"])
        assert trained["status"] == "succeeded", trained
        assert trained["version"] == 2 and trained["mode"] == "model"
        assert trained["fallback_reason"] is None and trained["n_labels"] == early
        assert METRIC_KEYS <= set(trained["metrics"]) and trained["metrics"]["n"] == early
        assert trained["metrics"]["fold_modes"] == ["model"] * 5
        assert trained["metrics"]["model_weight"] > 0
        assert "cross-validation" in trained["metrics"]["choice"]
        assert -1 <= trained["metrics"]["spearman"] <= 1
        curve = trained["learning_curve"]
        assert [point["labels"] for point in curve] == [25]
        assert curve[0]["repeats"] == 3 and -1 <= curve[0]["spearman_mean"] <= 1
        no_model(trained)

        listed = client.get("/v1/predictors", params={"dataset": "cifar10"})
        assert listed.status_code == 200, listed.text
        assert [p["id"] for p in listed.json()["data"]] == [trained["id"], fallback["id"]]
        no_model(listed.json())

        # -- rank with the learned predictor: best first by predicted quantile
        answer = client.post(
            "/v1/rank", json={**rank_body, "ensemble": "learned", "dataset": "cifar10"}
        )
        assert answer.status_code == 200, answer.text
        ranked = answer.json()
        assert ranked["predictor_id"] == trained["id"]
        assert ranked["note"].startswith("ranked by learned predictor")
        assert [c["rank"] for c in ranked["ranking"]] == list(range(1, n + 1))
        scores = [c["score"] for c in ranked["ranking"]]
        assert scores == sorted(scores, reverse=True)
        no_model(ranked)

        # -- correlations: a 'learned' row from the out-of-fold predictions only
        answer = client.get("/v1/correlations", params={"dataset": "cifar10", "bootstrap": 50})
        assert answer.status_code == 200, answer.text
        learned = [row for row in answer.json()["rows"] if row["name"] == "learned"]
        assert len(learned) == 1 and learned[0]["kind"] == "learned"
        assert learned[0]["note"] == ranked["note"]  # which predictor, fallback or not
        assert learned[0]["n"] == early
        assert math.isclose(learned[0]["spearman"], trained["metrics"]["spearman"], abs_tol=1e-9)

        # -- LATE new labels: the latest predictor is retrained automatically
        report(client, ids[early:], rows[early:])
        latest = client.get("/v1/predictors", params={"dataset": "cifar10"}).json()["data"][0]
        assert latest["version"] == 3 and latest["min_labels"] == 10
        retrained = wait_predictor(client, latest["id"])
        assert retrained["status"] == "succeeded" and retrained["n_labels"] == n


def test_predictor_keys_and_validation(migrated_url: str, serve: Serve) -> None:
    keys = ["w1:write", "r1:read"]
    write, read = {"X-API-Key": "w1"}, {"X-API-Key": "r1"}
    with serve(migrated_url, embedded_worker=False, api_keys=keys) as client:
        body = {"dataset": "cifar10"}
        check_error(client.post("/v1/predictors", json=body), 401, "missing_api_key")
        check_error(client.post("/v1/predictors", json=body, headers=read), 403, "read_only_key")
        # no scores anywhere: which profile to learn from cannot be chosen
        answer = client.post("/v1/predictors", json=body, headers=write)
        check_error(answer, 422, "profile_required", "data_profile_id")
        answer = client.post("/v1/predictors", json={**body, "model": "x"}, headers=write)
        assert answer.status_code == 422, answer.text  # no model upload: unknown field
        empty = {"data": [], "count": 0, "limit": 100, "offset": 0}
        assert client.get("/v1/predictors", headers=read).json() == empty
        check_error(client.get("/v1/predictors/1", headers=read), 404, "not_found")
