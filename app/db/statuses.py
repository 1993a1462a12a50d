"""The statuses of the queue, as ``StrEnum``s, and a job's status, derived from its items.

The values are what the database holds (a CHECK constraint on each column, see
``app.db.models``) and what the API shows. Only the queues (``app.db.queue`` for job items,
``app.db.predictor_queue`` for predictors, ``app.db.prune_queue`` for prune jobs) move one
from a status to another.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ItemStatus(StrEnum):
    """A job item: queued -> running -> succeeded | failed | cancelled (running -> queued
    on a retryable error or a graceful release)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_ITEM_STATUSES = frozenset({ItemStatus.SUCCEEDED, ItemStatus.FAILED, ItemStatus.CANCELLED})


class JobStatus(StrEnum):
    """A score job, derived from its items (see ``job_status``); never stored."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class PredictorStatus(StrEnum):
    """A predictor's training: queued -> running -> succeeded | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PruneStatus(StrEnum):
    """A prune job: queued -> running -> succeeded | failed (running -> queued on a
    retryable error or a graceful release)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def job_status(counts: Mapping[str, int], cancelled: bool) -> JobStatus:
    """A job's status from its item counts by status and whether it was cancelled:
    cancelled; queued until an item started; running while any is queued or running;
    failed when every item failed; else succeeded."""
    if cancelled:
        return JobStatus.CANCELLED
    pending = counts.get(ItemStatus.QUEUED, 0) + counts.get(ItemStatus.RUNNING, 0)
    if pending:
        finished = sum(counts.get(status, 0) for status in FINISHED_ITEM_STATUSES)
        started = counts.get(ItemStatus.RUNNING, 0) + finished
        return JobStatus.RUNNING if started else JobStatus.QUEUED
    total = sum(counts.values())
    failed = counts.get(ItemStatus.FAILED, 0)
    return JobStatus.FAILED if total and failed == total else JobStatus.SUCCEEDED
