"""The ``zero-cost`` command line.

Commands that talk to a service run against a live server (the ``server`` fixture of
conftest.py): uvicorn in a thread of this process on a free port, over a migrated SQLite file,
with the embedded worker.
"""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import pytest
import torch
import typer.main
from typer.testing import CliRunner

from app.cli import app
from app.db import migrations
from zero_cost import ensemble, search, spaces

SMALL = {"channels": 4, "cells_per_stage": 1}
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
]

runner = CliRunner()


def invoke(*args: str) -> object:
    return runner.invoke(app, list(args), catch_exceptions=False)


def invoke_json(*args: str) -> object:
    """Run with --json; the parsed stdout (the exit status must be 0)."""
    result = invoke("--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


ALL_COMMANDS = _command_paths(typer.main.get_command(app))


def test_every_command_is_listed() -> None:
    names = {path[0] for path in ALL_COMMANDS if path}
    assert names >= {
        "serve", "worker", "db", "submit", "score", "status", "accuracies", "correlate",
        "rank", "search",
    }  # fmt: skip
    assert ("db", "upgrade") in ALL_COMMANDS and ("db", "current") in ALL_COMMANDS


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "zero-cost")
def test_help_of_every_command(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    description = result.output.split("Options:")[0].split("\n", 2)[-1]
    assert len(description.split()) >= 5, f"no help text for {path}: {result.output}"


def test_serve_help_names_postgres_upgrade() -> None:
    text = " ".join(invoke("serve", "--help").output.split())
    assert "PostgreSQL deployments run" in text and "db upgrade` once" in text


# -- local scoring ----------------------------------------------------------------------------


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "specs.json"
    items = [{"space": "nb201", "spec": cell, "settings": SMALL} for cell in CELLS[:2]]
    path.write_text(json.dumps(items))
    return path


def test_score_local_prints_a_table(spec_file: Path) -> None:
    result = invoke("score", str(spec_file), "--local", "--proxies", "snip,synflow,params",
                    "--batch-size", "8")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scores (local)" in result.stdout
    assert "log synflow" in result.stdout and "snip" in result.stdout
    assert "│" in result.stdout  # a table, not JSON


def test_score_local_json(spec_file: Path) -> None:
    result = invoke("--json", "score", str(spec_file), "--local", "--proxies", "snip,synflow",
                    "--batch-size", "8")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["job"] is None
    assert [row["spec"] for row in body["architectures"]] == CELLS[:2]
    for row in body["architectures"]:
        assert set(row["scores"]) == {"snip", "synflow"}
        assert row["scores"]["snip"]["status"] == "ok"
        assert row["scores"]["snip"]["value"] > 0
        assert row["scores"]["synflow"]["log_value"] is not None
        assert row["scores"]["snip"]["k"] == 1 and row["scores"]["snip"]["std"] == 0.0


def test_score_local_reads_an_onnx_file(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(torch.randn(10, 8).numpy(), "w")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        initializer=[weight],
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    result = invoke("--json", "score", str(path), "--local", "--proxies", "params",
                    "--batch-size", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["architectures"]
    assert row["space"] == "onnx" and row["scores"]["params"]["value"] == 80


def test_score_local_repeated(spec_file: Path) -> None:
    """With repeats, a score is the mean over init seeds and batches, with its spread."""
    args = ["score", str(spec_file), "--local", "--proxies", "snip,params", "--batch-size", "8"]
    result = invoke("--json", *args, "--repeat-init-seeds", "2", "--repeat-batches", "2")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["architectures"]
    once = json.loads(invoke("--json", *args).stdout)["architectures"]
    for row, single in zip(rows, once, strict=True):
        snip = row["scores"]["snip"]
        assert (
            snip["k"] == 4
            and snip["std"] > 0
            and snip["value"] != single["scores"]["snip"]["value"]
        )
        assert row["scores"]["params"]["value"] == single["scores"]["params"]["value"]
    table = invoke(*args, "--repeat-init-seeds", "2")
    assert table.exit_code == 0 and "±" in table.stdout, table.output
    refused = invoke(*args, "--repeat-batches", "11")
    assert refused.exit_code != 0


def test_score_local_reports_an_invalid_spec(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps("|nor_conv_3x3~0|") + "\n")
    result = invoke("score", str(path), "--local", "--proxies", "params")
    assert result.exit_code == 1
    assert "spec 0" in result.output and "nb201" in result.output


def test_read_specs_formats(tmp_path: Path) -> None:
    from app.cli.spec_files import read_specs

    (tmp_path / "a.json").write_text(json.dumps([CELLS[0], {"spec": CELLS[1]}]))
    (tmp_path / "b.jsonl").write_text(f'"{CELLS[0]}"\n\n{json.dumps([0, 1, 2, 3, 4, 0])}\n')
    (tmp_path / "c.csv").write_text(f"index,arch_str\n1,{CELLS[0]}\n")
    (tmp_path / "d.csv").write_text('spec,space\n"[0, 1, 2, 3, 4, 0]",nb201\n')
    assert read_specs(tmp_path / "a.json") == [
        {"space": "nb201", "spec": CELLS[0]},
        {"space": "nb201", "spec": CELLS[1]},
    ]
    assert [i["spec"] for i in read_specs(tmp_path / "b.jsonl")] == [CELLS[0], [0, 1, 2, 3, 4, 0]]
    assert read_specs(tmp_path / "c.csv") == [{"space": "nb201", "spec": CELLS[0]}]
    assert read_specs(tmp_path / "d.csv") == [{"space": "nb201", "spec": [0, 1, 2, 3, 4, 0]}]


NB201 = spaces.get("nb201")


def test_search_refuses_a_space_without_mutation() -> None:
    result = invoke("search", "--space", "nb101", "--budget", "5")
    assert result.exit_code == 1 and "defined for the nb201, darts" in result.output
    assert all(name in invoke("search", "--help").output for name in search.OPERATORS)
    result = invoke("search", "--space", "darts", "--settings", "[8]", "--budget", "5")
    assert result.exit_code == 1 and "--settings: expected a JSON object" in result.output


# -- against a live server --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_submit_table_and_json(server: str, spec_file: Path) -> None:
    result = invoke("--url", server, "submit", str(spec_file))
    assert result.exit_code == 0, result.output
    assert "canonical key" in result.stdout and "2 architectures" in result.stdout
    again = invoke("--url", server, "--json", "submit", str(spec_file))
    rows = json.loads(again.stdout)
    assert [r["created"] for r in rows] == [False, False]
    key = spaces.get("nb201", **SMALL).canonical_key(NB201.parse(CELLS[0]))
    assert rows[0]["canonical_key"] == key


def test_score_follows_a_job_and_status_shows_it(server: str, spec_file: Path) -> None:
    result = invoke("--url", server, "--json", "score", str(spec_file),
                    "--proxies", "snip,params", "--batch-size", "8")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    job = body["job"]
    assert job["status"] == "succeeded" and job["total"] == 2
    for row in body["architectures"]:
        assert row["scores"]["snip"]["status"] == "ok"
        assert row["scores"]["params"]["value"] > 0
    table = invoke("--url", server, "score", "--ids", str(body["architectures"][0]["id"]),
                   "--proxies", "snip,params", "--batch-size", "8")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "succeeded" in table.stdout

    status = invoke("--url", server, "status", str(job["id"]))
    assert status.exit_code == 0, status.output
    assert "succeeded" in status.stdout and "snip, params" in status.stdout
    status_json = json.loads(invoke("--url", server, "--json", "status", str(job["id"])).stdout)
    assert status_json["counts"].get("succeeded") == 2

    missing = invoke("--url", server, "status", "999999")
    assert missing.exit_code == 1 and "404" in missing.output


def test_score_repeated_against_the_service(server: str, spec_file: Path) -> None:
    args = ["--url", server, "score", str(spec_file), "--proxies", "snip,params"]
    body = invoke_json(*args, "--batch-size", "8", "--repeat-init-seeds", "3")
    assert body["job"]["repeats"] == {"init_seeds": 3, "batches": 1}
    for row in body["architectures"]:
        assert row["scores"]["snip"]["k"] == 3 and row["scores"]["snip"]["std"] > 0
    status = invoke("--url", server, "status", str(body["job"]["id"]))
    assert "3 init seeds x 1 batches" in status.stdout, status.output


def test_accuracies_and_correlate(server: str, tmp_path: Path) -> None:
    path = tmp_path / "acc.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_str", "cifar10_test"])
        for cell, accuracy in zip(CELLS, (93.0, 60.0, 85.0), strict=True):
            writer.writerow([cell, accuracy])
    result = invoke("--url", server, "accuracies", str(path), "--dataset", "cifar10")
    assert result.exit_code == 0, result.output
    assert "3 accuracies submitted, 3 new" in result.stdout
    again = invoke("--url", server, "--json", "accuracies", str(path))
    assert json.loads(again.stdout) == {"submitted": 3, "created": 0}

    # Score the same (default-settings) cells on one profile, then correlate.
    spec_path = tmp_path / "cells.csv"
    spec_path.write_text("arch_str\n" + "\n".join(CELLS) + "\n")
    scored = invoke("--url", server, "score", str(spec_path), "--proxies", "params,flops",
                    "--batch-size", "4")  # fmt: skip
    assert scored.exit_code == 0, scored.output
    again = invoke_json("--url", server, "score", str(spec_path), "--proxies", "params,flops",
                        "--batch-size", "4")  # fmt: skip
    profile = again["job"]["data_profile_id"]
    result = invoke("--url", server, "correlate", "--dataset", "cifar10", "--proxies",
                    "params,flops", "--data-profile-id", str(profile),
                    "--bootstrap", "50")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "params" in result.stdout and "log_rank" in result.stdout
    body = invoke_json("--url", server, "correlate", "--proxies", "params,flops",
                       "--profile-id", str(profile), "--bootstrap", "0")  # fmt: skip
    rows = {row["name"]: row for row in body["rows"]}
    assert rows["params"]["n"] == 3 and rows["params"]["spearman"] == pytest.approx(1.0)


def test_rank_prints_the_top(server: str, tmp_path: Path) -> None:
    path = tmp_path / "cells.jsonl"
    path.write_text("".join(json.dumps(cell) + "\n" for cell in CELLS))
    result = invoke("--url", server, "--json", "rank", str(path), "--proxies", "params",
                    "--top", "2", "--batch-size", "4")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["candidates"] == 3 and len(body["top"]) == 2
    assert [row["rank"] for row in body["top"]] == [1, 2]
    assert body["top"][0]["spec"] == CELLS[0]  # the most convolutions, the most parameters
    table = invoke("--url", server, "rank", str(path), "--proxies", "params,flops")
    assert table.exit_code == 0, table.output
    assert "top 3 of 3" in table.stdout


def test_rank_with_a_second_stage(server: str, tmp_path: Path) -> None:
    """--second-stage re-orders the first stage's best; with a fraction of 1 that is the
    whole list, whose best by the second stage (flops) scores 2; the answer names it."""
    path = tmp_path / "cells.jsonl"
    path.write_text("".join(json.dumps(cell) + "\n" for cell in CELLS))
    body = invoke_json("--url", server, "rank", str(path), "--proxies", "params",
                       "--second-stage", "flops", "--second-stage-fraction", "1",
                       "--batch-size", "4")  # fmt: skip
    assert body["second_stage"] == {"proxies": ["flops"], "fraction": 1.0}
    assert set(body["top"][0]["scores"]) == {"params", "flops"}
    assert body["top"][0]["spec"] == CELLS[0] and body["top"][0]["score"] == 2.0
    named = invoke_json("--url", server, "rank", str(path), "--proxies", "params",
                        "--batch-size", "4")  # fmt: skip
    assert named["second_stage"] is None
    table = invoke("--url", server, "rank", str(path), "--proxies", "params",
                   "--second-stage", "flops", "--batch-size", "4")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "best 20% re-ranked by log_rank(flops)" in table.stdout
    for extra, message in (
        (["--second-stage-fraction", "0.5"], "--second-stage-fraction needs --second-stage"),
        (["--second-stage", "flops", "--second-stage-fraction", "2"], "fraction must be in"),
        (["--second-stage", "flops", "--ensemble", "vote"], None),
    ):
        result = invoke("--url", server, "rank", str(path), "--proxies", "params",
                        "--batch-size", "4", *extra)  # fmt: skip
        if message is None:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 1 and message in result.output, result.output


def test_service_ranker_maps_duplicates_back(server: str) -> None:
    from zero_cost.client import Client

    with Client(server) as client:
        data = {"source": "synthetic", "batch_size": 4}
        rank = search.service_ranker(client, ["params", "flops"], data=data)
        # A cell proposed twice is one architecture to the service: both get its score.
        a = "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
        scores = rank([a, CELLS[0], a, CELLS[1]])
    assert len(scores) == 4 and scores[0] == scores[2]
    assert scores[1] > scores[0] > scores[3]


def test_search_against_the_server(server: str) -> None:
    result = invoke("--url", server, "--json", "search", "--budget", "20", "--population", "8",
                    "--sample", "3", "--batch", "6", "--proxies", "params,flops",
                    "--batch-size", "2", "--top", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["evaluated"] == 20 and len(body["best"]) == 3
    assert body["best"][0]["score"] >= body["best"][1]["score"]
    table = invoke("--url", server, "search", "--budget", "12", "--population", "8",
                   "--proxies", "params,flops", "--batch-size", "2", "--random")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "random search" in table.stdout
    # Without --proxies: the recommended ranker, both stages, named in the title.
    default = invoke("--url", server, "search", "--budget", "8", "--population", "4",
                     "--sample", "2", "--batch", "4", "--batch-size", "2")  # fmt: skip
    assert default.exit_code == 0, default.output
    assert ensemble.recommended("nb201").ranker.describe() in " ".join(default.stdout.split())


def test_search_darts_against_the_server(server: str) -> None:
    settings = {"channels": 4, "layers": 5}
    result = invoke("--url", server, "--json", "search", "--space", "darts",
                    "--settings", json.dumps(settings), "--budget", "10", "--population", "6",
                    "--sample", "3", "--batch", "4", "--proxies", "params", "--batch-size", "2",
                    "--top", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["space"], body["settings"], body["evaluated"]) == ("darts", settings, 10)
    darts = spaces.get("darts", **settings)
    best = [darts.parse(row["spec"]) for row in body["best"]]  # genotypes, as dicts
    assert darts.param_count(best[0]) == body["best"][0]["score"] > 0
    table = invoke("--url", server, "search", "--space", "darts", "--settings",
                   json.dumps(settings), "--budget", "6", "--proxies", "params", "--batch-size",
                   "2", "--top", "1")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert '{"normal":[["' in table.stdout  # a genotype as compact JSON
    table = invoke("--url", server, "search", "--space", "nats_sss", "--budget", "6",
                   "--proxies", "params", "--batch-size", "2", "--random")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "random search in nats_sss" in table.stdout


def test_db_upgrade_and_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite")
    before = invoke_json("db", "current")
    assert before["current"] is None and not before["up_to_date"]
    assert "zero-cost db upgrade" in invoke("db", "current").stdout
    result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    after = invoke_json("db", "current")
    assert after["up_to_date"] and after["current"] == migrations.head_revision()


def test_unknown_proxy_and_unreachable_service(spec_file: Path) -> None:
    result = invoke("score", str(spec_file), "--local", "--proxies", "nope")
    assert result.exit_code == 1 and "unknown proxy 'nope'" in result.output
    url = f"http://127.0.0.1:{_free_port()}"
    result = invoke("--url", url, "status", "1")
    assert result.exit_code == 1 and f"cannot reach the service at {url}" in result.output
