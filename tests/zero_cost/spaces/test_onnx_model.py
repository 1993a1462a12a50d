"""Tests of the ONNX model space (``zero_cost.spaces.onnx_model``): torch exports round-trip
to the same network shape, unsupported forms are refused naming the node, and the identity
ignores the file's weights."""

from __future__ import annotations

import base64
import io
import warnings
from typing import Any

import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from space_checks import check_deterministic, check_forward, check_proxies
from torch import nn

from zero_cost import spaces
from zero_cost.spaces import SpecError
from zero_cost.spaces.onnx_model import SUPPORTED_OPERATORS, OnnxSpace


class ResidualNet(nn.Module):
    """A small CNN with what classifiers are made of: BatchNorm (optional), a residual sum,
    a concatenation, max and average pooling, global pooling and a linear head."""

    def __init__(self, width: int = 8, batchnorm: bool = True) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=not batchnorm),
            nn.BatchNorm2d(width) if batchnorm else nn.Identity(),
            nn.ReLU(),
        )
        self.branch = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU())
        self.side = nn.Conv2d(width, width, 1, stride=1)
        self.pool = nn.MaxPool2d(2)
        self.smooth = nn.AvgPool2d(3, stride=1, padding=1)
        self.head = nn.Linear(2 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.branch(x)
        x = torch.cat([self.pool(x), self.pool(self.side(x))], dim=1)
        x = self.smooth(x)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def export(model: nn.Module, dynamo: bool = False) -> bytes:
    """``model`` as an ONNX file. torch's TorchScript exporter (``dynamo=False``) in
    training mode keeps BatchNorm as ``BatchNormalization``; its dynamo exporter, torch's
    default, drops a training-mode BatchNorm and folds an eval-mode one into the
    convolution, so it serves networks without BatchNorm."""
    buffer = io.BytesIO()
    mode = torch.onnx.TrainingMode.TRAINING if not dynamo else torch.onnx.TrainingMode.EVAL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.train(not dynamo),
            (torch.randn(2, 3, 32, 32),),
            buffer,
            dynamo=dynamo,
            training=mode,
            verbose=False,
        )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def resnet_file() -> bytes:
    torch.manual_seed(123)  # not a seed the tests build with: the file's weights are its own
    return export(ResidualNet())


@pytest.fixture
def space() -> OnnxSpace:
    return spaces.get("onnx")


def spec_of(data: bytes) -> dict[str, str]:
    return {"onnx": base64.b64encode(data).decode()}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny_model(nodes: list, initializers: list, input_dims: list, output: str = "y") -> bytes:
    """An ONNX file made by hand: ``nodes`` from input ``x`` to output ``output``."""
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def weights(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(torch.randn(*shape).numpy(), name)


# --- a torch export round-trips ------------------------------------------------------------


def test_registered() -> None:
    assert "onnx" in spaces.names()


def test_torch_export_round_trips(space: OnnxSpace, resnet_file: bytes) -> None:
    reference = ResidualNet()
    arch = space.parse(spec_of(resnet_file))
    model = space.build(arch, num_classes=10, seed=0)
    assert space.param_count(arch) == n_params(model) == n_params(reference)
    assert model(torch.randn(4, 3, 32, 32)).shape == reference(torch.randn(4, 3, 32, 32)).shape
    ops = [node.op for node in arch.nodes]
    for op in ("conv2d", "batchnorm", "add", "concat", "maxpool", "avgpool", "linear"):
        assert op in ops, op


def test_dynamo_export_round_trips(space: OnnxSpace) -> None:
    """torch's default exporter writes global pooling as ReduceMean and the flatten as a
    Reshape: the same network."""
    reference = ResidualNet(batchnorm=False)
    arch = space.parse(export(reference, dynamo=True))
    model = space.build(arch, num_classes=10, seed=0)
    assert space.param_count(arch) == n_params(model) == n_params(reference)
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)
    assert "global_avgpool" in [node.op for node in arch.nodes]


