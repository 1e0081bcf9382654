"""The jobs' durable state: one SQLite file of its own (through sd_prompt_templates/db.py), beside a folder of
images, one folder per job.

Every method is one transaction, and every check that decides it (idempotency, the caps, the state machine, the
image order) is made inside that transaction, so two threads or two processes can never both pass a check that only
one of them may. Images are written to their file (fsynced, renamed into place) before the row that records them:
a recorded image always exists; a file without a row is the same image made again on resume. Files are deleted only
after the rows that point to them.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sd_prompt_templates import db
from sd_prompt_templates.jobs.files import JOB_ID, checked_id, write_atomically
from sd_prompt_templates.jobs.model import (
    FINISHED,
    IdempotencyConflict,
    Job,
    JobImage,
    JobNotFound,
    JobRequestError,
    JobStateError,
    JobStatus,
    Webhook,
    check_transition,
    hash_request,
)
from sd_prompt_templates.jobs.schema import MIGRATIONS, image_from_row, job_from_row
from sd_prompt_templates.jobs.settings import DAY, JobLimits
from sd_prompt_templates.plan import GenerationPlan
from sd_prompt_templates.problems import Problem

logger = logging.getLogger(__name__)

DEFAULT_LIMITS = JobLimits()


@dataclass(frozen=True)
class ImageToSave:
    png: bytes
    prompt: str
    negative_prompt: str
    seed: int
    infotext: str


class _NotifyingDatabase(db.Database):
    """The jobs' database, telling whoever waits for a change (an events stream) when a write committed."""

    def __init__(self, *args: Any, changed: threading.Condition, **kwargs: Any) -> None:
        self.changed = changed
        self.writes = 0  # commits so far, under `changed`
        super().__init__(*args, **kwargs)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with super().write() as conn:
            yield conn
        with self.changed:  # held only to count and wake: never while anyone reads
            self.writes += 1
            self.changed.notify_all()


