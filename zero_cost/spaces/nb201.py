"""NAS-Bench-201 (Dong & Yang, ICLR 2020): a cell of 4 nodes and 6 edges, 5 ops per edge.

A cell is written as a string listing, for nodes 1 to 3, the op on each incoming edge::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

so the edge order is 0->1 | 0->2, 1->2 | 0->3, 1->3, 2->3. NASLib's op-index tuples such as
``(0, 2, 3, 2, 3, 1)`` are accepted too (see ``NASLIB_OPS`` and ``NASLIB_EDGES``).

The network is the benchmark's macro skeleton (``TinyNetwork`` of the official xautodl code):
a 3x3 conv stem with C channels, three stages of N cells with residual reduction blocks
between them (C -> 2C -> 4C), BN-ReLU, global average pooling and a linear classifier.
Every non-``none`` edge gets its op, so parameter counts equal the benchmark's; edges whose
value cannot reach the cell output (from a zero node, or into a node that feeds nothing)
are held but never computed, which changes no output and no gradient.

Sampling (``random_arch``) and mutation (``mutate``) for regularized evolution are at the end
of the module.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import TypeAdapter
from torch import nn

from ..layers import AvgPool3x3, BatchNorm2d
from ._base import SearchSpace, SpecError
from ._registry import register

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (source, target) of each edge, in cell-string order.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
# NASLib's encoding: op indices into NASLIB_OPS, edges in NASLIB_EDGES order.
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))

_KERNEL_AREA = {"nor_conv_3x3": 9, "nor_conv_1x1": 1}
_NODE_PATTERN = re.compile(r"^([a-z0-9_]+)~(\d+)$")
_SPEC_SCHEMA = TypeAdapter(str | tuple[int, int, int, int, int, int]).json_schema()


@dataclass(frozen=True)
class NB201Arch:
    """One NAS-Bench-201 cell: ``ops[k]`` is the op on edge ``EDGES[k]``."""

    ops: tuple[str, ...]

    @property
    def arch_str(self) -> str:
        """The benchmark's cell string."""
        nodes, k = [], 0
        for target in (1, 2, 3):
            nodes.append("|".join(f"{self.ops[k + i]}~{i}" for i in range(target)))
            k += target
        return "|" + "|+|".join(nodes) + "|"

    @property
    def naslib_tuple(self) -> tuple[int, ...]:
        """NASLib's op-index tuple for this cell."""
        by_edge = dict(zip(EDGES, self.ops, strict=True))
        return tuple(NASLIB_OPS.index(by_edge[edge]) for edge in NASLIB_EDGES)

    @property
    def is_degenerate(self) -> bool:
        """True when no input-to-output path exists: the cell outputs zeros."""
        return not _node_expressions(self.ops)[3]

    def live_edges(self) -> tuple[int, ...]:
        """Indices into ``EDGES`` of the edges whose value can reach the output."""
        expressions = _node_expressions(self.ops)
        feeds_output = {3}
        for k in reversed(range(len(EDGES))):
            source, target = EDGES[k]
            if self.ops[k] != "none" and target in feeds_output:
                feeds_output.add(source)
        return tuple(
            k
            for k, (source, target) in enumerate(EDGES)
            if self.ops[k] != "none" and expressions[source] and target in feeds_output
        )


def _node_expressions(ops: tuple[str, ...]) -> list[tuple]:
    """The function each node computes, as a sorted multiset of terms.

    A term is ``"x"`` (the cell input) or ``(op, expression)``. ``skip_connect`` inlines its
    source's terms, ``none`` and any op applied to a zero node (the empty multiset) vanish,
    and addition is commutative, so equal expressions mean equal functions.
    """
    nodes: list[tuple] = [("x",)]
    for target in (1, 2, 3):
        terms: list = []
        for k, (source, edge_target) in enumerate(EDGES):
            if edge_target != target or ops[k] == "none" or not nodes[source]:
                continue
            if ops[k] == "skip_connect":
                terms.extend(nodes[source])
            else:
                terms.append((ops[k], nodes[source]))
        nodes.append(tuple(sorted(terms, key=repr)))
    return nodes


