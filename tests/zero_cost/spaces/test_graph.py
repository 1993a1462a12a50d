"""Tests of the declarative layer-graph search space (``zero_cost.spaces.graph``)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from zero_cost import spaces
from zero_cost.spaces import SpecError
from zero_cost.spaces.graph import (
    MAX_DIM,
    MAX_FLOPS,
    MAX_NODES,
    MAX_PARAMS,
    OPS,
    GraphArch,
    GraphNet,
    GraphSpace,
)

# A ResNet-style basic block: conv-BN-ReLU-conv-BN plus an identity shortcut.
RESNET_BLOCK: dict[str, Any] = {
    "input_shape": [3, 32, 32],
    "nodes": [
        {"name": "stem", "op": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1,
         "bias": False},
        {"name": "stem_bn", "op": "batchnorm"},
        {"name": "stem_relu", "op": "relu"},
        {"name": "conv1", "op": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1,
         "bias": False},
        {"name": "bn1", "op": "batchnorm"},
        {"name": "relu1", "op": "relu"},
        {"name": "conv2", "op": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1,
         "bias": False},
        {"name": "bn2", "op": "batchnorm"},
        {"name": "sum", "op": "add", "inputs": ["stem_relu", "bn2"]},
        {"name": "relu2", "op": "relu"},
        {"name": "pool", "op": "global_avgpool"},
        {"name": "fc", "op": "linear", "out_features": 10},
    ],
    "output": "fc",
}  # fmt: skip

MLP: dict[str, Any] = {
    "input_shape": [784],
    "nodes": [
        {"name": "fc1", "op": "linear", "out_features": 256},
        {"name": "bn", "op": "batchnorm"},
        {"name": "act", "op": "gelu"},
        {"name": "drop", "op": "dropout", "p": 0.1},
        {"name": "fc2", "op": "linear", "out_features": 10, "bias": False},
    ],
}

# Strided, dilated and grouped convolutions, both pools, concat and flatten.
MIXED: dict[str, Any] = {
    "input_shape": [4, 17, 15],
    "nodes": [
        {"name": "a", "op": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2,
         "padding": 2, "dilation": 2},
        {"name": "b", "op": "conv2d", "out_channels": 6, "kernel_size": 1, "stride": 2,
         "groups": 2, "inputs": ["input"]},
        {"name": "cat", "op": "concat", "inputs": ["a", "b"]},
        {"name": "mp", "op": "maxpool", "kernel_size": 3, "stride": 1, "padding": 1},
        {"name": "ap", "op": "avgpool", "kernel_size": 2},
        {"name": "g", "op": "conv2d", "out_channels": 7, "kernel_size": 2, "groups": 7,
         "inputs": ["ap"], "bias": False},
        {"name": "flat", "op": "flatten"},
        {"name": "fc", "op": "linear", "out_features": 5},
    ],
}  # fmt: skip


@pytest.fixture
def space() -> GraphSpace:
    space = spaces.get("graph")
    assert isinstance(space, GraphSpace)
    return space


def _variant(spec: dict[str, Any], **node_updates: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``spec`` with the attributes of the named nodes updated."""
    spec = copy.deepcopy(spec)
    for node in spec["nodes"]:
        node.update(node_updates.get(node["name"], {}))
    return spec


def _renamed(spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``spec`` with every node name prefixed (edges and output follow)."""
    spec = copy.deepcopy(spec)

    def rename(name: str) -> str:
        return name if name == "input" else prefix + name

    for node in spec["nodes"]:
        node["name"] = rename(node["name"])
        if "inputs" in node:
            node["inputs"] = [rename(name) for name in node["inputs"]]
    if "output" in spec:
        spec["output"] = rename(spec["output"])
    return spec


def _counted_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of one sample, as ``torch.utils.flop_counter`` counts them."""
    model.eval()  # batch norm refuses one-sample batches in training mode
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *input_shape))
    return int(counter.get_total_flops())


# --- parsing and shape inference ------------------------------------------------------------


