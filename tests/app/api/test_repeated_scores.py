"""Repeated scores over HTTP, on SQLite and PostgreSQL: a score job may ask for ``repeats``
(init seeds x batches); each proxy is stored once per repeat setting with its mean, standard
deviation and k, beside the single scores; the mean is that of the single scores the
service computes for each init seed and batch; ranking and correlations read the means."""

from __future__ import annotations

import csv
import io
import math
import statistics

import numpy as np
import pytest
from api_support import SYNTHETIC, Serve, check_error, nb201_items, submit, wait_job
from fastapi.testclient import TestClient

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
]
PROXIES = ["grad_norm", "params", "synflow"]
REPEATS = {"init_seeds": 3, "batches": 2}


def score_job(client: TestClient, ids: list[int], **extra: object) -> dict:
    body = {"architectures": ids, "proxies": PROXIES, "data": SYNTHETIC, **extra}
    answer = client.post("/v1/score-jobs", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def scores(client: TestClient, **params: object) -> list[dict]:
    answer = client.get("/v1/scores", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def by_key(rows: list[dict]) -> dict[tuple[int, str], dict]:
    return {(row["architecture_id"], row["proxy"]): row for row in rows}


def test_repeated_scores_are_the_mean_of_the_single_scores(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, nb201_items(CELLS))
        job = score_job(client, ids, repeats=REPEATS)
        assert job["repeats"] == REPEATS
        assert wait_job(client, job["id"])["status"] == "succeeded"
        repeated = by_key(scores(client, job_id=job["id"]))
        assert len(repeated) == len(ids) * len(PROXIES)
        assert all(r["repeats"] == REPEATS and r["k"] == 6 for r in repeated.values())

        # the single scores of every init seed on every batch (batch b: the profile's seed + b)
        single: dict[tuple[int, str], list[dict]] = {}
        for init_seed in range(REPEATS["init_seeds"]):
            for batch in range(REPEATS["batches"]):
                data = {**SYNTHETIC, "seed": batch}
                one = score_job(client, ids, init_seed=init_seed, data=data)
                assert one["repeats"] == {"init_seeds": 1, "batches": 1}
                assert wait_job(client, one["id"])["status"] == "succeeded"
                for key, row in by_key(scores(client, job_id=one["id"])).items():
                    assert row["k"] == 1 and row["std"] == 0.0
                    single.setdefault(key, []).append(row)
        for key, row in repeated.items():
            runs = single[key]
            assert len(runs) == 6 and row["status"] == "ok", row
            if key[1] == "synflow":  # log scale: the geometric mean, the spread of the logs
                logs = [r["log_value"] for r in runs]
                assert row["log_value"] == pytest.approx(statistics.fmean(logs), rel=1e-9)
                assert row["value"] == pytest.approx(math.exp(row["log_value"]), rel=1e-9)
                assert row["std"] == pytest.approx(statistics.stdev(logs), rel=1e-6, abs=1e-12)
            else:
                values = [r["value"] for r in runs]
                assert row["value"] == pytest.approx(statistics.fmean(values), rel=1e-9)
                assert row["std"] == pytest.approx(statistics.stdev(values), rel=1e-6, abs=1e-12)
        assert repeated[ids[0], "params"]["std"] == 0.0  # params do not depend on weights
        assert repeated[ids[0], "grad_norm"]["std"] > 0.0

        # a repeated request again is a cache hit: complete at once, no new scores
        again = score_job(client, ids, repeats=REPEATS)
        assert again["status"] == "succeeded" and again["counts"] == {"succeeded": len(ids)}
        # reads filter by repeats; single and repeated scores are separate records
        assert len(scores(client, repeat_init_seeds=3, repeat_batches=2)) == len(repeated)
        assert len(scores(client, repeat_init_seeds=1, repeat_batches=1)) == 6 * len(repeated)

        # the CSV has the counts as columns
        answer = client.get("/v1/scores", params={"job_id": job["id"], "format": "csv"})
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert {"repeat_init_seeds", "repeat_batches", "k", "std"} <= set(rows[0])
        assert "repeats" not in rows[0] and rows[0]["repeat_batches"] == "2"

        # ranking on the means: the ranked scores are the repeated ones
        body = {"architectures": ids, "proxies": PROXIES, "data": SYNTHETIC}
        ranked = client.post("/v1/rank", json={**body, "repeats": REPEATS}).json()
        assert ranked["complete"] and ranked["job_id"] is None, ranked
        assert ranked["repeats"] == REPEATS and ranked["init_seed"] == 0
        for candidate in ranked["ranking"]:
            stored = repeated[candidate["architecture_id"], "grad_norm"]["value"]
            assert candidate["scores"]["grad_norm"] == stored
            log = repeated[candidate["architecture_id"], "synflow"]["log_value"]
            assert candidate["scores"]["synflow"] == log
        once = client.post("/v1/rank", json=body).json()
        assert once["repeats"] == {"init_seeds": 1, "batches": 1}
        assert once["ranking"] != ranked["ranking"]

        # correlations read the repeated scores when asked
        items = [{"architecture": a, "dataset": "cifar10", "value": 90.0 + a} for a in ids]
        assert client.post("/v1/accuracies", json={"items": items}).status_code == 200
        params = {"dataset": "cifar10", "bootstrap": 0, "data_profile_id": job["data_profile_id"]}
        answer = client.get(
            "/v1/correlations", params={**params, "repeat_init_seeds": 3, "repeat_batches": 2}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["repeats"] == REPEATS and answer.json()["n_architectures"] == 2


def test_repeats_are_checked(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, data_dir=None, embedded_worker=False) as client:
        ids = submit(client, nb201_items(CELLS[:1]))
        body = {"architectures": ids, "proxies": PROXIES, "data": SYNTHETIC}
        for repeats, field in [
            ({"init_seeds": 0}, "repeats.init_seeds"),
            ({"batches": 11}, "repeats.batches"),
            ({"init_seeds": "3"}, "repeats.init_seeds"),
            ({"seeds": 3}, "repeats.seeds"),
        ]:
            answer = client.post("/v1/score-jobs", json={**body, "repeats": repeats})
            check_error(answer, 422, "validation_error", field)
        answer = client.post(
            "/v1/rank",
            json={**body, "repeats": REPEATS, "ensemble": "learned", "dataset": "cifar10"},
        )
        check_error(answer, 422, "repeats_unsupported", "repeats")
        answer = client.get("/v1/scores", params={"repeat_batches": 0})
        assert answer.status_code == 422, answer.text
        assert client.get("/v1/score-jobs").json()["count"] == 0  # nothing was queued


def test_repeated_batches_of_an_uploaded_profile(migrated_url: str, serve: Serve) -> None:
    """The worker sends an upload to its scoring process once; batches drawn later for
    repeats (other seeds of the draw) come from the kept file."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8),
        y_train=np.arange(24, dtype=np.int64) % 10,
    )
    with serve(migrated_url, data_dir=None) as client:
        upload = client.post(
            "/v1/data-profiles",
            files={"file": ("u.npz", buffer.getvalue())},
            data={"batch_size": "8"},
        )
        assert upload.status_code == 201, upload.text
        data = {"source": "uploaded", "data_profile_id": upload.json()["id"]}
        ids = submit(client, nb201_items(CELLS[:1]))
        once = score_job(client, ids, data=data)
        assert wait_job(client, once["id"])["status"] == "succeeded"
        repeated = score_job(client, ids, data=data, repeats={"init_seeds": 1, "batches": 3})
        finished = wait_job(client, repeated["id"])
        assert finished["status"] == "succeeded", finished
        rows = scores(client, job_id=repeated["id"])
        assert all(r["k"] == 3 and r["status"] == "ok" for r in rows), rows
