"""Every search space through the REST API, on SQLite and on PostgreSQL: submit two
architectures, score them, rank them, read one back; an ONNX file travels as base64."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from api_support import SYNTHETIC, TINY, Serve, check_error, submit, wait_job
from onnx import TensorProto, helper, numpy_helper

from zero_cost import spaces


def onnx_file(kernel_size: int) -> str:
    """A tiny CNN (conv, ReLU, global pooling, linear) as a base64 ONNX file."""
    rng = np.random.default_rng(0)

    def tensor(name: str, *shape: int) -> TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    pad = kernel_size // 2
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[kernel_size] * 2,
                             pads=[pad] * 4),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("GlobalAveragePool", ["r"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], transB=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[tensor("w", 4, 3, kernel_size, kernel_size), tensor("fc_w", 10, 4),
                     tensor("fc_b", 10)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return base64.b64encode(model.SerializeToString()).decode()


def graph_spec(kernel_size: int) -> dict:
    return {
        "input_shape": [3, 32, 32],
        "nodes": [
            {"name": "conv", "op": "conv2d", "out_channels": 4, "kernel_size": kernel_size},
            {"name": "relu", "op": "relu"},
            {"name": "pool", "op": "global_avgpool"},
            {"name": "fc", "op": "linear", "out_features": 10},
        ],
    }


NB101_OPS = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "output"]
NB101_CHAIN = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
NB101_BRANCH = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
DARTS_PAIRS = [["sep_conv_3x3", 0], ["skip_connect", 1]] * 4
DARTS_OTHER = [["max_pool_3x3", 0], ["dil_conv_3x3", 1]] * 4

EXAMPLES: dict[str, tuple[dict, list]] = {
    "nb201": (TINY, [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|",
    ]),
    "nb101": ({"stem_channels": 4, "num_stacks": 1, "cells_per_stack": 1}, [
        {"matrix": NB101_CHAIN, "ops": NB101_OPS},
        {"matrix": NB101_BRANCH, "ops": NB101_OPS},
    ]),
    "graph": ({}, [graph_spec(3), graph_spec(1)]),
    "darts": ({"channels": 4, "layers": 2}, [
        {"normal": DARTS_PAIRS, "normal_concat": [2, 3, 4, 5], "reduce": DARTS_OTHER,
         "reduce_concat": [2, 3, 4, 5]},
        {"normal": DARTS_OTHER, "normal_concat": [2, 3, 4, 5], "reduce": DARTS_PAIRS,
         "reduce_concat": [2, 3, 4, 5]},
    ]),
    "nats_sss": ({}, ["8:8:8:8:8", "16:8:24:8:8"]),
    "transnas_micro": ({"channels": 4}, ["64-41414-1_02_333", "64-41414-3_30_233"]),
    "transnas_macro": ({"channels": 4}, ["64-1234-basic", "64-4111-basic"]),
    "onnx": ({}, [{"onnx": onnx_file(3)}, {"onnx": onnx_file(1)}]),
}  # fmt: skip
"""Per space: the settings and two specs of small networks."""


def test_every_space_has_examples() -> None:
    assert set(EXAMPLES) == set(spaces.names())


@pytest.mark.parametrize("space", sorted(EXAMPLES))
def test_submit_score_and_rank(migrated_url: str, serve: Serve, space: str) -> None:
    settings, specs = EXAMPLES[space]
    items = [{"space": space, "spec": spec, "settings": settings} for spec in specs]
    with serve(migrated_url, data_dir=None) as client:
        ids = submit(client, items)
        assert len(set(ids)) == 2, ids
        stored = client.get(f"/v1/architectures/{ids[0]}")
        assert stored.status_code == 200, stored.text
        assert stored.json()["space"] == space
        assert submit(client, items[:1]) == ids[:1]  # the same spec again: the same record

        body = {"architectures": ids, "proxies": ["snip", "synflow"], "data": SYNTHETIC}
        created = client.post("/v1/score-jobs", json=body)
        assert created.status_code == 202, created.text
        done = wait_job(client, created.json()["id"], timeout=180)
        assert done["status"] == "succeeded" and done["errors"] == [], done

        ranked = client.post("/v1/rank", json={**body, "wait": True})
        assert ranked.status_code == 200, ranked.text
        ranking = ranked.json()["ranking"]
        assert ranked.json()["complete"] and sorted(c["architecture_id"] for c in ranking) == (
            sorted(ids)
        )


def test_an_unsupported_onnx_operator_is_a_422(migrated_url: str, serve: Serve) -> None:
    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"], name="gate")],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    spec = {"onnx": base64.b64encode(data.SerializeToString()).decode()}
    with serve(migrated_url, data_dir=None) as client:
        answer = client.post("/v1/architectures", json={"items": [{"space": "onnx", "spec": spec}]})
        body = check_error(answer, 422, "invalid_spec")
        assert "Sigmoid" in body["message"] and "'gate'" in body["message"], body
        assert client.get("/v1/architectures").json()["count"] == 0
