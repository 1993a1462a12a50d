"""Throughput of the worker's scoring children on one device: NAS-Bench-201 cells per second
with 1, 2, 4 and 8 items in flight (``ZC_ITEMS_IN_FLIGHT``), to choose that setting.

Each row times ``--cells`` NB201 cells (C=16, N=5, 10 classes, init seed 0; seeded random
non-degenerate cells) scored through a ``ScoringPool`` of that many children, exactly as a
worker scores its items (spawned children on CUDA, deterministic algorithms, per-item time
limit), dispatched from as many threads; each child first scores one cell untimed (CUDA
initialisation, first kernels). Two proxy sets, as in ``benchmarks/speed.py``: ``trio``
(snip, grasp, synflow) and ``six`` (those and grad_norm, fisher, jacob_cov). The batch is 64
CIFAR-10 training images of ``cifar10_sample.npz`` (``--data``, default
``../shared/data/cifar10_sample.npz``), else a synthetic batch of that shape (said so in
the output). Reported per row: cells/s, the peak device memory in use while the row ran
above what was in use before its children started (all children together, their CUDA
contexts included; sampled every 20 ms), and the time the whole 15,625-cell NB201 space
would take at that rate. The goal on an H200 is at least 50 cells/s for the trio.

    python benchmarks/gpu.py                          # CUDA, 192 cells per row
    python benchmarks/gpu.py --out gpu.md             # also write the table to a file
    python benchmarks/gpu.py --device cpu --cells 8   # a smoke run without a GPU

``--budget`` (seconds, default 300) skips the rows that would start after it is spent, so
that ``scripts/gpu_check.sh`` fits its time on a lent GPU machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import torch  # noqa: E402

from app.db.records import ArchitectureRecord, ProfileRecord  # noqa: E402
from app.profiles import NpzData, SyntheticData  # noqa: E402
from app.worker.item_scorer import Limits, pick_device  # noqa: E402
from app.worker.scoring_parent import ScoringPool  # noqa: E402
from zero_cost import proxies, spaces  # noqa: E402
from zero_cost.spaces.nb201 import OPS, NB201Arch  # noqa: E402

SETS = {
    "trio": ("snip", "grasp", "synflow"),
    "six": ("snip", "grasp", "synflow", "grad_norm", "fisher", "jacob_cov"),
}
LABELS = {"trio": "snip+grasp+synflow", "six": "six-proxy bundle"}
GOAL = ("trio", 50.0)  # cells/s on an H200
SPACE_SIZE = 15_625
BATCH_SIZE = 64
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10_sample.npz"


@dataclass(frozen=True)
class Row:
    """One timed configuration."""

    proxies: str
    in_flight: int
    cells: int
    seconds: float
    errors: int
    peak_bytes: int | None

    @property
    def cells_per_second(self) -> float:
        return self.cells / self.seconds


def nb201_cells(count: int, seed: int = 0) -> list[ArchitectureRecord]:
    """``count`` distinct random non-degenerate NB201 cells at C=16, N=5, as stored records."""
    space, rng = spaces.get("nb201"), random.Random(seed)
    records: list[ArchitectureRecord] = []
    seen: set[str] = set()
    while len(records) < count:
        arch = NB201Arch(tuple(rng.choice(OPS) for _ in range(6)))
        if arch.is_degenerate or arch.arch_str in seen:
            continue
        seen.add(arch.arch_str)
        records.append(
            ArchitectureRecord(
                id=len(records) + 1,
                space="nb201",
                settings="{}",
                identity_key=space.identity_key(arch),
                canonical_key=space.canonical_key(arch),
                spec=json.dumps(space.to_spec(arch)),
                is_degenerate=False,
                params=space.param_count(arch),
                flops=space.flops(arch),
            )
        )
    return records


def data_profile(path: Path) -> tuple[ProfileRecord, str | None, str]:
    """The profile every cell is scored on, the data folder it reads, and a description:
    64 images of ``path`` when it exists, else a synthetic batch of that shape."""
    if path.is_file():
        config = NpzData(file=path.name, batch_size=BATCH_SIZE, seed=0).model_dump()
        profile = ProfileRecord(id=1, key="benchmark", source="npz", config=config, blob=None)
        return profile, str(path.parent), f"{BATCH_SIZE} images of {path} (seed 0)"
    config = SyntheticData(batch_size=BATCH_SIZE, seed=0).model_dump()
    profile = ProfileRecord(id=1, key="benchmark", source="synthetic", config=config, blob=None)
    return profile, None, f"a synthetic batch of {BATCH_SIZE} (seed 0; {path} not found)"


class MemoryPeak:
    """The most device memory in use (all processes) while it runs, sampled every 20 ms."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="memory", daemon=True)

    def in_use(self) -> int:
        free, total = torch.cuda.mem_get_info(self.device)
        return total - free

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.in_use())
            if self._stop.wait(0.02):
                return


