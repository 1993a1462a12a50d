"""/v1/correlations: how well each proxy and ensemble ranks the reported accuracies."""

from typing import Annotated

from fastapi import APIRouter, Query

from ... import services
from ..deps import ReadAccess, StorageDep
from ..schemas import CorrelationsOut

router = APIRouter(prefix="/v1/correlations", tags=["correlations"])


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


@router.get("", response_model=CorrelationsOut, dependencies=[ReadAccess])
def get_correlations(
    storage: StorageDep,
    dataset: Annotated[str, Query(min_length=1, max_length=64)],
    metric: Annotated[str, Query(min_length=1, max_length=64)] = "test_accuracy",
    proxies: Annotated[str | None, Query(description="comma-separated; default: all")] = None,
    ensembles: Annotated[str | None, Query(description="comma-separated; default: all")] = None,
    profile_id: int | None = None,
    seed: Annotated[int, Query(ge=0)] = 0,
    bootstrap: Annotated[int, Query(ge=0, le=10_000, description="resamples for CIs")] = 1000,
) -> CorrelationsOut:
    """Spearman, Kendall tau-b, Pearson, pairwise agreement and precision@k with bootstrap
    95% CIs over the architectures with both a score and an accuracy."""
    return services.correlations(
        storage,
        dataset=dataset,
        metric=metric,
        proxies=_names(proxies),
        ensemble_methods=_names(ensembles),
        profile_id=profile_id,
        seed=seed,
        n_resamples=bootstrap,
    )
