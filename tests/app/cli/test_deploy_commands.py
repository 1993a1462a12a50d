"""The commands a deployment leans on: ``serve`` refuses an open API beyond loopback, and
``worker-health`` (a worker container's health check) answers from the worker's heartbeat."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli import app
from app.cli.ops import check_exposure, is_loopback
from app.config import Settings
from app.db.queue import JobQueue
from app.db.storage import Storage

runner = CliRunner()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No ZC_* keys from the environment or a .env file; a SQLite database in tmp_path."""
    monkeypatch.chdir(tmp_path)  # away from any .env in the checkout
    for name in ("ZC_API_KEYS", "ZC_ALLOW_ANONYMOUS", "ZC_LEASE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/zc.db")
    return monkeypatch


# -- serve ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "localhost", "::1"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "zero-cost.example"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_open_api_is_refused_beyond_loopback() -> None:
    open_api = Settings(_env_file=None, api_keys="")
    check_exposure("127.0.0.1", open_api)
    with pytest.raises(typer.BadParameter, match="ZC_API_KEYS.*ZC_ALLOW_ANONYMOUS=1"):
        check_exposure("0.0.0.0", open_api)
    check_exposure("0.0.0.0", Settings(_env_file=None, api_keys="k:write"))
    check_exposure("0.0.0.0", Settings(_env_file=None, allow_anonymous=True))


def test_serve_refuses_before_migrating(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "ZC_API_KEYS" in result.output and "ZC_ALLOW_ANONYMOUS=1" in result.output
    assert not (tmp_path / "zc.db").exists()


@pytest.mark.parametrize(
    "variables", [{"ZC_ALLOW_ANONYMOUS": "1"}, {"ZC_API_KEYS": "secret:write"}]
)
def test_serve_listens_everywhere_with_keys_or_when_allowed(
    clean_env: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    served: list[dict] = []
    clean_env.setattr("uvicorn.run", lambda app, **options: served.append(options))
    for name, value in variables.items():
        clean_env.setenv(name, value)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served == [{"host": "0.0.0.0", "port": 8123}]


# -- worker-health --------------------------------------------------------------------------


def health(*args: str) -> tuple[int, str]:
    """Run ``zero-cost worker-health``: (exit code, what it printed)."""
    result = runner.invoke(app, ["worker-health", *args])
    return result.exit_code, result.output


def test_worker_health_follows_the_heartbeat(
    clean_env: pytest.MonkeyPatch, storage: Storage, sql: Callable[..., list]
) -> None:
    clean_env.setenv("DATABASE_URL", storage.engine.url.render_as_string(hide_password=False))
    clean_env.setenv("ZC_LEASE_SECONDS", "100")  # fresh: younger than 200 s
    queue = JobQueue(storage.engine, "here-1", lease_seconds=100, max_attempts=3)

    code, output = health()
    assert code == 1 and "no worker registered" in output

    JobQueue(storage.engine, "elsewhere-1", lease_seconds=100, max_attempts=3).register("cpu")
    sql("UPDATE workers SET hostname = 'elsewhere'")
    assert health()[0] == 1  # another host's worker does not count

    queue.register("cpu")
    code, output = health()
    assert code == 0 and "healthy" in output

    sql("UPDATE workers SET heartbeat_at = heartbeat_at - 150 WHERE id = 'here-1'")
    assert health()[0] == 0  # 150 s < 2 x lease
    sql("UPDATE workers SET heartbeat_at = heartbeat_at - 100 WHERE id = 'here-1'")
    code, output = health()
    age = re.search(r"is (\d+) s old \(limit 200 s\)", output)
    assert code == 1 and age is not None, output
    assert 250 <= int(age.group(1)) < 270  # the test itself takes a moment
    assert health("--max-age", "300")[0] == 0

    queue.heartbeat()
    assert health()[0] == 0


def test_worker_health_without_a_database(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/missing/zc.db")
    code, output = health()
    assert code == 1 and "database unavailable" in output
