"""Speed of ``zero_cost.score`` against the reference implementation, measured in one run.

Seconds per NAS-Bench-201 cell (C=16, N=5, batch of 64 3x32x32 images, 10 classes) for two
proxy sets, ``trio`` (snip, grasp, synflow) and ``six`` (snip, grasp, synflow, grad_norm,
fisher, jacob_cov), for ours and for a baseline measured on the same machine, cells, weights
and batch (the baseline on the reference network: torch's stock BatchNorm and pooling modules
in place of ``zero_cost.layers``' equivalents):

* the PyPI package ``alethiometer`` (a derivative of Abdelfattah et al.'s zero-cost-nas
  reference code) for the proxies it has: snip, grasp, synflow, grad_norm;
* for fisher and jacob_cov, which it lacks, a port of the reference code (``zero-cost-nas``,
  ``foresight/pruners/measures``), registered with alethiometer's own ``metric`` decorator,
  so that it too deep-copies the network and computes that proxy alone.

Two modes, each reported for ours and for the baseline alike:

* latency: one process with every core given to torch; seconds per cell (median); ours and
  the baseline alternate cell by cell;
* throughput: one scoring process per core (``spawn`` pool, ``torch.set_num_threads(1)`` in
  each), both scoring distinct cells with the same implementation; cells/s = processes /
  median seconds per cell. The cells are split into rounds (``--rounds``, by default one cell
  per process) that time ours and the baseline in turn, so that load from other processes on
  the machine falls on both alike.

The targets are checked on the throughput rows, like for like, and on ours' throughput against
the baseline's latency mode (how a search loop runs the reference code: one process).

Every process warms up once per implementation and set before timing. Then each proxy alone
is timed on a few cells (``--breakdown``), for the cost analysis. The machine may be shared:
before each cell (latency) or round (throughput), while the benchmark itself is idle, it
waits until other processes are quiet (``--max-wait`` seconds at most per step,
``--wait-budget`` in all; ``--max-wait 0`` disables this). The two
implementations are also compared value by value: Spearman rho across the cells, per proxy,
on the same built model and batch.

The baseline lives in a separate virtual environment so that it never touches the project's:

    python3 -m venv .bench-venv
    .bench-venv/bin/pip install torch==2.13.0            # the local CPU build (no CUDA wheel)
    .bench-venv/bin/pip install --no-deps alethiometer==1.1.2
    .bench-venv/bin/pip install numpy scipy pydantic
    .bench-venv/bin/pip install --no-deps -e .

alethiometer declares h5py and Pillow and imports torchvision in its package ``__init__``, for
its data loaders only; this script loads its scoring modules without running that
``__init__``, so none of the three is needed (a PyPI torchvision would not load against the
CPU torch anyway). Then:

    .bench-venv/bin/python benchmarks/speed.py --cells 30     # writes docs/performance.md
    .bench-venv/bin/python benchmarks/speed.py --quick        # 4 cells, smoke check
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime
import importlib.metadata
import importlib.util
import multiprocessing
import os
import platform
import random
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zero_cost import data, layers, score, spaces  # noqa: E402
from zero_cost.spaces.nb201 import OPS, NB201Arch  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
BATCH_SIZE = 64
SETS = {
    "six": ("snip", "grasp", "synflow", "grad_norm", "fisher", "jacob_cov"),
    "trio": ("snip", "grasp", "synflow"),
}
TARGETS = {"six": 4.0, "trio": 2.5}  # ours / baseline throughput
MIN_SPEARMAN = 0.99
IMPLS = ("ours", "baseline")
# The reference fisher hooks an nn.Identity with the deprecated non-full backward hook.
warnings.filterwarnings("ignore", message="Using a non-full backward hook", category=FutureWarning)


# -- cells and batch ---------------------------------------------------------------------------


def load_cells(count: int, seed: int = 0) -> tuple[list[str], str]:
    """The first ``count`` non-degenerate cells of nb201_dev.csv, or seeded random cells."""
    space = spaces.get("nb201")
    path = SHARED_DATA / "nb201_dev.csv"
    if path.exists():
        cells = []
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if not space.parse(row["arch_str"]).is_degenerate:
                    cells.append(row["arch_str"])
                if len(cells) == count:
                    break
        if len(cells) == count:
            return cells, f"the first {count} non-degenerate cells of {path}"
    rng = random.Random(seed)
    cells = []
    while len(cells) < count:
        arch = NB201Arch(tuple(rng.choice(OPS) for _ in range(6)))
        if not arch.is_degenerate and arch.arch_str not in cells:
            cells.append(arch.arch_str)
    return cells, f"{count} random non-degenerate cells (seed {seed}; {path} not usable)"


def load_batch() -> tuple[data.Batch, str]:
    """64 CIFAR-10 training images (seed 0), or a synthetic batch when the file is absent."""
    path = SHARED_DATA / "cifar10_sample.npz"
    if path.exists():
        return data.npz_batch(path, BATCH_SIZE, seed=0), f"64 images of {path} (seed 0)"
    print(f"note: {path} not found; using a synthetic batch instead", file=sys.stderr)
    return data.synthetic_batch(BATCH_SIZE, seed=0), "a synthetic batch (seed 0; no CIFAR file)"


def build(arch_str: str) -> nn.Module:
    space = spaces.get("nb201")
    return space.build(space.parse(arch_str), num_classes=10, seed=0)


def with_torch_layers(model: nn.Module) -> nn.Module:
    """A copy of ``model`` made of torch's stock modules, as the reference NB201 code builds
    it: our ``layers.BatchNorm2d`` and ``layers.AvgPool3x3`` (same functions and state,
    cheaper backward) become ``nn.BatchNorm2d`` and ``nn.AvgPool2d``, and the weights are in
    torch's default layout (ours' engine lays them out channels-last on a CPU)."""
    net = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    for name, module in list(net.named_modules()):
        if isinstance(module, layers.BatchNorm2d):
            stock = nn.BatchNorm2d(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
            )
            stock.load_state_dict(module.state_dict())
        elif isinstance(module, layers.AvgPool3x3):
            stock = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        else:
            continue
        parent, _, child = name.rpartition(".")
        setattr(net.get_submodule(parent), child, stock.train(module.training))
    return net


# -- the baseline --------------------------------------------------------------------------------


class MissingBaseline(RuntimeError):
    pass


_ALETHIOMETER: types.ModuleType | None = None


def alethiometer() -> types.ModuleType:
    """alethiometer's ``zc_proxy`` module with fisher and jacob_cov registered beside its own.

    The package ``__init__`` (data loaders: torchvision, h5py, PIL) is bypassed by installing
    an empty package module with the right ``__path__`` before importing the submodule.
    """
    global _ALETHIOMETER
    if _ALETHIOMETER is not None:
        return _ALETHIOMETER
    spec = importlib.util.find_spec("alethiometer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingBaseline(
            "alethiometer is not installed in this interpreter "
            f"({sys.executable}); create the bench venv as the docstring of "
            f"{Path(__file__).name} says and run the script with .bench-venv/bin/python"
        )
    if "alethiometer" not in sys.modules:
        package = types.ModuleType("alethiometer")
        package.__path__ = list(spec.submodule_search_locations)
        package.__file__ = spec.origin
        sys.modules["alethiometer"] = package
    zc_proxy = importlib.import_module("alethiometer.zc_proxy")
    metrics = importlib.import_module("alethiometer.zero_cost_metrics")
    if "fisher" not in metrics._metric_impls:
        metrics.metric("fisher", bn=True, mode="channel")(reference_fisher)
    if "jacob_cov" not in metrics._metric_impls:
        metrics.metric("jacob_cov", bn=True)(reference_jacob_cov)
    _ALETHIOMETER = zc_proxy
    return zc_proxy


class PrunableNet(nn.Module):
    """Our built network as the reference code expects it: ``get_prunable_copy(bn)`` returns
    a deep copy in train mode, with every BatchNorm replaced by the identity when ``bn`` is
    False (the reference NB201 model rebuilds itself without BatchNorm and loads the state)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def get_prunable_copy(self, bn: bool = False) -> nn.Module:
        net = copy.deepcopy(self.net)
        if not bn:
            norms = [
                name
                for name, module in net.named_modules()
                if isinstance(module, nn.modules.batchnorm._BatchNorm)
            ]
            for name in norms:
                parent_name, _, child = name.rpartition(".")
                setattr(net.get_submodule(parent_name), child, nn.Identity())
        return net.train()


