"""Correlations through the API equal the library's on the same cells and batch, counting
every submitted cell (``benchmarks/reproduce_via_api.py`` does all 400 reference cells
against docs/reproduction.md; this is a subset, against the library in-process), the
recommended label-free ranker's row included."""

from __future__ import annotations

import csv
import math

import pytest
from api_support import SHARED_DATA, Serve, check_error, submit, wait_job

import zero_cost
from zero_cost import data, ensemble, metrics, spaces

PROXIES = ["params", "flops", "synflow", "nwot", "meco", "az_progressivity"]
CELLS = 12


@pytest.mark.skipif(
    not (SHARED_DATA / "cifar10_sample.npz").is_file(),
    reason=f"the reference data is not at {SHARED_DATA} (see ../shared/data/README.md)",
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_api_correlations_equal_the_librarys(migrated_url: str, serve: Serve) -> None:
    with open(SHARED_DATA / "nb201_dev.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:CELLS]
    space = spaces.get("nb201")
    batch = data.npz_batch(SHARED_DATA / "cifar10_sample.npz", 64, seed=0, split="train")
    library: dict[str, list[float]] = {name: [] for name in PROXIES}
    for row in rows:
        model = space.build(space.parse(row["arch_str"]), num_classes=10, seed=0)
        for name, result in zero_cost.score(model, PROXIES, batch.inputs, batch.targets).items():
            log = zero_cost.proxies.get(name).log_scale
            library[name].append(result.log_value if log else result.value)
    truth = [float(row["cifar10_test"]) for row in rows]

    with serve(migrated_url) as client:
        ids = submit(client, [{"space": "nb201", "spec": row["arch_str"]} for row in rows])
        assert len(set(ids)) == CELLS  # one record per submitted cell
        job = client.post("/v1/score-jobs", json={"architectures": ids, "proxies": PROXIES})
        assert wait_job(client, job.json()["id"], timeout=600)["status"] == "succeeded"
        reports = [
            {"architecture": a, "dataset": "cifar10", "value": v}
            for a, v in zip(ids, truth, strict=True)
        ]
        assert client.post("/v1/accuracies", json={"items": reports}).status_code == 200
        answer = client.get(
            "/v1/correlations", params={"dataset": "cifar10", "bootstrap": 0}
        ).json()
        fewer = client.get(
            "/v1/correlations",
            params={"dataset": "cifar10", "bootstrap": 0, "proxies": "params,flops"},
        ).json()
        only = client.get(
            "/v1/correlations",
            params={"dataset": "cifar10", "bootstrap": 0, "ensembles": "recommended"},
        ).json()
        voted = client.get(
            "/v1/correlations", params={"dataset": "cifar10", "bootstrap": 0, "ensembles": "vote"}
        ).json()
        scatter = client.get(
            "/v1/plots/scatter", params={"dataset": "cifar10", "name": "recommended"}
        )
        assert scatter.status_code == 200, scatter.text
        unavailable = client.get(
            "/v1/plots/scatter",
            params={"dataset": "cifar10", "name": "recommended", "proxies": "params,flops"},
        )
        check_error(unavailable, 422, "recommended_unavailable", "name")
    rows_by_name = {row["name"]: row for row in answer["rows"]}
    assert "cifar10_sample.npz" in answer["data_profile"]
    for name in PROXIES:
        values = library[name]
        finite = sum(math.isfinite(v) for v in values)
        expected = metrics.spearman(values, truth)
        assert rows_by_name[name]["n"] == finite, name
        assert rows_by_name[name]["spearman"] == pytest.approx(expected, abs=0.002), name
    chosen = ensemble.recommended("nb201").ranker
    expected = metrics.spearman(chosen.score(library), truth)
    assert rows_by_name["recommended"]["kind"] == "ensemble"
    assert rows_by_name["recommended"]["spearman"] == pytest.approx(expected, abs=0.002)
    assert chosen.describe() in rows_by_name["recommended"]["note"]
    # Without the ranker's proxies among those asked for, no recommended row.
    assert "recommended" not in {row["name"] for row in fewer["rows"]}
    assert [r["name"] for r in only["rows"] if r["kind"] == "ensemble"] == ["recommended"]
    assert [r["name"] for r in voted["rows"] if r["kind"] == "ensemble"] == ["vote"]
