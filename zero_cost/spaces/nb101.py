"""NAS-Bench-101: cells given as a small DAG of convolution and pooling vertices.

NAS-Bench-101 (Ying et al., "NAS-Bench-101: Towards Reproducible Neural Architecture
Search", ICML 2019) describes a cell by an upper-triangular adjacency ``matrix`` over at
most 7 vertices and a label per vertex (``ops``): vertex 0 is the cell input, the last
vertex the cell output, and each interior vertex one of ``conv3x3-bn-relu``,
``conv1x1-bn-relu`` or ``maxpool3x3``. A cell has at most 9 edges. Vertices that lie on no
input-to-output path do not affect the computation and are pruned; as in the benchmark's
API, the vertex and edge limits apply to the pruned cell (so every accepted spec is one of
the benchmark's 423k cells), though a spec may list at most 7 vertices.

The network is the benchmark's CIFAR-10 model, as in ``model_builder.py`` of
google-research/nasbench: a 3x3 conv-BN-ReLU stem, ``num_stacks`` stacks of
``cells_per_stack`` cells with a 2x2 max pool and channel doubling between stacks, global
average pooling and a dense classifier. With the default settings, parameter counts match
the benchmark's exactly.

Spec format (a dict, or the same as a JSON string)::

    {"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]],
     "ops": ["input", "conv3x3-bn-relu", "output"]}
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Annotated, Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..layers import BatchNorm2d
from ._base import SearchSpace, SpecError
from ._registry import register

__all__ = ["INTERIOR_OPS", "MAX_EDGES", "MAX_VERTICES", "NB101Arch", "NB101Space", "NB101Spec"]

INTERIOR_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES = 7
MAX_EDGES = 9

Matrix = tuple[tuple[int, ...], ...]


class NB101Spec(BaseModel):
    """JSON schema of an NB101 spec (validation itself is done by ``NB101Space.parse``)."""

    model_config = ConfigDict(extra="forbid")

    matrix: list[list[Annotated[int, Field(ge=0, le=1)]]] = Field(
        min_length=2,
        max_length=MAX_VERTICES,
        description=(
            "Square, strictly upper-triangular 0/1 adjacency matrix; matrix[i][j] = 1 is an "
            f"edge from vertex i to vertex j. 2 to {MAX_VERTICES} vertices; at most "
            f"{MAX_EDGES} edges once vertices on no input-output path are pruned."
        ),
    )
    ops: list[str] = Field(
        min_length=2,
        max_length=MAX_VERTICES,
        description=(
            "One label per vertex: 'input' first, 'output' last, and in between any of "
            + ", ".join(repr(op) for op in INTERIOR_OPS)
            + "."
        ),
    )


@dataclass(frozen=True)
class NB101Arch:
    """A validated, pruned NAS-Bench-101 cell.

    Attributes:
        matrix: strictly upper-triangular 0/1 adjacency matrix of the pruned cell.
        ops: vertex labels of the pruned cell, ``"input"`` first and ``"output"`` last.
        is_degenerate: always False: specs without an input-output path are rejected.
    """

    matrix: Matrix
    ops: tuple[str, ...]
    is_degenerate: bool = False


def _describe(value: Any) -> str:
    """A short, always-printable description of an offending value for error messages."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**12 else "a very large integer"
    if isinstance(value, float):
        return f"float {value!r}"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    return f"a value of type {type(value).__name__}"


