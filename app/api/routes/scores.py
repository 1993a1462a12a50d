"""/v1/scores: stored scores, filtered and paginated, as JSON or CSV."""

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import Field

from ... import services
from ...fields import MAX_ID
from ...schemas import MAX_REPEATS, ScoreList, ScoreOut
from ..deps import ReadAccess, StorageDep
from ..params import DataProfileIdDep, IdQuery, Offset

router = APIRouter(prefix="/v1/scores", tags=["scores"])


CSV_RESPONSE: dict = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "the scores; with `format=csv`, as CSV (total in `X-Total-Count`)",
    }
}


CSV_COLUMNS = [
    "repeat_init_seeds" if name == "repeats" else name
    for name in [*ScoreOut.model_fields, *ScoreOut.model_computed_fields]
]
CSV_COLUMNS.insert(CSV_COLUMNS.index("repeat_init_seeds") + 1, "repeat_batches")
"""The columns of the CSV: the fields of ``ScoreOut``, ``repeats`` as two columns."""


def _csv_row(score: ScoreOut) -> dict:
    row = score.model_dump()
    repeats = row.pop("repeats")
    return row | {
        "repeat_init_seeds": repeats["init_seeds"],
        "repeat_batches": repeats["batches"],
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
    repeat_init_seeds: Annotated[
        int | None, Query(ge=1, le=MAX_REPEATS, description="scores over so many init seeds")
    ] = None,
    repeat_batches: Annotated[
        int | None, Query(ge=1, le=MAX_REPEATS, description="scores over so many batches")
    ] = None,
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
        repeat_init_seeds=repeat_init_seeds,
        repeat_batches=repeat_batches,
        job_id=job_id,
        limit=limit,
        offset=offset,
    )
    if format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_csv_row(item) for item in scores.data)
        return Response(
            out.getvalue(), media_type="text/csv", headers={"X-Total-Count": str(scores.count)}
        )
    return scores
