"""Correlations: how well every proxy, ensemble and the learned predictor rank the
reported accuracies."""

from __future__ import annotations

import math

import numpy as np

from ..db.storage import Storage
from ..schemas import CorrelationsOut, RepeatCounts
from .data_profiles import profile_description
from .population import (
    RECOMMENDED,
    PopulationQuery,
    correlation_row,
    ensemble_methods,
    population,
    recommended_ranker,
    score_columns,
)
from .predictors import predictor_note


def correlations(storage: Storage, query: PopulationQuery, n_resamples: int) -> CorrelationsOut:
    """Rank correlation of every proxy and ensemble with the reported accuracies, over the
    architectures that have both (accuracies of one architecture are averaged)."""
    found = population(storage, query)
    methods = ensemble_methods(query.ensembles)
    rows = [
        correlation_row(name, kind, values, found.truth, n_resamples)
        for name, kind, values in score_columns(found, methods)
    ]
    chosen = recommended_ranker(found)
    if chosen is not None:
        note = f"the recommended label-free ranker: {chosen.describe()}"
        rows = [r.model_copy(update={"note": note}) if r.name == RECOMMENDED else r for r in rows]
    predictor = storage.latest_predictor(
        dataset=query.dataset,
        metric=query.metric,
        data_profile_id=found.profile_id,
        seed=query.seed,
    )
    if predictor is not None and predictor.oof:
        # Out-of-fold predictions only: each made by a model that never saw that architecture.
        oof = [predictor.oof.get(a) for a in found.architecture_ids]
        values = np.array([math.nan if v is None else v for v in oof], dtype=float)
        row = correlation_row("learned", "learned", values, found.truth, n_resamples)
        rows.append(row.model_copy(update={"note": predictor_note(predictor)}))
    return CorrelationsOut(
        dataset=query.dataset,
        metric=query.metric,
        data_profile_id=found.profile_id,
        data_profile=profile_description(storage, found.profile_id),
        init_seed=query.seed,
        repeats=RepeatCounts.of(query.repeats),
        n_architectures=len(found.architecture_ids),
        rows=rows,
    )
