"""Timings of the job store's hot paths, printed (run with `-s` to see them); nothing here asserts on time, which
a shared machine cannot promise. The targets (issue 10): submit p99 < 20 ms with 1,000 jobs queued; get and
list(limit=50) < 50 ms with 10,000 jobs in the store. The figures include synchronous=FULL's fsync per submit."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sd_prompt_templates.jobs import JobLimits, JobStatus, JobStore, hash_request
from sd_prompt_templates.jobs.settings import JobPaths
from sd_prompt_templates.jobs.store import _insert_job
from tests.unit.test_jobs_fakes import FakePort, make_plan, open_jobs

PLAN = make_plan(8, 8)  # a typical job: one batch of 8 images


def fill(store: JobStore, queued: int, finished: int) -> list[str]:
    """Jobs inserted in one transaction (the set-up, not what is measured)."""
    ids = []
    with store.database.write() as conn:
        for i in range(queued + finished):
            job = _insert_job(conn, PLAN, None, None, hash_request(i), float(i))
            if i < finished:
                conn.exec_driver_sql(
                    "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?", ("succeeded", float(i), job.id)
                )
            ids.append(job.id)
    return ids


def timed(action: Callable[[], object], times: int) -> list[float]:
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        action()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


def report(capsys: pytest.CaptureFixture[str], name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    with capsys.disabled():
        print(f"\n[jobs timing] {name}: p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, n={len(ms)}")


def test_submit_with_1000_jobs_queued(tmp_path: Path, capsys):
    paths = JobPaths(tmp_path)
    store = JobStore(paths.database, paths.files)
    fill(store, queued=1000, finished=0)
    limits = JobLimits(max_queued_jobs=10_000)
    keys = iter(range(10**6))
    ms = timed(lambda: store.submit(PLAN, idempotency_key=f"k{next(keys)}", request_hash="h", limits=limits), 200)
    report(capsys, "submit, 1,000 queued", ms)
    assert len(store.queued_ids()) == 1200


def test_queue_submit_with_1000_jobs_queued(tmp_path: Path, capsys):
    """The API's submit: the job stored, then its huey message written (a second SQLite file, a second fsync)."""
    limits = JobLimits(max_queued_jobs=10_000)
    store, _, queue = open_jobs(tmp_path, FakePort(), limits=limits)
    try:
        fill(store, queued=1000, finished=0)
        keys = iter(range(10**6))
        ms = timed(lambda: queue.submit(PLAN, idempotency_key=f"k{next(keys)}", request_hash="h"), 200)
        report(capsys, "JobQueue.submit (store + huey), 1,000 queued", ms)
        assert queue.huey.pending_count() == 200
    finally:
        queue.close()


def test_get_and_list_with_10000_jobs(tmp_path: Path, capsys):
    paths = JobPaths(tmp_path)
    store = JobStore(paths.database, paths.files)
    ids = fill(store, queued=1000, finished=9000)
    rng = random.Random(1)
    report(capsys, "get, 10,000 jobs", timed(lambda: store.get(rng.choice(ids)), 300))
    report(capsys, "list(limit=50), 10,000 jobs", timed(lambda: store.list(limit=50), 100))
    _, cursor = store.list(limit=5000)
    report(capsys, "list(limit=50) from the middle", timed(lambda: store.list(limit=50, cursor=cursor), 100))
    report(capsys, "list(queued, limit=50)", timed(lambda: store.list(JobStatus.QUEUED, limit=50), 100))
    last = store.get(ids[-1])
    report(capsys, "position of the last queued job", timed(lambda: store.position(last), 100))
    page, _ = store.list(limit=50)
    assert len(page) == 50 and page[0].id == ids[-1]
