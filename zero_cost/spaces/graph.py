"""Declarative layer graphs: score your own CNN or MLP by describing it in JSON.

A spec lists named nodes, each an operation applied to the outputs of other nodes. A
ResNet-style basic block (conv-BN-ReLU-conv-BN plus an identity shortcut) on CIFAR-sized
inputs::

    {"input_shape": [3, 32, 32],
     "nodes": [
       {"name": "stem", "op": "conv2d", "out_channels": 16, "kernel_size": 3,
        "padding": 1, "bias": false},
       {"name": "stem_bn", "op": "batchnorm"},
       {"name": "stem_relu", "op": "relu"},
       {"name": "conv1", "op": "conv2d", "out_channels": 16, "kernel_size": 3,
        "padding": 1, "bias": false},
       {"name": "bn1", "op": "batchnorm"},
       {"name": "relu1", "op": "relu"},
       {"name": "conv2", "op": "conv2d", "out_channels": 16, "kernel_size": 3,
        "padding": 1, "bias": false},
       {"name": "bn2", "op": "batchnorm"},
       {"name": "sum", "op": "add", "inputs": ["stem_relu", "bn2"]},
       {"name": "relu2", "op": "relu"},
       {"name": "pool", "op": "global_avgpool"},
       {"name": "fc", "op": "linear", "out_features": 10}],
     "output": "fc"}

Rules:

* ``input_shape`` is the shape of one sample without the batch dimension: ``[C, H, W]``
  for images or ``[F]`` for feature vectors.
* ``inputs`` lists the nodes a node reads; it defaults to the previous node in the list
  (the graph input, named ``"input"``, for the first node), so a plain sequential model
  needs no edges. ``"input"`` is reserved and cannot name a node. Nodes may be listed in
  any order as long as the edges form no cycle.
* ``output`` names the node whose value the network returns; it defaults to the last node
  in the list. Every node must lie on a path to the output.

Ops and their attributes (image tensors are ``(C, H, W)``, feature tensors ``(F,)``; all
sizes are plain integers, not pairs):

* ``conv2d``: ``out_channels``, ``kernel_size``, ``stride=1``, ``padding=0``,
  ``dilation=1``, ``groups=1``, ``bias=true``; image input; ``groups`` must divide both
  channel counts.
* ``linear``: ``out_features``, ``bias=true``; feature input.
* ``batchnorm``: BatchNorm2d on images, BatchNorm1d on features.
* ``relu``, ``gelu``, ``identity``: elementwise, any input.
* ``dropout``: ``p=0.5`` in ``[0, 1)``; any input.
* ``maxpool``, ``avgpool``: ``kernel_size``, ``stride=kernel_size``, ``padding=0`` (at
  most ``kernel_size // 2``); image input.
* ``global_avgpool``: ``(C, H, W) -> (C,)``.
* ``flatten``: ``(C, H, W) -> (C*H*W,)``; a feature input passes through unchanged.
* ``add``: two or more inputs of identical shape.
* ``concat``: two or more inputs, concatenated along channels (images of equal height and
  width) or features.

Parsing infers every node's output shape, the parameter count and the forward FLOPs
analytically, and rejects graphs over the size limits below, so an absurd graph is refused
before anything is allocated.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic import ValidationError as _ValidationError
from torch import nn

from ..layers import BatchNorm2d
from ._base import SearchSpace, SpecError
from ._registry import register

__all__ = [
    "INPUT",
    "MAX_DIM",
    "MAX_ELEMENTS",
    "MAX_FLOPS",
    "MAX_NODES",
    "MAX_PARAMS",
    "OPS",
    "Conv2dNode",
    "DropoutNode",
    "GraphArch",
    "GraphNet",
    "GraphNode",
    "GraphSpace",
    "GraphSpec",
    "LinearNode",
    "PlainNode",
    "PoolNode",
    "parse_graph",
]

MAX_NODES = 10_000
"""Most nodes a graph may have."""
MAX_DIM = 1_000_000
"""Largest channel, feature or spatial size of any tensor, the input included."""
MAX_ELEMENTS = 10**9
"""Most elements of any one tensor of a single sample."""
MAX_PARAMS = 10_000_000_000
"""Most trainable parameters a graph may have."""
MAX_FLOPS = 10**15
"""Most forward FLOPs of one sample a graph may have."""

INPUT = "input"
"""The reserved name of the graph input."""

_MULTI_INPUT_OPS = frozenset({"add", "concat"})

Shape = tuple[int, ...]
_Size = Annotated[StrictInt, Field(ge=1, le=MAX_DIM)]
_Offset = Annotated[StrictInt, Field(ge=0, le=MAX_DIM)]
_Name = Annotated[StrictStr, Field(min_length=1)]
_Inputs = Annotated[tuple[_Name, ...], Field(min_length=1, max_length=MAX_NODES)]


class _NodeBase(BaseModel):
    """Fields every node has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _Name = Field(description=f"Unique node name; {INPUT!r} is reserved.")
    inputs: _Inputs | None = Field(
        default=None,
        description=(
            f"Names of the nodes (or {INPUT!r}) this node reads; defaults to the previous "
            "node in the list. 'add' and 'concat' take two or more, other ops exactly one."
        ),
    )


