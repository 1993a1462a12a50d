"""``/docs`` and ``/redoc`` load every script, stylesheet and icon from the service itself
(``/docs-assets``), so they work on a cluster without internet access; and, as before, they
need no API key. (``tests/browser/test_docs_in_chromium.py`` checks that they render.)"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from api_support import Serve

MIN_ASSET_BYTES = 1_000  # the smallest asset, the favicon, has about 5 kB


class _AssetLinks(HTMLParser):
    """Collects the ``src`` of ``<script>`` and the ``href`` of ``<link>`` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def _asset_urls(html: str) -> list[str]:
    parser = _AssetLinks()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_the_service(
    serve: Serve, tmp_path: Path, page: str
) -> None:
    database_url = f"sqlite:///{tmp_path / 'zc.db'}"  # never opened: the pages read no data
    with serve(database_url, embedded_worker=False, api_keys=["reader:read"]) as client:
        answer = client.get(page)  # no key: the docs stay public
        assert answer.status_code == 200, answer.text
        urls = _asset_urls(answer.text)
        assert any(url.endswith(".js") for url in urls), urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = client.get(url)
            assert asset.status_code == 200, (url, asset.status_code)
            assert len(asset.content) > MIN_ASSET_BYTES, (url, len(asset.content))
