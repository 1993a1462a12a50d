"""Statuses: the ``StrEnum``s, the CHECK constraints of the database and the API's
literals name the same statuses; a job's status is derived by one pure function; and
migration 0004 stores each job's proxy versions and adds the checks without losing a row."""

from __future__ import annotations

import json
import re
import typing

import pytest
from db_support import insert_legacy_rows
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app import schemas
from app.db import migrations
from app.db.models import Base
from app.db.session import make_engine
from app.db.statuses import ItemStatus, JobStatus, PredictorStatus, PruneStatus, job_status
from zero_cost import proxies

CHECKED = {"job_items": ItemStatus, "predictors": PredictorStatus, "prune_jobs": PruneStatus}


def _check_values(table: str) -> set[str]:
    (check,) = [
        c for c in Base.metadata.tables[table].constraints if c.name == f"ck_{table}_status"
    ]
    return set(re.findall(r"'([a-z_]+)'", str(check.sqltext)))


@pytest.mark.parametrize(("table", "enum"), CHECKED.items())
def test_the_check_constraint_names_the_enum(table: str, enum: type) -> None:
    assert _check_values(table) == {status.value for status in enum}


def test_the_migration_names_the_statuses_of_the_enums() -> None:
    name = "0004_job_proxy_versions_and_status_checks.py"
    source = (migrations.script_location() / "versions" / name).read_text()
    item = re.search(r"ITEM_STATUSES = \(([^)]*)\)", source).group(1)
    predictor = re.search(r"PREDICTOR_STATUSES = \(([^)]*)\)", source).group(1)
    assert set(re.findall(r'"([a-z_]+)"', item)) == {s.value for s in ItemStatus}
    assert set(re.findall(r'"([a-z_]+)"', predictor)) == {s.value for s in PredictorStatus}


def test_the_api_shows_the_statuses_of_the_enums() -> None:
    fields = {
        "job": schemas.ScoreJobOut.model_fields["status"].annotation,
        "predictor": schemas.PredictorOut.model_fields["status"].annotation,
    }
    assert set(typing.get_args(fields["job"])) == {s.value for s in JobStatus}
    assert set(typing.get_args(fields["predictor"])) == {s.value for s in PredictorStatus}
    prune_status = schemas.PruneJobOut.model_fields["status"].annotation
    assert set(typing.get_args(prune_status)) == {s.value for s in PruneStatus}


def test_migration_0007_names_the_prune_statuses() -> None:
    source = (migrations.script_location() / "versions" / "0007_prune_jobs.py").read_text()
    checked = re.search(r'STATUSES = "status IN \(([^)]*)\)"', source).group(1)
    assert set(re.findall(r"'([a-z_]+)'", checked)) == {s.value for s in PruneStatus}


@pytest.mark.parametrize(
    ("counts", "cancelled", "expected"),
    [
        ({}, False, JobStatus.SUCCEEDED),
        ({"queued": 2}, False, JobStatus.QUEUED),
        ({"queued": 1, "succeeded": 1}, False, JobStatus.RUNNING),
        ({"running": 1}, False, JobStatus.RUNNING),
        ({"failed": 2}, False, JobStatus.FAILED),
        ({"failed": 1, "succeeded": 1}, False, JobStatus.SUCCEEDED),
        ({"queued": 1}, True, JobStatus.CANCELLED),
        ({"cancelled": 2}, False, JobStatus.SUCCEEDED),
    ],
)
def test_job_status_is_derived_from_the_item_counts(
    counts: dict[str, int], cancelled: bool, expected: JobStatus
) -> None:
    assert job_status(counts, cancelled) is expected


def test_the_database_refuses_a_status_outside_the_enum(storage, nb201, cells, profile, sql):
    (architecture_id, _), *_ = storage.add_architectures([nb201(cells(1)[0])])
    sql(
        "INSERT INTO score_jobs (id, proxies, data_profile_id, init_seed, cancelled)"
        " VALUES (1, '[]', :profile, 0, false)",
        profile=profile.id,
    )
    insert = (
        "INSERT INTO job_items (job_id, architecture_id, status, attempts)"
        " VALUES (1, :architecture, :status, 0)"
    )
    with pytest.raises(IntegrityError):
        sql(insert, architecture=architecture_id, status="done")
    sql(insert, architecture=architecture_id, status=ItemStatus.QUEUED)
    with pytest.raises(IntegrityError):
        sql("UPDATE job_items SET status = 'paused'")


def test_0004_stores_each_jobs_proxy_versions_and_keeps_every_row(database_url):
    engine = make_engine(database_url)
    try:
        migrations.upgrade(engine, "0003_idempotency_keys")
        with engine.begin() as connection:
            insert_legacy_rows(connection)
            connection.execute(
                text(
                    "INSERT INTO score_jobs (id, proxies, data_profile_id, init_seed, cancelled)"
                    " VALUES (1, '[\"snip\", \"synflow\"]', 1, 0, false),"
                    " (2, '[\"retired_proxy\"]', 1, 0, false)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO job_items (job_id, architecture_id, status, attempts, error)"
                    " VALUES (1, 1, 'failed', 3, 'boom'), (2, 1, 'queued', 0, NULL)"
                )
            )
            # Job 1's snip was scored at an older version: the job keeps naming it.
            connection.execute(
                text(
                    "INSERT INTO scores (architecture_id, proxy, proxy_version, data_profile_id,"
                    " seed, value, status, seconds, device)"
                    " VALUES (1, 'snip', '0', 1, 0, 1.0, 'ok', 0.1, 'cpu')"
                )
            )
        migrations.upgrade(engine)
        with engine.connect() as connection:
            stored = dict(connection.execute(text("SELECT id, proxies FROM score_jobs")).all())
            items = connection.execute(
                text("SELECT job_id, status, attempts, error FROM job_items ORDER BY job_id")
            ).all()
        assert json.loads(stored[1]) == [["snip", "0"], ["synflow", proxies.get("synflow").version]]
        assert json.loads(stored[2]) == [["retired_proxy", "unregistered"]]
        assert items == [(1, "failed", 3, "boom"), (2, "queued", 0, None)]

        migrations.downgrade(engine, "0003_idempotency_keys")
        with engine.connect() as connection:
            stored = dict(connection.execute(text("SELECT id, proxies FROM score_jobs")).all())
            assert connection.scalar(text("SELECT count(*) FROM job_items")) == 2
        assert json.loads(stored[1]) == ["snip", "synflow"]
        assert json.loads(stored[2]) == ["retired_proxy"]
    finally:
        engine.dispose()
