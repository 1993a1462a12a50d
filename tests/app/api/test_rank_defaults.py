"""A rank request that names no proxies ranks with the recommended label-free ranker of the
architectures' space (``zero_cost.ensemble.recommended``), both its stages, shown in GET
/v1/config; a request may give a second stage of its own; every rank answer names the
proxies of both stages (with versions), the aggregation and the second stage it ranked
with."""

from __future__ import annotations

import pytest
from api_support import SYNTHETIC, TINY, Serve, check_error, nb201_items, submit, wait_job

from zero_cost import ensemble, proxies

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
]
MORE_CELLS = [
    *CELLS,
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|",
    "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|",
]


def test_rank_without_proxies_uses_the_recommended_ranker(migrated_url: str, serve: Serve) -> None:
    choice = ensemble.recommended("nb201").ranker
    assert choice.second_stage is not None
    assert all(not proxies.get(p).needs_labels for p in choice.members)
    second = {
        "proxies": list(choice.second_stage.proxies),
        "fraction": choice.second_stage.fraction,
    }
    with serve(migrated_url, data_dir=None) as client:
        config = client.get("/v1/config").json()["recommended_rankers"]
        assert config["nb201"] == {
            "proxies": list(choice.proxies),
            "ensemble": choice.method,
            "second_stage": second,
            "chosen_on": "nb201",
        }
        ids = submit(client, nb201_items(CELLS, TINY))
        body = {"architectures": ids, "data": SYNTHETIC, "wait": True}
        answer = client.post("/v1/rank", json=body)
        assert answer.status_code == 200, answer.text
        ranked = answer.json()
        assert ranked["complete"], ranked
        assert ranked["ensemble"] == choice.method and ranked["second_stage"] == second
        assert ranked["proxy_versions"] == {p: proxies.get(p).version for p in choice.members}
        assert set(ranked["ranking"][0]["scores"]) == set(choice.members)
        assert_scores_are_the_rankers(ranked, choice)

        named = client.post("/v1/rank", json={**body, "proxies": ["params"]}).json()
        assert named["ensemble"] == "log_rank" and named["proxy_versions"] == {"params": "1"}
        assert named["second_stage"] is None
        voted = client.post("/v1/rank", json={**body, "ensemble": "vote"}).json()
        assert voted["ensemble"] == "vote" and set(voted["proxy_versions"]) == set(choice.members)
        assert voted["second_stage"] == second


def test_rank_with_a_second_stage_of_its_own(migrated_url: str, serve: Serve) -> None:
    """The answer names both stages, and its scores are ``zero_cost.ensemble``'s two-stage
    scores of the proxy scores it returns; a second stage of the whole list orders it by
    the second stage alone."""
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, nb201_items(MORE_CELLS, TINY))
        stage = {"proxies": ["synflow", "nwot"], "fraction": 0.5}
        body = {"architectures": ids, "data": SYNTHETIC, "wait": True, "proxies": ["params"]}
        ranked = client.post("/v1/rank", json={**body, "second_stage": stage}).json()
        assert ranked["complete"], ranked
        assert ranked["second_stage"] == stage
        assert list(ranked["proxy_versions"]) == ["params", "synflow", "nwot"]
        chosen = ensemble.Ranker(
            ("params",), "log_rank", ensemble.SecondStage(("synflow", "nwot"), 0.5)
        )
        assert_scores_are_the_rankers(ranked, chosen)
        # The second stage is scored for the first stage's best half only.
        best = [r for r in ranked["ranking"] if r["score"] > 1]
        assert len(best) == 2 and [r["rank"] for r in best] == [1, 2]
        for row in ranked["ranking"]:
            stored = {p for p in ("synflow", "nwot") if row["scores"][p] is not None}
            assert stored == ({"synflow", "nwot"} if row in best else set()), row
        again = client.post("/v1/rank", json={**body, "second_stage": stage, "wait": False})
        assert again.json()["complete"] and again.json()["job_id"] is None
        assert again.json()["ranking"] == ranked["ranking"]
        # Without "fraction", 0.2; a second stage may also be given with the recommended ranker.
        whole = client.post(
            "/v1/rank", json={**body, "proxies": None, "second_stage": {"proxies": ["flops"]}}
        ).json()
        assert whole["second_stage"] == {"proxies": ["flops"], "fraction": 0.2}
        first = ensemble.recommended("nb201").ranker.proxies
        assert list(whole["proxy_versions"]) == [*first, "flops"]


def test_rank_without_waiting_queues_one_stage_at_a_time(migrated_url: str, serve: Serve) -> None:
    """Without ``wait``: first the first stage's scores of every candidate, then (asked
    again) the second stage's of the first stage's best, then complete."""
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, nb201_items(MORE_CELLS, TINY))
        stage = {"proxies": ["nwot"], "fraction": 0.25}
        body = {
            "architectures": ids,
            "data": SYNTHETIC,
            "proxies": ["params"],
            "second_stage": stage,
        }
        jobs = []
        for _ in range(2):
            answer = client.post("/v1/rank", json=body).json()
            assert not answer["complete"] and answer["job_id"] is not None
            jobs.append(client.get(f"/v1/score-jobs/{answer['job_id']}").json())
            assert wait_job(client, answer["job_id"])["status"] == "succeeded"
        assert [job["proxies"] for job in jobs] == [["params"], ["nwot"]]
        assert [job["total"] for job in jobs] == [4, 1]
        done = client.post("/v1/rank", json=body).json()
        assert done["complete"] and done["job_id"] is None
        assert [r["rank"] for r in done["ranking"]] == [1, 2, 3, 4]


