"""Scoring data is explicit: a request that names no data is scored on the server's
default data profile (the CIFAR-10 sample when the server has it, else a synthetic batch),
every answer names the profile it used in one line, profiles can be listed, and a
correlation that names no profile uses the default or says which profiles to choose from."""

from __future__ import annotations

import io

import numpy as np
import pytest
from api_support import SHARED_DATA, SYNTHETIC, Serve, check_error, nb201_items, submit, wait_job

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
]
needs_sample = pytest.mark.skipif(
    not (SHARED_DATA / "cifar10_sample.npz").is_file(),
    reason=f"the CIFAR-10 sample is not at {SHARED_DATA} (see ../shared/data/README.md)",
)


def _score(client, ids: list[int], data: dict | None = None) -> dict:
    body = {"architectures": ids, "proxies": ["params", "synflow"]}
    if data is not None:
        body["data"] = data
    created = client.post("/v1/score-jobs", json=body)
    assert created.status_code == 202, created.text
    return wait_job(client, created.json()["id"])


def test_without_a_data_dir_the_default_is_synthetic_and_says_so(
    migrated_url: str, serve: Serve
) -> None:
    with serve(migrated_url, data_dir=None) as client:
        config = client.get("/v1/config").json()
        assert config["default_data"]["source"] == "synthetic"
        assert "not real data" in config["default_data_description"]
        job = _score(client, submit(client, nb201_items(CELLS[:1])))
        assert job["data_profile"] == config["default_data_description"]


@needs_sample
def test_requests_without_data_score_on_the_cifar10_sample(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url) as client:
        config = client.get("/v1/config").json()
        assert config["default_data"] | {"file": "cifar10_sample.npz"} == config["default_data"]
        ids = submit(client, nb201_items(CELLS))
        job = _score(client, ids)
        assert "cifar10_sample.npz" in job["data_profile"], job
        ranked = client.post(
            "/v1/rank", json={"architectures": ids, "proxies": ["params", "synflow"]}
        ).json()
        assert ranked["complete"] and ranked["data_profile_id"] == job["data_profile_id"]
        assert ranked["data_profile"] == job["data_profile"]


@needs_sample
def test_correlations_without_a_profile_use_the_default(migrated_url: str, serve: Serve) -> None:
    """Seen: after scoring on CIFAR-10, a rank without data re-scored everything on noise,
    and GET /v1/correlations?dataset=cifar10 failed with profile_required."""
    with serve(migrated_url) as client:
        ids = submit(client, nb201_items(CELLS))
        on_cifar = _score(client, ids)
        _score(client, ids, SYNTHETIC)  # a second profile with scores
        reports = [
            {"architecture": a, "dataset": "cifar10", "value": v}
            for a, v in zip(ids, (90.0, 80.0, 85.0), strict=True)
        ]
        assert client.post("/v1/accuracies", json={"items": reports}).status_code == 200
        report = client.get("/v1/correlations?dataset=cifar10&bootstrap=0")
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["data_profile_id"] == on_cifar["data_profile_id"]
        assert "cifar10_sample.npz" in body["data_profile"] and body["n_architectures"] == 3
        listed = client.get("/v1/data-profiles").json()
        assert listed["count"] == 2 and len(listed["data"]) == 2
        assert on_cifar["data_profile_id"] in {p["id"] for p in listed["data"]}
        assert all(p["description"] for p in listed["data"])
        page = client.get("/v1/data-profiles?limit=1&offset=1").json()
        assert page["count"] == 2 and [p["id"] for p in page["data"]] == [listed["data"][1]["id"]]


def test_correlations_name_the_candidates_when_the_default_has_no_scores(
    migrated_url: str, serve: Serve
) -> None:
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, nb201_items(CELLS[:2]))
        for seed in (1, 2):  # two synthetic profiles, neither the default (seed 0)
            _score(client, ids, {**SYNTHETIC, "seed": seed})
        error = check_error(
            client.get("/v1/correlations?dataset=cifar10"),
            422,
            "profile_required",
            "data_profile_id",
        )
        profiles = client.get("/v1/data-profiles").json()["data"]
        for profile in profiles:
            assert f"{profile['id']}: {profile['description']}" in error["message"]


def test_an_uploaded_default_profile_is_used_and_described(migrated_url: str, serve: Serve) -> None:
    buffer = io.BytesIO()
    x = np.random.default_rng(0).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    np.savez(buffer, x_train=x, y_train=np.arange(40) % 10)
    default = '{"source": "uploaded", "data_profile_id": 1}'
    with serve(migrated_url, default_data=default, data_dir=None) as client:
        form = {"batch_size": "8"}
        uploaded = client.post(
            "/v1/data-profiles", files={"file": ("d.npz", buffer.getvalue())}, data=form
        )
        assert uploaded.status_code == 201 and uploaded.json()["id"] == 1, uploaded.text
        config = client.get("/v1/config").json()
        assert config["default_data_description"] == uploaded.json()["description"]
        assert "8 images of an uploaded .npz" in config["default_data_description"]
        ids = submit(client, nb201_items(CELLS))
        job = _score(client, ids)
        assert job["data_profile_id"] == 1
        reports = [{"architecture": a, "dataset": "c", "value": 50.0 + a} for a in ids]
        assert client.post("/v1/accuracies", json={"items": reports}).status_code == 200
        _score(client, ids, SYNTHETIC)  # another profile with scores: the default still wins
        report = client.get("/v1/correlations?dataset=c&bootstrap=0").json()
        assert report["data_profile_id"] == 1, report
