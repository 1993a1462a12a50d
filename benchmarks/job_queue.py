"""The job queue measured to its ceiling: items per second through PostgreSQL with N worker
processes claiming B items at a time, and how fairly two jobs submitted at once are served.

Each configuration runs N simulated workers, each a separate process (fork; threads would
share one GIL) with its own engine (``app.db.session.make_engine``) and the real
``JobQueue``: claim B items, ``inputs_many``, score them with a fake scorer (a ScoreRecord
per missing proxy, at once or after ``--delay`` seconds per item), ``complete_many``, and a
heartbeat every lease/3 seconds in the same loop (one connection per worker), until a claim
comes back empty. The job of M items (``--items``) is submitted with ``create_job`` before
the workers are let go; the clock runs from then to the last completion. Reported per
configuration (median over ``--repeats`` for items/s, the run with that median for the rest):

* items/s end to end: M / seconds from release to the last completion;
* claim latency, p50 and p99, over every non-empty claim of every worker;
* database CPU: CPU seconds of the PostgreSQL backends of the benchmark's connections plus
  the server's own processes (checkpointer, background writer, WAL writer, autovacuum),
  read from ``/proc`` before and after, as a fraction of the machine's cores over the run;
  backends serving other databases of a shared server are not counted;
* worker CPU: the simulated workers' own CPU seconds (``os.times``), same fraction;
* machine CPU: every process's (``/proc/stat``), same fraction: on a shared machine, what
  neither the database nor the workers used went to other processes.

The server of this project's development machine runs with autovacuum off; during a run the
benchmark does what autovacuum's defaults would do on a production server, a ``VACUUM
(ANALYZE)`` of ``job_items`` and ``scores`` every ``--vacuum-seconds`` (1 s; its CPU counts
as database CPU). Without it the planner keeps the statistics of the empty ``scores`` table
and reads every score of the profile for each ``inputs_many``: the run slows as it goes.

After every run it checks that each item succeeded exactly once (one attempt, and the
workers' ``complete_many`` returned it once in all) and that each (architecture, proxy)
of the job has exactly one score, and says so.

The fairness run submits two jobs of M/2 items each at once and reports how many items of
each were done at 25, 50 and 75 % of the run (from the items' ``finished_at``).

The benchmark drops and recreates its own database (``--database``, default
``zc_bench_queue``) on the server of ``--admin-url``, migrates it with the project's
Alembic scripts, inserts M architectures and a data profile with plain INSERTs, and empties
the queue tables between runs. The full table (N = 1, 8, 32, 64; B = 1, 8, 32; 4,000 items
a run) takes about ten minutes on two busy cores::

    .venv/bin/python benchmarks/job_queue.py
    .venv/bin/python benchmarks/job_queue.py --quick                  # N=8, B=8, 2,000 items
    .venv/bin/python benchmarks/job_queue.py --workers 32 --batches 32 --items 20000 --repeats 3
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import multiprocessing.synchronize  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import queue as queue_module  # noqa: E402  (the standard library's)
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from sqlalchemy import Engine, create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.db import migrations  # noqa: E402
from app.db.models import Architecture, DataProfile  # noqa: E402
from app.db.queue import ClaimedItem, JobQueue, create_job  # noqa: E402
from app.db.records import ItemInputs, ScoreRecord  # noqa: E402
from app.db.session import make_engine  # noqa: E402

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASE = "zc_bench_queue"
PROXIES = [("snip", "1"), ("grasp", "1"), ("synflow", "1")]
LEASE_SECONDS = 60.0
CORES = os.cpu_count() or 1
TICKS = os.sysconf("SC_CLK_TCK")
SERVER_PROCESSES = ("checkpointer", "background writer", "walwriter", "autovacuum")
QUEUE_TABLES = "scores, job_items, score_jobs, workers"


@dataclass(frozen=True)
class Run:
    """One run's measurements."""

    workers: int
    batch: int
    items: int
    seconds: float
    claim_seconds: list[float]
    db_cpu: float
    worker_cpu: float
    machine_cpu: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    def claim_ms(self, quantile: float) -> float:
        ordered = sorted(self.claim_seconds)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


# -- the database --------------------------------------------------------------------------


