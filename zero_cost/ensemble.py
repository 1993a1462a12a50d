"""Label-free aggregation of several zero-cost proxies into one score.

Every ensemble takes ``scores``, a mapping from proxy name to one score per
candidate architecture (all sequences of the same length, higher = better), and
returns a float array with one aggregate score per candidate, higher = better.

Missing values: ``None``, NaN and +-inf mean "this proxy failed for this
candidate". A missing entry only removes that proxy's opinion about that
candidate; the other candidates are still ranked by it among the candidates it
is valid for. A proxy that is missing for every candidate is ignored, and a
candidate missing every proxy scores NaN (and does not affect anyone else).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "ENSEMBLES",
    "Ensemble",
    "Ranker",
    "Recommendation",
    "Scores",
    "SecondStage",
    "get",
    "log_rank",
    "mean_rank",
    "names",
    "ranker",
    "recommended",
    "top_group",
    "two_stage",
    "vote",
]

Scores = Mapping[str, Sequence[float | None] | ArrayLike]
"""Proxy name -> one score per candidate (higher = better; None/NaN/inf = missing)."""

Ensemble = Callable[[Scores], NDArray[np.float64]]
"""An aggregation ``f(scores) -> one score per candidate``."""

_VOTE_CHUNK_ELEMENTS = 1 << 22
"""Upper bound on the (proxies x rows x candidates) block :func:`vote` holds at once."""


def _score_matrix(scores: Scores) -> NDArray[np.float64]:
    """Stack the proxies into a (proxies, candidates) array with NaN for missing.

    Proxies missing for every candidate are dropped (the result may have zero
    rows). Raises ``ValueError`` for no proxies, non-1-D scores or unequal lengths.
    """
    if not scores:
        raise ValueError("scores is empty: need at least one proxy")
    rows = []
    for name, values in scores.items():
        row = np.asarray(values, dtype=np.float64)
        if row.ndim != 1:
            raise ValueError(f"scores for proxy {name!r} must be 1-D, got shape {row.shape}")
        rows.append(row)
    lengths = {row.size for row in rows}
    if len(lengths) != 1:
        sizes = {name: len(row) for name, row in zip(scores, rows, strict=True)}
        raise ValueError(f"all proxies must score the same candidates, got lengths {sizes}")
    matrix = np.stack(rows)
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix[~np.all(np.isnan(matrix), axis=1)]


def _normalised_ranks(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per proxy: rank / n_valid among its valid candidates, NaN where missing.

    Ranks ascend with the score (1 = worst, n_valid = best; tied scores share
    their average rank), so values lie in (0, 1] with 1 = that proxy's best.
    """
    ranks = np.full_like(matrix, np.nan)
    for p, row in enumerate(matrix):
        valid = ~np.isnan(row)
        ranks[p, valid] = stats.rankdata(row[valid]) / np.count_nonzero(valid)
    return ranks


