"""The jobs' SQLite schema, step by step, and how its rows become the model's values."""

from __future__ import annotations

import json
import sqlite3

from sd_prompt_templates import db
from sd_prompt_templates.jobs.model import Job, JobImage, JobStatus, Webhook
from sd_prompt_templates.plan import GenerationPlan

# The jobs' schema, step by step: a step, once released, never changes; a new one gets the next version.
MIGRATIONS: tuple[db.Migration, ...] = (
    (
        1,
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            plan_json TEXT NOT NULL,
            request_hash TEXT,
            idempotency_key TEXT UNIQUE,
            webhook_json TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            updated_at REAL NOT NULL,
            images_done INTEGER NOT NULL DEFAULT 0,
            images_total INTEGER NOT NULL,
            images_bytes INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            task_id TEXT,
            run_started_at REAL,
            run_images_start INTEGER NOT NULL DEFAULT 0,
            last_image_at REAL,
            version INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX jobs_status_seq ON jobs (status, seq);
        CREATE INDEX jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
        CREATE TABLE job_images (
            job_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            path TEXT NOT NULL,
            prompt TEXT NOT NULL,
            negative_prompt TEXT NOT NULL,
            seed INTEGER NOT NULL,
            infotext TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (job_id, idx)
        );
        CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL,
            event TEXT NOT NULL,
            url TEXT NOT NULL,
            secret TEXT,
            body TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            last_error TEXT,
            created_at REAL NOT NULL,
            sent_at REAL
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
        """,
    ),
)


def job_from_row(row: sqlite3.Row) -> Job:
    webhook = json.loads(row["webhook_json"]) if row["webhook_json"] else None
    return Job(
        id=row["id"],
        seq=row["seq"],
        status=JobStatus(row["status"]),
        plan=GenerationPlan.from_json(row["plan_json"]),
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
    )


def image_from_row(row: sqlite3.Row) -> JobImage:
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