def fresh_database(admin_url: str, name: str, synchronous_commit: bool = True) -> str:
    """Drop and recreate database ``name``, migrate it to head; its URL. Without
    ``synchronous_commit`` its sessions do not wait for the WAL flush at commit (a crash
    may lose the last commits: measured as an option, never the product's setting)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            if not synchronous_commit:
                connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    finally:
        admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    return url


def seed(engine: Engine, count: int) -> tuple[list[int], int]:
    """``count`` architectures (distinct made-up keys; nothing is built) and one data
    profile; their ids and the profile's."""
    rows = [
        {
            "space": "nb201",
            "settings": "{}",
            "identity_key": f"bench-{n}",
            "canonical_key": f"bench-{n}",
            "spec": '"bench"',
            "is_degenerate": False,
            "params": 1,
            "flops": 1,
        }
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Architecture), rows)
        ids = list(connection.scalars(text("SELECT id FROM architectures ORDER BY id")))
        profile_id = connection.scalar(
            insert(DataProfile)
            .values(key="bench", source="synthetic", config="{}")
            .returning(DataProfile.id)
        )
    return ids, profile_id


def empty_queue(engine: Engine) -> None:
    """Remove every job, item, score and worker row left by the previous run."""
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {QUEUE_TABLES} RESTART IDENTITY"))


def submit(engine: Engine, jobs: Sequence[Sequence[int]], profile_id: int) -> list[int]:
    """One job per architecture-id list, then ANALYZE (autovacuum may be off); job ids."""
    job_ids = [create_job(engine, ids, PROXIES, profile_id, init_seed=0) for ids in jobs]
    with engine.begin() as connection:
        connection.execute(text("ANALYZE job_items"))
    return job_ids


def server_cpu_seconds(engine: Engine, database: str) -> float:
    """CPU seconds so far of ``database``'s backends and the server's own processes."""
    with engine.connect() as connection:
        pids = connection.scalars(
            text(
                "SELECT pid FROM pg_stat_activity WHERE (datname = :name"
                " AND pid <> pg_backend_pid()) OR backend_type = ANY(:types)"
                " OR backend_type LIKE 'autovacuum%'"
            ),
            {"name": database, "types": list(SERVER_PROCESSES)},
        ).all()
    return sum(_process_cpu_seconds(pid) for pid in pids)


