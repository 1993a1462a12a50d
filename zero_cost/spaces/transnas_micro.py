"""TransNAS-Bench-101's cell-level space (Duan et al., CVPR 2021): 4,096 cells of 6 edges.

A cell has four nodes; node 0 is the cell input, node 3 its output, and every node sums one op
on each earlier node. An op is one of the benchmark's four, written as a digit (``OPS`` holds
them by digit): ``0`` none (zero), ``1`` skip_connect, ``2`` nor_conv_1x1, ``3``
nor_conv_3x3 (``OPS`` in ``lib/models/net_ops/cell_ops.py`` of yawen-d/TransNASBench). The
benchmark writes an architecture as ``"64-41414-1_02_333"``: base width 64, the macro
skeleton ``41414`` and the cell code, node 1's op, then node 2's ops on nodes 0 and 1, then
node 3's on nodes 0, 1 and 2 (so the edge order is nb201's, 0->1 | 0->2, 1->2 | 0->3, 1->3,
2->3). Every cell of the space has base width 64 and skeleton 41414 (the README of
yawen-d/TransNASBench; NASLib's ``convert_naslib_to_transbench101_micro`` writes the same
prefix). Specs are that string or the cell code alone, ``"1_02_333"``. NASLib's op-index
tuples are not accepted: NASLib's graph reads them with one op order (``OP_NAMES``: Identity,
Zero, 3x3, 1x1) and its benchmark query writes them into the string as digits, the other.

The network is the benchmark's classification model (``class_object`` and ``class_scene``
tasks: ``FeedForwardNet`` of ``MacroNet(structure='backbone')`` and ``FFDecoder``, in
``lib/models/net_infer/net_macro.py`` and ``lib/models/task_models/``); the other five tasks'
decoders (segmentation, autoencoding, jigsaw, room layout, normals) are not built. The encoder:
a stem of a 3x3 stride-2 conv-BN to C/2 channels and a 3x3 stride-2 ReLU-conv-BN to C; then
one module per skeleton digit, each two cells (``MacroNet._make_layer``): digits 2 and 4 double
the width, 3 and 4 halve the resolution, in the module's first cell, whose edges out of node 0
have the stride and the width change (``skip_connect`` there is a ``FactorizedReduce``);
Kaiming-normal convolutions (fan-out) as ``MacroNet._kaiming_init``. The head: global average
pooling and a linear classifier, ``num_classes`` from the data (the benchmark's configs use 75
for class_object and 47 for class_scene; NASLib uses 100 and 63). The benchmark feeds 256x256
images (224x224 for its FLOPs); the network is fully convolutional, so our 32x32 profiles give
an 8x8 map after the stem and 1x1 after the three reductions of ``41414``.

Every non-``none`` edge holds its op, so parameter counts are the benchmark's
(``sum(p.numel() for p in model.parameters())``, its ``get_params``); edges whose value cannot
reach the cell output (from a zero node, or into a node that feeds nothing) are not computed,
which changes no output (the benchmark computes them; an op ending in batch norm maps zeros to
its shift, 0 at initialisation) and leaves their batch-norm shifts without the gradient the
benchmark's code gives them. No published parameter count per architecture was found (the
benchmark's ``model_params`` are in its API file, not in its repositories), so the tests check
the analytic count against the built network.

Sampling (``random_arch``) and mutation (``mutate``) are at the end of the module.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import torch
from pydantic import Field, TypeAdapter
from torch import nn

from ..layers import BatchNorm2d
from ._base import SearchSpace, SpecError
from ._registry import register
from .nb201 import EDGES, NB201Arch, cell_output

__all__ = [
    "BASE_CHANNELS",
    "OPS",
    "SKELETON",
    "FactorizedReduce",
    "MicroCell",
    "TransNasMicroArch",
    "TransNasMicroSpace",
    "TransNasNetwork",
    "block_layout",
    "check_channels",
    "mutate",
    "random_arch",
    "relu_conv_bn",
    "stem_counts",
]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
"""The benchmark's ops, indexed by the digit that writes them."""
BASE_CHANNELS = 64
"""The base width of every architecture in the benchmark's string."""
SKELETON = "41414"
"""The macro skeleton of every cell-level architecture."""
BLOCKS_PER_MODULE = 2

_KERNEL_AREA = {"nor_conv_3x3": 9, "nor_conv_1x1": 1}
_CELL_FORM = "'1_02_333' (node 1's op, node 2's two, node 3's three; digits 0-3)"
_CELL_PATTERN = r"[0-3]_[0-3]{2}_[0-3]{3}"
_SPEC_SCHEMA = TypeAdapter(
    Annotated[
        str,
        Field(
            pattern=rf"^\s*({BASE_CHANNELS}-{SKELETON}-)?{_CELL_PATTERN}\s*$",
            description=(
                "the benchmark's string '64-41414-1_02_333' or its cell code '1_02_333'; "
                "digits: 0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3"
            ),
        ),
    ]
).json_schema()