# Reference-mode proxies, following zero-cost-nas (foresight/pruners/measures/fisher.py and
# jacob_cov.py) operation for operation: same passes, same hooks, same numpy eigensolver, same
# per-channel broadcast of fisher before the sum.


def _fisher_conv2d(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    out = F.conv2d(
        x, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups
    )
    layer.act = layer.dummy(out)
    return layer.act


def _fisher_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    layer.act = layer.dummy(F.linear(x, layer.weight, layer.bias))
    return layer.act


def _fisher_hook(layer: nn.Module) -> Callable:
    def hook(module: nn.Module, grad_input: tuple, grad_output: tuple) -> None:
        act, grad = layer.act.detach(), grad_output[0].detach()
        g_nk = (act * grad).sum(list(range(2, act.dim()))) if act.dim() > 2 else act * grad
        del_k = g_nk.pow(2).mean(0).mul(0.5)
        layer.fisher = del_k if layer.fisher is None else layer.fisher + del_k
        del layer.act

    return hook


def reference_fisher(net, inputs, targets, mode, loss_fn, split_data=1):
    """The reference fisher: per output channel 0.5 * mean_n(sum a * dL/da)^2, broadcast to
    every weight of the channel (so the sum weights each channel by its fan-in)."""
    net.train()
    layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    for layer in layers:
        layer.fisher, layer.act, layer.dummy = None, 0.0, nn.Identity()
        forward = _fisher_conv2d if isinstance(layer, nn.Conv2d) else _fisher_linear
        layer.forward = types.MethodType(forward, layer)
        layer.dummy.register_backward_hook(_fisher_hook(layer))
    size = inputs.shape[0]
    for part in range(split_data):
        start, end = part * size // split_data, (part + 1) * size // split_data
        net.zero_grad()
        loss_fn(net(inputs[start:end]), targets[start:end]).backward()
    arrays, channel_sum = [], 0.0
    for layer in layers:
        per_channel = (
            layer.fisher.detach().abs()
            if layer.fisher is not None
            else torch.zeros(layer.weight.shape[0])
        )
        shape = layer.weight.shape[1:]
        arrays.append(torch.stack([torch.empty(shape).fill_(v) for v in per_channel], dim=0))
        channel_sum += float(per_channel.sum())
    FISHER_CHANNEL_SUMS.append(channel_sum)
    return arrays


FISHER_CHANNEL_SUMS: list[float] = []  # diagnostic: the unbroadcast per-channel sums


def reference_jacob_cov(net, inputs, targets, split_data=1, loss_fn=None):
    """The reference jacob_cov: input gradients of the summed outputs, numpy corrcoef and
    (general) eig, -sum(log(v + k) + 1/(v + k))."""
    net.zero_grad()
    inputs.requires_grad_(True)
    size = inputs.shape[0]
    for part in range(split_data):
        start, end = part * size // split_data, (part + 1) * size // split_data
        outputs = net(inputs[start:end])
        outputs.backward(torch.ones_like(outputs))
    jacobian = inputs.grad.detach()
    inputs.requires_grad_(False)
    jacobian = jacobian.reshape(jacobian.size(0), -1).cpu().numpy()
    try:
        eigenvalues, _ = np.linalg.eig(np.corrcoef(jacobian))
        k = 1e-5
        return -np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k))
    except Exception as error:  # noqa: BLE001  (the reference prints and returns NaN)
        print(error)
        return np.nan


