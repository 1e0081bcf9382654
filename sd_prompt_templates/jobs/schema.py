"""How the jobs' rows (sd_prompt_templates/jobs/tables.py) become the model's values."""

from __future__ import annotations

import json
from functools import lru_cache

import sqlalchemy as sa

from sd_prompt_templates.jobs.model import Job, JobImage, JobStatus, Webhook
from sd_prompt_templates.plan import GenerationPlan


def job_from_row(row: sa.RowMapping) -> Job:
    webhook = json.loads(row["webhook_json"]) if row["webhook_json"] else None
    return Job(
        id=row["id"],
        seq=row["seq"],
        status=JobStatus(row["status"]),
        plan=plan_from_json(row["plan_json"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        images_done=row["images_done"],
        error=row["error"],
        attempts=row["attempts"],
        cancel_requested=bool(row["cancel_requested"]),
        webhook=Webhook.restored(webhook) if webhook else None,
        idempotency_key=row["idempotency_key"],
        worker=row["worker"],
        task_id=row["task_id"],
        run_started_at=row["run_started_at"],
        run_images_start=row["run_images_start"],
        last_image_at=row["last_image_at"],
        images_bytes=row["images_bytes"],
        heartbeat_at=row["heartbeat_at"],
        waiting_reason=row["waiting_reason"],
    )


@lru_cache(maxsize=256)
def plan_from_json(text: str) -> GenerationPlan:
    """A job's plan never changes, and every read of the job (its worker's moves, a status poll, an events stream)
    would parse it again: the plans of the jobs in use are kept parsed. Plans are values: nothing changes one."""
    return GenerationPlan.from_json(text)


def image_from_row(row: sa.RowMapping) -> JobImage:
    return JobImage(
        job_id=row["job_id"],
        index=row["idx"],
        path=row["path"],
        prompt=row["prompt"],
        negative_prompt=row["negative_prompt"],
        seed=row["seed"],
        infotext=row["infotext"],
        created_at=row["created_at"],
        size=row["bytes"],
    )
