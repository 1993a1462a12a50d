"""ONNX models: score a network you already have by sending its ``.onnx`` file, never code.

The file is read with the ``onnx`` package (protobuf: data, not code) and translated, node by
node, into a ``graph`` space layer graph; from there everything is the graph space's: shape
inference, the size and FLOP limits, the canonical identity and the build. The network is
built from the translated graph with fresh weights drawn from the request's seed, so proxies
see an untrained network; the file's weights are read only for their shapes (which fix the
layer sizes) and are then dropped. The translation is checked: the parameters of the built
layers must equal the weights the file holds for them.

Spec (JSON)::

    {"onnx": "<the .onnx file, base64>"}

or, in Python, the file's bytes. ``to_spec`` writes the translated graph (a ``graph`` spec),
which this space parses too, so a stored architecture is rebuilt without the file.

Supported operators (the classifier-style CNNs and MLPs the graph space can express):
``Conv`` (square kernels, equal strides, dilations and pads; ``auto_pad`` NOTSET, VALID or
SAME with a symmetric result), ``Gemm`` (weights as an initializer, ``transA`` 0, ``alpha``
and ``beta`` 1), ``MatMul`` by a 2-d weight initializer, followed or not by an ``Add`` of
a bias initializer, ``BatchNormalization``, ``Relu``, ``Gelu``, ``Identity``, ``Dropout``,
``MaxPool`` and ``AveragePool`` (square, ``ceil_mode`` 0, no dilation; average pooling with
padding only if it counts the padding, as torch does by default), ``GlobalAveragePool`` and
``ReduceMean`` over axes 2 and 3, ``Flatten`` (axis 1), ``Reshape`` to ``(batch, -1)``,
``Squeeze`` of the pooled axes 2 and 3, ``Add`` and ``Sum`` of computed tensors, ``Concat``
along channels, and ``Constant``. Anything else is refused with a ``SpecError`` naming the
node and its operator. The model has one input, ``(batch, C, H, W)`` or ``(batch, F)`` with
fixed C, H, W, F, and one output, the logits.

Identity: the graph space's canonical key of the translation: two files of one architecture
with different weights (or node names) are one architecture.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._base import SpecError
from ._registry import register
from .graph import INPUT, GraphArch, GraphSpace, GraphSpec, parse_graph

MAX_MODEL_BYTES = 512 * 1024 * 1024
"""Largest ``.onnx`` file accepted (the service's request-size limit is usually lower)."""

_SPEC_SCHEMA: dict[str, Any] = {
    "title": "OnnxSpec",
    "description": "An ONNX model file, base64-encoded; or the translated graph spec.",
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "onnx": {
                    "type": "string",
                    "contentEncoding": "base64",
                    "description": "The .onnx file's bytes, base64-encoded.",
                }
            },
            "required": ["onnx"],
            "additionalProperties": False,
        },
        {"$ref": "#/$defs/GraphSpec"},
    ],
}


def _model_bytes(spec: Any) -> bytes | None:
    """The file's bytes from a spec, or None for the translated (graph) form."""
    if isinstance(spec, bytes | bytearray):
        return bytes(spec)
    if isinstance(spec, dict) and "onnx" in spec:
        if set(spec) != {"onnx"} or not isinstance(spec["onnx"], str):
            raise SpecError("onnx spec must be {'onnx': '<base64 of the .onnx file>'}, alone")
        if len(spec["onnx"]) > MAX_MODEL_BYTES * 4 // 3 + 4:
            raise SpecError(f"onnx: the model is larger than {MAX_MODEL_BYTES} bytes")
        try:
            return base64.b64decode(spec["onnx"], validate=True)
        except (binascii.Error, ValueError):
            raise SpecError("onnx: not valid base64") from None
    if isinstance(spec, dict) and "nodes" in spec:
        return None
    raise SpecError(
        "onnx spec must be {'onnx': '<base64 of the .onnx file>'} (or the graph spec this "
        f"space writes), got {type(spec).__name__}"
    )


