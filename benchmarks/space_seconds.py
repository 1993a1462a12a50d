"""Seconds per architecture of snip, grasp and synflow together, in every search space.

For each registered space, a fixed set of architectures at the space's default settings:
drawn with ``zero_cost.search.OPERATORS[space].random_arch(random.Random(SEED))`` for the
spaces that define sampling, the first cells of ``../shared/data/nb101_dev.json`` for
``nb101`` and fixed example specs (a ResNet-like and a VGG-like layer graph) for ``graph``
(and for ``onnx``, which translates a file into such a graph).
Each is built with seed 0 and scored with ``zero_cost.score(model, ["snip", "grasp",
"synflow"], inputs, targets, seed=0)`` on 64 CIFAR-10 training images of
``cifar10_sample.npz`` (seed 0; a synthetic Gaussian batch, with a note, when the file is
absent or a space's input shape is not 3x32x32), in this process with one torch thread,
after one untimed warm-up per space. Reports per space the median parameter count, the
median seconds per architecture (scoring, and building apart) and the number of
architectures, and writes the table into ``docs/spaces.md`` between the markers
``<!-- seconds:begin -->`` and ``<!-- seconds:end -->``::

    .venv/bin/python benchmarks/space_seconds.py            # 5 architectures per space
    .venv/bin/python benchmarks/space_seconds.py --quick    # smoke run: small, writes nothing
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zero_cost import data, score, spaces  # noqa: E402
from zero_cost.search import OPERATORS  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "spaces.md"
COMMAND = ".venv/bin/python benchmarks/space_seconds.py"
BEGIN, END = "<!-- seconds:begin -->", "<!-- seconds:end -->"

PROXIES = ("snip", "grasp", "synflow")
BATCH_SIZE = 64
NUM_CLASSES = 10
SEED = 0
"""Seeds the architecture draws, the network initialisation, the batch and the scoring."""

QUICK_SETTINGS: dict[str, dict[str, int]] = {
    "nb201": {"channels": 8, "cells_per_stage": 1},
    "nb101": {"stem_channels": 16, "num_stacks": 2, "cells_per_stack": 1},
    "darts": {"channels": 4, "layers": 5},
    "transnas_micro": {"channels": 8},
    "transnas_macro": {"channels": 8},
}
"""Small settings for ``--quick`` (the spaces not listed have no settings). TransNAS at 8
channels, not 4: at 4 (a 2-channel stem), one thread and the channels-last layout that
``zero_cost.score`` uses on a CPU, torch 2.13.0+cpu corrupted its heap in grasp's double
backward here (glibc abort), while 2 threads or 8 channels ran."""

NB101_FALLBACK: dict[str, Any] = {
    "matrix": [
        [0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    "ops": [
        "input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
        "conv3x3-bn-relu", "maxpool3x3", "output",
    ],
}  # fmt: skip
"""The Inception-like cell of the NAS-Bench-101 README, used when nb101_dev.json is absent."""


def _conv(name: str, channels: int, **extra: Any) -> dict[str, Any]:
    """A bias-free 3x3 'same' convolution node of a graph spec."""
    return {"name": name, "op": "conv2d", "out_channels": channels, "kernel_size": 3,
            "padding": 1, "bias": False, **extra}  # fmt: skip


RESNET_GRAPH: dict[str, Any] = {
    "input_shape": [3, 32, 32],
    "nodes": [
        _conv("stem", 16), {"name": "stem_bn", "op": "batchnorm"},
        {"name": "stem_relu", "op": "relu"},
        _conv("conv1", 16), {"name": "bn1", "op": "batchnorm"}, {"name": "relu1", "op": "relu"},
        _conv("conv2", 16), {"name": "bn2", "op": "batchnorm"},
        {"name": "sum", "op": "add", "inputs": ["stem_relu", "bn2"]},
        {"name": "relu2", "op": "relu"},
        {"name": "pool", "op": "global_avgpool"},
        {"name": "fc", "op": "linear", "out_features": NUM_CLASSES},
    ],
    "output": "fc",
}  # fmt: skip
"""The README's ResNet-style basic block on a 16-channel stem."""

