"""The Dockerfile and docker-compose.yml, checked statically (no Docker engine runs here)."""

from pathlib import Path

import pytest
import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTING_VARIABLES = {"DATABASE_URL"} | {
    f"ZC_{name.upper()}" for name in Settings.model_fields if name != "database_url"
}


def _environment(service: str) -> dict:
    return COMPOSE["services"][service].get("environment", {})


def test_services_and_dependencies():
    services = COMPOSE["services"]
    assert set(services) == {"db", "migrate", "api", "worker"}
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    assert services["migrate"]["command"] == ["zero-cost", "db", "upgrade"]
    assert services["api"]["command"][:2] == ["zero-cost", "serve"]
    assert services["worker"]["command"] == ["zero-cost", "worker"]


def test_healthchecks():
    assert "pg_isready" in " ".join(COMPOSE["services"]["db"]["healthcheck"]["test"])
    assert "/readyz" in " ".join(COMPOSE["services"]["api"]["healthcheck"]["test"])
    assert "pgdata" in COMPOSE["volumes"]


def test_worker_reserves_a_gpu_and_scales():
    worker = COMPOSE["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "container_name" not in worker  # --scale worker=N needs unnamed containers
    assert "ports" not in worker
    assert _environment("worker")["ZC_DEVICE"] == "cuda"


@pytest.mark.parametrize("service", ["migrate", "api", "worker"])
def test_environment_names_real_settings(service):
    environment = _environment(service)
    assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
    unknown = set(environment) - SETTING_VARIABLES
    assert not unknown, f"{service} sets variables the app does not read: {unknown}"


def test_api_runs_without_embedded_worker():
    assert _environment("api")["ZC_EMBEDDED_WORKER"] == "false"
    Settings(database_url="postgresql+psycopg://x@db/x", embedded_worker="false")


def test_dockerfile_shape():
    assert DOCKERFILE.count("\nFROM ") >= 2  # multi-stage
    assert "ARG BASE_IMAGE=python:3.11-slim" in DOCKERFILE  # CUDA base via build argument
    assert "ARG TORCH_VARIANT=cpu" in DOCKERFILE  # CPU torch by default
    assert "\nUSER zerocost" in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    for path in ("zero_cost", "app", "migrations"):
        assert f"COPY {path} ./{path}" in DOCKERFILE


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in sorted(SETTING_VARIABLES) if f"| `{name}` |" not in readme]
    assert not missing, f"README's configuration table lacks {missing}"