class _Translation:
    """One pass over an ONNX graph's nodes, in their (topological) order, writing graph
    space nodes. Tensors are named after the ONNX tensor they hold; ``source[t]`` is the
    graph node that computes ONNX tensor ``t`` (``"input"`` for the model input)."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper

        self._to_array = numpy_helper.to_array
        self.initializers = {t.name: t for t in graph.initializer}
        self.readers = Counter(name for node in graph.node for name in node.input)
        self.readers.update(output.name for output in graph.output)
        self.constants: dict[str, np.ndarray] = {}
        self.source: dict[str, str] = {}
        self.nodes: list[dict[str, Any]] = []
        self.by_name: dict[str, dict[str, Any]] = {}
        self.spec: dict[str, Any] = {}  # the graph spec, once translated
        self.weights = 0  # parameters of the file's initializers the translated layers use
        self.features: dict[str, int] = {}  # Reshape node -> the feature count it names

    # -- helpers
    def array(self, tensor: Any, where: str) -> np.ndarray:
        """A tensor's values; never from external data, which would name a file to read."""
        if tensor.HasField("data_location") and tensor.data_location == tensor.EXTERNAL:
            raise SpecError(f"{where}: tensor {tensor.name!r} keeps its values in an external file")
        return self._to_array(tensor)

    def constant(self, name: str, where: str) -> np.ndarray:
        if name in self.constants:
            return self.constants[name]
        if name in self.initializers:
            return self.array(self.initializers[name], where)
        raise SpecError(f"{where}: {name!r} must be a constant (an initializer)")

    def weight_shape(self, name: str, where: str) -> tuple[int, ...]:
        if name not in self.initializers:
            raise SpecError(f"{where}: the weights {name!r} must be an initializer")
        shape = tuple(int(d) for d in self.initializers[name].dims)
        self.weights += math.prod(shape)
        return shape

    def has_bias(self, node: Any, where: str) -> bool:
        """Whether a Conv or Gemm node has its optional third input, the bias (counted as
        weights like the others)."""
        if len(node.input) < 3 or node.input[2] == "":
            return False
        self.weight_shape(node.input[2], where)
        return True

    def computed(self, name: str, where: str) -> str:
        if name in self.initializers or name in self.constants:
            raise SpecError(f"{where}: {name!r} is a constant where a computed tensor is needed")
        if name not in self.source:
            raise SpecError(f"{where}: tensor {name!r} is not computed before this node")
        return self.source[name]

    def emit(self, tensor: str, op: str, inputs: Sequence[str], **attributes: Any) -> None:
        name = tensor if tensor != INPUT else f"{tensor}_"
        node = {"name": name, "op": op, "inputs": list(inputs), **attributes}
        self.nodes.append(node)
        self.by_name[name] = node
        self.source[tensor] = name

    def alias(self, tensor: str, source: str) -> None:
        self.source[tensor] = source


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _square(values: Sequence[int], what: str, where: str) -> int:
    values = [int(v) for v in values]
    if not values or len(set(values)) != 1:
        raise SpecError(f"{where}: {what} must be equal in both dimensions, got {values}")
    return values[0]


def _padding(attrs: dict[str, Any], kernel: int, stride: int, dilation: int, where: str) -> int:
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto == "VALID":
        return 0
    if auto in {"SAME_UPPER", "SAME_LOWER"}:
        total = dilation * (kernel - 1)
        if stride != 1 or total % 2:
            raise SpecError(f"{where}: auto_pad {auto} pads unevenly here; unsupported")
        return total // 2
    if auto != "NOTSET":
        raise SpecError(f"{where}: auto_pad {auto!r} is not supported")
    return _square(attrs.get("pads", [0, 0, 0, 0]), "pads", where)


