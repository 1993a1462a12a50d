"""/v1/accuracies: trained accuracies users report, the ground truth for correlations."""

from typing import Annotated

from fastapi import APIRouter, Query

from ... import services
from ...schemas import AccuracyBatchIn, AccuracyBatchOut, AccuracyList
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..params import IdQuery, Offset

router = APIRouter(prefix="/v1/accuracies", tags=["accuracies"])


@router.post("", response_model=AccuracyBatchOut, dependencies=[WriteAccess])
def add_accuracies(
    body: AccuracyBatchIn, storage: StorageDep, settings: SettingsDep
) -> AccuracyBatchOut:
    """Store accuracies (architecture by id or spec); an identical report is stored once."""
    return services.add_accuracies(storage, settings, body.items)


@router.get("", response_model=AccuracyList, dependencies=[ReadAccess])
def list_accuracies(
    storage: StorageDep,
    architecture_id: IdQuery = None,
    dataset: str | None = None,
    metric: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Offset = 0,
) -> AccuracyList:
    return services.list_accuracies(
        storage,
        architecture_id=architecture_id,
        dataset=dataset,
        metric=metric,
        limit=limit,
        offset=offset,
    )
