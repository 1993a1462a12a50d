"""Tests for zero_cost.metrics."""

from __future__ import annotations

import json
import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from zero_cost.metrics import (
    bootstrap_ci,
    correlation_report,
    kendall_tau_b,
    pairwise_agreement,
    pearson,
    precision_at_k,
    spearman,
    valid_pairs,
)

RANK_METRICS = [spearman, kendall_tau_b, pearson]


def brute_force_agreement(pred: np.ndarray, true: np.ndarray) -> float:
    """The definition of pairwise agreement as a double loop."""
    agree = total = 0.0
    for i, j in combinations(range(len(pred)), 2):
        if true[i] == true[j]:
            continue
        total += 1
        product = (pred[i] - pred[j]) * (true[i] - true[j])
        agree += 1.0 if product > 0 else 0.5 if product == 0 else 0.0
    return agree / total


def correlated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    return true + rng.normal(size=n), true


@pytest.mark.parametrize("metric", [*RANK_METRICS, pairwise_agreement])
def test_perfect_order_scores_one(metric):
    pred = [0.1, 0.5, 0.9, 2.0, 3.0]
    true = [1.0, 2.0, 3.0, 4.0, 5.0]
    expected = 1.0 if metric is not pearson else stats.pearsonr(pred, true).statistic
    assert metric(pred, true) == pytest.approx(expected)
    assert metric(true, true) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", RANK_METRICS)
def test_reversed_order_scores_minus_one(metric):
    true = np.arange(10.0)
    assert metric(-true, true) == pytest.approx(-1.0)


def test_reversed_order_agreement_and_precision_zero():
    true = np.arange(20.0)
    assert pairwise_agreement(-true, true) == 0.0
    assert precision_at_k(-true, true, 0.10) == 0.0


def test_spearman_by_hand():
    # Rank differences d = (0, 1, 1, 0, 0): rho = 1 - 6 * 2 / (5 * 24) = 0.9.
    assert spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)


def test_pearson_by_hand():
    # x - mean = (-1, 0, 1), y - mean = (-4/3, -1/3, 5/3): r = 3 / sqrt(2 * 42 / 9).
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(3 / math.sqrt(2 * 42 / 9))


def test_kendall_tau_b_with_ties_by_hand():
    # Pairs: 4 concordant, 0 discordant, one tied only in pred, one only in true.
    # tau_b = (4 - 0) / sqrt((6 - 1) * (6 - 1)) = 0.8.
    pred, true = [1, 2, 2, 3], [1, 2, 3, 3]
    assert kendall_tau_b(pred, true) == pytest.approx(0.8)
    assert kendall_tau_b(pred, true) == pytest.approx(
        stats.kendalltau(pred, true, variant="b").statistic
    )


def test_pairwise_agreement_with_ties_by_hand():
    # Same data: 5 pairs differ in true; 4 agree and 1 is tied in pred -> 4.5 / 5.
    assert pairwise_agreement([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.9)


@pytest.mark.parametrize("seed", range(20))
def test_pairwise_agreement_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    pred = rng.integers(0, 6, size=n).astype(float)
    true = rng.integers(0, 6, size=n).astype(float)
    assert pairwise_agreement(pred, true) == pytest.approx(brute_force_agreement(pred, true))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
        min_size=3,
        max_size=40,
    )
)
def test_pairwise_agreement_property(pairs):
    pred = np.array([p for p, _ in pairs], dtype=float)
    true = np.array([t for _, t in pairs], dtype=float)
    result = pairwise_agreement(pred, true)
    if len(set(pred)) == 1 or len(set(true)) == 1:
        assert math.isnan(result)
    else:
        assert result == pytest.approx(brute_force_agreement(pred, true))


def test_pairwise_agreement_without_ties_is_affine_in_kendall():
    pred, true = correlated(300, seed=3)
    assert pairwise_agreement(pred, true) == pytest.approx((kendall_tau_b(pred, true) + 1) / 2)


