"""The OpenAPI document, made to match what the server answers.

FastAPI documents each operation's success and a 422 in its own error shape. This module
adds what the server really does: the one error body (``ErrorOut``) for every error status
an operation can return (401/403 where a key is checked, 404 where an id is looked up, 409
where a state can conflict, 413 for oversized requests, 422, 503 when the database is
unavailable or not migrated, 400 for a body that cannot be parsed), the three ways to present a key
as security schemes, the upload as ``multipart/form-data``, and batch limits equal to the
configured ones (the parser's hard cap is higher; the configured limit answers 413).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from ..config import Settings
from ..schemas import ErrorOut, ItemLimit
from .deps import may_write, require_read, require_write

SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "the API key as the token"},
    "Basic": {
        "type": "http",
        "scheme": "basic",
        "description": "the API key as the password, any user name (what a browser sends)",
    },
}
ERROR_DESCRIPTIONS = {
    "400": "a body that cannot be parsed (not UTF-8 JSON, or a broken multipart upload)",
    "401": "no API key, or one that is not valid (missing_api_key, invalid_api_key)",
    "403": "a read-only key where the request must write (read_only_key)",
    "404": "no such resource (not_found)",
    "409": "the resource's state forbids it (job_finished, job_not_succeeded)",
    "413": "request over a size limit (request_too_large, batch_too_large, upload_too_large)",
    "422": "invalid request; `field` names the field at fault",
    "503": "database unavailable (Retry-After) or not migrated (database_not_migrated)",
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
UPLOAD_PATH = "/v1/data-profiles"
CONFLICTS = {
    ("/v1/score-jobs/{job_id}", "delete"),
    ("/v1/prune-jobs/{job_id}/masks", "get"),
    ("/v1/plots/prune-layers", "get"),
}
# Operations that look a profile up (``analysis_profile``), or the jobs or architecture their
# query names, and answer 404 for an unknown one; an operation with an id in its path may
# answer 404 too.
PROFILE_LOOKUPS = {
    ("/v1/correlations", "get"),
    ("/v1/plots/scatter", "get"),
    ("/v1/plots/correlations", "get"),
    ("/v1/plots/precision", "get"),
    ("/v1/plots/prune-layers", "get"),
    ("/v1/plots/prune-compression", "get"),
    ("/v1/predictors", "post"),
}
# Operations that never touch the database.
NO_DATABASE = {"/healthz"}


def install(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` return the document described above (built once)."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(app: FastAPI, settings: Settings) -> dict:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorOut"] = error_schema
    components["securitySchemes"] = SECURITY_SCHEMES
    routes = {
        (route.path_format, method.lower()): route
        for route in _api_routes(app.routes)
        for method in route.methods
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            calls = _calls(routes[(path, method)].dependant)
            statuses = _error_statuses(path, method, operation, calls)
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses[status] = {
                    "description": ERROR_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
            if path == "/readyz":  # its 503 is the readiness report, not an error body
                responses["503"] = {
                    "description": "not ready: the database is unreachable or not migrated",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            operation["responses"] = dict(sorted(responses.items()))
            if calls & {require_read, require_write, may_write}:
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    _upload_as_multipart(document)
    _limit_batches(schemas, settings.max_batch_items)
    return document


def _api_routes(routes: list) -> list[APIRoute]:
    """The API routes, also those of included routers (FastAPI keeps those nested)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += _api_routes(route.original_router.routes)
    return found


def _calls(dependant: Dependant) -> set:
    """Every function the dependant depends on, at any depth."""
    found = set()
    for sub in dependant.dependencies:
        found.add(sub.call)
        found |= _calls(sub)
    return found


def _error_statuses(path: str, method: str, operation: dict, calls: set) -> list[str]:
    """The error statuses the operation can answer."""
    statuses = set() if path in NO_DATABASE else {"503"}
    parameters = {p["name"] for p in operation.get("parameters", [])}
    if calls & {require_read, require_write, may_write}:
        statuses.add("401")
    if calls & {require_write, may_write}:
        statuses.add("403")
    if "{" in path or (path, method) in PROFILE_LOOKUPS:
        statuses.add("404")
    if (path, method) in CONFLICTS:
        statuses.add("409")
    if "requestBody" in operation:
        statuses |= {"400", "413"}
    if "requestBody" in operation or parameters:
        statuses.add("422")
    return sorted(statuses)


def _upload_as_multipart(document: dict) -> None:
    """FastAPI declares a form model with a file as url-encoded; it is multipart."""
    body = document["paths"][UPLOAD_PATH]["post"]["requestBody"]
    content = body["content"]
    body["content"] = {"multipart/form-data": next(iter(content.values()))}


def _limit_batches(schemas: dict, max_items: int) -> None:
    """Batch arrays say the configured limit, not the parser's hard cap."""

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "array" and node.get("maxItems") == ItemLimit:
                node["maxItems"] = max_items
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schemas)
