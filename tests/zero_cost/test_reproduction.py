"""A fast subset of benchmarks/reproduce_nb201.py: 60 reference cells, looser floors.

The full run (400 cells, docs/reproduction.md) holds the issue's floors; on 60 cells the
correlations are noisier, so each floor here is 0.15 lower.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from benchmarks.reproduce_nb201 import (
    ENSEMBLE_SETS,
    FLOORS,
    correlations,
    load_cells,
    score_cells,
    with_ensembles,
)

SLACK = 0.15
PROXIES = ("synflow", "nwot", "jacob_cov", "snip", "grad_norm", "grasp", "params", "flops")


@pytest.fixture(scope="module")
def report(shared_data: Path) -> dict:
    shared = shared_data
    cells = load_cells(shared / "nb201_dev.csv", count=60, seed=0)
    scores = score_cells(cells, shared / "cifar10_sample.npz", os.cpu_count() or 1, PROXIES)
    accuracy = np.array([cell.accuracy for cell in cells])
    return correlations(with_ensembles(scores), accuracy)


@pytest.mark.parametrize("proxy", sorted(FLOORS))
def test_proxy_ranks_the_reference_cells(report, proxy):
    assert report[proxy]["spearman"] >= FLOORS[proxy] - SLACK, report[proxy]


def test_label_free_ensemble_ranks_best(report):
    members = ENSEMBLE_SETS["label-free+cost"]
    ensemble = report["log_rank(label-free+cost)"]["spearman"]
    assert ensemble >= 0.83 - SLACK
    assert ensemble >= max(report[m]["spearman"] for m in members) - 0.02
