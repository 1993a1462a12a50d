"""Prune jobs over HTTP, on SQLite and PostgreSQL: pruning at initialisation queued and run
by the embedded worker, deduplicated like scores, read back with per-layer summaries, the
masks downloaded as safetensors equal to ``zero_cost.prune.masks`` computed directly;
validation, unknown ids, masks before they exist, and a refused architecture."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from api_support import SYNTHETIC, TINY, Serve, check_error, nb201_items, submit, wait_job
from fastapi.testclient import TestClient

from app.profiles import load_batch
from zero_cost import prune, spaces

CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


def wait_prune(client: TestClient, job_id: int, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/v1/prune-jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if body["status"] not in {"queued", "running"}:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"prune job {job_id} still {body['status']} after {timeout:.0f}s")
        time.sleep(0.05)


def post(client: TestClient, **body: object) -> dict:
    answer = client.post("/v1/prune-jobs", json={"data": SYNTHETIC, **body})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["Location"] == f"/v1/prune-jobs/{job['id']}"
    return job


def direct_masks(client: TestClient, job: dict) -> dict[str, torch.Tensor]:
    """The masks ``zero_cost.prune.masks`` computes for the job's network and batch."""
    profile = client.get(f"/v1/data-profiles/{job['data_profile_id']}").json()
    batch = load_batch(profile["source"], profile["config"], None, None)
    space = spaces.get("nb201", **TINY)
    model = space.build(space.parse(CELL), num_classes=batch.num_classes, seed=job["init_seed"])
    return prune.masks(
        model,
        job["method"],
        **{job["requested"]: job[job["requested"]]},
        scope=job["scope"],
        iterations=job["iterations"],
        inputs=batch.inputs,
        targets=batch.targets,
        seed=job["init_seed"],
    )


def test_prune_round_trip(migrated_url: str, serve: Serve, tmp_path: Path) -> None:
    with serve(migrated_url) as client:
        (architecture_id,) = submit(client, nb201_items([CELL]))
        spec = nb201_items([CELL])[0]
        job = post(client, architecture=spec, method="snip", sparsity=0.9)
        assert job["architecture_id"] == architecture_id and job["created"] is True
        assert job["status"] in {"queued", "running", "succeeded"}
        assert job["scope"] == "global" and job["iterations"] == 1 and job["init_seed"] == 0
        done = wait_prune(client, job["id"])
        assert done["status"] == "succeeded", done
        assert done["requested"] == "sparsity" and done["sparsity"] == pytest.approx(0.9)
        assert done["compression"] == pytest.approx(10)
        assert done["version"] and "synthetic" in done["data_profile"].lower()
        layers = done["layers"]
        assert layers and all(x["total"] == torch.Size(x["shape"]).numel() for x in layers)
        assert all(x["fraction"] == pytest.approx(x["kept"] / x["total"]) for x in layers)
        kept, total = sum(x["kept"] for x in layers), sum(x["total"] for x in layers)
        assert done["achieved_sparsity"] == pytest.approx(1 - kept / total)
        assert done["achieved_sparsity"] == pytest.approx(0.9, abs=0.01)
        assert done["collapsed"] == [x["name"] for x in layers if x["kept"] == 0]

        # the download is the library's masks for the same network, seed and batch
        answer = client.get(f"/v1/prune-jobs/{job['id']}/masks")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/octet-stream"
        assert ".safetensors" in answer.headers["content-disposition"]
        path = tmp_path / "masks.safetensors"
        path.write_bytes(answer.content)
        downloaded = prune.load_masks(path)
        expected = direct_masks(client, done)
        assert list(downloaded) == list(expected) == [x["name"] for x in layers]
        for name, mask in expected.items():
            assert torch.equal(downloaded[name], mask.cpu()), name

        # deduplicated: the same request (by id, or the same density as a compression)
        # answers the same job, in its state, and stores nothing new
        again = post(client, architecture=architecture_id, method="snip", sparsity=0.9)
        assert again["id"] == job["id"] and again["created"] is False
        assert again["status"] == "succeeded" and again["layers"] == layers
        same = post(client, architecture=architecture_id, method="snip", compression=10)
        assert same["id"] == job["id"] and same["requested"] == "sparsity"
        listed = client.get("/v1/prune-jobs").json()
        assert listed["count"] == 1 and [j["id"] for j in listed["data"]] == [job["id"]]
        assert {"data", "count", "limit", "offset"} == set(listed)

        # other methods and settings are other jobs
        others = [
            post(client, architecture=architecture_id, method="magnitude", compression=4),
            post(
                client,
                architecture=architecture_id,
                method="synflow",
                sparsity=0.8,
                scope="layerwise",
                iterations=3,
                init_seed=1,
            ),
        ]
        assert len({job["id"], *(o["id"] for o in others)}) == 3
        # (waited for first: building a network here while the worker builds one would
        # share torch's global generator between the two threads)
        for finished in [wait_prune(client, other["id"]) for other in others]:
            assert finished["status"] == "succeeded", finished
            other = finished
            answer = client.get(f"/v1/prune-jobs/{other['id']}/masks")
            path.write_bytes(answer.content)
            downloaded = prune.load_masks(path)
            for name, mask in direct_masks(client, finished).items():
                assert torch.equal(downloaded[name], mask.cpu()), (other["method"], name)
        layerwise = wait_prune(client, others[1]["id"])
        assert layerwise["iterations"] == 3 and layerwise["scope"] == "layerwise"
        assert all(x["fraction"] == pytest.approx(0.2, abs=0.05) for x in layerwise["layers"])
        assert client.get("/v1/prune-jobs", params={"status": "succeeded"}).json()["count"] == 3
        by_method = client.get("/v1/prune-jobs", params={"limit": 1}).json()
        assert by_method["count"] == 3 and len(by_method["data"]) == 1


