"""The jobs' tables (SQLAlchemy Core, one definition for SQLite and PostgreSQL) and their upgrade steps."""

from __future__ import annotations

import sqlalchemy as sa

from sd_prompt_templates import db

METADATA = sa.MetaData()
# 64-bit on PostgreSQL; SQLite's INTEGER is 64-bit already, and only a plain INTEGER PRIMARY KEY is its rowid
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

JOBS = sa.Table(
    "jobs",
    METADATA,
    sa.Column("seq", BigInt, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("plan_json", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text),
    sa.Column("idempotency_key", sa.Text, unique=True),
    sa.Column("webhook_json", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("images_done", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("images_total", sa.Integer, nullable=False),
    sa.Column("images_bytes", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("error", sa.Text),
    sa.Column("cancel_requested", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("worker", sa.Text),
    sa.Column("task_id", sa.Text),
    sa.Column("run_started_at", sa.Float),
    sa.Column("run_images_start", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_image_at", sa.Float),
    sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1")),
    # version 2: several WebUIs on one database
    sa.Column("heartbeat_at", sa.Float),  # the running worker's last sign of life
    sa.Column("waiting_reason", sa.Text),  # why a queued job is not running (no WebUI can run it)
    sqlite_autoincrement=True,
)
sa.Index("jobs_status_seq", JOBS.c.status, JOBS.c.seq)
sa.Index(
    "jobs_finished_at",
    JOBS.c.finished_at,
    sqlite_where=JOBS.c.finished_at.is_not(None),
    postgresql_where=JOBS.c.finished_at.is_not(None),
)

JOB_IMAGES = sa.Table(
    "job_images",
    METADATA,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("negative_prompt", sa.Text, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("infotext", sa.Text, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# version 2: the images themselves, where every WebUI on a shared database reads them
JOB_IMAGE_DATA = sa.Table(
    "job_image_data",
    METADATA,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("png", sa.LargeBinary, nullable=False),
)

WEBHOOK_DELIVERIES = sa.Table(
    "webhook_deliveries",
    METADATA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float),
    sa.Column("seq", sa.BigInteger),  # version 2: the order they were written in (created_at may tie)
)
sa.Index("webhook_deliveries_due", WEBHOOK_DELIVERIES.c.status, WEBHOOK_DELIVERIES.c.next_attempt_at)
BY_JOB = sa.Index("webhook_deliveries_job", WEBHOOK_DELIVERIES.c.job_id)


def _several_webuis(conn: sa.Connection) -> None:
    """Version 2: heartbeats, the reason a job waits, the images in the database, deliveries in order and found
    by job."""
    db.add_columns(JOBS, "heartbeat_at", "waiting_reason")(conn)
    JOB_IMAGE_DATA.create(conn)
    db.add_columns(WEBHOOK_DELIVERIES, "seq")(conn)
    BY_JOB.create(conn)


SCHEMA = db.Schema("jobs", METADATA, {2: _several_webuis})