@dataclass(frozen=True)
class TransNasMicroArch:
    """One cell: ``ops[k]`` is the op on edge ``EDGES[k]`` (nb201's edge order)."""

    ops: tuple[str, ...]

    @property
    def cell_code(self) -> str:
        """The benchmark's cell code, e.g. ``"1_02_333"``."""
        digits = "".join(str(OPS.index(op)) for op in self.ops)
        return f"{digits[0]}_{digits[1:3]}_{digits[3:]}"

    @property
    def arch_str(self) -> str:
        """The benchmark's string, e.g. ``"64-41414-1_02_333"``."""
        return f"{BASE_CHANNELS}-{SKELETON}-{self.cell_code}"

    @property
    def is_degenerate(self) -> bool:
        """True when no input-to-output path exists: every cell outputs zeros."""
        return NB201Arch(self.ops).is_degenerate

    def live_edges(self) -> tuple[int, ...]:
        """Indices into ``EDGES`` of the edges whose value can reach the output (as in an
        nb201 cell of the same ops: whether an edge is live depends on ``none`` alone)."""
        return NB201Arch(self.ops).live_edges()


def _node_expressions(ops: tuple[str, ...], reduction: bool) -> list[tuple]:
    """The function each node computes, as a sorted multiset of terms (as nb201's).

    A term is ``"x"`` (the cell input) or ``(op, expression)``; ``none`` and any op applied to
    a zero node (the empty multiset) vanish and addition is commutative. ``skip_connect`` is
    the identity, whose source's terms join the node, except out of the input of a reducing
    cell (``reduction``), where it is a ``FactorizedReduce`` with weights, a term like a conv.
    """
    nodes: list[tuple] = [("x",)]
    for target in (1, 2, 3):
        terms: list = []
        for k, (source, edge_target) in enumerate(EDGES):
            if edge_target != target or ops[k] == "none" or not nodes[source]:
                continue
            if ops[k] == "skip_connect" and not (reduction and source == 0):
                terms.extend(nodes[source])
            else:
                terms.append((ops[k], nodes[source]))
        nodes.append(tuple(sorted(terms, key=repr)))
    return nodes


def _parse_cell_code(code: str) -> tuple[str, ...]:
    nodes = code.split("_")
    if len(nodes) != 3:
        raise SpecError(f"cell: expected 3 nodes separated by '_', like {_CELL_FORM}, got {code!r}")
    ops: list[str] = []
    for target, node in enumerate(nodes, start=1):
        if len(node) != target:
            raise SpecError(
                f"cell node {target}: expected {target} op digit(s), one per earlier node, "
                f"got {node!r}"
            )
        for source, digit in enumerate(node):
            if digit not in "0123":
                raise SpecError(
                    f"cell node {target}: op {digit!r} on node {source} is not a digit 0-3 "
                    "(0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3)"
                )
            ops.append(OPS[int(digit)])
    return tuple(ops)


# ----------------------------------------------------------------------------- network


def block_layout(skeleton: str, channels: int) -> list[tuple[int, int, int]]:
    """(input width, output width, stride) of each block (cell or basic block) after the
    stem, as ``MacroNet`` lays them out: one module per skeleton digit, two blocks each;
    digits 2 and 4 double the width and 3 and 4 halve the resolution, in the first block."""
    layout, width = [], channels
    for digit in skeleton:
        code = int(digit)
        out = 2 * width if code % 2 == 0 else width
        stride = 2 if code > 2 else 1
        layout.append((width, out, stride))
        layout.extend([(out, out, 1)] * (BLOCKS_PER_MODULE - 1))
        width = out
    return layout


def stem_counts(channels: int, side: int) -> tuple[int, int, int]:
    """(parameters, FLOPs, output side) of the stem on a ``side`` x ``side`` input."""
    half = channels // 2
    side_1 = (side + 1) // 2
    side_2 = (side_1 + 1) // 2
    params = 27 * half + 2 * half + 9 * half * channels + 2 * channels
    flops = 2 * 27 * half * side_1 * side_1 + 2 * 9 * half * channels * side_2 * side_2
    return params, flops, side_2


def relu_conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int
) -> nn.Sequential:
    """The benchmark's ``ReLUConvBN`` (padding keeps the size at stride 1)."""
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        BatchNorm2d(out_channels),
    )


