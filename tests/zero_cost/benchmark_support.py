"""Shared piece of the benchmark tests (``test_*_benchmark.py``): a score table of stand-in
scores for the 400 reference cells, so a benchmark's mechanics run without scoring anything.

Test modules import it by its basename (``from benchmark_support import stand_in_table``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.reproduce_nb201 import Cell, load_cells, write_scores
from zero_cost import proxies


def stand_in_table(
    shared_data: Path,
    path: Path,
    shape: Callable[[dict[str, np.ndarray], np.ndarray, np.random.Generator], None] | None = None,
) -> list[Cell]:
    """Write a score table of the reference cells to ``path``; returns the cells.

    Every registered proxy scores noise, except ``meco``, which follows the CIFAR-10
    accuracy (so the recommended ranker ranks); ``shape(scores, accuracy, rng)`` may change
    the scores in place before they are written. Seconds are 0.1 per cell for every proxy.
    """
    cells = load_cells(shared_data / "nb201_dev.csv")
    rng = np.random.default_rng(0)
    accuracy = np.array([cell.accuracy for cell in cells])
    names = list(proxies.names())
    scores = {p: rng.normal(size=len(cells)) for p in names}
    scores["meco"] = accuracy + rng.normal(0, 1.0, len(cells))
    if shape is not None:
        shape(scores, accuracy, rng)
    write_scores(path, cells, scores, {p: np.full(len(cells), 0.1) for p in names})
    return cells
