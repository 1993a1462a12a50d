"""Shared fixtures of the service tests: one fresh database per test, on SQLite and on
PostgreSQL, migrated with the project's Alembic scripts, and factories for NB201
architectures and synthetic data profiles.

PostgreSQL is reached at ``ZC_TEST_POSTGRES_URL`` (default: the local server, user
``postgres``); each test gets its own database, dropped afterwards. When the server cannot
be reached the PostgreSQL variants are skipped with the reason.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app.db import migrations
from app.db.session import make_engine
from app.db.storage import NewArchitecture, ProfileRecord, Storage
from app.profiles import SyntheticData, profile_key
from zero_cost import spaces
from zero_cost.spaces.nb201 import OPS

POSTGRES_ADMIN_URL = os.environ.get(
    "ZC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"

# The small network every fast test scores: one cell per stage, four channels.
SMALL = {"channels": 4, "cells_per_stage": 1}

_postgres_error: list[str] = []  # why PostgreSQL is unreachable, once known


def _admin_engine() -> Engine:
    return create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _require_postgres() -> None:
    """Skip the test unless the PostgreSQL server answers (checked once per session)."""
    if not _postgres_error:
        engine = _admin_engine()
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            _postgres_error.append("")
        except Exception as error:  # noqa: BLE001  (any failure to connect means skip)
            _postgres_error.append(f"{type(error).__name__}: {error}".splitlines()[0])
        finally:
            engine.dispose()
    if _postgres_error[0]:
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({_postgres_error[0]}); "
            "start it or set ZC_TEST_POSTGRES_URL"
        )


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped (forcibly) afterwards."""
    _require_postgres()
    name = f"zc_test_{uuid.uuid4().hex}"
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield (
                make_url(POSTGRES_ADMIN_URL)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file or a PostgreSQL database.

    Tests that need one backend only parametrise it indirectly:
    ``@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)``.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/zc.db"
    else:
        with _postgres_database() as url:
            yield url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """``database_url`` upgraded to the newest revision."""
    migrations.upgrade(database_url)  # with an engine of its own, disposed afterwards
    return database_url


@pytest.fixture
def storage(migrated_url: str) -> Iterator[Storage]:
    """Storage over the migrated database; its engine is disposed afterwards."""
    engine = make_engine(migrated_url)
    try:
        yield Storage(engine)
    finally:
        engine.dispose()


# -- architectures and profiles ---------------------------------------------------------------


def settings_json(settings: dict) -> str:
    """The canonical JSON of space settings, as ``NewArchitecture.settings`` stores it."""
    return json.dumps(settings, sort_keys=True)


def nb201_architecture(cell: str, settings: dict | None = None) -> NewArchitecture:
    """A ``NewArchitecture`` for an NB201 cell string, as the API would store it."""
    settings = SMALL if settings is None else settings
    space = spaces.get("nb201", **settings)
    arch = space.parse(cell)
    return NewArchitecture(
        space="nb201",
        settings=settings_json(settings),
        identity_key=space.identity_key(arch),
        canonical_key=space.canonical_key(arch),
        spec=json.dumps(space.to_spec(arch)),
        is_degenerate=arch.is_degenerate,
        params=space.param_count(arch),
        flops=space.flops(arch),
    )


def distinct_cells(count: int, *, degenerate: bool = False) -> list[str]:
    """``count`` NB201 cell strings with distinct canonical keys, in a fixed order;
    degenerate cells (no input-output path) only when asked."""
    space = spaces.get("nb201")
    cells, keys = [], set()
    for ops in itertools.product(OPS, repeat=6):
        arch = space.parse(_cell_string(ops))
        if arch.is_degenerate and not degenerate:
            continue
        key = space.canonical_key(arch)
        if key not in keys:
            keys.add(key)
            cells.append(arch.arch_str)
            if len(cells) == count:
                return cells
    raise ValueError(f"NB201 has fewer than {count} distinct cells")


def _cell_string(ops: tuple[str, ...]) -> str:
    nodes = [ops[0:1], ops[1:3], ops[3:6]]
    return "+".join(
        "|" + "|".join(f"{op}~{source}" for source, op in enumerate(node)) + "|" for node in nodes
    )


def synthetic_profile(storage: Storage, batch_size: int = 8, seed: int = 0) -> ProfileRecord:
    """A synthetic data profile (Gaussian CIFAR-shaped inputs), created or found."""
    config = SyntheticData(batch_size=batch_size, seed=seed).model_dump()
    return storage.get_or_create_profile(profile_key("synthetic", config), "synthetic", config)


def wait_for(
    condition: Callable[[], object], timeout: float, interval: float = 0.05, what: str = ""
) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or condition}")
        time.sleep(interval)


@pytest.fixture
def nb201() -> Callable[..., NewArchitecture]:
    """Factory: ``nb201(cell, settings=None)`` -> NewArchitecture (small network by default)."""
    return nb201_architecture


@pytest.fixture
def cells() -> Callable[..., list[str]]:
    """Factory: ``cells(n)`` -> n NB201 cell strings with distinct canonical keys."""
    return distinct_cells


@pytest.fixture
def make_profile() -> Callable[..., ProfileRecord]:
    """Factory: ``make_profile(storage, batch_size=8, seed=0)`` -> a synthetic profile."""
    return synthetic_profile


@pytest.fixture
def profile(storage: Storage) -> ProfileRecord:
    """A synthetic profile of 8 samples in the test's database."""
    return synthetic_profile(storage)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., object]:
    """``wait_for(condition, timeout, interval=0.05, what="")``: poll until truthy."""
    return wait_for


@pytest.fixture
def sql(storage: Storage) -> Callable[..., list]:
    """``sql(statement, **params)``: run raw SQL on the test database in its own
    transaction; returns the rows of a SELECT (or RETURNING), else []."""

    def run(statement: str, **params: object) -> list:
        with storage.engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.all() if result.returns_rows else []

    return run


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Factory: ``spawn_worker(database_url, name, **env)`` starts ``python -m app.worker``
    in a subprocess (``env`` adds ZC_* variables; output goes to ``tmp_path/<name>.log``).
    Every process still alive at the end of the test is killed."""
    processes: list[subprocess.Popen] = []
    logs = []

    def spawn(database_url: str, name: str, **settings: object) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": database_url, "ZC_DEVICE": "cpu"}
        # one CPU thread each: the workers share the machine with the tests (and each other)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("ZC_TORCH_THREADS", "1")
        env.update({key: str(value) for key, value in settings.items()})
        env.pop("PYTHONPATH", None)
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115  (closed at teardown)
        logs.append(log)
        process = subprocess.Popen(
            [str(VENV_PYTHON), "-m", "app.worker"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    try:
        yield spawn
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        for log in logs:
            log.close()
