"""AZ-NAS's shared machinery: the network read as a chain of blocks, recorded in one forward.

AZ-NAS (Lee & Ham, CVPR 2024) scores the feature maps that a network's blocks output: in the
authors' NAS-Bench-201 code (``NB201/custom/tss_model.py``, ``extract_cell_features`` of
github.com/cvlab-yonsei/AZ-NAS) the output of the stem and of every cell and residual
reduction block, in order, and not the head (last BN-ReLU, pooling, classifier). The three
proxies ``az_expressivity``, ``az_progressivity`` and ``az_trainability`` read them from
``az_blocks(passes)``, which records them in one forward of the scoring batch in train mode
and caches the result on the ``Passes`` object, so that the three share that forward.

**Which outputs are blocks.** First the candidate *units*:

* a model with a child named ``cells`` that is an ``nn.Sequential`` or ``nn.ModuleList``
  (the NB201 and NB101 networks, xautodl's ``TinyNetwork``): its child ``stem`` if it has
  one, then every element of ``cells``. NB201: the stem, the cells and the two residual
  reduction blocks, exactly AZ-NAS's features; NB101: the stem, the cells and the max-pool
  downsamples between stacks;
* any other model (the ``graph`` space, plain ``nn.Sequential`` models): every leaf module
  (one without submodules) except pass-through ones (``nn.Identity``, dropout with p = 0).
  In the graph space these are the nodes.

One forward records every unit call, its output and which earlier unit outputs (or the
network input) its tensor arguments are, by tensor identity. The blocks are the *cut points*
of that data flow: the unit calls that every path from the network input to the network
output passes through (when the network's output is not a unit's output, as in NB201,
every path to a unit whose output no other unit reads). In a chain (NB201, NB101, a
sequential graph) every unit is one; in a graph with a residual branch the nodes inside the
branch are not, but the ``add`` that closes it is, so that consecutive blocks always depend
on each other and the block between two of them is the whole branch, as in AZ-NAS. Then the
call producing the network's output (the logits) is dropped, and if any block outputs a
4-D feature map (N, C, H, W) only those are kept, which drops a head of 2-D features after
global pooling. A model with no block raises ``ValueError``. A unit whose output is a
constant outside autograd (an NB201 cell without an input-output path returns zeros) gets a
leaf that requires grad in its place, so that the next block's Jacobian can still be taken;
its own Jacobian is zero, as in the reference (whose zero op keeps the graph).

**Random numbers.** Trainability draws a Rademacher vector per pair of blocks (AZ-NAS's
``torch.bernoulli`` of 0.5, mapped to +-1), for the whole batch, one pair after the other,
last pair first, as the reference does. So that the values depend neither on which other
proxies ran before in the same ``score`` call nor on the chunking, the forward (dropout) and
the draws each run on torch's global RNG reseeded with the engine's seed
(``torch.initial_seed()``) inside ``torch.random.fork_rng``, which leaves the global state
that other proxies see unchanged. (The reference draws right after its forward on one
stream; the two agree for networks whose forward draws nothing, such as NB201's.)

**Chunks.** With one chunk (the default) the block outputs keep their graph, and the
trainability backwards run only when ``az_trainability`` asks for them. With several chunks
each chunk's backwards run right after its forward (a chunk's graph cannot be kept), with
that chunk's rows of the whole batch's draws; covariances and Jacobian estimates are summed
over chunks and normalised by the whole batch's row count, so that without BatchNorm the
values do not depend on the chunking (up to rounding). BatchNorm in train mode normalises
each chunk on its own statistics, as in the main pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..passes import Passes

_CACHE_ATTRIBUTE = "_az_blocks"


def az_blocks(passes: Passes) -> AZBlocks:
    """The AZ-NAS block record of ``passes``' model and batch, computed once per ``Passes``."""
    record = getattr(passes, _CACHE_ATTRIBUTE, None)
    if isinstance(record, ValueError):  # the model cannot be read as blocks: say so again
        raise record
    if record is None:
        try:
            record = AZBlocks(passes)
        except ValueError as error:
            setattr(passes, _CACHE_ATTRIBUTE, error)
            raise
        setattr(passes, _CACHE_ATTRIBUTE, record)
    return record


