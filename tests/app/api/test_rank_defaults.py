"""A rank request that names no proxies ranks with the recommended label-free ranker of the
architectures' space (``zero_cost.ensemble.recommended``), shown in GET /v1/config; every
rank answer names the proxies (with versions) and the aggregation it ranked with."""

from __future__ import annotations

from api_support import SYNTHETIC, TINY, Serve, check_error, nb201_items, submit

from zero_cost import ensemble, proxies

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
]


def test_rank_without_proxies_uses_the_recommended_ranker(migrated_url: str, serve: Serve) -> None:
    choice = ensemble.recommended("nb201")
    assert choice.proxies and all(not proxies.get(p).needs_labels for p in choice.proxies)
    with serve(migrated_url, data_dir=None) as client:
        config = client.get("/v1/config").json()["recommended_rankers"]
        assert config["nb201"] == {
            "proxies": list(choice.proxies),
            "ensemble": choice.method,
            "chosen_on": "nb201",
        }
        ids = submit(client, nb201_items(CELLS, TINY))
        body = {"architectures": ids, "data": SYNTHETIC, "wait": True}
        answer = client.post("/v1/rank", json=body)
        assert answer.status_code == 200, answer.text
        ranked = answer.json()
        assert ranked["complete"], ranked
        assert ranked["ensemble"] == choice.method
        assert ranked["proxy_versions"] == {p: proxies.get(p).version for p in choice.proxies}
        assert set(ranked["ranking"][0]["scores"]) == set(choice.proxies)

        named = client.post("/v1/rank", json={**body, "proxies": ["params"]}).json()
        assert named["ensemble"] == "log_rank" and named["proxy_versions"] == {"params": "1"}
        voted = client.post("/v1/rank", json={**body, "ensemble": "vote"}).json()
        assert voted["ensemble"] == "vote" and set(voted["proxy_versions"]) == set(choice.proxies)


def test_rank_without_proxies_over_several_spaces_asks_for_them(
    migrated_url: str, serve: Serve
) -> None:
    graph = {
        "space": "graph",
        "spec": {
            "input_shape": [3, 8, 8],
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