def machine_cpu_seconds() -> float:
    """CPU seconds the machine has been busy, all cores and processes (``/proc/stat``)."""
    user, nice, system, _, _, irq, softirq, steal = (
        int(field) for field in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICKS


def _process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # exited since it was listed
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def check(engine: Engine, items: int, completed: int) -> str:
    """Every item succeeded exactly once and every (architecture, proxy) has one score;
    raises AssertionError otherwise, else a line that says so."""
    with engine.connect() as connection:
        statuses = dict(
            connection.execute(text("SELECT status, count(*) FROM job_items GROUP BY status")).all()
        )
        attempts = connection.scalar(text("SELECT max(attempts) FROM job_items"))
        done = connection.scalar(text("SELECT sum(items_done) FROM workers"))
        scores = connection.scalar(text("SELECT count(*) FROM scores"))
        pairs = connection.scalar(
            text(
                "SELECT count(*) FROM (SELECT i.architecture_id, p.proxy FROM job_items i"
                " CROSS JOIN (SELECT DISTINCT proxy FROM scores) p JOIN scores s"
                " ON s.architecture_id = i.architecture_id AND s.proxy = p.proxy"
                " GROUP BY 1, 2 HAVING count(*) = 1) once"
            )
        )
    expected_scores = items * len(PROXIES)
    assert statuses == {"succeeded": items}, statuses
    assert attempts == 1 and completed == items and done == items, (attempts, completed, done)
    assert scores == pairs == expected_scores, (scores, pairs, expected_scores)
    return (
        f"checked: {items} items succeeded, each once (one attempt; completed once by the "
        f"workers); {scores} scores, one per (architecture, proxy)"
    )


# -- the workers ---------------------------------------------------------------------------


def fake_scores(item: ClaimedItem, inputs: ItemInputs) -> list[ScoreRecord]:
    """What a scorer would return for the item: one record per missing proxy."""
    return [
        ScoreRecord(
            architecture_id=item.architecture_id,
            proxy=proxy,
            proxy_version=version,
            data_profile_id=inputs.profile.id,
            seed=inputs.seed,
            value=float(item.architecture_id),
            log_value=None,
            status="ok",
            error=None,
            seconds=0.0,
            device="bench",
            repeat_init_seeds=inputs.repeats.init_seeds,
            repeat_batches=inputs.repeats.batches,
            std=0.0,
        )
        for proxy, version in inputs.missing
    ]


def work(
    url: str,
    index: int,
    batch: int,
    delay: float,
    ready: multiprocessing.synchronize.Barrier,
    start: multiprocessing.synchronize.Barrier,
    results: multiprocessing.Queue,
    leave: multiprocessing.synchronize.Event,
) -> None:
    """One simulated worker: claim, read inputs, score (fake), complete, until the queue is
    empty; puts (index, claim latencies, items completed, CPU seconds, finish time)."""
    engine = make_engine(url)
    try:
        queue = JobQueue(engine, f"bench-{index}", LEASE_SECONDS, max_attempts=3)
        queue.register("bench")
        ready.wait()
        start.wait()
        cpu = sum(os.times()[:2])
        latencies, completed = [], 0
        beat = time.monotonic()
        while True:
            began = time.monotonic()
            claimed = queue.claim(batch)
            if not claimed:
                break
            latencies.append(time.monotonic() - began)
            inputs = queue.inputs_many(claimed)
            if delay:
                time.sleep(delay * len(claimed))
            done = [(item, fake_scores(item, inputs[item.item_id])) for item in claimed]
            completed += len(queue.complete_many(done))
            finished = time.monotonic()
            if finished - beat > LEASE_SECONDS / 3:
                queue.heartbeat()
                beat = finished
        results.put((index, latencies, completed, sum(os.times()[:2]) - cpu, finished))
        leave.wait()  # keep the connection (and its backend's CPU count) until measured
    except BaseException:  # noqa: BLE001  (reported by the parent)
        results.put((index, traceback.format_exc()))
    finally:
        engine.dispose()


def run_workers(
    engine: Engine,
    database: str,
    workers: int,
    batch: int,
    delay: float,
    items: int,
    vacuum_seconds: float,
) -> tuple[Run, float]:
    """Run ``workers`` processes over the ``items`` queued items, vacuuming and analyzing
    the queue tables every ``vacuum_seconds`` (0: never), then check the outcome; the run
    and its start (database clock, epoch seconds)."""
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("fork")  # inherit the imports; engines made after
    ready, start = context.Barrier(workers + 1), context.Barrier(workers + 1)
    leave = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=work, args=(url, n, batch, delay, ready, start, results, leave))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        ready.wait(timeout=120)  # every worker connected: their backends can be listed
        cpu_before = server_cpu_seconds(engine, database)
        with engine.connect() as connection:
            db_start = connection.scalar(text("SELECT extract(epoch FROM clock_timestamp())"))
        machine_before = machine_cpu_seconds()
        start.wait(timeout=120)
        released = time.monotonic()
        reports = []
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as maintenance:
            while len(reports) < workers:
                try:
                    report = results.get(timeout=vacuum_seconds or 1800)
                except queue_module.Empty:
                    # What autovacuum's defaults do on a server that runs it
                    maintenance.execute(text("VACUUM (ANALYZE) job_items, scores"))
                    continue
                if len(report) == 2:
                    raise RuntimeError(f"worker {report[0]} failed:\n{report[1]}")
                reports.append(report)
        cpu_after = server_cpu_seconds(engine, database)
        machine_after = machine_cpu_seconds()
    except BaseException:
        for process in processes:
            process.kill()
        raise
    finally:
        leave.set()
        for process in processes:
            process.join(timeout=60)
    seconds = max(report[4] for report in reports) - released
    completed = sum(report[2] for report in reports)
    print("  " + check(engine, items, completed), flush=True)
    run = Run(
        workers=workers,
        batch=batch,
        items=items,
        seconds=seconds,
        claim_seconds=[latency for report in reports for latency in report[1]],
        db_cpu=(cpu_after - cpu_before) / (seconds * CORES),
        worker_cpu=sum(report[3] for report in reports) / (seconds * CORES),
        machine_cpu=(machine_after - machine_before) / (seconds * CORES),
    )
    return run, float(db_start)


# -- the runs ------------------------------------------------------------------------------