def test_registered(space: GraphSpace) -> None:
    assert "graph" in spaces.names()
    with pytest.raises(SpecError):
        spaces.get("graph", width=3)


def test_resnet_block_shapes(space: GraphSpace) -> None:
    arch = space.parse(RESNET_BLOCK)
    assert isinstance(arch, GraphArch)
    assert arch.shapes["input"] == (3, 32, 32)
    for name in ("stem", "stem_bn", "conv1", "relu1", "conv2", "sum", "relu2"):
        assert arch.shapes[name] == (16, 32, 32)
    assert arch.shapes["pool"] == (16,)
    assert arch.shapes["fc"] == (10,)
    assert arch.output == "fc"
    assert arch.input_shape == space.input_shape(arch) == (3, 32, 32)
    assert not arch.is_degenerate
    conv = 2 * 16 * 32 * 32 * 9
    assert arch.params == 3 * 16 * 9 + 3 * 2 * 16 + 2 * 16 * 16 * 9 + 16 * 10 + 10
    assert arch.flops == conv * 3 + 2 * conv * 16 + 2 * 16 * 10


def test_mlp_shapes(space: GraphSpace) -> None:
    arch = space.parse(MLP)
    assert [arch.shapes[node.name] for node in arch.nodes] == [(256,)] * 4 + [(10,)]
    assert arch.output == "fc2"  # defaults to the last node
    assert arch.params == 784 * 256 + 256 + 2 * 256 + 256 * 10
    assert arch.flops == 2 * (784 * 256 + 256 * 10)


def test_mixed_shapes(space: GraphSpace) -> None:
    shapes = space.parse(MIXED).shapes
    # a: (17 + 2*2 - 5) // 2 + 1 = 9 and (15 + 2*2 - 5) // 2 + 1 = 8 (dilated span 5)
    assert shapes["a"] == (8, 9, 8)
    assert shapes["b"] == (6, 9, 8)
    assert shapes["cat"] == shapes["mp"] == (14, 9, 8)
    assert shapes["ap"] == (14, 4, 4)
    assert shapes["g"] == (7, 3, 3)
    assert shapes["flat"] == (63,)
    assert shapes["fc"] == (5,)


def test_defaults_are_filled_in(space: GraphSpace) -> None:
    arch = space.parse(MIXED)
    spec = space.to_spec(arch)
    by_name = {node["name"]: node for node in spec["nodes"]}
    assert by_name["a"]["inputs"] == ["input"]
    assert by_name["mp"]["inputs"] == ["cat"]
    assert by_name["ap"]["stride"] == 2  # the pool stride defaults to its kernel size
    assert by_name["fc"] == {"name": "fc", "op": "linear", "inputs": ["flat"],
                             "out_features": 5, "bias": True}  # fmt: skip
    assert spec["output"] == "fc"


def test_nodes_may_be_listed_out_of_order(space: GraphSpace) -> None:
    spec = {
        "input_shape": [8],
        "nodes": [
            {"name": "out", "op": "linear", "out_features": 2, "inputs": ["hidden"]},
            {"name": "hidden", "op": "relu", "inputs": ["input"]},
        ],
        "output": "out",
    }
    arch = space.parse(spec)
    assert [node.name for node in arch.nodes] == ["hidden", "out"]  # topological order


def test_round_trip(space: GraphSpace) -> None:
    for spec in (RESNET_BLOCK, MLP, MIXED):
        arch = space.parse(spec)
        again = space.parse(json.dumps(space.to_spec(arch)))
        assert again == arch
        assert hash(again) == hash(arch)
        assert space.canonical_key(again) == space.canonical_key(arch)
        assert space.parse(json.dumps(spec)) == arch


def test_spec_schema(space: GraphSpace) -> None:
    schema = space.spec_schema()
    json.dumps(schema)
    assert set(schema["properties"]) == {"input_shape", "nodes", "output"}
    assert schema["required"] == ["input_shape", "nodes"]


