"""What the recommended two-stage ranker costs through the service: scoring its second stage
only for the first stage's best against scoring both stages for every candidate.

The default rank (``POST /v1/rank`` naming no proxies: ``log_rank(meco)``, its best 20 %
re-ranked by ``az_progressivity``) queues meco for every candidate and az_progressivity for
meco's best only. The baseline, measured in the same run, scores both proxies for every
candidate first (one score job) and then ranks. Each measurement starts a fresh service
(SQLite, the embedded worker plus one worker process per further core, the reference data
directory, so candidates are scored on the 64-image CIFAR-10 sample) and times from the
first request to the complete ranking; the two alternate, ``--repeats`` times each. Both
must give the same order (exit 1 otherwise). Prints the medians and their ratio::

    .venv/bin/python benchmarks/rank_cost.py
    .venv/bin/python benchmarks/rank_cost.py --cells 200 --repeats 5
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db.migrations import upgrade  # noqa: E402
from app.demo import running_service  # noqa: E402
from benchmarks.reproduce_nb201 import SHARED_DATA  # noqa: E402
from zero_cost import ensemble  # noqa: E402
from zero_cost.client import Client  # noqa: E402


def timed_rank(cells: Sequence[str], eager: bool, workers: int) -> tuple[float, list[int]]:
    """Seconds from the first request to the complete default ranking of ``cells`` on a
    fresh service, and the ranking (positions of ``cells``, best first); ``eager`` scores
    every proxy of the ranker for every cell first."""
    chosen = ensemble.recommended("nb201").ranker
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "rank_cost.db"
        upgrade(f"sqlite:///{database}")
        with running_service(database, SHARED_DATA, workers) as url, Client(url) as client:
            started = time.perf_counter()
            ids = [a.id for a in client.submit([{"space": "nb201", "spec": c} for c in cells])]
            if eager:
                client.score(ids, chosen.members, poll_seconds=0.2, timeout=3600)
            ranking = client.rank(ids, poll_seconds=0.2)
            seconds = time.perf_counter() - started
    if any(r.rank is None for r in ranking):
        raise SystemExit("a candidate was left unranked; see the service log")
    position = {a: i for i, a in enumerate(ids)}
    return seconds, [position[r.architecture_id] for r in ranking]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=100, help="reference NB201 cells ranked")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each way")
    args = parser.parse_args(argv)
    if not (SHARED_DATA / "nb201_dev.csv").exists():
        print(f"reference data not found in {SHARED_DATA}", file=sys.stderr)
        return 2
    with open(SHARED_DATA / "nb201_dev.csv", newline="") as handle:
        cells = [row["arch_str"] for row in csv.DictReader(handle)][: args.cells]
    workers = max(0, (os.cpu_count() or 1) - 1)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    orders = set()
    for _ in range(args.repeats):
        for eager in (False, True):
            elapsed, order = timed_rank(cells, eager, workers)
            seconds[eager].append(elapsed)
            orders.add(tuple(order))
            print(f"  {'both stages for all' if eager else 'second stage for the best'}: "
                  f"{elapsed:.1f} s", file=sys.stderr)  # fmt: skip
    lazy, eager = statistics.median(seconds[False]), statistics.median(seconds[True])
    chosen = ensemble.recommended("nb201").ranker
    print(f"default rank of {len(cells)} NB201 cells ({chosen.describe()}), fresh service,")
    print(f"{workers + 1} worker(s), median of {args.repeats}:")
    print("| scoring | s (median) | s per cell |")
    print("|---|---|---|")
    print(f"| second stage for the first stage's best | {lazy:.1f} | {lazy / len(cells):.3f} |")
    print(f"| both stages for every cell (baseline) | {eager:.1f} | {eager / len(cells):.3f} |")
    print(f"ratio baseline / default: {eager / lazy:.2f}x; same ranking: {len(orders) == 1}")
    return 0 if len(orders) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
