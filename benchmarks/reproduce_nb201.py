"""Reproduce the published rank correlations of zero-cost proxies on NAS-Bench-201.

Scores the cells of ``../shared/data/nb201_dev.csv`` with every proxy on a batch of 64
CIFAR-10 training images (``cifar10_sample.npz``, seed 0; networks built with seed 0), adds
the label-free ensembles, and writes signed Spearman rho and Kendall tau against
``cifar10_test`` to ``docs/reproduction.md``::

    .venv/bin/python benchmarks/reproduce_nb201.py            # all 400 cells
    .venv/bin/python benchmarks/reproduce_nb201.py --cells 60 # a seeded subset

One scoring process per core, each with one torch thread.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zero_cost import data, ensemble, metrics, score, spaces  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
PROXIES = (
    "synflow", "nwot", "jacob_cov", "snip", "grad_norm", "grasp", "fisher", "zico", "params",
    "flops",
)  # fmt: skip
# Ensembles fixed before looking at results: the label-free proxies of the literature, the
# same with the cost baselines, and Abdelfattah et al.'s voting trio.
ENSEMBLE_SETS = {
    "label-free": ("synflow", "nwot", "jacob_cov"),
    "label-free+cost": ("synflow", "nwot", "jacob_cov", "params", "flops"),
    "vote-trio": ("synflow", "jacob_cov", "snip"),
}
LABEL_FREE = {"synflow", "nwot", "jacob_cov", "params", "flops"}
# Sanity floors from the issue, consistent with the published numbers (Spearman, CIFAR-10).
FLOORS = {
    "synflow": 0.72, "nwot": 0.75, "jacob_cov": 0.68, "snip": 0.58, "grad_norm": 0.58,
    "grasp": 0.45, "params": 0.74,
}  # fmt: skip
BATCH_SIZE = 64


@dataclass(frozen=True)
class Cell:
    arch_str: str
    accuracy: float


def load_cells(path: Path, count: int | None = None, seed: int = 0) -> list[Cell]:
    """The reference cells; a seeded subset of ``count`` when given."""
    with open(path, newline="") as f:
        cells = [Cell(row["arch_str"], float(row["cifar10_test"])) for row in csv.DictReader(f)]
    if count is not None and count < len(cells):
        chosen = np.random.default_rng(seed).choice(len(cells), size=count, replace=False)
        cells = [cells[i] for i in sorted(chosen)]
    return cells


_BATCH: data.Batch | None = None


def _init_worker(npz_path: str) -> None:
    global _BATCH
    torch.set_num_threads(1)
    _BATCH = data.npz_batch(npz_path, BATCH_SIZE, seed=0, split="train")


def _score_cell(job: tuple[str, tuple[str, ...]]) -> dict[str, float]:
    arch_str, proxy_names = job
    space = spaces.get("nb201")
    model = space.build(space.parse(arch_str), num_classes=10, seed=0)
    results = score(model, proxy_names, _BATCH.inputs, _BATCH.targets, seed=0)
    return {
        name: (r.log_value if r.log_value is not None else r.value) for name, r in results.items()
    }


def score_cells(
    cells: Sequence[Cell], npz_path: Path, processes: int, proxy_names: Sequence[str] = PROXIES
) -> dict[str, np.ndarray]:
    """Per proxy, one value per cell (synflow as its natural log)."""
    context = multiprocessing.get_context("spawn")
    jobs = [(c.arch_str, tuple(proxy_names)) for c in cells]
    with context.Pool(processes, initializer=_init_worker, initargs=(str(npz_path),)) as pool:
        rows = pool.map(_score_cell, jobs, chunksize=1)
    return {name: np.array([row[name] for row in rows], dtype=float) for name in proxy_names}


def with_ensembles(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The proxies' scores plus every ensemble method over every fixed proxy set."""
    table = dict(scores)
    for set_name, members in ENSEMBLE_SETS.items():
        for method in ensemble.names():
            table[f"{method}({set_name})"] = ensemble.get(method)({m: scores[m] for m in members})
    return table


def correlations(table: dict[str, np.ndarray], accuracy: np.ndarray) -> dict[str, dict]:
    """Spearman, Kendall tau-b and n of each column against the accuracies."""
    result = {}
    for name, values in table.items():
        n = len(metrics.valid_pairs(values, accuracy)[0])
        result[name] = {
            "spearman": metrics.spearman(values, accuracy),
            "kendall": metrics.kendall_tau_b(values, accuracy),
            "n": n,
        }
    return result


def _markdown(report: dict[str, dict], cells: int, seconds: float) -> str:
    lines = [
        "# Reproduction: zero-cost proxies on NAS-Bench-201 (CIFAR-10)",
        "",
        f"{cells} cells of `../shared/data/nb201_dev.csv`, one batch of {BATCH_SIZE} CIFAR-10",
        "training images (`cifar10_sample.npz`, seed 0), networks built with seed 0 (C=16, N=5),",
        "signed correlations against `cifar10_test` (higher score = predicted better).",
        "Non-finite scores (e.g. the degenerate cell's nwot) are left out; `n` says how many",
        f"cells remain. Scoring took {seconds:.0f} s. Regenerate with:",
        "",
        "    .venv/bin/python benchmarks/reproduce_nb201.py",
        "",
        "| score | Spearman rho | Kendall tau-b | n | floor | label-free |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in sorted(report.items(), key=lambda item: -np.nan_to_num(item[1]["spearman"])):
        floor = FLOORS.get(name)
        members = ENSEMBLE_SETS.get(name[name.find("(") + 1 : -1], (name,))
        label_free = "yes" if set(members) <= LABEL_FREE else "no"
        floor_text = "" if floor is None else f"{floor:.2f}"
        lines.append(
            f"| {name} | {row['spearman']:.3f} | {row['kendall']:.3f} | {row['n']} "
            f"| {floor_text} | {label_free} |"
        )
    lines += [
        "",
        "Published (Abdelfattah et al., ICLR 2021, whole space): grad_norm 0.59, snip 0.60,",
        "grasp 0.51, fisher 0.36, synflow 0.74, jacob_cov 0.73; NASWOT 0.77-0.80.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=None, help="seeded subset size")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reproduction.md")
    parser.add_argument("--scores-csv", type=Path, help="also write every cell's scores here")
    args = parser.parse_args(argv)
    csv_path, npz_path = SHARED_DATA / "nb201_dev.csv", SHARED_DATA / "cifar10_sample.npz"
    if not csv_path.exists() or not npz_path.exists():
        print(f"reference data not found in {SHARED_DATA}; nothing to reproduce", file=sys.stderr)
        return 2
    cells = load_cells(csv_path, args.cells)
    start = time.perf_counter()
    scores = score_cells(cells, npz_path, args.processes)
    seconds = time.perf_counter() - start
    accuracy = np.array([c.accuracy for c in cells])
    report = correlations(with_ensembles(scores), accuracy)
    text = _markdown(report, len(cells), seconds)
    args.output.write_text(text)
    print(text)
    if args.scores_csv:
        with open(args.scores_csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["arch_str", "cifar10_test", *PROXIES])
            for i, cell in enumerate(cells):
                writer.writerow([cell.arch_str, cell.accuracy, *(scores[p][i] for p in PROXIES)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
