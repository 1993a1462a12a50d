"""Does a proxy-guided search pick better cells than chance? NAS-Bench-201, CIFAR-10.

Restricted to the 400 cells of ``../shared/data/nb201_dev.csv`` (the cells whose trained
accuracy we have), with a budget of 100 proposals per run over 10 seeds, it compares the
true ``cifar10_test`` accuracy of

* the cell regularized evolution (``zero_cost.search.regularized_evolution``) picks, with the
  ``log_rank`` ensemble of the label-free proxies synflow, nwot, jacob_cov, params and
  flops as fitness;
* the best of 100 random cells by the same ensemble (``zero_cost.search.random_search``);
* a random pick, whose expected accuracy is the mean of the 400.

Searching a restricted set: a mutation changes one edge op as usual; when the mutated cell
is not one of the 400, a neighbour is drawn instead, uniformly among the cells of the set
nearest to the mutated cell in Hamming distance over the six edge ops (never the parent).
The initial population is drawn uniformly from the 400.

Fitness is computed as the service does: the ensemble ranks each batch of proposals together
with the current population (see ``zero_cost/search.py``). By default the proxies are computed
locally, once, on a batch of 64 CIFAR-10 training images (``cifar10_sample.npz``, seed 0;
networks built with seed 0; one process per core; a few minutes) and cached in
``.cache/nb201_label_free.npz``; ``--url`` ranks through a running service instead (it
needs ``ZC_DATA_DIR`` pointing at the data folder, for the ``npz`` profile)::

    .venv/bin/python examples/search_vs_random.py
    .venv/bin/python examples/search_vs_random.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zero_cost import ensemble, search, spaces  # noqa: E402
from zero_cost.spaces.nb201 import EDGES, OPS  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"
PROXIES = ("synflow", "nwot", "jacob_cov", "params", "flops")
CACHE = ROOT / ".cache" / "nb201_label_free.npz"
BATCH_SIZE = 64  # the batch benchmarks/reproduce_nb201.py scores on


def load_cells(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["arch_str"] for r in rows], np.array([float(r["cifar10_test"]) for r in rows])


def local_scores(cells: list[str], processes: int, recompute: bool) -> dict[str, np.ndarray]:
    """Per proxy, one value per cell (synflow as its log), from the cache when it matches."""
    if CACHE.is_file() and not recompute:
        with np.load(CACHE) as cached:
            if list(cached["arch_str"]) == cells and set(PROXIES) <= set(cached.files):
                return {name: cached[name] for name in PROXIES}
    from benchmarks.reproduce_nb201 import Cell, score_cells

    print(f"scoring {len(cells)} cells with {', '.join(PROXIES)} on {processes} processes...")
    start = time.perf_counter()
    scores = score_cells(
        [Cell(c, 0.0) for c in cells], SHARED_DATA / "cifar10_sample.npz", processes, PROXIES
    )
    print(f"scored in {time.perf_counter() - start:.0f} s; cached in {CACHE}")
    CACHE.parent.mkdir(exist_ok=True)
    (CACHE.parent / ".gitignore").write_text("*\n")
    np.savez(CACHE, arch_str=np.array(cells), **scores)
    return scores


def local_ranker(cells: list[str], scores: dict[str, np.ndarray]) -> search.RankFn:
    """log_rank of the precomputed proxies over exactly the specs asked about together."""
    index = {cell: i for i, cell in enumerate(cells)}

    def rank(specs: Sequence[str]) -> list[float | None]:
        rows = [index[s] for s in specs]
        combined = ensemble.log_rank({name: values[rows] for name, values in scores.items()})
        return [None if np.isnan(v) else float(v) for v in combined]

    return rank


def restricted_mutation(cells: list[str]) -> search.MutateFn:
    """Mutate one edge; off the set, draw among the set's cells nearest to the mutant."""
    members = set(cells)
    space = spaces.get("nb201")
    mutate_cell = search.spec_operators("nb201")[1]

    def encode(cell: str) -> list[int]:
        return [OPS.index(op) for op in space.parse(cell).ops]

    ops = np.array([encode(c) for c in cells])

    def mutate(parent: str, rng: random.Random) -> str:
        child = mutate_cell(parent, rng)
        if child in members:
            return child
        mutant = np.array(encode(child))
        distance = (ops != mutant).sum(axis=1)
        distance[cells.index(parent)] = len(EDGES) + 1  # never the parent itself
        nearest = np.flatnonzero(distance == distance.min())
        return cells[rng.choice(list(nearest))]

    return mutate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=100, help="cells evaluated per run")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--population", type=int, default=20, help="population size P")
    parser.add_argument("--sample", type=int, default=5, help="tournament size S")
    parser.add_argument("--batch", type=int, default=10, help="proposals ranked per call")
    parser.add_argument("--url", help="rank through this running service instead")
    parser.add_argument("--api-key", default=os.environ.get("ZC_API_KEY"))
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--recompute", action="store_true", help="ignore the cached scores")
    args = parser.parse_args(argv)

    csv_path = SHARED_DATA / "nb201_dev.csv"
    if not csv_path.is_file() or not (SHARED_DATA / "cifar10_sample.npz").is_file():
        print(f"skipped: the reference data is not in {SHARED_DATA} (nb201_dev.csv and "
              "cifar10_sample.npz); see its README", file=sys.stderr)  # fmt: skip
        return 0
    cells, accuracy = load_cells(csv_path)
    client = None
    if args.url:
        from zero_cost.client import Client

        client = Client(args.url, args.api_key)
        data = {"source": "npz", "batch_size": BATCH_SIZE, "seed": 0}
        rank = search.service_ranker(client, PROXIES, ensemble="log_rank", data=data)
    else:
        rank = local_ranker(cells, local_scores(cells, args.processes, args.recompute))
    # Rank 1 = the most accurate of the 400; "top %" = rank / 400.
    order = (-accuracy).argsort(kind="stable")
    position = np.empty(len(cells), dtype=int)
    position[order] = np.arange(1, len(cells) + 1)
    index = {cell: i for i, cell in enumerate(cells)}

    def describe(cell: str) -> tuple[float, int, float]:
        i = index[cell]
        return accuracy[i], int(position[i]), 100 * position[i] / len(cells)

    def sample(rng: random.Random) -> str:
        return rng.choice(cells)

    mutate = restricted_mutation(cells)
    rows = []
    start = time.perf_counter()
    try:
        for seed in range(args.seeds):
            evolved = search.regularized_evolution(
                rank, args.budget, population_size=args.population, sample_size=args.sample,
                batch_size=args.batch, seed=seed, sample=sample, mutate=mutate,
            )  # fmt: skip
            randomly = search.random_search(rank, args.budget, seed=seed, sample=sample)
            visited = max(evolved.history, key=lambda c: accuracy[index[c]])
            rows.append(
                (
                    seed,
                    describe(evolved.best.spec),
                    describe(randomly.best.spec),
                    describe(visited),
                    evolved.evaluated,
                )  # fmt: skip
            )
    finally:
        if client is not None:
            client.close()
    seconds = time.perf_counter() - start

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    title = (
        f"NB201 / CIFAR-10, {len(cells)} cells, budget {args.budget}: the cell each method picks "
        f"(fitness log_rank({', '.join(PROXIES)}), P={args.population}, S={args.sample})"
    )
    table = Table(title=title)
    table.add_column("seed", justify="right")
    for name in ("evolution", f"random-{args.budget}", "visited*"):
        table.add_column(f"{name}\naccuracy", justify="right")
        table.add_column("\nrank", justify="right")
        table.add_column("\ntop %", justify="right")
    for seed, *picks, _ in rows:
        table.add_row(
            str(seed), *(v for acc, r, top in picks for v in (f"{acc:.2f}", str(r), f"{top:.1f}"))
        )
    means = [np.mean([row[k][j] for row in rows]) for k in (1, 2, 3) for j in range(3)]
    table.add_section()
    table.add_row(
        "mean",
        *(f"{means[k]:.2f}" if k % 3 == 0 else f"{means[k]:.1f}" for k in range(len(means))),
    )
    console.print(table)
    mean_rank = (len(cells) + 1) / 2
    tenth = np.sort(accuracy)[::-1][len(cells) // 10 - 1]
    console.print(
        f"random pick (expected): accuracy {accuracy.mean():.2f}, rank {mean_rank:.1f}, "
        f"top {100 * mean_rank / len(cells):.1f}%.  Best of the {len(cells)}: "
        f"{accuracy.max():.2f}; the top 10% start at {tenth:.2f}."
    )
    console.print(
        f"evolution: the cell regularized evolution picks; random-{args.budget}: the best of "
        f"{args.budget} random cells by the same ensemble;\n"
        "* visited: the most accurate cell the evolution evaluated (an oracle pick, for "
        "reference: how good the explored region was)."
    )
    evolution_top = means[2]
    verdict = "meets" if evolution_top <= 10 else "misses"
    console.print(
        f"Evolution's pick: mean top {evolution_top:.1f}% ({verdict} the top-10% target); "
        f"{len(rows)} seed(s) x 2 searches in {seconds:.1f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