# --- errors ---------------------------------------------------------------------------------


def _with_nodes(*nodes: dict[str, Any], input_shape: list[int] | None = None,
                **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"input_shape": input_shape or [3, 8, 8], "nodes": list(nodes), **extra}


def _conv(name: str, out: int = 4, **attrs: Any) -> dict[str, Any]:
    return {"name": name, "op": "conv2d", "out_channels": out, "kernel_size": 3, **attrs}


ERROR_CASES: list[tuple[str, Any, list[str]]] = [
    (
        "add shape mismatch",
        _variant(RESNET_BLOCK, conv2={"out_channels": 32}, bn2={}),
        ["node 'sum' (add): input shapes (16, 32, 32) from 'stem_relu' and "
         "(32, 32, 32) from 'bn2' differ"],
    ),
    (
        "cycle",
        _with_nodes(
            {"name": "a", "op": "relu", "inputs": ["c"]},
            {"name": "b", "op": "relu", "inputs": ["a"]},
            {"name": "c", "op": "relu", "inputs": ["b"]},
            {"name": "d", "op": "add", "inputs": ["input", "c"]},
        ),
        ["cycle", "'a' -> 'b' -> 'c' -> 'a'"],
    ),
    ("self loop", _with_nodes({"name": "a", "op": "relu", "inputs": ["a"]}), ["'a' -> 'a'"]),
    ("unknown op", _with_nodes({"name": "x", "op": "softmax"}), ["'x'", "'softmax'", *OPS]),
    ("op not a string", _with_nodes({"name": "x", "op": 3}), ["'x'", "'op' must be a string"]),
    ("missing op", _with_nodes({"name": "x"}), ["'x'", "missing 'op'"]),
    ("unknown input", _with_nodes({"name": "a", "op": "relu", "inputs": ["nope"]}),
     ["node 'a' (relu)", "unknown input 'nope'"]),
    ("duplicate name", _with_nodes({"name": "a", "op": "relu"}, {"name": "a", "op": "relu"}),
     ["duplicate", "'a'"]),
    ("reserved name", _with_nodes({"name": "input", "op": "relu"}), ["'input'", "reserved"]),
    (
        "dangling",
        _with_nodes(
            {"name": "side", "op": "relu"},
            {"name": "side2", "op": "gelu"},
            {"name": "main", "op": "relu", "inputs": ["input"]},
        ),
        ["not reaching the output 'main'", "'side'", "'side2'"],
    ),
    ("unknown output", _with_nodes({"name": "a", "op": "relu"}, output="b"), ["output 'b'"]),
    ("input as output", _with_nodes({"name": "a", "op": "relu"}, output="input"),
     ["output 'input'"]),
    ("output not a string", _with_nodes({"name": "a", "op": "relu"}, output=1), ["output"]),
    ("no nodes", _with_nodes(), ["nodes"]),
    ("nodes not a list", {"input_shape": [3], "nodes": {"a": 1}}, ["nodes"]),
    ("missing nodes", {"input_shape": [3]}, ["missing field 'nodes'"]),
    ("unknown top-level field", _with_nodes({"name": "a", "op": "relu"}, extra=1),
     ["unknown field 'extra'"]),
    ("spatial size <= 0", _with_nodes(_conv("c", kernel_size=9)),
     ["node 'c' (conv2d)", "(0, 0)", "(3, 8, 8)"]),
    ("pool shrinks to 0", _with_nodes({"name": "p", "op": "maxpool", "kernel_size": 9}),
     ["node 'p' (maxpool)", "(0, 0)"]),
    ("pool padding", _with_nodes({"name": "p", "op": "avgpool", "kernel_size": 3, "padding": 2}),
     ["node 'p' (avgpool)", "padding 2", "kernel_size // 2 = 1"]),
    ("groups", _with_nodes(_conv("c", out=4, groups=2)),
     ["node 'c' (conv2d)", "groups 2", "in_channels 3"]),
    ("unknown attribute", _with_nodes(_conv("c", kernal_size=3)),
     ["node 'c' (conv2d)", "unknown attribute 'kernal_size'"]),
    ("attribute of another op", _with_nodes({"name": "r", "op": "relu", "p": 0.5}),
     ["node 'r' (relu)", "unknown attribute 'p'"]),
    ("missing attribute", _with_nodes({"name": "c", "op": "conv2d", "out_channels": 4}),
     ["node 'c' (conv2d)", "missing attribute 'kernel_size'"]),
    ("bool for int", _with_nodes(_conv("c", stride=True)), ["node 'c' (conv2d)", "'stride'"]),
    ("float for int", _with_nodes(_conv("c", out=4.0)), ["node 'c' (conv2d)", "'out_channels'"]),
    ("negative", _with_nodes(_conv("c", padding=-1)), ["node 'c' (conv2d)", "'padding'"]),
    ("zero size", _with_nodes(_conv("c", out=0)), ["node 'c' (conv2d)", "'out_channels'"]),
    ("string for bool", _with_nodes(_conv("c", bias="yes")), ["node 'c' (conv2d)", "'bias'"]),
    ("dropout p = 1", _with_nodes({"name": "d", "op": "dropout", "p": 1}),
     ["node 'd' (dropout)", "'p'"]),
    ("dropout p nan", _with_nodes({"name": "d", "op": "dropout", "p": float("nan")}),
     ["node 'd' (dropout)", "'p'"]),
    ("name not a string", _with_nodes({"name": 5, "op": "relu"}), ["nodes[0] (relu)", "'name'"]),
    ("node not an object", _with_nodes("relu"), ["nodes[0]"]),
    ("inputs not a list", _with_nodes({"name": "a", "op": "relu", "inputs": "input"}),
     ["node 'a' (relu)", "'inputs'"]),
    ("add with one input", _with_nodes({"name": "a", "op": "add", "inputs": ["input"]}),
     ["node 'a' (add)", "at least 2 inputs"]),
    ("relu with two inputs", _with_nodes({"name": "a", "op": "relu", "inputs": ["input"] * 2}),
     ["node 'a' (relu)", "exactly 1 input"]),
    ("linear on an image", _with_nodes({"name": "fc", "op": "linear", "out_features": 3}),
     ["node 'fc' (linear)", "(F,)", "(3, 8, 8) from 'input'"]),
    ("conv on features", _with_nodes(_conv("c"), input_shape=[12]),
     ["node 'c' (conv2d)", "(C, H, W)", "(12,) from 'input'"]),
    ("global pool on features", _with_nodes({"name": "g", "op": "global_avgpool"},
                                            input_shape=[12]),
     ["node 'g' (global_avgpool)", "(12,)"]),
    ("concat spatial mismatch", _with_nodes(
        {"name": "p", "op": "maxpool", "kernel_size": 2},
        {"name": "c", "op": "concat", "inputs": ["input", "p"]}),
     ["node 'c' (concat)", "(3, 8, 8) from 'input'", "(3, 4, 4) from 'p'"]),
    ("concat rank mismatch", _with_nodes(
        {"name": "f", "op": "flatten"},
        {"name": "c", "op": "concat", "inputs": ["f", "input"]}),
     ["node 'c' (concat)", "(192,) from 'f'", "(3, 8, 8) from 'input'"]),
    ("input shape of length 2", _with_nodes({"name": "a", "op": "relu"}, input_shape=[3, 8]),
     ["input_shape", "[3, 8]"]),
    ("input shape zero", {"input_shape": [3, 0, 8], "nodes": [{"name": "a", "op": "relu"}]},
     ["input_shape[1]"]),
    ("input shape not a list", {"input_shape": 3, "nodes": [{"name": "a", "op": "relu"}]},
     ["input_shape"]),
    ("input dim too large", _with_nodes({"name": "a", "op": "relu"},
                                        input_shape=[MAX_DIM + 1]),
     ["input_shape[0]", str(MAX_DIM)]),
    ("too many elements", _with_nodes({"name": "a", "op": "relu"},
                                      input_shape=[MAX_DIM, MAX_DIM, MAX_DIM]),
     ["input_shape", "elements"]),
    ("channel dim too large", _with_nodes(
        {"name": "x", "op": "linear", "out_features": MAX_DIM},
        {"name": "c", "op": "concat", "inputs": ["x", "x"]}, input_shape=[1]),
     ["node 'c' (concat)", f"({2 * MAX_DIM},)", str(MAX_DIM)]),
    ("conv padding grows the image too much", _with_nodes(
        _conv("c", kernel_size=1, padding=MAX_DIM), input_shape=[1, 1, 1]),
     ["node 'c' (conv2d)", str(MAX_DIM)]),
    ("10^12 parameters", _with_nodes(
        {"name": "a", "op": "linear", "out_features": MAX_DIM},
        {"name": "b", "op": "linear", "out_features": MAX_DIM}, input_shape=[8]),
     ["node 'b' (linear)", "parameters", str(MAX_PARAMS)]),
    ("too many FLOPs", _with_nodes(
        _conv("c", out=1000, kernel_size=31, padding=15), input_shape=[1000, 1000, 1000]),
     ["node 'c' (conv2d)", "FLOPs", str(MAX_FLOPS)]),
    ("not JSON", "{'input_shape': [3]}", ["not valid JSON"]),
    ("NaN in JSON", '{"input_shape": [NaN], "nodes": [{"name": "a", "op": "relu"}]}',
     ["input_shape[0]"]),
    ("huge integer in JSON", '{"input_shape": [' + "9" * 5000 + "]}", ["not valid JSON"]),
    ("deeply nested JSON", "[" * 100_000 + "]" * 100_000, ["not valid JSON"]),
    ("not an object", [1, 2], ["spec"]),
    ("None", None, ["spec"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "fragments"), [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES]
)
def test_errors_name_the_culprit(space: GraphSpace, spec: Any, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        space.parse(spec)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message


def test_node_limit(space: GraphSpace) -> None:
    chain = [{"name": f"n{i}", "op": "identity" if i % 2 else "relu"} for i in range(MAX_NODES)]
    arch = space.parse({"input_shape": [4], "nodes": chain})  # no recursion limit is hit
    assert len(arch.nodes) == MAX_NODES
    assert len(space.canonical_key(arch)) == 64
    with pytest.raises(SpecError, match="nodes"):
        space.parse({"input_shape": [4], "nodes": [*chain, {"name": "last", "op": "relu"}]})


def test_deeply_nested_python_values(space: GraphSpace) -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    for spec in (
        deep,
        {"input_shape": deep, "nodes": []},
        _with_nodes({"name": "a", "op": deep}),
        _with_nodes({"name": deep, "op": "relu"}),
        _with_nodes(_conv("c", kernel_size=deep)),
        _with_nodes({"name": "a", "op": "relu"}, output=deep),
    ):
        with pytest.raises(SpecError):
            space.parse(spec)


def test_huge_python_integers(space: GraphSpace) -> None:
    for spec in (
        _with_nodes(_conv("c", out=10**5000)),
        _with_nodes({"name": "a", "op": 10**5000}),
        {"input_shape": [10**5000], "nodes": [{"name": "a", "op": "relu"}]},
    ):
        with pytest.raises(SpecError):
            space.parse(spec)


# --- building -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [RESNET_BLOCK, MLP, MIXED], ids=["resnet", "mlp", "mixed"])
def test_analytic_counts_match_torch(space: GraphSpace, spec: dict[str, Any]) -> None:
    arch = space.parse(spec)
    num_classes = arch.shapes[arch.output][0]
    model = space.build(arch, num_classes=num_classes)
    assert space.param_count(arch, num_classes) == sum(p.numel() for p in model.parameters())
    assert space.flops(arch, num_classes) == _counted_flops(model, arch.input_shape)
    assert arch.params == space.param_count(arch, num_classes)
    assert arch.flops == space.flops(arch, num_classes)


@pytest.mark.parametrize("spec", [RESNET_BLOCK, MLP, MIXED], ids=["resnet", "mlp", "mixed"])
def test_forward(space: GraphSpace, spec: dict[str, Any]) -> None:
    arch = space.parse(spec)
    num_classes = arch.shapes[arch.output][0]
    model = space.build(arch, num_classes=num_classes)
    out = model(torch.randn(4, *space.input_shape(arch)))
    assert out.shape == (4, num_classes)
    assert torch.isfinite(out).all()
    for name, shape in arch.shapes.items():  # every inferred shape is the real one
        assert name == "input" or shape == _node_output_shape(model, arch, name)


def _node_output_shape(model: nn.Module, arch: GraphArch, name: str) -> tuple[int, ...]:
    """The shape torch gives node ``name`` on a one-sample input, without the batch size."""
    index = [node.name for node in arch.nodes].index(name)
    captured: list[tuple[int, ...]] = []
    layer = model.layers[index]
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(tuple(out.shape)))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *arch.input_shape))
    handle.remove()
    return captured[0][1:]


