"""Score jobs: created (once per idempotency key), read and cancelled."""

from __future__ import annotations

import hashlib
import json

from zero_cost.repeats import Repeats

from ..config import Settings
from ..db import queue
from ..db.records import JobRecord, KeyedJob
from ..db.statuses import JobStatus
from ..db.storage import Storage
from ..errors import Conflict, InvalidRequest, NotFound
from ..schemas import ItemError, RepeatCounts, ScoreJobIn, ScoreJobList, ScoreJobOut
from .architectures import resolve_architectures
from .data_profiles import profile_description, resolve_profile
from .device_memory import check_fits_device
from .proxy_versions import proxy_versions


def job_out(storage: Storage, record: JobRecord) -> ScoreJobOut:
    return ScoreJobOut(
        id=record.id,
        status=record.status,
        proxies=record.proxies,
        data_profile_id=record.data_profile_id,
        data_profile=profile_description(storage, record.data_profile_id),
        init_seed=record.init_seed,
        repeats=RepeatCounts.of(record.repeats),
        total=sum(record.counts.values()),
        counts=record.counts,
        errors=[ItemError(**error) for error in record.errors],
    )


def list_score_jobs(
    storage: Storage, status: JobStatus | None, limit: int, offset: int
) -> ScoreJobList:
    """Score jobs, the newest first, of one status when given (item errors: see each job)."""
    records, count = storage.list_jobs(status=status, limit=limit, offset=offset)
    data = [job_out(storage, r) for r in records]
    return ScoreJobList(data=data, count=count, limit=limit, offset=offset)


IDEMPOTENCY_HEADER = "Idempotency-Key"


def request_hash(body: ScoreJobIn) -> str:
    """SHA-256 (hex) of the validated request as canonical JSON (sorted keys, defaults
    filled in): a retry that spells the same request differently (key order, whitespace, an
    omitted default) is the same request; any other value is another request."""
    request = body.model_dump(mode="json")
    if body.repeats == RepeatCounts():  # as before repeats existed: retries across the upgrade
        del request["repeats"]
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_same_request(job: KeyedJob, digest: str, key: str) -> None:
    if job.request_hash != digest:
        raise InvalidRequest(
            "idempotency_key_reused",
            f"{IDEMPOTENCY_HEADER}: {key!r} was used for another request (job {job.id}); "
            "use a new key for a new request",
            IDEMPOTENCY_HEADER,
        )


def submit_score_job(
    storage: Storage, settings: Settings, body: ScoreJobIn, idempotency_key: str | None = None
) -> tuple[ScoreJobOut, bool]:
    """Create a job; the job and whether it is a replay (a job made earlier with the key).

    With ``idempotency_key``, a retry of the same request gets the job the first attempt
    made, in its current state, however often and concurrently it is retried; the key with
    another request is refused (422 ``idempotency_key_reused``).
    """
    if idempotency_key is None:
        return create_score_job(storage, settings, body), False
    digest = request_hash(body)
    # A replay is answered without redoing the work; a race between first attempts is
    # settled by the unique index in ``queue.create_job_once``, not by this look-up.
    known = storage.job_for_key(idempotency_key)
    if known is None:
        *inputs, repeats = _job_inputs(storage, settings, body)
        known = queue.create_job_once(
            storage.engine, *inputs, idempotency_key, digest, repeats=repeats
        )
    _check_same_request(known, digest, idempotency_key)
    return job_out(storage, storage.get_job(known.id)), not known.created


def create_score_job(storage: Storage, settings: Settings, body: ScoreJobIn) -> ScoreJobOut:
    """A new job for the request (no idempotency key)."""
    job_id = queue.create_job(storage.engine, *_job_inputs(storage, settings, body))
    return job_out(storage, storage.get_job(job_id))


def _job_inputs(
    storage: Storage, settings: Settings, body: ScoreJobIn
) -> tuple[list[int], list[tuple[str, str]], int, int, Repeats]:
    """The request resolved: architecture ids, (proxy, version) pairs, data profile id,
    init seed and repeats, each checked (422 naming the field at fault)."""
    versions = proxy_versions(body.proxies)
    ids = resolve_architectures(storage, settings, body.architectures, "architectures")
    profile = resolve_profile(storage, settings, body.data)
    check_fits_device(
        storage, settings, [(f"architectures[{i}]", a) for i, a in enumerate(ids)], profile
    )
    return ids, versions, profile.id, body.init_seed, body.repeats.counts()


def get_score_job(storage: Storage, job_id: int) -> ScoreJobOut:
    record = storage.get_job(job_id)
    if record is None:
        raise NotFound("score job", job_id)
    return job_out(storage, record)


def cancel_score_job(storage: Storage, job_id: int) -> ScoreJobOut:
    status = queue.cancel_job(storage.engine, job_id)
    if status is None:
        raise NotFound("score job", job_id)
    if status is not JobStatus.CANCELLED:
        raise Conflict(
            "job_finished",
            f"score job {job_id} is {status}: only a queued or running job can be cancelled",
        )
    return get_score_job(storage, job_id)
