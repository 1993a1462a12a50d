"""Database engines and the one place that owns transactions.

``transaction(engine)`` commits on success, rolls back on error and turns a lost or
unreachable database into ``DatabaseUnavailable`` (the API answers 503 with Retry-After).

SQLite runs in WAL mode with a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: one writer at a time, which is SQLite's form of the row locks that
PostgreSQL's queue takes with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine, Float, Insert, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or dropped the connection; retry later."""


class DatabaseNotMigrated(DatabaseUnavailable):
    """The database lacks the tables or columns of the newest revision."""


# SQLSTATEs of PostgreSQL's undefined_table and undefined_column; SQLite says it in words.
_MISSING_SCHEMA_STATES = {"42P01", "42703"}
_MISSING_SCHEMA_WORDS = ("no such table", "no such column")


def _missing_schema(error: DBAPIError) -> bool:
    original = error.orig
    return getattr(original, "sqlstate", None) in _MISSING_SCHEMA_STATES or any(
        words in str(original) for words in _MISSING_SCHEMA_WORDS
    )


class db_epoch(FunctionElement):  # noqa: N801  (reads as a SQL function)
    """The database clock as epoch seconds (float): leases never trust a worker's clock."""

    type = Float()
    inherit_cache = True


@compiles(db_epoch)
def _epoch_postgresql(element: db_epoch, compiler: object, **kw: object) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(db_epoch, "sqlite")
def _epoch_sqlite(element: db_epoch, compiler: object, **kw: object) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings this service relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: object, record: object) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: object) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # Bounded waits on a lost server: connecting, and noticing a dead connection (keepalives),
    # so that a worker or API thread never blocks forever while PostgreSQL restarts.
    connect_args = {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args
    )


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error.

    Raises:
        DatabaseNotMigrated: a table or column of the schema is missing.
        DatabaseUnavailable: the connection failed or was lost.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except (OperationalError, DBAPIError) as error:
        session.rollback()
        if _missing_schema(error):
            raise DatabaseNotMigrated(str(error.orig or error)) from error
        if isinstance(error, OperationalError) or error.connection_invalidated:
            raise DatabaseUnavailable(str(error.orig or error)) from error
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


CHUNK = 500  # rows per IN (...) list or multi-row INSERT


def chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    """``items`` in slices of at most ``size``: bounded IN lists and multi-row INSERTs."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(session: Session, model: type) -> Insert:
    """A dialect-specific INSERT supporting ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)
