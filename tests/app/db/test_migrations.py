"""Migrations: the Alembic scripts create exactly the ORM schema, go down and up again, and an
installed copy of the project (no checkout, no alembic.ini) finds and runs them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from db_support import insert_legacy_rows
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from app.db import migrations
from app.db.models import Base
from app.db.session import make_engine

PROJECT_ROOT = Path(__file__).resolve().parents[3]
VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
TABLES = set(Base.metadata.tables)


def test_head_creates_exactly_the_models(migrated_url):
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        assert TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_current_revision_is_head_after_upgrade(database_url):
    engine = make_engine(database_url)
    try:
        assert migrations.current_revision(engine) is None
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_then_upgrade_again(migrated_url):
    engine = make_engine(migrated_url)
    try:
        migrations.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert migrations.current_revision(engine) is None
        migrations.upgrade(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
        assert migrations.current_revision(engine) == migrations.head_revision()
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_idempotency_keys_migrate_up_and_down_keeping_the_jobs(database_url):
    """0003 adds the keys of score jobs to a database with jobs (they keep NULL keys) and
    enforces their uniqueness; going down to 0002 drops the keys but no job or job item
    (a table rebuild on SQLite would cascade to the items)."""
    engine = make_engine(database_url)
    try:
        migrations.upgrade(engine, "0002_predictors")
        with engine.begin() as connection:
            insert_legacy_rows(connection)
            connection.execute(
                text(
                    "INSERT INTO score_jobs (proxies, data_profile_id, init_seed, cancelled)"
                    " VALUES ('[]', 1, 0, false)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO job_items (job_id, architecture_id, status, attempts)"
                    " SELECT id, 1, 'queued', 0 FROM score_jobs"
                )
            )
        migrations.upgrade(engine, "0003_idempotency_keys")
        insert = text(
            "INSERT INTO score_jobs (proxies, data_profile_id, init_seed, cancelled,"
            " idempotency_key, request_hash) VALUES ('[]', 1, 0, false, :key, 'h')"
        )
        with engine.begin() as connection:
            assert connection.execute(text("SELECT idempotency_key FROM score_jobs")).all() == [
                (None,)
            ]
            connection.execute(insert, {"key": None})  # NULL keys never conflict
            connection.execute(insert, {"key": "key-1"})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert, {"key": "key-1"})

        migrations.downgrade(engine, "0002_predictors")
        columns = {c["name"] for c in inspect(engine).get_columns("score_jobs")}
        assert not columns & {"idempotency_key", "request_hash"}
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM score_jobs")) == 3
            assert connection.scalar(text("SELECT count(*) FROM job_items")) == 1
        migrations.upgrade(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_from_a_url_twice_is_a_no_op_and_leaves_no_connection(database_url):
    migrations.upgrade(database_url)
    migrations.upgrade(database_url)
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        assert migrations.current_revision(engine) == migrations.head_revision()
        if engine.dialect.name == "postgresql":  # the engine made from the URL was disposed
            with engine.connect() as connection:
                others = connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            assert others == 0
    finally:
        engine.dispose()


INSTALLED_CHECK = """
import json, sys
from pathlib import Path
import app
from app.db.migrations import head_revision, script_location, upgrade
upgrade(sys.argv[1])
print(json.dumps({
    "app": app.__file__,
    "script_location": str(script_location()),
    "head": head_revision(),
}))
"""


@pytest.mark.slow
def test_an_installed_copy_finds_its_migrations(tmp_path):
    """pip-install the project into a folder (as a wheel would be) and migrate from there,
    with the checkout out of reach: the scripts must ship inside the package."""
    target = tmp_path / "installed"
    subprocess.run(
        [
            str(VENV_PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-cache-dir",
            "--target",
            str(target),
            str(PROJECT_ROOT),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert (target / "app" / "migrations" / "versions").is_dir()

    work = tmp_path / "elsewhere"
    work.mkdir()
    database = work / "installed.db"
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZC_")}
    env["PYTHONPATH"] = str(target)
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [str(VENV_PYTHON), "-c", INSTALLED_CHECK, f"sqlite:///{database}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["app"]).resolve().is_relative_to(target.resolve()), report
    location = Path(report["script_location"]).resolve()
    assert location.is_relative_to(target.resolve()), report
    assert not location.is_relative_to(PROJECT_ROOT), report
    assert report["head"] == migrations.head_revision()

    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert TABLES <= tables
    assert version == migrations.head_revision()


def test_script_location_of_the_checkout_is_the_migrations_folder():
    location = migrations.script_location()
    assert (location / "env.py").is_file()
    assert (location / "versions").is_dir()


def test_repeated_scores_migrate_up_and_down(database_url):
    """0006 makes the stored scores single scores (counts 1, ``std`` 0 where the value is
    stored) and lets a repeated score of the same key sit beside them; going down deletes
    the repeated scores only."""
    engine = make_engine(database_url)
    score = text(
        "INSERT INTO scores (architecture_id, proxy, proxy_version, data_profile_id, seed,"
        " value, status, seconds, device) VALUES (1, :proxy, '1', 1, 0, :value, 'ok', 0, 'cpu')"
    )
    try:
        migrations.upgrade(engine, "0004_proxy_versions_checks")
        with engine.begin() as connection:
            insert_legacy_rows(connection)
        migrations.upgrade(engine, "0005_architecture_identity")
        with engine.begin() as connection:
            connection.execute(score, {"proxy": "snip", "value": 2.5})
            connection.execute(score, {"proxy": "nwot", "value": None})
            connection.execute(
                text(
                    "INSERT INTO score_jobs (proxies, data_profile_id, init_seed, cancelled)"
                    " VALUES ('[]', 1, 0, false)"
                )
            )
        migrations.upgrade(engine, "0006_repeated_scores")
        read = text(
            "SELECT proxy, repeat_init_seeds, repeat_batches, std FROM scores ORDER BY proxy"
        )
        with engine.begin() as connection:
            assert connection.execute(read).all() == [("nwot", 1, 1, None), ("snip", 1, 1, 0.0)]
            job = text("SELECT repeat_init_seeds, repeat_batches FROM score_jobs")
            assert connection.execute(job).all() == [(1, 1)]
            connection.execute(
                text(
                    "INSERT INTO scores (architecture_id, proxy, proxy_version, data_profile_id,"
                    " seed, repeat_init_seeds, repeat_batches, value, std, status, seconds,"
                    " device) VALUES (1, 'snip', '1', 1, 0, 3, 1, 2.0, 0.5, 'ok', 0, 'cpu')"
                )
            )
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(score, {"proxy": "snip", "value": 1.0})  # the single one again

        migrations.downgrade(engine, "0005_architecture_identity")
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT proxy, value FROM scores ORDER BY proxy"))
            assert rows.all() == [("nwot", None), ("snip", 2.5)]
        migrations.upgrade(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_prune_jobs_migrate_up_and_down(database_url):
    """0007 adds the prune jobs, one per key (a second row of the same key is refused);
    going down drops them and leaves the scores alone."""
    engine = make_engine(database_url)
    job = text(
        "INSERT INTO prune_jobs (architecture_id, method, version, density, target_kind,"
        " target, scope, iterations, data_profile_id, init_seed, status, attempts)"
        " VALUES (1, 'snip', '0.2.0', 0.1, :kind, :target, 'global', 1, 1, 0, 'queued', 0)"
    )
    try:
        migrations.upgrade(engine, "0004_proxy_versions_checks")
        with engine.begin() as connection:
            insert_legacy_rows(connection)
        migrations.upgrade(engine, "0006_repeated_scores")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO scores (architecture_id, proxy, proxy_version, data_profile_id,"
                    " seed, value, status, seconds, device)"
                    " VALUES (1, 'snip', '1', 1, 0, 2.5, 'ok', 0, 'cpu')"
                )
            )
        assert "prune_jobs" not in inspect(engine).get_table_names()
        migrations.upgrade(engine, "0007_prune_jobs")
        with engine.begin() as connection:
            connection.execute(job, {"kind": "sparsity", "target": 0.9})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(job, {"kind": "compression", "target": 10.0})  # the same key
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE prune_jobs SET status = 'lost'"))  # not a status
        with engine.connect() as connection:
            scores = connection.scalar(text("SELECT count(*) FROM scores"))

        migrations.downgrade(engine, "0006_repeated_scores")
        assert "prune_jobs" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM scores")) == scores == 1
        migrations.upgrade(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_fair_claims_migrate_up_and_down_keeping_the_items(database_url):
    """0008 gives the items queued before it their position within their job as their claim
    order (so those jobs take turns too); going down drops the column, not the items."""
    engine = make_engine(database_url)
    job = text(
        "INSERT INTO score_jobs (proxies, data_profile_id, init_seed, cancelled)"
        " VALUES ('[]', 1, 0, false)"
    )
    item = text(
        "INSERT INTO job_items (job_id, architecture_id, status, attempts)"
        " VALUES (:job, :architecture, 'queued', 0)"
    )
    try:
        migrations.upgrade(engine, "0004_proxy_versions_checks")
        with engine.begin() as connection:
            insert_legacy_rows(connection, {"id": 1}, {"id": 2, "key": "k2", "spec": '"cell2"'})
        migrations.upgrade(engine, "0007_prune_jobs")
        with engine.begin() as connection:
            connection.execute(job)
            connection.execute(job)
            for job_id, architecture_id in [(1, 1), (1, 2), (2, 1), (2, 2)]:
                connection.execute(item, {"job": job_id, "architecture": architecture_id})
        migrations.upgrade(engine, "0008_fair_claims")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT job_id, claim_order FROM job_items ORDER BY claim_order, id")
            )
            assert rows.all() == [(1, 0), (2, 0), (1, 1), (2, 1)]

        migrations.downgrade(engine, "0007_prune_jobs")
        columns = {c["name"] for c in inspect(engine).get_columns("job_items")}
        assert "claim_order" not in columns
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM job_items")) == 4
        migrations.upgrade(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
