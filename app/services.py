"""What the API does, between validated requests and storage: the routes stay thin.

Every function takes the storage and settings it needs and returns API schemas, raising
``ApiError`` with the field at fault for requests it cannot serve.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zero_cost import ensemble as ensembles
from zero_cost import metrics, spaces
from zero_cost import predictor as predictor_module
from zero_cost import proxies as proxy_registry

from . import learned
from .api.errors import ApiError, not_found
from .api.schemas import (
    AccuracyBatchOut,
    AccuracyIn,
    AccuracyOut,
    ArchitectureDetail,
    ArchitectureIn,
    ArchitectureOut,
    CorrelationRow,
    CorrelationsOut,
    DataProfileOut,
    ItemError,
    LearningCurvePoint,
    PredictorIn,
    PredictorList,
    PredictorOut,
    RankedCandidate,
    RankIn,
    RankOut,
    ScoreJobIn,
    ScoreJobOut,
    ScoreOut,
)
from .config import Settings
from .db.models import ITEM_STATUSES
from .db.storage import (
    AccuracyRecord,
    ArchitectureRecord,
    JobRecord,
    KeyedJob,
    NewArchitecture,
    PredictorConfig,
    PredictorRecord,
    ProfileRecord,
    Storage,
)
from .profiles import (
    DataConfig,
    ProfileError,
    UploadedData,
    UploadSettings,
    check_available,
    load_batch,
    profile_key,
)
from .queue import TrainedPredictor

# -- architectures ---------------------------------------------------------------------------


def _space(name: str, settings: dict[str, int], field: str) -> tuple[spaces.SearchSpace, str]:
    """The configured space and the canonical JSON of its full settings (defaults filled)."""
    try:
        space = spaces.get(name, **settings)
    except KeyError as error:
        raise ApiError(422, "unknown_space", str(error.args[0]), f"{field}.space") from None
    except spaces.SpecError as error:
        raise ApiError(422, "invalid_settings", str(error), f"{field}.settings") from None
    parameters = inspect.signature(type(space).__init__).parameters.values()
    full = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY} | settings
    return space, json.dumps(full, sort_keys=True, separators=(",", ":"))


def _new_architecture(item: ArchitectureIn, field: str) -> NewArchitecture:
    space, settings = _space(item.space, item.settings, field)
    try:
        arch = space.parse(item.spec)
        params, flops = space.param_count(arch), space.flops(arch)
    except spaces.SpecError as error:
        raise ApiError(422, "invalid_spec", f"{field}.spec: {error}", f"{field}.spec") from None
    return NewArchitecture(
        space=item.space,
        settings=settings,
        canonical_key=space.canonical_key(arch),
        spec=json.dumps(space.to_spec(arch), separators=(",", ":")),
        is_degenerate=bool(arch.is_degenerate),
        params=params,
        flops=flops,
    )


def _architecture_out(record: ArchitectureRecord, created: bool | None = None) -> ArchitectureOut:
    return ArchitectureOut(
        id=record.id,
        space=record.space,
        settings=json.loads(record.settings),
        canonical_key=record.canonical_key,
        is_degenerate=record.is_degenerate,
        params=record.params,
        flops=record.flops,
        spec=json.loads(record.spec),
        created=created,
    )


def check_batch_size(count: int, settings: Settings, field: str) -> None:
    if count > settings.max_batch_items:
        raise ApiError(
            413,
            "batch_too_large",
            f"{field}: {count} items; at most {settings.max_batch_items} per request",
            field,
        )


def register_architectures(
    storage: Storage, settings: Settings, items: Sequence[ArchitectureIn], field: str = "items"
) -> list[ArchitectureOut]:
    """Validate and store architectures; each result says whether it was new."""
    check_batch_size(len(items), settings, field)
    new = [_new_architecture(item, f"{field}[{i}]") for i, item in enumerate(items)]
    results = storage.add_architectures(new)
    return [
        ArchitectureOut(
            id=architecture_id,
            space=n.space,
            settings=json.loads(n.settings),
            canonical_key=n.canonical_key,
            is_degenerate=n.is_degenerate,
            params=n.params,
            flops=n.flops,
            spec=json.loads(n.spec),
            created=created,
        )
        for n, (architecture_id, created) in zip(new, results, strict=True)
    ]


def resolve_architectures(
    storage: Storage, settings: Settings, refs: Sequence[int | ArchitectureIn], field: str
) -> list[int]:
    """Architecture ids for references that are ids (must exist) or specs (stored if new)."""
    check_batch_size(len(refs), settings, field)
    specs = [(i, ref) for i, ref in enumerate(refs) if isinstance(ref, ArchitectureIn)]
    ids: list[int | None] = [ref if isinstance(ref, int) else None for ref in refs]
    if specs:
        new = [_new_architecture(ref, f"{field}[{i}]") for i, ref in specs]
        for (i, _), (architecture_id, _) in zip(specs, storage.add_architectures(new), strict=True):
            ids[i] = architecture_id
    given = [(i, ref) for i, ref in enumerate(refs) if isinstance(ref, int)]
    if given:
        found = storage.get_architectures(ref for _, ref in given)
        for i, ref in given:
            if ref not in found:
                raise ApiError(
                    422,
                    "unknown_architecture",
                    f"{field}[{i}]: no architecture {ref}",
                    f"{field}[{i}]",
                )
    return [int(i) for i in ids if i is not None]


def architecture_detail(storage: Storage, architecture_id: int) -> ArchitectureDetail:
    record = storage.get_architectures([architecture_id]).get(architecture_id)
    if record is None:
        raise not_found("architecture", architecture_id)
    scores, _ = storage.list_scores(architecture_id=architecture_id, limit=10_000)
    accuracies, _ = storage.list_accuracies(architecture_id=architecture_id, limit=10_000)
    return ArchitectureDetail(
        **_architecture_out(record).model_dump(exclude={"created"}),
        scores=[ScoreOut(**s.__dict__) for s in scores],
        accuracies=[AccuracyOut(**a.__dict__) for a in accuracies],
    )


# -- profiles and proxies ----------------------------------------------------------------------


def resolve_profile(storage: Storage, settings: Settings, config: DataConfig) -> ProfileRecord:
    """The stored profile for a job's ``data`` (created if new)."""
    if isinstance(config, UploadedData):
        profile = storage.get_profile(config.profile_id)
        if profile is None or profile.source != "uploaded":
            raise ApiError(
                422,
                "unknown_profile",
                f"data.profile_id: no uploaded profile {config.profile_id}",
                "data.profile_id",
            )
        return profile
    values = config.model_dump(exclude={"source"})
    try:
        check_available(config.source, values, settings.data_dir)
    except ProfileError as error:
        raise ApiError(422, "data_unavailable", f"data: {error}", "data") from None
    return storage.get_or_create_profile(profile_key(config.source, values), config.source, values)


