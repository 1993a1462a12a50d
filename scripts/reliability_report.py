"""Run the reliability cases at full size and write docs/reliability.md.

    .venv/bin/python scripts/reliability_report.py            # all cases, ~20 minutes
    .venv/bin/python scripts/reliability_report.py --only 1 5  # some cases
    .venv/bin/python scripts/reliability_report.py --quick     # the test suite's sizes

The cases and their orchestration are those of the test suite (tests/reliability/cases.py
and harness.py): this script only chooses larger sizes and writes the table. It exits 1 when
any case lost, duplicated or answered 5xx, or failed to run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))
sys.path.insert(0, str(ROOT))

import cases  # noqa: E402
from harness import CaseResult  # noqa: E402

FULL = {
    "1": (cases.worker_crashes, {"cells": 300, "workers": 3}),
    "2": (cases.api_restarts, {"clients": 8, "duration": 60.0, "restarts": 2}),
    "3": (cases.database_faults, {"cells": 300, "clients": 4, "outage": 10.0}),
    "4": (cases.concurrency, {"clients": 16, "architectures": 1000, "batch": 250}),
    "5": (cases.hostile_input, {"fuzz_requests": 2000}),
    "6": (cases.resource_limits, {"cells": 100, "max_attempts": 3}),
    "7": (cases.auth, {}),
    "8": (cases.soak, {"seconds": 600.0, "max_requests": 200_000}),
}
QUICK = {
    "1": {"cells": 300, "workers": 3},
    "2": {"clients": 8, "duration": 24.0, "restarts": 2},
    "3": {"cells": 150, "clients": 4, "outage": 5.0},
    "4": {"clients": 16, "architectures": 1000, "batch": 250},
    "5": {"fuzz_requests": 300},
    "6": {"cells": 60, "max_attempts": 3},
    "7": {},
    "8": {"seconds": 60.0},
}
HEADER = ["case", "load", "faults injected", "requests", "lost", "duplicates", "5xx", "p99"]


def table(results: list[CaseResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(result.row()) + " |" for result in results]
    return "\n".join(lines)


def render(results: list[CaseResult], started: datetime, seconds: float, quick: bool) -> str:
    template = (ROOT / "docs" / "reliability.md.in").read_text()
    details = []
    for result in results:
        notes = json.dumps(result.notes, indent=1, default=str, ensure_ascii=False)
        details.append(f"### {result.case} ({result.seconds:.0f} s)\n\n```json\n{notes}\n```\n")
    machine = f"{platform.node()}, {platform.machine()}, Python {platform.python_version()}"
    return template.format(
        date=started.strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine,
        minutes=seconds / 60,
        sizes="the test suite's sizes (--quick)" if quick else "full sizes",
        table=table(results),
        details="\n".join(details),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(FULL), help="case numbers")
    parser.add_argument("--quick", action="store_true", help="the test suite's sizes")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reliability.md")
    args = parser.parse_args()
    started = datetime.now(UTC)
    clock = time.monotonic()
    results: list[CaseResult] = []
    failed = False
    for number in args.only or sorted(FULL):
        case, sizes = FULL[number]
        if args.quick:
            sizes = QUICK[number]
        print(f"case {number}: {case.__name__}({sizes})", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"zc-reliability-{number}-") as workdir:
            try:
                result = case(Path(workdir), **sizes)
            except Exception as error:  # noqa: BLE001  (a case that cannot run is a row)
                traceback.print_exc()
                result = CaseResult(
                    f"{number}. {case.__name__}", str(sizes), "", notes={"error": repr(error)}
                )
                failed = True
        failed |= bool(result.lost or result.duplicates or result.server_errors)
        print("  " + " | ".join(result.row()) + f" ({result.seconds:.0f} s)", flush=True)
        results.append(result)
    seconds = time.monotonic() - clock
    args.output.write_text(render(results, started, seconds, args.quick))
    print(f"wrote {args.output} ({seconds / 60:.1f} min)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
