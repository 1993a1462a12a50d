"""Pruning at initialisation on the service: ``prune``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from ._common import (
    DEFAULT_DATA_FILE,
    CliError,
    State,
    data_config,
    emit_json,
    format_number,
    get_state,
    reporting_errors,
    stderr_console,
    stdout_console,
)
from .spec_files import read_specs

commands = typer.Typer()


@commands.command("prune")
def prune_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="A file with one spec (.json, .jsonl, .csv or .onnx).")
    ] = None,
    architecture_id: Annotated[
        int | None, typer.Option("--id", min=1, help="Id of a stored architecture.")
    ] = None,
    method: Annotated[
        str, typer.Option(help="Pruning method: snip, grasp, synflow, magnitude, random.")
    ] = "synflow",
    sparsity: Annotated[
        float | None, typer.Option(help="Fraction of the weights removed, e.g. 0.9.")
    ] = None,
    compression: Annotated[
        float | None, typer.Option(help="Weights before over after, e.g. 10 (= sparsity 0.9).")
    ] = None,
    scope: Annotated[
        Literal["global", "layerwise"],
        typer.Option(help="Rank all weights together, or keep the same fraction per layer."),
    ] = "global",
    iterations: Annotated[
        int | None,
        typer.Option(min=1, help="Prune rounds (default: the method's, synflow 100, else 1)."),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", "--init-seed", min=0, help="Init seed of the network.")
    ] = 0,
    data: Annotated[
        Literal["synthetic", "npz"] | None,
        typer.Option(help="The batch: default the service's default data profile."),
    ] = None,
    data_file: Annotated[
        Path, typer.Option(help="The .npz for --data npz (its name, in ZC_DATA_DIR).")
    ] = DEFAULT_DATA_FILE,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size (with --data).")] = 64,
    space: Annotated[str, typer.Option(help="Space of a spec that names none.")] = "nb201",
    out: Annotated[Path, typer.Option(help="Where to save the masks (safetensors).")] = Path(
        "masks.safetensors"
    ),
) -> None:
    """Prune an architecture at initialisation on the service and save its masks.

    Queues a prune job for the spec in FILE (or the stored architecture --id) with
    exactly one of --sparsity and --compression, waits for a worker to compute it (an
    equal job computed before is answered at once), prints the kept fraction of every
    layer and saves the masks to --out (read them with zero_cost.prune.load_masks).
    """
    state = get_state(ctx)
    with reporting_errors(state):
        if (file is None) == (architecture_id is None):
            raise CliError("give a spec file or --id (one of them)")
        if (sparsity is None) == (compression is None):
            raise CliError("give exactly one of --sparsity and --compression")
        architecture: int | dict[str, Any]
        if file is not None:
            specs = read_specs(file, space)
            if len(specs) != 1:
                raise CliError(f"{file}: holds {len(specs)} specs; prune one at a time")
            architecture = specs[0]
        else:
            architecture = architecture_id
        with state.client() as client, stderr_console().status("pruning ...") as spinner:
            job = client.prune(
                architecture,
                method,
                sparsity=sparsity,
                compression=compression,
                scope=scope,
                iterations=iterations,
                data=data_config(data, batch_size, data_file),
                init_seed=seed,
                on_progress=lambda j: spinner.update(f"prune job {j['id']}: {j['status']} ..."),
            )
            saved = None
            if job["status"] == "succeeded":
                saved = client.prune_masks(job["id"], out)
    _show(state, job, saved)
    if job["status"] != "succeeded":
        raise typer.Exit(1)


def _show(state: State, job: dict[str, Any], saved: Path | None) -> None:
    """The job as JSON (with ``--json``, plus ``masks_path``) or as a table and a summary."""
    if state.json:
        emit_json({**job, "masks_path": None if saved is None else str(saved)})
        return
    console = stdout_console()
    title = (
        f"prune job {job['id']}: {job['method']} on architecture {job['architecture_id']}, "
        f"{job['scope']}, {job['iterations']} rounds, target sparsity "
        f"{format_number(job['sparsity'])}: {job['status']}"
    )
    if job["status"] != "succeeded":
        console.print(title)
        if job.get("error"):
            console.print(f"error: {job['error']}")
        return
    table = Table(title=title)
    for name, justify in (("layer", "left"), ("shape", "left"), ("total", "right")):
        table.add_column(name, justify=justify)
    table.add_column("kept", justify="right")
    table.add_column("fraction", justify="right")
    for layer in job["layers"]:
        table.add_row(
            layer["name"],
            "x".join(str(n) for n in layer["shape"]),
            f"{layer['total']:,}",
            f"{layer['kept']:,}",
            f"{layer['fraction']:.4f}",
        )
    console.print(table)
    console.print(
        f"sparsity achieved {job['achieved_sparsity']:.4f} (compression "
        f"{format_number(job['achieved_compression'])}); collapsed layers: "
        f"{', '.join(job['collapsed']) or 'none'}"
    )
    console.print(f"masks saved to {saved}")
