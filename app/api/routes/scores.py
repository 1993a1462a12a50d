"""/v1/scores: stored scores, filtered and paginated, as JSON or CSV."""

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..deps import ReadAccess, StorageDep
from ..schemas import ScoreList, ScoreOut

router = APIRouter(prefix="/v1/scores", tags=["scores"])


@router.get("", response_model=ScoreList, dependencies=[ReadAccess])
def list_scores(
    storage: StorageDep,
    architecture_id: int | None = None,
    proxy: str | None = None,
    profile_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
    format: Literal["json", "csv"] = "json",
) -> ScoreList | Response:
    """Scores matching the filters; `format=csv` for a spreadsheet."""
    records, count = storage.list_scores(
        architecture_id=architecture_id,
        proxy=proxy,
        data_profile_id=profile_id,
        limit=limit,
        offset=offset,
    )
    data = [ScoreOut(**r.__dict__) for r in records]
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(ScoreOut.model_fields))
        writer.writeheader()
        writer.writerows(item.model_dump() for item in data)
        return Response(
            out.getvalue(), media_type="text/csv", headers={"X-Total-Count": str(count)}
        )
    return ScoreList(data=data, count=count)
