"""Liveness, readiness and Prometheus metrics."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, HistogramMetricFamily

from ...db import migrations
from ...db.session import DatabaseUnavailable
from ...db.statuses import PruneStatus
from ...db.storage import SCORE_SECONDS_BUCKETS, Storage
from ..deps import StorageDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, storage: StorageDep) -> JSONResponse:
    """The database answers and its schema is at the code's migration head."""
    try:
        storage.ping()
        current = migrations.current_revision(storage.engine)
    except DatabaseUnavailable as error:
        body = {"status": "unavailable", "database": f"unreachable: {error}"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    head = request.app.state.migration_head
    if current != head:
        body = {
            "status": "unavailable",
            "database": "ok",
            "migrations": f"at {current}, code expects {head}: run 'zero-cost db upgrade'",
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "migrations": current})


class _StorageCollector:
    """Reads the queue's state from the database at scrape time (workers may be elsewhere)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def collect(self) -> object:
        depth = GaugeMetricFamily("zc_job_items", "Job items by status", labels=["status"])
        for status, count in sorted(self.storage.queue_depth().items()):
            depth.add_metric([status], count)
        yield depth
        jobs = GaugeMetricFamily("zc_jobs", "Score jobs by status", labels=["status"])
        for status, count in sorted(self.storage.jobs_by_status().items()):
            jobs.add_metric([status], count)
        yield jobs
        prune_counts = self.storage.prune_jobs_by_status()
        prune_jobs = GaugeMetricFamily("zc_prune_jobs", "Prune jobs by status", labels=["status"])
        for status in PruneStatus:
            prune_jobs.add_metric([status], prune_counts.get(status, 0))
        yield prune_jobs
        heartbeat = GaugeMetricFamily(
            "zc_worker_seconds_since_heartbeat",
            "Seconds since a worker's heartbeat",
            labels=["worker"],
        )
        for worker in self.storage.workers():
            heartbeat.add_metric([worker["id"]], worker["seconds_since_heartbeat"])
        yield heartbeat
        counts, total, total_seconds = self.storage.score_seconds_histogram()
        histogram = HistogramMetricFamily("zc_scoring_seconds", "Seconds per computed score")
        buckets = [(str(b), c) for b, c in zip(SCORE_SECONDS_BUCKETS, counts, strict=True)]
        histogram.add_metric([], buckets + [("+Inf", total)], total_seconds)
        yield histogram
        scores = GaugeMetricFamily("zc_scores_computed", "Scores stored")
        scores.add_metric([], total)
        yield scores


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus_metrics(storage: StorageDep) -> Response:
    """Prometheus text format: queue depth, score and prune jobs by status, scores, worker
    heartbeats."""
    registry = CollectorRegistry()
    registry.register(_StorageCollector(storage))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
