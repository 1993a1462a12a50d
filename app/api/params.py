"""Query parameters that GET /v1/correlations and the /v1/plots figures declare alike."""

from typing import Annotated

from fastapi import Query

Dataset = Annotated[str, Query(min_length=1, max_length=64)]
Metric = Annotated[str, Query(min_length=1, max_length=64)]
Names = Annotated[str | None, Query(description="comma-separated; default: all")]
Seed = Annotated[int, Query(ge=0)]
Bootstrap = Annotated[int, Query(ge=0, le=10_000, description="resamples for CIs")]


def split_names(value: str | None) -> list[str] | None:
    """The names of a comma-separated ``Names`` parameter; None (all) when it is absent."""
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]
