"""Durable jobs: a generation plan stored with its state, run later by a worker thread, one image saved at a time,
resumed exactly after a crash. The core only: no WebUI, gradio or fastapi here; the routes, the tab and the webhook
sender call what this package exports.

- `model`: Job, JobStatus and its transitions, Webhook, JobImage, the refusals.
- `store`: JobStore, the database (a SQLite file, or a shared PostgreSQL) and the images every change goes through.
- `runner`: JobRunner, one job through a JobPort (the WebUI's generation), batch by batch.
- `queue`: JobQueue, huey's SqliteHuey and the worker thread (imported from `queue` or `system` only: the rest
  works without huey installed, so the extension loads and says why jobs are off).
"""

from sd_prompt_templates.jobs.model import (
    END_EVENTS,
    FINISHED,
    WEBHOOK_EVENTS,
    IdempotencyConflict,
    Job,
    JobError,
    JobImage,
    JobNotFound,
    JobRequestError,
    JobStateError,
    JobStatus,
    JobSummary,
    Webhook,
    hash_request,
)
from sd_prompt_templates.jobs.runner import JobPort, JobRunner, Notify, RunInterrupted, task_id_for
from sd_prompt_templates.jobs.settings import JobLimits, JobPaths, LimitsSource
from sd_prompt_templates.jobs.store import JobStore

__all__ = [
    "END_EVENTS",
    "FINISHED",
    "WEBHOOK_EVENTS",
    "IdempotencyConflict",
    "Job",
    "JobError",
    "JobImage",
    "JobLimits",
    "JobNotFound",
    "JobPaths",
    "JobPort",
    "JobRequestError",
    "JobRunner",
    "JobStateError",
    "JobStatus",
    "JobStore",
    "JobSummary",
    "LimitsSource",
    "Notify",
    "RunInterrupted",
    "Webhook",
    "hash_request",
    "task_id_for",
]