VGG_GRAPH: dict[str, Any] = {
    "input_shape": [3, 32, 32],
    "nodes": [
        _conv("conv1", 32), {"name": "bn1", "op": "batchnorm"}, {"name": "relu1", "op": "relu"},
        {"name": "pool1", "op": "maxpool", "kernel_size": 2},
        _conv("conv2", 64), {"name": "bn2", "op": "batchnorm"}, {"name": "relu2", "op": "relu"},
        {"name": "pool2", "op": "maxpool", "kernel_size": 2},
        _conv("conv3", 128), {"name": "bn3", "op": "batchnorm"}, {"name": "relu3", "op": "relu"},
        {"name": "pool", "op": "global_avgpool"},
        {"name": "fc", "op": "linear", "out_features": NUM_CLASSES},
    ],
}  # fmt: skip
"""A small VGG-like network: three conv-BN-ReLU stages of 32, 64 and 128 channels."""

GRAPH_SPECS: dict[str, dict[str, Any]] = {"ResNet block": RESNET_GRAPH, "VGG-like": VGG_GRAPH}
"""The ``graph`` architectures, by the name the table gives them."""


@dataclass
class SpaceResult:
    """What one space measured: a value per architecture, and notes on anything unusual."""

    space: str
    settings: dict[str, Any]
    source: str
    params: list[int] = field(default_factory=list)
    build_seconds: list[float] = field(default_factory=list)
    score_seconds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def settings_of(space: spaces.SearchSpace) -> dict[str, Any]:
    """The space's settings as configured: its keyword-only constructor arguments."""
    parameters = inspect.signature(type(space).__init__).parameters.values()
    return {p.name: getattr(space, p.name) for p in parameters if p.kind is p.KEYWORD_ONLY}


def architectures(name: str, space: spaces.SearchSpace, count: int) -> tuple[list[Any], str]:
    """``count`` fixed architectures of the space (fewer for ``graph``) and where they came
    from, in words."""
    if name in OPERATORS:
        rng = random.Random(SEED)
        draws = [OPERATORS[name].random_arch(rng) for _ in range(count)]
        return draws, f"random_arch, seed {SEED}"
    if name == "nb101":
        path = SHARED_DATA / "nb101_dev.json"
        if path.is_file():
            cells = json.loads(path.read_text())[:count]
            specs = [{"matrix": cell["matrix"], "ops": cell["ops"]} for cell in cells]
            return [space.parse(spec) for spec in specs], "first cells of nb101_dev.json"
        return [space.parse(NB101_FALLBACK)], "README Inception cell (nb101_dev.json absent)"
    if name in ("graph", "onnx"):
        # An ONNX file is translated into a graph: the same networks, as their translation.
        chosen = list(GRAPH_SPECS)[:count]
        source = "fixed specs: " + ", ".join(chosen)
        if name == "onnx":
            source = "the graph row's networks, as translated ONNX"
        return [space.parse(GRAPH_SPECS[n]) for n in chosen], source
    raise ValueError(f"no architectures defined for space {name!r}")


class Batches:
    """The scoring batch of each input shape: CIFAR-10 images for 3x32x32 when the sample
    is there, else a synthetic Gaussian batch (``synthetic`` lists the shapes that got one)."""

    def __init__(self) -> None:
        self.npz = SHARED_DATA / "cifar10_sample.npz"
        self.synthetic: set[tuple[int, ...]] = set()
        self._cache: dict[tuple[int, ...], data.Batch] = {}

    def get(self, shape: tuple[int, ...]) -> data.Batch:
        """The batch of ``BATCH_SIZE`` samples of ``shape``."""
        if shape not in self._cache:
            if shape == (3, 32, 32) and self.npz.is_file():
                batch = data.npz_batch(self.npz, BATCH_SIZE, seed=SEED, split="train")
            else:
                self.synthetic.add(shape)
                batch = data.synthetic_batch(BATCH_SIZE, shape, NUM_CLASSES, seed=SEED)
            self._cache[shape] = batch
        return self._cache[shape]


def measure(name: str, settings: dict[str, int], count: int, batches: Batches) -> SpaceResult:
    """Build and score the space's architectures, after one untimed warm-up."""
    space = spaces.get(name, **settings)
    archs, source = architectures(name, space, count)
    result = SpaceResult(name, settings_of(space), source)

    def run(arch: Any) -> tuple[float, float, dict[str, Any]]:
        batch = batches.get(tuple(space.input_shape(arch)))
        start = time.perf_counter()
        model = space.build(arch, num_classes=NUM_CLASSES, seed=SEED)
        built = time.perf_counter()
        scores = score(model, list(PROXIES), batch.inputs, batch.targets, seed=SEED)
        return built - start, time.perf_counter() - built, scores

    run(archs[0])  # warm-up
    for arch in archs:
        build_seconds, score_seconds, scores = run(arch)
        result.params.append(space.param_count(arch, NUM_CLASSES))
        result.build_seconds.append(build_seconds)
        result.score_seconds.append(score_seconds)
        for proxy, outcome in scores.items():
            if outcome.status != "ok":
                spec = json.dumps(space.to_spec(arch))[:60]
                result.notes.append(f"{proxy} {outcome.status} on {spec}: {outcome.error}")
    return result