# -- waiting for a quiet machine ----------------------------------------------------------------


def cpu_busy(interval: float = 0.5) -> float | None:
    """Busy fraction of all CPUs over ``interval`` seconds (None without /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total, idle = sample()
        time.sleep(interval)
        total2, idle2 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle2 - idle) / max(1, total2 - total)


@dataclass
class QuietGate:
    """Before a measurement, while this benchmark is idle, wait (at most ``max_wait`` s) until
    other processes use at most ``threshold`` of the machine's CPUs."""

    max_wait: float
    budget: float = 900.0
    threshold: float = 0.15
    checks: int = 0
    busy_starts: int = 0
    waited: float = 0.0

    def wait(self) -> None:
        if self.max_wait <= 0:
            return
        self.checks += 1
        limit = min(self.max_wait, max(0.0, self.budget - self.waited))
        start = time.perf_counter()
        while True:
            busy = cpu_busy()
            if busy is None or busy <= self.threshold:
                break
            if time.perf_counter() - start >= limit:
                self.busy_starts += 1
                break
            time.sleep(2.0)
        waited = time.perf_counter() - start
        self.waited += waited
        if waited > 5:
            print(f"  (waited {waited:.0f} s for other processes to go quiet)", flush=True)

    def summary(self) -> str:
        if self.max_wait <= 0:
            return "measurements did not wait for a quiet machine (--max-wait 0)"
        return (
            f"before each of {self.checks} measurement steps the benchmark waited until other "
            f"processes used at most {self.threshold:.0%} of the CPUs (at most {self.max_wait:.0f}"
            f" s each, {self.budget:.0f} s in all; waited {self.waited:.0f} s); "
            f"{self.busy_starts} steps started on a busy machine after the wait ran out"
        )


