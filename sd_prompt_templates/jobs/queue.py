"""The queue: huey's `SqliteHuey` in a file of its own (or, when several WebUIs share a PostgreSQL database, huey's
`PostgresHuey` in it: any idle WebUI takes the next message, `FOR UPDATE SKIP LOCKED`), and one worker thread that
runs one job at a time.

huey carries the messages ("run job X"), in order: each message's priority is minus its job's seq, so the oldest
queued job always runs next, a job given back after a crash included, and `JobStore.position` tells the truth. The
jobs' state lives in the job store, not in huey: a message is only a wake-up call, so a lost one (its process died
after huey gave it out) is made again from the store (`reconcile`), and a duplicate is harmless (the claim of a job
that is no longer queued does nothing).

Nothing is pickled: huey's messages are written as JSON (`JsonSerializer`), and huey keeps no results.

The worker is a plain daemon thread, not huey's `Consumer` (which installs signal handlers, the WebUI's business).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import PostgresHuey, SqliteHuey  # type: ignore[import-untyped]
from huey.registry import Message  # type: ignore[import-untyped]
from huey.serializer import Serializer  # type: ignore[import-untyped]
from huey.storage import PostgresStorage, SqliteStorage  # type: ignore[import-untyped]

from sd_prompt_templates.jobs.model import Job, JobStatus, Webhook
from sd_prompt_templates.jobs.runner import JobRunner, jobs_running_here
from sd_prompt_templates.jobs.settings import JobLimits, LimitsSource
from sd_prompt_templates.jobs.store import JobStore
from sd_prompt_templates.plan import GenerationPlan

logger = logging.getLogger(__name__)

QUEUE_NAME = "prompt-templates-jobs"
TASK_NAME = "run_job"
THREAD_NAME = "prompt-templates-jobs"

_MESSAGE, _TUPLE, _DATETIME, _TIMEDELTA = "__huey_message__", "__tuple__", "__datetime__", "__timedelta__"


PRUNE_EVERY_SECONDS = 60.0  # between two jobs, at most this often: pruning reads every job's size
ELSEWHERE_SECONDS = 5.0  # a job this WebUI cannot run is offered again after this long (to any WebUI)
LOST_AFTER_SECONDS = 30.0  # on a shared database, a queued job unchanged this long without a message lost it
QUEUE_TABLES = "prompt_templates_queue"  # huey's tables' prefix in a shared database
SCHEMA_LOCK = zlib.crc32(QUEUE_TABLES.encode()) - 2**31  # the advisory lock its tables are made under


class JsonSerializer(Serializer):  # type: ignore[misc]
    """huey's messages as JSON. A message holds the task's name and arguments (here, a job id), huey's own
    datetimes and tuples (tagged so they come back as they were) and nested messages; anything else is refused,
    never pickled."""

    def __init__(self) -> None:
        super().__init__(compression=False)

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(_to_json(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")

    def _deserialize(self, data: bytes) -> Any:
        return json.loads(bytes(data).decode("utf-8"), object_hook=_from_json)


def _to_json(value: Any) -> Any:
    if isinstance(value, Message):
        return {_MESSAGE: {name: _to_json(getattr(value, name)) for name in Message._fields}}
    if isinstance(value, tuple):
        return {_TUPLE: [_to_json(item) for item in value]}
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("a queue message's mappings must have text keys")
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, datetime.datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {_TIMEDELTA: value.total_seconds()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"a queue message cannot hold a {type(value).__name__}: it is stored as JSON, never pickled")


def _from_json(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj
    ((tag, value),) = obj.items()
    if tag == _MESSAGE:
        return Message(**value)
    if tag == _TUPLE:
        return tuple(value)
    if tag == _DATETIME:
        return datetime.datetime.fromisoformat(value)
    if tag == _TIMEDELTA:
        return datetime.timedelta(seconds=value)
    return obj


class QueueStorage(SqliteStorage):  # type: ignore[misc]
    """huey's SQLite storage with synchronous=NORMAL: in WAL mode a power cut can lose the last messages but never
    corrupts the file, and a lost message is made again from the job store (`JobQueue.reconcile`). It saves the
    submit a second fsync (measured: half its time)."""

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn


class SharedQueueStorage(PostgresStorage):  # type: ignore[misc]
    """huey's PostgreSQL storage, its tables made under an advisory lock: `CREATE TABLE IF NOT EXISTS` is not safe
    against itself in PostgreSQL, and WebUIs started at once on a new database would fail to open their queue."""

    def initialize_schema(self) -> None:
        with self.db(commit=True, close=True) as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in self.ddl:
                cursor.execute(statement)


class JobQueue:
    """Submitting, cancelling and re-running jobs, and the worker that runs them."""

    def __init__(
        self,
        store: JobStore,
        runner: JobRunner,
        huey_path: str | Path,
        *,
        limits: LimitsSource = JobLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.runner = runner
        self.limits = limits
        self.clock = clock
        self.huey: Any = _shared_huey(store, self.limits()) if store.shared else _local_huey(Path(huey_path))
        self._task: Any = self.huey.task(name=TASK_NAME)(self._run_job)
        self._looked_for_silent_at = self._reconciled_at = -float("inf")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._pruned_at = -float("inf")
        self._scheduled = True  # whether huey's schedule may hold messages (a local one is read at the start)

    # -- what callers do ------------------------------------------------------------------------------------
    def submit(
        self,
        plan: GenerationPlan,
        *,
        webhook: Webhook | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> tuple[Job, bool]:
        """Store a new job and wake the worker; or the job an idempotency key already made (False). Refusals as
        `JobStore.submit`."""
        job, created = self.store.submit(
            plan,
            webhook=webhook,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            limits=self.limits(),
            now=self.clock(),
        )
        if created:
            self._enqueue_safely(job)
        return job, created

    def cancel(self, job_id: str) -> Job:
        """See `JobRunner.cancel`."""
        return self.runner.cancel(job_id)

    def rerun(self, job_id: str) -> Job:
        """A new job from a job's stored plan: the same prompts and seeds, whatever became of its template since;
        it calls the same webhook."""
        job = self.store.get(job_id)
        new, _ = self.submit(job.plan, webhook=job.webhook)
        return new

    # -- the worker -----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the worker (again, after `stop`): jobs a dead process left running go back to the queue (or fail,
        once out of attempts), every queued job gets its message, and the thread runs them one after another.
        Any job found running but not in this process is taken for one a dead process left, on a local database
        (one WebUI per data folder); on a shared one, only this WebUI's own, and those whose heartbeat stopped.
        A worker still finishing its batch after a `stop` that timed out just carries on."""
        with self._thread_lock:
            if self.running:
                self._stop.clear()
                return
            self._stop.clear()
            mine = self.runner.worker_name if self.store.shared else None
            self.store.requeue_interrupted(mine, limits=self.limits(), exclude=jobs_running_here(), now=self.clock())
            self.take_over_silent_jobs()
            self.reconcile()
            self._thread = threading.Thread(target=self._work, name=THREAD_NAME, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0, *, interrupt: bool = True) -> bool:
        """Stop the worker; True once its thread has ended. The job it runs goes back to the queue (its attempt
        not counted) and resumes at its next image at the next start: with `interrupt` its batch is interrupted
        and discarded, so the WebUI can stop or reload at once; without, the batch finishes and is kept (waited
        for up to `timeout`). Safe to call twice."""
        with self._thread_lock:
            thread = self._thread
            self._stop.set()
            self._wake.set()
            if thread is None:
                return True
            deadline = time.monotonic() + timeout
            while thread.is_alive() and time.monotonic() < deadline:
                if interrupt:
                    self.runner.interrupt_current()
                thread.join(min(0.05, max(deadline - time.monotonic(), 0)))
            if thread.is_alive():
                logger.warning("the jobs' worker did not stop within %.1f s; it stops after its batch", timeout)
                return False
            self._thread = None
            return True

    def close(self) -> None:
        """Stop the worker and close huey's file."""
        self.stop()
        self.huey.storage.close()

    def reconcile(self, unchanged_since: float | None = None) -> list[str]:
        """Give a message to every queued job that has none (lost with a process that died after taking it, or
        never written); returns their ids. `unchanged_since`: only jobs that have not changed since then — on a
        shared database another worker may hold a job's message for a moment (taken, not yet claimed or offered
        again), and that job is not one whose message was lost."""
        pending = self._messaged()
        queued = self.store.queued_order(unchanged_since)
        missing = [(job_id, seq) for job_id, seq in queued if job_id not in pending]
        for job_id, seq in missing:
            self._enqueue(job_id, seq)
        return [job_id for job_id, _ in missing]

    def _work(self) -> None:
        self._tidy()
        while not self._stop.is_set():
            try:
                self._wake.clear()
                # on a shared database huey's dequeue has just listened for a submit on any WebUI: no more waiting
                if not self._run_next() and not self.store.shared:
                    self._wake.wait(self.limits().poll_seconds)
            except Exception:
                logger.exception("the jobs' worker hit an error; it goes on")
                self._stop.wait(self.limits().poll_seconds)

    def _run_next(self) -> bool:
        """Run the next message's job; False when there was none (then queued jobs whose message was lost get one,
        and the worker waits for a submit or the next poll: another process may queue jobs too)."""
        self._offer_again()
        self.take_over_silent_jobs()
        task = self.huey.dequeue()
        if task is None:
            return self._find_lost_messages()
        if not self.huey.ready_to_run(task):  # a message for later, as `huey.execute` does with one
            self._schedule(task)
            return True
        # the task itself, not `huey.execute`: its revocation, retries and results, unused here, cost a read and a
        # write of huey's file per job
        task.execute()
        return True

    def _messaged(self) -> set[str]:
        """The jobs that have a message waiting, in the queue or in the schedule."""
        waiting = [*self.huey.pending(), *self.huey.scheduled()]
        return {str(task.args[0]) for task in waiting if task.args}

    def _find_lost_messages(self) -> bool:
        """With no message to take: the queued jobs whose message was lost get one (True if any did). On a shared
        database, only jobs left unchanged for a while, looked for once in that while."""
        if not self.store.shared:
            return bool(self.store.queued_order() and self.reconcile())
        if time.monotonic() - self._reconciled_at < LOST_AFTER_SECONDS:
            return False
        self._reconciled_at = time.monotonic()
        return bool(self.reconcile(unchanged_since=self.clock() - LOST_AFTER_SECONDS))

    def take_over_silent_jobs(self) -> list[Job]:
        """On a shared database: the running jobs whose WebUI has been silent for `takeover_seconds` (killed, or cut
        off) go back to the queue, to resume at their next image here or on any WebUI. Looked at once per
        heartbeat period at most."""
        if not self.store.shared:
            return []
        limits = self.limits()
        if time.monotonic() - self._looked_for_silent_at < limits.heartbeat_seconds:
            return []
        self._looked_for_silent_at = time.monotonic()
        now = self.clock()
        taken = self.store.requeue_interrupted(
            limits=limits, exclude=jobs_running_here(), silent_since=now - limits.takeover_seconds, now=now
        )
        for job in taken:
            if job.status is JobStatus.QUEUED:
                self._enqueue(job.id, job.seq)
        return taken

    def _offer_again(self) -> None:
        """Move the messages whose time has come (jobs left for another WebUI) back into the queue. On a local
        database only this process schedules any: its schedule is read only while it has some."""
        if not self.store.shared:
            if not self._scheduled:
                return
            self._scheduled = bool(self.huey.scheduled_count())
        for task in self.huey.read_schedule(self.huey._get_timestamp()):
            self.huey.enqueue(task)

    def _run_job(self, job_id: str) -> None:
        """huey's task: run the job; one given back after a failed attempt gets its message again."""
        job = self.runner.run_job(job_id, should_stop=self._stop.is_set)
        if job is not None and job.status is JobStatus.QUEUED:  # given back (a stop, a failed attempt) or left
            if job.id in self.runner.cannot_run_here:
                if job.id not in self._messaged():  # one message a job: a duplicate made in a race ends here
                    self._enqueue(job.id, job.seq, delay=ELSEWHERE_SECONDS)
            else:
                self._enqueue(job.id, job.seq)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._prune()

    def _tidy(self) -> None:
        self._prune()
        try:
            self.store.remove_orphan_files()
        except OSError:
            logger.exception("could not remove the files of deleted jobs")

    def _prune(self) -> None:
        self._pruned_at = time.monotonic()
        try:
            pruned = self.store.prune(self.clock(), self.limits())
        except Exception:
            logger.exception("could not prune finished jobs")
            return
        if pruned:
            logger.info("pruned %d finished jobs", len(pruned))

    def _enqueue(self, job_id: str, seq: int, *, delay: float | None = None) -> None:
        if delay is not None:
            self._schedule(self._task.s(job_id, priority=-seq, delay=delay))
            return
        self.huey.enqueue(self._task.s(job_id, priority=-seq))
        self._wake.set()

    def _schedule(self, task: Any) -> None:
        """A message for later, in huey's schedule; on a local database `_offer_again` reads it from now on."""
        self.huey.add_schedule(task)
        self._scheduled = True

    def _enqueue_safely(self, job: Job) -> None:
        """A submitted job is stored: if its message cannot be written, the worker finds it anyway (reconcile)."""
        try:
            self._enqueue(job.id, job.seq)
        except Exception:
            logger.exception("could not queue job %s's message; the worker will find it", job.id)
            self._wake.set()


def _local_huey(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        name=QUEUE_NAME, filename=str(path), serializer=JsonSerializer(), results=False, storage_class=QueueStorage
    )


def _shared_huey(store: JobStore, limits: JobLimits) -> Any:
    """huey's tables in the shared database; an idle worker waits for a message with LISTEN, `poll_seconds` at a
    time (then looks at the schedule and at silent jobs)."""
    dsn = store.database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresHuey(
        name=QUEUE_NAME,
        storage_class=SharedQueueStorage,
        dsn=dsn,
        serializer=JsonSerializer(),
        results=False,
        table_prefix=QUEUE_TABLES,
        read_timeout=limits.poll_seconds,
    )