def test_build_on_meta_device(space: GraphSpace) -> None:
    arch = space.parse(RESNET_BLOCK)
    with torch.device("meta"):
        model = space.build(arch)
        out = model(torch.empty(2, 3, 32, 32))
    assert out.shape == (2, 10)
    assert all(p.is_meta for p in model.parameters())


def test_wrong_number_of_classes(space: GraphSpace) -> None:
    arch = space.parse(RESNET_BLOCK)
    message = "graph output 'fc' has shape (10,), expected (100,)"
    for call in (space.build, space.param_count, space.flops):
        with pytest.raises(SpecError) as info:
            call(arch, num_classes=100)
        assert message in str(info.value)
    headless = space.parse({"input_shape": [3, 32, 32], "nodes": RESNET_BLOCK["nodes"][:-2]})
    with pytest.raises(SpecError, match=r"shape \(16, 32, 32\), expected \(10,\)"):
        space.build(headless)


def test_build_is_deterministic(space: GraphSpace) -> None:
    arch = space.parse(MIXED)
    first = space.build(arch, num_classes=5, seed=3).state_dict()
    second = space.build(arch, num_classes=5, seed=3).state_dict()
    other = space.build(arch, num_classes=5, seed=4).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


# --- canonical keys -------------------------------------------------------------------------


