"""Stored architectures, scores and accuracies: one architecture with all of them, and
lists filtered and paginated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from ..db.records import ScoreRecord
from ..db.storage import Storage
from ..errors import NotFound
from ..schemas import (
    AccuracyList,
    AccuracyOut,
    ArchitectureDetail,
    ArchitectureList,
    RepeatCounts,
    ScoreList,
    ScoreOut,
)
from .architectures import architecture_out


def list_architectures(
    storage: Storage,
    *,
    space: str | None = None,
    canonical_key: str | None = None,
    has_accuracy: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ArchitectureList:
    """Architectures by id, of a space, of a function class, with or without an accuracy."""
    records, count = storage.list_architectures(
        space=space,
        canonical_key=canonical_key,
        has_accuracy=has_accuracy,
        limit=limit,
        offset=offset,
    )
    data = [architecture_out(r) for r in records]
    return ArchitectureList(data=data, count=count, limit=limit, offset=offset)


def list_scores(
    storage: Storage,
    *,
    architecture_ids: Sequence[int] | None = None,
    proxy: str | None = None,
    profile_id: int | None = None,
    repeat_init_seeds: int | None = None,
    repeat_batches: int | None = None,
    job_id: int | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> ScoreList:
    """The scores matching every filter; ``job_id``: the scores that job asked for."""
    records, count = storage.list_scores(
        architecture_ids=architecture_ids,
        proxy=proxy,
        data_profile_id=profile_id,
        repeat_init_seeds=repeat_init_seeds,
        repeat_batches=repeat_batches,
        job_id=job_id,
        limit=limit,
        offset=offset,
    )
    data = [score_out(r) for r in records]
    return ScoreList(data=data, count=count, limit=limit, offset=offset)


def score_out(record: ScoreRecord) -> ScoreOut:
    """A stored score as the API answers it (its ``seed`` column is the ``init_seed``)."""
    values = asdict(record)
    del values["repeat_init_seeds"], values["repeat_batches"]
    return ScoreOut(
        init_seed=values.pop("seed"),
        repeats=RepeatCounts.of(record.repeats),
        k=record.repeats.k,
        **values,
    )


def list_accuracies(
    storage: Storage,
    *,
    architecture_id: int | None = None,
    dataset: str | None = None,
    metric: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> AccuracyList:
    """The accuracies matching every filter."""
    records, count = storage.list_accuracies(
        architecture_id=architecture_id, dataset=dataset, metric=metric, limit=limit, offset=offset
    )
    data = [AccuracyOut(**asdict(r)) for r in records]
    return AccuracyList(data=data, count=count, limit=limit, offset=offset)


def architecture_detail(storage: Storage, architecture_id: int) -> ArchitectureDetail:
    record = storage.get_architectures([architecture_id]).get(architecture_id)
    if record is None:
        raise NotFound("architecture", architecture_id)
    return ArchitectureDetail(
        **architecture_out(record).model_dump(exclude={"created"}),
        scores=list_scores(storage, architecture_ids=[architecture_id], limit=10_000).data,
        accuracies=list_accuracies(storage, architecture_id=architecture_id, limit=10_000).data,
    )