def throughput(
    engine: Engine,
    database: str,
    architecture_ids: Sequence[int],
    profile_id: int,
    workers: int,
    batch: int,
    delay: float,
    repeats: int,
    vacuum_seconds: float,
) -> Run:
    """The run of median items/s over ``repeats`` runs of one job."""
    runs = []
    for _ in range(repeats):
        empty_queue(engine)
        submit(engine, [architecture_ids], profile_id)
        run, _ = run_workers(
            engine, database, workers, batch, delay, len(architecture_ids), vacuum_seconds
        )
        print(
            f"  N={workers} B={batch}: {run.rate:,.0f} items/s in {run.seconds:.1f} s", flush=True
        )
        runs.append(run)
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def fairness(
    engine: Engine,
    database: str,
    architecture_ids: Sequence[int],
    profile_id: int,
    workers: int,
    batch: int,
    delay: float,
    vacuum_seconds: float,
) -> list[tuple[float, int, int]]:
    """Two jobs of half the architectures each, submitted at once: (fraction of the run,
    items of the first job done, of the second) at 25, 50 and 75 % of the run."""
    half = len(architecture_ids) // 2
    empty_queue(engine)
    first, second = submit(
        engine, [architecture_ids[:half], architecture_ids[half : 2 * half]], profile_id
    )
    run, db_start = run_workers(engine, database, workers, batch, delay, 2 * half, vacuum_seconds)
    with engine.connect() as connection:
        db_end = connection.scalar(text("SELECT max(finished_at) FROM job_items"))
        rows = []
        for fraction in (0.25, 0.5, 0.75):
            at = db_start + fraction * (db_end - db_start)
            done = dict(
                connection.execute(
                    text(
                        "SELECT job_id, count(*) FROM job_items WHERE finished_at <= :at"
                        " GROUP BY job_id"
                    ),
                    {"at": at},
                ).all()
            )
            rows.append((fraction, done.get(first, 0), done.get(second, 0)))
    print(f"  fairness run: {run.rate:,.0f} items/s in {run.seconds:.1f} s", flush=True)
    return rows


def print_table(runs: Sequence[Run]) -> None:
    print(
        f"\n| workers N | claim batch B | items/s | claim p50 ms | claim p99 ms "
        f"| database CPU | worker CPU | machine CPU (of {CORES} cores) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        print(
            f"| {run.workers} | {run.batch} | {run.rate:,.0f} | {run.claim_ms(0.5):.1f} "
            f"| {run.claim_ms(0.99):.1f} | {run.db_cpu:.0%} | {run.worker_cpu:.0%} "
            f"| {run.machine_cpu:.0%} |"
        )


def print_fairness(rows: Sequence[tuple[float, int, int]], half: int) -> None:
    print(f"\n| share of the run | job 1 items done (of {half}) | job 2 items done (of {half}) |")
    print("|---:|---:|---:|")
    for fraction, first, second in rows:
        print(f"| {fraction:.0%} | {first:,} | {second:,} |")


def integers(value: str) -> list[int]:
    return [int(part) for part in value.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=integers, default=[1, 8, 32, 64], help="N values")
    parser.add_argument("--batches", type=integers, default=[1, 8, 32], help="B values")
    parser.add_argument("--items", type=int, default=4_000, help="M, items per run")
    parser.add_argument("--repeats", type=int, default=1, help="runs per (N, B); median")
    parser.add_argument("--delay", type=float, default=0.0, help="scoring seconds per item")
    parser.add_argument(
        "--fairness", type=integers, default=[32, 8], help="N,B of the fairness run"
    )
    parser.add_argument(
        "--vacuum-seconds",
        type=float,
        default=1.0,
        help="VACUUM (ANALYZE) the queue tables this often during a run (0: never)",
    )
    parser.add_argument("--quick", action="store_true", help="N=8, B=8, 2,000 items")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="a PostgreSQL server")
    parser.add_argument("--database", default=DATABASE, help="dropped and recreated")
    parser.add_argument(
        "--synchronous-commit-off",
        action="store_true",
        help="measure with synchronous_commit = off (not the product's setting)",
    )
    args = parser.parse_args()
    if args.quick:
        args.workers, args.batches, args.items, args.fairness = [8], [8], 2_000, [8, 8]

    print(
        f"{platform.node()}: {CORES} cores, Python {platform.python_version()}; "
        f"M={args.items:,} items, {len(PROXIES)} proxies each, delay {args.delay} s/item"
        + (", synchronous_commit off" if args.synchronous_commit_off else ""),
        flush=True,
    )
    url = fresh_database(args.admin_url, args.database, not args.synchronous_commit_off)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            print(connection.scalar(text("SELECT version()")), flush=True)
        architecture_ids, profile_id = seed(engine, args.items)
        runs = [
            throughput(
                engine,
                args.database,
                architecture_ids,
                profile_id,
                workers,
                batch,
                args.delay,
                args.repeats,
                args.vacuum_seconds,
            )
            for batch in args.batches
            for workers in args.workers
        ]
        workers, batch = args.fairness
        rows = fairness(
            engine,
            args.database,
            architecture_ids,
            profile_id,
            workers,
            batch,
            args.delay,
            args.vacuum_seconds,
        )
    finally:
        engine.dispose()
    print_table(runs)
    half = args.items // 2
    print(f"\nFairness: two jobs of {half:,} items submitted at once, N={workers}, B={batch}")
    print_fairness(rows, half)
    return 0


if __name__ == "__main__":
    sys.exit(main())
