"""/v1/architectures: submit specs (one record per architecture) and read them back."""

from typing import Annotated

from fastapi import APIRouter, Query

from ... import services
from ...schemas import (
    ArchitectureBatchIn,
    ArchitectureBatchOut,
    ArchitectureDetail,
    ArchitectureList,
    ArchitectureSubmission,
)
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..params import IdPath, Limit, Offset

router = APIRouter(prefix="/v1/architectures", tags=["architectures"])


@router.post("", response_model=ArchitectureBatchOut, dependencies=[WriteAccess])
def submit_architectures(
    body: ArchitectureSubmission, storage: StorageDep, settings: SettingsDep
) -> ArchitectureBatchOut:
    """Validate and store one spec or a batch (`items`); idempotent."""
    items = body.items if isinstance(body, ArchitectureBatchIn) else [body]
    results = services.register_architectures(storage, settings, items)
    # a spec repeated in the batch (or spelled another way) is one new architecture
    created = len({r.id for r in results if r.created})
    return ArchitectureBatchOut(items=results, created=created)


@router.get("", response_model=ArchitectureList, dependencies=[ReadAccess])
def list_architectures(
    storage: StorageDep,
    space: Annotated[str | None, Query(max_length=32)] = None,
    canonical_key: Annotated[
        str | None, Query(max_length=64, description="a function class")
    ] = None,
    has_accuracy: Annotated[
        bool | None, Query(description="with (true) or without (false) a reported accuracy")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ArchitectureList:
    """Stored architectures by id, filtered."""
    return services.list_architectures(
        storage,
        space=space,
        canonical_key=canonical_key,
        has_accuracy=has_accuracy,
        limit=limit,
        offset=offset,
    )


@router.get("/{architecture_id}", response_model=ArchitectureDetail, dependencies=[ReadAccess])
def get_architecture(architecture_id: IdPath, storage: StorageDep) -> ArchitectureDetail:
    """An architecture with its scores and accuracies."""
    return services.architecture_detail(storage, architecture_id)
