"""A job no WebUI can run keeps one message (a regression test): an idle worker used to take a queued job whose
message another worker held for a moment (taken, not yet offered again) for one whose message was lost, and gave it
another, so such a job gathered messages, each offered around every ELSEWHERE_SECONDS. Now a shared database's
worker looks for lost messages only among jobs unchanged for LOST_AFTER_SECONDS, and a job's second message ends
when it comes round."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from sd_prompt_templates.jobs import JobStatus, JobStore
from sd_prompt_templates.jobs.queue import QUEUE_TABLES, JobQueue
from tests.shared.processes import Workers
from tests.shared.test_shared_jobs import with_checkpoint
from tests.unit.test_jobs_fakes import make_plan


def messages(store: JobStore) -> int:
    """huey's messages, waiting or scheduled (this test has one job)."""
    with store.database.read() as conn:
        return sum(
            int(conn.scalar(sa.text(f"SELECT count(*) FROM {QUEUE_TABLES}_{table}")) or 0)
            for table in ("task", "schedule")
        )


@pytest.mark.postgres
def test_a_job_no_worker_can_run_keeps_one_message(workers: Workers, store: JobStore, submitter: JobQueue) -> None:
    lacking = "big-model.safetensors"
    workers.start(("w1", "w2", "w3"), cannot_run_checkpoint=[lacking], elsewhere_seconds=0.3)
    job, _ = submitter.submit(with_checkpoint(make_plan(2, 2, seed=1, tag="stuck"), lacking))
    counts = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # a fixed time: the point is what happens while the job waits
        counts.append(messages(store))
        time.sleep(0.25)
    now = store.get(job.id)
    assert now.status is JobStatus.QUEUED and now.images_done == 0
    # one message (none for a moment, while a worker holds it): one job, one wake-up call
    assert max(counts) <= 1, f"the job's messages over 10 s: {counts}"