def test_a_wait_that_runs_out_queues_no_second_stage_yet(migrated_url: str, serve: Serve) -> None:
    """While the first stage's job is pending, its best are not known: no second job."""
    with serve(migrated_url, data_dir=None, rank_wait_seconds=0) as client:
        ids = submit(client, nb201_items(MORE_CELLS, TINY))
        body = {"architectures": ids, "data": SYNTHETIC, "wait": True}
        answer = client.post("/v1/rank", json=body).json()
        assert not answer["complete"]
        first = ensemble.recommended("nb201").ranker.proxies
        job = client.get(f"/v1/score-jobs/{answer['job_id']}").json()
        assert job["proxies"] == list(first) and job["total"] == len(ids)
        assert client.get("/v1/score-jobs").json()["count"] == 1


def test_rank_rejects_a_bad_second_stage(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, nb201_items(CELLS[:1], TINY))
        body = {"architectures": ids, "data": SYNTHETIC, "proxies": ["params"]}
        for stage, field in (
            ({"proxies": ["params"], "fraction": 0}, "second_stage.fraction"),
            ({"proxies": ["params"], "fraction": 1.5}, "second_stage.fraction"),
            ({"proxies": []}, "second_stage.proxies"),
            ({"fraction": 0.2}, "second_stage.proxies"),
            ({"proxies": ["params"], "share": 0.2}, "second_stage.share"),
        ):
            answer = client.post("/v1/rank", json={**body, "second_stage": stage})
            check_error(answer, 422, "validation_error", field)
        unknown = {"proxies": ["params", "no_such_proxy"]}
        answer = client.post("/v1/rank", json={**body, "second_stage": unknown})
        check_error(answer, 422, "unknown_proxy", "second_stage.proxies[1]")
        learned = {**body, "ensemble": "learned", "dataset": "cifar10"}
        answer = client.post("/v1/rank", json={**learned, "second_stage": {"proxies": ["nwot"]}})
        check_error(answer, 422, "second_stage_unsupported", "second_stage")


def assert_scores_are_the_rankers(ranked: dict, chosen: ensemble.Ranker) -> None:
    """Each candidate's score is ``chosen.score`` of the proxy scores the answer returns."""
    rows = ranked["ranking"]
    columns = {p: [r["scores"][p] for r in rows] for p in chosen.members}
    expected = chosen.score(columns)
    assert [r["score"] for r in rows] == pytest.approx(list(expected))
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))


def test_rank_without_proxies_over_several_spaces_asks_for_them(
    migrated_url: str, serve: Serve
) -> None:
    graph = {
        "space": "graph",
        "spec": {
            "input_shape": [3, 32, 32],
            "nodes": [
                {"name": "conv", "op": "conv2d", "out_channels": 4, "kernel_size": 3},
                {"name": "relu", "op": "relu"},
                {"name": "pool", "op": "global_avgpool"},
                {"name": "fc", "op": "linear", "out_features": 10},
            ],
        },
    }
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, [*nb201_items(CELLS[:1], TINY), graph])
        answer = client.post("/v1/rank", json={"architectures": ids, "data": SYNTHETIC})
        check_error(answer, 422, "proxies_required", "proxies")
        # Correlations over several spaces have no recommended row either, even with every
        # proxy of it scored.
        members = list(ensemble.recommended("nb201").ranker.members)
        job = {"architectures": ids, "proxies": members, "data": SYNTHETIC}
        job_id = client.post("/v1/score-jobs", json=job).json()["id"]
        assert wait_job(client, job_id)["status"] == "succeeded"
        reports = [
            {"architecture": a, "dataset": "cifar10", "value": v}
            for a, v in zip(ids, [90.0, 80.0], strict=True)
        ]
        assert client.post("/v1/accuracies", json={"items": reports}).status_code == 200
        rows = client.get("/v1/correlations", params={"dataset": "cifar10"}).json()["rows"]
        assert set(members) <= {row["name"] for row in rows}
        assert "recommended" not in {row["name"] for row in rows}


def test_learned_rank_without_proxies_drops_the_second_stage(
    migrated_url: str, serve: Serve
) -> None:
    """A learned predictor ranks alone: it is looked up by the first stage's proxies."""
    first = ensemble.recommended("nb201").ranker.proxies
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, nb201_items(CELLS[:1], TINY))
        body = {"architectures": ids, "data": SYNTHETIC, "ensemble": "learned"}
        answer = client.post("/v1/rank", json={**body, "dataset": "cifar10"})
        error = check_error(answer, 422, "no_predictor", "dataset")
        assert f"proxies {', '.join(sorted(first))};" in error["message"]
