"""The reads a client needs: lists of architectures, score jobs and data profiles, scores by
job and by several architectures, one page shape everywhere (data, count, limit, offset),
and a Location header on every 201/202."""

from __future__ import annotations

import io

import numpy as np
from api_support import SYNTHETIC, TINY, Serve, nb201_items, submit, wait_job

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
]
# One function class, two cells (the output is the input).
TWINS = [
    "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|none~2|",
]
PAGE_KEYS = {"data", "count", "limit", "offset"}
TINY_FORM = {"batch_size": "8"}  # an upload's form fields are text


def test_architectures_are_listed_filtered_and_paged(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        ids = submit(client, nb201_items(CELLS + TWINS))
        everything = client.get("/v1/architectures").json()
        assert set(everything) == PAGE_KEYS and everything["count"] == 5
        assert [a["id"] for a in everything["data"]] == sorted(ids)
        page = client.get("/v1/architectures?limit=2&offset=1").json()
        assert (page["count"], page["limit"], page["offset"]) == (5, 2, 1)
        assert [a["id"] for a in page["data"]] == sorted(ids)[1:3]
        twin_class = everything["data"][3]["canonical_key"]
        same_class = client.get(f"/v1/architectures?canonical_key={twin_class}").json()
        assert [a["id"] for a in same_class["data"]] == ids[3:]
        report = {"architecture": ids[0], "dataset": "cifar10", "value": 90.0}
        assert client.post("/v1/accuracies", json={"items": [report]}).status_code == 200
        labelled = client.get("/v1/architectures?has_accuracy=true").json()
        unlabelled = client.get("/v1/architectures?has_accuracy=false").json()
        assert [a["id"] for a in labelled["data"]] == [ids[0]] and unlabelled["count"] == 4
        assert client.get("/v1/architectures?space=nb101").json()["count"] == 0


def test_score_jobs_are_listed_by_status_with_locations(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url) as client:
        ids = submit(client, nb201_items(CELLS))
        job = {"architectures": ids, "proxies": ["params"], "data": SYNTHETIC}
        created = client.post("/v1/score-jobs", json=job)
        assert created.headers["location"] == f"/v1/score-jobs/{created.json()['id']}"
        assert client.get(created.headers["location"]).status_code == 200
        wait_job(client, created.json()["id"])
        listed = client.get("/v1/score-jobs").json()
        assert set(listed) == PAGE_KEYS and listed["count"] == 1
        assert listed["data"][0]["data_profile"]
        succeeded = client.get("/v1/score-jobs?status=succeeded").json()
        assert [j["id"] for j in succeeded["data"]] == [created.json()["id"]]
        assert client.get("/v1/score-jobs?status=queued").json()["count"] == 0
        assert client.get("/v1/score-jobs?status=finished").status_code == 422


def test_scores_by_job_and_by_several_architectures(migrated_url: str, serve: Serve) -> None:
    """Seen: ?architecture_id=6&architecture_id=7 returned only 7, ?job_id=1 was ignored."""
    with serve(migrated_url) as client:
        ids = submit(client, nb201_items(CELLS))
        first = client.post(
            "/v1/score-jobs",
            json={"architectures": ids[:2], "proxies": ["params"], "data": SYNTHETIC},
        ).json()
        second = client.post(
            "/v1/score-jobs",
            json={"architectures": ids, "proxies": ["flops"], "data": SYNTHETIC},
        ).json()
        wait_job(client, first["id"]), wait_job(client, second["id"])
        both = client.get(f"/v1/scores?architecture_id={ids[0]}&architecture_id={ids[1]}").json()
        assert {s["architecture_id"] for s in both["data"]} == set(ids[:2])
        assert both["count"] == 4
        by_job = client.get(f"/v1/scores?job_id={first['id']}").json()
        assert by_job["count"] == 2
        assert {(s["architecture_id"], s["proxy"]) for s in by_job["data"]} == {
            (ids[0], "params"),
            (ids[1], "params"),
        }
        assert client.get("/v1/scores?job_id=999").json()["count"] == 0


def test_predictors_are_paged_and_uploads_have_a_location(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        buffer = io.BytesIO()
        x = np.random.default_rng(0).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
        np.savez(buffer, x_train=x, y_train=np.arange(40) % 10)
        uploaded = client.post(
            "/v1/data-profiles", files={"file": ("d.npz", buffer.getvalue())}, data=TINY_FORM
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.headers["location"] == f"/v1/data-profiles/{uploaded.json()['id']}"
        ids = submit(client, nb201_items(CELLS, TINY))
        job = {"architectures": ids, "proxies": ["params"], "data": SYNTHETIC}
        assert client.post("/v1/score-jobs", json=job).status_code == 202
        body = {
            "dataset": "cifar10",
            "data_profile_id": uploaded.json()["id"],
            "proxies": ["params"],
        }
        queued = [client.post("/v1/predictors", json=body) for _ in range(3)]
        assert all(q.status_code == 202 for q in queued)
        assert queued[0].headers["location"] == f"/v1/predictors/{queued[0].json()['id']}"
        page = client.get("/v1/predictors?limit=2&offset=1").json()
        assert (page["count"], page["limit"], page["offset"]) == (3, 2, 1)
        assert [p["id"] for p in page["data"]] == [queued[1].json()["id"], queued[0].json()["id"]]
