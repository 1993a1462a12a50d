"""Pruning at initialisation on VGG-16-BN: layer collapse, conservation and seconds per mask.

Writes ``docs/pruning.md``::

    .venv/bin/python benchmarks/prune.py

* **Critical compression** (Tanaka et al., NeurIPS 2020, Fig. 1): for each method, the
  largest compression 10**x, on a grid of x in steps of 0.25, at which no layer of VGG-16-BN
  (100-class head, 32x32 inputs) is emptied. The network is built from a ``graph`` spec
  (``vgg16_bn_spec``) and initialised as the reference code's ``lottery_vgg`` (Kaiming-normal
  weights, zero biases). Single-shot methods are scored once per network seed (0 to 9 for
  random and magnitude, 0 to 2 for SNIP and GraSP) and masked around the compression their
  scores' ranks predict; SynFlow (100 rounds, seed 0) is run at grid points downwards from
  the largest that leaves one weight per layer, until one does not collapse (collapse is
  taken to be monotone in the compression).
* **Conservation**: per-layer sums of SynFlow's scores, equal in a network whose biases
  are zero and whose BatchNorm SynFlow bypasses (Tanaka et al., Theorem 2).
* **Seconds per mask** for an NB201 network and VGG-16-BN, each method at compression 100.

Data-dependent methods score 256 CIFAR-10 training images of ``cifar10_sample.npz`` (seed
0), each CIFAR-10 class mapped to ten of the 100 labels at random; without the data the
benchmark stops with a message. GraSP is also scored on 1000 images and with CIFAR-10
labels, to see whether its gap to the published figure comes from the batch. Runs with one
torch thread; about 15 minutes on a busy 2-core machine.
"""

from __future__ import annotations

import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zero_cost import data, prune, spaces  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "pruning.md"
COMMAND = ".venv/bin/python benchmarks/prune.py"

VGG16_PLAN: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512
)  # fmt: skip
"""Tanaka et al.'s VGG-16 (``Models/lottery_vgg.py``): 3x3 convolutions, 2x2 max-pools."""

NB201_CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)
METHODS = ("random", "magnitude", "snip", "grasp", "synflow")
PUBLISHED = {"random": 3.25, "magnitude": 2.75, "snip": 3.5, "grasp": 3.5, "synflow": 6.0}
"""Tanaka et al.'s mean critical compressions (log10) for VGG-16-BN on CIFAR-100, Fig. 1."""
PUBLISHED_ACCURACY = {"synflow": 80.4, "snip": 76.3, "grasp": 70.9, "random": 10.0}
"""Top-1 accuracy (%) of VGG-16-BN trained on CIFAR-10 after pruning at initialisation to
99.9 % sparsity, as issue 17 quotes Tanaka et al."""
STEP = 0.25
BATCH_SIZE = 256
SPEED_COMPRESSION = 100.0
SEED = 0
SEEDS = {"random": range(10), "magnitude": range(10), "snip": range(3), "grasp": range(3)}
"""Network seeds of the single-shot methods (random's scores use the same seed): ten for
the data-free ones, whose scores cost nothing (random's critical point is the largest of
the first layer's 1728 draws, so it varies by about half a decade from seed to seed), three
for SNIP and GraSP. SynFlow runs on seed 0 only, one 100-round run per grid point."""


def vgg16_bn_spec(num_classes: int) -> dict[str, Any]:
    """VGG-16-BN as a ``graph`` spec: conv3x3 (with bias) + BatchNorm + ReLU per number of
    ``VGG16_PLAN``, a 2x2 max-pool per "M", global average pooling (the reference's
    ``AvgPool2d(2)`` over the final 2x2 map) and one linear layer."""
    nodes: list[dict[str, Any]] = []
    for index, entry in enumerate(VGG16_PLAN):
        if entry == "M":
            nodes.append({"name": f"pool{index}", "op": "maxpool", "kernel_size": 2})
            continue
        nodes += [
            {"name": f"conv{index}", "op": "conv2d", "out_channels": entry, "kernel_size": 3,
             "padding": 1},
            {"name": f"bn{index}", "op": "batchnorm"},
            {"name": f"relu{index}", "op": "relu"},
        ]  # fmt: skip
    nodes += [
        {"name": "pool", "op": "global_avgpool"},
        {"name": "fc", "op": "linear", "out_features": num_classes},
    ]
    return {"input_shape": [3, 32, 32], "nodes": nodes}


