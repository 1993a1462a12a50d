"""The figures (/v1/plots), the dashboard (/) and ``zero-cost correlate --plot``, on SQLite
and PostgreSQL: a small seeded service (twelve tiny cells scored with params and synflow on
a synthetic batch, made-up accuracies) answers valid SVG and PNG, the API's JSON errors, and
a dashboard that asks browsers for a read key with HTTP Basic."""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from api_support import SYNTHETIC, Serve, check_error, nb201_items, submit, wait_job
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import services
from app.cli import app as cli

PROXIES = ["params", "synflow"]
READ, WRITE = "reader-key", "writer-key"
KEYS = [f"{READ}:read", f"{WRITE}:write"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def basic(key: str, user: str = "dashboard") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def seed(client: TestClient, cells: list[str], headers: dict | None = None) -> int:
    """Store the cells with made-up accuracies (better for later cells, with a twist), score
    them; returns the data profile's id."""
    ids = submit(client, nb201_items(cells), headers)
    reports = [
        {"architecture": a, "dataset": "cifar10", "value": 80.0 + i + (3.0 if i % 4 == 0 else 0)}
        for i, a in enumerate(ids)
    ]
    answer = client.post("/v1/accuracies", json={"items": reports}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = {"architectures": ids, "proxies": PROXIES, "data": SYNTHETIC}
    job = client.post("/v1/score-jobs", json=body, headers=headers)
    assert job.status_code == 202, job.text
    done = wait_job(client, job.json()["id"], headers=headers)
    assert done["status"] == "succeeded", done
    return done["data_profile_id"]


def check_svg(content: bytes) -> None:
    assert content.lstrip().startswith((b"<?xml", b"<svg")), content[:80]
    assert b"</svg>" in content[-200:]


def png_size(content: bytes) -> tuple[int, int]:
    assert content.startswith(PNG_MAGIC), content[:16]
    assert content[12:16] == b"IHDR"
    return struct.unpack(">II", content[16:24])


def check_image(response: object, fmt: str) -> None:
    assert response.status_code == 200, response.text
    if fmt == "svg":
        assert response.headers["content-type"].startswith("image/svg+xml")
        check_svg(response.content)
    else:
        assert response.headers["content-type"] == "image/png"
        width, height = png_size(response.content)
        assert width > 100 and height > 100


PLOTS = [
    "/v1/plots/correlations?dataset=cifar10&bootstrap=50",
    "/v1/plots/precision?dataset=cifar10",
    "/v1/plots/scatter?dataset=cifar10&name=synflow",
    "/v1/plots/scatter?dataset=cifar10&name=params&scale=rank",
    "/v1/plots/scatter?dataset=cifar10&name=log_rank",
    "/v1/plots/scatter?dataset=cifar10&name=vote&scale=rank&proxies=params,synflow",
]


def test_plots_render_svg_and_png(
    migrated_url: str, serve: Serve, cells: Callable[..., list[str]]
) -> None:
    with serve(migrated_url) as client:
        profile_id = seed(client, cells(12))
        for path in PLOTS:
            for fmt in ("svg", "png"):
                check_image(client.get(f"{path}&format={fmt}&data_profile_id={profile_id}"), fmt)
            check_image(client.get(path), "svg")  # the default format; the only profile

        # The scatter's title shows the numbers of GET /v1/correlations.
        report = client.get("/v1/correlations?dataset=cifar10&bootstrap=0").json()
        storage = client.app.state.storage
        query = services.PopulationQuery(dataset="cifar10", profile_id=report["data_profile_id"])
        for row in report["rows"]:
            column = services.score_column(storage, query, name=row["name"])
            assert column.row.spearman == pytest.approx(row["spearman"])
            assert column.row.kendall_tau_b == pytest.approx(row["kendall_tau_b"])
            assert column.row.n == row["n"] == 12
        assert services.score_column(storage, query, name="synflow").log_values

        # Nothing to draw yet is a figure that says so, not an error.
        check_image(client.get("/v1/plots/scatter?dataset=imagenet&name=synflow"), "svg")
        check_image(client.get("/v1/plots/correlations?dataset=imagenet&format=png"), "png")
        check_image(client.get("/v1/plots/precision?dataset=imagenet&format=png"), "png")


def test_plot_errors_are_the_api_errors(
    migrated_url: str, serve: Serve, cells: Callable[..., list[str]]
) -> None:
    with serve(migrated_url) as client:
        check_error(client.get("/v1/plots/correlations?dataset=cifar10"), 422, "profile_required")
        profile_id = seed(client, cells(4))
        scatter = f"/v1/plots/scatter?dataset=cifar10&data_profile_id={profile_id}"
        check_error(client.get(f"{scatter}&name=nope"), 422, "unknown_name", "name")
        check_error(client.get(scatter), 422, "validation_error", "name")
        check_error(
            client.get(f"{scatter}&name=synflow&format=gif"), 422, "validation_error", "format"
        )
        check_error(
            client.get(f"{scatter}&name=synflow&scale=log"), 422, "validation_error", "scale"
        )
        check_error(
            client.get(f"{scatter}&name=log_rank&proxies=params"),
            422,
            "ensemble_needs_proxies",
            "name",
        )
        check_error(
            client.get(f"{scatter}&name=log_rank&proxies=params,nope"),
            422,
            "unknown_proxy",
            "proxies[1]",
        )
        check_error(
            client.get("/v1/plots/scatter?name=synflow"), 422, "validation_error", "dataset"
        )
        check_error(
            client.get("/v1/plots/precision?dataset=cifar10&data_profile_id=999"), 404, "not_found"
        )
        check_error(
            client.get("/v1/plots/correlations?dataset=cifar10&ensembles=best"),
            422,
            "unknown_ensemble",
            "ensembles[0]",
        )
        check_error(
            client.get("/v1/plots/correlations?dataset=cifar10&bootstrap=-1"),
            422,
            "validation_error",
            "bootstrap",
        )


class _Page(HTMLParser):
    """The links, image sources and data-field cells of a dashboard page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.fields: dict[tuple[str, str], str] = {}
        self._row: str | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        for name in ("href", "src", "action"):
            if attributes.get(name):
                self.links.append(attributes[name])
        if tag == "tr" and "data-name" in attributes:
            self._row = attributes["data-name"]
        if "data-field" in attributes and self._row is not None:
            self._field = attributes["data-field"]
            self.fields[(self._row, self._field)] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "span"}:
            self._field = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._field is not None and self._row is not None:
            self.fields[(self._row, self._field)] += data.strip()


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _fixed(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def test_dashboard_with_api_keys(
    migrated_url: str, serve: Serve, cells: Callable[..., list[str]]
) -> None:
    with serve(migrated_url, api_keys=KEYS) as client:
        empty = client.get("/", headers=basic(READ))
        assert empty.status_code == 200, empty.text
        assert "No jobs yet" in empty.text and "Nothing to correlate yet" in empty.text

        profile_id = seed(client, cells(12), {"X-API-Key": WRITE})
        denied = client.get("/")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith('Basic realm="zero-cost"')
        assert "API key" in denied.text
        assert client.get("/", headers=basic("wrong")).status_code == 401
        assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
        check_error(client.get(PLOTS[0]), 401, "missing_api_key")

        answer = client.get("/", headers=basic(READ))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert client.get("/", headers={"X-API-Key": READ}).text.count("<img") == 3
        html = answer.text
        page = parse(html)
        # Everything the page loads or links is served by this app: no other host.
        assert not re.search(r"https?://", html), re.findall(r"https?://\S+", html)
        assert all(link.startswith(("/", "#")) for link in page.links), page.links
        assert len(page.images) == 3
        for source in page.images:
            check_image(client.get(source.replace("&amp;", "&"), headers=basic(READ)), "svg")

        # The table shows the numbers of the API (rounded as displayed).
        report = client.get(
            f"/v1/correlations?dataset=cifar10&data_profile_id={profile_id}",
            headers={"X-API-Key": READ},
        ).json()
        assert {name for name, _ in page.fields} == {r["name"] for r in report["rows"]}
        for row in report["rows"]:
            name = row["name"]
            assert page.fields[(name, "n")] == str(row["n"])
            for field in ("spearman", "kendall_tau_b", "pearson", "pairwise_agreement"):
                assert page.fields[(name, field)] == _fixed(row[field]), (name, field)
            low, high = row["spearman_ci"]
            assert page.fields[(name, "spearman_ci")] == f"[{low:.3f}, {high:.3f}]"
            for k, value in row["precision_at_k"].items():
                assert page.fields[(name, f"precision_at_k.{k}")] == _fixed(value)

        # Queue, workers, jobs and the top architectures are on the page.
        assert 'data-status="succeeded"' in html and "data-worker=" in html
        assert re.search(
            r'data-job="1".*?succeeded.*?12 / 12.*?\d{4}-\d\d-\d\d \S+ UTC', html, re.S
        )
        assert html.count("data-architecture=") == 12
        assert "Top 12 architectures by log_rank" in html

        # A chosen scatter, and errors shown on the page with the API's status.
        chosen = client.get("/?name=synflow&scale=rank", headers=basic(READ))
        assert "name=synflow&amp;scale=rank" in chosen.text
        unknown = client.get("/?data_profile_id=999", headers=basic(READ))
        assert unknown.status_code == 404 and "data profile 999 does not exist" in unknown.text
        bad_name = client.get("/?name=zico", headers=basic(READ))
        assert bad_name.status_code == 422 and "no scores of &#39;zico&#39;" in bad_name.text


def test_basic_credentials_carry_the_key_role(migrated_url: str, serve: Serve) -> None:
    item = nb201_items(
        [
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
            "nor_conv_3x3~1|nor_conv_3x3~2|"
        ]
    )[0]
    with serve(migrated_url, api_keys=KEYS) as client:
        assert client.post("/v1/architectures", json=item, headers=basic(WRITE)).status_code == 200
        check_error(
            client.post("/v1/architectures", json=item, headers=basic(READ)), 403, "read_only_key"
        )
        check_error(client.get("/v1/scores", headers=basic("nope")), 401, "invalid_api_key")
        assert client.get("/v1/scores", headers=basic(READ, user="")).status_code == 200


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_correlate_writes_a_plot(
    migrated_url: str,
    serve: Serve,
    cells: Callable[..., list[str]],
    tmp_path: Path,
    live_server: Callable,
) -> None:
    from api_support import service_settings

    with serve(migrated_url) as client:
        seed(client, cells(8))
    runner = CliRunner()
    with live_server(service_settings(migrated_url, api_keys=KEYS)) as url:

        def correlate(*args: str, json: bool = False) -> object:
            command = ["--url", url, "--api-key", READ, *(["--json"] if json else [])]
            command += ["correlate", "--bootstrap", "20", *args]
            return runner.invoke(cli, command, catch_exceptions=False)

        bars = tmp_path / "bars.png"
        result = correlate("--plot", str(bars))
        assert result.exit_code == 0, result.output
        assert "synflow" in result.stdout and "figure written" in result.stderr
        png_size(bars.read_bytes())
        scatter = tmp_path / "scatter.svg"
        result = correlate("--plot", str(scatter), "--plot-kind", "scatter", "--name", "synflow")
        assert result.exit_code == 0, result.output
        check_svg(scatter.read_bytes())
        precision = tmp_path / "precision.png"
        result = correlate("--plot", str(precision), "--plot-kind", "precision", json=True)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["data_profile_id"] == 1
        png_size(precision.read_bytes())

        for args, message in [
            (["--plot", str(tmp_path / "x.jpg")], "must end in .png or .svg"),
            (["--plot", str(tmp_path / "x.png"), "--plot-kind", "scatter"], "--name"),
            (
                ["--plot", str(tmp_path / "x.png"), "--plot-kind", "scatter", "--name", "nope"],
                "unknown_name",
            ),
        ]:
            result = correlate(*args)
            output = " ".join(result.output.split())  # rich wraps long lines
            assert result.exit_code == 1 and message in output, output
        assert not (tmp_path / "x.png").exists()


def test_dashboard_offers_the_recommended_ranker_once_scored(
    migrated_url: str, serve: Serve, cells: Callable[..., list[str]]
) -> None:
    with serve(migrated_url, data_dir=None) as client:
        profile_id = seed(client, cells(12))
        assert 'value="recommended"' not in client.get("/").text  # meco is not scored yet
        ids = [a["id"] for a in client.get("/v1/architectures").json()["data"]]
        body = {"architectures": ids, "proxies": ["meco", "az_progressivity"], "data": SYNTHETIC}
        job = client.post("/v1/score-jobs", json=body).json()
        assert wait_job(client, job["id"])["data_profile_id"] == profile_id
        page = client.get("/?name=recommended")
        assert page.status_code == 200, page.text
        assert '<option value="recommended" selected>' in page.text
        assert 'data-name="recommended"' in page.text  # its row in the correlation table