def test_flops_match_the_torch_model(space: OnnxSpace, resnet_file: bytes) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        ResidualNet().eval()(torch.randn(1, 3, 32, 32))
    assert space.flops(space.parse(resnet_file)) == counter.get_total_flops()


def test_the_written_spec_is_the_graph_and_parses_again(
    space: OnnxSpace, resnet_file: bytes
) -> None:
    arch = space.parse(resnet_file)
    written = space.to_spec(arch)
    assert set(written) == {"input_shape", "nodes", "output"}
    again = space.parse(written)
    assert space.canonical_key(again) == space.canonical_key(arch)
    assert spaces.get("graph").canonical_key(spaces.get("graph").parse(written)) == (
        space.canonical_key(arch)
    )


def test_identity_ignores_the_weights(space: OnnxSpace, resnet_file: bytes) -> None:
    torch.manual_seed(1)
    other_weights = export(ResidualNet())
    assert other_weights != resnet_file
    assert space.canonical_key(space.parse(other_weights)) == space.canonical_key(
        space.parse(resnet_file)
    )
    wider = export(ResidualNet(width=12))
    assert space.canonical_key(space.parse(wider)) != space.canonical_key(space.parse(resnet_file))


def test_fresh_weights_from_the_seed(space: OnnxSpace, resnet_file: bytes) -> None:
    arch = space.parse(resnet_file)
    check_deterministic(space, arch)
    check_forward(space.build(arch, seed=0))
    file_weights = {t.name for t in onnx.load_from_string(resnet_file).graph.initializer}
    assert file_weights  # the file carried weights; the build drew its own
    built = space.build(arch, seed=0).state_dict()
    stored = onnx.load_from_string(resnet_file).graph.initializer
    first_conv = next(numpy_helper.to_array(t) for t in stored if t.dims[:2] == [8, 3])
    assert not torch.equal(built["layers.0.weight"], torch.from_numpy(first_conv.copy()))


def test_proxies_score_an_onnx_network(space: OnnxSpace, resnet_file: bytes) -> None:
    model = space.build(space.parse(resnet_file), seed=0)
    check_proxies(model, ["snip", "grasp", "synflow", "jacob_cov", "nwot", "zen"], 8)


def test_an_mlp_with_matmul_and_bias_add(space: OnnxSpace) -> None:
    data = tiny_model(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Add", ["h", "b1"], ["hb"]),
            helper.make_node("Relu", ["hb"], ["a"]),
            helper.make_node("Gemm", ["a", "w2", "b2"], ["y"], transB=1),
        ],
        [weights("w1", 20, 32), weights("b1", 32), weights("w2", 10, 32), weights("b2", 10)],
        ["batch", 20],
    )
    arch = space.parse(data)
    assert [node.op for node in arch.nodes] == ["linear", "relu", "linear"]
    assert arch.params == 20 * 32 + 32 + 32 * 10 + 10 == n_params(space.build(arch))


def test_reduce_mean_and_reshape_are_global_pooling_and_flatten(space: OnnxSpace) -> None:
    shape = numpy_helper.from_array(torch.tensor([-1, 4]).numpy(), "shape")
    data = tiny_model(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("ReduceMean", ["c"], ["m"], axes=[2, 3], keepdims=1),
            helper.make_node("Reshape", ["m", "shape"], ["f"]),
            helper.make_node("Gemm", ["f", "w2"], ["y"], transB=1),
        ],
        [weights("w", 4, 3, 3, 3), shape, weights("w2", 10, 4)],
        [1, 3, 16, 16],
    )
    arch = space.parse(data)
    assert [node.op for node in arch.nodes] == ["conv2d", "global_avgpool", "flatten", "linear"]


# --- refused, with the node at fault -------------------------------------------------------


def conv_then(node: Any, extra: list | None = None) -> bytes:
    return tiny_model(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]), node],
        [weights("w", 4, 3, 3, 3), *(extra or [])],
        [1, 3, 8, 8],
    )