@contextmanager
def _reseeded_rng(device: torch.device) -> Iterator[None]:
    """Fork the global RNG and reseed it with the engine's seed."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(torch.initial_seed())
        yield


def _draw_signs(outputs: list[torch.Tensor], batch: int) -> list[torch.Tensor]:
    """Per pair of blocks, last pair first, a whole-batch Rademacher draw shaped like the
    later block's output (stored as bools: True for +1)."""
    signs = []
    with _reseeded_rng(outputs[0].device):
        for f_out in reversed(outputs[1:]):
            shape = (batch, *f_out.shape[1:])
            half = torch.full(shape, 0.5, dtype=f_out.dtype, device=f_out.device)
            signs.append(torch.bernoulli(half).bool())
    return signs


def _is_pass_through(module: nn.Module) -> bool:
    return isinstance(module, nn.Identity) or (
        isinstance(module, nn.modules.dropout._DropoutNd) and module.p == 0
    )


def block_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The candidate units (name, module) of ``model``, by the rule of the module docstring."""
    children = dict(model.named_children())
    cells = children.get("cells")
    if isinstance(cells, nn.Sequential | nn.ModuleList):
        units = [("stem", children["stem"])] if "stem" in children else []
        return units + [(f"cells.{name}", module) for name, module in cells.named_children()]
    return [
        (name, module)
        for name, module in model.named_modules()
        if name and next(module.children(), None) is None and not _is_pass_through(module)
    ]


@dataclass
class _Call:
    name: str
    output: torch.Tensor
    sources: set[int]  # indices of earlier calls; -1 is the network input


@dataclass
class _Recording:
    calls: list[_Call] = field(default_factory=list)
    producer: dict[int, int] = field(default_factory=dict)  # id(tensor) -> call index
    alive: list[torch.Tensor] = field(default_factory=list)  # keeps the ids valid


def _record(passes: Passes, x: torch.Tensor) -> tuple[list[_Call], list[int]]:
    """One forward of ``x``; returns the unit calls and the indices of the blocks."""
    model = passes.model
    recording = _Recording()
    recording.producer[id(x)] = -1
    recording.alive.append(x)

    def hook_for(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: object) -> torch.Tensor | None:
            if not isinstance(output, torch.Tensor):
                return None
            replaced = None
            if torch.is_grad_enabled() and output.is_floating_point() and not output.requires_grad:
                # A constant output (a cell without an input-output path returns zeros): a
                # leaf that requires grad, so that later blocks' Jacobians can still be taken.
                replaced = output.detach().requires_grad_(True)
                output = replaced
            sources = {
                recording.producer[id(a)]
                for a in args
                if isinstance(a, torch.Tensor) and id(a) in recording.producer
            }
            recording.producer[id(output)] = len(recording.calls)
            recording.calls.append(_Call(name, output, sources))
            recording.alive.append(output)
            return replaced

        return hook

    hooks = [module.register_forward_hook(hook_for(name)) for name, module in block_units(model)]
    try:
        with torch.enable_grad():
            out = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    calls = recording.calls
    output_call = recording.producer.get(id(out)) if isinstance(out, torch.Tensor) else None
    blocks = _cut_points(calls, output_call)
    if output_call is not None:
        blocks = [i for i in blocks if i != output_call]
    if any(calls[i].output.dim() == 4 for i in blocks):
        blocks = [i for i in blocks if calls[i].output.dim() == 4]
    return calls, blocks


def _cut_points(calls: list[_Call], output_call: int | None) -> list[int]:
    """Indices of the calls every path from the input (-1) to the output passes through.

    Calls are in execution order, a topological order of the data flow. The sinks are
    ``output_call`` if the network returns a call's output, else every call reached from the
    input that no other reached call reads. In a DAG whose nodes all lie on source-sink paths
    (the others are dropped first), a node is on every such path exactly when no edge jumps
    over it in a topological order; a sink gets an edge to a virtual node after the last call.
    """
    n = len(calls)
    if output_call is not None and output_call < 0:
        output_call = None  # the network returns its input
    reached = [False] * n
    readers: list[list[int]] = [[] for _ in range(n)]
    for i, call in enumerate(calls):
        reached[i] = any(s == -1 or reached[s] for s in call.sources)
        for s in call.sources:
            if s >= 0:
                readers[s].append(i)

    def is_sink(i: int) -> bool:
        if output_call is not None:
            return i == output_call
        return not any(reached[r] for r in readers[i])

    reaches = [False] * n
    for i in reversed(range(n)):
        reaches[i] = reached[i] and (is_sink(i) or any(reaches[r] for r in readers[i]))
    valid = reaches  # reached from the input and reaching a sink
    # jumps[k]: difference array of how many edges jump over position k - 1 (-1 .. n)
    jumps = [0] * (n + 2)
    for i, call in enumerate(calls):
        if not valid[i]:
            continue
        ends = [s for s in call.sources if s == -1 or valid[s]]
        for start, end in [(s, i) for s in ends] + ([(i, n)] if is_sink(i) else []):
            jumps[start + 2] += 1  # positions start + 1 .. end - 1
            jumps[end + 1] -= 1
    cut, running = [], 0
    for i in range(n):
        running += jumps[i + 1]
        if valid[i] and running == 0:
            cut.append(i)
    return cut


def _rows(feature: torch.Tensor) -> torch.Tensor:
    """A feature as float64 rows: (N*H*W, C) for (N, C, H, W), (N, F) for (N, F)."""
    if feature.dim() == 4:
        return feature.permute(0, 2, 3, 1).reshape(-1, feature.shape[1]).double()
    if feature.dim() == 2:
        return feature.double()
    raise ValueError(
        f"AZ-NAS handles 4-D (N, C, H, W) or 2-D (N, F) block outputs, got {tuple(feature.shape)}"
    )


def _row_count(feature: torch.Tensor) -> int:
    """Rows of ``_rows(feature)``: N*H*W or N."""
    return feature.shape[0] * (feature.shape[2] * feature.shape[3] if feature.dim() == 4 else 1)


@dataclass
class _Moments:
    """Row count, mean and centred second moment of a block's rows, merged over chunks."""

    count: int
    mean: torch.Tensor
    m2: torch.Tensor

    @classmethod
    def of(cls, rows: torch.Tensor) -> _Moments:
        mean = rows.mean(dim=0)
        centred = rows - mean
        return cls(rows.shape[0], mean, centred.T @ centred)

    def merge(self, other: _Moments) -> _Moments:
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / count)
        m2 = self.m2 + other.m2 + torch.outer(delta, delta) * (self.count * other.count / count)
        return _Moments(count, mean, m2)


