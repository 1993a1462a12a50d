"""Path and query parameters declared alike across routes: ids, seeds and offsets within
the ranges of ``app.fields``, the renamed parameters (``data_profile_id``, ``init_seed``)
with their deprecated old names (``profile_id``, ``seed``; see ``app.renames``), and the
population that /v1/correlations and the /v1/plots figures analyse."""

from typing import Annotated

from fastapi import Depends, Path, Query

from zero_cost.repeats import ONCE, Repeats

from .. import services
from ..errors import InvalidRequest
from ..fields import MAX_ID, MAX_INT64
from ..renames import deprecation_note
from ..schemas import MAX_REPEATS
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


def _one_of(new: str, value: int | None, old: str, old_value: int | None) -> int | None:
    if value is not None and old_value is not None:
        message = f"{old}: {deprecation_note(new)}; give {new} only"
        raise InvalidRequest("renamed_parameter", message, old)
    return old_value if value is None else value


def _data_profile_id(
    data_profile_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="the data profile; default: the server's default"),
    ] = None,
    profile_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, deprecated=True, description=deprecation_note("data_profile_id")),
    ] = None,
) -> int | None:
    return _one_of("data_profile_id", data_profile_id, "profile_id", profile_id)


def _init_seed(
    init_seed: Annotated[
        int | None,
        Query(
            ge=0, le=MAX_INT64, description="the seed the networks were initialised with; default 0"
        ),
    ] = None,
    seed: Annotated[
        int | None,
        Query(ge=0, le=MAX_INT64, deprecated=True, description=deprecation_note("init_seed")),
    ] = None,
) -> int:
    chosen = _one_of("init_seed", init_seed, "seed", seed)
    return 0 if chosen is None else chosen


DataProfileIdDep = Annotated[int | None, Depends(_data_profile_id)]
"""``data_profile_id`` (or its deprecated name ``profile_id``); None when neither is given."""
InitSeedDep = Annotated[int, Depends(_init_seed)]
"""``init_seed`` (or its deprecated name ``seed``); 0 when neither is given."""


def _repeats(
    repeat_init_seeds: Annotated[
        int,
        Query(ge=1, le=MAX_REPEATS, description="scores repeated over so many init seeds"),
    ] = 1,
    repeat_batches: Annotated[
        int, Query(ge=1, le=MAX_REPEATS, description="scores repeated over so many batches")
    ] = 1,
) -> Repeats:
    return Repeats(repeat_init_seeds, repeat_batches)


RepeatsDep = Annotated[Repeats, Depends(_repeats)]
"""Which scores to read: ``repeat_init_seeds`` x ``repeat_batches`` (default 1 x 1, single
scores; the ``repeats`` of the score job that made them)."""


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
    data_profile_id: DataProfileIdDep = None,
    init_seed: InitSeedDep = 0,
    repeats: RepeatsDep = ONCE,
) -> PopulationQuery:
    return PopulationQuery(
        dataset=dataset,
        metric=metric,
        proxies=split_names(proxies),
        ensembles=split_names(ensembles),
        profile_id=services.analysis_profile(storage, settings, data_profile_id),
        seed=init_seed,
        repeats=repeats,
    )


def _bootstrap(bootstrap: Bootstrap = 1000) -> int:
    return bootstrap


PopulationQueryDep = Annotated[PopulationQuery, Depends(_population_query)]
"""The population an analysis is over, from the query parameters above, its profile
chosen (``services.analysis_profile``)."""
BootstrapDep = Annotated[int, Depends(_bootstrap)]
"""``bootstrap``, declared after the population's parameters (as a dependency, so that the
OpenAPI document lists it after them)."""