# -- timing ----------------------------------------------------------------------------------------


def run_once(impl: str, proxies: Sequence[str], arch_str: str, batch: data.Batch):
    """Build the cell, then time one scoring call; (seconds, {proxy: value})."""
    model = build(arch_str)
    return time_call(impl, proxies, model, batch)


def time_call(impl: str, proxies: Sequence[str], model: nn.Module, batch: data.Batch):
    if impl == "ours":
        start = time.perf_counter()
        results = score(model, list(proxies), batch.inputs, batch.targets, seed=0)
        seconds = time.perf_counter() - start
        return seconds, {name: r.value for name, r in results.items()}
    zc_proxy = alethiometer()
    net = PrunableNet(with_torch_layers(model))
    loader = [(batch.inputs.clone(), batch.targets.clone())]  # a fresh batch, as a loader's
    start = time.perf_counter()
    values = zc_proxy.calc_zc_metrics(list(proxies), net, loader, torch.device("cpu"))
    seconds = time.perf_counter() - start
    return seconds, {name: float(np.real(value)) for name, value in values.items()}


_WORKER: dict = {}


def _init_worker(cells, inputs, targets, barrier) -> None:
    torch.set_num_threads(1)
    batch = data.Batch(inputs, targets, 10)
    _WORKER.update(cells=cells, batch=batch)
    for proxies in SETS.values():  # warm-up
        for impl in IMPLS:
            run_once(impl, proxies, cells[0], batch)
    barrier.wait(timeout=900)


def _worker_cell(task: tuple[str, str, int]) -> float:
    impl, set_name, index = task
    return run_once(impl, SETS[set_name], _WORKER["cells"][index], _WORKER["batch"])[0]


def throughput(
    cells: list[str],
    batch: data.Batch,
    processes: int,
    rounds: int,
    result: Result,
    gate: QuietGate,
) -> None:
    """Per-cell seconds in a pool of single-threaded processes.

    The processes always run the same implementation and set at a time; the cells are split
    into ``rounds`` (by default one cell per process) and every round times each (set,
    implementation) in turn, the order reversed every other round, so that load from other
    processes on the machine falls on ours and the baseline alike.
    """
    keys = [(set_name, impl) for set_name in SETS for impl in IMPLS]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    initargs = (cells, batch.inputs, batch.targets, barrier)
    with context.Pool(processes, initializer=_init_worker, initargs=initargs) as pool:
        barrier.wait(timeout=900)  # every worker has warmed up
        for number, chunk in enumerate(np.array_split(np.arange(len(cells)), rounds)):
            for set_name, impl in keys if number % 2 == 0 else keys[::-1]:
                tasks = [(impl, set_name, int(i)) for i in chunk]
                gate.wait()
                seconds = pool.map(_worker_cell, tasks, chunksize=1)
                result.per_core.setdefault((set_name, impl), []).extend(seconds)


@dataclass
class Result:
    latency: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    per_core: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    single: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    fisher_channels: list[float] = field(default_factory=list)  # the reference's, unbroadcast
    loads: list[str] = field(default_factory=list)  # 1-minute load average at phase changes

    def note_load(self, phase: str) -> None:
        self.loads.append(f"{os.getloadavg()[0]:.2f} {phase}")