def _pair_jacobian(
    f_in: torch.Tensor, f_out: torch.Tensor, signs: torch.Tensor
) -> tuple[torch.Tensor, bool]:
    """AZ-NAS's estimate of one block's Jacobian on one chunk, before normalisation.

    With v the Rademacher vector ``signs`` (+-1) and g = v^T d f_out / d f_in (a
    vector-Jacobian product), returns (sum over rows of g_row^T v_row, whether g == v). A
    stride-s block's g is first pixel-unshuffled by s so that its rows match v's.
    """
    g_out = signs.to(f_out.dtype) * 2 - 1
    g_in = None
    if f_out.requires_grad and f_in.requires_grad:
        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, allow_unused=True)
    if g_in is None:  # f_out does not depend on f_in: a zero Jacobian
        g_in = torch.zeros_like(f_in)
    identical = g_in.shape == g_out.shape and bool(torch.equal(g_in, g_out))
    if g_out.dim() == 4 and g_in.shape[2:] != g_out.shape[2:]:
        (h_in, w_in), (h_out, w_out) = g_in.shape[2:], g_out.shape[2:]
        stride = h_in // h_out
        if stride < 1 or h_in != stride * h_out or w_in != stride * w_out:
            raise ValueError(
                f"az_trainability: a block maps {h_in}x{w_in} to {h_out}x{w_out}; only "
                "equal sizes or an integer downsampling factor are supported"
            )
        g_in = F.pixel_unshuffle(g_in, stride)
    product = _rows(g_in).T @ _rows(g_out)
    return product, identical


