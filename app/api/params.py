"""Path and query parameters declared alike across routes: ids, seeds and offsets within
the ranges of ``app.fields``, and the population that /v1/correlations and the /v1/plots
figures analyse."""

from typing import Annotated

from fastapi import Depends, Path, Query

from .. import services
from ..fields import MAX_ID, MAX_INT64
from ..services import PopulationQuery
from .deps import SettingsDep, StorageDep

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT64)]
Limit = Annotated[int, Query(ge=1, le=1000)]

Dataset = Annotated[str, Query(min_length=1, max_length=64)]
Metric = Annotated[str, Query(min_length=1, max_length=64)]
Names = Annotated[str | None, Query(description="comma-separated; default: all")]
Seed = Annotated[int, Query(ge=0, le=MAX_INT64)]
Bootstrap = Annotated[int, Query(ge=0, le=10_000, description="resamples for CIs")]


def split_names(value: str | None) -> list[str] | None:
    """The names of a comma-separated ``Names`` parameter; None (all) when it is absent."""
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def _population_query(
    storage: StorageDep,
    settings: SettingsDep,
    dataset: Dataset,
    metric: Metric = "test_accuracy",
    proxies: Names = None,
    ensembles: Names = None,
    profile_id: IdQuery = None,
    seed: Seed = 0,
) -> PopulationQuery:
    return PopulationQuery(
        dataset=dataset,
        metric=metric,
        proxies=split_names(proxies),
        ensembles=split_names(ensembles),
        profile_id=services.analysis_profile(storage, settings, profile_id),
        seed=seed,
    )


def _bootstrap(bootstrap: Bootstrap = 1000) -> int:
    return bootstrap


PopulationQueryDep = Annotated[PopulationQuery, Depends(_population_query)]
"""The population an analysis is over, from the six query parameters above, its profile
chosen (``services.analysis_profile``)."""
BootstrapDep = Annotated[int, Depends(_bootstrap)]
"""``bootstrap``, declared after the population's parameters (as a dependency, so that the
OpenAPI document lists it after them)."""
