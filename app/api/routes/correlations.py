"""/v1/correlations: how well each proxy and ensemble ranks the reported accuracies."""

from fastapi import APIRouter

from ... import services
from ...schemas import CorrelationsOut
from ..deps import ReadAccess, StorageDep
from ..params import BootstrapDep, PopulationQueryDep

router = APIRouter(prefix="/v1/correlations", tags=["correlations"])


@router.get("", response_model=CorrelationsOut, dependencies=[ReadAccess])
def get_correlations(
    storage: StorageDep, query: PopulationQueryDep, bootstrap: BootstrapDep
) -> CorrelationsOut:
    """Spearman, Kendall tau-b, Pearson, pairwise agreement and precision@k with bootstrap
    95% CIs over the architectures with both a score and an accuracy, for each proxy, each
    ensemble, the recommended label-free ranker (when the architectures share a space and
    its proxies are scored) and the latest learned predictor."""
    return services.correlations(storage, query, n_resamples=bootstrap)