def measure(
    cells: list[str],
    batch: data.Batch,
    processes: int,
    threads: int,
    rounds: int,
    breakdown: int,
    gate: QuietGate,
) -> Result:
    result = Result()
    result.values = {impl: {p: [] for p in SETS["six"]} for impl in IMPLS}
    torch.set_num_threads(threads)
    for proxies in SETS.values():  # warm-up
        for impl in IMPLS:
            run_once(impl, proxies, cells[0], batch)
    print(f"latency: 1 process, {threads} torch threads", flush=True)
    result.note_load("at the start of the latency run")
    for key in ((s, i) for s in SETS for i in IMPLS):
        result.latency[key] = []
    for index, arch_str in enumerate(cells):
        model = build(arch_str)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        gate.wait()
        for set_name, proxies in SETS.items():
            order = IMPLS if index % 2 == 0 else IMPLS[::-1]  # alternate who goes first
            for impl in order:
                seconds, values = time_call(impl, proxies, model, batch)
                result.latency[set_name, impl].append(seconds)
                if set_name == "six":
                    for name in proxies:
                        result.values[impl][name].append(values[name])
                    if impl == "baseline":
                        result.fisher_channels.append(FISHER_CHANNEL_SUMS[-1])
        after = model.state_dict()
        if any(not torch.equal(before[k], after[k]) for k in before):
            raise AssertionError(f"scoring changed the model's state ({arch_str})")
        line = "  ".join(f"{s}/{i} {result.latency[s, i][-1]:.3f}s" for s in SETS for i in IMPLS)
        print(f"  cell {index + 1:2d}/{len(cells)}  {line}", flush=True)
    print(f"throughput: {processes} processes x 1 torch thread, {rounds} rounds", flush=True)
    result.note_load("at the start of the throughput run")
    throughput(cells, batch, processes, rounds, result, gate)
    result.note_load("at its end")
    for set_name in SETS:
        for impl in IMPLS:
            seconds = result.per_core[set_name, impl]
            print(f"  {set_name}/{impl}: median {statistics.median(seconds):.3f} s/cell")
    if breakdown:
        torch.set_num_threads(1)
        print(f"per proxy: 1 process, 1 torch thread, {breakdown} cells", flush=True)
        for index, arch_str in enumerate(cells[:breakdown]):
            model = build(arch_str)
            gate.wait()
            for name in SETS["six"]:
                for impl in IMPLS if index % 2 == 0 else IMPLS[::-1]:
                    seconds = time_call(impl, [name], model, batch)[0]
                    result.single.setdefault((name, impl), []).append(seconds)
    return result


# -- report ----------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "alethiometer": importlib.metadata.version("alethiometer"),
        "numpy": np.__version__,
    }


def agreement(result: Result) -> dict[str, tuple[float, float]]:
    """Per proxy: Spearman rho between ours and the baseline, and the largest relative gap."""
    rows = {}
    for name in SETS["six"]:
        ours = np.array(result.values["ours"][name])
        base = np.array(result.values["baseline"][name])
        rho = float(stats.spearmanr(ours, base).statistic) if len(ours) > 2 else float("nan")
        gap = float(np.max(np.abs(ours - base) / np.maximum(np.abs(base), 1e-300)))
        rows[name] = (rho, gap)
    return rows


def hessian_note(result: Result) -> str:
    """GraSP's Hessian-gradient product, which both sides compute once, bounds the speed-up."""

    def med(name: str, impl: str) -> float:
        return statistics.median(result.single[name, impl])

    product = statistics.median(
        g - s
        for g, s in zip(result.single["grasp", "ours"], result.single["snip", "ours"], strict=True)
    )
    bounds = {
        set_name: sum(med(name, "baseline") for name in proxies) / product
        for set_name, proxies in SETS.items()
    }
    return (
        f"GraSP's Hessian-gradient product (ours grasp alone minus ours snip alone, median): "
        f"{product:.3f} s per cell, {product / med('grasp', 'ours'):.0%} of ours' grasp. The "
        "baseline computes the same product once as well, so even if everything else in ours "
        "were free, ours/baseline could not exceed the baseline's summed one-proxy times over "
        f"this product: {bounds['trio']:.2f}x for snip+grasp+synflow and {bounds['six']:.2f}x "
        "for the six-proxy bundle."
    )