def _is_sequence(value: Any) -> bool:
    """True for lists, tuples and other sequences, but not for strings or bytes."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _parse_matrix(raw: Any) -> list[list[int]]:
    """Check shape, 0/1 entries and strict upper-triangularity of a raw matrix."""
    if not _is_sequence(raw):
        raise SpecError(f"matrix: expected a list of rows, got {_describe(raw)}")
    n = len(raw)
    if not 2 <= n <= MAX_VERTICES:
        raise SpecError(f"matrix: must have 2 to {MAX_VERTICES} rows (vertices), got {n}")
    matrix: list[list[int]] = []
    for i, row in enumerate(raw):
        if not _is_sequence(row):
            raise SpecError(f"matrix[{i}]: expected a list of {n} entries, got {_describe(row)}")
        if len(row) != n:
            raise SpecError(
                f"matrix[{i}]: expected {n} entries (matrix must be square), got {len(row)}"
            )
        parsed_row: list[int] = []
        for j, entry in enumerate(row):
            if not isinstance(entry, Integral) or int(entry) not in (0, 1):
                raise SpecError(f"matrix[{i}][{j}]: must be 0 or 1, got {_describe(entry)}")
            if j <= i and entry:
                raise SpecError(
                    f"matrix[{i}][{j}]: must be 0 on and below the diagonal "
                    "(matrix must be strictly upper triangular)"
                )
            parsed_row.append(int(entry))
        matrix.append(parsed_row)
    return matrix


def _parse_ops(raw: Any, n: int) -> list[str]:
    """Check that there is one valid label per vertex, input first and output last."""
    if not _is_sequence(raw):
        raise SpecError(f"ops: expected a list of {n} op names, got {_describe(raw)}")
    if len(raw) != n:
        raise SpecError(f"ops: expected {n} entries (one per matrix row), got {len(raw)}")
    for i, op in enumerate(raw):
        if not isinstance(op, str):
            raise SpecError(f"ops[{i}]: expected an op name, got {_describe(op)}")
        if i == 0:
            if op != "input":
                raise SpecError(f"ops[0]: must be 'input', got {_describe(op)}")
        elif i == n - 1:
            if op != "output":
                raise SpecError(f"ops[{i}]: must be 'output' (last vertex), got {_describe(op)}")
        elif op not in INTERIOR_OPS:
            raise SpecError(
                f"ops[{i}]: unknown op {_describe(op)}; expected one of {', '.join(INTERIOR_OPS)}"
            )
    return list(raw)


def _prune(matrix: list[list[int]], ops: list[str]) -> NB101Arch:
    """Drop vertices not on an input-output path, like nasbench's ``ModelSpec._prune``."""
    n = len(ops)
    from_input = {0}
    for v in range(1, n):
        if any(matrix[u][v] for u in from_input):
            from_input.add(v)
    to_output = {n - 1}
    for v in range(n - 2, -1, -1):
        if any(matrix[v][w] for w in to_output):
            to_output.add(v)
    if n - 1 not in from_input:
        raise SpecError(f"matrix: no path from the input (vertex 0) to the output (vertex {n - 1})")
    keep = sorted(from_input & to_output)
    return NB101Arch(
        matrix=tuple(tuple(matrix[u][v] for v in keep) for u in keep),
        ops=tuple(ops[v] for v in keep),
    )