def _conv(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    weight = t.weight_shape(node.input[1], where)
    if len(weight) != 4:
        raise SpecError(f"{where}: only 2-d convolutions are supported")
    kernel = _square(attrs.get("kernel_shape", weight[2:]), "kernel_shape", where)
    stride = _square(attrs.get("strides", [1, 1]), "strides", where)
    dilation = _square(attrs.get("dilations", [1, 1]), "dilations", where)
    t.emit(
        node.output[0],
        "conv2d",
        [t.computed(node.input[0], where)],
        out_channels=weight[0],
        kernel_size=kernel,
        stride=stride,
        padding=_padding(attrs, kernel, stride, dilation, where),
        dilation=dilation,
        groups=int(attrs.get("group", 1)),
        bias=t.has_bias(node, where),
    )


def _gemm(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        raise SpecError(f"{where}: only Gemm with transA=0, alpha=1 and beta=1 is supported")
    weight = t.weight_shape(node.input[1], where)
    if len(weight) != 2:
        raise SpecError(f"{where}: the weights must be a matrix, got shape {list(weight)}")
    out_features = weight[0] if attrs.get("transB", 0) else weight[1]
    bias = t.has_bias(node, where)
    source = t.computed(node.input[0], where)
    t.emit(node.output[0], "linear", [source], out_features=out_features, bias=bias)


def _matmul(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    weight = t.weight_shape(node.input[1], where)
    if len(weight) != 2:
        raise SpecError(f"{where}: only a product by a weight matrix (an initializer) is supported")
    source = t.computed(node.input[0], where)
    t.emit(node.output[0], "linear", [source], out_features=weight[1], bias=False)


def _add(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    constants = [x for x in node.input if x in t.initializers or x in t.constants]
    computed = [x for x in node.input if x not in constants]
    if not constants:
        t.emit(node.output[0], "add", [t.computed(x, where) for x in computed])
        return
    # A bias added to a MatMul without one (read by nothing else): that layer's bias.
    single = len(computed) == 1 and t.readers[computed[0]] == 1
    layer = t.by_name.get(t.source.get(computed[0], ""), {}) if single else {}
    if len(constants) != 1 or layer.get("op") != "linear" or layer.get("bias"):
        raise SpecError(f"{where}: Add of a constant is supported only as a MatMul's bias")
    shape = t.weight_shape(constants[0], where)
    if math.prod(shape) != layer["out_features"]:
        raise SpecError(f"{where}: the bias has shape {list(shape)}, not one per output")
    layer["bias"] = True
    t.alias(node.output[0], layer["name"])


def _batchnorm(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    # training_mode 0 or 1 alike: the built BatchNorm follows the model's train/eval mode.
    for name in node.input[1:3]:  # scale and bias are parameters; mean and var buffers
        t.weight_shape(name, where)
    t.emit(node.output[0], "batchnorm", [t.computed(node.input[0], where)])


def _elementwise(op: str) -> Callable[[_Translation, Any, dict[str, Any], str], None]:
    def translate(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
        if op == "gelu" and attrs.get("approximate", b"none") not in (b"none", "none"):
            raise SpecError(f"{where}: only the exact (erf) Gelu is supported")
        t.emit(node.output[0], op, [t.computed(node.input[0], where)])

    return translate


def _identity(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    t.alias(node.output[0], t.computed(node.input[0], where))


def _dropout(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    ratio = attrs.get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        ratio = float(t.constant(node.input[1], where))
    t.emit(node.output[0], "dropout", [t.computed(node.input[0], where)], p=float(ratio))


def _pool(op: str) -> Callable[[_Translation, Any, dict[str, Any], str], None]:
    def translate(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
        if attrs.get("ceil_mode", 0):
            raise SpecError(f"{where}: ceil_mode 1 is not supported")
        if _square(attrs.get("dilations", [1, 1]), "dilations", where) != 1:
            raise SpecError(f"{where}: dilated pooling is not supported")
        kernel = _square(attrs.get("kernel_shape", []), "kernel_shape", where)
        stride = _square(attrs.get("strides", [1, 1]), "strides", where)
        padding = _padding(attrs, kernel, stride, 1, where)
        if op == "avgpool" and padding and not attrs.get("count_include_pad", 0):
            raise SpecError(
                f"{where}: padded average pooling must count the padding (count_include_pad 1)"
            )
        source = t.computed(node.input[0], where)
        t.emit(node.output[0], op, [source], kernel_size=kernel, stride=stride, padding=padding)

    return translate


def _global_pool(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    t.emit(node.output[0], "global_avgpool", [t.computed(node.input[0], where)])


def _over_spatial_axes(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> bool:
    """Whether a reduction's or squeeze's axes (attribute, or input from opset 13/18 on) are
    the spatial axes 2 and 3."""
    axes = attrs.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = t.constant(node.input[1], where).tolist()
    return sorted(int(a) for a in (axes or [])) in ([2, 3], [-2, -1])


def _reduce_mean(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    if not _over_spatial_axes(t, node, attrs, where):
        raise SpecError(f"{where}: ReduceMean is supported only over the spatial axes 2 and 3")
    _global_pool(t, node, attrs, where)


def _flatten(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    if attrs.get("axis", 1) != 1:
        raise SpecError(f"{where}: only Flatten with axis 1 is supported")
    t.emit(node.output[0], "flatten", [t.computed(node.input[0], where)])


def _reshape(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    shape = [int(s) for s in t.constant(node.input[1], where).reshape(-1)]
    if len(shape) != 2 or shape[0] < -1:
        raise SpecError(f"{where}: only a Reshape to (batch, features) is supported")
    t.emit(node.output[0], "flatten", [t.computed(node.input[0], where)])
    if shape[1] != -1:
        t.features[t.source[node.output[0]]] = shape[1]


def _squeeze(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    if not _over_spatial_axes(t, node, attrs, where):
        raise SpecError(f"{where}: only a Squeeze of the pooled axes 2 and 3 is supported")
    t.emit(node.output[0], "flatten", [t.computed(node.input[0], where)])


def _concat(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    if int(attrs.get("axis", 1)) != 1:
        raise SpecError(f"{where}: only Concat along axis 1 (channels) is supported")
    t.emit(node.output[0], "concat", [t.computed(x, where) for x in node.input])


def _constant(t: _Translation, node: Any, attrs: dict[str, Any], where: str) -> None:
    if "value" not in attrs:
        raise SpecError(f"{where}: only a Constant with a tensor 'value' is supported")
    t.constants[node.output[0]] = t.array(attrs["value"], where)


_TRANSLATORS: dict[str, Callable[[_Translation, Any, dict[str, Any], str], None]] = {
    "Add": _add,
    "AveragePool": _pool("avgpool"),
    "BatchNormalization": _batchnorm,
    "Concat": _concat,
    "Constant": _constant,
    "Conv": _conv,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Gelu": _elementwise("gelu"),
    "Gemm": _gemm,
    "GlobalAveragePool": _global_pool,
    "Identity": _identity,
    "MatMul": _matmul,
    "MaxPool": _pool("maxpool"),
    "ReduceMean": _reduce_mean,
    "Relu": _elementwise("relu"),
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Sum": _add,
}
SUPPORTED_OPERATORS = tuple(sorted(_TRANSLATORS))


def _input_shape(graph: Any, initializers: dict[str, Any]) -> tuple[str, list[int]]:
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise SpecError(f"onnx: the model must have one input, it has {len(inputs)}")
    dims = inputs[0].type.tensor_type.shape.dim
    sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    if len(sizes) not in (2, 4) or any(s is None or s < 1 for s in sizes[1:]):
        described = ["?" if s is None else s for s in sizes]
        raise SpecError(
            f"onnx: input {inputs[0].name!r} must be (batch, C, H, W) or (batch, F) with fixed "
            f"sizes after the batch dimension, got {described}"
        )
    return inputs[0].name, [int(s) for s in sizes[1:]]


def translate(model_bytes: bytes) -> _Translation:
    """The translation of an ONNX model file into graph space nodes (not yet validated).

    Raises:
        SpecError: the bytes are not an ONNX model, or it uses an unsupported operator or
            form (the message names the node and its operator).
    """
    import onnx
    from google.protobuf.message import DecodeError

    if len(model_bytes) > MAX_MODEL_BYTES:
        raise SpecError(f"onnx: the model is larger than {MAX_MODEL_BYTES} bytes")
    try:
        model = onnx.load_from_string(model_bytes)
    except (DecodeError, ValueError, RuntimeError) as error:
        raise SpecError(f"onnx: not an ONNX model file ({error})") from None
    graph = model.graph
    if not graph.node:
        raise SpecError("onnx: not an ONNX model file (no graph nodes)")
    t = _Translation(graph)
    input_name, input_shape = _input_shape(graph, t.initializers)
    t.alias(input_name, INPUT)
    for index, node in enumerate(graph.node):
        where = f"onnx node {node.name or index!r} ({node.op_type})"
        if node.domain not in ("", "ai.onnx"):
            raise SpecError(f"{where}: operator domain {node.domain!r} is not supported")
        translator = _TRANSLATORS.get(node.op_type)
        if translator is None:
            raise SpecError(
                f"{where}: unsupported operator; supported: {', '.join(SUPPORTED_OPERATORS)}"
            )
        translator(t, node, _attributes(node), where)
    if len(graph.output) != 1:
        raise SpecError(f"onnx: the model must have one output, it has {len(graph.output)}")
    output = t.source.get(graph.output[0].name)
    if output is None or output == INPUT:
        raise SpecError("onnx: the model's output is not computed by its nodes")
    t.spec = {"input_shape": input_shape, "nodes": t.nodes, "output": output}
    return t


def parse_onnx(model_bytes: bytes) -> GraphArch:
    """Translate and validate an ONNX model; its layers must hold as many parameters as the
    file's weights for them.

    Raises:
        SpecError: as ``translate`` and ``graph.parse_graph``.
    """
    translation = translate(model_bytes)
    arch = parse_graph(translation.spec)
    if arch.params != translation.weights:
        raise SpecError(
            f"onnx: the translated layers have {arch.params} parameters but the file's "
            f"weights for them hold {translation.weights}: the model uses a form this space "
            "misreads"
        )
    for name, features in translation.features.items():
        if arch.shapes[name] != (features,):
            raise SpecError(
                f"onnx: Reshape {name!r} to {features} features is not a flatten of its "
                f"input ({arch.shapes[name][0]} values per sample)"
            )
    return arch


@register
class OnnxSpace(GraphSpace):
    """Models uploaded as ONNX files, translated to layer graphs (see the module docstring)."""

    name = "onnx"

    def parse(self, spec: Any) -> GraphArch:
        """Parse ``{"onnx": base64}``, the file's bytes, or the translated graph spec.

        Raises:
            SpecError: the message names the field, node or operator at fault.
        """
        model_bytes = _model_bytes(spec)
        if model_bytes is None:
            return parse_graph(spec)
        return parse_onnx(model_bytes)

    def spec_schema(self) -> dict[str, Any]:
        schema = dict(_SPEC_SCHEMA)
        graph = GraphSpec.model_json_schema()
        schema["$defs"] = {**graph.pop("$defs", {}), "GraphSpec": graph}
        return schema
