"""Orchestration shared by the reliability tests and ``scripts/reliability_report.py``.

Real processes only: the API is ``python -m uvicorn app.main:app`` and workers are
``python -m app.worker``, started with environment settings like an operator would. The
pieces:

* ``shared_database()`` -- a fresh database on the machine's PostgreSQL server (cases that
  only load it);
* ``PgCluster`` -- a throwaway PostgreSQL cluster (``initdb`` into a temporary directory, its
  own port on 127.0.0.1, removed afterwards) for cases that stop or break the server;
* ``ApiServer`` / ``WorkerPool`` -- managed subprocesses with logs, kill and restart;
* ``Stats`` -- thread-safe request counters and latencies; ``CaseResult`` -- one row of the
  report table.

Nothing here depends on pytest: a precondition that cannot be met raises ``Unavailable``
(the tests turn it into a skip, the report script into a failed row).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import migrations

ROOT = Path(__file__).resolve().parents[2]
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON if _VENV_PYTHON.exists() else Path(sys.executable))
SHARED_ADMIN_URL = os.environ.get(
    "ZC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TINY = {"channels": 4, "cells_per_stage": 1}
SYNTHETIC = {"source": "synthetic", "batch_size": 8}
PROXIES = ["params", "synflow"]


class Unavailable(RuntimeError):
    """A precondition of a case (PostgreSQL, its binaries) is missing on this machine."""


# -- architectures ---------------------------------------------------------------------------


def distinct_cells(count: int, offset: int = 0) -> list[str]:
    """``count`` NB201 cell strings with distinct canonical keys (non-degenerate), skipping
    the first ``offset`` of them; a fixed order."""
    from zero_cost import spaces
    from zero_cost.spaces.nb201 import OPS

    space = spaces.get("nb201")
    cells: list[str] = []
    keys: set[str] = set()
    for ops in itertools.product(OPS, repeat=6):
        nodes = [ops[0:1], ops[1:3], ops[3:6]]
        cell = "+".join(
            "|" + "|".join(f"{op}~{s}" for s, op in enumerate(node)) + "|" for node in nodes
        )
        arch = space.parse(cell)
        if arch.is_degenerate:
            continue
        key = space.canonical_key(arch)
        if key in keys:
            continue
        keys.add(key)
        if len(keys) > offset:
            cells.append(arch.arch_str)
            if len(cells) == count:
                return cells
    raise ValueError(f"NB201 has fewer than {count + offset} distinct cells")


def nb201_items(cells: list[str], settings: dict | None = None) -> list[dict]:
    return [{"space": "nb201", "spec": c, "settings": settings or TINY} for c in cells]


# -- databases -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _create_database(admin_url: str) -> str:
    name = f"zc_rel_{uuid.uuid4().hex[:16]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def shared_database() -> Iterator[str]:
    """A new, migrated database on the machine's PostgreSQL server; dropped afterwards."""
    try:
        url = _create_database(SHARED_ADMIN_URL)
    except Exception as error:  # noqa: BLE001  (unreachable server: the case cannot run)
        raise Unavailable(f"PostgreSQL not reachable at {SHARED_ADMIN_URL}: {error}") from None
    try:
        migrations.upgrade(url)
        yield url
    finally:
        _drop_database(SHARED_ADMIN_URL, url)


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not candidates:
        raise Unavailable(f"PostgreSQL binary {name!r} not found")
    return str(candidates[-1])


