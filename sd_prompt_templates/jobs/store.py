"""The jobs' durable state: the jobs database (through sd_prompt_templates/db.py: a SQLite file of its own, or the
PostgreSQL database several WebUIs share), and the images: files in a folder, one folder per job, or, on a shared
database, rows of `job_image_data`, which every WebUI reads (the folder is then this WebUI's cache of them).

Every method is one transaction, and every check that decides it (idempotency, the caps, the state machine, the
image order) is made inside that transaction, which is serialized with every other writer (`db.Database.write`), so
two threads, processes or WebUIs can never both pass a check that only one of them may. Image files are written
(renamed into place) before the rows that record them: a recorded image always exists; a file without a row is the
same image made again on resume. Files are deleted only after the rows that point to them.
"""

from __future__ import annotations

import builtins
import functools
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

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
from sd_prompt_templates.jobs.schema import image_from_row, job_from_row
from sd_prompt_templates.jobs.settings import DAY, JobLimits
from sd_prompt_templates.jobs.tables import JOB_IMAGE_DATA, JOB_IMAGES, JOBS, SCHEMA, WEBHOOK_DELIVERIES
from sd_prompt_templates.plan import GenerationPlan
from sd_prompt_templates.problems import Problem

logger = logging.getLogger(__name__)

DEFAULT_LIMITS = JobLimits()
SHARED_POLL_SECONDS = 1.0  # a watcher's look at a shared database, where other WebUIs' changes wake nobody here
QUEUED, RUNNING = JobStatus.QUEUED.value, JobStatus.RUNNING.value


@dataclass(frozen=True)
class ImageToSave:
    png: bytes
    prompt: str
    negative_prompt: str
    seed: int
    infotext: str