def render_table(results: Sequence[SpaceResult]) -> str:
    """The markdown table, one row per space."""
    lines = [
        "| space | settings | architectures | parameters (median) | "
        "s/arch snip+grasp+synflow (median) | s/arch build (median) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        settings = ", ".join(f"{k}={v}" for k, v in r.settings.items()) or "(none)"
        lines.append(
            f"| {r.space} | {settings} | {len(r.params)} ({r.source}) | "
            f"{statistics.median(r.params):,.0f} | {statistics.median(r.score_seconds):.2f} | "
            f"{statistics.median(r.build_seconds):.2f} |"
        )
    return "\n".join(lines)


def render_block(
    results: Sequence[SpaceResult],
    batches: Batches,
    count: int,
    minutes: float,
    loads: tuple[float, float],
) -> str:
    """The header, the table and the notes that go between the doc's markers."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if batches.npz.is_file():
        images = f"{BATCH_SIZE} CIFAR-10 training images of `cifar10_sample.npz` (seed {SEED})"
    else:
        images = f"a synthetic Gaussian batch of {BATCH_SIZE} ({batches.npz} not found)"
    lines = [
        f"Measured {when} on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"Python {platform.python_version()}, one torch thread; 1-minute load average "
        f"{loads[0]:.2f} at the start, {loads[1]:.2f} at the end (other processes share the "
        f"machine); {minutes:.1f} minutes in all. Up to {count} architecture(s) per space at the "
        f"settings in the table, each built with seed {SEED} and scored with snip, grasp and "
        f"synflow "
        f"in one `zero_cost.score` call on {images}, after one untimed warm-up per space. "
        f"Regenerate with `{COMMAND} --per-space {count}`.",
        "",
        render_table(results),
    ]
    notes = [f"{r.space}: {note}" for r in results for note in r.notes]
    if batches.synthetic:
        shapes = ", ".join("x".join(map(str, s)) for s in sorted(batches.synthetic))
        notes.insert(0, f"synthetic Gaussian batch (not real data) for input shape {shapes}")
    if notes:
        lines += ["", *(f"* {note}" for note in notes)]
    return "\n".join(lines)


def replace_block(path: Path, block: str) -> None:
    """Replace what lies between ``BEGIN`` and ``END`` in ``path`` with ``block``.

    Raises:
        SystemExit: the file or one of the markers is missing.
    """
    if not path.is_file():
        raise SystemExit(f"{path} not found")
    text = path.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{path} lacks the markers {BEGIN} ... {END}")
    path.write_text(text[: start + len(BEGIN)] + "\n" + block + "\n" + text[end:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-space", type=int, default=5, help="architectures per space")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 architecture per space, small settings, no file written",
    )
    parser.add_argument(
        "--output", type=Path, default=DOC, help="the doc whose marked block gets the table"
    )
    parser.add_argument("--spaces", default=",".join(spaces.names()), help="comma-separated")
    args = parser.parse_args(argv)
    if args.per_space < 1:
        parser.error("--per-space must be at least 1")
    count = 1 if args.quick else args.per_space
    names = [name for name in args.spaces.split(",") if name]
    unknown = sorted(set(names) - set(spaces.names()))
    if unknown:
        parser.error(f"unknown spaces {', '.join(unknown)}; known: {', '.join(spaces.names())}")

    torch.set_num_threads(1)
    batches = Batches()
    if not batches.npz.is_file():
        print(f"note: {batches.npz} not found; scoring on a synthetic batch", file=sys.stderr)
    began, load_start = time.perf_counter(), os.getloadavg()[0]
    results = []
    for name in names:
        settings = QUICK_SETTINGS.get(name, {}) if args.quick else {}
        result = measure(name, settings, count, batches)
        results.append(result)
        print(
            f"[{time.perf_counter() - began:6.1f} s] {name}: {len(result.params)} archs, "
            f"{statistics.median(result.score_seconds):.2f} s/arch",
            flush=True,
        )
    minutes = (time.perf_counter() - began) / 60
    block = render_block(results, batches, count, minutes, (load_start, os.getloadavg()[0]))
    print(block)
    if args.quick:
        print("(quick run: small settings, nothing written)")
    else:
        replace_block(args.output, block)
        print(f"wrote the table into {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
