"""/v1/rank: the NAS-loop primitive: order candidates best-first."""

from fastapi import APIRouter

from ... import services
from ...schemas import RankIn, RankOut
from ..deps import MayWrite, SettingsDep, StorageDep

router = APIRouter(prefix="/v1/rank", tags=["rank"])


@router.post("", response_model=RankOut)
def rank_candidates(
    body: RankIn, storage: StorageDep, settings: SettingsDep, may_write: MayWrite
) -> RankOut:
    """Candidates ordered by the ensemble of their scores; unscored ones are queued and, with
    `wait`, waited for (bounded by ZC_RANK_WAIT_SECONDS). A read-only key ranks stored
    architectures (by id) that have their scores; anything it would have to store or score
    is a 403 that says what."""
    return services.rank(storage, settings, body, may_write)
