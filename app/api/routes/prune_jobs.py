"""/v1/prune-jobs: pruning at initialisation as jobs, run by the workers; the masks served
as safetensors."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ... import services
from ...db.statuses import PruneStatus
from ...schemas import PruneJobIn, PruneJobList, PruneJobOut
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..params import IdPath, IdQuery, Limit, Offset

router = APIRouter(prefix="/v1/prune-jobs", tags=["prune jobs"])

SAFETENSORS_RESPONSE: dict = {
    200: {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "description": "the masks as safetensors: one bool tensor per Conv2d/Linear weight, "
        "keyed by its qualified name (zero_cost.prune.load_masks reads it)",
        "headers": {
            "Content-Disposition": {
                "description": "attachment, with a file name",
                "schema": {"type": "string"},
            }
        },
    }
}


@router.post(
    "",
    response_model=PruneJobOut,
    status_code=202,
    dependencies=[WriteAccess],
    responses={
        202: {
            "description": "the job: new, or the one an equal earlier request made, in its "
            "current state (`created` false)",
            "headers": {"Location": {"description": "the job's URL", "schema": {"type": "string"}}},
        },
        422: {"description": "invalid request (unknown method, no target or two, ...)"},
    },
)
def create_prune_job(
    body: PruneJobIn, storage: StorageDep, settings: SettingsDep, response: Response
) -> PruneJobOut:
    """Queue pruning of an architecture at initialisation; a worker computes the masks.
    Poll GET /v1/prune-jobs/{id} (the `Location` header), then download the masks.

    **Deduplicated**: one job per architecture, method, target density (sparsity 0.9 and
    compression 10 are one target), scope, iterations, data profile, init seed and
    zero_cost version. An equal request answers that job, in its current state, with
    `created: false`; nothing is computed again."""
    job = services.create_prune_job(storage, settings, body)
    response.headers["Location"] = f"{router.prefix}/{job.id}"
    return job


@router.get("", response_model=PruneJobList, dependencies=[ReadAccess])
def list_prune_jobs(
    storage: StorageDep,
    status: Annotated[PruneStatus | None, Query()] = None,
    architecture_id: IdQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> PruneJobList:
    """Prune jobs, the newest first, of one status and architecture when given."""
    return services.list_prune_jobs(storage, status, architecture_id, limit, offset)


@router.get("/{job_id}", response_model=PruneJobOut, dependencies=[ReadAccess])
def get_prune_job(job_id: IdPath, storage: StorageDep) -> PruneJobOut:
    """Status, what it was computed on, per-layer kept fractions, sparsity achieved and the
    collapsed layers."""
    return services.get_prune_job(storage, job_id)


@router.get(
    "/{job_id}/masks",
    response_class=Response,
    responses=SAFETENSORS_RESPONSE,
    dependencies=[ReadAccess],
)
def get_prune_masks(job_id: IdPath, storage: StorageDep) -> Response:
    """The masks as a safetensors file; 409 until the job succeeded."""
    content, filename = services.prune_masks_file(storage, job_id)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
