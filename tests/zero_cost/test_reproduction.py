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
from zero_cost import ensemble

SLACK = 0.15
PROXIES = (
    *("synflow", "nwot", "jacob_cov", "snip", "grad_norm", "grasp", "params", "flops", "meco"),
    "az_progressivity",
)


@pytest.fixture(scope="module")
def scored(shared_data: Path) -> tuple[dict, np.ndarray]:
    """Each proxy's scores of 60 reference cells, and the cells' CIFAR-10 accuracy."""
    cells = load_cells(shared_data / "nb201_dev.csv", count=60, seed=0)
    npz = shared_data / "cifar10_sample.npz"
    scores = score_cells(cells, npz, os.cpu_count() or 1, PROXIES)
    return scores, np.array([cell.accuracy for cell in cells])


@pytest.fixture(scope="module")
def report(scored) -> dict:
    scores, accuracy = scored
    return correlations(with_ensembles(scores), accuracy)


@pytest.mark.parametrize("proxy", sorted(FLOORS))
def test_proxy_ranks_the_reference_cells(report, proxy):
    assert report[proxy]["spearman"] >= FLOORS[proxy] - SLACK, report[proxy]


def test_label_free_ensemble_ranks_best(report):
    members = ENSEMBLE_SETS["label-free+cost"]
    ensemble = report["log_rank(label-free+cost)"]["spearman"]
    assert ensemble >= 0.83 - SLACK
    assert ensemble >= max(report[m]["spearman"] for m in members) - 0.02


def test_recommended_ranker_ranks_best(report, scored):
    scores, accuracy = scored
    choice = ensemble.recommended("nb201").ranker
    values = choice.score(scores)
    rho = correlations({"recommended": values}, accuracy)["recommended"]["spearman"]
    # 0.937 to 0.942 on held-out halves of the 400 reference cells (docs/two_stage.md);
    # looser on 60
    assert rho >= 0.92 - SLACK
    assert rho >= report["log_rank(label-free+cost)"]["spearman"] - 0.02
