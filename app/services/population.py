"""Scores as a population: ``rank`` of candidates (by an ensemble or a learned predictor),
``correlations`` with the reported accuracies, and the helpers they share with the
predictors and the figures (score tables, ensembles, the scored population)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zero_cost import ensemble as ensembles
from zero_cost import metrics
from zero_cost import proxies as proxy_registry

from .. import learned
from ..api.errors import ApiError, not_found
from ..api.schemas import CorrelationRow, CorrelationsOut, RankedCandidate, RankIn, RankOut
from ..config import Settings
from ..db.storage import PredictorRecord, Storage
from .architectures import resolve_architectures
from .data_profiles import proxy_versions, resolve_profile


def _score_table(
    storage: Storage,
    architecture_ids: Sequence[int],
    profile_id: int,
    seed: int,
    versions: Sequence[tuple[str, str]],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """proxy -> one value per architecture (log for log-scale proxies; NaN when missing or
    not finite), and per architecture whether every proxy has a stored score."""
    stored = storage.scores_for(architecture_ids, profile_id, seed, versions)
    table = {}
    for name, _ in versions:
        use_log = proxy_registry.get(name).log_scale
        column = []
        for architecture_id in architecture_ids:
            score = stored.get(architecture_id, {}).get(name)
            value = None if score is None else (score.log_value if use_log else score.value)
            column.append(math.nan if value is None else value)
        table[name] = np.array(column, dtype=float)
    complete = np.array([len(stored.get(a, {})) == len(versions) for a in architecture_ids])
    return table, complete.astype(bool)


def _ensemble(method: str, table: dict[str, np.ndarray]) -> np.ndarray:
    if len(table) == 1:
        return next(iter(table.values()))
    return ensembles.get(method)(table)


def rank(storage: Storage, settings: Settings, body: RankIn) -> RankOut:
    """Candidates ordered best-first by the ensemble of their proxy scores; the unscored
    are queued (and, with ``wait``, waited for up to ``ZC_RANK_WAIT_SECONDS``)."""
    versions = proxy_versions(body.proxies)
    refs = resolve_architectures(storage, settings, body.candidates, "candidates")
    ids = list(dict.fromkeys(refs))
    profile = resolve_profile(storage, settings, body.data)
    predictor = None
    if body.ensemble == "learned":
        predictor = _rank_predictor(storage, body, profile.id, versions)
    table, complete = _score_table(storage, ids, profile.id, body.init_seed, versions)
    job_id = None
    if not complete.all():
        unscored = [a for a, done in zip(ids, complete, strict=True) if not done]
        job_id = storage.create_job(unscored, versions, profile.id, body.init_seed)
        if body.wait:
            deadline = time.monotonic() + settings.rank_wait_seconds
            while time.monotonic() < deadline:
                if storage.get_job(job_id, max_errors=0).status not in {"queued", "running"}:
                    break
                time.sleep(0.2)
            table, complete = _score_table(storage, ids, profile.id, body.init_seed, versions)
    values = np.column_stack(list(table.values()))
    scored = ~np.isnan(values).all(axis=1)
    combined = np.full(len(ids), np.nan)
    if scored.any():
        columns = {k: v[scored] for k, v in table.items()}
        if predictor is None:
            combined[scored] = _ensemble(body.ensemble, columns)
        else:
            scored_ids = [a for a, keep in zip(ids, scored, strict=True) if keep]
            combined[scored] = _learned_scores(storage, predictor, scored_ids, columns)
    order = sorted(
        range(len(ids)), key=lambda i: (np.isnan(combined[i]), -np.nan_to_num(combined[i]), i)
    )
    ranking = [
        RankedCandidate(
            architecture_id=ids[i],
            rank=None if np.isnan(combined[i]) else position + 1,
            score=None if np.isnan(combined[i]) else float(combined[i]),
            scores={k: (None if np.isnan(v[i]) else float(v[i])) for k, v in table.items()},
        )
        for position, i in enumerate(order)
    ]
    return RankOut(
        complete=bool(complete.all()),
        job_id=job_id,
        data_profile_id=profile.id,
        ranking=ranking,
        predictor_id=None if predictor is None else predictor.id,
        note=None if predictor is None else _predictor_note(predictor),
    )


def _rank_predictor(
    storage: Storage, body: RankIn, profile_id: int, versions: Sequence[tuple[str, str]]
) -> PredictorRecord:
    """The predictor ``ensemble='learned'`` ranks with."""
    if body.dataset is None:
        message = "dataset: required with ensemble 'learned' (the predictor's dataset)"
        raise ApiError(422, "dataset_required", message, "dataset")
    proxies = sorted(name for name, _ in versions)
    record = storage.latest_predictor(
        dataset=body.dataset,
        metric=body.metric,
        data_profile_id=profile_id,
        seed=body.init_seed,
        proxies=proxies,
    )
    if record is None:
        message = (
            f"dataset: no trained predictor for dataset {body.dataset!r}, metric "
            f"{body.metric!r}, data profile {profile_id}, seed {body.init_seed} and proxies "
            f"{', '.join(proxies)}; train one with POST /v1/predictors"
        )
        raise ApiError(422, "no_predictor", message, "dataset")
    return record


def _learned_scores(
    storage: Storage,
    record: PredictorRecord,
    architecture_ids: Sequence[int],
    table: dict[str, np.ndarray],
) -> np.ndarray:
    """The predictor's predicted accuracy quantile of each architecture."""
    config = record.config
    architectures = storage.get_architectures(architecture_ids)
    specs = []
    for a in architecture_ids:
        if config.features == "proxies+encoding" and architectures[a].space != config.space:
            message = (
                f"candidates: architecture {a} is in space {architectures[a].space!r}; "
                f"predictor {record.id} encodes {config.space!r}"
            )
            raise ApiError(422, "space_mismatch", message, "candidates")
        specs.append(json.loads(architectures[a].spec))
    x = learned.features(config.features, config.space, table, specs)
    database = storage.engine.url.render_as_string(hide_password=True)
    model = learned.load(database, record.id, lambda: storage.predictor_model(record.id))
    return model.predict(x)


