"""Several WebUIs sharing one PostgreSQL database, side by side in one run: N worker processes with a fake generator
that takes a fixed time per image, against one; the queue on PostgreSQL against the local SQLite default; and where a
job's images are best kept.

    python benchmarks/shared_workers.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
        [--seconds-per-image 0.05] [--workers 1,2,4] [--jobs-per-worker 40] [--repeat 3] [--images 4]
        [--latency-jobs 50] [--overhead-jobs 60] [--rounds 3] [--image-count 200] [--image-kb 400]

--database-url is an administrator's URL: each part gets a new database of its own in that server, dropped after
it. Needs the test stack (tests/stacks/test.txt: huey, SQLAlchemy, psycopg): the workers are tests/shared/worker.py
processes (the jobs of one WebUI, its generation a sleep of --seconds-per-image per image), started from the
repository's root with this Python. The workers run with the WebUI's default timings (heartbeat 5 s, takeover 60 s,
poll 0.5 s, fast batches together up to 1 s a call). Parts, with the targets:
  1. throughput of N worker processes on the shared database, N in --workers: --jobs-per-worker x N jobs of
     --images images (batches of 2) submitted at once from this process; jobs/s and images/s from the first submit
     to the last job's end (the best of --repeat rounds, the counts in another order each round: the least disturbed
     by whatever else the machine does), and the ratio to N=1: target >= 0.9 x N. The generator sleeps, so N
     workers overlap even on a machine with fewer cores than N; what the cores bound is the queue's own work (the
     database, Python);
  2. claim latency, submit -> running (the job's started_at - created_at), one job at a time on idle workers:
     median and p99; on PostgreSQL from another process (this one) to 1 and to 2 worker processes, and on the
     local SQLite default with the worker in the submitting process (as one WebUI runs);
  3. the queue's overhead per job, one worker in this process, SQLite vs PostgreSQL: --overhead-jobs jobs queued
     before the worker starts, (the time from the first start to the last end) / jobs - the generator's time per
     job; --rounds rounds alternating the two, the median shown;
  4. the images: --image-count images of --image-kb KB (random bytes) written then read back, as bytea rows in
     PostgreSQL (the store's table, one transaction per image) vs files in a local folder (the store's atomic
     write), MB/s each way; and through the store itself: `record_images` (files, plus the bytea rows on a shared
     database) and `image_path` from another WebUI's store (an empty folder: fetched from the database) or from
     the files. Files read back just after being written come from the page cache.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sd_prompt_templates.jobs import JobLimits, JobRunner, JobStatus, JobStore
from sd_prompt_templates.jobs.files import write_atomically
from sd_prompt_templates.jobs.queue import JobQueue
from sd_prompt_templates.jobs.settings import JobPaths
from sd_prompt_templates.jobs.store import ImageToSave
from sd_prompt_templates.jobs.system import JobSystem
from sd_prompt_templates.jobs.tables import JOB_IMAGE_DATA, JOBS
from sd_prompt_templates.jobs.webhooks import WebhookSettings
from sd_prompt_templates.plan import GenerationPlan
from tests.shared.processes import Workers
from tests.shared.worker import SlowPort
from tests.unit.test_jobs_fakes import FakePort, make_plan

THROUGHPUT_MIN = 0.9  # N workers: at least 0.9 x N times one worker's throughput
DEFAULTS = JobLimits(max_queued_jobs=100_000, max_images_per_job=100_000)  # the WebUI's timings
WORKER_TIMINGS = dict(
    heartbeat_seconds=DEFAULTS.heartbeat_seconds,
    takeover_seconds=DEFAULTS.takeover_seconds,
    poll_seconds=DEFAULTS.poll_seconds,
    call_seconds=DEFAULTS.call_seconds,
)
TIMEOUT_S = 600.0
IDLE_S = 2 * DEFAULTS.poll_seconds  # part 2: a submit comes at any point of an idle worker's wait (listen, then poll)
MB = 1e6


def load() -> str:
    """The machine's 1-minute load average: whatever else runs on it shares its cores with the workers."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