def test_key_ignores_names_and_order(space: GraphSpace) -> None:
    key = space.canonical_key(space.parse(RESNET_BLOCK))
    assert space.canonical_key(space.parse(_renamed(RESNET_BLOCK, "x_"))) == key
    swapped = _variant(RESNET_BLOCK, sum={"inputs": ["bn2", "stem_relu"]})
    assert space.canonical_key(space.parse(swapped)) == key
    reordered = copy.deepcopy(space.to_spec(space.parse(RESNET_BLOCK)))
    reordered["nodes"].reverse()  # every input is explicit, so the list order is free
    assert space.canonical_key(space.parse(reordered)) == key


def test_key_ignores_branch_listing_order(space: GraphSpace) -> None:
    def two_branches(first: str) -> dict[str, Any]:
        branches = {
            "p": _conv("p", padding=1, inputs=["input"]),
            "q": _conv("q", kernel_size=1, inputs=["input"]),
        }
        second = "q" if first == "p" else "p"
        return _with_nodes(
            branches[first],
            branches[second],
            {"name": "s", "op": "add", "inputs": [first, second]},
        )

    assert space.canonical_key(space.parse(two_branches("p"))) == space.canonical_key(
        space.parse(two_branches("q"))
    )


def test_key_skips_identities(space: GraphSpace) -> None:
    plain = _with_nodes({"name": "a", "op": "relu"}, input_shape=[4])
    padded = _with_nodes(
        {"name": "i", "op": "identity"},
        {"name": "a", "op": "relu"},
        {"name": "d", "op": "dropout", "p": 0.0},
        input_shape=[4],
    )
    assert space.canonical_key(space.parse(plain)) == space.canonical_key(space.parse(padded))


