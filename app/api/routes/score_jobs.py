"""/v1/score-jobs: queue architectures for scoring, follow and cancel jobs."""

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from ... import services
from ...db.statuses import JobStatus
from ...schemas import ScoreJobIn, ScoreJobList, ScoreJobOut
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..params import IdPath, Limit, Offset

router = APIRouter(prefix="/v1/score-jobs", tags=["score jobs"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=services.IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description="any unique string (a UUID4) per request, 1-255 printable ASCII "
        "characters; send it again with a retry of the same request",
    ),
]


@router.post(
    "",
    response_model=ScoreJobOut,
    status_code=202,
    dependencies=[WriteAccess],
    responses={
        202: {
            "description": "the job (a replay: the job an earlier request with the same "
            "Idempotency-Key created, in its current state)",
            "headers": {
                "Idempotent-Replayed": {
                    "description": "'true' when the job was created by an earlier request",
                    "schema": {"type": "string"},
                },
                "Location": {
                    "description": "the job's URL",
                    "schema": {"type": "string"},
                },
            },
        },
        422: {"description": "invalid request, or the Idempotency-Key reused for another one"},
    },
)
def create_score_job(
    body: ScoreJobIn,
    storage: StorageDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ScoreJobOut:
    """Queue a job; scores already stored are reused, so a job may be complete at once.

    **Safe retries**: send an `Idempotency-Key` header (e.g. a UUID4) and send the same key
    again when retrying a request whose answer was lost. The first request creates the job
    and stores the key with it; a repeat with the same body (sequential or concurrent)
    creates nothing and answers the same job, 202 again, with `Idempotent-Replayed: true`.
    The key with a different body answers 422 `idempotency_key_reused` (field
    `Idempotency-Key`). Bodies are compared after validation, so key order, whitespace and
    omitted defaults do not matter. A key stays bound to its job for good.
    """
    job, replayed = services.submit_score_job(storage, settings, body, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"{router.prefix}/{job.id}"
    return job


@router.get("", response_model=ScoreJobList, dependencies=[ReadAccess])
def list_score_jobs(
    storage: StorageDep,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ScoreJobList:
    """Score jobs, the newest first, of one status when given."""
    return services.list_score_jobs(storage, status, limit, offset)


@router.get("/{job_id}", response_model=ScoreJobOut, dependencies=[ReadAccess])
def get_score_job(job_id: IdPath, storage: StorageDep) -> ScoreJobOut:
    """Status, progress counts and per-item errors."""
    return services.get_score_job(storage, job_id)


@router.delete("/{job_id}", response_model=ScoreJobOut, dependencies=[WriteAccess])
def cancel_score_job(job_id: IdPath, storage: StorageDep) -> ScoreJobOut:
    """Cancel: queued items are dropped, items being scored finish."""
    return services.cancel_score_job(storage, job_id)
