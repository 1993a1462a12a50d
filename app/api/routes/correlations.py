"""/v1/correlations: how well each proxy and ensemble ranks the reported accuracies."""

from fastapi import APIRouter

from ... import services
from ..deps import ReadAccess, StorageDep
from ..params import Bootstrap, Dataset, Metric, Names, Seed, split_names
from ..schemas import CorrelationsOut

router = APIRouter(prefix="/v1/correlations", tags=["correlations"])


@router.get("", response_model=CorrelationsOut, dependencies=[ReadAccess])
def get_correlations(
    storage: StorageDep,
    dataset: Dataset,
    metric: Metric = "test_accuracy",
    proxies: Names = None,
    ensembles: Names = None,
    profile_id: int | None = None,
    seed: Seed = 0,
    bootstrap: Bootstrap = 1000,
) -> CorrelationsOut:
    """Spearman, Kendall tau-b, Pearson, pairwise agreement and precision@k with bootstrap
    95% CIs over the architectures with both a score and an accuracy."""
    return services.correlations(
        storage,
        dataset=dataset,
        metric=metric,
        proxies=split_names(proxies),
        ensemble_methods=split_names(ensembles),
        profile_id=profile_id,
        seed=seed,
        n_resamples=bootstrap,
    )