def build_vgg16_bn(num_classes: int, seed: int = SEED) -> nn.Module:
    """VGG-16-BN built by the ``graph`` space, initialised as Tanaka et al.'s ``lottery_vgg``:
    Kaiming-normal weights (fan in, gain sqrt 2), zero biases, BatchNorm weight 1, bias 0."""
    space = spaces.get("graph")
    model = space.build(space.parse(vgg16_bn_spec(num_classes)), num_classes, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(module.weight, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
    return model


def _layer_names(model: nn.Module) -> dict[str, str]:
    """Mask key (``layers.3.weight``) -> graph node name (``conv3``) of a graph network's
    Conv2d/Linear layers."""
    return {
        f"layers.{i}.weight": name
        for i, (name, layer) in enumerate(zip(model.node_names, model.layers, strict=True))
        if isinstance(layer, nn.Conv2d | nn.Linear)
    }


@dataclass
class Critical:
    """One method's critical compressions (log10; None: collapsed at every grid point)."""

    method: str
    log10: list[float | None] = field(default_factory=list)  # one per seed
    next_collapse: str = ""  # seed 0: the layers emptied at the next grid point

    @property
    def mean(self) -> float | None:
        values = [x for x in self.log10 if x is not None]
        return sum(values) / len(values) if len(values) == len(self.log10) else None


def grid_top(total: int, layers: int) -> float:
    """The largest grid exponent at which every layer can still keep one weight."""
    x = 0.0
    while round(total / 10 ** (x + STEP)) >= layers:
        x += STEP
    return x


def _collapsed(masks: dict[str, torch.Tensor], names: dict[str, str]) -> str:
    return ", ".join(names[n] for n in prune.summarize(masks).collapsed)


def critical_single_shot(
    scores: dict[str, torch.Tensor], top: float, names: dict[str, str]
) -> tuple[float | None, str]:
    """The critical grid exponent of single-shot ``scores`` and the layers emptied at the
    next grid point ("" at the grid's end).

    A layer survives while its best weight is kept, so collapse starts once the kept count
    falls below the global rank of the weakest layer's best weight: that rank gives the
    starting point, and masks drawn by ``prune.masks_from_scores`` around it decide.
    """
    values = list(scores.values())
    total = sum(v.numel() for v in values)
    weakest = min(float(v.max()) for v in values)
    rank = int((torch.cat([v.flatten().double() for v in values]) > weakest).sum()) + 1
    x = top
    while x > 0 and round(total / 10**x) < rank:
        x -= STEP

    seen: dict[float, str] = {}

    def emptied(x: float) -> str:
        if x not in seen:
            seen[x] = _collapsed(prune.masks_from_scores(scores, compression=10**x), names)
        return seen[x]

    while x >= 0 and emptied(x):
        x -= STEP
    while x + STEP <= top and not emptied(x + STEP):
        x += STEP
    following = f"{emptied(x + STEP)} at {x + STEP:.2f}" if x + STEP <= top else ""
    return (x if x >= 0 else None), following


def critical_synflow(
    model: nn.Module, inputs: torch.Tensor, top: float, names: dict[str, str], log: Callable
) -> tuple[float | None, str, float]:
    """SynFlow's critical grid exponent, searched downwards from ``top`` (one 100-round run
    per grid point), the layers emptied at the next grid point, and the seconds of the
    first run."""
    x, following, first_run = top, "", None
    while x >= 0:
        start = time.perf_counter()
        emptied = _collapsed(prune.masks(model, "synflow", compression=10**x, inputs=inputs), names)
        first_run = first_run or time.perf_counter() - start
        log(f"  synflow at 10^{x:.2f}: {'emptied ' + emptied if emptied else 'no collapse'}")
        if not emptied:
            return x, following, first_run
        following, x = f"{emptied} at {x:.2f}", x - STEP
    return None, following, first_run or 0.0


def conservation(model: nn.Module, inputs: torch.Tensor) -> tuple[float, float, float]:
    """Smallest and largest per-layer sum of SynFlow's scores, and their relative spread."""
    sums = [float(s.sum()) for s in prune.scores(model, "synflow", inputs=inputs).values()]
    return min(sums), max(sums), max(sums) / min(sums) - 1


def prune_batch(num_classes: int, size: int = BATCH_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` CIFAR-10 training images (seed 0) and their labels; for the 100-class head each
    CIFAR-10 class c is mapped to one of the labels 10c .. 10c + 9, drawn at random (seeded),
    so that a label's images share a class, as in CIFAR-100."""
    batch = data.npz_batch(SHARED_DATA / "cifar10_sample.npz", size, seed=SEED)
    if num_classes == batch.num_classes:
        return batch.inputs, batch.targets
    generator = torch.Generator().manual_seed(SEED)
    offsets = torch.randint(0, 10, (size,), generator=generator)
    return batch.inputs, batch.targets * 10 + offsets


GRASP_CHECKS = {
    "1000 images (the reference's 10 per class), pseudo-CIFAR-100 labels": (1000, 100),
    f"{BATCH_SIZE} images, their CIFAR-10 labels (classes 0-9 of the 100-way head)": (
        BATCH_SIZE,
        10,
    ),
}
"""GraSP scored on other batches than the main table's: label -> (images, label classes)."""


def grasp_checks(top: float, names: dict[str, str], log: Callable) -> dict[str, list]:
    """GraSP's critical exponents on the batches of ``GRASP_CHECKS``, one per seed of
    ``SEEDS["grasp"]``: does the gap to the published figure come from this benchmark's
    images or labels?"""
    results = {}
    for label, (size, label_classes) in GRASP_CHECKS.items():
        inputs, targets = prune_batch(label_classes, size)
        results[label] = []
        for seed in SEEDS["grasp"]:
            model = build_vgg16_bn(100, seed)
            scores = prune.scores(model, "grasp", inputs=inputs, targets=targets, seed=seed)
            results[label].append(critical_single_shot(scores, top, names)[0])
            log(f"GraSP check, {label}, seed {seed}: critical 10^{results[label][-1]}")
    return results


def render_grasp_checks(main: Critical, checks: dict[str, list]) -> str:
    """The GraSP checks as a table, the main table's GraSP row first."""
    rows = {f"{BATCH_SIZE} images, pseudo-CIFAR-100 labels (the table above)": main.log10}
    rows.update(checks)
    lines = ["| GraSP scored on | per seed | mean |", "|---|---|---|"]
    for label, values in rows.items():
        per_seed = ", ".join("below 0" if x is None else f"{x:.2f}" for x in values)
        mean = Critical("grasp", values).mean
        lines.append(f"| {label} | {per_seed} | {'below 0' if mean is None else f'{mean:.2f}'} |")
    return "\n".join(lines)


def timed_masks(
    model: nn.Module, method: str, inputs: torch.Tensor, targets: torch.Tensor
) -> tuple[float, prune.MaskSummary]:
    """Seconds of one ``masks`` call at ``SPEED_COMPRESSION``, and the masks' summary."""
    start = time.perf_counter()
    masks = prune.masks(
        model, method, compression=SPEED_COMPRESSION, inputs=inputs, targets=targets
    )
    return time.perf_counter() - start, prune.summarize(masks)


def comparison(results: dict[str, Critical]) -> str:
    """How the critical compressions compare with the published means, in words."""
    ours = {m: r.mean if r.mean is not None else -1.0 for m, r in results.items()}
    order = [("magnitude", "random"), ("random", "snip"), ("random", "grasp"),
             ("snip", "synflow"), ("grasp", "synflow")]  # fmt: skip
    broken = [f"{a} {ours[a]:.2f} vs {b} {ours[b]:.2f}" for a, b in order if ours[a] > ours[b]]
    ordering = (
        "the published ordering holds (magnitude <= random <= SNIP, GraSP <= SynFlow)"
        if not broken
        else "the published ordering is broken: " + "; ".join(broken)
    )
    gap = ours["synflow"] - PUBLISHED["synflow"]
    within = "within" if abs(gap) <= 0.5 else "NOT within"
    differences = ", ".join(f"{m} {ours[m] - PUBLISHED[m]:+.2f}" for m in METHODS)
    return textwrap.fill(
        f"{ordering}; SynFlow's {ours['synflow']:.2f} is {within} half a decade of the "
        f"published 6.0. Differences from the published means (ours - published): "
        f"{differences}.",
        width=92,
    )


def main() -> int:
    if not (SHARED_DATA / "cifar10_sample.npz").exists():
        print(f"skipped: CIFAR-10 sample not found in {SHARED_DATA} (see its README.md)")
        return 2
    # One thread: on a machine other processes keep busy, two threads that wait for each
    # other ran SynFlow's rounds up to ten times slower than one.
    torch.set_num_threads(1)
    began, load_start = time.perf_counter(), os.getloadavg()[0]

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", flush=True)

    inputs, targets = prune_batch(100)
    model = build_vgg16_bn(100)
    names = _layer_names(model)
    total = sum(model.get_parameter(n).numel() for n in names)
    top = grid_top(total, len(names))
    log(f"VGG-16-BN: {total:,} prunable weights in {len(names)} layers; grid 10^0 .. 10^{top}")

    low, high, spread = conservation(model, inputs)
    default_init = spaces.get("graph")
    plain = default_init.build(default_init.parse(vgg16_bn_spec(100)), 100, seed=SEED)
    plain_spread = conservation(plain, inputs)[2]
    log(f"conservation: spread {spread:.1e} (torch's default init: {plain_spread:.1e})")

    results = {method: Critical(method) for method in METHODS}
    vgg_seconds: dict[str, float] = {}
    for seed in range(max(map(len, SEEDS.values()))):
        network = model if seed == SEED else build_vgg16_bn(100, seed)
        for method in (m for m in METHODS[:-1] if seed in SEEDS[m]):
            start = time.perf_counter()
            scores = prune.scores(network, method, inputs=inputs, targets=targets, seed=seed)
            seconds = time.perf_counter() - start
            if seed == SEED:
                start = time.perf_counter()
                prune.masks_from_scores(scores, compression=SPEED_COMPRESSION)
                vgg_seconds[method] = seconds + time.perf_counter() - start
            x, following = critical_single_shot(scores, top, names)
            results[method].log10.append(x)
            if seed == SEED:
                results[method].next_collapse = following
            log(f"seed {seed} {method}: scored in {seconds:.1f} s, critical 10^{x}")
    synflow = results["synflow"]
    x, synflow.next_collapse, vgg_seconds["synflow"] = critical_synflow(
        model, inputs, top, names, log
    )
    synflow.log10.append(x)
    grasp_table = render_grasp_checks(results["grasp"], grasp_checks(top, names, log))

    nb201 = spaces.get("nb201")
    nb201_inputs, nb201_targets = prune_batch(10)
    nb201_seconds = {}
    for method in METHODS:
        cell = nb201.build(nb201.parse(NB201_CELL), num_classes=10, seed=SEED)
        nb201_seconds[method], summary = timed_masks(cell, method, nb201_inputs, nb201_targets)
        log(f"NB201 {method}: {nb201_seconds[method]:.2f} s")

    minutes = (time.perf_counter() - began) / 60
    table = render_table(results)
    print(table)
    DOC.write_text(
        render_doc(
            table=table,
            comparison=comparison(results),
            grasp_table=grasp_table,
            total=total,
            conservation_row=(low, high, spread, plain_spread),
            vgg_seconds=vgg_seconds,
            nb201_seconds=nb201_seconds,
            nb201_weights=summary.total,
            minutes=minutes,
            loads=(load_start, os.getloadavg()[0]),
        )
    )
    log(f"wrote {DOC.relative_to(ROOT)} ({minutes:.1f} min)")
    return 0


def render_table(results: dict[str, Critical]) -> str:
    lines = [
        "| method | ours (log10 compression) | per seed | published mean | emptied next (seed 0) |",
        "|---|---|---|---|---|",
    ]
    for method in METHODS:
        result = results[method]
        mean = "below 0" if result.mean is None else f"{result.mean:.2f}"
        seeds = ", ".join("below 0" if x is None else f"{x:.2f}" for x in result.log10)
        lines.append(
            f"| {method} | {mean} | {seeds} | {PUBLISHED[method]:.2f} | "
            f"{result.next_collapse or 'grid end'} |"
        )
    return "\n".join(lines)


def render_doc(
    *,
    table: str,
    comparison: str,
    grasp_table: str,
    total: int,
    conservation_row: tuple[float, float, float, float],
    vgg_seconds: dict[str, float],
    nb201_seconds: dict[str, float],
    nb201_weights: int,
    minutes: float,
    loads: tuple[float, float],
) -> str:
    low, high, spread, plain_spread = conservation_row
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    speed = "\n".join(f"| {m} | {nb201_seconds[m]:.2f} | {vgg_seconds[m]:.1f} |" for m in METHODS)
    accuracy = "\n".join(f"| {m} | {a:.1f} |" for m, a in PUBLISHED_ACCURACY.items())
    return f"""# Pruning at initialisation

`zero_cost.prune` computes masks of a network's Conv2d/Linear weights with SNIP, GraSP,
SynFlow (iterative, 100 rounds), magnitude and random scores, applies them through
`torch.nn.utils.prune` and stores them as safetensors (see the package docstring). This page
checks it against Tanaka et al. (NeurIPS 2020, "Pruning neural networks without any data by
iteratively conserving synaptic flow"). Regenerate it with

    {COMMAND}

Measured {when} on {os.cpu_count()} cores ({platform.processor() or platform.machine()}),
torch {torch.__version__}, Python {platform.python_version()}; 1-minute load average
{loads[0]:.2f} at the start, {loads[1]:.2f} at the end (other processes share the machine);
{minutes:.1f} minutes in all.

## Layer collapse: critical compression of VGG-16-BN

Critical compression: the largest compression 10^x (prunable weights before over after),
x on a grid of steps of 0.25, at which no layer is emptied; beyond it the network's
output no longer depends on its input. Network: VGG-16-BN built from a `graph` spec
(13 conv3x3 + BatchNorm + ReLU, 4 max-pools, global average pooling, Linear(512, 100);
{total:,} prunable weights in 14 layers), initialised as Tanaka et al.'s `lottery_vgg`
(Kaiming-normal weights, zero biases). Global scope; SynFlow 100 rounds on the
exponential schedule, the others single-shot. SNIP and GraSP score {BATCH_SIZE} CIFAR-10
training images (`cifar10_sample.npz`, seed {SEED}; Tanaka et al. use 10 CIFAR-100 images
per class, 1000 in all). CIFAR-10 has no 100 classes, so each image's label for the
100-class head is its CIFAR-10 class c mapped to one of 10c .. 10c + 9 at random (seeded):
a label's images share a class, as in CIFAR-100.

Single-shot methods: networks of seeds 0 to 9 for random and magnitude, 0 to 2 for SNIP and
GraSP (random's scores drawn with the network's seed), each scored once and masked at grid
points around the compression its scores' ranks predict (a layer survives while its best
weight is kept), until the critical point is bracketed. SynFlow: seed {SEED} only, one
100-round run per grid point downwards from 10^{grid_top(total, 14):.2f}, the
largest at which every layer can keep a weight (14 weights are needed; 10^6.25 leaves 8),
until one does not collapse; collapse is taken to be monotone in the compression. "ours" is
the mean over seeds, as the paper reports.

{table}

"emptied next": the layers a mask empties at the next grid point (seed 0).

How it compares with Tanaka et al.'s means (random 3.25, magnitude 2.75, SNIP 3.5, GraSP
3.5, SynFlow 6.0; 10^6.0 is this network's maximal critical compression on the grid: one
weight per layer and one to spare):
{comparison}

Random's critical point is set by the largest of the first layer's 1728 score draws (conv0
is emptied first), so it varies from seed to seed: while this benchmark was written, the
same rank computation over score seeds 0 to 29 gave 2.5 to 5.0, mean 3.48.

Why SynFlow can stop short of 10^6.0: on the exponential schedule every round removes the
same fraction of the weights left, 1 - 10^-0.06 = 13 % at 10^6 over 100 rounds, so 3 or 4
of the last 30 or so. By conservation each layer's scores sum to the same R, so a layer
holding three weights gives each about R/3 while a layer of two gives R/2: when the three
lowest scores are one layer's, that layer is emptied in a single round (traced at seed 0 and
10^6: 29 weights, one layer of three, the rest of two, then 26 weights and that layer
empty). The reference code, which prunes every score at or below a percentile, does the
same; more rounds make the last steps finer.

## GraSP below the published figure

GraSP is the one method more than half a decade from its published mean. It follows the
reference code (Synaptic-Flow's `GraSP` pruner) step by step: eval mode, logits divided
by 200, the loss gradient g of the whole batch fixed before the Hessian-gradient product
H g, the score w * H g over the Conv/Linear weights, the largest kept under one global
threshold. What this benchmark changes from the paper's setting, the number of images and
labels that are not CIFAR-100's, does not close the gap (network seeds
{", ".join(map(str, SEEDS["grasp"]))}):

{grasp_table}

What remains different is the images themselves: the paper scores CIFAR-100 training
images, which `../shared/data` does not hold. Here GraSP empties the deepest layers first
(see "emptied next" above).

## Conservation (Tanaka et al., Theorem 2)

In a network whose only parameters besides the weights are zero biases, with BatchNorm
bypassed (SynFlow's convention) and positively homogeneous activations (ReLU, max and
average pooling), the synaptic flow |w * dR/dw| summed over any layer equals R. On the
VGG-16-BN above the per-layer sums range from {low:.6e} to {high:.6e}: a relative spread of
{spread:.1e} (float64 rounding). Built with torch's default initialisation instead (non-zero
biases, which carry part of the flow past the earlier layers) the spread is {plain_spread:.1e};
SynFlow then empties the early layers first, so prune such networks after zeroing their
biases, as Tanaka et al.'s models are initialised. `tests/zero_cost/test_prune_scores.py`
checks the law to 1e-12 on a small bias-free network.

## Seconds per mask

One `prune.masks` call at compression {SPEED_COMPRESSION:.0f} (99 % sparsity), global
scope, default rounds (SynFlow 100, the others 1), {BATCH_SIZE} CIFAR-10 images, on the
CPU with one torch thread (the whole benchmark runs so: on this shared machine two threads
that wait for each other ran SynFlow's rounds up to ten times slower). NB201: the cell
`{NB201_CELL}` (C=16, N=5, 10 classes,
{nb201_weights:,} prunable weights; CIFAR-10 labels). VGG-16-BN: the network above; for the
single-shot methods the time of `prune.scores` plus one `prune.masks_from_scores` (the two
steps `prune.masks` takes), for SynFlow its first 100-round call of the search above (at
10^{grid_top(total, 14):.2f}; the compression barely changes its time). Single
measurements on a shared machine: read them as orders of magnitude.

| method | NB201 s | VGG-16-BN s |
|---|---|---|
{speed}

SynFlow copies the network's absolute float64 parameters once and re-masks the copy every
round; each round is one forward and one backward of a single all-ones input in float64
(torch's slow, non-oneDNN convolution on the CPU) plus a threshold over the weights still
kept.

## What cannot be checked without training

A mask's worth is the accuracy the pruned network reaches after training, which these
checks do not measure: they show only that the masks are what the methods define and that
SynFlow avoids layer collapse where the others do not. Tanaka et al.'s accuracies for
VGG-16-BN trained on CIFAR-10 after pruning at initialisation to 99.9 % sparsity
(compression 10^3), as issue 17 quotes them (not re-checked here):

| method | top-1 accuracy (%) |
|---|---|
{accuracy}

`examples/train_pruned.py` reproduces such a run on a machine with a GPU and torchvision
(it downloads CIFAR-10): it builds the network above with a 10-class head, computes the
masks, applies them with `prune.apply` and trains with SGD (160 epochs, learning rate 0.1
divided by 10 at epochs 60 and 120, momentum 0.9, weight decay 1e-4, batch 128: the
reference's settings), printing test accuracy per epoch.
"""


if __name__ == "__main__":
    raise SystemExit(main())
