"""The scripted demo behind ``make demo``: a fresh service, 200 NB201 cells, scored and ranked.

Migrates a fresh SQLite database, starts the service (embedded worker, plus one worker
process per further CPU core), then talks to it over HTTP only: submits 200 NB201 cells,
scores them with snip, grasp and synflow (progress bar), prints the top 10 by the label-free
log-rank ensemble, and, when reference accuracies are available, submits them and prints
the correlation table. Stops the server and exits 0.

Data: the service's default data profile, which it prints: the CIFAR-10 sample batch when
``cifar10_sample.npz`` is in the data directory, otherwise a synthetic batch (and it says
so).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from zero_cost.client import Client
from zero_cost.spaces.nb201 import OPS, NB201Arch

from .db.migrations import upgrade

PROXIES = ["snip", "grasp", "synflow"]
DEFAULT_DATA = Path("..") / "shared" / "data"
# Piped output (CI logs, files) gets wide tables instead of folding at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(database: Path, data_dir: Path | None, workers: int) -> Iterator[str]:
    """A service (uvicorn + embedded worker) and ``workers`` extra worker processes."""
    port = _free_port()
    # Keys set empty, not removed: a .env file with keys would otherwise lock the demo out.
    env = dict(
        os.environ, DATABASE_URL=f"sqlite:///{database}", ZC_TORCH_THREADS="1", ZC_API_KEYS=""
    )
    if data_dir is not None:
        env["ZC_DATA_DIR"] = str(data_dir)
    log = open(database.with_suffix(".log"), "w")  # noqa: SIM115  (closed below)
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
    processes = [subprocess.Popen(command, env=env, stdout=log, stderr=log)]
    processes += [
        subprocess.Popen([sys.executable, "-m", "app.worker"], env=env, stdout=log, stderr=log)
        for _ in range(workers)
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        with Client(url) as client:
            for _ in range(120):
                try:
                    client.request("GET", "/readyz")
                    break
                except Exception:  # noqa: BLE001  (not up yet)
                    if processes[0].poll() is not None:
                        raise SystemExit(f"the service did not start; see {log.name}") from None
                    time.sleep(0.5)
        yield url
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _cells(accuracies: Path | None, count: int) -> tuple[list[str], dict[str, float]]:
    """The first ``count`` reference cells with their accuracies, or random cells."""
    if accuracies is not None:
        with open(accuracies, newline="") as f:
            rows = list(csv.DictReader(f))[:count]
        return [r["arch_str"] for r in rows], {
            r["arch_str"]: float(r["cifar10_test"]) for r in rows
        }
    rng = random.Random(0)
    cells = {NB201Arch(tuple(rng.choice(OPS) for _ in range(6))).arch_str for _ in range(count * 2)}
    return sorted(cells)[:count], {}


def run(args: argparse.Namespace) -> None:
    data_dir = args.data_dir if args.data_dir.is_dir() else None
    accuracies = args.accuracies
    if accuracies is None and data_dir is not None and (data_dir / "nb201_dev.csv").exists():
        accuracies = data_dir / "nb201_dev.csv"
    if data_dir is None or not (data_dir / "cifar10_sample.npz").exists():
        console.print(
            "[yellow]No CIFAR-10 sample found: the service's default data is a synthetic "
            "Gaussian batch.[/yellow]"
        )
    database = Path(args.database).resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{database}")
    console.print(f"Fresh SQLite database {database} migrated to head.")
    cells, accuracy = _cells(accuracies, args.cells)
    workers = max(0, (os.cpu_count() or 1) - 1)
    with running_service(database, data_dir, workers) as url, Client(url) as client:
        console.print(f"Service up at {url} (embedded worker + {workers} worker process(es)).")
        stored = client.submit([{"space": "nb201", "spec": cell} for cell in cells])
        ids = [a.id for a in stored]
        console.print(
            f"Submitted {len(cells)} NB201 cells: {len(set(ids))} distinct architectures."
        )
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(f"Scoring with {', '.join(PROXIES)}", total=len(set(ids)))
            job = client.score(
                ids,
                PROXIES,
                poll_seconds=0.5,
                on_progress=lambda j: progress.update(task, completed=j.finished),
            )
        console.print(f"Job {job.id}: {job.status} {job.counts}")
        console.print(
            f"Data profile {job.data_profile_id} (the service's default): {job.data_profile}"
        )
        ranking = client.rank(ids, PROXIES, ensemble="log_rank", wait=False)
        spec_of = dict(zip(ids, cells, strict=True))
        table = Table(title="Top 10 by the log-rank ensemble of snip, grasp and synflow")
        for column in ("rank", "cell", "ensemble", *PROXIES, "CIFAR-10 test %"):
            if column == "cell":
                table.add_column(column, overflow="fold", min_width=30)
            else:
                table.add_column(column, justify="right")
        for candidate in ranking[:10]:
            cell = spec_of[candidate.architecture_id]
            table.add_row(
                str(candidate.rank),
                cell,
                f"{candidate.score:.3f}",
                *(_fmt(candidate.scores[p]) for p in PROXIES),
                _fmt(accuracy.get(cell)),
            )
        console.print(table)
        if accuracy:
            client.add_accuracies(
                {"architecture": a, "dataset": "cifar10", "value": accuracy[c]}
                for a, c in zip(ids, cells, strict=True)
            )
            report = client.correlations(
                "cifar10", proxies=PROXIES, data_profile_id=job.data_profile_id
            )
            table = Table(title=f"Rank correlation with CIFAR-10 test accuracy ({accuracies})")
            for column in ("score", "n", "Spearman rho [95% CI]", "Kendall tau", "top-10% prec."):
                table.add_column(column, justify="left" if column == "score" else "right")
            for row in report["rows"]:
                low, high = row["spearman_ci"]
                table.add_row(
                    row["name"],
                    str(row["n"]),
                    f"{_fmt(row['spearman'])} [{_fmt(low)}, {_fmt(high)}]",
                    _fmt(row["kendall_tau_b"]),
                    _fmt(row["precision_at_k"].get("0.1")),
                )
            console.print(table)
        else:
            console.print("No reference accuracies (--accuracies FILE): no correlation table.")
    console.print("Service stopped. Done.")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=200, help="NB201 cells to score")
    parser.add_argument(
        "--accuracies", type=Path, help="CSV with arch_str and cifar10_test columns"
    )
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="reference data")
    parser.add_argument("--database", default="zero_cost_demo.db", help="SQLite file (recreated)")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
