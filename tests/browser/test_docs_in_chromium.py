"""The API docs in a real browser without internet access: headless Chromium opens
``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) of a live service while every request to
another host is aborted, as it would fail on an offline cluster. Both must render every
operation of ``/openapi.json``, so their scripts must come from the service itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx2
import pytest

from app.config import Settings

TIMEOUT_MS = 60_000
# ReDoc's sidebar shows the Redocly logo from its CDN and hides it when that fails: the only
# request to another host that the pages may make.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def service_url(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory, live_server: Callable
) -> Iterator[str]:
    """A live service with an API key configured (the docs stay public) and no data."""
    database = tmp_path_factory.mktemp("docs") / "zc.db"  # never opened by these pages
    settings = Settings(
        database_url=f"sqlite:///{database}", api_keys=["reader:read"], embedded_worker=False
    )
    with live_server(settings) as url:
        yield url


def _offline_page(browser: object, service_url: str) -> tuple[object, object, list[str]]:
    """A new page on which any request that leaves ``service_url`` is aborted; also the list
    of the URLs aborted."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    blocked: list[str] = []

    def only_the_service(route: object) -> None:
        url = route.request.url
        if url.startswith(service_url + "/"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_service)
    return context, context.new_page(), blocked


def _operations(service_url: str) -> dict[str, dict]:
    """The operations of the live ``/openapi.json`` by id, each with its path."""
    document = httpx2.get(service_url + "/openapi.json").raise_for_status().json()
    return {
        operation["operationId"]: {"path": path, **operation}
        for path, methods in document["paths"].items()
        for operation in methods.values()
    }


def test_swagger_ui_renders_offline(browser: object, service_url: str) -> None:
    context, page, blocked = _offline_page(browser, service_url)
    try:
        response = page.goto(service_url + "/docs")
        assert response is not None and response.status == 200
        assert blocked == [], blocked  # fails at once, naming the URLs, rather than time out
        page.locator(".opblock-summary-path", has_text="/v1/architectures").first.wait_for()
        shown = page.eval_on_selector_all(
            ".opblock-summary-path", "paths => paths.map(p => p.dataset.path)"
        )
        assert set(shown) == {op["path"] for op in _operations(service_url).values()}
        assert blocked == [], blocked
    finally:
        context.close()


def test_redoc_renders_offline(browser: object, service_url: str) -> None:
    context, page, blocked = _offline_page(browser, service_url)
    try:
        response = page.goto(service_url + "/redoc")
        assert response is not None and response.status == 200
        assert set(blocked) <= {REDOCLY_LOGO}, blocked
        operations = _operations(service_url)
        submit = operations["architectures-submit_architectures"]
        section = page.locator('[data-section-id="operation/architectures-submit_architectures"]')
        assert section.locator("h2").inner_text() == submit["summary"]
        assert submit["path"] == "/v1/architectures" and submit["path"] in section.inner_text()
        shown = page.eval_on_selector_all(
            "[data-section-id^='operation/']",
            "sections => sections.map(s => s.dataset.sectionId.slice('operation/'.length))",
        )
        assert set(shown) == set(operations)
        assert set(blocked) <= {REDOCLY_LOGO}, blocked
    finally:
        context.close()
