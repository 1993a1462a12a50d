"""Stored scores and accuracies, filtered and paginated."""

from __future__ import annotations

from dataclasses import asdict

from ..db.storage import Storage
from ..schemas import AccuracyList, AccuracyOut, ScoreList, ScoreOut


def list_scores(
    storage: Storage,
    *,
    architecture_id: int | None = None,
    proxy: str | None = None,
    profile_id: int | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> ScoreList:
    """The scores matching the filters (``count``: how many match in all)."""
    records, count = storage.list_scores(
        architecture_id=architecture_id,
        proxy=proxy,
        data_profile_id=profile_id,
        limit=limit,
        offset=offset,
    )
    return ScoreList(data=[ScoreOut(**asdict(r)) for r in records], count=count)


def list_accuracies(
    storage: Storage,
    *,
    architecture_id: int | None = None,
    dataset: str | None = None,
    metric: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> AccuracyList:
    """The accuracies matching the filters (``count``: how many match in all)."""
    records, count = storage.list_accuracies(
        architecture_id=architecture_id, dataset=dataset, metric=metric, limit=limit, offset=offset
    )
    return AccuracyList(data=[AccuracyOut(**asdict(r)) for r in records], count=count)
