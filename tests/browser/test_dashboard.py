"""The dashboard in a real browser: headless Chromium loads ``/`` of a service seeded with
the 400 reference cells, signing in with a read key over HTTP Basic. Its figures must
render, its numbers must be the API's, everything it loads must come from the service, and
a full-page screenshot is saved to docs/dashboard.png (the README shows it)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx2

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = PROJECT_ROOT / "docs" / "dashboard.png"
SCREENSHOT_MAX_BYTES = 300_000
VIEWPORT = {"width": 1400, "height": 900}
TIMEOUT_MS = 180_000  # the page computes bootstrap intervals; a loaded CI machine is slow


def _fixed(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(values: list[float | None]) -> str:
    low, high = values
    return "" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"


def _open(browser: object, service: object, path: str = "/") -> tuple[object, object, list]:
    """A page signed in with the read key, at ``path``; also the URLs it requested."""
    context = browser.new_context(
        http_credentials={"username": "dashboard", "password": service.read_key},
        viewport=VIEWPORT,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(service.url + path, wait_until="load")
    assert response is not None and response.status == 200, response and response.text()
    return context, page, requested


def _images(page: object) -> list[dict]:
    return page.eval_on_selector_all(
        "img",
        """images => images.map(i => ({src: i.currentSrc, complete: i.complete,
            width: i.naturalWidth, height: i.naturalHeight}))""",
    )


def _check_correlations(page: object, report: dict) -> None:
    """Every row of GET /v1/correlations is on the page, rounded as displayed."""
    names = page.eval_on_selector_all(
        "#correlations tr[data-name]", "rows => rows.map(r => r.dataset.name)"
    )
    assert names == [row["name"] for row in report["rows"]]
    for row in report["rows"]:
        cells = page.locator(f'#correlations tr[data-name="{row["name"]}"]')

        def shown(field: str, cells: object = cells) -> str:
            return cells.locator(f'[data-field="{field}"]').inner_text().strip()

        assert shown("n") == str(row["n"])
        for field in ("spearman", "kendall_tau_b", "pearson", "pairwise_agreement"):
            assert shown(field) == _fixed(row[field]), (row["name"], field)
        assert shown("spearman_ci") == _interval(row["spearman_ci"])
        assert shown("kendall_ci") == _interval(row["kendall_ci"])
        for k, value in row["precision_at_k"].items():
            assert shown(f"precision_at_k.{k}") == _fixed(value), (row["name"], k)
    heading = page.locator("#correlations h2").inner_text()
    assert f"{report['n_architectures']} architectures" in heading


def _save_screenshot(png: bytes) -> int:
    """Write the screenshot, as a 256-colour PNG when the full-colour one is too large for
    the repository; returns its size."""
    if len(png) > SCREENSHOT_MAX_BYTES:
        from PIL import Image

        image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        png = buffer.getvalue()
    SCREENSHOT.write_bytes(png)
    return len(png)


def test_dashboard_in_chromium(browser: object, seeded_service: object) -> None:
    service = seeded_service
    assert service.seed_seconds < 600
    context, page, requested = _open(browser, service)
    try:
        # The three figures are drawn (the browser decoded them: natural size > 0).
        images = _images(page)
        assert len(images) == 3, images
        for image in images:
            assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
            assert "/v1/plots/" in image["src"]

        # Nothing comes from, or points to, another host.
        assert requested and all(url.startswith(service.url + "/") for url in requested)
        links = page.eval_on_selector_all(
            "[href], [src], [action]",
            "els => els.map(e => e.getAttribute('href') || e.getAttribute('src') "
            "|| e.getAttribute('action'))",
        )
        assert all(link.startswith("/") for link in links), links
        assert not re.search(r"https?://", page.content())

        # The correlation table is GET /v1/correlations for the default selection.
        report = service.get(
            "/v1/correlations", dataset="cifar10", profile_id=service.profile_id
        ).json()
        assert report["n_architectures"] == len(service.architecture_ids)
        _check_correlations(page, report)

        # Queue depth as /metrics reports it; the embedded worker alive; both jobs complete.
        metrics = service.get("/metrics").text
        for status in ("queued", "running", "succeeded", "failed", "cancelled"):
            found = re.search(rf'zc_job_items{{status="{status}"}} (\d+)', metrics)
            expected = int(found.group(1)) if found else 0
            shown = page.locator(f'#queue [data-status="{status}"] .count').inner_text()
            assert int(shown.replace(",", "")) == expected, status
        workers = page.locator("#workers tr[data-worker]")
        assert workers.count() >= 1 and "alive" in workers.first.inner_text()
        total = len(service.architecture_ids)
        for job_id in service.job_ids:
            row = page.locator(f'#jobs tr[data-job="{job_id}"]').inner_text()
            assert "succeeded" in row and f"{total} / {total}" in row, row

        # The top 20 are POST /v1/rank's best by log_rank over every scored architecture.
        ranked = httpx2.post(
            service.url + "/v1/rank",
            json={
                "architectures": service.architecture_ids,
                "proxies": service.proxies,
                "ensemble": "log_rank",
                "data": service.data,
            },
            headers={"X-API-Key": service.write_key},
            timeout=120,
        ).json()
        assert ranked["complete"] and ranked["job_id"] is None
        best = ranked["ranking"][:20]
        rows = page.locator("#top tr[data-architecture]")
        assert rows.count() == 20
        for position, expected in enumerate(best):
            row = rows.nth(position)
            assert row.get_attribute("data-architecture") == str(expected["architecture_id"])
            shown = row.locator('[data-field="score"]').inner_text()
            assert shown == _fixed(expected["score"])

        size = _save_screenshot(page.screenshot(full_page=True))
        assert 0 < size <= SCREENSHOT_MAX_BYTES

        # Choosing another dataset and a rank scatter reloads the page with its numbers.
        page.select_option('select[name="dataset"]', "cifar100")
        page.select_option('select[name="name"]', "synflow")
        page.select_option('select[name="scale"]', "rank")
        with page.expect_navigation(wait_until="load"):
            page.click("#selection button[type=submit]")
        assert "dataset=cifar100" in page.url and "scale=rank" in page.url
        images = _images(page)
        assert len(images) == 3 and all(i["width"] > 0 for i in images), images
        assert any("name=synflow" in i["src"] and "scale=rank" in i["src"] for i in images)
        report = service.get(
            "/v1/correlations", dataset="cifar100", profile_id=service.profile_id
        ).json()
        _check_correlations(page, report)
    finally:
        context.close()


def test_dashboard_needs_a_read_key(browser: object, seeded_service: object) -> None:
    """Without credentials the page answers 401 with a Basic challenge; a wrong key too."""
    answer = httpx2.get(seeded_service.url + "/")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic ")
    context = browser.new_context(
        http_credentials={"username": "dashboard", "password": "not-a-key"}
    )
    try:
        response = context.request.get(seeded_service.url + "/")
        assert response.status == 401
    finally:
        context.close()
