"""DARTS (Liu et al., ICLR 2019): a normal and a reduction cell, stacked into NetworkCIFAR.

A genotype describes two cells. Each has two inputs (nodes 0 and 1: the outputs of the two
previous cells) and four intermediate nodes (2 to 5); node ``k`` sums two ops, each applied
to an earlier node (0 to ``k - 1``). A cell lists its eight (op, input) pairs node by node,
and its output concatenates the intermediate nodes (``concat``, always 2-5 here). Ops:
``none`` (zero), ``max_pool_3x3``, ``avg_pool_3x3``, ``skip_connect``, ``sep_conv_3x3``,
``sep_conv_5x5``, ``dil_conv_3x3``, ``dil_conv_5x5``.

Specs are JSON::

    {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ...],   # 8 pairs
     "normal_concat": [2, 3, 4, 5],                               # optional
     "reduce": [["max_pool_3x3", 0], ...], "reduce_concat": [2, 3, 4, 5]}

or the string the DARTS code and NAS-Bench-301 print, parsed without evaluating it::

    Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6),
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=range(2, 6))

The network is NetworkCIFAR of the DARTS code (``cnn/model.py``, quark0/darts): a 3x3
conv-BN stem with ``3 * channels`` channels; ``layers`` cells, those at ``layers // 3``
and ``2 * layers // 3`` reduction cells that halve the resolution and double the channels;
each cell preprocesses its two inputs with a 1x1 ReLU-conv-BN (a FactorizedReduce after a
reduction cell); in a reduction cell the ops on the cell inputs have stride 2 (so
``skip_connect`` there is a FactorizedReduce); global average pooling and a linear
classifier. The auxiliary head and drop-path are training devices and are not built, so
parameter counts are DARTS's ``count_parameters_in_MB`` (which leaves the auxiliary head
out): DARTS_V2 at the defaults has 3,349,342.

Zeros are not computed: ``none`` ops, ops whose input is zero, the preprocessing of a cell
input no op reads, and a cell whose nodes are all zero (the cells reading it see a zero
input). DARTS computes them and gets the same values (an op ending in batch norm maps zeros
to its shift, 0 at initialisation), so outputs are unchanged; the parameters of those ops get
no gradient, where DARTS gives their batch-norm shifts one.

Mutation (``mutate``) and sampling (``random_arch``) for regularized evolution are at the end
of the module.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from torch import nn

from ..layers import AvgPool3x3, BatchNorm2d
from ._base import SearchSpace, SpecError
from ._registry import register

__all__ = ["CELLS", "OPS", "SAMPLED_OPS", "DartsArch", "DartsSpace", "mutate", "random_arch"]

OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""DARTS's ``PRIMITIVES``."""
SAMPLED_OPS: tuple[str, ...] = OPS[1:]
"""The ops ``random_arch`` and ``mutate`` draw from: NAS-Bench-301's seven (no ``none``)."""
CELLS: tuple[str, ...] = ("normal", "reduce")
NODES = 4
PAIRS = 2 * NODES
CONCAT: tuple[int, ...] = (2, 3, 4, 5)
LAYERS = 20
"""Default depth (DARTS's CIFAR-10 evaluation network)."""
_MAX_SPEC_CHARS = 10_000
_POOLS = ("max_pool_3x3", "avg_pool_3x3")

Pairs = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DartsArch:
    """A validated genotype.

    Attributes:
        normal: the normal cell's eight (op, input) pairs, two per intermediate node.
        reduce: the reduction cell's eight pairs.
        layers: the depth of the network it is parsed for; it decides only
            ``is_degenerate`` and is neither compared nor part of the spec.
    """

    normal: Pairs
    reduce: Pairs
    layers: int = field(default=LAYERS, compare=False)

    @property
    def is_degenerate(self) -> bool:
        """True when the network's output is constant: no path from the input reaches the
        classifier. Only a cell type whose four nodes are zero whatever its inputs can cut
        every path, and whether it does depends on the depth (``layers``)."""
        return _network_output_is_zero(self.normal, self.reduce, self.layers)

    @property
    def genotype(self) -> str:
        """The genotype as DARTS's ``Genotype`` prints it (NAS-Bench-301 reads this)."""

        def pairs(cell: Pairs) -> str:
            return "[" + ", ".join(f"({op!r}, {source})" for op, source in cell) + "]"

        return (
            f"Genotype(normal={pairs(self.normal)}, normal_concat=range(2, 6), "
            f"reduce={pairs(self.reduce)}, reduce_concat=range(2, 6))"
        )