def upload_profile(
    storage: Storage, settings: Settings, blob: bytes, options: UploadSettings
) -> DataProfileOut:
    """Store an uploaded .npz batch source after checking that it yields a batch."""
    if len(blob) > settings.max_upload_bytes:
        raise ApiError(
            413,
            "upload_too_large",
            f"file: {len(blob)} bytes; at most {settings.max_upload_bytes}",
            "file",
        )
    config = options.model_dump()
    try:
        load_batch("uploaded", config, blob, settings.data_dir)
    except ProfileError as error:
        raise ApiError(422, "invalid_upload", f"file: {error}", "file") from None
    profile = storage.get_or_create_profile(
        profile_key("uploaded", config, blob), "uploaded", config, blob
    )
    return profile_out(profile)


def profile_out(profile: ProfileRecord) -> DataProfileOut:
    return DataProfileOut(
        id=profile.id, key=profile.key, source=profile.source, config=profile.config
    )


def proxy_versions(names: Sequence[str], field: str = "proxies") -> list[tuple[str, str]]:
    """(name, version) of each requested proxy, in order, without repeats."""
    versions: dict[str, str] = {}
    for i, name in enumerate(names):  # i indexes the request's list, repeats included
        if name in versions:
            continue
        try:
            versions[name] = proxy_registry.get(name).version
        except KeyError as error:
            raise ApiError(422, "unknown_proxy", str(error.args[0]), f"{field}[{i}]") from None
    return list(versions.items())


# -- jobs ----------------------------------------------------------------------------------------


def job_out(record: JobRecord) -> ScoreJobOut:
    return ScoreJobOut(
        id=record.id,
        status=record.status,
        proxies=record.proxies,
        data_profile_id=record.data_profile_id,
        init_seed=record.init_seed,
        total=sum(record.counts.values()),
        counts=record.counts,
        errors=[ItemError(**error) for error in record.errors],
    )


IDEMPOTENCY_HEADER = "Idempotency-Key"


