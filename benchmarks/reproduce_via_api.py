"""Reproduce docs/reproduction.md through the service: the same correlations, over every
submitted cell.

Starts a fresh service (SQLite, embedded worker plus one worker process per further core,
the reference data directory, so its default data profile is the 64-image CIFAR-10 sample
that ``benchmarks/reproduce_nb201.py`` scores on), submits the 400 reference NB201 cells,
scores them with every proxy of the reproduction, reports their ``cifar10_test``
accuracies, reads ``GET /v1/correlations`` and compares each proxy's Spearman rho and n with
the table of docs/reproduction.md. Exits 1 if any differs by more than 0.002 or counts
other cells::

    .venv/bin/python benchmarks/reproduce_via_api.py
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db.migrations import upgrade  # noqa: E402
from app.demo import running_service  # noqa: E402
from benchmarks.reproduce_nb201 import CLASSIC_PROXIES as PROXIES  # noqa: E402
from benchmarks.reproduce_nb201 import SHARED_DATA  # noqa: E402
from zero_cost.client import Client  # noqa: E402

TOLERANCE = 0.002


def documented(path: Path) -> dict[str, tuple[float, int]]:
    """proxy -> (Spearman rho, n) from the table of docs/reproduction.md."""
    rows = {}
    for line in path.read_text().splitlines():
        # | name | C10 rho | C10 tau | C100 rho | IN16 rho | top 10% | n | ...
        match = re.match(r"\| ([a-z_0-9]+) \| (-?[0-9.]+) \|(?: [^|]* \|){4} (\d+) \|", line)
        if match:
            rows[match.group(1)] = (float(match.group(2)), int(match.group(3)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "reproduction.md")
    args = parser.parse_args()
    with open(SHARED_DATA / "nb201_dev.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = documented(args.docs)
    workers = max(0, (os.cpu_count() or 1) - 1)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "reproduction.db"
        upgrade(f"sqlite:///{database}")
        with running_service(database, SHARED_DATA, workers) as url, Client(url) as client:
            stored = client.submit([{"space": "nb201", "spec": r["arch_str"]} for r in rows])
            ids = [a.id for a in stored]
            job = client.score(ids, PROXIES, poll_seconds=2.0, timeout=6 * 3600)
            print(f"job {job.id}: {job.status} {job.counts}; {job.data_profile}")
            client.add_accuracies(
                {"architecture": a, "dataset": "cifar10", "value": float(r["cifar10_test"])}
                for a, r in zip(ids, rows, strict=True)
            )
            report = client.correlations("cifar10", proxies=PROXIES, bootstrap=0)
    print(f"{len(set(ids))} architectures, {time.monotonic() - started:.0f} s")
    print("| proxy | API rho | API n | docs rho | docs n | difference |")
    print("|---|---|---|---|---|---|")
    failures = 0
    for row in report["rows"]:
        if row["kind"] != "proxy":
            continue
        rho, n = row["spearman"], row["n"]
        doc_rho, doc_n = expected[row["name"]]
        difference = abs(rho - doc_rho)
        bad = difference > TOLERANCE or n != doc_n
        failures += bad
        mark = " (!)" if bad else ""
        cells = f"{rho:.3f} | {n} | {doc_rho:.3f} | {doc_n} | {difference:.4f}{mark}"
        print(f"| {row['name']} | {cells} |")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