class DartsSpec(BaseModel):
    """JSON schema of a DARTS spec (validation itself is done by ``DartsSpace.parse``)."""

    model_config = ConfigDict(extra="forbid")

    normal: list[tuple[Literal[OPS], int]] = Field(
        min_length=PAIRS,
        max_length=PAIRS,
        description=(
            "Normal cell: 8 [op, input] pairs, two per intermediate node 2-5; node k reads "
            "nodes 0 to k-1 (0 and 1 are the cell inputs)."
        ),
    )
    normal_concat: list[int] = Field(
        default=list(CONCAT), description="Concatenated nodes: must be [2, 3, 4, 5]."
    )
    reduce: list[tuple[Literal[OPS], int]] = Field(
        min_length=PAIRS, max_length=PAIRS, description="Reduction cell, as normal."
    )
    reduce_concat: list[int] = Field(
        default=list(CONCAT), description="Concatenated nodes: must be [2, 3, 4, 5]."
    )


_SPEC_SCHEMA = TypeAdapter(
    DartsSpec
    | Annotated[str, Field(description="the Genotype(...) string DARTS and NAS-Bench-301 print")]
).json_schema()


# ------------------------------------------------------------------------------- parsing


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
    if isinstance(value, bool | int | float) and abs(value) < 10**12:
        return repr(value)
    return f"a value of type {type(value).__name__}"


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _parse_pairs(raw: Any, cell: str) -> Pairs:
    if not _is_sequence(raw):
        raise SpecError(
            f"{cell}: expected a list of {PAIRS} [op, input] pairs, got {_describe(raw)}"
        )
    if len(raw) != PAIRS:
        raise SpecError(
            f"{cell}: expected {PAIRS} [op, input] pairs (two for each of the {NODES} "
            f"intermediate nodes), got {len(raw)}"
        )
    pairs = []
    for k, pair in enumerate(raw):
        where = f"{cell}[{k}]"
        if not _is_sequence(pair) or len(pair) != 2:
            raise SpecError(f"{where}: expected an [op, input] pair, got {_describe(pair)}")
        op, source = pair
        if op not in OPS:
            raise SpecError(
                f"{where}: unknown op {_describe(op)}; expected one of {', '.join(OPS)}"
            )
        node = k // 2 + 2
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < node:
            raise SpecError(
                f"{where}: input {_describe(source)} is out of range; pair {k} feeds node "
                f"{node}, which reads nodes 0-{node - 1} (0 and 1 are the cell inputs, 2-5 "
                "the intermediate nodes)"
            )
        pairs.append((op, source))
    return tuple(pairs)


def _check_concat(raw: Any, key: str) -> None:
    if not _is_sequence(raw) or list(raw) != list(CONCAT):
        raise SpecError(
            f"{key}: must be [2, 3, 4, 5] or range(2, 6) (every intermediate node, as in the "
            f"DARTS space), got {_describe(raw) if not _is_sequence(raw) else list(raw)}"
        )


def _genotype_fields(text: str) -> dict[str, Any]:
    """The keyword arguments of a ``Genotype(...)`` string, read from its syntax tree:
    literals and ``range(a, b)`` only, nothing is evaluated."""
    form = "Genotype(normal=[...], normal_concat=range(2, 6), reduce=[...], reduce_concat=...)"
    try:
        call = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise SpecError(f"spec: not a valid Genotype string; expected {form}") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise SpecError(f"spec: expected {form}")
    if call.args or any(keyword.arg is None for keyword in call.keywords):
        raise SpecError(f"spec: name every Genotype field, as in {form}")
    fields = {}
    for keyword in call.keywords:
        fields[keyword.arg] = _literal(keyword.value, keyword.arg)
    return fields


