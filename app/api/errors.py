"""JSON errors: every error body is ``{"code", "message", "field"?, "errors"?}``.

``code`` is machine-readable and stable; ``message`` is for people and names the field at
fault. The domain errors of the services (``app.errors``) get their HTTP status here and
only here; a database outage answers 503 with ``Retry-After``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..db.session import DatabaseNotMigrated, DatabaseUnavailable
from ..errors import Conflict, Forbidden, InvalidRequest, NotFound, ServiceError, TooLarge
from ..schemas import UNION_TAGS

RETRY_AFTER_SECONDS = 5

STATUS_OF = {InvalidRequest: 422, TooLarge: 413, NotFound: 404, Conflict: 409, Forbidden: 403}
"""The HTTP status of each kind of domain error."""


def http_status(error: ServiceError) -> int:
    return next(status for kind, status in STATUS_OF.items() if isinstance(error, kind))


class ApiError(Exception):
    """An error of the HTTP layer itself (authentication), reported as is."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _location(loc: tuple) -> str:
    # A header's location is its name as declared (e.g. "Idempotency-Key").
    skip = {"body", "query", "path", "header"} | UNION_TAGS
    parts = [str(p) for p in loc if p not in skip] or [str(loc[0]) if loc else "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def _body(code: str, message: str, field: str | None = None, **extra: object) -> dict:
    body: dict = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the shape above."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(_body(error.code, error.message, error.field), status_code=error.status)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
        body = _body(error.code, error.message, error.field)
        return JSONResponse(body, status_code=http_status(error))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"field": _location(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
            for e in error.errors()
        ]
        first = details[0] if details else {"field": None, "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return JSONResponse(
            _body("validation_error", message, first["field"], errors=details[:50]),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse(
            _body(code, str(error.detail)), status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, error: DataError) -> JSONResponse:
        # A value the database cannot represent (an integer beyond its range, a NUL byte in
        # a string): the request is at fault, not the service.
        message = "a value in the request is out of range or not storable"
        return JSONResponse(_body("invalid_value", message), status_code=422)

    @app.exception_handler(DatabaseNotMigrated)
    async def _not_migrated(request: Request, error: DatabaseNotMigrated) -> JSONResponse:
        message = (
            "the database has not been migrated to this version of the service; "
            "run 'zero-cost db upgrade' against it"
        )
        return JSONResponse(_body("database_not_migrated", message), status_code=503)

    @app.exception_handler(DatabaseUnavailable)
    async def _unavailable(request: Request, error: DatabaseUnavailable) -> JSONResponse:
        return JSONResponse(
            _body("database_unavailable", "the database is unavailable; retry later"),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
