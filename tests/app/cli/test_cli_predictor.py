"""``zero-cost predictor train|show`` and ``zero-cost search --ensemble learned`` against a
live service (the ``server`` fixture of conftest.py), with accuracies from the reference
NAS-Bench-201 table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from zero_cost.client import Client

TINY = {"channels": 4, "cells_per_stage": 1}
PROXIES = ["params", "flops", "synflow", "nwot"]
SYNTHETIC = {"source": "synthetic", "batch_size": 8}
runner = CliRunner()


def invoke(*args: str) -> object:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_predictor_train_and_show(server: str, shared_data: Path) -> None:
    with open(shared_data / "nb201_dev.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))[:45]
    with Client(server) as client:
        stored = client.submit(
            [{"space": "nb201", "spec": r["arch_str"], "settings": TINY} for r in rows]
        )
        ids = [a.id for a in stored]
        assert client.score(ids, PROXIES, data=SYNTHETIC, poll_seconds=0.05).status == "succeeded"
        client.add_accuracies(
            {"architecture": a, "dataset": "cifar10", "value": float(r["cifar10_test"])}
            for a, r in zip(ids, rows, strict=True)
        )
    result = invoke(
        "--url", server, "--json", "predictor", "train", "--dataset", "cifar10",
        "--min-labels", "5", "--wait",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["status"] == "succeeded" and trained["mode"] == "model", trained
    assert trained["proxies"] == sorted(PROXIES)
    assert "model" not in trained and "oof" not in trained

    result = invoke("--url", server, "predictor", "show", str(trained["id"]))
    assert result.exit_code == 0, result.output
    assert "cross-validation" in result.output and "learning curve" in result.output
    assert "spearman" in result.output and "top_spearman" in result.output
    shown = json.loads(
        invoke("--url", server, "--json", "predictor", "show", str(trained["id"])).stdout
    )
    assert shown == trained

    result = invoke("--url", server, "predictor", "show", "999")
    assert result.exit_code == 1 and "not_found" in result.output


def test_search_with_the_learned_predictor(server: str, shared_data: Path) -> None:
    result = invoke(
        "--url", server, "--json", "search", "--budget", "20", "--population", "10",
        "--sample", "3", "--batch", "5", "--proxies", "params,flops", "--batch-size", "8",
        "--ensemble", "learned", "--dataset", "cifar10-search",
        "--accuracies", str(shared_data / "nb201_dev.csv"), "--retrain-every", "10",
        "--min-labels", "5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["evaluated"] == 20 and found["best"]
    with Client(server) as client:
        predictors = client.predictors("cifar10-search")
    assert predictors, "the search queued no predictor training"
    assert {p["status"] for p in predictors} <= {"succeeded", "failed"}
    # The output says what ranked: a learned model, a predictor in fallback mode, or (when
    # too few of the random cells are reference cells with an accuracy) log_rank.
    trained = [p for p in predictors if p["status"] == "succeeded"]
    if not trained:
        assert "no predictor could be trained" in found["predictor"]
    else:
        assert f"predictor {trained[0]['id']} " in found["predictor"]
        assert ("fallback mode" in found["predictor"]) == (trained[0]["mode"] == "fallback")


def test_search_learned_needs_dataset_and_accuracies(server: str) -> None:
    result = invoke("--url", server, "search", "--ensemble", "learned", "--budget", "5")
    assert result.exit_code == 1
    assert "--dataset and --accuracies" in result.output
