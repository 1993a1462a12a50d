"""/v1/architectures: submit specs (deduplicated by canonical key) and read them back."""

from fastapi import APIRouter

from ... import services
from ...schemas import (
    ArchitectureBatchIn,
    ArchitectureBatchOut,
    ArchitectureDetail,
    ArchitectureSubmission,
)
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..params import IdPath

router = APIRouter(prefix="/v1/architectures", tags=["architectures"])


@router.post("", response_model=ArchitectureBatchOut, dependencies=[WriteAccess])
def submit_architectures(
    body: ArchitectureSubmission, storage: StorageDep, settings: SettingsDep
) -> ArchitectureBatchOut:
    """Validate and store one spec or a batch (`items`); idempotent."""
    items = body.items if isinstance(body, ArchitectureBatchIn) else [body]
    results = services.register_architectures(storage, settings, items)
    # a spec repeated in the batch (or an isomorphic one) is one new architecture
    created = len({r.id for r in results if r.created})
    return ArchitectureBatchOut(items=results, created=created)


@router.get("/{architecture_id}", response_model=ArchitectureDetail, dependencies=[ReadAccess])
def get_architecture(architecture_id: IdPath, storage: StorageDep) -> ArchitectureDetail:
    """An architecture with its scores and accuracies."""
    return services.architecture_detail(storage, architecture_id)
