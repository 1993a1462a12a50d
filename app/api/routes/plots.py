"""/v1/plots: the correlation analysis and pruning at initialisation as figures (SVG or
PNG), drawn by ``app.plots``."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from zero_cost.repeats import ONCE

from ... import plots, services
from ...fields import MAX_ID, MAX_INT64
from ...services.prune_figures import MAX_FIGURE_JOBS
from ..deps import ReadAccess, SettingsDep, StorageDep
from ..params import (
    BootstrapDep,
    DataProfileIdDep,
    Dataset,
    InitSeedDep,
    Metric,
    PopulationQueryDep,
    RepeatsDep,
    split_names,
)

router = APIRouter(prefix="/v1/plots", tags=["plots"])

IMAGE_RESPONSES: dict = {
    200: {
        "content": {media: {} for media in plots.MEDIA_TYPES.values()},
        "description": "the figure",
    }
}

FigureFormat = Annotated[Literal["svg", "png"], Query(alias="format")]


def _figure_format(fmt: FigureFormat = "svg") -> str:
    return fmt


FigureFormatDep = Annotated[str, Depends(_figure_format)]
"""``format``, declared after the population's parameters (see ``BootstrapDep``)."""


def _image(content: bytes, fmt: str) -> Response:
    # Figures follow the data as scores and accuracies arrive: never reuse a stored copy.
    return Response(
        content, media_type=plots.MEDIA_TYPES[fmt], headers={"Cache-Control": "no-cache"}
    )


@router.get(
    "/scatter", response_class=Response, responses=IMAGE_RESPONSES, dependencies=[ReadAccess]
)
def scatter_plot(
    storage: StorageDep,
    settings: SettingsDep,
    dataset: Dataset,
    name: Annotated[str, Query(min_length=1, max_length=64, description="proxy or ensemble")],
    metric: Metric = "test_accuracy",
    proxies: Annotated[str | None, Query(description="an ensemble's proxies; default: all")] = None,
    data_profile_id: DataProfileIdDep = None,
    init_seed: InitSeedDep = 0,
    repeats: RepeatsDep = ONCE,
    scale: Literal["value", "rank"] = "value",
    fmt: FigureFormat = "svg",
) -> Response:
    """A proxy's or ensemble's score per architecture against its accuracy, with Spearman's
    rho and Kendall's tau-b in the title; `scale=rank` plots score ranks, `value` the scores
    (on a log axis when they span decades, as synflow's do)."""
    query = services.PopulationQuery(
        dataset=dataset,
        metric=metric,
        proxies=split_names(proxies),
        profile_id=services.analysis_profile(storage, settings, data_profile_id),
        seed=init_seed,
        repeats=repeats,
    )
    column = services.score_column(storage, query, name)
    figure = plots.scatter(
        column.values,
        column.truth,
        name=name,
        accuracy_label=f"{dataset} {metric}",
        spearman=column.row.spearman,
        kendall=column.row.kendall_tau_b,
        scale=scale,
        log_values=column.log_values,
        fmt=fmt,
    )
    return _image(figure, fmt)


@router.get(
    "/correlations", response_class=Response, responses=IMAGE_RESPONSES, dependencies=[ReadAccess]
)
def correlations_plot(
    storage: StorageDep,
    query: PopulationQueryDep,
    bootstrap: BootstrapDep,
    fmt: FigureFormatDep,
) -> Response:
    """Spearman's rho and Kendall's tau-b with bootstrap 95% CIs for every proxy and
    ensemble: the numbers of GET /v1/correlations as bars."""
    report = services.correlations(storage, query, n_resamples=bootstrap)
    title = (
        f"{query.dataset} {query.metric}: {report.n_architectures} architectures, "
        f"profile {report.data_profile_id}"
    )
    rows = [row.model_dump() for row in report.rows]
    return _image(plots.correlation_bars(rows, title=title, fmt=fmt), fmt)


@router.get(
    "/precision", response_class=Response, responses=IMAGE_RESPONSES, dependencies=[ReadAccess]
)
def precision_plot(
    storage: StorageDep, query: PopulationQueryDep, fmt: FigureFormatDep
) -> Response:
    """Precision@k curves: the share of the true top k% that each proxy and ensemble puts
    in its own top k%, from 1% to 50%, against a random ordering."""
    found = services.precision_curves(storage, query)
    title = (
        f"precision@k, {query.dataset} {query.metric}: {found.n_architectures} architectures, "
        f"profile {found.profile_id}"
    )
    figure = plots.precision_curves(found.fractions, found.curves, title=title, fmt=fmt)
    return _image(figure, fmt)


@router.get(
    "/prune-layers", response_class=Response, responses=IMAGE_RESPONSES, dependencies=[ReadAccess]
)
def prune_layers_plot(
    storage: StorageDep,
    job_ids: Annotated[
        str,
        Query(
            min_length=1,
            max_length=400,
            description=f"comma-separated ids of succeeded prune jobs, at most {MAX_FIGURE_JOBS}",
        ),
    ],
    fmt: FigureFormat = "svg",
) -> Response:
    """The kept fraction of each layer's weights (log axis) against the layer, one line per
    prune job; a collapsed layer (no weight kept) is marked at the bottom. 409 while a job
    has not succeeded."""
    figure = services.prune_layers_figure(storage, services.job_id_list(job_ids), fmt)
    return _image(figure, fmt)


@router.get(
    "/prune-compression",
    response_class=Response,
    responses=IMAGE_RESPONSES,
    dependencies=[ReadAccess],
)
def prune_compression_plot(
    storage: StorageDep,
    architecture_id: Annotated[int, Query(ge=1, le=MAX_ID, description="the architecture")],
    data_profile_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="only jobs on this profile; default all")
    ] = None,
    init_seed: Annotated[
        int | None, Query(ge=0, le=MAX_INT64, description="only jobs of this seed; default all")
    ] = None,
    fmt: FigureFormat = "svg",
) -> Response:
    """Layer collapse (Tanaka et al. 2020, Fig. 1): the smallest kept fraction of a layer
    against the compression achieved, over the architecture's succeeded prune jobs, one line
    per method, scope and iterations; where a method first empties a layer is marked."""
    figure = services.prune_compression_figure(
        storage, architecture_id, data_profile_id, init_seed, fmt
    )
    return _image(figure, fmt)
