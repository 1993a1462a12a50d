"""Learned predictors: queued for training, trained by the worker, read back."""

from __future__ import annotations

import json

import numpy as np

from zero_cost import predictor as predictor_module

from ..config import Settings
from ..db import predictor_queue
from ..db.records import PredictorConfig, PredictorRecord, TrainedPredictor
from ..db.storage import Storage
from ..errors import InvalidRequest, NotFound
from ..schemas import LearningCurvePoint, PredictorIn, PredictorList, PredictorOut
from . import predictor_training
from .data_profiles import analysis_profile
from .population import PopulationQuery, population
from .proxy_versions import proxy_versions


def predictor_out(record: PredictorRecord) -> PredictorOut:
    """A predictor as the API shows it: never its model bytes or out-of-fold predictions."""
    config = record.config
    return PredictorOut(
        id=record.id,
        version=record.version,
        status=record.status,
        error=record.error,
        dataset=config.dataset,
        metric=config.metric,
        data_profile_id=config.data_profile_id,
        init_seed=config.seed,
        space=config.space,
        proxies=list(config.proxies),
        features=config.features,
        min_labels=config.min_labels,
        n_labels=record.n_labels,
        mode=record.mode,
        fallback_reason=record.fallback_reason,
        metrics=record.metrics,
        learning_curve=(
            None
            if record.learning_curve is None
            else [LearningCurvePoint(**point) for point in record.learning_curve]
        ),
        created_at=record.created_at,
    )


def create_predictor(storage: Storage, settings: Settings, body: PredictorIn) -> PredictorOut:
    """Queue the training of a predictor (the next version of its configuration); a worker
    trains it from the scores and accuracies stored when it starts."""
    profile_id = analysis_profile(storage, settings, body.data_profile_id)
    names = body.proxies or storage.proxies_with_scores(profile_id)
    if not names:
        message = f"proxies: data profile {profile_id} has no scores to learn from"
        raise InvalidRequest("proxies_required", message, "proxies")
    versions = proxy_versions(names)
    if body.features == "proxies+encoding":
        try:
            predictor_module.encoding_names(body.space)
        except KeyError as error:
            raise InvalidRequest("unknown_space", str(error.args[0]), "space") from None
    config = PredictorConfig(
        dataset=body.dataset,
        metric=body.metric,
        data_profile_id=profile_id,
        seed=body.init_seed,
        space=body.space,
        proxies=tuple(sorted(name for name, _ in versions)),
        features=body.features,
        min_labels=body.min_labels,
    )
    predictor_id = predictor_queue.create_predictor(storage.engine, config)
    return predictor_out(storage.get_predictor(predictor_id))


def get_predictor(storage: Storage, predictor_id: int) -> PredictorOut:
    record = storage.get_predictor(predictor_id)
    if record is None:
        raise NotFound("predictor", predictor_id)
    return predictor_out(record)


def list_predictors(
    storage: Storage, dataset: str | None, metric: str | None, limit: int, offset: int = 0
) -> PredictorList:
    """Predictors of a dataset and metric, the newest first."""
    records, count = storage.list_predictors(
        dataset=dataset, metric=metric, limit=limit, offset=offset
    )
    data = [predictor_out(r) for r in records]
    return PredictorList(data=data, count=count, limit=limit, offset=offset)


def train_predictor(storage: Storage, predictor_id: int) -> TrainedPredictor:
    """Train a stored predictor on the architectures of its space that have an accuracy and
    a score on its profile (the worker calls this, then stores the result).

    Raises:
        InvalidRequest, ValueError: nothing to train on (the predictor is then failed).
    """
    record = storage.get_predictor(predictor_id)
    config = record.config
    n_reported = storage.labelled_count(config.dataset, config.metric)
    query = PopulationQuery(
        dataset=config.dataset,
        metric=config.metric,
        proxies=config.proxies,
        profile_id=config.data_profile_id,
        seed=config.seed,
    )
    found = population(storage, query)
    architectures = storage.get_architectures(found.architecture_ids)
    keep = np.array(
        [architectures[a].space == config.space for a in found.architecture_ids], dtype=bool
    )
    ids = [a for a, k in zip(found.architecture_ids, keep, strict=True) if k]
    specs = [json.loads(architectures[a].spec) for a in ids]
    table = {name: values[keep] for name, values in found.table.items()}
    x = predictor_training.features(config.features, config.space, table, specs)
    return predictor_training.train(x, found.truth[keep], ids, config.min_labels, n_reported)


def predictor_note(record: PredictorRecord) -> str:
    """Which predictor ranks, in words, and whether it is in fallback mode."""
    name = f"predictor {record.id} (version {record.version}, {record.n_labels} labels)"
    if record.mode == "fallback":
        return f"{name} is in fallback mode: {record.fallback_reason}"
    return f"ranked by learned {name}"
