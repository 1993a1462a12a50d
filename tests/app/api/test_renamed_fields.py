"""One name per concept: ``architectures``, ``data_profile_id`` and ``init_seed`` everywhere,
the old names (``candidates``, ``profile_id``, ``seed``) still answered for one release and
marked deprecated in the OpenAPI document; giving an old and a new name at once is a 422
on the old one."""

from __future__ import annotations

import pytest
from api_support import SYNTHETIC, Serve, check_error, nb201_items, submit, wait_job

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
]
PROXIES = ["params", "synflow"]


@pytest.fixture
def scored(migrated_url: str, serve: Serve):
    """A client of a service with three cells scored (init seed 2) and accuracies reported;
    yields (client, ids, profile id)."""
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, nb201_items(CELLS))
        job = {"architectures": ids, "proxies": PROXIES, "data": SYNTHETIC, "init_seed": 2}
        created = client.post("/v1/score-jobs", json=job)
        assert created.status_code == 202, created.text
        profile = wait_job(client, created.json()["id"])["data_profile_id"]
        items = [
            {"architecture": a, "dataset": "cifar10", "value": 90.0 + i}
            for i, a in enumerate(ids)
        ]
        assert client.post("/v1/accuracies", json={"items": items}).status_code == 200
        yield client, ids, profile


def test_rank_takes_architectures_and_still_candidates(scored) -> None:
    client, ids, _ = scored
    body = {"proxies": PROXIES, "data": SYNTHETIC, "init_seed": 2}
    new = client.post("/v1/rank", json={**body, "architectures": ids})
    old = client.post("/v1/rank", json={**body, "candidates": ids})
    assert new.status_code == old.status_code == 200, (new.text, old.text)
    assert new.json()["complete"] and new.json() == old.json()
    both = client.post("/v1/rank", json={**body, "architectures": ids, "candidates": ids})
    check_error(both, 422, "validation_error", "candidates")
    check_error(client.post("/v1/rank", json=body), 422, "validation_error", "architectures")


def test_queries_take_data_profile_id_and_init_seed_and_still_the_old_names(scored) -> None:
    client, ids, profile = scored
    base = {"dataset": "cifar10", "proxies": "params,synflow", "bootstrap": 0}
    new = client.get("/v1/correlations", params={**base, "data_profile_id": profile,
                                                  "init_seed": 2})  # fmt: skip
    old = client.get("/v1/correlations", params={**base, "profile_id": profile, "seed": 2})
    assert new.status_code == old.status_code == 200, (new.text, old.text)
    assert new.json() == old.json()
    answer = new.json()
    assert answer["init_seed"] == answer["seed"] == 2 and answer["n_architectures"] == 3
    # the seed is applied, not ignored: there are no scores of init seed 0
    unseeded = client.get("/v1/correlations", params={**base, "data_profile_id": profile})
    assert unseeded.json()["n_architectures"] == 0

    both = {**base, "data_profile_id": profile, "profile_id": profile}
    check_error(client.get("/v1/correlations", params=both), 422, "renamed_parameter", "profile_id")
    both = {**base, "init_seed": 2, "seed": 2}
    check_error(client.get("/v1/correlations", params=both), 422, "renamed_parameter", "seed")

    scores = client.get("/v1/scores", params={"data_profile_id": profile}).json()["data"]
    assert len(scores) == len(ids) * len(PROXIES)
    assert all(s["init_seed"] == s["seed"] == 2 for s in scores)
    assert client.get("/v1/scores", params={"profile_id": profile}).json()["data"] == scores
    csv = client.get("/v1/scores", params={"data_profile_id": profile, "format": "csv"}).text
    assert csv.splitlines()[0].split(",")[:5] == [
        "architecture_id", "proxy", "proxy_version", "data_profile_id", "init_seed"
    ]  # fmt: skip


def test_predictor_and_uploaded_data_take_data_profile_id(scored) -> None:
    client, _, profile = scored
    body = {"dataset": "cifar10", "proxies": PROXIES, "init_seed": 2, "min_labels": 2}
    for name in ("data_profile_id", "profile_id"):
        answer = client.post("/v1/predictors", json={**body, name: profile})
        assert answer.status_code == 202, answer.text
        assert answer.json()["data_profile_id"] == profile
    both = {**body, "data_profile_id": profile, "profile_id": profile}
    check_error(client.post("/v1/predictors", json=both), 422, "validation_error", "profile_id")
    for name in ("data_profile_id", "profile_id"):
        data = {"source": "uploaded", name: 999}
        job = {"architectures": [1], "proxies": ["params"], "data": data}
        answer = client.post("/v1/score-jobs", json=job)
        check_error(answer, 422, "unknown_profile", "data.data_profile_id")


def test_the_openapi_document_marks_the_old_names_deprecated(scored) -> None:
    client, _, _ = scored
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    rank = schemas["RankIn"]
    assert rank["properties"]["candidates"]["deprecated"] is True
    assert "deprecated" not in rank["properties"]["architectures"]
    assert rank["allOf"] == [{"oneOf": [{"required": ["architectures"]},
                                         {"required": ["candidates"]}]}]  # fmt: skip
    assert schemas["PredictorIn"]["properties"]["profile_id"]["deprecated"] is True
    assert schemas["UploadedData"]["properties"]["profile_id"]["deprecated"] is True
    for name in ("ScoreOut", "CorrelationsOut"):
        assert schemas[name]["properties"]["seed"]["deprecated"] is True
        assert "init_seed" in schemas[name]["required"]
    parameters = {
        p["name"]: p for p in document["paths"]["/v1/correlations"]["get"]["parameters"]
    }
    assert parameters["profile_id"]["deprecated"] and parameters["seed"]["deprecated"]
    assert not parameters["data_profile_id"].get("deprecated")
    assert not parameters["init_seed"].get("deprecated")
    # No request or query anywhere still uses an old name without marking it deprecated.
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in ("profile_id", "seed"):
                    assert parameter.get("deprecated"), (path, parameter["name"])