def test_prune_job_errors(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        (architecture_id,) = submit(client, nb201_items([CELL]))
        body = {"architecture": architecture_id, "method": "snip", "data": SYNTHETIC}
        cases = [
            ({}, "target_required", "sparsity"),
            ({"sparsity": 0.5, "compression": 2}, "target_conflict", "compression"),
            ({"sparsity": 0.5, "method": "nope"}, "unknown_method", "method"),
            ({"sparsity": 1.0}, None, "sparsity"),
            ({"sparsity": 0}, None, "sparsity"),
            ({"compression": 1}, None, "compression"),
            ({"sparsity": 0.5, "scope": "per-layer"}, None, "scope"),
            ({"sparsity": 0.5, "iterations": 0}, None, "iterations"),
            ({"sparsity": 0.5, "iterations": 1001}, None, "iterations"),
            ({"sparsity": 0.5, "architecture": 999}, "unknown_architecture", "architecture"),
            ({"sparsity": "0.5"}, None, "sparsity"),
        ]
        for change, code, field in cases:
            answer = client.post("/v1/prune-jobs", json={**body, **change})
            assert answer.status_code == 422, (change, answer.text)
            assert answer.json()["field"] == field, (change, answer.json())
            if code is not None:
                assert answer.json()["code"] == code, (change, answer.json())
        check_error(client.get("/v1/prune-jobs/999"), 404, "not_found")
        check_error(client.get("/v1/prune-jobs/999/masks"), 404, "not_found")

        # no worker runs: the job stays queued and has no masks yet
        job = post(client, architecture=architecture_id, method="synflow", sparsity=0.5)
        assert job["status"] == "queued" and job["iterations"] == 100
        assert job["layers"] is None and job["achieved_sparsity"] is None
        check_error(client.get(f"/v1/prune-jobs/{job['id']}/masks"), 409, "job_not_succeeded")


def test_oversized_architecture_fails_with_the_reason(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, max_params=100) as client:
        (architecture_id,) = submit(client, nb201_items([CELL]))
        job = post(client, architecture=architecture_id, method="magnitude", sparsity=0.5)
        failed = wait_prune(client, job["id"])
        assert failed["status"] == "failed", failed
        assert "ZC_MAX_PARAMS" in failed["error"] and failed["attempts"] == 1
        assert failed["layers"] is None
        check_error(client.get(f"/v1/prune-jobs/{job['id']}/masks"), 409, "job_not_succeeded")
        # the worker survives: it goes on with the next job (refused as well, for the limit)
        answer = client.post(
            "/v1/score-jobs",
            json={"architectures": [architecture_id], "proxies": ["snip"], "data": SYNTHETIC},
        )
        assert answer.status_code == 202, answer.text
        scored = wait_job(client, answer.json()["id"])
        assert scored["status"] == "failed" and "ZC_MAX_PARAMS" in scored["errors"][0]["error"]
    # asked again (here with no worker to take it), the failed job is queued again: its
    # failure might have passed
    with serve(migrated_url, max_params=100, embedded_worker=False) as client:
        again = post(client, architecture=architecture_id, method="magnitude", sparsity=0.5)
        assert again["id"] == job["id"] and again["created"] is False
        assert again["status"] == "queued" and again["attempts"] == 0, again
        assert again["error"] is None, again


def test_pruning_past_the_time_limit_fails(migrated_url: str, serve: Serve) -> None:
    """Pruning runs in the worker's scoring process, under ZC_ITEM_TIMEOUT_SECONDS."""
    with serve(migrated_url, item_timeout_seconds=0.05) as client:
        (architecture_id,) = submit(client, nb201_items([CELL]))
        job = post(
            client, architecture=architecture_id, method="synflow", sparsity=0.9, iterations=1000
        )
        failed = wait_prune(client, job["id"])
        assert failed["status"] == "failed", failed
        assert failed["error"].startswith("TimeLimitExceeded: pruning took longer"), failed
