"""Scores as a population: what the correlations, the figures and predictor training are
computed over, and the score tables and ensembles they share with ranking."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zero_cost import ensemble as ensembles
from zero_cost import metrics
from zero_cost import proxies as proxy_registry
from zero_cost.repeats import ONCE, Repeats

from ..db.storage import Storage
from ..errors import InvalidRequest
from ..schemas import CorrelationRow
from .proxy_versions import proxy_versions


@dataclass(frozen=True)
class PopulationQuery:
    """Which population an analysis is over: the architectures with an accuracy on
    (``dataset``, ``metric``) and a score of ``proxies`` (default: every proxy with scores)
    on data profile ``profile_id`` (None until ``analysis_profile`` chose it) with init
    seed ``seed``, repeated as ``repeats`` says; ``ensembles`` are the ensemble methods to
    add (default: all)."""

    dataset: str
    metric: str = "test_accuracy"
    proxies: Sequence[str] | None = None
    ensembles: Sequence[str] | None = None
    profile_id: int | None = None
    seed: int = 0
    repeats: Repeats = ONCE


@dataclass(frozen=True)
class Population:
    """The architectures with an accuracy on (dataset, metric) and at least one score on a
    data profile and seed: their mean accuracies and one column per proxy (log values for
    log-scale proxies, NaN where missing), in ``architecture_ids`` order; ``space`` is their
    space when they share one."""

    profile_id: int
    architecture_ids: list[int]
    truth: np.ndarray
    table: dict[str, np.ndarray]
    space: str | None = None


LOG_OF_ZERO = -sys.float_info.max
"""What a ranking takes for the log of a log-scale proxy's value 0 (synflow of a cell with
no path from input to output): the most negative double, below every real value."""


def score_table(
    storage: Storage,
    architecture_ids: Sequence[int],
    profile_id: int,
    seed: int,
    versions: Sequence[tuple[str, str]],
    log_of_zero: float = math.nan,
    repeats: Repeats = ONCE,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """proxy -> one value per architecture (log for log-scale proxies; NaN when missing or
    not finite, and ``log_of_zero`` for the log of 0), and per architecture whether every
    proxy has a stored score; repeated scores: their means.

    Correlations leave the log of 0 out (NaN), as the library's reproduction does; a
    ranking ranks it last (``LOG_OF_ZERO``)."""
    stored = storage.scores_for(architecture_ids, profile_id, seed, versions, repeats)
    table = {}
    for name, _ in versions:
        use_log = proxy_registry.get(name).log_scale
        column = []
        for architecture_id in architecture_ids:
            score = stored.get(architecture_id, {}).get(name)
            value = None if score is None else (score.log_value if use_log else score.value)
            if use_log and value is None and score is not None and score.value == 0.0:
                value = log_of_zero
            column.append(math.nan if value is None else value)
        table[name] = np.array(column, dtype=float)
    complete = np.array([len(stored.get(a, {})) == len(versions) for a in architecture_ids])
    return table, complete.astype(bool)


def combine(method: str, table: dict[str, np.ndarray]) -> np.ndarray:
    """The ensemble ``method`` of the table's columns; a single column as it is."""
    if len(table) == 1:
        return next(iter(table.values()))
    return ensembles.get(method)(table)


def population(storage: Storage, query: PopulationQuery) -> Population:
    """The population of ``query``. Accuracies of one architecture are averaged."""
    if query.profile_id is None:
        raise ValueError("choose the population's profile first (analysis_profile)")
    profile_id = query.profile_id
    accuracy = storage.mean_accuracies(query.dataset, query.metric)
    names = list(query.proxies) if query.proxies else storage.proxies_with_scores(profile_id)
    ids = sorted(accuracy)
    versions = proxy_versions(names)
    table, _ = score_table(storage, ids, profile_id, query.seed, versions, repeats=query.repeats)
    has_score = np.array(
        [any(not np.isnan(col[i]) for col in table.values()) for i in range(len(ids))], dtype=bool
    )
    ids = [a for a, keep in zip(ids, has_score, strict=True) if keep]
    spaces = storage.spaces_of(ids)
    return Population(
        profile_id=profile_id,
        architecture_ids=ids,
        truth=np.array([accuracy[a] for a in ids], dtype=float),
        table={k: v[has_score] for k, v in table.items()},
        space=spaces.pop() if len(spaces) == 1 else None,
    )


def ensemble_methods(requested: Sequence[str] | None) -> list[str]:
    """The requested ensemble methods (default: all), each checked to exist: the registered
    ensembles and ``recommended`` (:data:`RECOMMENDED`)."""
    names = [*ensembles.names(), RECOMMENDED]
    methods = list(requested) if requested is not None else names
    known = ", ".join(names)
    for i, method in enumerate(methods):
        if method not in names:
            field = f"ensembles[{i}]"
            message = f"{field}: unknown ensemble {method!r}; known: {known}"
            raise InvalidRequest("unknown_ensemble", message, field)
    return methods


def score_columns(found: Population, methods: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """(name, kind, one value per architecture) for every proxy, then every ensemble of
    ``methods``: a registered one only with two or more proxies, ``recommended`` (the
    recommended label-free ranker of the population's space) only where
    :func:`recommended_ranker` finds it."""
    columns = [(name, "proxy", values) for name, values in found.table.items()]
    chosen = recommended_ranker(found)
    for method in methods:
        if method == RECOMMENDED:
            if chosen is not None:
                columns.append((method, "ensemble", chosen.score(found.table)))
        elif len(found.table) > 1 and found.architecture_ids:
            columns.append((method, "ensemble", ensembles.get(method)(found.table)))
    return columns


RECOMMENDED = "recommended"
"""The name of the recommended label-free ranker among the ensembles of an analysis."""


def recommended_ranker(found: Population) -> ensembles.Ranker | None:
    """The recommended label-free ranker of the population's space, if its architectures
    share one and every proxy of the ranker has a score of some of them."""
    if found.space is None or not found.architecture_ids:
        return None
    chosen = ensembles.recommended(found.space).ranker
    scored = all(p in found.table and np.isfinite(found.table[p]).any() for p in chosen.members)
    return chosen if scored else None


def correlation_row(
    name: str, kind: str, values: np.ndarray, truth: np.ndarray, n_resamples: int
) -> CorrelationRow:
    """How well ``values`` rank ``truth``, with bootstrap intervals from ``n_resamples``."""
    report = metrics.correlation_report(values, truth, n_resamples=n_resamples, seed=0).to_dict()
    report.pop("confidence")
    return CorrelationRow(name=name, kind=kind, **report)
