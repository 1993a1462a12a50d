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
    """Candidates ordered by a ranker of their scores (without `proxies`, the recommended
    label-free ranker of their space: a first stage, its best re-ranked by a second; GET
    /v1/config) or by a learned predictor; unscored ones are queued and, with
    `wait`, waited for (bounded by ZC_RANK_WAIT_SECONDS). A read-only key ranks stored
    architectures (by id) that have their scores; anything it would have to store or score
    is a 403 that says what."""
    return services.rank(storage, settings, body, may_write)