class JobStore:
    """The jobs and their images. One store serves every thread (a connection per operation)."""

    def __init__(self, path: str | os.PathLike[str], files_dir: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.files_dir = Path(files_dir)
        self._changed = threading.Condition()  # notified after each change this process makes
        # NORMAL: a commit survives the process being killed; each image's row is one, and FULL would fsync each
        self.database = _NotifyingDatabase(self.path, MIGRATIONS, synchronous="NORMAL", changed=self._changed)
        self.files_dir.mkdir(parents=True, exist_ok=True)
        # One connection held open, unused: when the last connection to a WAL file closes, SQLite checkpoints the
        # log into the file and deletes it, three more fsyncs; with a connection per operation that would be at
        # every change (measured here: a submit's p50 went from about 20 ms to under 8 ms).
        self._keep_open: sqlite3.Connection | None = self.database.connect()

    def close(self) -> None:
        """Let the file go (the last connection to close checkpoints it). The store still works, slower."""
        if self._keep_open is not None:
            self._keep_open.close()
            self._keep_open = None

    # -- submit -----------------------------------------------------------------------------------------------
    def submit(
        self,
        plan: GenerationPlan,
        *,
        webhook: Webhook | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        limits: JobLimits = DEFAULT_LIMITS,
        now: float | None = None,
    ) -> tuple[Job, bool]:
        """A new queued job for `plan`, and True; or, for an idempotency key already used with the same request,
        the job it made, and False. `request_hash` fingerprints the caller's request (`hash_request` of its body);
        without one, the plan and webhook stand for it."""
        plan.check()
        fingerprint = request_hash or hash_request([plan.to_dict(), webhook.to_dict() if webhook else None])
        with self.database.write() as conn:
            if idempotency_key is not None:
                earlier = conn.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
                if earlier is not None:
                    if earlier["request_hash"] != fingerprint:
                        raise IdempotencyConflict(idempotency_key, earlier["id"])
                    return job_from_row(earlier), False
            _check_caps(conn, plan, limits)
            job = _insert_job(conn, plan, webhook, idempotency_key, fingerprint, time.time() if now is None else now)
        return job, True

    # -- reads ------------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        with self.database.read() as conn:
            return _get(conn, job_id)

    def list(
        self, status: JobStatus | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[builtins.list[Job], str | None]:
        """Jobs newest first, `limit` of them, and the cursor of the next page (None on the last one)."""
        if limit < 1:
            raise JobRequestError([Problem("limit", "must be at least 1")])
        before = _cursor_seq(cursor)
        where: builtins.list[str] = ["seq < ?"]
        params: builtins.list[object] = [before]
        if status is not None:
            where.append("status = ?")
            params.append(JobStatus(status).value)
        sql = f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?"
        with self.database.read() as conn:
            rows = conn.execute(sql, (*params, limit + 1)).fetchall()
        jobs = [job_from_row(row) for row in rows[:limit]]
        return jobs, (str(jobs[-1].seq) if len(rows) > limit else None)

    def position(self, job: Job) -> int | None:
        """How many queued jobs run before this one (0: it is next); None unless it is queued."""
        with self.database.read() as conn:
            row = conn.execute("SELECT seq, status FROM jobs WHERE id = ?", (job.id,)).fetchone()
            if row is None or row["status"] != JobStatus.QUEUED.value:
                return None
            ahead = conn.execute(
                "SELECT count(*) FROM jobs WHERE status = ? AND seq < ?", (JobStatus.QUEUED.value, row["seq"])
            ).fetchone()[0]
        return int(ahead)

    def queued_ids(self) -> builtins.list[str]:
        """The queued jobs' ids, in the order they run."""
        return [job_id for job_id, _ in self.queued_order()]

    def queued_order(self) -> builtins.list[tuple[str, int]]:
        """The queued jobs' ids and seqs, in the order they run."""
        with self.database.read() as conn:
            rows = conn.execute("SELECT id, seq FROM jobs WHERE status = ? ORDER BY seq", (JobStatus.QUEUED.value,))
            return [(row[0], int(row[1])) for row in rows]

    def images(self, job_id: str) -> builtins.list[JobImage]:
        with self.database.read() as conn:
            _get(conn, job_id)
            rows = conn.execute("SELECT * FROM job_images WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        return [image_from_row(row) for row in rows]

    def image_path(self, job_id: str, index: int) -> Path:
        """The file of a job's saved image `index`; JobNotFound if there is no such image (yet)."""
        with self.database.read() as conn:
            row = conn.execute("SELECT path FROM job_images WHERE job_id = ? AND idx = ?", (job_id, index)).fetchone()
        if row is None:
            raise JobNotFound(job_id, index)
        return self.files_dir / str(row["path"])

    def total_image_bytes(self) -> int:
        with self.database.read() as conn:
            return int(conn.execute("SELECT coalesce(sum(images_bytes), 0) FROM jobs").fetchone()[0])

    # -- the worker's moves -----------------------------------------------------------------------------------
    def claim(self, job_id: str, worker: str, now: float | None = None) -> Job | None:
        """queued → running, atomically: None if the job is no longer queued (cancelled meanwhile, or another
        worker took it). Counts an attempt."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            changed = conn.execute(
                "UPDATE jobs SET status = ?, attempts = attempts + 1, started_at = coalesce(started_at, ?), "
                "run_started_at = ?, run_images_start = images_done, last_image_at = NULL, worker = ?, "
                "task_id = NULL, updated_at = ?, version = version + 1 WHERE id = ? AND status = ?",
                (JobStatus.RUNNING.value, now, now, worker, now, job_id, JobStatus.QUEUED.value),
            ).rowcount
            return _get(conn, job_id) if changed else None

    def set_task(self, job_id: str, task_id: str) -> Job:
        """The WebUI progress task of the batch about to run. The job comes back as it is now, so the runner sees
        a cancel requested before this point; a cancel after it reads this task id and interrupts it."""
        with self.database.write() as conn:
            _require(conn, job_id, JobStatus.RUNNING)
            _touch(conn, job_id, "task_id = ?", task_id)
            return _get(conn, job_id)

    def record_image(
        self,
        job_id: str,
        index: int,
        png: bytes,
        prompt: str,
        negative_prompt: str,
        seed: int,
        infotext: str,
        now: float | None = None,
    ) -> Job:
        """Save image `index` of a running job (see `record_images`)."""
        return self.record_images(job_id, index, [ImageToSave(png, prompt, negative_prompt, seed, infotext)], now)

    def record_images(self, job_id: str, start: int, images: Sequence[ImageToSave], now: float | None = None) -> Job:
        """Save a batch of a running job from image `start` on: the files first, then their rows and the job's
        count, in one transaction. Only the next images are taken (`start` == images_done): never one twice, never
        a gap. Durable against the WebUI being killed at any point; after a power cut the last images may have to
        be made again (`requeue_interrupted` checks their files), which costs less than an fsync for each."""
        with self.database.read() as conn:
            _check_next_image(_get(conn, job_id), start)  # before the files: a recorded image is never overwritten
        paths = [f"{checked_id(job_id)}/{start + i:05d}.png" for i in range(len(images))]
        for relative, image in zip(paths, images, strict=True):
            write_atomically(self.files_dir / relative, image.png, durable=False)
        now = time.time() if now is None else now
        size = sum(len(image.png) for image in images)
        with self.database.write() as conn:
            _check_next_image(_get(conn, job_id), start)
            conn.executemany(
                "INSERT INTO job_images (job_id, idx, path, prompt, negative_prompt, seed, infotext, bytes, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, start + i, relative, im.prompt, im.negative_prompt, im.seed, im.infotext, len(im.png), now)
                    for i, (relative, im) in enumerate(zip(paths, images, strict=True))
                ],
            )
            _touch(
                conn,
                job_id,
                # attempts counts the starts in a row that made no image: a new image starts the count again,
                # so a long job restarted now and then never runs out of them, while a job that kills the WebUI does
                "images_done = images_done + ?, images_bytes = images_bytes + ?, last_image_at = ?, attempts = 0",
                len(images),
                size,
                now,
                now=now,
            )
            return _get(conn, job_id)

    def wait_for_change(self, job_id: str, version: int, timeout: float) -> Job:
        """The job once its version is no longer `version`, or as it is after `timeout` seconds. A change made in
        this process wakes it at once; one made by another process is seen at the end of the wait."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self.database.writes
            job = self.get(job_id)
            left = deadline - time.monotonic()
            if job.version != version or left <= 0:
                return job
            with self._changed:
                if self.database.writes == seen:  # nothing committed since the read: wait for the next commit
                    self._changed.wait(left)

    def finish(self, job_id: str, status: JobStatus, error: str | None = None, now: float | None = None) -> Job:
        """A running job ends (or a queued one is cancelled). A job succeeds only with all its images."""
        status = JobStatus(status)
        if status not in FINISHED:
            raise JobStateError(f"finish() ends a job; {status.value} is not an end")
        now = time.time() if now is None else now
        with self.database.write() as conn:
            job = _get(conn, job_id)
            check_transition(job_id, job.status, status)
            if status is JobStatus.SUCCEEDED and job.images_done != job.images_total:
                raise JobStateError(f"job {job_id} has {job.images_done} of its {job.images_total} images")
            _touch(conn, job_id, "status = ?, finished_at = ?, error = ?", status.value, now, error, now=now)
            return _get(conn, job_id)

    def requeue(
        self, job_id: str, error: str | None = None, *, count_attempt: bool = True, now: float | None = None
    ) -> Job:
        """running → queued: the job runs again from its next image. `error` says why its attempt ended; an
        attempt ended by a clean stop (`count_attempt=False`) does not count toward `max_attempts`. A job whose
        cancel was asked for meanwhile is cancelled instead (the job returned says so)."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            _require(conn, job_id, JobStatus.RUNNING)
            if _get(conn, job_id).cancel_requested:
                _touch(conn, job_id, "status = ?, finished_at = ?", JobStatus.CANCELLED.value, now, now=now)
            else:
                _touch(
                    conn,
                    job_id,
                    "status = ?, error = ?, task_id = NULL, attempts = max(attempts - ?, 0)",
                    JobStatus.QUEUED.value,
                    error,
                    0 if count_attempt else 1,
                    now=now,
                )
            return _get(conn, job_id)

    def request_cancel(self, job_id: str, now: float | None = None) -> Job:
        """A queued job is cancelled at once; a running one is flagged, and its runner stops it (and interrupts
        its batch); a finished one is left as it is: the job comes back as it is now, which says which."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            job = _get(conn, job_id)
            if job.status is JobStatus.QUEUED:
                _touch(
                    conn,
                    job_id,
                    "status = ?, cancel_requested = 1, finished_at = ?",
                    JobStatus.CANCELLED.value,
                    now,
                    now=now,
                )
            elif job.status is JobStatus.RUNNING and not job.cancel_requested:
                _touch(conn, job_id, "cancel_requested = 1", now=now)
            return _get(conn, job_id)

    def requeue_interrupted(
        self,
        worker: str | None = None,
        *,
        limits: JobLimits = DEFAULT_LIMITS,
        exclude: Collection[str] = (),
        now: float | None = None,
    ) -> builtins.list[Job]:
        """At start-up: the jobs left running by a process that died (by `worker`, or any) go back to the queue,
        to resume at their next image. One that has used up its attempts fails instead, with the reason, so a job
        that kills the WebUI cannot crash-loop; one whose cancel was asked for is cancelled. `exclude`: jobs that
        are really running, in this very process."""
        now = time.time() if now is None else now
        sql, params = "SELECT * FROM jobs WHERE status = ?", [JobStatus.RUNNING.value]
        if worker is not None:
            sql += " AND worker = ?"
            params.append(worker)
        changed: builtins.list[Job] = []
        with self.database.write() as conn:
            for row in conn.execute(sql + " ORDER BY seq", params).fetchall():
                job = job_from_row(row)
                if job.id in exclude:
                    continue
                self._forget_lost_images(conn, job)
                assignments, values = _after_interruption(job, limits, now)
                _touch(conn, job.id, assignments, *values, now=now)
                changed.append(_get(conn, job.id))
        for job in changed:
            logger.warning("job %s was left running by a process that stopped: now %s", job.id, job.status.value)
        return changed

    def _forget_lost_images(self, conn: sqlite3.Connection, job: Job) -> None:
        """Images are recorded without an fsync each: after a power cut a recorded image's file may be missing or
        empty. From the first such image on, the job makes them again."""
        have = 0
        while have < job.images_done:
            path = self.files_dir / checked_id(job.id) / f"{have:05d}.png"
            if not path.is_file() or path.stat().st_size == 0:
                break
            have += 1
        if have == job.images_done:
            return
        logger.warning("job %s: images %d and on were lost (a power cut?): they are made again", job.id, have)
        conn.execute("DELETE FROM job_images WHERE job_id = ? AND idx >= ?", (job.id, have))
        conn.execute(
            "UPDATE jobs SET images_done = ?, images_bytes = (SELECT coalesce(sum(bytes), 0) FROM job_images "
            "WHERE job_id = ?) WHERE id = ?",
            (have, job.id, job.id),
        )

    # -- deletion ---------------------------------------------------------------------------------------------
    def delete(self, job_id: str) -> None:
        """Delete a finished job, its rows then its files. A queued or running job must be cancelled first."""
        with self.database.write() as conn:
            job = _get(conn, job_id)
            if not job.finished:
                raise JobStateError(f"job {job_id} is {job.status.value}: cancel it before deleting it")
            _delete_rows(conn, [job_id])
        self._delete_files([job_id])

    def prune(self, now: float | None = None, limits: JobLimits = DEFAULT_LIMITS) -> builtins.list[str]:
        """Delete the finished jobs older than `retention_days`, then the oldest finished ones while all the
        images take more than `retention_bytes`; their files after their rows. Returns the ids deleted."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            total = int(conn.execute("SELECT coalesce(sum(images_bytes), 0) FROM jobs").fetchone()[0])
            oldest_kept = now - limits.retention_days * DAY
            doomed: builtins.list[str] = []
            finished = conn.execute(
                "SELECT id, finished_at, images_bytes FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at"
            )
            for row in finished:  # oldest first, read only as far as needed
                if row["finished_at"] >= oldest_kept and total <= limits.retention_bytes:
                    break
                doomed.append(row["id"])
                total -= int(row["images_bytes"])
            finished.close()
            _delete_rows(conn, doomed)
        self._delete_files(doomed)
        return doomed

    def remove_orphan_files(self) -> builtins.list[str]:
        """Delete the image folders of jobs that no longer exist (a process stopped between deleting a job's rows
        and its files). For start-up."""
        names = [p.name for p in self.files_dir.iterdir() if p.is_dir() and JOB_ID.fullmatch(p.name)]
        with self.database.read() as conn:
            known = {row[0] for row in conn.execute("SELECT id FROM jobs")}
        orphans = [name for name in names if name not in known]
        self._delete_files(orphans)
        return orphans

    def _delete_files(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            shutil.rmtree(self.files_dir / checked_id(job_id), ignore_errors=True)


# -- queries ------------------------------------------------------------------------------------------------------


def _get(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return job_from_row(row)


def _require(conn: sqlite3.Connection, job_id: str, status: JobStatus) -> None:
    row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise JobNotFound(job_id)
    if row[0] != status.value:
        raise JobStateError(f"job {job_id} is {row[0]}, not {status.value}")


def _touch(conn: sqlite3.Connection, job_id: str, assignments: str, *values: Any, now: float | None = None) -> None:
    """Change a job: `assignments` (an SQL SET list written here, never from input) plus the change's time and
    version."""
    conn.execute(
        f"UPDATE jobs SET {assignments}, updated_at = ?, version = version + 1 WHERE id = ?",
        (*values, time.time() if now is None else now, job_id),
    )


def _check_caps(conn: sqlite3.Connection, plan: GenerationPlan, limits: JobLimits) -> None:
    problems: builtins.list[Problem] = []
    if plan.images > limits.max_images_per_job:
        problems.append(
            Problem("count", f"this job would make {plan.images} images; a job may make {limits.max_images_per_job}")
        )
    queued = conn.execute("SELECT count(*) FROM jobs WHERE status = ?", (JobStatus.QUEUED.value,)).fetchone()[0]
    if queued >= limits.max_queued_jobs:
        problems.append(
            Problem("queue", f"the queue is full: {queued} jobs are waiting, at most {limits.max_queued_jobs} may")
        )
    if problems:
        raise JobRequestError(problems)


def _insert_job(
    conn: sqlite3.Connection,
    plan: GenerationPlan,
    webhook: Webhook | None,
    idempotency_key: str | None,
    request_hash: str,
    now: float,
) -> Job:
    job_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO jobs (id, status, plan_json, request_hash, idempotency_key, webhook_json, created_at, "
        "updated_at, images_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job_id,
            JobStatus.QUEUED.value,
            plan.to_json(),
            request_hash,
            idempotency_key,
            json.dumps(webhook.to_dict()) if webhook else None,
            now,
            now,
            plan.images,
        ),
    )
    return _get(conn, job_id)


def _check_next_image(job: Job, index: int) -> None:
    if job.status is not JobStatus.RUNNING:
        raise JobStateError(f"job {job.id} is {job.status.value}: it takes no image")
    if index != job.images_done:
        raise JobStateError(f"job {job.id} has {job.images_done} images: the next is {job.images_done}, not {index}")


def _after_interruption(job: Job, limits: JobLimits, now: float) -> tuple[str, tuple[Any, ...]]:
    """The SET list and values that take a job its process left running to where it goes now."""
    if job.cancel_requested:
        return "status = ?, finished_at = ?, task_id = NULL", (JobStatus.CANCELLED.value, now)
    if job.attempts >= limits.max_attempts:
        reason = (
            f"the WebUI stopped while running this job, {job.attempts} times out of {limits.max_attempts} allowed "
            f"(the last at image {job.images_done + 1} of {job.images_total}): not trying again"
        )
        return "status = ?, finished_at = ?, error = ?, task_id = NULL", (JobStatus.FAILED.value, now, reason)
    reason = f"the WebUI stopped while running this job (at image {job.images_done + 1} of {job.images_total})"
    return "status = ?, error = ?, task_id = NULL", (JobStatus.QUEUED.value, reason)


def _delete_rows(conn: sqlite3.Connection, job_ids: builtins.list[str]) -> None:
    """A job's rows: its images, its sent (or given-up) webhook deliveries, itself; its idempotency key goes with it.
    Deliveries still pending stay for the sender to finish."""
    for job_id in job_ids:
        conn.execute("DELETE FROM job_images WHERE job_id = ?", (job_id,))
        conn.execute("DELETE FROM webhook_deliveries WHERE job_id = ? AND status != 'pending'", (job_id,))
        conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))


def _cursor_seq(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 2**63 - 1
    if not cursor.isdigit() or len(cursor) > 18:
        raise JobRequestError([Problem("cursor", "is not a cursor this server gave")])
    return int(cursor)


# -- rows to values -----------------------------------------------------------------------------------------------