class Conv2dNode(_NodeBase):
    """A 2-d convolution, ``nn.Conv2d``."""

    op: Literal["conv2d"]
    out_channels: _Size
    kernel_size: _Size
    stride: _Size = 1
    padding: _Offset = 0
    dilation: _Size = 1
    groups: _Size = 1
    bias: StrictBool = True


class LinearNode(_NodeBase):
    """A fully connected layer on feature vectors, ``nn.Linear``."""

    op: Literal["linear"]
    out_features: _Size
    bias: StrictBool = True


class DropoutNode(_NodeBase):
    """Dropout with drop probability ``p``."""

    op: Literal["dropout"]
    p: Annotated[float, Field(ge=0, lt=1, strict=True, allow_inf_nan=False)] = 0.5


class PoolNode(_NodeBase):
    """Max or average pooling over square windows; ``stride`` defaults to ``kernel_size``."""

    op: Literal["maxpool", "avgpool"]
    kernel_size: _Size
    stride: _Size | None = None
    padding: _Offset = 0


class PlainNode(_NodeBase):
    """An op without attributes."""

    op: Literal[
        "add", "batchnorm", "concat", "flatten", "gelu", "global_avgpool", "identity", "relu"
    ]


GraphNode = Conv2dNode | LinearNode | DropoutNode | PoolNode | PlainNode

_NODE_MODELS: dict[str, type[_NodeBase]] = {
    op: model
    for model in get_args(GraphNode)
    for op in get_args(model.model_fields["op"].annotation)
}
"""The node model of each op."""

OPS: tuple[str, ...] = tuple(sorted(_NODE_MODELS))
"""The known ops, sorted."""


class GraphSpec(BaseModel):
    """A layer graph spec; see the module docstring for the semantics."""

    model_config = ConfigDict(extra="forbid")

    input_shape: Annotated[list[_Size], Field(min_length=1, max_length=3)] = Field(
        description="Shape of one sample without the batch dimension: [C, H, W] or [F]."
    )
    nodes: Annotated[
        list[Annotated[GraphNode, Field(discriminator="op")]],
        Field(min_length=1, max_length=MAX_NODES),
    ] = Field(description="The nodes; an op's attributes are listed in its schema.")
    output: _Name | None = Field(
        default=None, description="Name of the output node; defaults to the last node."
    )


@dataclass(frozen=True)
class GraphArch:
    """A validated layer graph with inferred shapes and analytic costs.

    Attributes:
        input_shape: shape of one input sample.
        nodes: the nodes in topological order, with ``inputs`` and every default filled in.
        output: name of the output node.
        shapes: output shape of every node, and of ``"input"``, by name.
        params: number of trainable parameters.
        flops: forward FLOPs of one sample, a multiply-add counting as 2.
    """

    input_shape: Shape
    nodes: tuple[GraphNode, ...]
    output: str
    shapes: Mapping[str, Shape] = field(compare=False, repr=False)
    params: int = field(compare=False)
    flops: int = field(compare=False)

    @property
    def is_degenerate(self) -> bool:
        """Always False: every node lies on a path from the input to the output."""
        return False