@contextmanager
def new_database(admin: str) -> Iterator[str]:
    """A new, empty database in the server of `admin`, dropped afterwards (whoever is still connected)."""
    server = make_url(admin).set(drivername="postgresql")
    name = f"spt_bench_{secrets.token_hex(6)}"
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def submitter(store: JobStore, root: Path) -> JobQueue:
    """A queue that only submits (a WebUI's API); its worker never runs."""
    runner = JobRunner(store, FakePort(), worker_name="submitter", limits=lambda: DEFAULTS)
    return JobQueue(store, runner, root / "submitter-queue.sqlite3", limits=lambda: DEFAULTS)


def plans(count: int, images: int, tag: str) -> list[GenerationPlan]:
    batch = 2 if images % 2 == 0 else 1
    return [make_plan(images, batch, seed=10_000 * i, tag=f"{tag}{i}") for i in range(count)]


def wait_all(store: JobStore, ids: list[str], every: float = 0.02) -> list[tuple[float, float, float]]:
    """Until every job has ended (each must succeed): their (created_at, started_at, finished_at)."""
    deadline = time.monotonic() + TIMEOUT_S
    query = sa.select(JOBS.c.status, JOBS.c.created_at, JOBS.c.started_at, JOBS.c.finished_at, JOBS.c.error)
    query = query.where(JOBS.c.id.in_(ids))
    while True:
        with store.database.read() as conn:
            rows = conn.execute(query).all()
        if all(row.finished_at is not None for row in rows) and len(rows) == len(ids):
            failed = [row for row in rows if row.status != JobStatus.SUCCEEDED.value]
            if failed:
                raise SystemExit(f"{len(failed)} jobs did not succeed: {failed[0].status} {failed[0].error}")
            return [(row.created_at, row.started_at, row.finished_at) for row in rows]
        if time.monotonic() > deadline:
            raise SystemExit(f"the jobs did not end within {TIMEOUT_S:.0f} s")
        time.sleep(every)


# -- 1. throughput -------------------------------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """The CPU time (user + system) each process has used so far, from /proc (Linux); {} elsewhere."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def backends(store: JobStore) -> list[int]:
    """The PostgreSQL server processes serving the store's database (every WebUI's connections)."""
    with store.database.read() as conn:
        query = sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [int(pid) for pid in conn.scalars(query)]


def throughput(admin: str, n: int, jobs: int, images: int, seconds: float, base: Path) -> tuple[float, float, float]:
    """jobs/s and images/s of `n` worker processes, and the CPU time each job took (ms): the workers', the
    database server's and the submitter's."""
    with new_database(admin) as url:
        workers = Workers(url, base / f"throughput-{n}")
        store = JobStore(url, base / f"throughput-{n}" / "submitter")
        queue = submitter(store, base / f"throughput-{n}")
        try:
            started = workers.start([f"w{i + 1}" for i in range(n)], seconds_per_image=seconds, **WORKER_TIMINGS)
            pids = [child.pid for child in started]
            before, cpu_here = cpu_seconds(pids + backends(store)), time.process_time()
            ids = [queue.submit(plan)[0].id for plan in plans(jobs, images, "t")]
            times = wait_all(store, ids, every=0.25)  # the times are the store's: polling only ends the wait
            after = cpu_seconds(pids + backends(store))
            cpu = sum(used - before.get(pid, 0.0) for pid, used in after.items()) + time.process_time() - cpu_here
            if workers.errors():
                raise SystemExit("a worker logged an error:\n" + "\n".join(workers.errors()[:10]))
        finally:
            workers.stop_all()
            queue.close()
            store.close()
    elapsed = max(end for _, _, end in times) - min(created for created, _, _ in times)
    return jobs / elapsed, jobs * images / elapsed, cpu / jobs * 1000


# -- 2. claim latency ----------------------------------------------------------------------------------------------