def test_pairwise_agreement_large_n():
    pred, true = correlated(20_000, seed=4)
    pred = np.round(pred, 1)  # plenty of ties in pred
    tau = stats.kendalltau(pred, true, variant="b").statistic
    # tau_b = (C - D) / sqrt(n0 - n1) / sqrt(n0) with no ties in true; recover C - D.
    n0 = 20_000 * 19_999 // 2
    n1 = sum(c * (c - 1) // 2 for c in np.unique(pred, return_counts=True)[1])
    concordant_minus_discordant = tau * math.sqrt((n0 - n1) * n0)
    expected = 0.5 + concordant_minus_discordant / (2 * n0)
    assert pairwise_agreement(pred, true) == pytest.approx(expected, rel=1e-9)


def test_precision_at_k_constructed():
    true = np.arange(20.0)  # best candidates: 19, 18, 17, ...
    pred = true.copy()
    pred[18] = -1.0  # predicted top 2: {19, 17}; true top 2: {19, 18}
    assert precision_at_k(pred, true, 0.10) == 0.5  # k = 2
    assert precision_at_k(pred, true, 0.05) == 1.0  # k = 1
    assert precision_at_k(pred, true, 0.01) == 1.0  # k = max(1, round(0.2)) = 1
    assert precision_at_k(pred, true, 0.25) == 0.8  # k = 5: {19, 17, 16, 15, 14} vs 19..15


def test_precision_at_k_breaks_ties_by_position():
    true = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    pred = np.array([9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 9.0, 9.0])
    # k = 2: pred ties among 0, 8, 9 resolve to the first two positions {0, 8}.
    assert precision_at_k(pred, true, 0.2) == 0.5
    assert precision_at_k(pred[::-1], true[::-1], 0.2) == 1.0


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_precision_at_k_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        precision_at_k([1, 2, 3], [1, 2, 3], fraction)


ALL_METRICS = [
    *RANK_METRICS,
    pairwise_agreement,
    lambda p, t: precision_at_k(p, t, 0.5),
]


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_invalid_pairs_are_dropped(metric):
    pred = [1.0, np.nan, 2.0, 5.0, 3.0, np.inf, 4.0, None]
    true = [1.0, 2.0, 3.0, -np.inf, 2.5, 4.0, 5.0, 6.0]
    clean_pred, clean_true = [1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.5, 5.0]
    assert metric(pred, true) == pytest.approx(metric(clean_pred, clean_true))


def test_valid_pairs_and_report_n():
    pred = [1.0, np.nan, 2.0, 3.0, -np.inf, 4.0]
    true = [1.0, 2.0, np.nan, 3.0, 4.0, 5.0]
    p, t = valid_pairs(pred, true)
    np.testing.assert_array_equal(p, [1.0, 3.0, 4.0])
    np.testing.assert_array_equal(t, [1.0, 3.0, 5.0])
    assert correlation_report(pred, true, n_resamples=10).n == 3


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize(
    ("pred", "true"),
    [
        ([1.0, 2.0], [1.0, 2.0]),  # too few pairs
        ([1.0, 2.0, np.nan, 3.0], [1.0, 2.0, 3.0, np.nan]),  # too few valid pairs
        ([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]),  # constant pred
        ([1.0, 2.0, 3.0, 4.0], [7.0, 7.0, 7.0, 7.0]),  # constant true
        ([], []),
    ],
)
def test_degenerate_inputs_give_nan(metric, pred, true):
    assert math.isnan(metric(pred, true))


def test_mismatched_or_non_1d_inputs_raise():
    with pytest.raises(ValueError, match="length"):
        spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="1-D"):
        spearman([[1, 2, 3]], [[1, 2, 3]])


@pytest.mark.parametrize("metric", [*RANK_METRICS, pairwise_agreement])
def test_bootstrap_ci_contains_point_estimate(metric):
    pred, true = correlated(200)
    low, high = bootstrap_ci(metric, pred, true, n_resamples=500)
    assert low < metric(pred, true) < high


def test_bootstrap_ci_is_deterministic_for_a_seed():
    pred, true = correlated(100)
    for metric in RANK_METRICS:
        first = bootstrap_ci(metric, pred, true, n_resamples=200, seed=7)
        assert bootstrap_ci(metric, pred, true, n_resamples=200, seed=7) == first
        assert bootstrap_ci(metric, pred, true, n_resamples=200, seed=8) != first


@pytest.mark.parametrize("metric", [spearman, pearson])
def test_vectorised_bootstrap_matches_looped(metric):
    pred, true = correlated(60, seed=5)
    pred = np.round(pred)  # ties, which resampling multiplies
    looped = bootstrap_ci(lambda p, t: metric(p, t), pred, true, n_resamples=300, seed=2)
    vectorised = bootstrap_ci(metric, pred, true, n_resamples=300, seed=2)
    assert vectorised == pytest.approx(looped, abs=1e-12)


def test_bootstrap_ci_narrows_with_confidence():
    pred, true = correlated(100)
    wide = bootstrap_ci(spearman, pred, true, confidence=0.99)
    narrow = bootstrap_ci(spearman, pred, true, confidence=0.5)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


def test_bootstrap_ci_degenerate_and_invalid_arguments():
    assert all(math.isnan(x) for x in bootstrap_ci(spearman, [1, 2], [1, 2]))
    assert all(math.isnan(x) for x in bootstrap_ci(spearman, [1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(spearman, [1, 2, 3], [1, 2, 3], n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(spearman, [1, 2, 3], [1, 2, 3], confidence=1.0)


def test_correlation_report_fields():
    pred, true = correlated(150)
    report = correlation_report(pred, true, n_resamples=200, seed=1)
    assert report.n == 150
    assert report.spearman == spearman(pred, true)
    assert report.kendall_tau_b == kendall_tau_b(pred, true)
    assert report.pearson == pearson(pred, true)
    assert report.pairwise_agreement == pairwise_agreement(pred, true)
    assert report.precision_at_k == {k: precision_at_k(pred, true, k) for k in (0.01, 0.05, 0.10)}
    assert report.spearman_ci == bootstrap_ci(spearman, pred, true, 200, seed=1)
    assert report.kendall_ci == bootstrap_ci(kendall_tau_b, pred, true, 200, seed=1)
    assert report.pearson_ci == bootstrap_ci(pearson, pred, true, 200, seed=1)
    with pytest.raises(AttributeError):
        report.n = 3  # type: ignore[misc]


def test_correlation_report_to_dict_is_json_with_none_for_nan():
    report = correlation_report([1, 1, 1, 1], [1, 2, 3, 4], ks=(0.5,), n_resamples=0)
    data = report.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["n"] == 4
    assert data["spearman"] is None
    assert data["precision_at_k"] == {"0.5": None}
    assert data["spearman_ci"] == [None, None]

    pred, true = correlated(50)
    data = correlation_report(pred, true, n_resamples=50).to_dict()
    json.loads(json.dumps(data, allow_nan=False))
    assert set(data["precision_at_k"]) == {"0.01", "0.05", "0.1"}
    assert data["spearman"] == pytest.approx(spearman(pred, true))