def _literal(node: ast.expr, key: str | None) -> Any:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and all(isinstance(a, ast.Constant) and type(a.value) is int for a in node.args)
        and 1 <= len(node.args) <= 2
    ):
        bounds = [a.value for a in node.args]
        if all(abs(b) <= 100 for b in bounds):
            return list(range(*bounds))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise SpecError(f"{key}: not a literal list (or range(2, 6))") from None


# ----------------------------------------------------------------------- function classes

# A cell's function as a small structure: "atoms" are its ops other than the identity,
# each reading a value; a value is a multiset of members, an atom index or a cell input
# (-1 for node 0, -2 for node 1); the cell outputs the multiset of its four node values.
Value = tuple[int, ...]
Atom = tuple[str, Value]


def _cell_structure(pairs: Pairs, reduction: bool) -> tuple[list[Atom], list[Value]]:
    """Atoms and node values of a cell whose two inputs are non-zero.

    ``none`` and ops on a zero value vanish; ``skip_connect`` at stride 1 is the identity, so
    its input's members join the node (the same atoms, shared); at stride 2 (a reduction
    cell's input) it is a FactorizedReduce, an atom like any other op. A pooling has no
    weights, so two poolings of one value are one atom.
    """
    atoms: list[Atom] = []
    values: list[Value] = [(-1,), (-2,)]
    for node in range(NODES):
        members: list[int] = []
        for op, source in pairs[2 * node : 2 * node + 2]:
            value = values[source]
            if op == "none" or not value:
                continue
            if op == "skip_connect" and not (reduction and source < 2):
                members.extend(value)
            elif op in _POOLS and (op, value) in atoms:
                members.append(atoms.index((op, value)))
            else:
                atoms.append((op, value))
                members.append(len(atoms) - 1)
        values.append(tuple(sorted(members)))
    return atoms, values[2:]


def _canonical_cell(atoms: list[Atom], outputs: list[Value]) -> tuple:
    """The smallest encoding of the cell over all numberings of its atoms, found by colour
    refinement and individualisation: equal exactly for isomorphic cells."""
    n = len(atoms)
    readers: list[list[int]] = [[] for _ in range(n)]
    for reader, (_, value) in enumerate(atoms):
        for member in value:
            if member >= 0:
                readers[member].append(reader)

    def refine(colours: list[int]) -> list[int]:
        while True:
            palette = {-1: -1, -2: -2, **dict(enumerate(colours))}  # cell inputs keep theirs
            signatures = [
                (
                    colours[a],
                    tuple(sorted(palette[m] for m in atoms[a][1])),
                    tuple(
                        sorted(
                            (value.count(a), tuple(sorted(palette[m] for m in value)))
                            for value in outputs
                            if a in value
                        )
                    ),
                    tuple(sorted(colours[r] for r in readers[a])),
                )
                for a in range(n)
            ]
            rank = {s: r for r, s in enumerate(sorted(set(signatures)))}
            refined = [rank[s] for s in signatures]
            if len(rank) == len(set(colours)):
                return refined
            colours = refined

    def encode(label: list[int]) -> tuple:
        def relabel(value: Value) -> Value:
            return tuple(sorted(label[m] if m >= 0 else m for m in value))

        ordered = sorted(range(n), key=lambda a: label[a])
        return (
            tuple((atoms[a][0], relabel(atoms[a][1])) for a in ordered),
            tuple(sorted(relabel(value) for value in outputs)),
        )

    # Twins (same op and input, same place in every value) can be swapped: branching on
    # one of them is enough.
    def place(a: int) -> tuple:
        return (
            atoms[a],
            tuple(value.count(a) for value in outputs),
            tuple(atom[1].count(a) for atom in atoms),
        )

    def search(colours: list[int]) -> tuple:
        colours = refine(colours)
        classes = [
            [a for _, a in group]
            for _, group in groupby(sorted((c, a) for a, c in enumerate(colours)), lambda x: x[0])
        ]
        target = next((members for members in classes if len(members) > 1), None)
        if target is None:
            return encode(colours)
        representatives = {place(a): a for a in reversed(target)}.values()
        return min(
            search([(2 * c + (a != chosen)) for a, c in enumerate(colours)])
            for chosen in representatives
        )

    ops = sorted({op for op, _ in atoms})
    return search([ops.index(op) for op, _ in atoms])


