"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their JavaScript and CSS served by
this service under ``/docs-assets``.

FastAPI's own pages load those assets from a CDN, so on a cluster without internet access
they stay blank. The files come from the ``fastapi-offline`` package (a dependency, so
nothing is vendored into this repository), which ships Swagger UI's ``swagger-ui-bundle.js``
and ``swagger-ui.css``, ReDoc's ``redoc.standalone.js`` and a favicon; the pages themselves
are FastAPI's ``get_swagger_ui_html`` and ``get_redoc_html`` pointed at them. Like the
pages FastAPI would serve, they are public (they show the API's description, as the public
``/openapi.json`` does, and no data) and are not part of the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"  # FastAPI's default
ASSETS_URL = "/docs-assets"

router = APIRouter(include_in_schema=False)
# Starlette finds the folder ``static`` beside the installed package's ``__init__.py``.
router.mount(ASSETS_URL, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")


def _root(request: Request) -> str:
    """The path prefix the service is mounted under behind a proxy (``root_path``), as
    FastAPI's own docs pages use it."""
    return request.scope.get("root_path", "").rstrip("/")


@router.get(DOCS_URL)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for the service's OpenAPI document."""
    app, root = request.app, _root(request)
    return get_swagger_ui_html(
        openapi_url=root + app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


@router.get(OAUTH2_REDIRECT_URL)
def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """The page Swagger UI's OAuth2 sign-in returns to."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get(REDOC_URL)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc for the service's OpenAPI document (without Google Fonts: it is offline too)."""
    app, root = request.app, _root(request)
    return get_redoc_html(
        openapi_url=root + app.openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
