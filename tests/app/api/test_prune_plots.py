"""The pruning figures (/v1/plots/prune-layers, /v1/plots/prune-compression), the prune
jobs in /metrics and on the dashboard, on SQLite and PostgreSQL: prune jobs of a tiny NB201
network run by the embedded worker are drawn as SVG and PNG with a line per job (its label
in the SVG), layer collapse marked where a job emptied a layer, and the API's errors for
unknown, unfinished and malformed job ids."""

from __future__ import annotations

import re

from api_support import Serve, check_error, nb201_items, submit
from fastapi.testclient import TestClient
from test_plots import check_image
from test_prune_jobs import CELL, post, wait_prune

from app.services.prune_figures import MAX_FIGURE_JOBS

JOBS = [  # (body, label in the figures); magnitude at 10^4 empties layers of the tiny net
    ({"method": "magnitude", "compression": 10}, "magnitude, compression 10"),
    ({"method": "magnitude", "compression": 10_000}, "magnitude, compression 10000"),
    ({"method": "snip", "sparsity": 0.99}, "snip, sparsity 0.99"),
    ({"method": "synflow", "compression": 100, "iterations": 10}, "synflow, compression 100"),
]
OTHER_CELL = (  # another architecture: its layers differ from CELL's
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
)


def metric(client: TestClient, status: str) -> float:
    """The ``zc_prune_jobs`` gauge of a status in /metrics."""
    text = client.get("/metrics").text
    found = re.search(rf'^zc_prune_jobs{{status="{status}"}} (\S+)$', text, re.M)
    assert found, text
    return float(found.group(1))


