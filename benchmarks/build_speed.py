"""Median time to build one network per search space (target for NB201: under 30 ms).

    .venv/bin/python benchmarks/build_speed.py [--repeats 50]

Builds NB201 reference cells (or seeded random cells when ../shared/data is absent) with
C=16, N=5, and NB101 reference cells, each with a new seed, and prints median and p90.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zero_cost import spaces  # noqa: E402
from zero_cost.spaces.nb201 import OPS, NB201Arch  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"


def _nb201_specs(count: int) -> list[str]:
    path = SHARED_DATA / "nb201_dev.csv"
    if path.exists():
        with open(path, newline="") as f:
            return [row["arch_str"] for row in csv.DictReader(f)][:count]
    rng = random.Random(0)
    return [NB201Arch(tuple(rng.choice(OPS) for _ in range(6))).arch_str for _ in range(count)]


def _nb101_specs(count: int) -> list[dict]:
    path = SHARED_DATA / "nb101_dev.json"
    if not path.exists():
        return []
    return [{"matrix": r["matrix"], "ops": r["ops"]} for r in json.loads(path.read_text())][:count]


def _time_builds(space_name: str, specs: list) -> list[float]:
    space = spaces.get(space_name)
    archs = [space.parse(spec) for spec in specs]
    space.build(archs[0], seed=0)  # warm-up
    seconds = []
    for seed, arch in enumerate(archs):
        start = time.perf_counter()
        space.build(arch, num_classes=10, seed=seed)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50, help="networks built per space")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'space':8} {'n':>4} {'median ms':>10} {'p90 ms':>8}")
    for name, specs in (
        ("nb201", _nb201_specs(args.repeats)),
        ("nb101", _nb101_specs(args.repeats)),
    ):
        if not specs:
            print(f"{name:8} skipped: no reference cells in {SHARED_DATA}")
            continue
        seconds = sorted(_time_builds(name, specs))
        p90 = seconds[int(0.9 * (len(seconds) - 1))]
        print(
            f"{name:8} {len(seconds):4d} {statistics.median(seconds) * 1e3:10.2f} {p90 * 1e3:8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