class JobStore:
    """The jobs and their images. One store serves every thread (a pooled connection per operation)."""

    def __init__(
        self,
        database: str | os.PathLike[str] | URL,
        files_dir: str | os.PathLike[str],
        *,
        images_in_database: bool | None = None,
    ) -> None:
        """`database`: a SQLite file's path or a database URL. `images_in_database`: keep the images' bytes in the
        database (default: when it is shared, so that every WebUI reads them) or only in `files_dir`."""
        self.files_dir = Path(files_dir)
        # NORMAL: a commit survives the process being killed; each image's row is one, and FULL would fsync each
        self.database = db.Database(database, SCHEMA, synchronous="NORMAL")
        self.images_in_database = self.database.shared if images_in_database is None else images_in_database
        self.files_dir.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path | None:
        """The jobs' SQLite file; None on a database server."""
        return self.database.path

    @property
    def shared(self) -> bool:
        """Whether other WebUIs use this store too (a database server)."""
        return self.database.shared

    def close(self) -> None:
        """Close the pooled connections. The store still works, opening new ones."""
        self.database.dispose()

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
        without one, the plan and webhook stand for it. The job comes with its `position`, read in the same
        transaction."""
        plan.check()
        fingerprint = request_hash or hash_request([plan.to_dict(), webhook.to_dict() if webhook else None])
        with self.database.write() as conn:
            if idempotency_key is not None:
                earlier = _first(conn, sa.select(JOBS).where(JOBS.c.idempotency_key == idempotency_key))
                if earlier is not None:
                    if earlier["request_hash"] != fingerprint:
                        raise IdempotencyConflict(idempotency_key, earlier["id"])
                    job = job_from_row(earlier)
                    return replace(job, position=_position(conn, job.seq, job.status.value)), False
            queued = _check_caps(conn, plan, limits)
            job = _insert_job(conn, plan, webhook, idempotency_key, fingerprint, time.time() if now is None else now)
        return replace(job, position=queued), True  # every queued job was queued before it

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
        query = sa.select(JOBS).where(JOBS.c.seq < _cursor_seq(cursor))
        if status is not None:
            query = query.where(JOBS.c.status == JobStatus(status).value)
        with self.database.read() as conn:
            rows = conn.execute(query.order_by(JOBS.c.seq.desc()).limit(limit + 1)).mappings().all()
        jobs = [job_from_row(row) for row in rows[:limit]]
        return jobs, (str(jobs[-1].seq) if len(rows) > limit else None)

    def position(self, job: Job) -> int | None:
        """How many queued jobs run before this one now (0: it is next); None unless it is queued."""
        with self.database.read() as conn:
            row = conn.execute(_SEQ_AND_STATUS, {"job_id": job.id}).first()
            return None if row is None else _position(conn, row.seq, row.status)

    def queued_ids(self) -> builtins.list[str]:
        """The queued jobs' ids, in the order they run."""
        return [job_id for job_id, _ in self.queued_order()]

    def queued_order(self, unchanged_since: float | None = None) -> builtins.list[tuple[str, int]]:
        """The queued jobs' ids and seqs, in the order they run; those unchanged since a time, if given."""
        query = sa.select(JOBS.c.id, JOBS.c.seq).where(JOBS.c.status == QUEUED).order_by(JOBS.c.seq)
        if unchanged_since is not None:
            query = query.where(JOBS.c.updated_at < unchanged_since)
        with self.database.read() as conn:
            return [(row[0], int(row[1])) for row in conn.execute(query)]

    def images(self, job_id: str) -> builtins.list[JobImage]:
        query = sa.select(JOB_IMAGES).where(JOB_IMAGES.c.job_id == job_id).order_by(JOB_IMAGES.c.idx)
        with self.database.read() as conn:
            _get(conn, job_id)
            rows = conn.execute(query).mappings().all()
        return [image_from_row(row) for row in rows]

    def image_path(self, job_id: str, index: int) -> Path:
        """The file of a job's saved image `index`; JobNotFound if there is no such image (yet). Images kept in the
        database are copied to this WebUI's folder the first time they are asked for."""
        query = sa.select(JOB_IMAGES.c.path).where(JOB_IMAGES.c.job_id == job_id, JOB_IMAGES.c.idx == index)
        with self.database.read() as conn:
            relative = conn.scalar(query)
        if relative is None:
            raise JobNotFound(job_id, index)
        path = self.files_dir / str(relative)
        if self.images_in_database and not _nonempty_file(path):
            self._fetch_image(job_id, index, path)
        return path

    def _fetch_image(self, job_id: str, index: int, path: Path) -> None:
        query = sa.select(JOB_IMAGE_DATA.c.png).where(JOB_IMAGE_DATA.c.job_id == job_id, JOB_IMAGE_DATA.c.idx == index)
        with self.database.read() as conn:
            png = conn.scalar(query)
        if png is None:  # its job was deleted meanwhile
            raise JobNotFound(job_id, index)
        write_atomically(path, bytes(png), durable=False)

    def total_image_bytes(self) -> int:
        with self.database.read() as conn:
            return int(conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(JOBS.c.images_bytes), 0))) or 0)

    # -- the worker's moves -----------------------------------------------------------------------------------
    def claim(
        self, job_id: str, worker: str, now: float | None = None, *, task: Callable[[int], str] | None = None
    ) -> Job | None:
        """queued → running, atomically: None if the job is no longer queued (cancelled meanwhile, or another
        worker took it). Counts an attempt. `task`: the WebUI progress task of its first batch, from the image it
        starts at (as `set_task`, in the same transaction)."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            changed = conn.execute(_CLAIM, {"b_id": job_id, "b_now": now, "b_worker": worker}).rowcount
            if not changed:
                return None
            job = _get(conn, job_id)
            if task is None:
                return job
            task_id = task(job.images_done)
            conn.execute(_SET_TASK, {"b_id": job_id, "b_task_id": task_id})
            return replace(job, task_id=task_id)

    def heartbeat(self, job_id: str, worker: str, now: float | None = None) -> Job | None:
        """The running job's worker is alive: its heartbeat moves on (not its version: watchers are not woken).
        Returns the job as it is now (a cancel asked for on another WebUI shows), or None if it is no longer this
        worker's running job (taken over after a missed heartbeat, or finished)."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            changed = conn.execute(
                JOBS.update()
                .where(JOBS.c.id == job_id, JOBS.c.status == RUNNING, JOBS.c.worker == worker)
                .values(heartbeat_at=now)
            ).rowcount
            return _get(conn, job_id) if changed else None

    def set_waiting(self, job_id: str, reason: str | None) -> Job | None:
        """Say why a queued job is not running (None: clear it); None if it is no longer queued."""
        with self.database.write() as conn:
            job = _get(conn, job_id)
            if job.status is not JobStatus.QUEUED:
                return None
            if job.waiting_reason != reason:  # not a new version: WebUIs that cannot run it take turns saying so
                conn.execute(JOBS.update().where(JOBS.c.id == job_id).values(waiting_reason=reason))
            return _get(conn, job_id)

    def set_task(self, job_id: str, task_id: str, *, worker: str | None = None) -> Job:
        """The WebUI progress task of the batch about to run. The job comes back as it is now, so the runner sees
        a cancel requested before this point; a cancel after it reads this task id and interrupts it. With
        `worker`, refused (JobStateError) unless the job is still that worker's: every move of a runner says who
        it is, so a WebUI taken for dead and overtaken changes nothing when it wakes up."""
        with self.database.write() as conn:
            _require(conn, job_id, JobStatus.RUNNING, worker)
            _touch(conn, job_id, None, task_id=task_id)
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
        *,
        worker: str | None = None,
    ) -> Job:
        """Save image `index` of a running job (see `record_images`)."""
        image = ImageToSave(png, prompt, negative_prompt, seed, infotext)
        return self.record_images(job_id, index, [image], now, worker=worker)

    def record_images(
        self,
        job_id: str,
        start: int,
        images: Sequence[ImageToSave],
        now: float | None = None,
        *,
        worker: str | None = None,
        next_task: str | None = None,
        finish: bool = False,
    ) -> Job:
        """Save a batch of a running job from image `start` on: the files first, then their rows and the job's
        count, in one transaction (on a shared database, the images' bytes too); in it too, the progress task of
        the batch to come (`next_task`, as `set_task`), or, with `finish`, the job's success if these are its last
        images. Only the next images are taken (`start` == images_done): never one twice, never a gap. Durable
        against the WebUI being killed at any point; after a power cut the last images may have to be made again
        (`requeue_interrupted` checks their files), which costs less than an fsync for each."""
        with self.database.read() as conn:
            # before the files: a recorded image is never overwritten
            _check_next_image(_get(conn, job_id), start, worker)
        paths = [f"{checked_id(job_id)}/{start + i:05d}.png" for i in range(len(images))]
        (self.files_dir / checked_id(job_id)).mkdir(parents=True, exist_ok=True)
        for relative, image in zip(paths, images, strict=True):
            write_atomically(self.files_dir / relative, image.png, durable=False, make_folder=False)
        now = time.time() if now is None else now
        with self.database.write() as conn:
            job = _get(conn, job_id)
            _check_next_image(job, start, worker)
            conn.execute(
                _INSERT_IMAGES,
                [
                    dict(
                        job_id=job_id,
                        idx=start + i,
                        path=relative,
                        prompt=im.prompt,
                        negative_prompt=im.negative_prompt,
                        seed=im.seed,
                        infotext=im.infotext,
                        bytes=len(im.png),
                        created_at=now,
                    )
                    for i, (relative, im) in enumerate(zip(paths, images, strict=True))
                ],
            )
            if self.images_in_database:
                conn.execute(
                    _INSERT_IMAGE_DATA,
                    [dict(job_id=job_id, idx=start + i, png=im.png) for i, im in enumerate(images)],
                )
            # attempts counts the starts in a row that made no image: a new image starts the count again, so a long
            # job restarted now and then never runs out of them, while a job that kills the WebUI does
            then: dict[str, Any] = {} if next_task is None else {"task_id": next_task}
            if finish and job.images_done + len(images) == job.images_total:
                then = {"status": JobStatus.SUCCEEDED.value, "finished_at": now, "error": None}
            _touch(
                conn,
                job_id,
                now,
                images_done=job.images_done + len(images),  # read in this transaction: no other write comes between
                images_bytes=job.images_bytes + sum(len(image.png) for image in images),
                last_image_at=now,
                heartbeat_at=now,
                attempts=0,
                **then,
            )
            return _get(conn, job_id)

    def wait_for_change(self, job_id: str, version: int, timeout: float) -> Job:
        """The job once its version is no longer `version`, or as it is after `timeout` seconds. A change made in
        this process wakes it at once; one made by another WebUI on a shared database is seen within
        `SHARED_POLL_SECONDS`, on a local one at the end of the wait."""
        database = self.database
        deadline = time.monotonic() + timeout
        while True:
            with database.changed:
                seen = database.writes
            with database.read() as conn:  # the version only: the whole job (its plan) once it changed
                found = conn.scalar(_VERSION, {"job_id": job_id})
            if found is None:
                raise JobNotFound(job_id)
            left = deadline - time.monotonic()
            if found != version or left <= 0:
                return self.get(job_id)
            with database.changed:
                if database.writes == seen:  # nothing committed since the read: wait for the next commit
                    database.changed.wait(min(left, SHARED_POLL_SECONDS) if self.shared else left)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        now: float | None = None,
        *,
        worker: str | None = None,
    ) -> Job:
        """A running job ends (or a queued one is cancelled). A job succeeds only with all its images. `worker`: as
        `set_task`."""
        status = JobStatus(status)
        if status not in FINISHED:
            raise JobStateError(f"finish() ends a job; {status.value} is not an end")
        with self.database.write() as conn:
            job = _get(conn, job_id)
            if worker is not None:
                _check_worker(job, worker)
            check_transition(job_id, job.status, status)
            if status is JobStatus.SUCCEEDED and job.images_done != job.images_total:
                raise JobStateError(f"job {job_id} has {job.images_done} of its {job.images_total} images")
            now = time.time() if now is None else now
            _touch(conn, job_id, now, status=status.value, finished_at=now, error=error)
            return _get(conn, job_id)

    def requeue(
        self,
        job_id: str,
        error: str | None = None,
        *,
        count_attempt: bool = True,
        now: float | None = None,
        worker: str | None = None,
    ) -> Job:
        """running → queued: the job runs again from its next image. `error` says why its attempt ended; an
        attempt ended by a clean stop (`count_attempt=False`) does not count toward `max_attempts`. A job whose
        cancel was asked for meanwhile is cancelled instead (the job returned says so). `worker`: as `set_task`."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            _require(conn, job_id, JobStatus.RUNNING, worker)
            job = _get(conn, job_id)
            if job.cancel_requested:
                _touch(conn, job_id, now, status=JobStatus.CANCELLED.value, finished_at=now)
            else:
                attempts = job.attempts if count_attempt else max(job.attempts - 1, 0)
                _touch(conn, job_id, now, status=QUEUED, error=error, task_id=None, attempts=attempts)
            return _get(conn, job_id)

    def request_cancel(self, job_id: str, now: float | None = None) -> Job:
        """A queued job is cancelled at once; a running one is flagged, and its runner stops it (and interrupts
        its batch), on whichever WebUI it runs; a finished one is left as it is: the job comes back as it is now,
        which says which."""
        now = time.time() if now is None else now
        with self.database.write() as conn:
            job = _get(conn, job_id)
            if job.status is JobStatus.QUEUED:
                cancelled = JobStatus.CANCELLED.value
                _touch(conn, job_id, now, status=cancelled, cancel_requested=1, finished_at=now, waiting_reason=None)
            elif job.status is JobStatus.RUNNING and not job.cancel_requested:
                _touch(conn, job_id, now, cancel_requested=1)
            return _get(conn, job_id)

    def requeue_interrupted(
        self,
        worker: str | None = None,
        *,
        limits: JobLimits = DEFAULT_LIMITS,
        exclude: Collection[str] = (),
        silent_since: float | None = None,
        now: float | None = None,
    ) -> builtins.list[Job]:
        """The jobs left running by a process that died go back to the queue, to resume at their next image: those
        of `worker` (None: any), or those whose heartbeat is older than `silent_since` (a WebUI killed while
        others share the database). One that has used up its attempts fails instead, with the reason, so a job
        that kills the WebUI cannot crash-loop; one whose cancel was asked for is cancelled. `exclude`: jobs that
        are really running, in this very process."""
        now = time.time() if now is None else now
        query = sa.select(JOBS).where(JOBS.c.status == RUNNING)
        if worker is not None:
            query = query.where(JOBS.c.worker == worker)
        if silent_since is not None:
            query = query.where(sa.func.coalesce(JOBS.c.heartbeat_at, JOBS.c.updated_at) < silent_since)
        changed: builtins.list[Job] = []
        with self.database.write() as conn:
            for row in conn.execute(query.order_by(JOBS.c.seq)).mappings().all():
                job = job_from_row(row)
                if job.id in exclude:
                    continue
                if not self.images_in_database:
                    self._forget_lost_images(conn, job)
                _touch(conn, job.id, now, **_after_interruption(job, limits, now))
                changed.append(_get(conn, job.id))
        for job in changed:
            by = job.worker or "a WebUI"
            logger.warning("job %s was left running by %s, which stopped: now %s", job.id, by, job.status.value)
        return changed

    def _forget_lost_images(self, conn: Connection, job: Job) -> None:
        """Images are recorded without an fsync each: after a power cut a recorded image's file may be missing or
        empty. From the first such image on, the job makes them again."""
        have = 0
        while have < job.images_done and _nonempty_file(self.files_dir / checked_id(job.id) / f"{have:05d}.png"):
            have += 1
        if have == job.images_done:
            return
        logger.warning("job %s: images %d and on were lost (a power cut?): they are made again", job.id, have)
        conn.execute(JOB_IMAGES.delete().where(JOB_IMAGES.c.job_id == job.id, JOB_IMAGES.c.idx >= have))
        kept = sa.select(sa.func.coalesce(sa.func.sum(JOB_IMAGES.c.bytes), 0)).where(JOB_IMAGES.c.job_id == job.id)
        conn.execute(
            JOBS.update().where(JOBS.c.id == job.id).values(images_done=have, images_bytes=kept.scalar_subquery())
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
        oldest_kept = now - limits.retention_days * DAY
        finished = (
            sa.select(JOBS.c.id, JOBS.c.finished_at, JOBS.c.images_bytes)
            .where(JOBS.c.finished_at.is_not(None))
            .order_by(JOBS.c.finished_at)
        )
        with self.database.write() as conn:
            total = int(conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(JOBS.c.images_bytes), 0))) or 0)
            doomed: builtins.list[str] = []
            result = conn.execute(finished)
            for row in result:  # oldest first, read only as far as needed
                if row.finished_at >= oldest_kept and total <= limits.retention_bytes:
                    break
                doomed.append(str(row.id))
                total -= int(row.images_bytes)
            result.close()
            _delete_rows(conn, doomed)
        self._delete_files(doomed)
        return doomed

    def remove_orphan_files(self) -> builtins.list[str]:
        """Delete the image folders of jobs that no longer exist (a process stopped between deleting a job's rows
        and its files; or, on a shared database, a job another WebUI deleted). For start-up."""
        names = [p.name for p in self.files_dir.iterdir() if p.is_dir() and JOB_ID.fullmatch(p.name)]
        with self.database.read() as conn:
            known: set[str] = set(conn.scalars(sa.select(JOBS.c.id)))
        orphans = [name for name in names if name not in known]
        self._delete_files(orphans)
        return orphans

    def _delete_files(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            shutil.rmtree(self.files_dir / checked_id(job_id), ignore_errors=True)


# -- queries ------------------------------------------------------------------------------------------------------


def _first(conn: Connection, query: sa.Select[Any]) -> sa.RowMapping | None:
    return conn.execute(query).mappings().first()


# The statements every job's run and every status read make, built once: SQLAlchemy then finds them compiled at once.
_JOB = sa.select(JOBS).where(JOBS.c.id == sa.bindparam("job_id"))
_SEQ_AND_STATUS = sa.select(JOBS.c.seq, JOBS.c.status).where(JOBS.c.id == sa.bindparam("job_id"))
_STATUS_AND_WORKER = sa.select(JOBS.c.status, JOBS.c.worker).where(JOBS.c.id == sa.bindparam("job_id"))
_INSERT_JOB = JOBS.insert()
_CLAIM = (
    JOBS.update()
    .where(JOBS.c.id == sa.bindparam("b_id"), JOBS.c.status == QUEUED)
    .values(
        status=RUNNING,
        attempts=JOBS.c.attempts + 1,
        started_at=sa.func.coalesce(JOBS.c.started_at, sa.bindparam("b_now")),
        run_started_at=sa.bindparam("b_now"),
        run_images_start=JOBS.c.images_done,
        last_image_at=None,
        worker=sa.bindparam("b_worker"),
        task_id=None,
        heartbeat_at=sa.bindparam("b_now"),
        waiting_reason=None,
        updated_at=sa.bindparam("b_now"),
        version=JOBS.c.version + 1,
    )
)
_SET_TASK = JOBS.update().where(JOBS.c.id == sa.bindparam("b_id")).values(task_id=sa.bindparam("b_task_id"))
_INSERT_IMAGES = JOB_IMAGES.insert()
_INSERT_IMAGE_DATA = JOB_IMAGE_DATA.insert()
_VERSION = sa.select(JOBS.c.version).where(JOBS.c.id == sa.bindparam("job_id"))
_QUEUED_COUNT = sa.select(sa.func.count()).select_from(JOBS).where(JOBS.c.status == QUEUED)
_QUEUED_BEFORE = _QUEUED_COUNT.where(JOBS.c.seq < sa.bindparam("seq"))


def _get(conn: Connection, job_id: str) -> Job:
    row = conn.execute(_JOB, {"job_id": job_id}).mappings().first()
    if row is None:
        raise JobNotFound(job_id)
    return job_from_row(row)


def _position(conn: Connection, seq: int, status: str) -> int | None:
    return int(conn.scalar(_QUEUED_BEFORE, {"seq": seq}) or 0) if status == QUEUED else None


def _require(conn: Connection, job_id: str, status: JobStatus, worker: str | None = None) -> None:
    row = conn.execute(_STATUS_AND_WORKER, {"job_id": job_id}).first()
    if row is None:
        raise JobNotFound(job_id)
    if row.status != status.value:
        raise JobStateError(f"job {job_id} is {row.status}, not {status.value}")
    if worker is not None and row.worker != worker:
        raise JobStateError(f"job {job_id} is run by {row.worker} now, not by {worker}")


def _check_worker(job: Job, worker: str) -> None:
    if job.status is JobStatus.RUNNING and job.worker != worker:
        raise JobStateError(f"job {job.id} is run by {job.worker} now, not by {worker}")


def _touch(conn: Connection, job_id: str, now: float | None, **values: Any) -> None:
    """Change a job's columns to plain values (worked out from the job as read in the same transaction: writes are
    serialized), with the change's time and a new version."""
    values["updated_at"] = time.time() if now is None else now
    params = {f"b_{name}": value for name, value in values.items()}
    conn.execute(_update_of(tuple(values)), {"b_id": job_id, **params})