def test_key_differs_between_graphs(space: GraphSpace) -> None:
    def cat(order: list[str]) -> dict[str, Any]:
        return _with_nodes(
            _conv("p", padding=1, inputs=["input"]),
            _conv("q", out=5, padding=1, inputs=["input"]),
            {"name": "c", "op": "concat", "inputs": order},
        )

    shared = _with_nodes(
        _conv("p", padding=1),
        {"name": "s", "op": "add", "inputs": ["p", "p"]},
    )
    separate = _with_nodes(
        _conv("p", padding=1, inputs=["input"]),
        _conv("q", padding=1, inputs=["input"]),
        {"name": "s", "op": "add", "inputs": ["p", "q"]},
    )
    specs = [
        RESNET_BLOCK,
        MLP,
        MIXED,
        _variant(RESNET_BLOCK, conv1={"kernel_size": 5, "padding": 2}),
        _variant(RESNET_BLOCK, conv2={"bias": True}),
        _variant(RESNET_BLOCK, relu1={"op": "gelu"}),
        RESNET_BLOCK | {"input_shape": [3, 16, 16]},
        _variant(MLP, drop={"p": 0.2}),
        cat(["p", "q"]),
        cat(["q", "p"]),  # concat is not commutative
        shared,
        separate,  # two convolutions are not one convolution used twice
    ]
    keys = {space.canonical_key(space.parse(spec)) for spec in specs}
    assert len(keys) == len(specs)


