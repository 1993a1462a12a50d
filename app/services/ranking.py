"""Ranking: candidates ordered best-first by an ensemble of their proxy scores or by a
learned predictor, scoring the ones not scored yet."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence

import numpy as np

from zero_cost import ensemble
from zero_cost.repeats import Repeats

from ..config import Settings
from ..db import queue
from ..db.records import PredictorRecord
from ..db.statuses import JobStatus
from ..db.storage import Storage
from ..errors import Forbidden, InvalidRequest
from ..profiles import describe
from ..schemas import RankedCandidate, RankIn, RankOut, SecondStage
from . import predictor_training
from .architectures import resolve_architectures
from .data_profiles import resolve_profile, stored_profile_id
from .device_memory import check_fits_device
from .population import LOG_OF_ZERO, score_table
from .predictors import predictor_note
from .proxy_versions import proxy_versions

PENDING = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


def rank(storage: Storage, settings: Settings, body: RankIn, may_write: bool = True) -> RankOut:
    """Candidates ordered best-first by the ranker of their proxy scores; the scores it
    still needs are queued (and, with ``wait``, waited for up to ``ZC_RANK_WAIT_SECONDS``):
    the first stage's of every candidate, then a second stage's of the first stage's best
    only (:func:`_scoring_needs`).

    A caller that may not write (a read-only key) can rank architectures by id on a data
    profile that exists, when every one has its scores; otherwise ``Forbidden`` says what
    would have to be written.
    """
    if body.proxies is not None:
        proxy_versions(body.proxies)  # unknown proxies: 422 before anything is stored
    if body.ensemble == "learned" and body.repeats.counts().k > 1:
        message = (
            "repeats: a learned predictor is trained on single scores and ranks on them; "
            "rank with an ensemble to rank on repeated scores"
        )
        raise InvalidRequest("repeats_unsupported", message, "repeats")
    if body.second_stage is not None:
        proxy_versions(body.second_stage.proxies, "second_stage.proxies")
        if body.ensemble == "learned":
            message = (
                "second_stage: a learned predictor ranks alone; rank with an ensemble to "
                "re-rank the best by a second stage"
            )
            raise InvalidRequest("second_stage_unsupported", message, "second_stage")
    if not may_write:
        _check_nothing_to_store(storage, settings, body)
    refs = resolve_architectures(storage, settings, body.architectures, "architectures")
    ids = list(dict.fromkeys(refs))
    chosen = _ranker(storage, body, ids)
    proxies, method = list(chosen.members), chosen.method
    versions = proxy_versions(proxies)
    repeats = body.repeats.counts()
    profile = resolve_profile(storage, settings, body.data)
    predictor = None
    if method == "learned":
        predictor = _rank_predictor(storage, body, profile.id, versions)
    # An ensemble ranks a log-scale value of 0 last; a predictor sees it as it was trained
    # (missing).
    log_of_zero = LOG_OF_ZERO if predictor is None else math.nan

    def needs() -> tuple[dict[str, np.ndarray], list[tuple[list[int], list[tuple[str, str]]]]]:
        return _scoring_needs(
            storage, ids, profile.id, body.init_seed, chosen, log_of_zero, repeats
        )

    table, missing = needs()
    if missing and not may_write:
        unscored, stage = missing[0]
        raise Forbidden(
            "read_only_key",
            f"architectures: {len(unscored)} of {len(ids)} have no stored scores of "
            f"{', '.join(name for name, _ in stage)} on data profile {profile.id} (e.g. "
            f"architecture {unscored[0]}); scoring them needs a key that may write",
            "architectures",
        )
    job_id = None
    queued: set[tuple[int, tuple[tuple[str, str], ...]]] = set()
    deadline = time.monotonic() + settings.rank_wait_seconds
    for _ in range(2):  # the first stage's scores, then the second stage's of the best
        # One stage a round: the second stage's top group is only known once the first
        # stage's scores are in (those this request queued and that are still missing failed).
        fresh, stage = [], []
        for architectures, stage in missing:
            fresh = [a for a in architectures if (a, tuple(stage)) not in queued]
            if fresh:
                break
        if not fresh:
            break
        fresh_set = set(fresh)
        fields = [(f"architectures[{i}]", a) for i, a in enumerate(refs) if a in fresh_set]
        check_fits_device(storage, settings, fields, profile)
        job_id = queue.create_job(storage.engine, fresh, stage, profile.id, body.init_seed, repeats)
        queued.update((a, tuple(stage)) for a in fresh)
        if not body.wait:
            break
        finished = _finished(storage, job_id, deadline)
        table, missing = needs()
        if not finished:
            break
    values = np.column_stack(list(table.values()))
    scored = ~np.isnan(values).all(axis=1)
    combined = np.full(len(ids), np.nan)
    if scored.any():
        columns = {k: v[scored] for k, v in table.items()}
        if predictor is None:
            combined[scored] = chosen.score(columns)
        else:
            scored_ids = [a for a, keep in zip(ids, scored, strict=True) if keep]
            combined[scored] = _predicted_scores(storage, predictor, scored_ids, columns)
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
        complete=not missing,
        job_id=job_id,
        proxy_versions=dict(versions),
        ensemble=method,
        second_stage=SecondStage.of(chosen.second_stage),
        data_profile_id=profile.id,
        data_profile=describe(profile.source, profile.config),
        init_seed=body.init_seed,
        repeats=body.repeats,
        ranking=ranking,
        predictor_id=None if predictor is None else predictor.id,
        note=None if predictor is None else predictor_note(predictor),
    )


def _finished(storage: Storage, job_id: int, deadline: float) -> bool:
    """Whether the job finished before ``deadline`` (``time.monotonic()``), waiting for it."""
    while storage.get_job(job_id, max_errors=0).status in PENDING:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _scoring_needs(
    storage: Storage,
    ids: Sequence[int],
    profile_id: int,
    seed: int,
    chosen: ensemble.Ranker,
    log_of_zero: float,
    repeats: Repeats,
) -> tuple[dict[str, np.ndarray], list[tuple[list[int], list[tuple[str, str]]]]]:
    """The stored scores of ``chosen``'s proxies (:func:`score_table`'s table, in the order
    of ``chosen.members``), and what ranking ``ids`` still needs scored, as (architectures,
    proxy versions): the first stage's proxies of every candidate, and the second stage's
    only of the first stage's best (its top group among the candidates with first-stage
    scores), so that the second stage costs a fraction of what it would for every
    candidate."""
    first_versions = proxy_versions(chosen.proxies)
    first, first_done = score_table(
        storage, ids, profile_id, seed, first_versions, log_of_zero, repeats
    )
    table = dict(first)
    missing = []
    unscored = [a for a, done in zip(ids, first_done, strict=True) if not done]
    if unscored:
        missing.append((unscored, first_versions))
    if chosen.second_stage is not None:
        second_versions = proxy_versions(chosen.second_stage.proxies)
        second, second_done = score_table(
            storage, ids, profile_id, seed, second_versions, log_of_zero, repeats
        )
        table |= second
        top = ensemble.top_group(chosen.first_stage(first), chosen.second_stage.fraction)
        best = [a for a, t, done in zip(ids, top, second_done, strict=True) if t and not done]
        if best:
            missing.append((best, second_versions))
    return table, missing


def _ranker(storage: Storage, body: RankIn, ids: Sequence[int]) -> ensemble.Ranker:
    """The ranker of ``body`` (``zero_cost.ensemble.ranker``); without proxies, the
    architectures must be of one space, whose recommended ranker is used (without its second
    stage when a learned predictor ranks)."""
    space = None
    if body.proxies is None:
        found = {record.space for record in storage.get_architectures(ids).values()}
        if len(found) > 1:
            message = (
                f"proxies: the architectures are of several spaces ({', '.join(sorted(found))}"
                "), which may recommend different rankers; name the proxies"
            )
            raise InvalidRequest("proxies_required", message, "proxies")
        space = found.pop()
    second_stage = None if body.second_stage is None else body.second_stage.stage()
    chosen = ensemble.ranker(body.proxies, body.ensemble, space, second_stage)
    if chosen.method == "learned":
        return ensemble.Ranker(chosen.proxies, chosen.method)
    return chosen


def _check_nothing_to_store(storage: Storage, settings: Settings, body: RankIn) -> None:
    """Refuse, naming the field, a rank that would store a spec or a data profile."""
    for i, candidate in enumerate(body.architectures):
        if not isinstance(candidate, int):
            raise Forbidden(
                "read_only_key",
                f"architectures[{i}]: a spec is stored before it is ranked, which needs a key "
                "that may write; a read-only key ranks stored architectures by id",
                f"architectures[{i}]",
            )
    if stored_profile_id(storage, settings, body.data) is None:
        raise Forbidden(
            "read_only_key",
            "data: this data profile is not stored yet (nothing was scored on it); storing "
            "and scoring it needs a key that may write",
            "data",
        )


def _rank_predictor(
    storage: Storage, body: RankIn, profile_id: int, versions: Sequence[tuple[str, str]]
) -> PredictorRecord:
    """The predictor ``ensemble='learned'`` ranks with."""
    if body.dataset is None:
        message = "dataset: required with ensemble 'learned' (the predictor's dataset)"
        raise InvalidRequest("dataset_required", message, "dataset")
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
        raise InvalidRequest("no_predictor", message, "dataset")
    return record


def _predicted_scores(
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
                f"architectures: architecture {a} is in space {architectures[a].space!r}; "
                f"predictor {record.id} encodes {config.space!r}"
            )
            raise InvalidRequest("space_mismatch", message, "architectures")
        specs.append(json.loads(architectures[a].spec))
    x = predictor_training.features(config.features, config.space, table, specs)
    database = storage.engine.url.render_as_string(hide_password=True)
    model = predictor_training.load(database, record.id, lambda: storage.predictor_model(record.id))
    return model.predict(x)
