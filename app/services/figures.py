"""What the figures show: a proxy's or ensemble's score column, precision@k curves, and
the top architectures of a data profile."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from zero_cost import ensemble as ensembles
from zero_cost import metrics
from zero_cost import proxies as proxy_registry

from ..db.storage import Storage
from ..errors import InvalidRequest
from ..schemas import CorrelationRow
from .population import (
    LOG_OF_ZERO,
    RECOMMENDED,
    PopulationQuery,
    combine,
    correlation_row,
    ensemble_methods,
    population,
    recommended_ranker,
    score_columns,
    score_table,
)
from .proxy_versions import proxy_versions


@dataclass(frozen=True)
class ScoreColumn:
    """One proxy's or ensemble's value per architecture of a population, with the
    architectures' accuracies and the correlation (no intervals) of the two."""

    name: str
    kind: str
    log_values: bool  # values are natural logs of a log-scale proxy's values
    values: np.ndarray
    truth: np.ndarray
    profile_id: int
    row: CorrelationRow


def score_column(storage: Storage, query: PopulationQuery, name: str) -> ScoreColumn:
    """The values a scatter plot shows: a proxy's scores (over the architectures it scored)
    or an ensemble of the query's proxies, as ``correlations`` sees them."""
    if name in ensembles.names() or name == RECOMMENDED:
        kind, wanted = "ensemble", query.proxies
    elif name in proxy_registry.names():
        kind, wanted = "proxy", [name]
    else:
        message = (
            f"name: {name!r} is neither a proxy ({', '.join(proxy_registry.names())}) "
            f"nor an ensemble ({', '.join([*ensembles.names(), RECOMMENDED])})"
        )
        raise InvalidRequest("unknown_name", message, "name")
    found = population(storage, replace(query, proxies=wanted))
    if name == RECOMMENDED:
        if recommended_ranker(found) is None:
            message = (
                "name: the recommended ranker needs architectures of one space with scores of "
                "each of its proxies (GET /v1/config, `recommended_rankers`)"
            )
            raise InvalidRequest("recommended_unavailable", message, "name")
    elif kind == "ensemble" and len(found.table) < 2:
        message = f"name: the ensemble {name!r} needs scores of two or more proxies"
        raise InvalidRequest("ensemble_needs_proxies", message, "name")
    methods = [name] if kind == "ensemble" else []
    columns = {n: values for n, _, values in score_columns(found, methods)}
    values = columns.get(name, np.full(len(found.architecture_ids), np.nan))
    return ScoreColumn(
        name=name,
        kind=kind,
        log_values=kind == "proxy" and proxy_registry.get(name).log_scale,
        values=values,
        truth=found.truth,
        profile_id=found.profile_id,
        row=correlation_row(name, kind, values, found.truth, n_resamples=0),
    )


PRECISION_FRACTIONS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
"""Top fractions of the precision@k curves."""


@dataclass(frozen=True)
class PrecisionCurves:
    profile_id: int
    n_architectures: int
    fractions: tuple[float, ...]
    curves: list[tuple[str, str, list[float]]]  # (name, kind, precision per fraction)


def precision_curves(
    storage: Storage, query: PopulationQuery, fractions: Sequence[float] = PRECISION_FRACTIONS
) -> PrecisionCurves:
    """Precision@k of every proxy and ensemble at each top fraction (NaN when undefined)."""
    found = population(storage, query)
    methods = ensemble_methods(query.ensembles)
    curves = [
        (name, kind, [metrics.precision_at_k(values, found.truth, f) for f in fractions])
        for name, kind, values in score_columns(found, methods)
    ]
    return PrecisionCurves(found.profile_id, len(found.architecture_ids), tuple(fractions), curves)


@dataclass(frozen=True)
class TopArchitecture:
    rank: int
    architecture_id: int
    spec: object
    score: float
    accuracy: float | None


def top_architectures(
    storage: Storage,
    *,
    profile_id: int,
    seed: int,
    dataset: str,
    metric: str,
    method: str = "log_rank",
    limit: int = 20,
) -> tuple[list[str], int, list[TopArchitecture]]:
    """The best ``limit`` architectures scored on a profile by the ensemble ``method`` of
    every proxy with scores there, ranked among all architectures scored there; with their
    mean accuracy on (dataset, metric) where reported. Returns the proxies, how many
    architectures were ranked, and the top."""
    names = storage.proxies_with_scores(profile_id)
    if not names:
        return [], 0, []
    ids = storage.scored_architecture_ids(profile_id, seed)
    table, _ = score_table(
        storage, ids, profile_id, seed, proxy_versions(names), log_of_zero=LOG_OF_ZERO
    )
    scored = ~np.isnan(np.column_stack(list(table.values()))).all(axis=1)
    ids = [a for a, keep in zip(ids, scored, strict=True) if keep]
    if not ids:
        return names, 0, []
    combined = combine(method, {k: v[scored] for k, v in table.items()})
    order = sorted(
        (i for i in range(len(ids)) if not np.isnan(combined[i])),
        key=lambda i: (-combined[i], ids[i]),
    )[:limit]
    records = storage.get_architectures(ids[i] for i in order)
    accuracy = storage.mean_accuracies(dataset, metric)
    top = [
        TopArchitecture(
            rank=position,
            architecture_id=ids[i],
            spec=json.loads(records[ids[i]].spec),
            score=float(combined[i]),
            accuracy=accuracy.get(ids[i]),
        )
        for position, i in enumerate(order, start=1)
    ]
    return names, len(ids), top
