"""Architectures whose estimated device memory is over ``ZC_DEVICE_MEMORY_BYTES`` are refused
at submission (422 naming the field, the estimate and the limit); nothing is queued."""

from __future__ import annotations

import pytest
from api_support import SYNTHETIC, TINY, check_error, nb201_items

from zero_cost import memory, spaces

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
SMALL = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def _need(cell: str, settings: dict, batch_size: int) -> int:
    space = spaces.get("nb201", **settings)
    return memory.estimate(space, space.parse(cell), batch_size).total_bytes


WIDE = {"channels": 16, "cells_per_stage": 1}


@pytest.fixture
def limit() -> int:
    """A limit the small tiny cell fits and the wide cell does not."""
    small = _need(SMALL, TINY, SYNTHETIC["batch_size"])
    wide = _need(CELL, WIDE, SYNTHETIC["batch_size"])
    assert small < wide
    return (small + wide) // 2


def test_score_job_over_the_limit_is_refused(serve, migrated_url, limit):
    with serve(migrated_url, device_memory_bytes=limit) as client:
        body = {
            "architectures": [*nb201_items([SMALL]), *nb201_items([CELL], WIDE)],
            "proxies": ["synflow"],
            "data": SYNTHETIC,
        }
        error = check_error(
            client.post("/v1/score-jobs", json=body),
            422,
            "exceeds_device_memory",
            "architectures[1]",
        )
        assert "ZC_DEVICE_MEMORY_BYTES" in error["message"]
        assert memory.format_bytes(limit) in error["message"]
        assert client.get("/v1/score-jobs").json()["count"] == 0

        body["architectures"] = nb201_items([SMALL])
        assert client.post("/v1/score-jobs", json=body).status_code == 202


def test_rank_and_prune_over_the_limit_are_refused(serve, migrated_url, limit):
    with serve(migrated_url, device_memory_bytes=limit) as client:
        wide = nb201_items([CELL], WIDE)[0]
        rank = {"architectures": [wide], "proxies": ["synflow"], "data": SYNTHETIC}
        check_error(
            client.post("/v1/rank", json=rank), 422, "exceeds_device_memory", "architectures[0]"
        )
        prune = {"architecture": wide, "method": "snip", "sparsity": 0.5, "data": SYNTHETIC}
        check_error(
            client.post("/v1/prune-jobs", json=prune),
            422,
            "exceeds_device_memory",
            "architecture",
        )


def test_no_limit_no_check(serve, migrated_url):
    with serve(migrated_url, device_memory_bytes=None) as client:
        body = {
            "architectures": nb201_items([CELL], WIDE),
            "proxies": ["synflow"],
            "data": SYNTHETIC,
        }
        assert client.post("/v1/score-jobs", json=body).status_code == 202