@pytest.mark.parametrize(
    ("data", "fragments"),
    [
        (conv_then(helper.make_node("Sigmoid", ["c"], ["y"], name="gate")),
         ["'gate'", "Sigmoid", "unsupported operator", "Conv"]),
        (conv_then(helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 3])),
         ["MaxPool", "kernel_shape", "[2, 3]"]),
        (conv_then(helper.make_node("Add", ["c", "k"], ["y"]), [weights("k", 4, 1, 1)]),
         ["Add", "constant", "MatMul's bias"]),
        (conv_then(helper.make_node("Flatten", ["c"], ["y"], axis=2)), ["Flatten", "axis 1"]),
        (conv_then(helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], ceil_mode=1)),
         ["ceil_mode"]),
        (tiny_model([helper.make_node("Relu", ["x"], ["y"])], [], ["b", 3, "h", 8]),
         ["input 'x'", "fixed sizes", "'?'"]),
        (tiny_model([helper.make_node("MatMul", ["x", "x"], ["y"])], [], [1, 8]),
         ["MatMul", "initializer"]),
        (tiny_model([helper.make_node("MatMul", ["x", "w"], ["h"]),
                     helper.make_node("Add", ["h", "b"], ["hb"]),
                     helper.make_node("Add", ["h", "hb"], ["y"])],
                    [weights("w", 8, 10), weights("b", 10)], [1, 8]),
         ["Add", "MatMul's bias"]),  # the product is also read unbiased: no bias to fold
        (conv_then(helper.make_node("Reshape", ["c", "s"], ["y"]),
                   [numpy_helper.from_array(torch.tensor([1, 5]).numpy(), "s")]),
         ["Reshape", "to 5 features is not a flatten", "144 values"]),
        (b"this is not a model", ["not an ONNX model"]),
    ],
)  # fmt: skip
def test_refusals_name_the_fault(space: OnnxSpace, data: bytes, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        space.parse(spec_of(data))
    for fragment in fragments:
        assert fragment in str(caught.value), (fragment, str(caught.value))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"onnx": "not base64!"}, "not valid base64"),
        ({"onnx": 5}, "alone"),
        ({"onnx": "", "extra": 1}, "alone"),
        ("a string", "base64 of the .onnx file"),
        ([1, 2], "base64 of the .onnx file"),
    ],
)
def test_malformed_specs(space: OnnxSpace, spec: Any, fragment: str) -> None:
    with pytest.raises(SpecError, match=fragment):
        space.parse(spec)


def test_a_misread_layer_fails_the_parameter_check(space: OnnxSpace) -> None:
    """A Gemm whose weight matrix does not fit its input: the translated layer's parameter
    count differs from the file's weights, and the model is refused rather than misbuilt."""
    data = tiny_model(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], [weights("w", 10, 12)], [1, 8]
    )
    with pytest.raises(SpecError, match="80 parameters but the file's weights for them hold 120"):
        space.parse(data)


def test_external_data_is_never_read(space: OnnxSpace, tmp_path: Any) -> None:
    """A constant that keeps its values in an external file names a path; the space refuses
    it rather than open that path."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(torch.tensor([1, 4], dtype=torch.int64).numpy().tobytes())
    shape = TensorProto(name="shape", data_type=TensorProto.INT64, dims=[2])
    shape.data_location = TensorProto.EXTERNAL
    shape.external_data.add(key="location", value=str(secret))
    data = conv_then(helper.make_node("Reshape", ["c", "shape"], ["y"]), [shape])
    with pytest.raises(SpecError, match="external file"):
        space.parse(data)


def test_the_supported_operators_are_listed() -> None:
    assert "Conv" in SUPPORTED_OPERATORS and "Gemm" in SUPPORTED_OPERATORS
    assert list(SUPPORTED_OPERATORS) == sorted(SUPPORTED_OPERATORS)


def test_spec_schema_names_both_forms(space: OnnxSpace) -> None:
    schema = space.spec_schema()
    assert schema["anyOf"][0]["required"] == ["onnx"]
    assert "GraphSpec" in schema["$defs"]