def vote(scores: Scores) -> NDArray[np.float64]:
    """Pairwise majority vote (Abdelfattah et al., ICLR 2021).

    For every pair of candidates ``(i, j)`` each proxy valid for both votes for
    the one it scores higher; a proxy scoring them equally abstains. ``i`` beats
    ``j`` when it gets more votes than ``j``; equal votes (including when no
    proxy is valid for both) are a tie, worth half a win to each. A candidate's
    score is its number of wins against all other candidates that have at least
    one valid proxy, so scores lie in ``[0, n_valid - 1]``. With a single proxy
    this is ``#strictly worse + #tied / 2``, i.e. the proxy's own ordering.
    Vectorised over blocks of rows: O(proxies * n^2) time, bounded memory.
    """
    matrix = _score_matrix(scores)
    n_proxies, n = matrix.shape
    present = ~np.all(np.isnan(matrix), axis=0)
    result = np.full(n, np.nan)
    if not present.any():
        return result
    live = matrix[:, present]
    m = live.shape[1]
    wins = np.empty(m)
    chunk = max(1, _VOTE_CHUNK_ELEMENTS // (n_proxies * m))
    for start in range(0, m, chunk):
        block = live[:, start : start + chunk, None]
        # Per proxy +1 / -1 / 0 (abstain, including NaN) for "row beats column".
        ballots = (block > live[:, None, :]).astype(np.int8) - (block < live[:, None, :])
        margin = ballots.sum(axis=0, dtype=np.int64)
        # 1 for a win, 1/2 for a tie, 0 for a loss; the self-pair is a tie, not counted.
        wins[start : start + chunk] = 0.5 * (1 + np.sign(margin)).sum(axis=1) - 0.5
    result[present] = wins
    return result


def mean_rank(scores: Scores) -> NDArray[np.float64]:
    """Mean normalised rank over the proxies available for each candidate.

    Each proxy ranks its valid candidates ascending (1 = worst, n_valid = best,
    average ranks for ties) and divides by n_valid, so every proxy contributes
    a value in (0, 1] however many candidates it failed on. The result is the
    mean over the candidate's available proxies, in (0, 1].
    """
    ranks = _normalised_ranks(_score_matrix(scores))
    return _mean_over_available(ranks)


def log_rank(scores: Scores) -> NDArray[np.float64]:
    """Log-rank aggregation of AZ-NAS (Lee & Ham, CVPR 2024), NaN-safe.

    Each proxy ranks its valid candidates ascending (1 = worst, n_p = best,
    average ranks for ties) and contributes ``log(rank / n_p)`` (<= 0, 0 for
    the best). AZ-NAS sums these over proxies, which punishes being bad at
    any single proxy more than ``mean_rank`` does. For missing values the sum
    over the candidate's available proxies is scaled by ``P / available``
    (``P`` = proxies not missing everywhere), i.e. ``P`` times the mean, so a
    candidate is neither punished nor rewarded for a failed proxy. Without
    missing values this is exactly the AZ-NAS sum.
    """
    ranks = _normalised_ranks(_score_matrix(scores))
    return ranks.shape[0] * _mean_over_available(np.log(ranks))


def two_stage(first: ArrayLike, second: Scores, fraction: float = 0.2) -> NDArray[np.float64]:
    """Keep the order of ``first``, but re-rank its best ``fraction`` by ``log_rank(second)``.

    For the top of a space: a ranker that orders the whole space well can order its best
    candidates poorly, and proxies that tell good from very good (``second``) can rank the
    whole space poorly. ``first`` is the first stage's score per candidate (higher = better;
    NaN, None or +-inf = missing), e.g. ``log_rank`` of its proxies. Its top group
    (:func:`top_group`: the best ``ceil(fraction * n)`` of the n candidates it scores, by
    average rank where tied) scores ``1 +`` their rank quantile by the second stage within
    the group, in (1, 2]; the
    others keep their first-stage rank quantile, in (0, 1]. So the top group stays above
    everyone else, and only its order comes from ``second``. A candidate of the top group
    that the second stage cannot score ranks last in the group; candidates the second stage
    ties (or cannot score) keep the first stage's order among themselves. One the first
    stage cannot score is NaN.

    Raises:
        ValueError: ``fraction`` outside (0, 1], or the stages score different candidates.
    """
    top = top_group(first, fraction)
    first_scores = np.asarray(first, dtype=np.float64)
    second_matrix = _score_matrix(second)
    if second_matrix.shape[1] != first_scores.size:
        raise ValueError("both stages must score the same candidates")
    valid = np.isfinite(first_scores)
    result = np.full(first_scores.shape, np.nan)
    result[valid] = stats.rankdata(first_scores[valid]) / np.count_nonzero(valid)
    if not top.any():
        return result
    group = np.zeros(np.count_nonzero(top))  # no second-stage proxy scores anyone: a tie
    if second_matrix.shape[0]:
        group = log_rank({str(k): row[top] for k, row in enumerate(second_matrix)})
    group = np.where(np.isnan(group), -np.inf, group)
    # Ties of the second stage keep the first stage's order: ranks of the second stage
    # differ by at least 0.5, and the first stage's rank adds less than that.
    order = stats.rankdata(group) + stats.rankdata(first_scores[top]) / (2 * group.size + 2)
    result[top] = 1 + stats.rankdata(order) / group.size
    return result


def top_group(first: ArrayLike, fraction: float) -> NDArray[np.bool_]:
    """Which candidates :func:`two_stage` re-ranks: of the n with a first-stage score
    (``first``, higher = better; NaN, None or +-inf = missing), those whose rank (1 =
    worst, average ranks for ties) is above ``n * (1 - fraction)``, i.e. the best
    ``ceil(fraction * n)`` (at least one), candidates tied across that cut-off all in or
    all out, and those tied for the best always in.

    Raises:
        ValueError: ``fraction`` outside (0, 1], or ``first`` not 1-D.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    first_scores = np.asarray(first, dtype=np.float64)
    if first_scores.ndim != 1:
        raise ValueError(f"the first stage's scores must be 1-D, got shape {first_scores.shape}")
    valid = np.isfinite(first_scores)
    top = np.zeros(first_scores.shape, dtype=bool)
    n = np.count_nonzero(valid)
    if n:
        ranks = stats.rankdata(first_scores[valid])
        # Not n * (1 - fraction): 1 - 0.9 < 0.1.
        top[valid] = ranks > min(n - fraction * n + 1e-9, ranks.max() - 1e-9)
    return top


def _mean_over_available(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Column means ignoring NaN; NaN for columns that are NaN throughout."""
    available = np.count_nonzero(~np.isnan(values), axis=0)
    total = np.nansum(values, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(available > 0, total / available, np.nan)


ENSEMBLES: dict[str, Ensemble] = {"vote": vote, "mean_rank": mean_rank, "log_rank": log_rank}
"""Registry of ensembles by name."""


def names() -> list[str]:
    """Names of the registered ensembles, sorted."""
    return sorted(ENSEMBLES)


def get(name: str) -> Ensemble:
    """Look up an ensemble by name; ``KeyError`` listing the known names if absent."""
    try:
        return ENSEMBLES[name]
    except KeyError:
        raise KeyError(f"unknown ensemble {name!r}; known: {', '.join(names())}") from None


@dataclass(frozen=True)
class SecondStage:
    """The second stage of a ranker: ``log_rank`` of ``proxies`` re-ranks the first stage's
    best ``fraction`` (:func:`two_stage`)."""

    proxies: tuple[str, ...]
    fraction: float = 0.2

    def __post_init__(self) -> None:
        if not self.proxies:
            raise ValueError("a second stage needs at least one proxy")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")


@dataclass(frozen=True)
class Ranker:
    """How a rank orders candidates: ``method`` (an ensemble name) over ``proxies``, then,
    with a ``second_stage``, its best candidates re-ranked by that stage."""

    proxies: tuple[str, ...]
    method: str = "log_rank"
    second_stage: SecondStage | None = None

    @property
    def members(self) -> tuple[str, ...]:
        """Every proxy either stage needs, each once: the first stage's, then the second's."""
        second = () if self.second_stage is None else self.second_stage.proxies
        return tuple(dict.fromkeys((*self.proxies, *second)))

    def describe(self) -> str:
        """The ranker in one line, e.g. ``log_rank(meco), best 20% re-ranked by
        log_rank(az_progressivity)``."""
        text = f"{self.method}({', '.join(self.proxies)})"
        if self.second_stage is not None:
            stage = self.second_stage
            text += f", best {stage.fraction:.0%} re-ranked by log_rank({', '.join(stage.proxies)})"
        return text

    def first_stage(self, scores: Scores) -> NDArray[np.float64]:
        """The first stage's score per candidate from ``scores``, which hold
        :attr:`proxies`: ``method`` over them, or one proxy's score as it is (NaN where
        missing)."""
        if len(self.proxies) > 1:
            return get(self.method)({p: scores[p] for p in self.proxies})
        first = np.asarray(scores[self.proxies[0]], dtype=np.float64)
        return np.where(np.isfinite(first), first, np.nan)

    def score(self, scores: Scores) -> NDArray[np.float64]:
        """One score per candidate (higher = better) from ``scores``, which hold
        :attr:`members`: the first stage's, with its best re-ranked by the second stage
        (:func:`two_stage`) if there is one."""
        first = self.first_stage(scores)
        if self.second_stage is None:
            return first
        second = {p: scores[p] for p in self.second_stage.proxies}
        return two_stage(first, second, self.second_stage.fraction)


@dataclass(frozen=True)
class Recommendation:
    """The label-free ranker of a space, and the space whose reference cells chose it."""

    ranker: Ranker
    chosen_on: str


_RECOMMENDED = Recommendation(
    Ranker(("meco",), "log_rank", SecondStage(("az_progressivity",), fraction=0.2)),
    chosen_on="nb201",
)
"""Two stages, each picked by a rule fixed in advance on one half of the 400 reference
cells and reported on the other half, both ways.

First stage: greedy selection on half A stopped after ``meco``, which no other proxy
improved by 0.002 of mean Spearman (``docs/reproduction.md``). Second stage: of the
affordable label-free proxies, the one with the highest Spearman inside the picking half's
true top 10 %: ``az_progressivity`` on either half (``docs/two_stage.md``). Held out, the two
stages rank at 0.942 / 0.937 (CIFAR-10), 0.930 / 0.926 (CIFAR-100) and 0.923 / 0.892
(ImageNet16-120), and at 0.630 / 0.402 inside the true top 10 %, where ``meco`` alone ranks
at 0.329 / 0.037."""


def recommended(space: str) -> Recommendation:
    """The label-free ranker the service uses when a rank request names no proxies.

    Chosen on NAS-Bench-201 by the rules of ``docs/ensemble_choice.md`` and
    ``benchmarks/two_stage.py`` (picked on one half of the reference cells, reported on the
    other half; ``benchmarks/reproduce_nb201.py``). Every space gets that choice: its proxies
    run on every space, and no other space has enough reference cells to choose by the same
    rules (``chosen_on`` says where it was chosen).
    """
    return _RECOMMENDED


def ranker(
    proxies: Sequence[str] | None,
    method: str | None,
    space: str | None,
    second_stage: SecondStage | None = None,
) -> Ranker:
    """The ranker a rank uses: ``proxies`` as given, with ``method`` or else ``log_rank``,
    and ``second_stage`` if given; without proxies, the recommended ranker of ``space``,
    with its aggregation unless ``method`` is given and its second stage unless
    ``second_stage`` is.

    Raises:
        ValueError: neither proxies nor a space.
    """
    if proxies is not None:
        return Ranker(tuple(proxies), method or "log_rank", second_stage)
    if space is None:
        raise ValueError("name the proxies, or the space whose recommended ranker to use")
    choice = recommended(space).ranker
    return Ranker(choice.proxies, method or choice.method, second_stage or choice.second_stage)