class AZBlocks:
    """The blocks' outputs of one forward, with what AZ-NAS's components need from them."""

    def __init__(self, passes: Passes) -> None:
        self._batch = passes.inputs.shape[0]
        chunks = passes.chunk_indices()
        self.names: list[str] = []
        self._moments: list[_Moments] = []
        self._products: list[torch.Tensor] | None = None  # per pair, last pair first
        self._pair_rows: list[int] = []
        self._identical: list[bool] = []
        self._pending: list[torch.Tensor] | None = None  # one chunk: outputs with their graph
        self._jacobian_error: ValueError | None = None
        signs: list[torch.Tensor] | None = None
        with _reseeded_rng(passes.inputs.device):
            for index in chunks:
                calls, blocks = _record(passes, passes.inputs[index])
                names = [calls[i].name for i in blocks]
                if not names:
                    raise ValueError(
                        "AZ-NAS found no blocks in this model (see zero_cost.proxies._az_blocks)"
                    )
                if self.names and names != self.names:
                    raise ValueError("AZ-NAS found different blocks in different chunks")
                self.names = names
                outputs = [calls[i].output for i in blocks]
                moments = [_Moments.of(_rows(f.detach())) for f in outputs]
                if self._moments:
                    moments = [a.merge(b) for a, b in zip(self._moments, moments, strict=True)]
                self._moments = moments
                if len(chunks) == 1:
                    self._pending = outputs
                elif self._jacobian_error is None:
                    signs = _draw_signs(outputs, self._batch) if signs is None else signs
                    try:
                        self._accumulate_jacobians(outputs, [s[index] for s in signs])
                    except ValueError as error:  # reported by pair_scores only
                        self._jacobian_error = error

    def entropies(self) -> list[float]:
        """Per block, AZ-NAS's expressivity: the entropy of the normalised eigenvalues of
        the covariance of its rows, -sum p log(p + 1e-8) with p = s / sum(s)."""
        values = []
        for moments in self._moments:
            sigma = moments.m2 / moments.count
            s = torch.linalg.eigvalsh(sigma)
            p = s / s.sum()
            values.append(float((-p * torch.log(p + 1e-8)).sum()))
        return values

    def pair_scores(self) -> list[float]:
        """Per pair of consecutive blocks, last pair first: -s - 1/(s + 1e-6) + 2, with s the
        largest singular value of the Jacobian estimate, or -inf where the block's
        vector-Jacobian product returned the Rademacher vector unchanged (an identity)."""
        if self._jacobian_error is not None:
            raise self._jacobian_error
        if self._products is None:
            assert self._pending is not None
            outputs, self._pending = self._pending, None
            try:
                self._accumulate_jacobians(outputs, _draw_signs(outputs, self._batch))
            except ValueError as error:
                self._jacobian_error = error
                raise
        assert self._products is not None
        scores = []
        pairs = zip(self._products, self._pair_rows, self._identical, strict=True)
        for product, rows, identical in pairs:
            if identical:
                scores.append(-math.inf)
                continue
            s_max = float(torch.linalg.svdvals(product / rows).max())
            scores.append(-s_max - 1 / (s_max + 1e-6) + 2)
        return scores

    def _accumulate_jacobians(self, outputs: list[torch.Tensor], signs: list[torch.Tensor]) -> None:
        """Add one chunk's Jacobian estimates; ``signs`` are that chunk's rows of the draws."""
        products, rows, identical = [], [], []
        later = reversed(range(1, len(outputs)))
        for i, pair_signs in zip(later, signs, strict=True):
            product, same = _pair_jacobian(outputs[i - 1], outputs[i], pair_signs)
            products.append(product)
            rows.append(_row_count(outputs[i]))
            identical.append(same)
        if self._products is None:
            self._products, self._pair_rows, self._identical = products, rows, identical
        else:
            self._products = [a + b for a, b in zip(self._products, products, strict=True)]
            self._pair_rows = [a + b for a, b in zip(self._pair_rows, rows, strict=True)]
            self._identical = [a and b for a, b in zip(self._identical, identical, strict=True)]


def nan_to_neg_inf(value: float) -> float:
    """AZ-NAS reports a NaN component as -inf (the worst score)."""
    return -math.inf if math.isnan(value) else value


def mean(values: list[float]) -> float:
    """np.mean, as the reference averages its per-pair scores."""
    return float(np.mean(np.asarray(values, dtype=np.float64)))
