"""What the dashboard shows: the queue, the workers, recent score and prune jobs and, for a
dataset and data profile, the correlations and the top architectures."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from zero_cost import ensemble as ensembles

from ..config import Settings
from ..db.records import JobSummary, ProfileRecord, PruneRecord
from ..db.statuses import ItemStatus
from ..db.storage import Storage
from ..errors import InvalidRequest, ServiceError
from ..profiles import describe
from ..schemas import CorrelationsOut
from .correlations import correlations
from .data_profiles import analysis_profile
from .figures import TopArchitecture, top_architectures
from .population import RECOMMENDED, PopulationQuery

RECENT_JOBS = 10
"""Score jobs and prune jobs the dashboard lists, the newest first."""


@dataclass(frozen=True)
class PruneJobRow:
    """A prune job as the dashboard lists it; the achieved sparsity and the number of
    collapsed layers once it succeeded."""

    id: int
    architecture_id: int
    method: str
    target: str  # as requested, e.g. "sparsity 0.9"
    achieved_sparsity: float | None
    collapsed: int | None
    status: str
    created_at: datetime | None


def _prune_row(record: PruneRecord) -> PruneJobRow:
    layers = record.layers
    kept = None if layers is None else sum(x.kept for x in layers)
    total = None if layers is None else sum(x.total for x in layers)
    config = record.config
    return PruneJobRow(
        id=record.id,
        architecture_id=config.architecture_id,
        method=config.method,
        target=f"{config.target_kind} {config.target:g}",
        achieved_sparsity=None if not total else 1 - kept / total,
        collapsed=None if layers is None else sum(x.kept == 0 for x in layers),
        status=record.status,
        created_at=record.created_at,
    )


@dataclass
class DashboardView:
    """The dashboard's values. ``error`` is the analysis's refusal of the selection (shown
    on the page with its status); the rest is shown whatever the selection."""

    queue: dict[str, int]
    workers: list[dict]
    jobs: list[JobSummary]
    prune_jobs: list[PruneJobRow]
    datasets: list[tuple[str, str, int]]
    profiles: list[tuple[int, str, int]]
    dataset: str | None
    metric: str
    profile_id: int | None
    scale: str
    seed: int
    proxies: list[str]
    names: list[str]
    name: str | None
    correlations: CorrelationsOut | None = None
    n_ranked: int = 0
    top: list[TopArchitecture] = field(default_factory=list)
    error: ServiceError | None = None


def _profile_label(profile: ProfileRecord | None, profile_id: int) -> str:
    return f"#{profile_id}" + (
        "" if profile is None else f" {describe(profile.source, profile.config)}"
    )


def dashboard(
    storage: Storage,
    settings: Settings,
    *,
    dataset: str | None,
    metric: str | None,
    profile_id: int | None,
    name: str | None,
    scale: str,
    seed: int,
    n_resamples: int,
    top: int = 20,
) -> DashboardView:
    """Everything the dashboard shows, for a dataset and data profile (defaults: the most
    reported dataset and the profile with the most scores)."""
    depth = storage.queue_depth()
    datasets = storage.accuracy_datasets()
    counts = storage.score_counts_by_profile()
    if dataset is None and datasets:
        dataset, metric = datasets[0][0], metric or datasets[0][1]
    metric = metric or "test_accuracy"
    if profile_id is None and counts:
        profile_id = max(counts, key=lambda pid: (counts[pid], pid))
    proxies = storage.proxies_with_scores(profile_id) if profile_id else []
    view = DashboardView(
        queue={status: depth.get(status, 0) for status in ItemStatus},
        workers=[
            {**w, "alive": w["seconds_since_heartbeat"] < settings.lease_seconds}
            for w in storage.workers()
        ],
        jobs=storage.list_jobs(limit=RECENT_JOBS)[0],
        prune_jobs=[_prune_row(r) for r in storage.list_prune_jobs(limit=RECENT_JOBS)[0]],
        datasets=datasets,
        profiles=[
            (pid, _profile_label(storage.get_profile(pid, blob=False), pid), count)
            for pid, count in counts.items()
        ],
        dataset=dataset,
        metric=metric,
        profile_id=profile_id,
        scale=scale,
        seed=seed,
        proxies=proxies,
        names=proxies + (ensembles.names() if len(proxies) > 1 else []),
        name=name or ("log_rank" if len(proxies) > 1 else next(iter(proxies), None)),
    )
    if dataset is None or profile_id is None:
        return view
    try:
        analysis_profile(storage, settings, profile_id)  # a profile that does not exist: 404
        query = PopulationQuery(dataset=dataset, metric=metric, profile_id=profile_id, seed=seed)
        view.correlations = correlations(storage, query, n_resamples)
        if any(row.name == RECOMMENDED for row in view.correlations.rows):
            view.names.append(RECOMMENDED)
        if view.name not in view.names:
            known = ", ".join(view.names)
            message = f"name: no scores of {view.name!r} on this profile; choose one of {known}"
            raise InvalidRequest("unknown_name", message, "name")
        _, view.n_ranked, view.top = top_architectures(
            storage, profile_id=profile_id, seed=seed, dataset=dataset, metric=metric, limit=top
        )
    except ServiceError as error:
        view.error = error
    return view
