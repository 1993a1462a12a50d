"""Rank-correlation metrics between proxy scores and true accuracies.

Every metric compares ``pred`` (a proxy's score per architecture, higher =
predicted better) with ``true`` (the architecture's measured accuracy, higher =
better) and answers "how well does the proxy order the architectures?".

Conventions shared by all metrics:

* Inputs are 1-D array-likes of equal length; ``None`` is read as NaN.
* A pair ``(pred[i], true[i])`` in which either value is NaN or +-inf is dropped
  (:func:`valid_pairs` gives the surviving pairs; :class:`CorrelationReport`
  records how many remained as ``n``).
* A metric is ``nan`` when fewer than 3 valid pairs remain or when either side
  is constant over them, since no ordering can then be assessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "CorrelationReport",
    "MetricFn",
    "bootstrap_ci",
    "correlation_report",
    "kendall_tau_b",
    "pairwise_agreement",
    "pearson",
    "precision_at_k",
    "spearman",
    "valid_pairs",
]

MetricFn = Callable[[ArrayLike, ArrayLike], float]
"""A metric ``f(pred, true) -> float`` such as :func:`spearman`."""

MIN_PAIRS = 3
"""Fewest valid pairs for which a metric is computed; below this it is nan."""

Float1D = NDArray[np.float64]


def valid_pairs(pred: ArrayLike, true: ArrayLike) -> tuple[Float1D, Float1D]:
    """Return ``(pred, true)`` as float arrays with non-finite pairs dropped.

    Raises ``ValueError`` if the inputs are not 1-D or differ in length.
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.ndim != 1 or t.ndim != 1:
        raise ValueError(f"pred and true must be 1-D, got shapes {p.shape} and {t.shape}")
    if p.shape != t.shape:
        raise ValueError(f"pred and true differ in length: {p.size} != {t.size}")
    keep = np.isfinite(p) & np.isfinite(t)
    return p[keep], t[keep]


def _is_constant(x: Float1D) -> bool:
    return bool(np.all(x == x[0]))


def _assessable(p: Float1D, t: Float1D) -> bool:
    """Whether cleaned pairs support a metric (enough pairs, neither side constant)."""
    return p.size >= MIN_PAIRS and not _is_constant(p) and not _is_constant(t)


def spearman(pred: ArrayLike, true: ArrayLike) -> float:
    """Spearman's rho: Pearson correlation of the average ranks of pred and true.

    Measures how monotone the relation between proxy score and accuracy is, in
    [-1, 1]: 1 = identical ordering, -1 = reversed ordering.
    """
    p, t = valid_pairs(pred, true)
    if not _assessable(p, t):
        return math.nan
    return float(stats.spearmanr(p, t).statistic)


def kendall_tau_b(pred: ArrayLike, true: ArrayLike) -> float:
    """Kendall's tau-b: (concordant - discordant) pairs, corrected for ties on each side.

    In [-1, 1]; with no ties it is ``2 * P(a random pair is ordered alike) - 1``.
    """
    p, t = valid_pairs(pred, true)
    if not _assessable(p, t):
        return math.nan
    return float(stats.kendalltau(p, t, variant="b").statistic)


def pearson(pred: ArrayLike, true: ArrayLike) -> float:
    """Pearson's r: linear correlation of the raw values, in [-1, 1].

    Unlike the rank metrics it is sensitive to the scale of the scores, e.g. to
    outliers and to whether a proxy is reported in log space.
    """
    p, t = valid_pairs(pred, true)
    if not _assessable(p, t):
        return math.nan
    return float(stats.pearsonr(p, t).statistic)