class PgCluster:
    """A throwaway PostgreSQL cluster in a temporary directory on its own port.

    ``with PgCluster() as pg:`` initialises and starts it; ``pg.stop()``/``pg.start()``
    take it down and up (the case's database outage); it is stopped and deleted on exit.
    As root the server runs as the ``postgres`` user (initdb refuses root).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="zc-pgcluster-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}\n{result.stderr}")

    def __enter__(self) -> PgCluster:
        try:
            self._run(
                _pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                "--no-sync", "-E", "UTF8",
            )  # fmt: skip
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def database(self) -> str:
        """A new, migrated database in this cluster."""
        url = _create_database(self.admin_url())
        migrations.upgrade(url)
        return url

    def terminate_backends(self, database: str) -> int:
        """``pg_terminate_backend`` every other connection to ``database``; how many."""
        admin = create_engine(self.admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                ).all()
        finally:
            admin.dispose()
        return sum(1 for (done,) in rows if done)

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# -- processes -------------------------------------------------------------------------------


def service_env(database_url: str, **settings: object) -> dict[str, str]:
    """The environment of an API or worker process: CPU, one thread, fast polling."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZC_")}
    env.pop("PYTHONPATH", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "ZC_DEVICE": "cpu",
            "ZC_TORCH_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "ZC_POLL_SECONDS": "0.05",
            "ZC_LEASE_SECONDS": "3",
            "ZC_EMBEDDED_WORKER": "false",
            "ZC_API_KEYS": "",
        }
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


class Process:
    """One subprocess with its log file, started again by ``restart()``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.args, self.env, self.log_path, self.cwd = args, env, log, cwd
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.args, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.popen.send_signal(sig)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)

    def restart(self) -> None:
        self.kill()
        self.start()

    def rss_kib(self) -> int:
        """Resident memory of the process (KiB), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ApiServer(Process):
    """``python -m uvicorn app.main:app`` on its own port."""

    def __init__(self, database_url: str, workdir: Path, name: str = "api", **settings: object):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            PYTHON, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
            "--port", str(self.port), "--log-level", "info",
        ]  # fmt: skip
        super().__init__(args, service_env(database_url, **settings), workdir / f"{name}.log", ROOT)

    def start(self, wait: bool = True) -> None:
        super().start()
        if wait:
            self.wait_up()

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"the API exited: {self.log_text()[-2000:]}")
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API did not come up in {timeout}s: {self.log_text()[-2000:]}")


POISON_WORKER = """
import os, time
from app.worker import item_scorer
_score = item_scorer.ItemScorer.score
def score(self, architecture, profile, proxies, seed, *repeats):
    key = architecture.canonical_key
    if key in os.environ.get("ZC_TEST_POISON_EXIT", "").split(","):
        os._exit(1)
    if key in os.environ.get("ZC_TEST_POISON_RAISE", "").split(","):
        raise RuntimeError("poisoned item")
    if key in os.environ.get("ZC_TEST_POISON_HANG", "").split(","):
        time.sleep(3600)
    return _score(self, architecture, profile, proxies, seed, *repeats)
item_scorer.ItemScorer.score = score
if __name__ == "__main__":
    from app.worker import main
    main()
"""
"""A worker script whose scorer crashes its process, raises or hangs on chosen canonical keys
(``ZC_TEST_POISON_EXIT`` / ``_RAISE`` / ``_HANG``, comma-separated): poisoned items. It runs
from a file, so that the worker's scoring process (``spawn`` imports the main module) is
poisoned too."""


def log_tails(workdir: Path, chars: int = 3000) -> str:
    """The tail of every process log in ``workdir``, for failure messages."""
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
        for p in sorted(workdir.glob("*.log"))
    )


class WorkerPool:
    """``count`` worker processes; ``kill_random()`` and ``revive()`` for crash tests."""

    def __init__(
        self, database_url: str, workdir: Path, count: int, poison: bool = False, **settings
    ) -> None:
        args = [PYTHON, "-m", "app.worker"]
        if poison:
            script = workdir / "poison_worker.py"
            script.write_text(POISON_WORKER)
            args = [PYTHON, str(script)]
        env = service_env(database_url, **settings)
        self.workers = [
            Process(args, env, workdir / f"worker-{i}.log", workdir) for i in range(count)
        ]
        self.kills = 0

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def kill_random(self, rng: random.Random) -> None:
        victim = rng.choice([w for w in self.workers if w.alive()] or self.workers)
        victim.kill(signal.SIGKILL)
        self.kills += 1
        victim.start()

    def revive(self) -> int:
        """Start the workers that died by themselves again; how many."""
        dead = [w for w in self.workers if not w.alive()]
        for worker in dead:
            worker.start()
        return len(dead)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.popen.send_signal(sig)
        for worker in self.workers:
            worker.kill()