def _quote(name: str) -> str:
    """A node name quoted for an error message, shortened if long."""
    return repr(name if len(name) <= 60 else name[:57] + "...")


def _quote_all(names: list[str], limit: int = 10) -> str:
    """Up to ``limit`` quoted names, then how many were left out."""
    shown = ", ".join(_quote(name) for name in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def _label(node: GraphNode) -> str:
    """How error messages refer to a node."""
    return f"node {_quote(node.name)} ({node.op})"


def _loc_part(part: Any) -> str:
    """One element of a pydantic error location, safe to print whatever it holds."""
    if isinstance(part, str):
        return repr(part) if len(part) <= 60 else repr(part[:57] + "...")
    if isinstance(part, int) and abs(part) < 10**12:
        return str(part)
    return f"<{type(part).__name__}>"


def _raw_node_label(raw: Any, index: int) -> str:
    """How error messages refer to the ``index``-th raw node, before validation."""
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    node = nodes[index] if isinstance(nodes, list | tuple) and 0 <= index < len(nodes) else None
    name = node.get("name") if isinstance(node, dict) else None
    return f"node {_quote(name)}" if isinstance(name, str) else f"nodes[{index}]"


def _describe_error(error: Mapping[str, Any], raw: Any) -> str:
    """One pydantic error as ``where: what``, naming the node and attribute at fault."""
    loc, kind, msg = list(error["loc"]), error["type"], error["msg"]
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        where, rest, noun, allowed = _raw_node_label(raw, loc[1]), loc[2:], "attribute", ""
        if kind == "union_tag_not_found":
            return f"{where}: missing 'op'; known ops: {', '.join(OPS)}"
        if kind == "union_tag_invalid":
            return f"{where}: unknown op; known ops: {', '.join(OPS)}"
        if rest and rest[0] in _NODE_MODELS:
            allowed = ", ".join(_NODE_MODELS[rest[0]].model_fields)
            where, rest = f"{where} ({rest[0]})", rest[1:]
    else:
        where, rest, noun, allowed = "spec", loc, "field", ", ".join(GraphSpec.model_fields)
        if kind != "missing" and rest and rest[0] in GraphSpec.model_fields:
            where, rest = str(rest[0]), rest[1:]
        if rest and isinstance(rest[0], int):
            where, rest = f"{where}[{rest[0]}]", rest[1:]
    if not rest:
        return f"{where}: {msg}"
    path = _loc_part(rest[0]) + "".join(f"[{_loc_part(part)}]" for part in rest[1:])
    if kind == "extra_forbidden":
        return f"{where}: unknown {noun} {path} (allowed: {allowed})"
    if kind == "missing":
        return f"{where}: missing {noun} {path}"
    return f"{where}: {noun} {path}: {msg}"


def _check_ops(raw: Any) -> None:
    """Reject unknown ops before pydantic, which would print their values itself."""
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    if not isinstance(nodes, list | tuple):
        return
    for index, node in enumerate(nodes):
        if not isinstance(node, dict) or "op" not in node:
            continue
        op = node["op"]
        if not isinstance(op, str):
            raise SpecError(
                f"{_raw_node_label(raw, index)}: 'op' must be a string, got {type(op).__name__}"
            )
        if op not in _NODE_MODELS:
            raise SpecError(
                f"{_raw_node_label(raw, index)}: unknown op {_quote(op)}; "
                f"known ops: {', '.join(OPS)}"
            )


def _validate(spec: Any) -> GraphSpec:
    """Decode ``spec`` and check the types and ranges of every field."""
    raw = spec
    if isinstance(spec, str):
        try:
            raw = json.loads(spec)
        except (ValueError, RecursionError) as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
    _check_ops(raw)
    try:
        return GraphSpec.model_validate(raw)
    except _ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        message = "; ".join(_describe_error(error, raw) for error in errors[:3])
        if len(errors) > 3:
            message += f" (and {len(errors) - 3} more errors)"
        raise SpecError(message) from None


def _resolve_inputs(nodes: list[GraphNode]) -> list[GraphNode]:
    """Check names and edges; return the nodes with ``inputs`` and pool strides filled in."""
    names: set[str] = set()
    for node in nodes:
        if node.name == INPUT:
            raise SpecError(f"node name {INPUT!r} is reserved for the graph input")
        if node.name in names:
            raise SpecError(f"duplicate node name {_quote(node.name)}")
        names.add(node.name)
    resolved = []
    previous = INPUT
    for node in nodes:
        inputs = node.inputs if node.inputs is not None else (previous,)
        previous = node.name
        if node.op in _MULTI_INPUT_OPS and len(inputs) < 2:
            raise SpecError(f"{_label(node)}: needs at least 2 inputs, got {len(inputs)}")
        if node.op not in _MULTI_INPUT_OPS and len(inputs) != 1:
            raise SpecError(f"{_label(node)}: takes exactly 1 input, got {len(inputs)}")
        for name in inputs:
            if name != INPUT and name not in names:
                raise SpecError(f"{_label(node)}: unknown input {_quote(name)}")
        update: dict[str, Any] = {"inputs": inputs}
        if isinstance(node, PoolNode) and node.stride is None:
            update["stride"] = node.kernel_size
        resolved.append(node.model_copy(update=update))
    return resolved


def _find_cycle(blocked: dict[str, GraphNode]) -> list[str]:
    """A cycle among ``blocked`` (nodes in list order that each read another blocked node),
    in data-flow order from the node listed first, its first node repeated at the end."""
    path: list[str] = []
    seen: dict[str, int] = {}
    name = next(iter(blocked))
    while name not in seen:
        seen[name] = len(path)
        path.append(name)
        name = next(x for x in blocked[name].inputs if x in blocked)
    cycle = path[seen[name] :]
    cycle.reverse()  # the walk followed edges backwards
    position = {name: i for i, name in enumerate(blocked)}
    start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
    cycle = cycle[start:] + cycle[:start]  # start at the node listed first
    return [*cycle, cycle[0]]


def _topological_order(nodes: list[GraphNode]) -> list[GraphNode]:
    """The nodes in topological order, keeping list order where the edges allow."""
    readers: dict[str, list[int]] = {node.name: [] for node in nodes}
    waiting = []
    for i, node in enumerate(nodes):
        sources = {name for name in node.inputs if name != INPUT}
        waiting.append(len(sources))
        for name in sources:
            readers[name].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[GraphNode] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for i in readers[node.name]:
            waiting[i] -= 1
            if waiting[i] == 0:
                heapq.heappush(ready, i)
    if len(order) < len(nodes):
        blocked = {node.name: node for node, count in zip(nodes, waiting, strict=True) if count}
        cycle = " -> ".join(_quote(name) for name in _find_cycle(blocked))
        raise SpecError(f"the graph has a cycle: {cycle}")
    return order


def _check_reach(nodes: list[GraphNode], output: str) -> None:
    """Reject nodes that lie on no path to the output."""
    by_name = {node.name: node for node in nodes}
    reached = {output}
    stack = [output]
    while stack:
        for name in by_name[stack.pop()].inputs:
            if name != INPUT and name not in reached:
                reached.add(name)
                stack.append(name)
    dangling = [node.name for node in nodes if node.name not in reached]
    if dangling:
        raise SpecError(f"nodes not reaching the output {_quote(output)}: {_quote_all(dangling)}")


def _expect_rank(node: GraphNode, shape: Shape, rank: int) -> None:
    """Reject an input of the wrong kind (image vs. feature vector)."""
    if len(shape) != rank:
        kind = "an image input (C, H, W)" if rank == 3 else "a feature input (F,)"
        raise SpecError(
            f"{_label(node)}: expects {kind}, got shape {shape} from {_quote(node.inputs[0])}"
        )


def _window_output(
    node: GraphNode, shape: Shape, kernel: int, stride: int, padding: int, dilation: int = 1
) -> Shape:
    """Output shape of a sliding-window op over an image, as torch computes it."""
    _expect_rank(node, shape, 3)
    span = dilation * (kernel - 1) + 1
    height, width = ((size + 2 * padding - span) // stride + 1 for size in shape[1:])
    if height <= 0 or width <= 0:
        raise SpecError(
            f"{_label(node)}: spatial size shrinks to {(height, width)} "
            f"from input shape {shape} of {_quote(node.inputs[0])}"
        )
    return shape[0], height, width


def _infer_conv2d(node: Conv2dNode, shape: Shape) -> tuple[Shape, int, int]:
    """Output shape, parameters and FLOPs of a convolution."""
    out = _window_output(node, shape, node.kernel_size, node.stride, node.padding, node.dilation)
    in_channels, out_channels = shape[0], node.out_channels
    if in_channels % node.groups or out_channels % node.groups:
        raise SpecError(
            f"{_label(node)}: groups {node.groups} must divide in_channels {in_channels} "
            f"and out_channels {out_channels}"
        )
    weights = out_channels * (in_channels // node.groups) * node.kernel_size**2
    params = weights + (out_channels if node.bias else 0)
    flops = 2 * weights * out[1] * out[2]
    return (out_channels, out[1], out[2]), params, flops


def _infer_pool(node: PoolNode, shape: Shape) -> Shape:
    """Output shape of a pooling node (whose stride is filled in)."""
    if node.padding > node.kernel_size // 2:
        raise SpecError(
            f"{_label(node)}: padding {node.padding} exceeds kernel_size // 2 = "
            f"{node.kernel_size // 2}"
        )
    assert node.stride is not None
    return _window_output(node, shape, node.kernel_size, node.stride, node.padding)


def _infer_merge(node: GraphNode, shapes: list[Shape]) -> Shape:
    """Output shape of ``add`` or ``concat``."""
    first, name = shapes[0], node.inputs[0]
    for shape, other in zip(shapes[1:], node.inputs[1:], strict=True):
        if node.op == "add" and shape != first:
            raise SpecError(
                f"{_label(node)}: input shapes {first} from {_quote(name)} and {shape} "
                f"from {_quote(other)} differ"
            )
        if node.op == "concat" and (len(shape) != len(first) or shape[1:] != first[1:]):
            raise SpecError(
                f"{_label(node)}: cannot concatenate shape {first} from {_quote(name)} "
                f"with shape {shape} from {_quote(other)}: only the channel or feature "
                "size may differ"
            )
    if node.op == "add":
        return first
    return (sum(shape[0] for shape in shapes), *first[1:])


def _infer_node(node: GraphNode, shapes: list[Shape]) -> tuple[Shape, int, int]:
    """Output shape, parameter count and forward FLOPs of one node, given its input shapes."""
    shape = shapes[0]
    if isinstance(node, Conv2dNode):
        return _infer_conv2d(node, shape)
    if isinstance(node, LinearNode):
        _expect_rank(node, shape, 1)
        weights = shape[0] * node.out_features
        params = weights + (node.out_features if node.bias else 0)
        return (node.out_features,), params, 2 * weights
    if isinstance(node, PoolNode):
        return _infer_pool(node, shape), 0, 0
    if node.op in _MULTI_INPUT_OPS:
        return _infer_merge(node, shapes), 0, 0
    if node.op == "batchnorm":
        return shape, 2 * shape[0], 0
    if node.op == "global_avgpool":
        _expect_rank(node, shape, 3)
        return (shape[0],), 0, 0
    if node.op == "flatten":
        return (math.prod(shape),), 0, 0
    return shape, 0, 0  # relu, gelu, identity, dropout


def _check_shape(shape: Shape, where: str) -> None:
    """Reject a tensor shape over the size limits."""
    if max(shape) > MAX_DIM:
        raise SpecError(f"{where}: shape {shape} exceeds the limit of {MAX_DIM} per dimension")
    if math.prod(shape) > MAX_ELEMENTS:
        raise SpecError(
            f"{where}: shape {shape} has {math.prod(shape)} elements, over the limit of "
            f"{MAX_ELEMENTS}"
        )


def parse_graph(spec: Any) -> GraphArch:
    """Validate a layer graph spec (a dict, or the same as a JSON string).

    Raises:
        SpecError: the spec is malformed or describes an invalid or oversized graph; the
            message names the node and the attribute or shapes at fault.
    """
    validated = _validate(spec)
    input_shape = tuple(validated.input_shape)
    if len(input_shape) == 2:
        raise SpecError(
            f"input_shape: must be [C, H, W] (images) or [F] (features), got {list(input_shape)}"
        )
    _check_shape(input_shape, "input_shape")
    nodes = _resolve_inputs(validated.nodes)
    output = validated.output if validated.output is not None else nodes[-1].name
    if output not in {node.name for node in nodes}:
        raise SpecError(f"output {_quote(output)} is not the name of a node")
    nodes = _topological_order(nodes)
    _check_reach(nodes, output)

    shapes: dict[str, Shape] = {INPUT: input_shape}
    params = flops = 0
    for node in nodes:
        shape, node_params, node_flops = _infer_node(node, [shapes[x] for x in node.inputs])
        _check_shape(shape, f"{_label(node)}: output")
        shapes[node.name] = shape
        params += node_params
        flops += node_flops
        if params > MAX_PARAMS:
            raise SpecError(
                f"the graph has over {MAX_PARAMS} parameters (the limit), reached at {_label(node)}"
            )
        if flops > MAX_FLOPS:
            raise SpecError(
                f"the graph has over {MAX_FLOPS} FLOPs (the limit), reached at {_label(node)}"
            )
    return GraphArch(
        input_shape=input_shape,
        nodes=tuple(nodes),
        output=output,
        shapes=MappingProxyType(shapes),
        params=params,
        flops=flops,
    )


def _node_spec(node: GraphNode) -> dict[str, Any]:
    """A normalised node as a JSON-compatible dict: name, op, inputs, then attributes."""
    attributes = node.model_dump(mode="json", exclude={"name", "op", "inputs"})
    return {"name": node.name, "op": node.op, "inputs": list(node.inputs or ()), **attributes}


def _is_transparent(node: GraphNode) -> bool:
    """True for nodes that pass their input through unchanged."""
    return node.op == "identity" or (isinstance(node, DropoutNode) and node.p == 0)


def _canonical_form(arch: GraphArch) -> str:
    """A description of the graph independent of node names, list order and add-input order.

    Identity nodes (and dropout with ``p = 0``) are skipped. Each remaining node gets a
    structural digest of its op, attributes and input digests (sorted for ``add``); a
    post-order walk from the output, visiting ``add`` inputs by digest, then numbers the
    nodes, and the form lists each node's op, attributes and input numbers in that order.
    """
    by_name = {node.name: node for node in arch.nodes}
    alias = {INPUT: INPUT}
    digest = {INPUT: INPUT}
    attributes: dict[str, str] = {}
    for node in arch.nodes:
        if _is_transparent(node):
            alias[node.name] = alias[node.inputs[0]]
            continue
        alias[node.name] = node.name
        attributes[node.name] = json.dumps(
            node.model_dump(mode="json", exclude={"name", "inputs"}), sort_keys=True
        )
        sources = [digest[alias[name]] for name in node.inputs]
        if node.op == "add":
            sources.sort()
        text = json.dumps([attributes[node.name], sources])
        digest[node.name] = hashlib.sha256(text.encode()).hexdigest()

    def sources_of(name: str) -> list[str]:
        sources = [alias[x] for x in by_name[name].inputs]
        if by_name[name].op == "add":
            sources.sort(key=digest.__getitem__)
        return sources

    number = {INPUT: 0}
    lines: list[list[Any]] = []
    root = alias[arch.output]
    stack = [(root, False)]
    while stack:
        name, expanded = stack.pop()
        if name in number:
            continue
        if expanded:
            refs = [number[x] for x in sources_of(name)]
            if by_name[name].op == "add":
                refs.sort()
            number[name] = len(number)
            lines.append([attributes[name], refs])
        else:
            stack.append((name, True))
            stack.extend((x, False) for x in reversed(sources_of(name)) if x not in number)
    return json.dumps(
        {"input_shape": list(arch.input_shape), "nodes": lines, "output": number[root]}
    )


class _Add(nn.Module):
    """Elementwise sum of its inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class _Concat(nn.Module):
    """Concatenation of its inputs along dimension 1 (channels or features)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class _GlobalAvgPool(nn.Module):
    """Mean over the spatial dimensions: ``(N, C, H, W) -> (N, C)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def _make_module(node: GraphNode, shape: Shape) -> nn.Module:
    """The module computing ``node``, whose (first) input has ``shape``."""
    if isinstance(node, Conv2dNode):
        return nn.Conv2d(
            shape[0],
            node.out_channels,
            node.kernel_size,
            stride=node.stride,
            padding=node.padding,
            dilation=node.dilation,
            groups=node.groups,
            bias=node.bias,
        )
    if isinstance(node, LinearNode):
        return nn.Linear(shape[0], node.out_features, bias=node.bias)
    if isinstance(node, DropoutNode):
        return nn.Dropout(node.p)
    if isinstance(node, PoolNode):
        pool = nn.MaxPool2d if node.op == "maxpool" else nn.AvgPool2d
        return pool(node.kernel_size, stride=node.stride, padding=node.padding)
    if node.op == "batchnorm":
        return BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
    plain: dict[str, type[nn.Module]] = {
        "add": _Add,
        "concat": _Concat,
        "flatten": nn.Flatten,
        "gelu": nn.GELU,
        "global_avgpool": _GlobalAvgPool,
        "identity": nn.Identity,
        "relu": nn.ReLU,
    }
    return plain[node.op]()


class GraphNet(nn.Module):
    """Executes a ``GraphArch``: one module per node, run in topological order.

    ``layers[i]`` computes ``node_names[i]``.
    """

    def __init__(self, arch: GraphArch) -> None:
        super().__init__()
        position = {INPUT: 0} | {node.name: i + 1 for i, node in enumerate(arch.nodes)}
        self.node_names = [node.name for node in arch.nodes]
        self.layers = nn.ModuleList(
            _make_module(node, arch.shapes[node.inputs[0]]) for node in arch.nodes
        )
        self._sources = [[position[name] for name in node.inputs] for node in arch.nodes]
        self._output = position[arch.output]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = [x]
        for layer, sources in zip(self.layers, self._sources, strict=True):
            values.append(layer(*(values[i] for i in sources)))
        return values[self._output]


def _check_output(arch: GraphArch, num_classes: int) -> None:
    """Reject a graph whose output is not one logit per class."""
    shape = arch.shapes[arch.output]
    if shape != (num_classes,):
        raise SpecError(
            f"graph output {_quote(arch.output)} has shape {shape}, expected ({num_classes},)"
        )


@register
class GraphSpace(SearchSpace):
    """User-defined CNNs and MLPs given as a JSON layer graph (see the module docstring)."""

    name = "graph"

    def parse(self, spec: Any) -> GraphArch:
        return parse_graph(spec)

    def canonical_key(self, arch: GraphArch) -> str:
        """SHA-256 of a form that ignores node names, list order and the order of ``add``
        inputs, and skips identity nodes; different graphs get different keys."""
        return hashlib.sha256(f"graph:{_canonical_form(arch)}".encode()).hexdigest()

    def to_spec(self, arch: GraphArch) -> dict[str, Any]:
        """The normalised spec: nodes in topological order, every default written out."""
        return {
            "input_shape": list(arch.input_shape),
            "nodes": [_node_spec(node) for node in arch.nodes],
            "output": arch.output,
        }

    def spec_schema(self) -> dict[str, Any]:
        """JSON schema of the spec dict (from the ``GraphSpec`` pydantic model)."""
        return GraphSpec.model_json_schema()

    def input_shape(self, arch: GraphArch) -> tuple[int, ...]:
        return arch.input_shape

    def param_count(self, arch: GraphArch, num_classes: int = 10) -> int:
        """The analytic parameter count; the output must have ``num_classes`` features."""
        _check_output(arch, num_classes)
        return arch.params

    def flops(self, arch: GraphArch, num_classes: int = 10) -> int:
        """The analytic forward FLOPs of one sample, as ``torch.utils.flop_counter`` counts
        them; the output must have ``num_classes`` features."""
        _check_output(arch, num_classes)
        return arch.flops

    def _build(self, arch: GraphArch, num_classes: int) -> nn.Module:
        _check_output(arch, num_classes)
        return GraphNet(arch)