def pairwise_agreement(pred: ArrayLike, true: ArrayLike) -> float:
    """Fraction of distinguishable pairs that pred orders the same way as true.

    Over all pairs ``i < j`` with ``true[i] != true[j]``, counts 1 when pred
    orders the pair like true, 0 when it reverses it and 1/2 when pred ties
    them, then divides by the number of such pairs. In [0, 1]; 0.5 = chance.
    This is the "pairwise ranking accuracy" Abdelfattah et al. (ICLR 2021)
    report for their majority vote. Runs in O(n log^2 n) time and O(n) memory.
    """
    p, t = valid_pairs(pred, true)
    if not _assessable(p, t):
        return math.nan
    n = p.size
    all_pairs = n * (n - 1) // 2
    distinguishable = all_pairs - _tied_pairs(t)
    # Pairs tied in pred that true distinguishes: pred ties minus joint ties.
    pred_only_ties = _tied_pairs(p) - _tied_pairs_2d(p, t)
    # With pairs sorted by (true, pred), a pred inversion is a pair with
    # true_i < true_j but pred_i > pred_j; pairs tied in true are never inverted.
    order = np.lexsort((p, t))
    discordant = _count_inversions(np.unique(p, return_inverse=True)[1][order])
    concordant = distinguishable - discordant - pred_only_ties
    return (concordant + 0.5 * pred_only_ties) / distinguishable


