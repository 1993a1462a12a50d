"""Seconds per NAS-Bench-201 cell of each proxy scored alone, against grad_norm in the same run.

Every proxy is scored by itself (so shared passes are not split between proxies) on the
networks of seeded reference cells (C=16, N=5) with the 64-image batch of
``cifar10_sample.npz``, in this process with one torch thread; the proxies take turns cell
by cell, so machine noise falls on all of them alike. Prints the median seconds per cell
and the ratio to ``grad_norm`` (one forward and one backward of the batch), the baseline
measured in the same run::

    .venv/bin/python benchmarks/proxy_seconds.py --cells 5
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.reproduce_nb201 import SHARED_DATA, load_cells  # noqa: E402
from zero_cost import data, proxies, score, spaces  # noqa: E402

BASELINE = "grad_norm"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--proxies", default=",".join(proxies.names()))
    args = parser.parse_args(argv)
    npz = SHARED_DATA / "cifar10_sample.npz"
    if not npz.exists():
        print(f"reference data not found in {SHARED_DATA}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    names = list(dict.fromkeys([BASELINE, *args.proxies.split(",")]))
    batch = data.npz_batch(npz, 64, seed=0, split="train")
    space = spaces.get("nb201")
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for cell in load_cells(SHARED_DATA / "nb201_dev.csv", args.cells, seed=1):
        for name in names:
            model = space.build(space.parse(cell.arch_str), num_classes=10, seed=0)
            start = time.perf_counter()
            score(model, [name], batch.inputs, batch.targets, seed=0)
            seconds[name].append(time.perf_counter() - start)
    baseline = float(np.median(seconds[BASELINE]))
    print(f"median of {args.cells} cells, one thread; baseline {BASELINE} {baseline:.3f} s/cell")
    print("| proxy | s/cell (median) | / grad_norm |")
    print("|---|---|---|")
    for name in names:
        median = float(np.median(seconds[name]))
        print(f"| {name} | {median:.3f} | {median / baseline:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