def _computed(pairs: Pairs, inputs: tuple[bool, bool]) -> list[bool]:
    """Which of a cell's eight ops run, given which of its two inputs are non-zero: those
    that are not ``none`` and read a non-zero node. The cell's output is zero when none
    runs."""
    live = list(inputs)
    computed: list[bool] = []
    for node in range(NODES):
        runs = [op != "none" and live[source] for op, source in pairs[2 * node : 2 * node + 2]]
        computed.extend(runs)
        live.append(any(runs))
    return computed


def _network_output_is_zero(normal: Pairs, reduce: Pairs, layers: int) -> bool:
    reductions = {layers // 3, 2 * layers // 3}
    s0 = s1 = True
    for i in range(layers):
        pairs = reduce if i in reductions else normal
        s0, s1 = s1, any(_computed(pairs, (s0, s1)))
    return not s1


def _op_counts(op: str, c: int, side: int, stride: int) -> tuple[int, int]:
    """Parameters and FLOPs (as torch's flop counter counts them: 2 per multiply-add of
    the convolutions) of one op with ``c`` channels and a ``side`` x ``side`` output."""
    pixels = side * side
    if op == "skip_connect" and stride == 2:  # FactorizedReduce
        return 2 * c * (c // 2) + 2 * c, 2 * 2 * c * (c // 2) * pixels
    if op.startswith("sep_conv_"):
        k = int(op[-1])
        return 2 * (c * k * k + c * c + 2 * c), 2 * 2 * (c * k * k + c * c) * pixels
    if op.startswith("dil_conv_"):
        k = int(op[-1])
        return c * k * k + c * c + 2 * c, 2 * (c * k * k + c * c) * pixels
    return 0, 0  # none, pooling, identity


# --------------------------------------------------------------------------------- network


def _relu_conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    """DARTS's ``ReLUConvBN`` with a 1x1 kernel (the cells' preprocessing)."""
    return nn.Sequential(
        nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, 1, bias=False), BatchNorm2d(c_out)
    )


class FactorizedReduce(nn.Module):
    """DARTS's stride-2 reduction: two 1x1 stride-2 convolutions, the second offset by one
    pixel, concatenated, then batch norm."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _sep_conv(c: int, kernel_size: int, stride: int) -> nn.Sequential:
    """DARTS's ``SepConv``: a separable convolution applied twice (the first strided)."""
    padding = kernel_size // 2
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, kernel_size, stride, padding, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        BatchNorm2d(c),
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, kernel_size, 1, padding, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        BatchNorm2d(c),
    )


def _dil_conv(c: int, kernel_size: int, stride: int) -> nn.Sequential:
    """DARTS's ``DilConv``: a dilation-2 separable convolution."""
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, kernel_size, stride, kernel_size - 1, dilation=2, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        BatchNorm2d(c),
    )


def _make_op(op: str, c: int, stride: int) -> nn.Module:
    if op == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if op == "avg_pool_3x3":
        return AvgPool3x3() if stride == 1 else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if op.startswith("sep_conv_"):
        return _sep_conv(c, int(op[-1]), stride)
    if op.startswith("dil_conv_"):
        return _dil_conv(c, int(op[-1]), stride)
    raise AssertionError(f"no module for op {op!r}")


