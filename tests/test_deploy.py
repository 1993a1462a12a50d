"""The Dockerfile, docker-compose.yml, requirements.lock and the files around them, checked
statically (no Docker engine runs here)."""

import re
import tomllib
from pathlib import Path

import pytest
import typer.main
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.cli import app
from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = (ROOT / "requirements.lock").read_text()
SETTING_VARIABLES = {"DATABASE_URL"} | {
    f"ZC_{name.upper()}" for name in Settings.model_fields if name != "database_url"
}
GPU_WORKERS = sorted(name for name in SERVICES if name.startswith("worker-gpu"))
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN", re.IGNORECASE)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
INTERPOLATION = re.compile(r"\$\{(\w+)(:?[-?+])?")


def _environment(service: str) -> dict:
    return SERVICES[service].get("environment", {})


def _locked() -> dict[str, str]:
    """Package name -> version, from requirements.lock."""
    pins = {}
    for line in LOCK.splitlines():
        if line.strip() and not line.startswith("#"):
            name, separator, version = line.partition("==")
            assert separator and version.strip(), f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_services_and_dependencies():
    assert set(SERVICES) == {"db", "migrate", "api", *GPU_WORKERS} and GPU_WORKERS
    assert SERVICES["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", *GPU_WORKERS):
        condition = SERVICES[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"
    assert SERVICES["migrate"]["command"] == ["zero-cost", "db", "upgrade"]
    assert SERVICES["api"]["command"][:2] == ["zero-cost", "serve"]
    for name in GPU_WORKERS:
        assert SERVICES[name]["command"] == ["zero-cost", "worker"]


def test_every_service_has_a_health_check_that_fits_it():
    checks = {name: service.get("healthcheck", {}) for name, service in SERVICES.items()}
    assert "pg_isready" in " ".join(checks["db"]["test"])
    assert "/readyz" in " ".join(checks["api"]["test"])
    assert checks["migrate"] == {"disable": True}  # one-shot: the image's API check is wrong
    assert SERVICES["migrate"]["restart"] == "no"
    assert "worker-health" in typer.main.get_command(app).commands
    for name in GPU_WORKERS:
        assert checks[name]["test"] == ["CMD", "zero-cost", "worker-health"]
        assert checks[name]["timeout"], "a health check without a timeout can hang"
    long_running = [name for name, service in SERVICES.items() if service.get("restart") != "no"]
    for name in long_running:
        assert checks[name].get("test") and not checks[name].get("disable"), name
    assert "pgdata" in COMPOSE["volumes"]


def test_gpu_workers_are_pinned_to_distinct_devices():
    pinned = []
    for name in GPU_WORKERS:
        worker = SERVICES[name]
        (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"] and "count" not in device
        assert len(device["device_ids"]) == 1, f"{name} must reserve exactly one GPU"
        pinned += device["device_ids"]
        assert _environment(name)["ZC_DEVICE"] == "cuda:0"  # its one visible GPU
        assert "ports" not in worker
    assert len(set(pinned)) == len(pinned), f"two workers share a GPU: {pinned}"


@pytest.mark.parametrize("service", ["migrate", "api", *GPU_WORKERS])
def test_environment_names_real_settings(service):
    environment = _environment(service)
    assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
    unknown = set(environment) - SETTING_VARIABLES
    assert not unknown, f"{service} sets variables the app does not read: {unknown}"


def test_no_default_or_literal_secrets():
    defaulted = {
        name
        for name, operator in INTERPOLATION.findall(COMPOSE_TEXT)
        if operator in {"-", ":-"} and SECRET_NAME.search(name)
    }
    assert not defaulted, f"secrets with a default in docker-compose.yml: {defaulted}"
    for name, service in SERVICES.items():
        for variable, value in service.get("environment", {}).items():
            if SECRET_NAME.search(variable):
                assert str(value).startswith("${"), f"{name}: {variable} is a literal"
        url = service.get("environment", {}).get("DATABASE_URL", "")
        if url:
            password = re.match(r"[^:]+://[^:@/]+:(.*)@[^@]+$", url).group(1)
            assert re.fullmatch(r"\$\{\w+:?\?[^}]*\}", password), (
                f"{name}: DATABASE_URL's password must be a required variable, not {password}"
            )


def test_required_variables_are_in_env_example():
    required = {name for name, op in INTERPOLATION.findall(COMPOSE_TEXT) if op in {"?", ":?"}}
    example = (ROOT / ".env.example").read_text()
    assigned = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert required <= set(assigned), f".env.example lacks {required - set(assigned)}"
    filled = {name for name, value in assigned.items() if SECRET_NAME.search(name) and value}
    assert not filled, f".env.example ships secrets: {filled}"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and "!.env.example" in ignored


def test_api_runs_without_embedded_worker():
    assert _environment("api")["ZC_EMBEDDED_WORKER"] == "false"
    Settings(database_url="postgresql+psycopg://x@db/x", embedded_worker="false")


def test_dockerfile_shape():
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert bases == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]  # one base, build and runtime
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    assert "ARG TORCH_VARIANT=cpu" in DOCKERFILE  # CPU torch by default
    assert re.search(r"^USER \d+:\d+$", DOCKERFILE, re.MULTILINE)  # numeric: no name lookup
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE
    for path in ("zero_cost", "app", "migrations"):
        assert f"COPY {path} ./{path}" in DOCKERFILE


def test_dockerfile_installs_from_the_lock():
    assert "COPY requirements.lock ./" in DOCKERFILE
    assert "pip install --no-cache-dir --no-deps -r requirements.lock" in DOCKERFILE
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in DOCKERFILE
    assert "pip check" in DOCKERFILE
    (torch_version,) = re.findall(r"^ARG TORCH_VERSION=(\S+)$", DOCKERFILE, re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text()
    assert f"TORCH_SPEC ?= torch=={torch_version}\n" in makefile, "Dockerfile and Makefile"


def test_lock_pins_every_runtime_dependency():
    """After changing pyproject.toml's dependencies, run `make lock`."""
    pins = _locked()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name == "torch":
            assert name not in pins  # from PyTorch's index, for the image's variant
            continue
        assert name in pins, f"requirements.lock lacks {name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )
    leaked = [name for name in pins if re.match(r"torch|triton|nvidia-|cuda-", name)]
    assert not leaked, f"torch's CUDA packages belong to the torch install: {leaked}"


def test_dockerignore_keeps_the_context_small_and_secret_free():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", ".env", "*.db"} <= ignored
    assert not ignored & {"app", "zero_cost", "migrations", "pyproject.toml", "requirements.lock"}


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in sorted(SETTING_VARIABLES) if f"| `{name}` |" not in readme]
    assert not missing, f"README's configuration table lacks {missing}"