def report(result: Result, setup: dict[str, str], processes: int, threads: int) -> tuple:
    """The markdown text and whether every target and agreement check passed."""
    lines = [
        "| proxies | mode | ours s/cell | baseline s/cell | ours cells/s | "
        "baseline cells/s | ours/baseline | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    for set_name in SETS:
        label = "+".join(SETS[set_name]) if set_name == "trio" else "six-proxy bundle"
        ours = statistics.median(result.latency[set_name, "ours"])
        base = statistics.median(result.latency[set_name, "baseline"])
        lines.append(
            f"| {label} | latency ({threads} threads) | {ours:.3f} | {base:.3f} | "
            f"{1 / ours:.2f} | {1 / base:.2f} | {base / ours:.2f}x | |"
        )
        ours = statistics.median(result.per_core[set_name, "ours"])
        base = statistics.median(result.per_core[set_name, "baseline"])
        ratio = base / ours
        met = ratio >= TARGETS[set_name]
        ok &= met
        lines.append(
            f"| {label} | throughput ({processes} x 1 thread) | {ours:.3f} | {base:.3f} | "
            f"{processes / ours:.2f} | {processes / base:.2f} | {ratio:.2f}x | "
            f">= {TARGETS[set_name]}x: "
            f"{'met' if met else 'NOT met'} |"
        )
        # The baseline the way a search loop runs it: one process, every core to torch.
        single = statistics.median(result.latency[set_name, "baseline"])
        ratio = processes / ours * single
        met = ratio >= TARGETS[set_name]
        ok &= met
        lines.append(
            f"| {label} | ours {processes} x 1 thread, baseline 1 x {threads} threads | "
            f"{ours:.3f} | {single:.3f} | {processes / ours:.2f} | {1 / single:.2f} | "
            f"{ratio:.2f}x | >= {TARGETS[set_name]}x: {'met' if met else 'NOT met'} |"
        )
    lines += ["", "| proxy | Spearman ours vs baseline | max relative difference | >= 0.99 |"]
    lines.append("|---|---|---|---|")
    for name, (rho, gap) in agreement(result).items():
        passed = rho >= MIN_SPEARMAN
        ok &= passed
        lines.append(f"| {name} | {rho:.4f} | {gap:.2e} | {'yes' if passed else 'NO'} |")
    if result.single:
        count = len(next(iter(result.single.values())))
        lines += [
            "",
            f"Per proxy, one proxy per call (1 process, 1 torch thread, median over {count} "
            "cells):",
            "",
            "| proxy | ours s/cell | baseline s/cell | ours/baseline |",
            "|---|---|---|---|",
        ]
        for name in SETS["six"]:
            ours = statistics.median(result.single[name, "ours"])
            base = statistics.median(result.single[name, "baseline"])
            lines.append(f"| {name} | {ours:.3f} | {base:.3f} | {base / ours:.2f}x |")
        lines += ["", hessian_note(result)]
    table = "\n".join(lines)
    return table, ok


def markdown(table: str, setup: dict[str, str], info: dict[str, str], command: str) -> str:
    return "\n".join(
        [
            "# Performance: seconds per NAS-Bench-201 cell",
            "",
            f"Measured {info['date']} on {setup['nproc']} cores ({setup['cpu']}), torch "
            f"{setup['torch']}, Python {setup['python']}, numpy {setup['numpy']}, "
            f"alethiometer {setup['alethiometer']}. 1-minute load average "
            f"(other processes share the machine): {info['load']}.",
            "",
            f"Cells: {info['cells']}. Batch: {info['batch']}. Networks: C=16, N=5, 10 classes,",
            "built with seed 0 by our builder; the baseline scores a copy of each network with",
            "torch's stock `nn.BatchNorm2d` and `nn.AvgPool2d` in place of `zero_cost.layers`'",
            "equivalents (the reference code's network: same weights, same function), ours the",
            "network as built; both the same batch.",
            "",
            "Baseline: alethiometer's `calc_zc_metrics` for snip, grasp, synflow and grad_norm;",
            "for fisher and jacob_cov, which it lacks, a port of the zero-cost-nas reference code",
            "registered with alethiometer's `metric` decorator, so that every baseline proxy runs",
            "on its own deep copy of the network, the reference way (synflow on a copy without",
            "BatchNorm).",
            "",
            "Latency: one process, every core to torch, median seconds per cell, ours and the",
            "baseline alternating cell by cell. Throughput: one scoring process per core (`spawn`",
            "pool, one torch thread each), both scoring distinct cells with the same",
            "implementation; cells/s = processes / median seconds per cell; the cells are split",
            f"into {info['rounds']} rounds that time ours and the baseline in turn, so that load",
            "from other processes falls on both alike. Each process warms up once before timing.",
            "The ratio is ours/baseline throughput (= baseline seconds / ours seconds). The",
            "targets are checked twice: like for like (both one process per core), and ours",
            "(one process per core, as the service runs its workers) against the baseline the",
            "way a search loop calls it (one process, every core to torch: its latency row).",
            "",
            table,
            "",
            "Agreement: Spearman rho across the cells between our value and the baseline's for",
            "each proxy (same model, same batch), and the largest relative difference. The",
            "reference fisher broadcasts each channel's value to every weight of that channel",
            "before summing, so it weights a channel by its fan-in (input channels x kernel",
            "area); for comparison, ours against the same run's reference channel sums without",
            f"that weighting: {info['fisher_channel']}.",
            "",
            "Rerun (bench venv set up as the docstring of `benchmarks/speed.py` says):",
            "",
            f"    {command}",
            "",
        ]
    )


def other_sections(path: Path) -> str:
    """The ``## `` sections of the report at ``path`` that other benchmarks write (this one
    writes none), kept when it is rewritten; "" when there is none."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find("\n## ")
    return "" if start < 0 else text[start:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=30, help="number of cells (default 30)")
    parser.add_argument("--quick", action="store_true", help="4 cells, no docs: a smoke check")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="throughput rounds alternating ours and baseline (default: one cell per process)",
    )
    parser.add_argument(
        "--breakdown", type=int, default=10, help="cells timed one proxy at a time (0: none)"
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=60.0,
        help="seconds to wait for other processes to go quiet before each step (0: never)",
    )
    parser.add_argument(
        "--wait-budget", type=float, default=900.0, help="seconds of such waiting in all"
    )
    parser.add_argument("--output", type=Path, help="markdown report (default: docs/...)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target or agreement check fails"
    )
    args = parser.parse_args(argv)
    try:
        alethiometer()
    except (MissingBaseline, ImportError) as error:
        print(f"error: the baseline cannot be loaded: {error}", file=sys.stderr)
        return 2
    count = 4 if args.quick else args.cells
    output = args.output or (None if args.quick else ROOT / "docs" / "performance.md")
    cells, cells_text = load_cells(count)
    batch, batch_text = load_batch()
    setup = machine()
    print(
        f"{len(cells)} cells, {setup['nproc']} cores ({setup['cpu']}), torch {setup['torch']}, "
        f"alethiometer {setup['alethiometer']}",
        flush=True,
    )
    breakdown = min(args.breakdown, len(cells))
    most = max(1, len(cells) // max(1, args.processes))
    rounds = most if args.rounds <= 0 else max(1, min(args.rounds, most))
    gate = QuietGate(args.max_wait, args.wait_budget)
    result = measure(cells, batch, args.processes, args.threads, rounds, breakdown, gate)
    table, ok = report(result, setup, args.processes, args.threads)
    ours_f = np.array(result.values["ours"]["fisher"])
    channel = np.array(result.fisher_channels)
    info = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": ", ".join(result.loads) + "; " + gate.summary(),
        "cells": cells_text,
        "batch": batch_text,
        "rounds": str(rounds),
        "fisher_channel": (
            f"Spearman {stats.spearmanr(ours_f, channel).statistic:.4f}, max relative "
            f"difference {np.max(np.abs(ours_f - channel) / np.abs(channel)):.2e}"
        ),
    }
    print()
    print(table)
    print(f"\nfisher vs the reference's channel sums without fan-in: {info['fisher_channel']}")
    print("targets and agreement: " + ("all met" if ok else "NOT all met"))
    if output is not None:
        command = f".bench-venv/bin/python benchmarks/speed.py --cells {len(cells)}"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown(table, setup, info, command) + other_sections(output))
        print(f"wrote {output}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