def _vertex_channels(in_channels: int, out_channels: int, matrix: Matrix) -> list[int]:
    """Output channels of every vertex, as nasbench's ``compute_vertex_channels``.

    The output's channels are split evenly among the vertices feeding it (the remainder
    going one each to the first of them); every other interior vertex gets the largest
    channel count among its successors.
    """
    n = len(matrix)
    channels = [0] * n
    channels[0] = in_channels
    channels[n - 1] = out_channels
    if n == 2:
        return channels
    feeding_output = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    share, remainder = divmod(out_channels, len(feeding_output))
    for rank, v in enumerate(feeding_output):
        channels[v] = share + (1 if rank < remainder else 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max(channels[w] for w in range(v + 1, n - 1) if matrix[v][w])
    return channels


def _batch_norm(channels: int) -> BatchNorm2d:
    """BatchNorm as in nasbench: TF decay 0.997 is PyTorch momentum 1 - 0.997 = 0.003."""
    return BatchNorm2d(channels, eps=1e-5, momentum=0.003)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Bias-free 'same' convolution, batch norm and ReLU (nasbench's ``conv_bn_relu``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        _batch_norm(out_channels),
        nn.ReLU(),
    )


def _vertex_op(op: str, channels: int) -> nn.Module:
    """The module computing an interior vertex; it keeps the channel count."""
    if op == "conv3x3-bn-relu":
        return _conv_bn_relu(channels, channels, 3)
    if op == "conv1x1-bn-relu":
        return _conv_bn_relu(channels, channels, 1)
    return nn.MaxPool2d(kernel_size=3, stride=1, padding=1)


class NB101Cell(nn.Module):
    """One cell (``build_module`` in nasbench's ``model_builder.py``).

    Interior vertex ``v`` sums the outputs of its interior predecessors, truncated to its
    own channel count, and a 1x1 projection of the cell input if the input feeds it. The
    cell output concatenates the interior vertices feeding the output, plus a projection of
    the cell input if the input feeds the output directly.
    """

    def __init__(self, arch: NB101Arch, in_channels: int, out_channels: int) -> None:
        super().__init__()
        matrix = arch.matrix
        n = len(matrix)
        self.matrix = matrix
        self.vertex_channels = _vertex_channels(in_channels, out_channels, matrix)
        self.vertex_ops = nn.ModuleList(
            _vertex_op(arch.ops[v], self.vertex_channels[v]) for v in range(1, n - 1)
        )
        # projections[str(v)] projects the cell input for vertex v (v = n - 1: the output).
        self.projections = nn.ModuleDict(
            {
                str(v): _conv_bn_relu(in_channels, self.vertex_channels[v], 1)
                for v in range(1, n)
                if matrix[0][v]
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        matrix = self.matrix
        n = len(matrix)
        outputs = [x]
        to_concat = []
        for v in range(1, n - 1):
            width = self.vertex_channels[v]
            inputs = [outputs[u][:, :width] for u in range(1, v) if matrix[u][v]]
            if matrix[0][v]:
                inputs.append(self.projections[str(v)](x))
            total = inputs[0]
            for extra in inputs[1:]:
                total = total + extra
            outputs.append(self.vertex_ops[v - 1](total))
            if matrix[v][n - 1]:
                to_concat.append(outputs[v])
        if not to_concat:
            return self.projections[str(n - 1)](x)
        out = torch.cat(to_concat, dim=1) if len(to_concat) > 1 else to_concat[0]
        if matrix[0][n - 1]:
            out = out + self.projections[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """The NAS-Bench-101 network: stem, stacks of cells, global pooling, classifier."""

    def __init__(
        self,
        arch: NB101Arch,
        num_classes: int,
        *,
        stem_channels: int,
        num_stacks: int,
        cells_per_stack: int,
    ) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(3, stem_channels, 3)
        layers: list[nn.Module] = []
        in_channels = channels = stem_channels
        for stack in range(num_stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                channels *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(arch, in_channels, channels))
                in_channels = channels
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.cells(self.stem(x))
        return self.classifier(features.mean(dim=(2, 3)))


@register
class NB101Space(SearchSpace):
    """The NAS-Bench-101 cell search space (Ying et al., ICML 2019).

    Args:
        stem_channels: output channels of the stem (128 in the benchmark).
        num_stacks: number of stacks; each after the first halves the resolution and
            doubles the channels (3 in the benchmark).
        cells_per_stack: cells in each stack (3 in the benchmark).

    Raises:
        SpecError: a setting is not a positive integer.
    """

    name = "nb101"

    def __init__(
        self, *, stem_channels: int = 128, num_stacks: int = 3, cells_per_stack: int = 3
    ) -> None:
        settings = {
            "stem_channels": stem_channels,
            "num_stacks": num_stacks,
            "cells_per_stack": cells_per_stack,
        }
        for key, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"{key}: must be a positive integer, got {_describe(value)}")
        self.stem_channels = stem_channels
        self.num_stacks = num_stacks
        self.cells_per_stack = cells_per_stack

    def parse(self, spec: Any) -> NB101Arch:
        """Validate a spec (dict or JSON string) and return the pruned cell.

        Raises:
            SpecError: the spec breaks a NAS-Bench-101 rule or has no input-output path.
        """
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except (ValueError, RecursionError) as exc:
                raise SpecError(f"spec: not valid JSON ({type(exc).__name__})") from None
        if not isinstance(spec, Mapping):
            raise SpecError(
                f"spec: expected an object with keys 'matrix' and 'ops', got {_describe(spec)}"
            )
        for key in ("matrix", "ops"):
            if key not in spec:
                raise SpecError(f"spec: missing key {key!r}")
        unknown = [key for key in spec if key not in ("matrix", "ops")]
        if unknown:
            raise SpecError(
                f"spec: unknown key {_describe(unknown[0])}; expected only 'matrix' and 'ops'"
            )
        matrix = _parse_matrix(spec["matrix"])
        ops = _parse_ops(spec["ops"], len(matrix))
        arch = _prune(matrix, ops)
        # Like nasbench's NASBench._check_spec, the limit applies to the pruned cell.
        num_edges = sum(map(sum, arch.matrix))
        if num_edges > MAX_EDGES:
            raise SpecError(
                f"matrix: has {num_edges} edges after pruning vertices not on an "
                f"input-output path; at most {MAX_EDGES} are allowed"
            )
        return arch

    def canonical_key(self, arch: NB101Arch) -> str:
        """SHA-256 of the lexicographically smallest encoding over all topological orders.

        Relabelling the interior vertices in every way that keeps the matrix upper
        triangular (at most 5! = 120 ways) and taking the smallest (ops, matrix bits)
        encoding gives a form shared exactly by isomorphic cells.
        """
        n = len(arch.ops)
        edges = [(u, v) for u in range(n) for v in range(n) if arch.matrix[u][v]]
        best: tuple[tuple[str, ...], str] | None = None
        for interior in itertools.permutations(range(1, n - 1)):
            order = (0, *interior, n - 1)
            position = {vertex: rank for rank, vertex in enumerate(order)}
            if any(position[u] > position[v] for u, v in edges):
                continue
            ops = tuple(arch.ops[v] for v in order)
            bits = "".join(
                str(arch.matrix[order[i]][order[j]]) for i in range(n) for j in range(i + 1, n)
            )
            if best is None or (ops, bits) < best:
                best = (ops, bits)
        assert best is not None  # the identity order is always topological
        ops, bits = best
        return hashlib.sha256(f"nb101:{','.join(ops)}:{bits}".encode()).hexdigest()

    def to_spec(self, arch: NB101Arch) -> dict[str, list[Any]]:
        """The pruned cell as ``{"matrix": [[...], ...], "ops": [...]}``."""
        return {"matrix": [list(row) for row in arch.matrix], "ops": list(arch.ops)}

    def spec_schema(self) -> dict[str, Any]:
        """JSON schema of the spec dict (from the ``NB101Spec`` pydantic model)."""
        return NB101Spec.model_json_schema()

    def _build(self, arch: NB101Arch, num_classes: int) -> nn.Module:
        return NB101Network(
            arch,
            num_classes,
            stem_channels=self.stem_channels,
            num_stacks=self.num_stacks,
            cells_per_stack=self.cells_per_stack,
        )
