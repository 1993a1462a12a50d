"""The OpenAPI document is a contract: it changes only on purpose.

``tests/app/openapi.json`` is the committed document of a service with default settings.
A change to it is a change to the API; regenerate it deliberately with
``.venv/bin/python -m tests.app.test_openapi_snapshot`` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.config import Settings
from app.main import create_app

SNAPSHOT = Path(__file__).with_name("openapi.json")


def current_document() -> str:
    settings = Settings(database_url="sqlite://", embedded_worker=False, api_keys=[])
    document = create_app(settings).openapi()
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def test_the_openapi_document_matches_the_committed_snapshot() -> None:
    assert current_document() == SNAPSHOT.read_text(), (
        "the OpenAPI document changed; if on purpose, regenerate tests/app/openapi.json "
        "(python -m tests.app.test_openapi_snapshot) and commit it with the change"
    )


if __name__ == "__main__":
    SNAPSHOT.write_text(current_document())
