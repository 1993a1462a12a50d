"""/v1/scores: stored scores, filtered and paginated, as JSON or CSV."""

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import Field

from ... import services
from ...fields import MAX_ID
from ...schemas import ScoreList, ScoreOut
from ..deps import ReadAccess, StorageDep
from ..params import DataProfileIdDep, IdQuery, Offset

router = APIRouter(prefix="/v1/scores", tags=["scores"])


CSV_RESPONSE: dict = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "the scores; with `format=csv`, as CSV (total in `X-Total-Count`)",
    }
}


@router.get("", response_model=ScoreList, dependencies=[ReadAccess], responses=CSV_RESPONSE)
def list_scores(
    storage: StorageDep,
    architecture_id: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(description="repeat for several: ?architecture_id=6&architecture_id=7"),
    ] = None,
    proxy: str | None = None,
    data_profile_id: DataProfileIdDep = None,
    job_id: Annotated[IdQuery, Query(description="the scores this job asked for")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> ScoreList | Response:
    """Scores matching every filter; `format=csv` for a spreadsheet."""
    scores = services.list_scores(
        storage,
        architecture_ids=architecture_id,
        proxy=proxy,
        profile_id=data_profile_id,
        job_id=job_id,
        limit=limit,
        offset=offset,
    )
    if format == "csv":
        out = io.StringIO()
        columns = [*ScoreOut.model_fields, *ScoreOut.model_computed_fields]
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(item.model_dump() for item in scores.data)
        return Response(
            out.getvalue(), media_type="text/csv", headers={"X-Total-Count": str(scores.count)}
        )
    return scores
