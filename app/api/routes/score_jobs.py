"""/v1/score-jobs: queue architectures for scoring, follow and cancel jobs."""

from fastapi import APIRouter

from ... import services
from ..deps import ReadAccess, SettingsDep, StorageDep, WriteAccess
from ..schemas import ScoreJobIn, ScoreJobOut

router = APIRouter(prefix="/v1/score-jobs", tags=["score jobs"])


@router.post("", response_model=ScoreJobOut, status_code=202, dependencies=[WriteAccess])
def create_score_job(body: ScoreJobIn, storage: StorageDep, settings: SettingsDep) -> ScoreJobOut:
    """Queue a job; scores already stored are reused, so a job may be complete at once."""
    return services.create_score_job(storage, settings, body)


@router.get("/{job_id}", response_model=ScoreJobOut, dependencies=[ReadAccess])
def get_score_job(job_id: int, storage: StorageDep) -> ScoreJobOut:
    """Status, progress counts and per-item errors."""
    return services.get_score_job(storage, job_id)


@router.delete("/{job_id}", response_model=ScoreJobOut, dependencies=[WriteAccess])
def cancel_score_job(job_id: int, storage: StorageDep) -> ScoreJobOut:
    """Cancel: queued items are dropped, items being scored finish."""
    return services.cancel_score_job(storage, job_id)