# -- clients and counters --------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Stats:
    """Requests sent (every attempt), statuses, latencies of 2xx answers; thread-safe."""

    requests: int = 0
    ok: int = 0
    transport_errors: int = 0
    unavailable: int = 0  # 503 with Retry-After: the documented answer to a database outage
    server_errors: list[str] = field(default_factory=list)  # any other 5xx
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, response: httpx2.Response | None, seconds: float, what: str) -> None:
        with self.lock:
            self.requests += 1
            if response is None:
                self.transport_errors += 1
            elif response.status_code == 503 and response.headers.get("retry-after"):
                self.unavailable += 1
            elif response.status_code >= 500:
                self.server_errors.append(f"{what}: {response.status_code} {response.text[:300]}")
            elif response.status_code < 300:
                self.ok += 1
                self.latencies.append(seconds)

    def p(self, q: float) -> float:
        with self.lock:
            return percentile(self.latencies, q) * 1000


def send(
    http: httpx2.Client,
    stats: Stats,
    method: str,
    path: str,
    *,
    retry_until: float | None = None,
    **kwargs: object,
) -> httpx2.Response | None:
    """One request, retried with the same payload on transport errors and 503 until
    ``retry_until`` (monotonic); every attempt is counted. None if it never got through."""
    delay = 0.05
    while True:
        started = time.monotonic()
        try:
            response = http.request(method, path, **kwargs)
        except httpx2.TransportError:
            response = None
        stats.record(response, time.monotonic() - started, f"{method} {path}")
        retryable = response is None or response.status_code == 503
        if not retryable or retry_until is None or time.monotonic() > retry_until:
            return response
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


@dataclass
class CaseResult:
    """One row of docs/reliability.md."""

    case: str
    load: str
    faults: str
    requests: int = 0
    lost: int = 0
    duplicates: int = 0
    server_errors: int = 0
    p99_ms: float = 0.0
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    def row(self) -> list[str]:
        return [
            self.case,
            self.load,
            self.faults,
            str(self.requests),
            str(self.lost),
            str(self.duplicates),
            str(self.server_errors),
            f"{self.p99_ms:.0f} ms" if self.requests else "–",
        ]


def sql(url: str, statement: str, **params: object) -> list:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def duplicate_rows(url: str) -> dict[str, int]:
    """Rows beyond the first per natural key, per table (all 0 when the invariants hold).

    A score job's natural key is its ``Idempotency-Key``: two jobs created for one key are
    a duplicate; jobs created without a key are distinct requests, never compared."""
    keys = {
        "architectures": "space, settings, canonical_key",
        "scores": "architecture_id, proxy, proxy_version, data_profile_id, seed",
        "accuracies": "architecture_id, dataset, metric, value, epochs, source",
        "job_items": "job_id, architecture_id",
        "score_jobs": "idempotency_key",
    }
    where = {"score_jobs": " WHERE idempotency_key IS NOT NULL"}
    return {
        table: sql(
            url, f"SELECT count(*) - count(DISTINCT ({cols})) FROM {table}{where.get(table, '')}"
        )[0][0]
        for table, cols in keys.items()
    }


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def item_counts(url: str, job_ids: list[int] | None = None) -> dict[str, int]:
    where = "" if job_ids is None else f"WHERE job_id IN ({','.join(map(str, job_ids)) or '0'})"
    rows = sql(url, f"SELECT status, count(*) FROM job_items {where} GROUP BY status")
    return {status: count for status, count in rows}


def to_json(value: object) -> str:
    return json.dumps(value, sort_keys=True)
