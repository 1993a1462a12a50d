"""Edge cases answered right: cancelling a finished job is a conflict; a degenerate cell
(no path from input to output) ranks with its real, worst scores (``null`` in a ranking
means only "not scored yet"); a read-only key ranks what is stored and scored."""

from __future__ import annotations

from api_support import SYNTHETIC, Serve, check_error, nb201_items, submit, wait_job

KEYS = ["w1:write", "r1:read"]
WRITE, READ = {"X-API-Key": "w1"}, {"X-API-Key": "r1"}

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_cancelling_a_finished_job_is_409_and_changes_nothing(
    migrated_url: str, serve: Serve
) -> None:
    with serve(migrated_url) as client:
        ids = submit(client, nb201_items([CELL]))
        job = {"architectures": ids, "proxies": ["params"], "data": SYNTHETIC}
        created = client.post("/v1/score-jobs", json=job).json()
        done = wait_job(client, created["id"])
        assert done["status"] == "succeeded"
        error = check_error(client.delete(f"/v1/score-jobs/{created['id']}"), 409, "job_finished")
        assert "succeeded" in error["message"]
        after = client.get(f"/v1/score-jobs/{created['id']}").json()
        assert after["status"] == "succeeded" and after["counts"] == done["counts"]


def test_a_queued_job_is_cancelled_and_cancelling_again_is_harmless(
    migrated_url: str, serve: Serve
) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        ids = submit(client, nb201_items([CELL]))
        job = {"architectures": ids, "proxies": ["params"], "data": SYNTHETIC}
        created = client.post("/v1/score-jobs", json=job).json()
        for _ in range(2):
            response = client.delete(f"/v1/score-jobs/{created['id']}")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "cancelled"


def test_a_degenerate_cell_ranks_last_with_its_real_scores(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url) as client:
        ids = submit(client, nb201_items([CELL, ALL_NONE]))
        for proxies in (["synflow"], ["synflow", "params"]):
            body = {"architectures": ids, "proxies": proxies, "data": SYNTHETIC, "wait": True}
            ranking = client.post("/v1/rank", json=body).json()
            assert ranking["complete"], ranking
            best, worst = ranking["ranking"]
            assert best["architecture_id"] == ids[0] and worst["architecture_id"] == ids[1]
            assert (best["rank"], worst["rank"]) == (1, 2)
            assert worst["score"] is not None and worst["score"] < best["score"]
            assert all(value is not None for value in worst["scores"].values()), worst
        (stored,) = client.get(f"/v1/scores?architecture_id={ids[1]}&proxy=synflow").json()["data"]
        assert stored["value"] == 0.0 and stored["status"] == "ok"


def test_a_read_only_key_ranks_stored_scores_and_is_told_why_not_otherwise(
    migrated_url: str, serve: Serve
) -> None:
    with serve(migrated_url, api_keys=KEYS) as client:
        ids = submit(client, nb201_items([CELL, ALL_NONE]), headers=WRITE)
        body = {"architectures": ids, "proxies": ["params"], "data": SYNTHETIC}
        scored = client.post("/v1/rank", json={**body, "wait": True}, headers=WRITE).json()
        assert scored["complete"]
        ranked = client.post("/v1/rank", json=body, headers=READ)
        assert ranked.status_code == 200, ranked.text
        assert ranked.json()["ranking"] == scored["ranking"]
        # Scores it would have to queue, a spec it would have to store, a new profile.
        unscored = {**body, "proxies": ["flops"]}
        error = check_error(
            client.post("/v1/rank", json=unscored, headers=READ), 403, "read_only_key"
        )
        assert "2 of 2 have no stored scores of flops" in error["message"]
        spec = {**body, "architectures": nb201_items([CELL])}
        check_error(
            client.post("/v1/rank", json=spec, headers=READ),
            403,
            "read_only_key",
            "architectures[0]",
        )
        other = {**body, "data": {**SYNTHETIC, "seed": 9}}
        check_error(client.post("/v1/rank", json=other, headers=READ), 403, "read_only_key", "data")
        assert client.get("/v1/data-profiles", headers=READ).json()["count"] == 1
