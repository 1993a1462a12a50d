"""What the figures and the dashboard show: a proxy's or ensemble's score column,
precision@k curves, the top architectures of a profile and the dashboard's view."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zero_cost import ensemble as ensembles
from zero_cost import metrics
from zero_cost import proxies as proxy_registry

from ..api.errors import ApiError
from ..api.schemas import CorrelationRow
from ..config import Settings
from ..db.models import ITEM_STATUSES
from ..db.storage import ProfileRecord, Storage
from .data_profiles import proxy_versions
from .population import (
    _columns,
    _correlation_row,
    _ensemble,
    _ensemble_methods,
    _score_table,
    correlations,
    population,
)


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


def score_column(
    storage: Storage,
    *,
    dataset: str,
    metric: str,
    name: str,
    proxies: Sequence[str] | None,
    profile_id: int | None,
    seed: int,
) -> ScoreColumn:
    """The values a scatter plot shows: a proxy's scores (over the architectures it scored)
    or an ensemble of ``proxies`` (default all with scores), as ``correlations`` sees them."""
    if name in ensembles.names():
        kind, wanted = "ensemble", proxies
    elif name in proxy_registry.names():
        kind, wanted = "proxy", [name]
    else:
        message = (
            f"name: {name!r} is neither a proxy ({', '.join(proxy_registry.names())}) "
            f"nor an ensemble ({', '.join(ensembles.names())})"
        )
        raise ApiError(422, "unknown_name", message, "name")
    found = population(
        storage, dataset=dataset, metric=metric, proxies=wanted, profile_id=profile_id, seed=seed
    )
    if kind == "ensemble" and len(found.table) < 2:
        message = f"name: the ensemble {name!r} needs scores of two or more proxies"
        raise ApiError(422, "ensemble_needs_proxies", message, "name")
    columns = {n: values for n, _, values in _columns(found, [name] if kind == "ensemble" else [])}
    values = columns.get(name, np.full(len(found.architecture_ids), np.nan))
    return ScoreColumn(
        name=name,
        kind=kind,
        log_values=kind == "proxy" and proxy_registry.get(name).log_scale,
        values=values,
        truth=found.truth,
        profile_id=found.profile_id,
        row=_correlation_row(name, kind, values, found.truth, n_resamples=0),
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
    storage: Storage,
    *,
    dataset: str,
    metric: str,
    proxies: Sequence[str] | None,
    ensemble_methods: Sequence[str] | None,
    profile_id: int | None,
    seed: int,
    fractions: Sequence[float] = PRECISION_FRACTIONS,
) -> PrecisionCurves:
    """Precision@k of every proxy and ensemble at each top fraction (NaN when undefined)."""
    found = population(
        storage, dataset=dataset, metric=metric, proxies=proxies, profile_id=profile_id, seed=seed
    )
    methods = _ensemble_methods(ensemble_methods)
    curves = [
        (name, kind, [metrics.precision_at_k(values, found.truth, f) for f in fractions])
        for name, kind, values in _columns(found, methods)
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
    table, _ = _score_table(storage, ids, profile_id, seed, proxy_versions(names))
    scored = ~np.isnan(np.column_stack(list(table.values()))).all(axis=1)
    ids = [a for a, keep in zip(ids, scored, strict=True) if keep]
    if not ids:
        return names, 0, []
    combined = _ensemble(method, {k: v[scored] for k, v in table.items()})
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


def _profile_label(profile: ProfileRecord | None, profile_id: int) -> str:
    if profile is None:
        return f"#{profile_id}"
    config = profile.config
    parts = [profile.source]
    if config.get("file"):
        parts.append(str(config["file"]))
    if config.get("batch_size"):
        parts.append(f"batch {config['batch_size']}")
    if config.get("seed"):
        parts.append(f"seed {config['seed']}")
    return f"#{profile_id} " + ", ".join(parts)


def dashboard(
    storage: Storage,
    settings: Settings,
    *,
    dataset: str | None,
    metric: str | None,
    profile_id: int | None,
    name: str | None,
    scale: str,
    seed: int,
    n_resamples: int,
    top: int = 20,
) -> tuple[int, dict]:
    """Everything the dashboard shows, for a dataset and data profile (defaults: the most
    reported dataset and the profile with the most scores). Returns the HTTP status (an
    ``ApiError`` of the analysis is shown on the page with its status) and the values."""
    depth = storage.queue_depth()
    view: dict = {
        "queue": {status: depth.get(status, 0) for status in ITEM_STATUSES},
        "workers": [
            {**w, "alive": w["seconds_since_heartbeat"] < settings.lease_seconds}
            for w in storage.workers()
        ],
        "jobs": storage.recent_jobs(10),
        "datasets": storage.accuracy_datasets(),
        "correlations": None,
        "top": [],
        "error": None,
    }
    counts = storage.score_counts_by_profile()
    view["profiles"] = [
        (pid, _profile_label(storage.get_profile(pid), pid), count) for pid, count in counts.items()
    ]
    if dataset is None and view["datasets"]:
        dataset, metric = view["datasets"][0][0], metric or view["datasets"][0][1]
    metric = metric or "test_accuracy"
    if profile_id is None and counts:
        profile_id = max(counts, key=lambda pid: (counts[pid], pid))
    view.update(dataset=dataset, metric=metric, profile_id=profile_id, scale=scale, seed=seed)
    view["proxies"] = storage.proxies_with_scores(profile_id) if profile_id else []
    view["names"] = view["proxies"] + (ensembles.names() if len(view["proxies"]) > 1 else [])
    view["name"] = name or (
        "log_rank" if len(view["proxies"]) > 1 else next(iter(view["proxies"]), None)
    )
    if dataset is None or profile_id is None:
        return 200, view
    try:
        view["correlations"] = correlations(
            storage,
            dataset=dataset,
            metric=metric,
            proxies=None,
            ensemble_methods=None,
            profile_id=profile_id,
            seed=seed,
            n_resamples=n_resamples,
        )
        if view["name"] not in view["names"]:
            known = ", ".join(view["names"])
            message = f"name: no scores of {view['name']!r} on this profile; choose one of {known}"
            raise ApiError(422, "unknown_name", message, "name")
        _, view["n_ranked"], view["top"] = top_architectures(
            storage, profile_id=profile_id, seed=seed, dataset=dataset, metric=metric, limit=top
        )
    except ApiError as error:
        view["error"] = error.message
        return error.status, view
    return 200, view