def _predictor_note(record: PredictorRecord) -> str:
    name = f"predictor {record.id} (version {record.version}, {record.n_labels} labels)"
    if record.mode == "fallback":
        return f"{name} is in fallback mode: {record.fallback_reason}"
    return f"ranked by learned {name}"


@dataclass(frozen=True)
class Population:
    """The architectures with an accuracy on (dataset, metric) and at least one score on a
    data profile and seed: their mean accuracies and one column per proxy (log values for
    log-scale proxies, NaN where missing), in ``architecture_ids`` order."""

    profile_id: int
    architecture_ids: list[int]
    truth: np.ndarray
    table: dict[str, np.ndarray]


def _scored_profile(storage: Storage, profile_id: int | None) -> int:
    """``profile_id`` checked to exist, or the only profile with scores when it is None."""
    if profile_id is None:
        candidates = storage.profiles_with_scores()
        if len(candidates) != 1:
            raise ApiError(
                422,
                "profile_required",
                f"profile_id: required when {len(candidates)} data profiles have scores",
                "profile_id",
            )
        return candidates[0]
    if storage.get_profile(profile_id) is None:
        raise not_found("data profile", profile_id)
    return profile_id


def population(
    storage: Storage,
    *,
    dataset: str,
    metric: str,
    proxies: Sequence[str] | None,
    profile_id: int | None,
    seed: int,
) -> Population:
    """The population that correlations are computed over (``proxies``: default all with
    scores on the profile). Accuracies of one architecture are averaged."""
    accuracy = storage.mean_accuracies(dataset, metric)
    profile_id = _scored_profile(storage, profile_id)
    names = list(proxies) if proxies else storage.proxies_with_scores(profile_id)
    versions = proxy_versions(names)
    ids = sorted(accuracy)
    table, _ = _score_table(storage, ids, profile_id, seed, versions)
    has_score = np.array(
        [any(not np.isnan(col[i]) for col in table.values()) for i in range(len(ids))], dtype=bool
    )
    ids = [a for a, keep in zip(ids, has_score, strict=True) if keep]
    return Population(
        profile_id=profile_id,
        architecture_ids=ids,
        truth=np.array([accuracy[a] for a in ids], dtype=float),
        table={k: v[has_score] for k, v in table.items()},
    )


def _ensemble_methods(ensemble_methods: Sequence[str] | None) -> list[str]:
    methods = list(ensemble_methods) if ensemble_methods is not None else ensembles.names()
    known = ", ".join(ensembles.names())
    for i, method in enumerate(methods):
        if method not in ensembles.names():
            field = f"ensembles[{i}]"
            message = f"{field}: unknown ensemble {method!r}; known: {known}"
            raise ApiError(422, "unknown_ensemble", message, field)
    return methods


def _columns(found: Population, methods: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """(name, kind, one value per architecture) for every proxy, then every ensemble (only
    with two or more proxies)."""
    columns = [(name, "proxy", values) for name, values in found.table.items()]
    if len(found.table) > 1 and found.architecture_ids:
        columns += [(m, "ensemble", ensembles.get(m)(found.table)) for m in methods]
    return columns


def _correlation_row(
    name: str, kind: str, values: np.ndarray, truth: np.ndarray, n_resamples: int
) -> CorrelationRow:
    report = metrics.correlation_report(values, truth, n_resamples=n_resamples, seed=0).to_dict()
    report.pop("confidence")
    return CorrelationRow(name=name, kind=kind, **report)


def correlations(
    storage: Storage,
    *,
    dataset: str,
    metric: str,
    proxies: Sequence[str] | None,
    ensemble_methods: Sequence[str] | None,
    profile_id: int | None,
    seed: int,
    n_resamples: int,
) -> CorrelationsOut:
    """Rank correlation of every proxy and ensemble with the reported accuracies, over the
    architectures that have both (accuracies of one architecture are averaged)."""
    found = population(
        storage, dataset=dataset, metric=metric, proxies=proxies, profile_id=profile_id, seed=seed
    )
    methods = _ensemble_methods(ensemble_methods)
    rows = [
        _correlation_row(name, kind, values, found.truth, n_resamples)
        for name, kind, values in _columns(found, methods)
    ]
    predictor = storage.latest_predictor(
        dataset=dataset, metric=metric, data_profile_id=found.profile_id, seed=seed
    )
    if predictor is not None and predictor.oof:
        # Out-of-fold predictions only: each made by a model that never saw that architecture.
        oof = [predictor.oof.get(a) for a in found.architecture_ids]
        values = np.array([math.nan if v is None else v for v in oof], dtype=float)
        rows.append(_correlation_row("learned", "learned", values, found.truth, n_resamples))
    return CorrelationsOut(
        dataset=dataset,
        metric=metric,
        data_profile_id=found.profile_id,
        seed=seed,
        n_architectures=len(found.architecture_ids),
        rows=rows,
    )