@functools.lru_cache(maxsize=64)
def _update_of(columns: tuple[str, ...]) -> sa.Update:
    """The UPDATE of these columns, built once: building and compiling one costs more than the SQLite write itself
    (half a millisecond against a tenth, measured on a job's claim)."""
    new_values: dict[str, Any] = {name: sa.bindparam(f"b_{name}") for name in columns}
    new_values["version"] = JOBS.c.version + 1
    return JOBS.update().where(JOBS.c.id == sa.bindparam("b_id")).values(new_values)


def _check_caps(conn: Connection, plan: GenerationPlan, limits: JobLimits) -> int:
    """Refuse a job beyond the caps; else the number of jobs queued now."""
    problems: builtins.list[Problem] = []
    if plan.images > limits.max_images_per_job:
        problems.append(
            Problem("count", f"this job would make {plan.images} images; a job may make {limits.max_images_per_job}")
        )
    queued = int(conn.scalar(_QUEUED_COUNT) or 0)
    if queued >= limits.max_queued_jobs:
        problems.append(
            Problem("queue", f"the queue is full: {queued} jobs are waiting, at most {limits.max_queued_jobs} may")
        )
    if problems:
        raise JobRequestError(problems)
    return queued


def _insert_job(
    conn: Connection,
    plan: GenerationPlan,
    webhook: Webhook | None,
    idempotency_key: str | None,
    request_hash: str,
    now: float,
) -> Job:
    job_id = uuid.uuid4().hex
    conn.execute(
        _INSERT_JOB,
        dict(
            id=job_id,
            status=QUEUED,
            plan_json=plan.to_json(),
            request_hash=request_hash,
            idempotency_key=idempotency_key,
            webhook_json=json.dumps(webhook.to_dict()) if webhook else None,
            created_at=now,
            updated_at=now,
            images_total=plan.images,
        ),
    )
    return _get(conn, job_id)