# --- property tests -------------------------------------------------------------------------

_NAMES = st.sampled_from(["a", "b", "c", "input", ""])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_SMALL = st.integers(-2, 12) | st.booleans() | st.floats(-1, 2) | st.just(10**30) | _JSON
_ATTRIBUTES = ["out_channels", "out_features", "kernel_size", "stride", "padding", "dilation",
               "groups", "bias", "p", "extra"]  # fmt: skip
_NODE = st.fixed_dictionaries(
    {"name": _NAMES, "op": st.sampled_from(OPS)},
    optional={"inputs": st.lists(_NAMES, max_size=3) | _JSON}
    | {attribute: _SMALL for attribute in _ATTRIBUTES},
) | st.dictionaries(st.sampled_from(["name", "op", "inputs", *_ATTRIBUTES]), _JSON | _NAMES)
_SPEC = st.fixed_dictionaries(
    {
        "input_shape": st.sampled_from([[3, 8, 8], [6], [2, 5, 4]]) | st.lists(_SMALL, max_size=4),
        "nodes": st.lists(_NODE, max_size=6) | _JSON,
    },
    optional={"output": _NAMES | _JSON, "extra": _JSON},
)


def _parse_or_reject(space: GraphSpace, spec: Any) -> GraphArch | None:
    """The parsed graph, or None when ``parse`` raised ``SpecError`` (anything else fails)."""
    try:
        return space.parse(spec)
    except SpecError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.text() | _JSON | _SPEC)
def test_any_input_gives_a_graph_or_spec_error(spec: Any) -> None:
    space = GraphSpace()
    _parse_or_reject(space, spec)
    try:
        text = json.dumps(spec)
    except (TypeError, ValueError):
        return
    _parse_or_reject(space, text)


_ATTRIBUTE_VALUES: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "conv2d": {
        "out_channels": st.integers(1, 6),
        "kernel_size": st.integers(1, 4),
        "stride": st.integers(1, 2),
        "padding": st.integers(0, 2),
        "dilation": st.integers(1, 2),
        "groups": st.integers(1, 2),
        "bias": st.booleans(),
    },
    "linear": {"out_features": st.integers(1, 6), "bias": st.booleans()},
    "dropout": {"p": st.floats(0, 0.9)},
    "maxpool": {"kernel_size": st.integers(1, 3), "stride": st.integers(1, 2),
                "padding": st.integers(0, 1)},
    "avgpool": {"kernel_size": st.integers(1, 3), "stride": st.integers(1, 2),
                "padding": st.integers(0, 1)},
}  # fmt: skip