def request_hash(body: ScoreJobIn) -> str:
    """SHA-256 (hex) of the validated request as canonical JSON (sorted keys, defaults
    filled in): a retry that spells the same request differently (key order, whitespace, an
    omitted default) is the same request; any other value is another request."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_same_request(job: KeyedJob, digest: str, key: str) -> None:
    if job.request_hash != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            f"{IDEMPOTENCY_HEADER}: {key!r} was used for another request (job {job.id}); "
            "use a new key for a new request",
            IDEMPOTENCY_HEADER,
        )


def submit_score_job(
    storage: Storage, settings: Settings, body: ScoreJobIn, idempotency_key: str | None = None
) -> tuple[ScoreJobOut, bool]:
    """Create a job; the job and whether it is a replay (a job made earlier with the key).

    With ``idempotency_key``, a retry of the same request gets the job the first attempt
    made, in its current state, however often and concurrently it is retried; the key with
    another request is refused (422 ``idempotency_key_reused``).
    """
    if idempotency_key is None:
        return create_score_job(storage, settings, body), False
    digest = request_hash(body)
    # A replay is answered without redoing the work; a race between first attempts is
    # settled by the unique index in ``create_job_once``, not by this look-up.
    known = storage.job_for_key(idempotency_key)
    if known is None:
        versions = proxy_versions(body.proxies)
        ids = resolve_architectures(storage, settings, body.architectures, "architectures")
        profile = resolve_profile(storage, settings, body.data)
        known = storage.create_job_once(
            ids, versions, profile.id, body.init_seed, idempotency_key, digest
        )
    _check_same_request(known, digest, idempotency_key)
    return job_out(storage.get_job(known.id)), not known.created


def create_score_job(storage: Storage, settings: Settings, body: ScoreJobIn) -> ScoreJobOut:
    """A new job for the request (no idempotency key)."""
    versions = proxy_versions(body.proxies)
    ids = resolve_architectures(storage, settings, body.architectures, "architectures")
    profile = resolve_profile(storage, settings, body.data)
    job_id = storage.create_job(ids, versions, profile.id, body.init_seed)
    return job_out(storage.get_job(job_id))


def get_score_job(storage: Storage, job_id: int) -> ScoreJobOut:
    record = storage.get_job(job_id)
    if record is None:
        raise not_found("score job", job_id)
    return job_out(record)


def cancel_score_job(storage: Storage, job_id: int) -> ScoreJobOut:
    if not storage.cancel_job(job_id):
        raise not_found("score job", job_id)
    return get_score_job(storage, job_id)


# -- accuracies ----------------------------------------------------------------------------------


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


# -- scores as a population ----------------------------------------------------------------------


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


# -- learned predictors --------------------------------------------------------------------------


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


def create_predictor(storage: Storage, body: PredictorIn) -> PredictorOut:
    """Queue the training of a predictor (the next version of its configuration); a worker
    trains it from the scores and accuracies stored when it starts."""
    profile_id = _scored_profile(storage, body.profile_id)
    names = body.proxies or storage.proxies_with_scores(profile_id)
    if not names:
        message = f"proxies: data profile {profile_id} has no scores to learn from"
        raise ApiError(422, "proxies_required", message, "proxies")
    versions = proxy_versions(names)
    if body.features == "proxies+encoding":
        try:
            predictor_module.encoding_names(body.space)
        except KeyError as error:
            raise ApiError(422, "unknown_space", str(error.args[0]), "space") from None
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
    return predictor_out(storage.get_predictor(storage.create_predictor(config)))


def get_predictor(storage: Storage, predictor_id: int) -> PredictorOut:
    record = storage.get_predictor(predictor_id)
    if record is None:
        raise not_found("predictor", predictor_id)
    return predictor_out(record)


def list_predictors(
    storage: Storage, dataset: str | None, metric: str | None, limit: int
) -> PredictorList:
    records = storage.list_predictors(dataset=dataset, metric=metric, limit=limit)
    return PredictorList(data=[predictor_out(r) for r in records])


def train_predictor(storage: Storage, predictor_id: int) -> TrainedPredictor:
    """Train a stored predictor on the architectures of its space that have an accuracy and
    a score on its profile (the worker calls this, then stores the result).

    Raises:
        ApiError, ValueError: nothing to train on (the predictor is then failed).
    """
    record = storage.get_predictor(predictor_id)
    config = record.config
    n_reported = storage.labelled_count(config.dataset, config.metric)
    found = population(
        storage,
        dataset=config.dataset,
        metric=config.metric,
        proxies=config.proxies,
        profile_id=config.data_profile_id,
        seed=config.seed,
    )
    architectures = storage.get_architectures(found.architecture_ids)
    keep = np.array(
        [architectures[a].space == config.space for a in found.architecture_ids], dtype=bool
    )
    ids = [a for a, k in zip(found.architecture_ids, keep, strict=True) if k]
    specs = [json.loads(architectures[a].spec) for a in ids]
    table = {name: values[keep] for name, values in found.table.items()}
    x = learned.features(config.features, config.space, table, specs)
    return learned.train(x, found.truth[keep], ids, config.min_labels, n_reported)


def _retrain_if_due(storage: Storage, threshold: int, dataset: str, metric: str) -> None:
    """Queue a new version of the latest predictor for (dataset, metric) once ``threshold``
    architectures got their first accuracy since it was trained (ZC_PREDICTOR_RETRAIN_LABELS)."""
    latest = storage.latest_predictor(dataset=dataset, metric=metric)
    if latest is None or latest.n_reported is None or storage.pending_predictor(latest.config):
        return
    if storage.labelled_count(dataset, metric) - latest.n_reported >= threshold:
        storage.create_predictor(latest.config)


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


# -- figures and the dashboard -------------------------------------------------------------------


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
