"""/v1/rank: the NAS-loop primitive: order candidates best-first."""

from fastapi import APIRouter

from ... import services
from ...schemas import RankIn, RankOut
from ..deps import SettingsDep, StorageDep, WriteAccess

router = APIRouter(prefix="/v1/rank", tags=["rank"])


@router.post("", response_model=RankOut, dependencies=[WriteAccess])
def rank_candidates(body: RankIn, storage: StorageDep, settings: SettingsDep) -> RankOut:
    """Candidates ordered by the ensemble of their scores; unscored ones are queued and, with
    `wait`, waited for (bounded by ZC_RANK_WAIT_SECONDS)."""
    return services.rank(storage, settings, body)
