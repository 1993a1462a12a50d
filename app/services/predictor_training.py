"""Predictors in the service: training from arrays, and loading stored models.

``app.services.predictors`` gathers the data (the population of scored, labelled
architectures) and the worker stores the result; this module only computes. Everything
reported is out-of-sample: the metrics and out-of-fold predictions come from 5-fold
cross-validation (``Predictor.cross_validate``), the learning curve from random
train/held-out splits.
The stored model is ``Predictor.to_bytes()`` (training data, no pickle), written and read
by the service only.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from zero_cost import metrics
from zero_cost.predictor import Features, Predictor

from ..db.records import TrainedPredictor

CV_FOLDS = 5
LEARNING_CURVE_SIZES = (25, 50, 100, 200, 400, 800)
"""Training-set sizes of the learning curve (those leaving ``MIN_HELD_OUT`` rows out)."""
LEARNING_CURVE_REPEATS = 3
MIN_HELD_OUT = 10
MODEL_CACHE_SIZE = 16


def features(
    kind: str, space: str, table: Mapping[str, np.ndarray], specs: Sequence[object]
) -> Features:
    """Proxy columns (log values for log-scale proxies, as stored) and, for
    ``proxies+encoding``, the encoding of each spec in ``space``."""
    if kind == "proxies+encoding":
        return Features.build(dict(table), space=space, archs=list(specs))
    return Features.build(dict(table))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def learning_curve(x: Features, truth: np.ndarray, min_labels: int) -> list[dict]:
    """Held-out Spearman rho (mean, std over ``LEARNING_CURVE_REPEATS`` random splits) by
    number of training labels."""
    rng = np.random.default_rng(0)
    points = []
    for size in LEARNING_CURVE_SIZES:
        if size > len(truth) - MIN_HELD_OUT:
            break
        rhos = []
        for _ in range(LEARNING_CURVE_REPEATS):
            order = rng.permutation(len(truth))
            train, test = order[:size], order[size:]
            model = Predictor(min_labels=min_labels).fit(x.take(train), truth[train])
            rho = metrics.spearman(model.predict(x.take(test)), truth[test])
            if math.isfinite(rho):
                rhos.append(rho)
        points.append(
            {
                "labels": size,
                "spearman_mean": _finite(np.mean(rhos)) if rhos else None,
                "spearman_std": _finite(np.std(rhos)) if rhos else None,
                "repeats": len(rhos),
            }
        )
    return points


def train(
    x: Features,
    truth: np.ndarray,
    architecture_ids: Sequence[int],
    min_labels: int,
    n_reported: int,
) -> TrainedPredictor:
    """Fit on every labelled row; cross-validate for metrics and out-of-fold predictions.

    Raises:
        ValueError: fewer labelled architectures than folds.
    """
    if len(truth) < CV_FOLDS:
        raise ValueError(
            f"{len(truth)} architectures have both an accuracy and scores; "
            f"at least {CV_FOLDS} are needed"
        )
    model = Predictor(min_labels=min_labels).fit(x, truth)
    cv = Predictor(min_labels=min_labels).cross_validate(x, truth, k=CV_FOLDS)
    # The model's weight against the label-free baseline, chosen by inner cross-validation on
    # the labelled rows (0: the baseline alone, i.e. fallback mode), and why, in words.
    choice = {"model_weight": model.weight, "choice": model.choice}
    report = cv.evaluation.to_dict() | {"folds": CV_FOLDS, "fold_modes": list(cv.modes)} | choice
    oof = {int(a): _finite(p) for a, p in zip(architecture_ids, cv.predictions, strict=True)}
    assert model.mode is not None
    return TrainedPredictor(
        n_reported=n_reported,
        n_labels=model.n_labels,
        mode=model.mode,
        fallback_reason=model.fallback_reason,
        metrics=report,
        learning_curve=learning_curve(x, truth, min_labels),
        oof=oof,
        model=model.to_bytes(),
    )


_models: dict[tuple[str, int], Predictor] = {}
_models_lock = threading.Lock()


def load(database: str, predictor_id: int, fetch: Callable[[], bytes]) -> Predictor:
    """The stored predictor, its bytes read with ``fetch`` and refitted once per process,
    then cached (a stored version never changes). ``database`` tells databases apart (ids
    repeat across them)."""
    key = (database, predictor_id)
    with _models_lock:
        model = _models.get(key)
    if model is None:
        model = Predictor.from_bytes(fetch())
        with _models_lock:
            if len(_models) >= MODEL_CACHE_SIZE:
                _models.pop(next(iter(_models)))
            _models[key] = model
    return model
