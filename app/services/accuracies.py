"""Reported accuracies: stored, and the latest predictor retrained once enough new
architectures have one."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Settings
from ..db import predictor_queue
from ..db.records import AccuracyRecord
from ..db.storage import Storage
from ..schemas import AccuracyBatchOut, AccuracyIn
from .architectures import resolve_architectures


def add_accuracies(
    storage: Storage, settings: Settings, items: Sequence[AccuracyIn]
) -> AccuracyBatchOut:
    ids = resolve_architectures(storage, settings, [i.architecture for i in items], "items")
    records = [
        AccuracyRecord(a, i.dataset, i.metric, i.value, i.epochs, i.source)
        for a, i in zip(ids, items, strict=True)
    ]
    created = storage.add_accuracies(records)
    if settings.predictor_retrain_labels and created:
        for dataset, metric in sorted({(i.dataset, i.metric) for i in items}):
            _retrain_if_due(storage, settings.predictor_retrain_labels, dataset, metric)
    return AccuracyBatchOut(created=created, architecture_ids=ids)


def _retrain_if_due(storage: Storage, threshold: int, dataset: str, metric: str) -> None:
    """Queue a new version of the latest predictor for (dataset, metric) once ``threshold``
    architectures got their first accuracy since it was trained (ZC_PREDICTOR_RETRAIN_LABELS)."""
    latest = storage.latest_predictor(dataset=dataset, metric=metric)
    if latest is None or latest.n_reported is None:
        return
    if predictor_queue.is_pending(storage.engine, latest.config):
        return
    if storage.labelled_count(dataset, metric) - latest.n_reported >= threshold:
        predictor_queue.create_predictor(storage.engine, latest.config)
