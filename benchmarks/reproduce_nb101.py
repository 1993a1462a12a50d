"""Rank the 100 NAS-Bench-101 reference cells with the proxies, and look into jacob_cov there.

Scores the cells of ``../shared/data/nb101_dev.json`` (the standard NB101 network: stem of
128 channels, 3 stacks of 3 cells, 10 classes) on the 64-image batch of
``cifar10_sample.npz`` (seed 0), with networks built with init seed 0 and again with init
seed 1, and writes to ``docs/reproduction_nb101.md``:

* Spearman rho of every proxy (and the recommended ranker, ``zero_cost.ensemble``) against
  the cells' validation accuracy, with seed 0;
* how much each proxy's ranking of the cells depends on the weights it is given: Spearman
  between its seed-0 and seed-1 scores of the same cells. NAS-Bench-Suite-Zero scored with
  its own initialisation, so a proxy whose ranking moves with the seed cannot agree with
  its published values better than it agrees with itself;
* for jacob_cov, how its value depends on the numerics: our float64 symmetric eigensolver
  against NASLib's ``np.corrcoef`` + ``np.linalg.eig`` on the same Jacobians.

``ntk_cond`` is left out by default: one backward per sample through a 128-channel NB101
network is minutes per cell on a CPU. ::

    .venv/bin/python benchmarks/reproduce_nb101.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reproduce_nb201 import SHARED_DATA, init_worker, worker_batch  # noqa: E402
from zero_cost import ensemble, metrics, proxies, score, spaces  # noqa: E402
from zero_cost.passes import Passes  # noqa: E402

PROXIES = tuple(p for p in proxies.names() if p != "ntk_cond")
SEEDS = (0, 1)
SEED_CHECK = ("synflow", "snip", "grad_norm", "fisher", "jacob_cov", "nwot")
"""The proxies also scored with init seed 1: those NAS-Bench-Suite-Zero's agreement figures
name (synflow, snip, grad_norm and fisher agree at 0.99, jacob_cov at 0.37) and nwot."""
K = 1e-5  # jacob_cov's constant

def _naslib_jacob_cov(jacobian: np.ndarray) -> float:
    """jacob_cov as NASLib computes it: float32 Jacobians, ``np.corrcoef`` and the general
    (non-symmetric) eigensolver, real parts."""
    with np.errstate(all="ignore"):
        eigenvalues = np.real(np.linalg.eig(np.corrcoef(jacobian.astype(np.float32)))[0])
        return float(-np.sum(np.log(eigenvalues + K) + 1.0 / (eigenvalues + K)))


def _score_cell(job: tuple[dict, int, tuple[str, ...]]) -> dict[str, float]:
    spec, seed, names = job
    space = spaces.get("nb101")
    model = space.build(space.parse(spec), num_classes=10, seed=seed)
    batch = worker_batch()
    results = score(model, names, batch.inputs, batch.targets, seed=seed)
    row = {n: (r.log_value if r.log_value is not None else r.value) for n, r in results.items()}
    torch.manual_seed(seed)
    passes = Passes(model.train(), batch.inputs, batch.targets, frozenset({"input_jacobian"}))
    row["jacob_cov (NASLib numerics)"] = _naslib_jacob_cov(passes.input_jacobian().numpy())
    return row


def score_cells(
    cells: Sequence[dict], seed: int, processes: int, names: Sequence[str] = PROXIES
) -> dict[str, np.ndarray]:
    """Per column, one value per cell, networks built with init seed ``seed``."""
    context = multiprocessing.get_context("spawn")
    npz_path = str(SHARED_DATA / "cifar10_sample.npz")
    jobs = [({"matrix": c["matrix"], "ops": c["ops"]}, seed, tuple(names)) for c in cells]
    with context.Pool(processes, initializer=init_worker, initargs=(npz_path,)) as pool:
        rows = pool.map(_score_cell, jobs, chunksize=1)
    return {k: np.array([row[k] for row in rows], dtype=float) for k in rows[0]}


def _fmt(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cells", type=int, default=None, help="only the first N cells")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reproduction_nb101.md")
    args = parser.parse_args(argv)
    path = SHARED_DATA / "nb101_dev.json"
    if not path.exists() or not (SHARED_DATA / "cifar10_sample.npz").exists():
        print(f"reference data not found in {SHARED_DATA}; nothing to do", file=sys.stderr)
        return 2
    cells = json.loads(path.read_text())[: args.cells]
    accuracy = np.array([c["val_accuracy"] for c in cells])
    start = time.perf_counter()
    first = score_cells(cells, SEEDS[0], args.processes)
    second = score_cells(cells, SEEDS[1], args.processes, SEED_CHECK)
    seconds = time.perf_counter() - start
    choice = ensemble.recommended("nb101")
    first["recommended"] = ensemble.get(choice.method)({p: first[p] for p in choice.proxies})
    lines = [
        "# NAS-Bench-101: the 100 reference cells",
        "",
        f"{len(cells)} cells of `../shared/data/nb101_dev.json`, the standard network (stem of",
        "128 channels, 3 stacks of 3 cells), one batch of 64 CIFAR-10 training images",
        "(`cifar10_sample.npz`, seed 0); signed Spearman rho against `val_accuracy` (one",
        "validation run per cell, so the target itself is noisy). `seed agreement`: Spearman",
        "between the scores of networks initialised with seed 0 and with seed 1 (for the",
        f"proxies {', '.join(SEED_CHECK)}). `recommended`",
        f"is the recommended label-free ranker ({choice.method} of "
        f"{', '.join(choice.proxies)}), chosen on NB201. Took {seconds:.0f} s. Regenerate with:",
        "",
        "    .venv/bin/python benchmarks/reproduce_nb101.py",
        "",
        "| score | Spearman rho (seed 0) | Spearman rho (seed 1) | seed agreement |",
        "|---|---|---|---|",
    ]
    rho = {name: metrics.spearman(first[name], accuracy) for name in first}
    nan = np.full(len(cells), np.nan)
    for name in sorted(first, key=lambda n: -np.nan_to_num(rho[n], nan=-2)):
        other = second.get(name, nan)
        lines.append(
            f"| {name} | {_fmt(rho[name])} | {_fmt(metrics.spearman(other, accuracy))} "
            f"| {_fmt(metrics.spearman(first[name], other))} |"
        )
    ours, naslib = first["jacob_cov"], first["jacob_cov (NASLib numerics)"]
    lines += [
        "",
        "## jacob_cov on NB101",
        "",
        f"Our jacob_cov against NASLib's numerics on the same Jacobians: Spearman "
        f"{_fmt(metrics.spearman(ours, naslib))}; against itself with another init seed: "
        f"{_fmt(metrics.spearman(first['jacob_cov'], second['jacob_cov']))}; synflow's seed "
        f"agreement for comparison: {_fmt(metrics.spearman(first['synflow'], second['synflow']))}.",
        "",
    ]
    text = "\n".join(lines)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