def compression_text(value: float) -> str:
    """A compression as the figure's legend writes it."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def test_prune_figures_metrics_and_dashboard(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url) as client:
        (architecture_id,) = submit(client, nb201_items([CELL]))
        assert metric(client, "succeeded") == 0
        jobs = []
        for body, _ in JOBS:
            job = wait_prune(client, post(client, architecture=architecture_id, **body)["id"])
            assert job["status"] == "succeeded", job
            jobs.append(job)
        ids = [job["id"] for job in jobs]
        assert any(job["collapsed"] for job in jobs), "no job collapsed a layer"

        # the per-layer profile: one labelled line per job, the title names what was pruned
        layers = f"/v1/plots/prune-layers?job_ids={','.join(map(str, ids))}"
        for fmt in ("svg", "png"):
            check_image(client.get(f"{layers}&format={fmt}"), fmt)
        svg = client.get(layers).text
        for job, (_, label) in zip(jobs, JOBS, strict=True):
            assert label in svg and f"(job {job['id']})" in svg, label
        assert "10 rounds" in svg  # synflow's iterations differ from its default
        assert f"architecture #{architecture_id} (nb201)" in svg and "init seed 0" in svg
        assert "collapsed layer (no weight kept)" in svg
        first_layer = jobs[0]["layers"][0]["name"].removesuffix(".weight")
        assert first_layer in svg  # the layer names label the x axis
        one = client.get(f"/v1/plots/prune-layers?job_ids={ids[0]}").text
        assert f"(job {ids[0]})" in one and f"(job {ids[1]})" not in one
        # jobs of two architectures, whose layers differ: the x axis is the layer's index
        (other_id,) = submit(client, nb201_items([OTHER_CELL]))
        other = wait_prune(
            client, post(client, architecture=other_id, method="random", compression=10)["id"]
        )
        assert [x["name"] for x in other["layers"]] != [x["name"] for x in jobs[0]["layers"]]
        both = client.get(f"/v1/plots/prune-layers?job_ids={ids[0]},{other['id']}").text
        assert f"architectures #{architecture_id}, #{other_id}" in both
        assert (
            "the jobs' layers differ" in both
            and f"random, compression 10 (job {other['id']})" in both
        )

        # layer collapse against compression: a line per method, its first collapse marked
        compression = f"/v1/plots/prune-compression?architecture_id={architecture_id}"
        for fmt in ("svg", "png"):
            check_image(client.get(f"{compression}&format={fmt}"), fmt)
        svg = client.get(compression).text
        lines = {"magnitude": "magnitude", "snip": "snip", "synflow": "synflow, 10 rounds"}
        for method, line in lines.items():
            assert line in svg, line
            collapsing = [
                j["achieved_compression"] for j in jobs if j["method"] == method and j["collapsed"]
            ]
            if collapsing:
                assert f"{line}: collapses at {compression_text(min(collapsing))}" in svg
            else:
                assert f"{line}: collapses at" not in svg
        profile_id = jobs[0]["data_profile_id"]
        chosen = client.get(f"{compression}&data_profile_id={profile_id}&init_seed=0").text
        assert f"data profile #{profile_id}:" in chosen and "magnitude" in chosen
        none = client.get(f"{compression}&init_seed=5&format=svg")
        check_image(none, "svg")
        assert f"no succeeded prune jobs of architecture #{architecture_id}" in none.text
        assert "magnitude" not in none.text
        check_error(client.get("/v1/plots/prune-compression?architecture_id=999"), 404, "not_found")
        check_error(client.get(f"{compression}&data_profile_id=999"), 404, "not_found")

        # /metrics counts the prune jobs by status
        assert metric(client, "succeeded") == len(JOBS) + 1
        assert metric(client, "queued") == metric(client, "failed") == 0

        # the dashboard lists them with links to their masks and figures
        html = client.get("/").text
        assert 'id="prune-jobs"' in html and "Recent prune jobs" in html
        for job in jobs:
            row = re.search(rf'<tr data-prune-job="{job["id"]}">(.*?)</tr>', html, re.S)
            assert row, job["id"]
            cells = row.group(1)
            assert job["method"] in cells and "succeeded" in cells
            assert f"{job['achieved_sparsity']:.4f}" in cells
            assert f'data-field="collapsed">{len(job["collapsed"])}<' in cells
            assert f'href="/v1/prune-jobs/{job["id"]}/masks"' in cells
            assert f'href="/v1/plots/prune-layers?job_ids={job["id"]}"' in cells
        for link in re.findall(r'href="(/v1/plots/prune-[^"]+)"', html):
            check_image(client.get(link.replace("&amp;", "&")), "svg")
        succeeded = sorted([*ids, other["id"]], reverse=True)  # all, the newest first
        assert f'job_ids={",".join(map(str, succeeded))}"' in html


def test_prune_figure_errors(migrated_url: str, serve: Serve) -> None:
    with serve(migrated_url, embedded_worker=False) as client:
        empty = client.get("/").text
        assert "No prune jobs yet" in empty and "data-prune-job" not in empty
        (architecture_id,) = submit(client, nb201_items([CELL]))
        queued = post(client, architecture=architecture_id, method="snip", sparsity=0.5)["id"]

        layers = "/v1/plots/prune-layers"
        check_error(client.get(f"{layers}?job_ids=999"), 404, "not_found")
        check_error(client.get(f"{layers}?job_ids={queued},999"), 409, "job_not_succeeded")
        check_error(client.get(f"{layers}?job_ids={queued}"), 409, "job_not_succeeded", "job_ids")
        for bad in ("abc", "1,,2", "0", "-1", "1.5", "2147483648", "1;2"):
            check_error(client.get(f"{layers}?job_ids={bad}"), 422, "invalid_id", "job_ids")
        many = ",".join(str(i) for i in range(1, MAX_FIGURE_JOBS + 2))
        check_error(client.get(f"{layers}?job_ids={many}"), 422, "too_many_ids", "job_ids")
        check_error(client.get(layers), 422, "validation_error", "job_ids")
        check_error(
            client.get(f"{layers}?job_ids={queued}&format=gif"), 422, "validation_error", "format"
        )

        compression = "/v1/plots/prune-compression"
        check_error(client.get(compression), 422, "validation_error", "architecture_id")
        check_error(
            client.get(f"{compression}?architecture_id=0"),
            422,
            "validation_error",
            "architecture_id",
        )
        check_error(
            client.get(f"{compression}?architecture_id={architecture_id}&init_seed=-1"),
            422,
            "validation_error",
            "init_seed",
        )
        # a queued job is not drawn: the figure says there is nothing yet
        nothing = client.get(f"{compression}?architecture_id={architecture_id}&format=svg")
        check_image(nothing, "svg")
        assert f"no succeeded prune jobs of architecture #{architecture_id}" in nothing.text

        assert metric(client, "queued") == 1 and metric(client, "succeeded") == 0
        html = client.get("/").text
        row = re.search(rf'<tr data-prune-job="{queued}">(.*?)</tr>', html, re.S)
        assert row and "queued" in row.group(1) and "/masks" not in row.group(1)
