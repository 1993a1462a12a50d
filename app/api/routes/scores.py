"""/v1/scores: stored scores, filtered and paginated, as JSON or CSV."""

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ... import services
from ...schemas import ScoreList, ScoreOut
from ..deps import ReadAccess, StorageDep
from ..params import IdQuery, Offset

router = APIRouter(prefix="/v1/scores", tags=["scores"])


@router.get("", response_model=ScoreList, dependencies=[ReadAccess])
def list_scores(
    storage: StorageDep,
    architecture_id: IdQuery = None,
    proxy: str | None = None,
    profile_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> ScoreList | Response:
    """Scores matching the filters; `format=csv` for a spreadsheet."""
    scores = services.list_scores(
        storage,
        architecture_id=architecture_id,
        proxy=proxy,
        profile_id=profile_id,
        limit=limit,
        offset=offset,
    )
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(ScoreOut.model_fields))
        writer.writeheader()
        writer.writerows(item.model_dump() for item in scores.data)
        return Response(
            out.getvalue(), media_type="text/csv", headers={"X-Total-Count": str(scores.count)}
        )
    return scores