class FactorizedReduce(nn.Module):
    """The benchmark's ``FactorizedReduce``: ReLU, two 1x1 convolutions (the second on the
    input shifted by one pixel, zero-padded at the bottom and right), concatenated, BN."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0.0)
        half = out_channels // 2
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels, width, 1, stride, bias=False)
            for width in (half, out_channels - half)
        )
        self.bn = BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = self.pad(x)[:, :, 1:, 1:]
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1))


def _make_op(op: str, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if op in _KERNEL_AREA:
        return relu_conv_bn(in_channels, out_channels, 3 if op == "nor_conv_3x3" else 1, stride)
    if op == "skip_connect":
        if stride == 1 and in_channels == out_channels:
            return nn.Identity()
        return FactorizedReduce(in_channels, out_channels, stride)
    raise AssertionError(f"no module for op {op!r}")


class MicroCell(nn.Module):
    """The benchmark's ``MicroCell`` computing only its live edges: the edges out of node 0
    map ``in_channels`` to ``out_channels`` with ``stride``, the others keep the output's
    width and size."""

    def __init__(
        self, arch: TransNasMicroArch, in_channels: int, out_channels: int, stride: int
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride
        self.edges = nn.ModuleDict(
            {
                f"{target}_{source}": _make_op(
                    op,
                    in_channels if source == 0 else out_channels,
                    out_channels,
                    stride if source == 0 else 1,
                )
                for (source, target), op in zip(EDGES, arch.ops, strict=True)
                if op != "none"
            }
        )
        self._live = [EDGES[k] for k in arch.live_edges()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = cell_output(self.edges, self._live, x)
        if output is None:
            height, width = ((size + self.stride - 1) // self.stride for size in x.shape[2:])
            return x.new_zeros((x.shape[0], self.out_channels, height, width))
        return output


class TransNasNetwork(nn.Module):
    """The benchmark's classification network: ``MacroNet``'s encoder (stem, then the blocks
    of ``block_layout``, each built by ``block(in_width, out_width, stride)``, convolutions
    Kaiming-initialised), then ``FFDecoder``: global average pooling and a linear layer."""

    def __init__(
        self,
        skeleton: str,
        channels: int,
        block: Callable[[int, int, int], nn.Module],
        num_classes: int,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels // 2, 3, 2, 1, bias=False),
            BatchNorm2d(channels // 2),
            relu_conv_bn(channels // 2, channels, 3, 2),
        )
        layout = block_layout(skeleton, channels)
        self.blocks = nn.Sequential(*(block(*entry) for entry in layout))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(layout[-1][1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.blocks(self.stem(x))
        return self.classifier(self.global_pooling(features).flatten(1))


# ------------------------------------------------------------------------------- space


def check_channels(space: str, channels: Any) -> int:
    """``channels`` if it is an even integer 2-4096 (the stem halves it), else SpecError."""
    if (
        isinstance(channels, bool)
        or not isinstance(channels, int)
        or not 2 <= channels <= 4096
        or channels % 2
    ):
        raise SpecError(
            f"{space} setting channels must be an even integer 2-4096, got {channels!r}"
        )
    return channels


@register
class TransNasMicroSpace(SearchSpace):
    """TransNAS-Bench-101's cells in its classification network.

    Args:
        channels: the base width C (the benchmark's is 64; narrower networks build faster).

    Raises:
        SpecError: ``channels`` is not an even integer 2-4096.
    """

    name = "transnas_micro"

    def __init__(self, *, channels: int = BASE_CHANNELS) -> None:
        self.channels = check_channels(self.name, channels)

    def parse(self, spec: Any) -> TransNasMicroArch:
        """Validate ``"64-41414-1_02_333"`` or the cell code ``"1_02_333"``.

        Raises:
            SpecError: the message names the field at fault (``base_channels``,
                ``skeleton``, ``cell``, ``cell node 2``).
        """
        if not isinstance(spec, str):
            raise SpecError(
                "transnas_micro spec must be a string like '64-41414-1_02_333' or "
                f"'1_02_333', got {type(spec).__name__}"
            )
        parts = spec.strip().split("-")
        if len(parts) == 3:
            base, skeleton, code = parts
            if base != str(BASE_CHANNELS):
                raise SpecError(
                    f"base_channels: every cell-level architecture has {BASE_CHANNELS}, got "
                    f"{base!r} (the space setting 'channels' sets the width it is built with)"
                )
            if skeleton != SKELETON:
                raise SpecError(
                    f"skeleton: every cell-level architecture has {SKELETON!r}, got "
                    f"{skeleton!r} (for other skeletons use the transnas_macro space)"
                )
        elif len(parts) == 1:
            code = parts[0]
        else:
            raise SpecError(
                f"transnas_micro spec must be '{BASE_CHANNELS}-{SKELETON}-<cell>' or the cell "
                f"code alone, like {_CELL_FORM}, got {spec.strip()[:40]!r}"
            )
        return TransNasMicroArch(_parse_cell_code(code))

    def canonical_key(self, arch: TransNasMicroArch) -> str:
        """Equal for cells whose networks compute the same function.

        A cell is read as nb201's are (``_node_expressions``): ``none`` and ops on zero
        nodes vanish, so do edges that cannot reach the output; sums are unordered;
        ``skip_connect`` is the identity, so a node reached through skips sums the terms of
        the node they start from. The network uses each cell both as a normal cell and as a
        reducing one (the first cell of each ``4`` module of ``41414``), where ``skip_connect``
        out of the input is a ``FactorizedReduce``, not an identity; the key holds the
        cell's function in both roles, so cells merge only when they agree in both (``1_00_030``,
        a conv after a skip, equals ``0_00_300`` in normal cells only). All degenerate cells
        (no input-output path) share one key. The 4,096 cells form 1,229 classes, 169 cells
        degenerate. Not merged: rescalings (a node that sums one value twice through two
        skips is not that value).
        """
        forms = [_node_expressions(arch.ops, reduction)[3] for reduction in (False, True)]
        return hashlib.sha256(f"transnas_micro:{forms!r}".encode()).hexdigest()

    def identity_key(self, arch: TransNasMicroArch) -> str:
        """The cell itself: the benchmark's string and the bare cell code of one cell are
        one architecture, but two cells of one function class are two (the benchmark
        trained each of its 4,096 cells, and their parameter counts differ)."""
        return hashlib.sha256(f"transnas_micro-cell:{arch.arch_str}".encode()).hexdigest()

    def to_spec(self, arch: TransNasMicroArch) -> str:
        return arch.arch_str

    def spec_schema(self) -> dict[str, Any]:
        return json.loads(json.dumps(_SPEC_SCHEMA))

    def _build(self, arch: TransNasMicroArch, num_classes: int) -> nn.Module:
        def cell(in_channels: int, out_channels: int, stride: int) -> nn.Module:
            return MicroCell(arch, in_channels, out_channels, stride)

        return TransNasNetwork(SKELETON, self.channels, cell, num_classes)

    def param_count(self, arch: TransNasMicroArch, num_classes: int = 10) -> int:
        """Trainable parameters, counted analytically (equal to the built network's)."""
        return self._counts(arch, num_classes)[0]

    def flops(self, arch: TransNasMicroArch, num_classes: int = 10) -> int:
        """FLOPs of one sample as torch.utils.flop_counter counts them (convolutions and the
        classifier; live edges only, as the network computes), counted analytically: the
        base class's meta-device pass would run training-mode batch norm on one sample's
        1x1 map, which torch refuses."""
        return self._counts(arch, num_classes)[1]

    def _counts(self, arch: TransNasMicroArch, num_classes: int) -> tuple[int, int]:
        """(parameters, FLOPs), block by block as ``TransNasNetwork`` builds the network."""
        params, flops, side = stem_counts(self.channels, self.input_shape(arch)[-1])
        live = set(arch.live_edges())
        layout = block_layout(SKELETON, self.channels)
        for in_width, width, stride in layout:
            side = (side + stride - 1) // stride
            for k, ((source, _), op) in enumerate(zip(EDGES, arch.ops, strict=True)):
                edge_in = in_width if source == 0 else width
                reshapes = source == 0 and (stride != 1 or in_width != width)
                if op in _KERNEL_AREA:
                    weights = _KERNEL_AREA[op] * edge_in * width
                elif op == "skip_connect" and reshapes:  # FactorizedReduce: two 1x1 convs
                    weights = edge_in * width
                else:
                    continue
                params += weights + 2 * width
                flops += (k in live) * 2 * weights * side * side
        features = layout[-1][1]
        params += features * num_classes + num_classes
        return params, flops + 2 * features * num_classes


# ---------------------------------------------------------------------- search helpers


def random_arch(rng: random.Random) -> TransNasMicroArch:
    """A uniformly random cell of the 4,096 (all of which the benchmark trained): each
    edge's op uniform over ``OPS``, degenerate cells included."""
    return TransNasMicroArch(tuple(rng.choice(OPS) for _ in EDGES))


def mutate(arch: TransNasMicroArch, rng: random.Random) -> TransNasMicroArch:
    """NASLib's mutation: one random edge gets a different op (uniform over the other
    three); the child always differs from the parent."""
    ops = list(arch.ops)
    k = rng.randrange(len(EDGES))
    ops[k] = rng.choice([op for op in OPS if op != ops[k]])
    return TransNasMicroArch(tuple(ops))
