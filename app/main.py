"""The FastAPI application: ``create_app(settings)``; ``app.main:app`` for uvicorn.

Start-up checks the database schema against the migration head (``/readyz`` reports a
mismatch and names the fix), warns loudly when no API keys are configured, and in embedded
mode (the default with SQLite) runs a scoring worker in a thread of this process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import zero_cost

from .api import errors, openapi
from .api.routes import (
    accuracies,
    architectures,
    config,
    correlations,
    dashboard,
    data_profiles,
    docs,
    health,
    plots,
    predictors,
    prune_jobs,
    rank,
    score_jobs,
    scores,
)
from .config import Settings, get_settings
from .db import migrations
from .db.session import make_engine
from .db.storage import Storage
from .worker import start_embedded

log = logging.getLogger("zero_cost.api")


class BodySizeLimit:
    """Answer 413 to a request body over ``max_bytes``, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(send)
            return
        received = 0
        too_large = started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # FastAPI turns any exception raised while it reads the body into its own
            # 400 response: once the limit is hit, that response is replaced by the 413.
            nonlocal started
            if too_large and not started:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        if too_large and not started:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = (
            b'{"code":"request_too_large","message":"the request body is over '
            + str(self.max_bytes).encode()
            + b' bytes (ZC_MAX_REQUEST_BYTES)"}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _operation_id(route: APIRoute) -> str:
    """Stable OpenAPI operation ids: the tag and the function name."""
    return f"{route.tags[0].replace(' ', '_')}-{route.name}" if route.tags else route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.api_keys:
            log.warning(
                "NO API KEYS CONFIGURED: the service is open to anyone who can reach it. "
                "Set ZC_API_KEYS='key:write,other:read' to require keys."
            )
        worker = thread = None
        if settings.runs_embedded_worker:
            worker, thread = start_embedded(settings)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop.set()
                thread.join(timeout=30)
            app.state.storage.engine.dispose()

    app = FastAPI(
        title="zero-cost",
        version=zero_cost.__version__,
        description="Training-free NAS scoring: zero-cost proxies as a service.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.storage = Storage(make_engine(settings.database_url))
    app.state.migration_head = migrations.head_revision()
    errors.install(app)
    openapi.install(app, settings)
    for module in (
        health,
        architectures,
        score_jobs,
        scores,
        accuracies,
        correlations,
        rank,
        predictors,
        prune_jobs,
        data_profiles,
        plots,
        dashboard,
        docs,
        config,
    ):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    return app


def __getattr__(name: str) -> FastAPI:
    """``app.main:app`` builds the application on first access (not at import)."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
