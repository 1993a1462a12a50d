"""Tests for zero_cost.ensemble."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from zero_cost import ensemble
from zero_cost.ensemble import (
    ENSEMBLES,
    Ranker,
    SecondStage,
    get,
    log_rank,
    mean_rank,
    names,
    ranker,
    recommended,
    vote,
)

NAN = math.nan
ALL = [vote, mean_rank, log_rank]


def assert_scores_equal(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


# Reference implementations: plain loops written from the documented rules.


def valid(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def reference_vote(scores):
    columns = [list(s) for s in scores.values()]
    n = len(columns[0])
    present = [any(valid(c[i]) for c in columns) for i in range(n)]
    wins = [0.0] * n
    for i, j in combinations([k for k in range(n) if present[k]], 2):
        votes_i = sum(valid(c[i]) and valid(c[j]) and c[i] > c[j] for c in columns)
        votes_j = sum(valid(c[i]) and valid(c[j]) and c[j] > c[i] for c in columns)
        if votes_i > votes_j:
            wins[i] += 1
        elif votes_j > votes_i:
            wins[j] += 1
        else:
            wins[i] += 0.5
            wins[j] += 0.5
    return [w if present[i] else NAN for i, w in enumerate(wins)]


def reference_normalised_ranks(scores):
    """Per used proxy, a dict candidate -> rank / n_valid (average ranks for ties)."""
    result = []
    for column in scores.values():
        values = {i: x for i, x in enumerate(column) if valid(x)}
        if not values:
            continue
        ranks = {}
        for i, x in values.items():
            below = sum(y < x for y in values.values())
            tied = sum(y == x for y in values.values())  # includes x itself
            ranks[i] = (below + (tied + 1) / 2) / len(values)
        result.append(ranks)
    return result


def reference_mean_rank(scores):
    ranks = reference_normalised_ranks(scores)
    n = len(next(iter(scores.values())))
    out = []
    for i in range(n):
        mine = [r[i] for r in ranks if i in r]
        out.append(sum(mine) / len(mine) if mine else NAN)
    return out


def reference_log_rank(scores):
    ranks = reference_normalised_ranks(scores)
    n = len(next(iter(scores.values())))
    out = []
    for i in range(n):
        mine = [math.log(r[i]) for r in ranks if i in r]
        out.append(sum(mine) * len(ranks) / len(mine) if mine else NAN)
    return out


REFERENCES = {vote: reference_vote, mean_rank: reference_mean_rank, log_rank: reference_log_rank}

score_values = st.one_of(
    st.integers(-3, 3).map(float),
    st.sampled_from([NAN, math.inf, None]),
)


@st.composite
def score_tables(draw, max_proxies=4, max_candidates=12):
    n_proxies = draw(st.integers(1, max_proxies))
    n = draw(st.integers(1, max_candidates))
    column = st.lists(score_values, min_size=n, max_size=n)
    return {f"p{k}": draw(column) for k in range(n_proxies)}


# Hand-computed examples.


def test_vote_by_hand_clear_majorities():
    # (0,1): A, C prefer 1 -> 1 wins; (0,2): A, C prefer 2; (1,2): A, B prefer 2.
    scores = {"A": [1, 2, 3], "B": [3, 1, 2], "C": [1, 3, 2]}
    assert_scores_equal(vote(scores), [0, 1, 2])


def test_vote_by_hand_ties_abstentions_and_missing():
    scores = {"A": [1, 2, 2, NAN], "B": [3, 1, 2, 5]}
    # (0,1) 1:1 tie; (0,2) 1:1 tie; (0,3) only B: 3 wins;
    # (1,2) A abstains, B: 2 wins; (1,3) and (2,3): 3 wins.
    assert_scores_equal(vote(scores), [1.0, 0.5, 1.5, 3.0])


def test_vote_split_decision_is_half_each():
    assert_scores_equal(vote({"A": [1, 2], "B": [2, 1]}), [0.5, 0.5])


def test_mean_rank_by_hand():
    # A ranks / 3 = (1/3, 1, 2/3); B is valid for {0, 1}: ranks / 2 = (1, 1/2).
    scores = {"A": [10, 30, 20], "B": [3, 1, None]}
    assert_scores_equal(mean_rank(scores), [(1 / 3 + 1) / 2, (1 + 0.5) / 2, 2 / 3])


def test_mean_rank_ties_share_average_rank():
    assert_scores_equal(mean_rank({"A": [5, 5, 7, 1]}), [2.5 / 4, 2.5 / 4, 1.0, 0.25])


def test_log_rank_by_hand():
    scores = {"A": [10, 30, 20], "B": [3, 1, None]}
    expected = [
        math.log(1 / 3) + math.log(1),
        math.log(1) + math.log(1 / 2),
        2 / 1 * math.log(2 / 3),  # only A available: scaled by P / available = 2
    ]
    assert_scores_equal(log_rank(scores), expected)


def test_log_rank_without_missing_values_is_az_nas_sum():
    rng = np.random.default_rng(0)
    scores = {f"p{k}": rng.normal(size=30) for k in range(3)}
    expected = sum(np.log(stats.rankdata(s) / 30) for s in scores.values())
    assert_scores_equal(log_rank(scores), expected)


# NaN handling.


@pytest.mark.parametrize("fn", ALL)
@settings(max_examples=150, deadline=None)
@given(scores=score_tables())
def test_matches_reference_implementation(fn, scores):
    assert_scores_equal(fn(scores), REFERENCES[fn](scores))


@pytest.mark.parametrize("fn", ALL)
def test_missing_entry_only_removes_that_opinion(fn):
    full = {"A": [4.0, 1.0, 3.0, 2.0, 5.0], "B": [1.0, 2.0, 5.0, 4.0, 3.0]}
    broken = {"A": [4.0, 1.0, NAN, 2.0, 5.0], "B": full["B"]}
    result = fn(broken)
    assert np.all(np.isfinite(result))
    assert_scores_equal(result, REFERENCES[fn](broken))
    # Candidate 2 is now judged by B alone; A still ranks the other four.
    assert_scores_equal(fn({"A": [4.0, 1.0, 2.0, 5.0]}), fn({"A": broken["A"]})[[0, 1, 3, 4]])


@pytest.mark.parametrize("fn", ALL)
def test_all_missing_candidate_is_nan_and_affects_no_one(fn):
    scores = {"A": [3.0, 1.0, 2.0, 7.0], "B": [0.5, 0.7, 0.1, 0.2]}
    with_dead = {"A": [3.0, 1.0, NAN, 2.0, 7.0], "B": [0.5, 0.7, None, 0.1, 0.2]}
    result = fn(with_dead)
    assert math.isnan(result[2])
    assert_scores_equal(np.delete(result, 2), fn(scores))


@pytest.mark.parametrize("fn", ALL)
def test_proxy_missing_everywhere_is_ignored(fn):
    scores = {"A": [3.0, 1.0, 2.0], "B": [0.5, 0.7, 0.1]}
    assert_scores_equal(fn({**scores, "dead": [NAN, math.inf, None]}), fn(scores))


@pytest.mark.parametrize("fn", ALL)
def test_everything_missing_gives_all_nan(fn):
    result = fn({"A": [NAN, NAN], "B": [None, -math.inf]})
    assert result.shape == (2,)
    assert np.all(np.isnan(result))


# Structural properties.


@pytest.mark.parametrize("fn", ALL)
def test_single_proxy_keeps_its_ordering(fn):
    proxy = np.array([0.3, -1.0, 2.0, 0.3, 5.0, 1.0, -1.0])
    np.testing.assert_array_equal(stats.rankdata(fn({"only": proxy})), stats.rankdata(proxy))


@pytest.mark.parametrize("fn", ALL)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_permuting_candidates_permutes_scores(fn, data):
    scores = data.draw(score_tables())
    n = len(scores["p0"])
    perm = data.draw(st.permutations(range(n)))
    permuted = {name: [column[k] for k in perm] for name, column in scores.items()}
    assert_scores_equal(fn(permuted), fn(scores)[list(perm)])


def test_vote_chunking_does_not_change_result(monkeypatch):
    rng = np.random.default_rng(1)
    scores = {f"p{k}": rng.integers(0, 5, size=50).astype(float) for k in range(3)}
    scores["p1"][[3, 17]] = NAN
    unchunked = vote(scores)
    monkeypatch.setattr(ensemble, "_VOTE_CHUNK_ELEMENTS", 3 * 50 * 7)  # 7 rows per block
    assert_scores_equal(vote(scores), unchunked)
    assert_scores_equal(unchunked, reference_vote(scores))


@pytest.mark.parametrize("fn", ALL)
def test_output_is_float_array_and_higher_is_better(fn):
    result = fn({"A": [1, 2, 3], "B": [10, 20, 30]})
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float64
    assert result[2] > result[1] > result[0]


# Input validation and registry.


@pytest.mark.parametrize("fn", ALL)
def test_invalid_inputs_raise(fn):
    with pytest.raises(ValueError, match="empty"):
        fn({})
    with pytest.raises(ValueError, match="same candidates"):
        fn({"A": [1, 2, 3], "B": [1, 2]})
    with pytest.raises(ValueError, match="1-D"):
        fn({"A": [[1, 2, 3]]})


def test_registry():
    assert names() == ["log_rank", "mean_rank", "vote"]
    for name in names():
        assert get(name) is ENSEMBLES[name]
    with pytest.raises(KeyError, match="log_rank, mean_rank, vote"):
        get("median")


# -- the recommended ranker ---------------------------------------------------------------------


@pytest.mark.parametrize("space", ["nb201", "nb101", "graph"])
def test_recommended_ranker_is_label_free_and_registered(space):
    from zero_cost import proxies

    choice = recommended(space).ranker
    assert choice.proxies and choice.method in names()
    assert all(not proxies.get(p).needs_labels for p in choice.members)


def test_ranker_fills_in_what_a_request_omits():
    choice = recommended("nb201").ranker
    assert choice.second_stage is not None
    assert ranker(None, None, "nb201") == choice
    assert ranker(None, "vote", "nb201") == Ranker(choice.proxies, "vote", choice.second_stage)
    stage = SecondStage(("zen",), 0.5)
    assert ranker(None, None, "nb201", stage) == Ranker(choice.proxies, choice.method, stage)
    assert ranker(["params", "flops"], None, None) == Ranker(("params", "flops"), "log_rank")
    assert ranker(["params"], "mean_rank", "nb201") == Ranker(("params",), "mean_rank")
    assert ranker(["params"], None, "nb201", stage) == Ranker(("params",), "log_rank", stage)
    with pytest.raises(ValueError, match="space"):
        ranker(None, None, None)


def test_ranker_scores_both_stages():
    first = list(range(1, 11))
    second = list(range(10, 0, -1))
    scores = {"a": first, "b": [5.0] * 10, "c": second}
    one = Ranker(("a",))
    np.testing.assert_allclose(one.score(scores), first)  # a single proxy: as it is
    np.testing.assert_allclose(one.score({"a": [1, np.inf, None]}), [1, np.nan, np.nan])
    assert one.members == ("a",) and one.describe() == "log_rank(a)"
    two = Ranker(("a", "b"), "mean_rank", SecondStage(("c", "a"), 0.3))
    assert two.members == ("a", "b", "c")
    expected = ensemble.two_stage(
        mean_rank({"a": first, "b": scores["b"]}), {"c": second, "a": first}, 0.3
    )
    np.testing.assert_allclose(two.score(scores), expected)
    assert two.describe() == "mean_rank(a, b), best 30% re-ranked by log_rank(c, a)"


@pytest.mark.parametrize(("proxies", "fraction"), [((), 0.2), (("a",), 0.0), (("a",), 1.5)])
def test_second_stage_rejects_nonsense(proxies, fraction):
    with pytest.raises(ValueError, match="proxy|fraction"):
        SecondStage(proxies, fraction)


# --------------------------------------------------------------------------- two_stage


def test_two_stage_by_hand():
    """The best 30 % by the first stage (8, 9, 10) stay on top, ordered by the second."""
    first = list(range(1, 11))
    second = {"b": list(range(10, 0, -1))}
    result = ensemble.two_stage(first, second, fraction=0.3)
    np.testing.assert_allclose(result[:7], np.arange(1, 8) / 10)
    np.testing.assert_allclose(result[7:], [2.0, 1 + 2 / 3, 1 + 1 / 3])
    assert list(np.argsort(-result)[:3]) == [7, 8, 9]  # best: the second stage's order


@pytest.mark.parametrize(
    ("n", "fraction"),
    [
        *[(10, 0.9), (50, 0.9), (100, 0.9), (200, 0.2), (7, 0.5), (3, 1 / 3), (10, 1.0)],
        *[(10, 0.05), (10, 1e-12), (1, 0.2)],
    ],
)
def test_two_stage_top_group_is_the_best_fraction(n, fraction):
    """Without ties the group is the best ceil(fraction * n) candidates, never one more
    through rounding (1 - 0.9 is below 0.1 in floating point)."""
    result = ensemble.two_stage(np.arange(n), {"b": np.zeros(n)}, fraction)
    assert np.count_nonzero(result > 1) == max(1, math.ceil(fraction * n - 1e-9))


def test_two_stage_ties_of_the_second_stage_keep_the_first_stages_order():
    first, second = [1, 5, 2, 4, 3, 6], {"b": [0, 1, 0, 1, 0, 2]}
    result = ensemble.two_stage(first, second, 1.0)
    assert list(np.argsort(-result)) == [5, 1, 3, 4, 2, 0]  # 2 > (1: 5, 3: 4) > (3, 2, 1)
    tied = ensemble.two_stage([1, 2, 2], {"b": [0, 0, 0]}, 1.0)  # tied in both: still tied
    assert tied[1] == tied[2] > tied[0]


def test_two_stage_ties_across_the_cut_are_all_in_or_all_out():
    """Tied candidates share their average rank, so they enter the group together."""
    first, second = [1, 2, 2, 3], {"b": [0, 2, 1, 0]}  # first-stage ranks 1, 2.5, 2.5, 4
    np.testing.assert_allclose(ensemble.two_stage(first, second, 0.25), [0.25, 0.625, 0.625, 2])
    np.testing.assert_allclose(
        ensemble.two_stage(first, second, 0.5), [0.25, 2.0, 1 + 2 / 3, 1 + 1 / 3]
    )


def test_two_stage_missing_values():
    """No first-stage score: NaN. No second-stage score inside the top group: last of it.
    No second-stage score for anyone: the group keeps the first stage's order, still above
    the rest."""
    result = ensemble.two_stage([1, 2, None, 4], {"b": [None, 1, 1, None]}, 0.5)
    np.testing.assert_allclose(result, [1 / 3, 2.0, np.nan, 1.5])
    result = ensemble.two_stage([1, np.inf, 2, -np.inf], {"b": [1, 2, 3, 4]}, 0.5)
    np.testing.assert_allclose(result, [0.5, np.nan, 2.0, np.nan])  # infinite: missing too
    # The best and those tied with it are in the group, however small the fraction.
    np.testing.assert_allclose(
        ensemble.two_stage([1, 3, 3], {"b": [0, 1, 2]}, 1e-6), [1 / 3, 1.5, 2]
    )
    result = ensemble.two_stage(range(10), {"b": [None] * 10}, 0.2)
    np.testing.assert_allclose(result, [*(np.arange(1, 9) / 10), 1.5, 2.0])


def test_top_group_is_what_two_stage_re_ranks():
    rng = np.random.default_rng(1)
    first = rng.normal(size=40)
    first[[3, 7]] = [np.nan, np.inf]
    top = ensemble.top_group(first, 0.25)
    assert np.count_nonzero(top) == 10 and not top[[3, 7]].any()  # 25 % of the 38 scored
    np.testing.assert_array_equal(top, ensemble.two_stage(first, {"b": first}, 0.25) > 1)
    assert not ensemble.top_group([np.nan, None], 0.5).any()


def test_two_stage_whole_fraction_is_the_second_stage():
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=30), {"b": rng.normal(size=30), "c": rng.normal(size=30)}
    # The second stage's order, its ties (sums of log ranks can tie) broken by the first.
    expected = np.lexsort((first, log_rank(second)))
    np.testing.assert_array_equal(np.argsort(ensemble.two_stage(first, second, 1.0)), expected)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_two_stage_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        ensemble.two_stage([1, 2], {"b": [1, 2]}, fraction)


def test_two_stage_needs_the_same_candidates():
    with pytest.raises(ValueError, match="same candidates"):
        ensemble.two_stage([1, 2, 3], {"b": [1, 2]})