def _check_next_image(job: Job, index: int, worker: str | None) -> None:
    if job.status is not JobStatus.RUNNING:
        raise JobStateError(f"job {job.id} is {job.status.value}: it takes no image")
    if worker is not None:
        _check_worker(job, worker)
    if index != job.images_done:
        raise JobStateError(f"job {job.id} has {job.images_done} images: the next is {job.images_done}, not {index}")


def _after_interruption(job: Job, limits: JobLimits, now: float) -> dict[str, Any]:
    """The columns that take a job its process left running to where it goes now."""
    if job.cancel_requested:
        return dict(status=JobStatus.CANCELLED.value, finished_at=now, task_id=None)
    if job.attempts >= limits.max_attempts:
        reason = (
            f"the WebUI stopped while running this job, {job.attempts} times out of {limits.max_attempts} allowed "
            f"(the last at image {job.images_done + 1} of {job.images_total}): not trying again"
        )
        return dict(status=JobStatus.FAILED.value, finished_at=now, error=reason, task_id=None)
    reason = f"the WebUI stopped while running this job (at image {job.images_done + 1} of {job.images_total})"
    return dict(status=QUEUED, error=reason, task_id=None)


def _delete_rows(conn: Connection, job_ids: builtins.list[str]) -> None:
    """A job's rows: its images, its sent (or given-up) webhook deliveries, itself; its idempotency key goes with it.
    Deliveries still pending stay for the sender to finish."""
    for job_id in job_ids:
        conn.execute(JOB_IMAGE_DATA.delete().where(JOB_IMAGE_DATA.c.job_id == job_id))
        conn.execute(JOB_IMAGES.delete().where(JOB_IMAGES.c.job_id == job_id))
        deliveries = WEBHOOK_DELIVERIES.c
        conn.execute(WEBHOOK_DELIVERIES.delete().where(deliveries.job_id == job_id, deliveries.status != "pending"))
        conn.execute(JOBS.delete().where(JOBS.c.id == job_id))


def _nonempty_file(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _cursor_seq(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 2**63 - 1
    if not cursor.isdigit() or len(cursor) > 18:
        raise JobRequestError([Problem("cursor", "is not a cursor this server gave")])
    return int(cursor)