def one_by_one(store: JobStore, submit: Callable[[GenerationPlan], str], count: int, idle: float) -> list[float]:
    """Submit → running of `count` one-image jobs (ms), each submitted at a random time in the `idle` seconds after
    the one before has ended: the workers are idle, at any point of their wait for work."""
    latencies = []
    for plan in plans(count, 1, "c"):
        time.sleep(random.uniform(0, idle))
        job_id = submit(plan)
        created, started, _ = wait_all(store, [job_id])[0]
        latencies.append((started - created) * 1000)
    return latencies


def claim_latency_shared(admin: str, n: int, count: int, seconds: float, base: Path) -> list[float]:
    with new_database(admin) as url:
        workers = Workers(url, base / f"latency-{n}")
        store = JobStore(url, base / f"latency-{n}" / "submitter")
        queue = submitter(store, base / f"latency-{n}")
        try:
            workers.start([f"w{i + 1}" for i in range(n)], seconds_per_image=seconds, **WORKER_TIMINGS)
            return one_by_one(store, lambda plan: queue.submit(plan)[0].id, count, IDLE_S)
        finally:
            workers.stop_all()
            queue.close()
            store.close()


@contextmanager
def webui(database_url: str, root: Path, seconds: float, *, start: bool = True) -> Iterator[JobSystem]:
    """The jobs of one WebUI in this process, its generation the fake one; its worker started unless told not to."""
    root.mkdir(parents=True, exist_ok=True)
    port = SlowPort(seconds, root / "made.log", root / "events.log")
    system = JobSystem.open(
        JobPaths(root, database_url), port, worker_name="bench", limits=lambda: DEFAULTS, webhooks=WebhookSettings
    )
    try:
        if start:
            system.start()
        yield system
    finally:
        system.close()
        port.close()


def claim_latency_local(count: int, seconds: float, base: Path) -> list[float]:
    with webui("", base / "latency-sqlite", seconds) as system:
        return one_by_one(system.store, lambda plan: system.queue.submit(plan)[0].id, count, IDLE_S)


# -- 3. the queue's overhead per job -------------------------------------------------------------------------------


def overhead_ms(database_url: str, root: Path, jobs: int, images: int, seconds: float) -> float:
    """The jobs are all queued before the worker starts: the time from the first start to the last end is the
    worker's alone (claims, heartbeats, saving each batch, the messages), the generator's time taken off."""
    with webui(database_url, root, seconds, start=False) as system:
        ids = [system.queue.submit(plan)[0].id for plan in plans(jobs, images, "o")]
        system.start()
        times = wait_all(system.store, ids, every=0.25)
    busy = max(end for _, _, end in times) - min(start for _, start, _ in times)
    return (busy / jobs - images * seconds) * 1000


# -- 4. the images -------------------------------------------------------------------------------------------------


def mb_per_s(count: int, size: int, elapsed: float) -> float:
    return count * size / MB / elapsed


def raw_images(admin: str, blobs: list[bytes], folder: Path) -> dict[str, tuple[float, float]]:
    """(write, read) MB/s: bytea rows in the store's table, one transaction each, vs the store's atomic files."""
    size, count = len(blobs[0]), len(blobs)
    with new_database(admin) as url:
        store = JobStore(url, folder / "pg-files")
        try:
            start = time.perf_counter()
            for i, blob in enumerate(blobs):
                with store.database.write() as conn:
                    conn.execute(JOB_IMAGE_DATA.insert().values(job_id="0" * 32, idx=i, png=blob))
            write = time.perf_counter() - start
            query = sa.select(JOB_IMAGE_DATA.c.png).where(JOB_IMAGE_DATA.c.job_id == "0" * 32)
            start = time.perf_counter()
            for i in range(count):
                with store.database.read() as conn:
                    got = bytes(conn.scalar(query.where(JOB_IMAGE_DATA.c.idx == i)))
                assert len(got) == size
            read = time.perf_counter() - start
        finally:
            store.close()
    files = folder / "raw-files"
    start = time.perf_counter()
    for i, blob in enumerate(blobs):
        write_atomically(files / f"{i:05d}.png", blob, durable=False)
    file_write = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(count):
        assert len((files / f"{i:05d}.png").read_bytes()) == size
    file_read = time.perf_counter() - start
    return {
        "PostgreSQL bytea rows": (mb_per_s(count, size, write), mb_per_s(count, size, read)),
        "local files": (mb_per_s(count, size, file_write), mb_per_s(count, size, file_read)),
    }