def measure(
    pool: ScoringPool,
    in_flight: int,
    set_name: str,
    cells: list[ArchitectureRecord],
    profile: ProfileRecord,
    memory: MemoryPeak | None,
    baseline: int,
) -> Row:
    """Score ``cells`` with the set's proxies, ``in_flight`` at a time, and time it."""
    names = [(name, proxies.get(name).version) for name in SETS[set_name]]

    def one(record: ArchitectureRecord) -> int:
        return sum(r.status != "ok" for r in pool.score(record, profile, names, 0))

    with ThreadPoolExecutor(in_flight) as dispatch:
        list(dispatch.map(one, cells[:in_flight]))  # warm every child up with this set
        started = time.perf_counter()
        errors = sum(dispatch.map(one, cells))
        seconds = time.perf_counter() - started
    peak = None if memory is None else max(memory.peak - baseline, 0)
    return Row(LABELS[set_name], in_flight, len(cells), seconds, errors, peak)


def run(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    """Every row within the budget, and notes on what was skipped."""
    device = pick_device(args.device)
    profile, data_dir, _ = data_profile(args.data)
    cells = nb201_cells(args.cells)
    limits = Limits(max_params=10**12, max_flops=10**15)
    rows: list[Row] = []
    notes: list[str] = []
    started = time.monotonic()
    for in_flight in args.in_flight:
        if time.monotonic() - started > args.budget:
            notes.append(f"{in_flight} in flight: skipped, the {args.budget:g} s budget is spent")
            continue
        memory = MemoryPeak(device) if device.type == "cuda" else None
        baseline = memory.in_use() if memory else 0
        pool = ScoringPool(in_flight, device, limits, data_dir, args.torch_threads, 600.0)
        try:
            with memory or nullcontext():
                for set_name in args.sets:
                    row = measure(pool, in_flight, set_name, cells, profile, memory, baseline)
                    rows.append(row)
                    print(format_row(row), flush=True, file=sys.stderr)
        finally:
            pool.close()
    return rows, notes


def duration(seconds: float) -> str:
    """``1h 02m 03s``, ``2m 03s`` or ``3s``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def format_row(row: Row) -> str:
    peak = "-" if row.peak_bytes is None else f"{row.peak_bytes / 2**30:.2f}"
    return (
        f"| {row.proxies} | {row.in_flight} | {row.cells} | {row.seconds:.2f} "
        f"| {row.cells_per_second:.1f} | {peak} | {duration(SPACE_SIZE / row.cells_per_second)} "
        f"| {row.errors} |"
    )


def report(args: argparse.Namespace, rows: list[Row], notes: list[str]) -> str:
    """The table with its conditions, as Markdown."""
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    _, _, data = data_profile(args.data)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {now} on {device} ({name or 'CPU'}), torch {torch.__version__}, "
        f"Python {platform.python_version()}.",
        f"NB201 cells at C=16, N=5 (seeded random, non-degenerate), batch: {data}; each child "
        "warmed up on one cell per set; peak memory: device memory in use above the level "
        "before the children started, all children together.",
        "",
        "| proxies | in flight | cells | seconds | cells/s | peak GPU memory GiB "
        f"| {SPACE_SIZE:,} cells in | errors |",
        "|---|---|---|---|---|---|---|---|",
        *(format_row(row) for row in rows),
    ]
    lines += [f"\n{note}" for note in notes]
    goal_set, goal = GOAL
    best = max(
        (row for row in rows if row.proxies == LABELS[goal_set]),
        key=lambda row: row.cells_per_second,
        default=None,
    )
    if best is not None and device.type == "cuda":
        verdict = "met" if best.cells_per_second >= goal else "NOT met"
        lines.append(
            f"\nGoal {goal:g} cells/s for {LABELS[goal_set]} (on an H200): {verdict}, best "
            f"{best.cells_per_second:.1f} cells/s with {best.in_flight} in flight."
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: auto)")
    parser.add_argument("--cells", type=int, default=192, help="cells timed per row")
    parser.add_argument(
        "--in-flight",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 2, 4, 8],
        help="comma-separated items in flight (default 1,2,4,8)",
    )
    parser.add_argument(
        "--sets",
        type=lambda text: text.split(","),
        default=list(SETS),
        help="comma-separated proxy sets: trio, six (default both)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the CIFAR-10 .npz")
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="CPU threads per child (default: auto)"
    )
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for all rows")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    unknown = set(args.sets) - set(SETS)
    if unknown:
        parser.error(f"unknown proxy sets {sorted(unknown)}; choose from {sorted(SETS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows, notes = run(args)
    text = report(args, rows, notes)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