class DartsCell(nn.Module):
    """One cell of NetworkCIFAR (``Cell`` in DARTS's ``model.py``); ``None`` stands for a
    zero tensor, in and out."""

    def __init__(
        self,
        pairs: Pairs,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.preprocess0 = (
            FactorizedReduce(c_prev_prev, c) if reduction_prev else _relu_conv_bn(c_prev_prev, c)
        )
        self.preprocess1 = _relu_conv_bn(c_prev, c)
        self.ops = nn.ModuleDict(
            {
                str(k): _make_op(op, c, 2 if reduction and source < 2 else 1)
                for k, (op, source) in enumerate(pairs)
                if op != "none"
            }
        )
        self.pairs = pairs
        self._reads = {source for op, source in pairs if op != "none"}

    def forward(self, s0: torch.Tensor | None, s1: torch.Tensor | None) -> torch.Tensor | None:
        states: list[torch.Tensor | None] = [
            self.preprocess0(s0) if s0 is not None and 0 in self._reads else None,
            self.preprocess1(s1) if s1 is not None and 1 in self._reads else None,
        ]
        for node in range(NODES):
            total = None
            for k in (2 * node, 2 * node + 1):
                op, source = self.pairs[k]
                value = states[source]
                if op == "none" or value is None:
                    continue
                out = self.ops[str(k)](value)
                total = out if total is None else total + out
            states.append(total)
        nodes = states[2:]
        template = next((x for x in nodes if x is not None), None)
        if template is None:
            return None
        return torch.cat([torch.zeros_like(template) if x is None else x for x in nodes], dim=1)


class DartsNetwork(nn.Module):
    """DARTS's ``NetworkCIFAR`` without the auxiliary head; returns the logits."""

    def __init__(self, arch: DartsArch, channels: int, layers: int, num_classes: int) -> None:
        super().__init__()
        c_curr = 3 * channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, c_curr, 3, padding=1, bias=False), BatchNorm2d(c_curr)
        )
        c_prev_prev, c_prev, c_curr = c_curr, c_curr, channels
        reductions = {layers // 3, 2 * layers // 3}
        cells = []
        reduction_prev = False
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c_curr *= 2
            pairs = arch.reduce if reduction else arch.normal
            cells.append(DartsCell(pairs, c_prev_prev, c_prev, c_curr, reduction, reduction_prev))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, len(CONCAT) * c_curr
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        if s1 is None:
            features = x.new_zeros((x.shape[0], self.classifier.in_features))
        else:
            features = self.global_pooling(s1).flatten(1)
        return self.classifier(features)


# ----------------------------------------------------------------------------------- space


@register
class DartsSpace(SearchSpace):
    """DARTS genotypes in DARTS's CIFAR network.

    Args:
        channels: the initial channel count C (36 in DARTS's evaluation network).
        layers: the number of cells (20 there).

    Raises:
        SpecError: a setting is out of range.
    """

    name = "darts"

    def __init__(self, *, channels: int = 36, layers: int = LAYERS) -> None:
        for setting, value, top in (("channels", channels, 4096), ("layers", layers, 100)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise SpecError(
                    f"darts setting {setting} must be an integer 1-{top}, got {value!r}"
                )
        self.channels = channels
        self.layers = layers

    def parse(self, spec: Any) -> DartsArch:
        """Validate a JSON object (or its text) or a ``Genotype(...)`` string.

        Raises:
            SpecError: the message names the field at fault (``normal[3]``,
                ``reduce_concat``, ...).
        """
        if isinstance(spec, str):
            text = spec.strip()
            if len(text) > _MAX_SPEC_CHARS:
                raise SpecError(f"spec: longer than {_MAX_SPEC_CHARS} characters")
            if text.startswith("Genotype("):
                spec = _genotype_fields(text)
            else:
                try:
                    spec = json.loads(text)
                except (ValueError, RecursionError):
                    raise SpecError("spec: neither a Genotype(...) string nor valid JSON") from None
        if not isinstance(spec, Mapping):
            raise SpecError(
                "spec: expected an object with keys 'normal' and 'reduce' (and optionally "
                f"'normal_concat', 'reduce_concat') or a Genotype string, got {_describe(spec)}"
            )
        known = ("normal", "normal_concat", "reduce", "reduce_concat")
        unknown = [key for key in spec if key not in known]
        if unknown:
            raise SpecError(
                f"spec: unknown key {_describe(unknown[0])}; expected {', '.join(known)}"
            )
        for cell in CELLS:
            if cell not in spec:
                raise SpecError(f"spec: missing key {cell!r}")
            if f"{cell}_concat" in spec:
                _check_concat(spec[f"{cell}_concat"], f"{cell}_concat")
        return DartsArch(
            _parse_pairs(spec["normal"], "normal"),
            _parse_pairs(spec["reduce"], "reduce"),
            self.layers,
        )

    def canonical_key(self, arch: DartsArch) -> str:
        """Equal for genotypes whose networks compute the same function (up to a relabelling
        of their weights), whatever the order of a node's two pairs.

        Each cell is read as a structure of ops: ``none`` and ops on zero values vanish (as
        in ``nb201``; an op ending in batch norm outputs its shift, 0 at initialisation);
        ``skip_connect`` at stride 1 is the identity, so its input's terms join the node;
        poolings have no weights, so two poolings of one value are one term; a node sums its
        terms in any order; the cell output is the multiset of its four nodes, since the
        order of the concatenation is absorbed by the 1x1 convolutions (or the classifier)
        that read it, so relabelling intermediate nodes changes nothing.
        ``concat`` is always nodes 2-5, so it adds nothing. Two genotypes share a key when
        both cells are isomorphic as such structures; ops that read one shared node stay
        distinct from ops that read two nodes that merely look alike. All degenerate
        networks (constant output at this space's depth) share one key.

        Not merged: networks where one cell type is all zero and the cells next to it see a
        zero input (the key still tells apart their ops on that input), and rescalings (a
        node that sums one node twice through ``skip_connect`` is not that node).
        """
        if _network_output_is_zero(arch.normal, arch.reduce, self.layers):
            return hashlib.sha256(b"darts:degenerate").hexdigest()
        forms = [
            _canonical_cell(*_cell_structure(pairs, cell == "reduce"))
            for cell, pairs in zip(CELLS, (arch.normal, arch.reduce), strict=True)
        ]
        return hashlib.sha256(f"darts:{forms!r}".encode()).hexdigest()

    def identity_key(self, arch: DartsArch) -> str:
        """The genotype with each node's two pairs in a fixed order: swapping a node's
        inputs is spelling, not architecture. Genotypes of one function class that differ
        otherwise are different architectures."""
        cells = [
            [sorted(cell[k : k + 2]) for k in range(0, PAIRS, 2)]
            for cell in (arch.normal, arch.reduce)
        ]
        return hashlib.sha256(f"darts-genotype:{cells!r}".encode()).hexdigest()

    def to_spec(self, arch: DartsArch) -> dict[str, Any]:
        return {
            "normal": [list(pair) for pair in arch.normal],
            "normal_concat": list(CONCAT),
            "reduce": [list(pair) for pair in arch.reduce],
            "reduce_concat": list(CONCAT),
        }

    def spec_schema(self) -> dict[str, Any]:
        return json.loads(json.dumps(_SPEC_SCHEMA))

    def _build(self, arch: DartsArch, num_classes: int) -> nn.Module:
        return DartsNetwork(arch, self.channels, self.layers, num_classes)

    def param_count(self, arch: DartsArch, num_classes: int = 10) -> int:
        """Trainable parameters, counted analytically (equal to the built network's)."""
        return self._counts(arch, num_classes)[0]

    def flops(self, arch: DartsArch, num_classes: int = 10) -> int:
        """FLOPs of one sample as torch.utils.flop_counter counts them (convolutions and the
        classifier, ops that run only), counted analytically: the meta-device count takes
        seconds for 20 cells."""
        return self._counts(arch, num_classes)[1]

    def _counts(self, arch: DartsArch, num_classes: int) -> tuple[int, int]:
        """(parameters, FLOPs), walking the network as ``DartsNetwork`` builds and runs it."""
        side = self.input_shape(arch)[-1]
        c_prev = 3 * self.channels
        params = 3 * 9 * c_prev + 2 * c_prev  # stem conv + BN
        flops = 2 * 3 * 9 * c_prev * side * side
        c_prev_prev, c_curr = c_prev, self.channels
        reductions = {self.layers // 3, 2 * self.layers // 3}
        reduction_prev, live = False, (True, True)
        for i in range(self.layers):
            reduction = i in reductions
            if reduction:
                c_curr *= 2
            pairs = arch.reduce if reduction else arch.normal
            computed = _computed(pairs, live)
            reads = {source for (_, source), runs in zip(pairs, computed, strict=True) if runs}
            pixels = side * side
            if reduction_prev:  # FactorizedReduce from twice the side
                params += 2 * c_prev_prev * (c_curr // 2) + 2 * c_curr
                flops += (0 in reads) * 2 * 2 * c_prev_prev * (c_curr // 2) * pixels
            else:
                params += c_prev_prev * c_curr + 2 * c_curr
                flops += (0 in reads) * 2 * c_prev_prev * c_curr * pixels
            params += c_prev * c_curr + 2 * c_curr
            flops += (1 in reads) * 2 * c_prev * c_curr * pixels
            side = side // 2 if reduction else side
            for (op, source), runs in zip(pairs, computed, strict=True):
                op_params, op_flops = _op_counts(
                    op, c_curr, side, 2 if reduction and source < 2 else 1
                )
                params += op_params
                flops += runs * op_flops
            reduction_prev, live = reduction, (live[1], any(computed))
            c_prev_prev, c_prev = c_prev, len(CONCAT) * c_curr
        return params + c_prev * num_classes + num_classes, flops + 2 * c_prev * num_classes


# ------------------------------------------------------------------ regularized evolution


def random_arch(rng: random.Random, layers: int = LAYERS) -> DartsArch:
    """A random genotype as NAS-Bench-301 (NASLib) samples them: in each cell, every node
    reads two distinct earlier nodes (drawn uniformly, listed in increasing order) through
    ops drawn uniformly from ``SAMPLED_OPS``. ``layers`` only sets ``is_degenerate``."""

    def cell() -> Pairs:
        pairs: list[tuple[str, int]] = []
        for node in range(NODES):
            for source in sorted(rng.sample(range(node + 2), 2)):
                pairs.append((rng.choice(SAMPLED_OPS), source))
        return tuple(pairs)

    return DartsArch(cell(), cell(), layers)


def mutate(arch: DartsArch, rng: random.Random) -> DartsArch:
    """One DARTS/NAS-Bench-301 mutation: in one of the two cells (uniform), one of the eight
    pairs (uniform) gets, with equal odds, a different op from ``SAMPLED_OPS`` or a different
    input (an earlier node other than the one its partner reads). The first node's pairs
    can only read nodes 0 and 1, so when no other input exists the op changes instead. The
    child always differs from the parent."""
    cell = rng.choice(CELLS)
    pairs = list(getattr(arch, cell))
    k = rng.randrange(PAIRS)
    op, source = pairs[k]
    partner = pairs[k ^ 1][1]
    inputs = [i for i in range(k // 2 + 2) if i not in (source, partner)]
    if inputs and rng.random() < 0.5:
        pairs[k] = (op, rng.choice(inputs))
    else:
        pairs[k] = (rng.choice([o for o in SAMPLED_OPS if o != op]), source)
    return replace(arch, **{cell: tuple(pairs)})