def _parse_cell_string(spec: str) -> tuple[str, ...]:
    text = spec.strip()
    form = "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'"
    if not (text.startswith("|") and text.endswith("|")):
        raise SpecError(f"nb201 cell string must start and end with '|', like {form}")
    nodes = text[1:-1].split("|+|")
    if len(nodes) != 3:
        raise SpecError(f"nb201 cell string must have 3 nodes separated by '|+|', like {form}")
    ops: list[str] = []
    for target, node in enumerate(nodes, start=1):
        edges = node.split("|")
        if len(edges) != target:
            raise SpecError(
                f"nb201 node {target} must have {target} incoming edge(s), got {len(edges)}: "
                f"{node!r}"
            )
        for source, edge in enumerate(edges):
            match = _NODE_PATTERN.match(edge)
            if match is None:
                raise SpecError(f"nb201 node {target}: edge {edge!r} is not of the form 'op~index'")
            op, index = match.group(1), int(match.group(2))
            if op not in OPS:
                raise SpecError(
                    f"nb201 node {target}: unknown op {op!r}; expected one of {', '.join(OPS)}"
                )
            if index != source:
                raise SpecError(
                    f"nb201 node {target}: edge {edge!r} must come from node {source} "
                    f"(write it as '{op}~{source}')"
                )
            ops.append(op)
    return tuple(ops)


def _parse_naslib_tuple(spec: list | tuple) -> tuple[str, ...]:
    if len(spec) != len(NASLIB_EDGES):
        raise SpecError(f"nb201 op-index tuple must have 6 entries, got {len(spec)}")
    by_edge = {}
    for position, (edge, index) in enumerate(zip(NASLIB_EDGES, spec, strict=True)):
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 5:
            raise SpecError(
                f"nb201 op-index tuple entry {position} must be an integer 0-4 "
                f"(index into {list(NASLIB_OPS)}), got {index!r}"
            )
        by_edge[edge] = NASLIB_OPS[index]
    return tuple(by_edge[edge] for edge in EDGES)


def _relu_conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, bias=False
        ),
        BatchNorm2d(out_channels),
    )


def _make_op(op: str, in_channels: int, out_channels: int) -> nn.Module:
    """The module of one edge. Edges out of the cell input map ``in_channels`` to
    ``out_channels`` as xautodl's ``OPS`` do when the two differ: pooling after a 1x1
    ReLU-conv-BN, ``skip_connect`` as a 1x1 conv-BN (``FactorizedReduce`` at stride 1)."""
    if op == "nor_conv_3x3":
        return _relu_conv_bn(in_channels, out_channels, 3)
    if op == "nor_conv_1x1":
        return _relu_conv_bn(in_channels, out_channels, 1)
    if op == "avg_pool_3x3":
        if in_channels == out_channels:
            return AvgPool3x3()
        return nn.Sequential(_relu_conv_bn(in_channels, out_channels, 1), AvgPool3x3())
    if op == "skip_connect":
        if in_channels == out_channels:
            return nn.Identity()
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), BatchNorm2d(out_channels)
        )
    raise AssertionError(f"no module for op {op!r}")


class Cell(nn.Module):
    """A NAS-Bench-201 cell computing only its live edges (xautodl's ``InferCell``): the
    edges out of the cell input map ``in_channels`` to ``out_channels``, all others keep
    ``out_channels``."""

    def __init__(self, arch: NB201Arch, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.edges = nn.ModuleDict(
            {
                f"{target}_{source}": _make_op(
                    op, in_channels if source == 0 else out_channels, out_channels
                )
                for (source, target), op in zip(EDGES, arch.ops, strict=True)
                if op != "none"
            }
        )
        self._live = [EDGES[k] for k in arch.live_edges()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = cell_output(self.edges, self._live, x)
        if output is None:
            return x.new_zeros((x.shape[0], self.out_channels, *x.shape[2:]))
        return output


def cell_output(
    edges: nn.ModuleDict, live: Sequence[tuple[int, int]], x: torch.Tensor
) -> torch.Tensor | None:
    """The output node of a four-node cell with input ``x``: the sum over the ``live``
    (source, target) edges into each node, in ``EDGES`` order, of ``edges["{target}_{source}"]``
    applied to the source node; None when no live edge reaches the output."""
    nodes: list[torch.Tensor | None] = [x, None, None, None]
    for source, target in live:
        value = edges[f"{target}_{source}"](nodes[source])
        current = nodes[target]
        nodes[target] = value if current is None else current + value
    return nodes[3]


class ResidualReduction(nn.Module):
    """The benchmark's reduction block: a stride-2 residual basic block doubling channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, 3, 2, 1, bias=False),
            BatchNorm2d(out_channels),
        )
        self.conv_b = _relu_conv_bn(out_channels, out_channels, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The benchmark's macro skeleton around one cell, with a width for every layer.

    ``widths`` holds 3N + 2 layer widths: N cells, a reduction block, N cells, a reduction
    block, N cells; the stem has ``widths[0]`` channels (xautodl's ``DynamicShapeTinyNet``).
    NAS-Bench-201's ``TinyNetwork`` is the case ``[C] * N + [2C] * (N + 1) + [4C] * (N + 1)``.
    """

    def __init__(self, arch: NB201Arch, widths: Sequence[int], num_classes: int) -> None:
        super().__init__()
        cells_per_stage = len(widths) // 3
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False), BatchNorm2d(widths[0])
        )
        blocks: list[nn.Module] = []
        width = widths[0]
        for layer, out_width in enumerate(widths):
            if layer in (cells_per_stage, 2 * cells_per_stage + 1):
                blocks.append(ResidualReduction(width, out_width))
            else:
                blocks.append(Cell(arch, width, out_width))
            width = out_width
        self.cells = nn.Sequential(*blocks)
        self.lastact = nn.Sequential(BatchNorm2d(width), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.global_pooling(features).flatten(1))


