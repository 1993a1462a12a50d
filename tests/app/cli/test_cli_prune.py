"""``zero-cost prune`` against a live service (the ``server`` fixture of conftest.py): a spec
file pruned with magnitude, the per-layer table printed and the masks saved; the same
request again answers the stored job; the masks equal the job's summary."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from app.cli import app
from zero_cost import prune

TINY = {"channels": 4, "cells_per_stage": 1}
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
runner = CliRunner()


def invoke(*args: str) -> object:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_prune_command(server: str, tmp_path: Path) -> None:
    spec = tmp_path / "cell.json"
    spec.write_text(json.dumps([{"space": "nb201", "spec": CELL, "settings": TINY}]))
    out = tmp_path / "masks.safetensors"
    common = (
        "prune", str(spec), "--method", "magnitude", "--compression", "4", "--data",
        "synthetic", "--batch-size", "8", "--out", str(out),
    )  # fmt: skip
    result = invoke("--url", server, *common)
    assert result.exit_code == 0, result.output
    assert "fraction" in result.output and f"masks saved to {out}" in result.output
    assert "sparsity achieved 0.75" in result.output

    result = invoke("--url", server, "--json", *common)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["created"] is False and job["status"] == "succeeded"
    assert job["masks_path"] == str(out)
    masks = prune.load_masks(out)
    assert [
        {"name": name, "total": mask.numel(), "kept": int(mask.sum())}
        for name, mask in masks.items()
    ] == [{k: x[k] for k in ("name", "total", "kept")} for x in job["layers"]]
    assert all(mask.dtype == torch.bool for mask in masks.values())

    result = invoke("--url", server, "prune", str(spec), "--sparsity", "0.5", "--compression", "2")
    assert result.exit_code == 1 and "exactly one" in result.output
