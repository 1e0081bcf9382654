"""The shared-database tests' fixtures: worker processes on the test's PostgreSQL database (`pg_url`, in
tests/conftest.py), and the test process's own store and submitting queue: another WebUI on the same database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sd_prompt_templates.jobs import JobLimits, JobRunner, JobStore
from sd_prompt_templates.jobs.queue import JobQueue
from tests.shared.processes import Workers
from tests.shared.worker import HEARTBEAT_SECONDS, TAKEOVER_SECONDS
from tests.unit.test_jobs_fakes import FakePort

LIMITS = JobLimits(max_queued_jobs=100_000, heartbeat_seconds=HEARTBEAT_SECONDS, takeover_seconds=TAKEOVER_SECONDS)


@pytest.fixture
def workers(pg_url: str, tmp_path: Path) -> Iterator[Workers]:
    """Worker processes on the test's database; every one still running is stopped (or killed) at the end."""
    group = Workers(pg_url, tmp_path / "workers")
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def store(pg_url: str, tmp_path: Path) -> Iterator[JobStore]:
    """The test process's own store: another WebUI, with a folder of its own for the images it reads."""
    jobs = JobStore(pg_url, tmp_path / "test-process" / "jobs")
    try:
        yield jobs
    finally:
        jobs.close()


@pytest.fixture
def submitter(store: JobStore, tmp_path: Path) -> Iterator[JobQueue]:
    """A queue to submit through (the job and its huey message, as a WebUI's API does); its worker never runs."""
    runner = JobRunner(store, FakePort(), worker_name="submitter", limits=lambda: LIMITS)
    queue = JobQueue(store, runner, tmp_path / "test-process" / "queue.sqlite3", limits=lambda: LIMITS)
    try:
        yield queue
    finally:
        queue.close()