def store_images(url: str, blobs: list[bytes], folder: Path, in_database: bool) -> tuple[float, float]:
    """(write, read) MB/s through the store: `record_images` one image at a time into a running job, then
    `image_path` and the file's bytes, from another store (another WebUI) when the images are in the database."""
    size, count = len(blobs[0]), len(blobs)
    store = JobStore(url, folder / "writer", images_in_database=in_database)
    try:
        plan = make_plan(count, 1, tag="img")
        job, _ = store.submit(plan, limits=DEFAULTS)
        store.claim(job.id, "bench")
        start = time.perf_counter()
        for i, blob in enumerate(blobs):
            image = ImageToSave(blob, plan.prompts[i], plan.negative_prompts[i], plan.seeds[i], "")
            store.record_images(job.id, i, [image], worker="bench")
        write = time.perf_counter() - start
    finally:
        store.close()
    reader = JobStore(url, folder / ("reader" if in_database else "writer"), images_in_database=in_database)
    try:
        start = time.perf_counter()
        for i in range(count):
            assert len(reader.image_path(job.id, i).read_bytes()) == size
        read = time.perf_counter() - start
    finally:
        reader.close()
    return mb_per_s(count, size, write), mb_per_s(count, size, read)


# -- the run -------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True, help="an administrator's URL of a PostgreSQL server")
    parser.add_argument("--seconds-per-image", type=float, default=0.05)
    parser.add_argument("--workers", default="1,2,4", help="the worker counts of part 1 (default: %(default)s)")
    parser.add_argument("--jobs-per-worker", type=int, default=40, help="part 1's jobs per worker (%(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="part 1's rounds; the best counts (%(default)s)")
    parser.add_argument("--images", type=int, default=4, help="images per job, parts 1 and 3 (%(default)s)")
    parser.add_argument("--latency-jobs", type=int, default=50, help="jobs of part 2, per case (%(default)s)")
    parser.add_argument("--overhead-jobs", type=int, default=60, help="jobs of part 3, per round (%(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="part 3's rounds of each database (%(default)s)")
    parser.add_argument("--image-count", type=int, default=200, help="images of part 4 (%(default)s)")
    parser.add_argument("--image-kb", type=int, default=400, help="their size in KB (%(default)s)")
    opts = parser.parse_args()
    counts = sorted({int(n) for n in opts.workers.split(",")})
    if counts[0] != 1 or min(opts.jobs_per_worker, opts.repeat, opts.images, opts.latency_jobs, opts.overhead_jobs) < 1:
        parser.error("--workers must include 1, and every count must be at least 1")
    seconds, images = opts.seconds_per_image, opts.images
    with psycopg.connect(make_url(opts.database_url).set(drivername="postgresql").render_as_string(False)) as conn:
        server = conn.execute("SHOW server_version").fetchone()
    print(f"Python {sys.version.split()[0]}; PostgreSQL {server[0] if server else '?'}; {os.cpu_count()} CPU cores "
          f"(load average {load()}); fake generator {seconds * 1000:.0f} ms per image")  # fmt: skip
    misses = 0

    with tempfile.TemporaryDirectory(prefix="spt-bench-") as temp:
        base = Path(temp)

        print(f"\n1. throughput, N worker processes on PostgreSQL, {opts.jobs_per_worker} x N jobs of {images} images, "
              f"best of {opts.repeat} rounds")  # fmt: skip
        print(f"   {'N':>3} {'jobs/s':>8} {'images/s':>9} {'ideal':>7} {'x N=1':>7} {'CPU/job':>8}  target")
        best: dict[int, tuple[float, float, float]] = {}
        for r in range(opts.repeat):
            for n in counts[r % len(counts) :] + counts[: r % len(counts)]:  # each round in another order
                measured = throughput(opts.database_url, n, opts.jobs_per_worker * n, images, seconds, base / str(r))
                best[n] = max(best.get(n, (0.0, 0.0, 0.0)), measured)
        one = best[1][0]
        for n in counts:
            jobs_s, images_s, cpu_ms = best[n]
            ratio = jobs_s / one
            ok = ratio >= THROUGHPUT_MIN * n
            misses += not ok
            ideal = n / (images * seconds)
            cores = f"  ({n} workers, {os.cpu_count()} cores)" if n > (os.cpu_count() or 1) else ""
            print(f"   {n:>3} {jobs_s:8.2f} {images_s:9.1f} {ideal:7.2f} {ratio:6.2f}x {cpu_ms:5.0f} ms  "
                  f">= {THROUGHPUT_MIN * n:.1f}x {verdict(ok)}{cores}")  # fmt: skip
        print("   CPU/job: the workers', PostgreSQL's and the submitter's CPU time per job (the generator's sleep uses "
              "none): the machine's cores run at most cores / CPU-per-job jobs a second, whatever N")  # fmt: skip

        print(f"\n2. claim latency, submit -> running, {opts.latency_jobs} jobs one at a time on idle workers")
        cases = [
            (f"PostgreSQL, {n} worker process{'es' if n > 1 else ''}", claim_latency_shared(
                opts.database_url, n, opts.latency_jobs, seconds, base))
            for n in (1, 2)
        ]  # fmt: skip
        cases.append(("SQLite, the worker in-process", claim_latency_local(opts.latency_jobs, seconds, base)))
        for name, values in cases:
            print(f"   {name:34} median {statistics.median(values):7.1f} ms   p99 {percentile(values, 99):7.1f} ms"
                  f"   max {max(values):7.1f} ms")  # fmt: skip

        print(f"\n3. the queue's overhead per job, one worker in-process, {opts.overhead_jobs} jobs of {images} images "
              f"queued, then the worker started; {opts.rounds} rounds each")  # fmt: skip
        results: dict[str, list[float]] = {"SQLite (default)": [], "PostgreSQL": []}
        for r in range(opts.rounds):
            results["SQLite (default)"].append(
                overhead_ms("", base / f"overhead-sqlite-{r}", opts.overhead_jobs, images, seconds)
            )
            with new_database(opts.database_url) as url:
                results["PostgreSQL"].append(
                    overhead_ms(url, base / f"overhead-pg-{r}", opts.overhead_jobs, images, seconds)
                )
        for name, values in results.items():
            shown = ", ".join(f"{v:.1f}" for v in values)
            print(f"   {name:18} {statistics.median(values):7.1f} ms per job  (rounds: {shown} ms)")
        sqlite_ms, pg_ms = (statistics.median(v) for v in results.values())
        print(f"   PostgreSQL - SQLite {pg_ms - sqlite_ms:+7.1f} ms per job; a job's generation here: "
              f"{images * seconds * 1000:.0f} ms")  # fmt: skip

        size = opts.image_kb * 1000
        blobs = [os.urandom(size) for _ in range(opts.image_count)]
        print(f"\n4. {opts.image_count} images of {opts.image_kb} KB (random bytes), written then read back, MB/s")
        print(f"   {'where':52} {'write':>8} {'read':>8}")
        for name, (write, read) in raw_images(opts.database_url, blobs, base / "raw").items():
            print(f"   {name:52} {write:8.1f} {read:8.1f}")
        with new_database(opts.database_url) as url:
            cases = (
                ("store, images in the database (files + bytea rows)", True),
                ("store, files only (a local database's way)", False),
            )
            for name, in_database in cases:
                write, read = store_images(url, blobs, base / f"store-{in_database}", in_database)
                print(f"   {name:52} {write:8.1f} {read:8.1f}")

    print(f"\n{'all targets met' if not misses else f'{misses} target(s) missed'} (load average {load()})")


if __name__ == "__main__":
    main()
