"""What the jobs can be configured with: caps, retention, and where their files live. The WebUI's Settings page
fills `JobLimits` in (the glue); the jobs code asks for it afresh at each use, so a changed setting applies to the
next submit or prune without a restart."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GB = 1000**3
DAY = 24 * 60 * 60.0


@dataclass(frozen=True)
class JobLimits:
    """Caps on the queue, checked when a job is submitted, and how long finished jobs are kept."""

    max_queued_jobs: int = 1000  # jobs waiting at once; one more is refused with the reason
    max_images_per_job: int = 1000
    # Times a job may start running: a job that keeps failing, or keeps killing the WebUI, stops with its reason
    # instead of looping.
    max_attempts: int = 3
    retention_days: float = 30.0  # finished jobs (and their images) older than this are deleted
    retention_bytes: int = 10 * GB  # ... and the oldest finished ones too while all images take more than this
    poll_seconds: float = 0.5  # how often an idle worker looks for jobs another process queued
    heartbeat_seconds: float = 5.0  # how often a running job's worker says it is alive
    # With several WebUIs on one database: a running job whose worker has been silent this long is taken for one
    # whose WebUI died, and another WebUI takes it over (it resumes at its next image).
    takeover_seconds: float = 60.0
    # Batches faster than this go to the WebUI several at a time, up to this long a call (jobs/pacing.py): each
    # call costs a fixed time, and a WebUI killed mid-call makes this much again on resume. 0: a batch a call.
    call_seconds: float = 1.0


LimitsSource = Callable[[], JobLimits]
"""Gives the limits in force now; `JobLimits` itself (the defaults) is one."""


@dataclass(frozen=True)
class JobPaths:
    """Where the jobs keep their state: a folder beside the template library (the WebUI's data dir), never the
    extension's checkout, so updating or reinstalling the extension loses no job."""

    root: Path
    database_url: str = ""  # a database several WebUIs share (postgresql://…); "": the local files below

    @property
    def database(self) -> str | Path:
        """The jobs, their images' records and the webhook deliveries: the shared database, else a local file."""
        return self.database_url or self.root / "jobs.sqlite3"

    @property
    def queue(self) -> Path:
        """huey's own file: the messages that wake the worker (on a shared database, huey's tables are in it). The
        jobs' truth is in `database`."""
        return self.root / "jobs-queue.sqlite3"

    @property
    def files(self) -> Path:
        """The images, one folder per job."""
        return self.root / "jobs"

    @classmethod
    def beside(cls, library_path: str | os.PathLike[str], database_url: str = "") -> JobPaths:
        """The jobs' paths in the folder that holds the template library's file (on a shared database, the folder
        keeps this WebUI's copies of the images)."""
        return cls(Path(library_path).parent, database_url)