@register
class NB201Space(SearchSpace):
    """NAS-Bench-201 cells in the benchmark's network (defaults: C=16, N=5)."""

    name = "nb201"

    def __init__(self, *, channels: int = 16, cells_per_stage: int = 5) -> None:
        for setting, value in (("channels", channels), ("cells_per_stage", cells_per_stage)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
                raise SpecError(f"nb201 setting {setting} must be an integer 1-4096, got {value!r}")
        self.channels = channels
        self.cells_per_stage = cells_per_stage

    def parse(self, spec: Any) -> NB201Arch:
        if isinstance(spec, str):
            return NB201Arch(_parse_cell_string(spec))
        if isinstance(spec, list | tuple):
            return NB201Arch(_parse_naslib_tuple(spec))
        raise SpecError(
            "nb201 spec must be a cell string like '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' "
            f"or a list of 6 NASLib op indices, got {type(spec).__name__}"
        )

    def canonical_key(self, arch: NB201Arch) -> str:
        form = repr(_node_expressions(arch.ops)[3])
        return hashlib.sha256(f"nb201:{form}".encode()).hexdigest()

    def identity_key(self, arch: NB201Arch) -> str:
        """The cell itself: a cell string and the NASLib tuple of the same cell are one
        architecture, but two cells of one function class are two (the benchmark trained
        each of its 15,625 cells, and their parameter counts differ)."""
        return hashlib.sha256(f"nb201-cell:{arch.arch_str}".encode()).hexdigest()

    def to_spec(self, arch: NB201Arch) -> str:
        return arch.arch_str

    def spec_schema(self) -> dict[str, Any]:
        return json.loads(json.dumps(_SPEC_SCHEMA))

    def _build(self, arch: NB201Arch, num_classes: int) -> nn.Module:
        c, n = self.channels, self.cells_per_stage
        return NB201Network(arch, [c] * n + [2 * c] * (n + 1) + [4 * c] * (n + 1), num_classes)

    def param_count(self, arch: NB201Arch, num_classes: int = 10) -> int:
        """Trainable parameters, counted analytically (equal to the built network's)."""
        c, n = self.channels, self.cells_per_stage
        total = 3 * 9 * c + 2 * c  # stem conv + BN
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                half = width // 2
                total += 9 * half * width + 2 * width  # conv_a
                total += 9 * width * width + 2 * width  # conv_b
                total += half * width  # downsample 1x1
            cell = sum(
                _KERNEL_AREA[op] * width * width + 2 * width
                for op in arch.ops
                if op in _KERNEL_AREA
            )
            total += n * cell
        return total + 2 * 4 * c + 4 * c * num_classes + num_classes  # lastact BN, classifier

    def flops(self, arch: NB201Arch, num_classes: int = 10) -> int:
        """FLOPs of one sample as torch.utils.flop_counter counts them (convolutions and the
        classifier; live edges only, as the network computes), counted analytically."""
        c, n = self.channels, self.cells_per_stage
        live = [arch.ops[k] for k in arch.live_edges()]
        total = 2 * 3 * 9 * c * 32 * 32  # stem
        for stage, (width, side) in enumerate(((c, 32), (2 * c, 16), (4 * c, 8))):
            pixels = side * side
            if stage > 0:
                half = width // 2
                total += 2 * pixels * (9 * half * width + 9 * width * width + half * width)
            cell = sum(
                2 * pixels * _KERNEL_AREA[op] * width * width for op in live if op in _KERNEL_AREA
            )
            total += n * cell
        return total + 2 * 4 * c * num_classes


# ------------------------------------------------------------------ regularized evolution


def random_arch(rng: random.Random) -> NB201Arch:
    """A uniformly random cell: each edge's op uniform over ``OPS`` (degenerate cells
    included)."""
    return NB201Arch(tuple(rng.choice(OPS) for _ in EDGES))


def mutate(arch: NB201Arch, rng: random.Random) -> NB201Arch:
    """Real et al.'s op mutation: one random edge gets a different op (uniform over the
    other four); the child always differs from the parent."""
    ops = list(arch.ops)
    edge = rng.randrange(len(ops))
    ops[edge] = rng.choice([op for op in OPS if op != ops[edge]])
    return NB201Arch(tuple(ops))
