"""Alembic driven from code: the script folder comes from the installed package, the URL
from the caller, so an installed copy migrates without an ``alembic.ini``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from .session import make_engine


def script_location() -> Path:
    """The migrations folder: ``app.migrations`` when installed, else the checkout's."""
    spec = importlib.util.find_spec("app.migrations")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _run(url_or_engine: str | Engine, action: str, revision: str) -> None:
    """Run an Alembic command in one transaction; an engine made here from a URL is disposed
    afterwards, so no pooled connection outlives the migration.

    On SQLite, foreign keys are off while it runs and checked before it commits: a table
    rebuild (Alembic's batch mode) drops and recreates a table that others refer to, which
    SQLite's own procedure for altering a table does with foreign keys off. (The pragma
    takes effect only outside a transaction, so it is set on the driver's connection.)
    """
    owned = isinstance(url_or_engine, str)
    engine = make_engine(url_or_engine) if owned else url_or_engine
    config = _config()
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    config.attributes["connection"] = connection
                    getattr(command, action)(config, revision)
                    if sqlite:
                        _check_foreign_keys(connection)
            finally:
                if sqlite:
                    connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
    finally:
        if owned:
            engine.dispose()


def _check_foreign_keys(connection: Connection) -> None:
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        raise RuntimeError(
            f"{len(violations)} rows break foreign keys after the migration (rows that broke "
            f"them before it count too; fix those first): {violations[:5]}"
        )


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision``."""
    _run(url_or_engine, "upgrade", revision)


def downgrade(url_or_engine: str | Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` ("base" empties it)."""
    _run(url_or_engine, "downgrade", revision)