@st.composite
def _plausible_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Small random graphs with sensible attributes; many, not all, are valid."""
    if draw(st.booleans()):
        input_shape = [draw(st.integers(1, 4)), draw(st.integers(1, 8)), draw(st.integers(1, 8))]
    else:
        input_shape = [draw(st.integers(1, 8))]
    names = ["input"]
    nodes = []
    for i in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(OPS))
        node: dict[str, Any] = {"name": f"n{i}", "op": op}
        for attribute, values in _ATTRIBUTE_VALUES.get(op, {}).items():
            if attribute in ("out_channels", "out_features", "kernel_size") or draw(st.booleans()):
                node[attribute] = draw(values)
        if op in ("add", "concat"):  # the previous node is always read: nothing dangles
            others = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2))
            node["inputs"] = [names[-1], *others]
        nodes.append(node)
        names.append(node["name"])
    return {"input_shape": input_shape, "nodes": nodes}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_plausible_graphs())
def test_accepted_graphs_build_and_match_their_analysis(spec: dict[str, Any]) -> None:
    """Whatever parses runs, with the inferred shapes, parameters and FLOPs."""
    space = GraphSpace()
    arch = _parse_or_reject(space, spec)
    if arch is None:
        return
    shapes: dict[str, tuple[int, ...]] = {"input": arch.input_shape}
    with torch.device("meta"):
        model = GraphNet(arch)
        for name, layer in zip(model.node_names, model.layers, strict=True):
            layer.register_forward_hook(
                lambda _m, _i, out, name=name: shapes.update({name: tuple(out.shape[1:])})
            )
        out = model(torch.empty(2, *arch.input_shape))
        assert arch.flops == _counted_flops(model, arch.input_shape)
    assert out.shape == (2, *arch.shapes[arch.output])
    assert shapes == arch.shapes
    assert arch.params == sum(p.numel() for p in model.parameters())
    assert space.parse(space.to_spec(arch)) == arch
    key = space.canonical_key(arch)
    assert space.canonical_key(space.parse(_renamed(spec, "x"))) == key
    reordered = space.to_spec(arch)
    reordered["nodes"].reverse()
    assert space.canonical_key(space.parse(reordered)) == key


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from(["conv2d", "maxpool", "avgpool"]),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 9)),
    out_channels=st.integers(1, 4),
    kernel_size=st.integers(1, 6),
    stride=st.integers(1, 4),
    padding=st.integers(0, 4),
    dilation=st.integers(1, 3),
    groups=st.integers(1, 4),
)
def test_window_ops_agree_with_torch(
    op: str,
    shape: tuple[int, int, int],
    out_channels: int,
    kernel_size: int,
    stride: int,
    padding: int,
    dilation: int,
    groups: int,
) -> None:
    """A single conv or pool is accepted exactly when torch runs it, with torch's shape."""
    node: dict[str, Any] = {"name": "n", "op": op, "kernel_size": kernel_size, "stride": stride,
                            "padding": padding}  # fmt: skip
    if op == "conv2d":
        node |= {"out_channels": out_channels, "dilation": dilation, "groups": groups}
        make = lambda: nn.Conv2d(  # noqa: E731
            shape[0], out_channels, kernel_size, stride, padding, dilation, groups
        )
    else:
        pool = nn.MaxPool2d if op == "maxpool" else nn.AvgPool2d
        make = lambda: pool(kernel_size, stride, padding)  # noqa: E731
    try:
        expected: tuple[int, ...] | None = tuple(make()(torch.zeros(1, *shape)).shape[1:])
    except (RuntimeError, ValueError):
        expected = None
    arch = _parse_or_reject(GraphSpace(), {"input_shape": list(shape), "nodes": [node]})
    assert (arch.shapes["n"] if arch else None) == expected
