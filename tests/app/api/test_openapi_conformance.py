"""The OpenAPI document matches the server: schemathesis sends generated requests (valid
and invalid) to every operation of the real app, on SQLite and PostgreSQL, with and without
API keys, and the test fails on any status the document does not list for the operation,
any body that does not match the schema documented for its status, and any 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from api_support import service_settings
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 8  # per operation and generation mode


def _exercise(operation: object, mode: GenerationMode, key: str, failures: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: object) -> None:
        try:
            response = case.call(headers={"X-API-Key": key})
            case.validate_response(response, checks=CHECKS)
        except Exception as error:  # noqa: BLE001  (every failure is reported together)
            failures.append(f"{operation.label} ({mode.value}): {str(error)[:600]}")

    try:
        run()
    except Unsatisfiable:  # an operation without inputs has no invalid requests
        pass


@pytest.mark.parametrize("key", ["", "writer", "reader"])
def test_every_answer_is_documented(migrated_url: str, key: str) -> None:
    """No key on an open service; a write key and a read key on a service with keys."""
    keys = ["writer:write", "reader:read"] if key else []
    app = create_app(
        service_settings(migrated_url, embedded_worker=False, api_keys=keys, rank_wait_seconds=0)
    )
    failures: list[str] = []
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _exercise(result.ok(), mode, key, failures)
    finally:
        app.state.storage.engine.dispose()
    assert not failures, "\n\n".join(failures[:20])