def _tied_pairs(x: Float1D) -> int:
    """Number of pairs i < j with x[i] == x[j]."""
    counts = np.unique(x, return_counts=True)[1].astype(np.int64)
    return int(np.sum(counts * (counts - 1) // 2))


def _tied_pairs_2d(x: Float1D, y: Float1D) -> int:
    """Number of pairs i < j with x[i] == x[j] and y[i] == y[j]."""
    counts = np.unique(np.column_stack((x, y)), axis=0, return_counts=True)[1].astype(np.int64)
    return int(np.sum(counts * (counts - 1) // 2))


def _count_inversions(codes: NDArray[np.intp]) -> int:
    """Number of pairs i < j with codes[i] > codes[j] (strictly), for codes >= 0.

    Bottom-up merge sort, vectorised per level: at block width ``w`` every
    element of a right half is compared, via one global ``searchsorted``, with
    the already sorted left half of its own block.
    """
    n = codes.size
    size = 1 << max(0, (n - 1).bit_length())
    top = int(codes.max()) + 1
    # Padding with the largest code at the end creates no strict inversions.
    a = np.full(size, top, dtype=np.int64)
    a[:n] = codes
    stride = top + 1  # separates the blocks in the global key space
    inversions = 0
    width = 1
    while width < size:
        blocks = a.reshape(-1, 2 * width)
        offsets = np.arange(blocks.shape[0], dtype=np.int64)[:, None] * stride
        left_keys = (blocks[:, :width] + offsets).ravel()
        right_keys = blocks[:, width:] + offsets
        # Elements of the own left half that are <= each right element.
        not_greater = np.searchsorted(left_keys, right_keys, side="right")
        not_greater -= np.arange(blocks.shape[0])[:, None] * width
        inversions += int(np.sum(width - not_greater))
        a = np.sort(blocks, axis=1).ravel()
        width *= 2
    return inversions


def precision_at_k(pred: ArrayLike, true: ArrayLike, fraction: float) -> float:
    """Overlap of the predicted and the true top-k: ``|top_k(pred) & top_k(true)| / k``.

    ``k = max(1, round(fraction * n))`` (Python's ``round``) over the ``n``
    valid pairs. Ties are broken deterministically by position (a stable sort
    on the negated value), for pred and true alike. In [0, 1]; a random
    ordering scores about ``k / n``. Measures whether the proxy finds the best
    architectures, which is what a search ultimately needs.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    p, t = valid_pairs(pred, true)
    if not _assessable(p, t):
        return math.nan
    k = max(1, round(fraction * p.size))
    top_pred = np.argsort(-p, kind="stable")[:k]
    top_true = np.argsort(-t, kind="stable")[:k]
    return np.intersect1d(top_pred, top_true).size / k


def _pearson_rows(x: NDArray[np.float64], y: NDArray[np.float64]) -> Float1D:
    """Pearson's r of each row of ``x`` with the same row of ``y``; nan for constant rows."""
    constant = np.all(x == x[:, :1], axis=1) | np.all(y == y[:, :1], axis=1)
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(xc * yc, axis=1) / np.sqrt(np.sum(xc * xc, axis=1) * np.sum(yc * yc, axis=1))
    r = np.clip(r, -1.0, 1.0)
    r[constant] = np.nan
    return r


def _spearman_rows(x: NDArray[np.float64], y: NDArray[np.float64]) -> Float1D:
    return _pearson_rows(stats.rankdata(x, axis=1), stats.rankdata(y, axis=1))


_ROW_METRICS: dict[MetricFn, Callable[[NDArray[np.float64], NDArray[np.float64]], Float1D]] = {
    spearman: _spearman_rows,
    pearson: _pearson_rows,
}
"""Vectorised versions used by :func:`bootstrap_ci` for resamples of >= 3 pairs."""


def bootstrap_ci(
    metric_fn: MetricFn,
    pred: ArrayLike,
    true: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval ``(low, high)`` for a metric.

    Resamples the valid ``(pred, true)`` pairs with replacement ``n_resamples``
    times (numpy ``Generator`` seeded by ``seed``, so the result is
    deterministic), evaluates ``metric_fn`` on each resample and returns the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles.
    Resamples on which the metric is nan (e.g. a constant resample) are left
    out; ``(nan, nan)`` if no resample gives a value or fewer than 3 pairs are
    valid. :func:`spearman` and :func:`pearson` are evaluated vectorised over
    all resamples; any other metric is called once per resample.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    p, t = valid_pairs(pred, true)
    if p.size < MIN_PAIRS:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, p.size, size=(n_resamples, p.size))
    rows_fn = _ROW_METRICS.get(metric_fn)
    if rows_fn is not None:
        values = rows_fn(p[idx], t[idx])
    else:
        values = np.array([metric_fn(p[i], t[i]) for i in idx], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


@dataclass(frozen=True)
class CorrelationReport:
    """All metrics for one proxy against the true accuracies.

    ``n`` is the number of valid pairs the metrics were computed on. The
    ``*_ci`` fields are percentile bootstrap intervals at level ``confidence``
    (``(nan, nan)`` when not computed). ``precision_at_k`` maps each top
    fraction to its precision.
    """

    n: int
    spearman: float
    kendall_tau_b: float
    pearson: float
    pairwise_agreement: float
    precision_at_k: dict[float, float]
    spearman_ci: tuple[float, float]
    kendall_ci: tuple[float, float]
    pearson_ci: tuple[float, float]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict: nan becomes ``None``, tuples become lists and the
        ``precision_at_k`` keys become strings such as ``"0.05"``."""
        return {
            "n": self.n,
            "spearman": _json_float(self.spearman),
            "kendall_tau_b": _json_float(self.kendall_tau_b),
            "pearson": _json_float(self.pearson),
            "pairwise_agreement": _json_float(self.pairwise_agreement),
            "precision_at_k": {f"{k:g}": _json_float(v) for k, v in self.precision_at_k.items()},
            "spearman_ci": _json_floats(self.spearman_ci),
            "kendall_ci": _json_floats(self.kendall_ci),
            "pearson_ci": _json_floats(self.pearson_ci),
            "confidence": self.confidence,
        }


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _json_floats(xs: Iterable[float]) -> list[float | None]:
    return [_json_float(x) for x in xs]


_CI_METRICS: tuple[MetricFn, ...] = (spearman, kendall_tau_b, pearson)
"""Metrics that :func:`correlation_report` gives confidence intervals for."""


def correlation_report(
    pred: ArrayLike,
    true: ArrayLike,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    ks: Iterable[float] = (0.01, 0.05, 0.10),
    confidence: float = 0.95,
) -> CorrelationReport:
    """Compute every metric of this module for one proxy.

    ``ks`` are the top fractions for :func:`precision_at_k`. The confidence
    intervals use :func:`bootstrap_ci` with ``n_resamples`` and ``seed``;
    ``n_resamples=0`` skips them (they are then ``(nan, nan)``).
    """
    p, t = valid_pairs(pred, true)
    if n_resamples > 0:
        cis = [bootstrap_ci(f, p, t, n_resamples, confidence, seed) for f in _CI_METRICS]
    else:
        cis = [(math.nan, math.nan)] * len(_CI_METRICS)
    spearman_ci, kendall_ci, pearson_ci = cis
    return CorrelationReport(
        n=int(p.size),
        spearman=spearman(p, t),
        kendall_tau_b=kendall_tau_b(p, t),
        pearson=pearson(p, t),
        pairwise_agreement=pairwise_agreement(p, t),
        precision_at_k={float(k): precision_at_k(p, t, k) for k in ks},
        spearman_ci=spearman_ci,
        kendall_ci=kendall_ci,
        pearson_ci=pearson_ci,
        confidence=confidence,
    )
