"""Running one job: its plan, batch by batch, from its next image, through the generation port; each image saved
and recorded the moment its batch returns.

Resuming is exact because a plan fixes every image's prompt and seed: a job stopped after image k runs
`plan.part(k, ...)` next and makes the images it would have made, none twice (the store takes only image k next),
none lost. A batch that was interrupted is discarded whole, since its images are partial (with the rest of its call,
when fast batches go to the WebUI several at a time: see `pacing`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Protocol

from sd_prompt_templates.jobs.heartbeat import Heartbeat
from sd_prompt_templates.jobs.images import INFOTEXT_KEY, decode_image, png_text, png_with_infotext
from sd_prompt_templates.jobs.model import (
    END_EVENT_OF,
    EVENT_CANCELLED,
    EVENT_PROGRESS,
    EVENT_STARTED,
    Job,
    JobNotFound,
    JobStatus,
)
from sd_prompt_templates.jobs.pacing import Pacer
from sd_prompt_templates.jobs.settings import JobLimits, LimitsSource
from sd_prompt_templates.jobs.store import ImageToSave, JobStore
from sd_prompt_templates.plan import GenerationPlan, WebUIReply

logger = logging.getLogger(__name__)

INTERRUPTED_IN_WEBUI = "the run was interrupted in the WebUI"


class RunInterrupted(Exception):
    """A port raises this when the WebUI's run was interrupted (by `interrupt`, or by someone pressing the
    WebUI's Interrupt): its images are partial, and the runner discards them."""


class JobPort(Protocol):
    """How a job reaches the WebUI: the WebUI's glue implements it; tests pass a fake."""

    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        """Generate `plan` (a batch, or several: its n_iter) as WebUI progress task `task_id`: its images as base64
        PNGs in the plan's order, and the WebUI's info (JSON with "infotexts"). Raise RunInterrupted if the run was
        interrupted."""
        ...

    def interrupt(self, task_id: str) -> bool:
        """Stop the run of `task_id` if it is the one running now (the WebUI's interrupt is global: never stop
        another caller's run); False otherwise."""
        ...


class CheckingPort(JobPort, Protocol):
    """A port that can also tell, before a job starts, that this WebUI cannot run it (the WebUI's has this)."""

    def cannot_run(self, plan: GenerationPlan) -> str | None:
        """Why this WebUI cannot run `plan` (a checkpoint it does not have...), or None when it can: the job is
        then left for another WebUI on the same database."""
        ...


Notify = Callable[[Job, str], None]
"""Told of each job event ("job.started", "job.progress" after each batch, and the end): the webhook sender's hook."""


class JobRunError(Exception):
    """The WebUI answered something a job cannot use (e.g. fewer images than asked)."""


def task_id_for(job_id: str, start: int) -> str:
    """The WebUI progress task of a job's batch from image `start`: names the job, so a progress poll or an
    interrupt can tell whose run it is."""
    return f"task(prompt-templates-job-{job_id}-{start})"


def remaining_batches(plan: GenerationPlan, images_done: int) -> list[tuple[int, int]]:
    """The (start, stop) of each batch still to make: the plan's own batches, the first cut to start at the next
    image when a job stopped inside it."""
    return [(max(start, images_done), stop) for start, stop in plan.batch_bounds() if stop > images_done]


_active_lock = threading.Lock()
_active_jobs: set[str] = set()


def jobs_running_here() -> frozenset[str]:
    """The jobs that a runner of this process is running right now: a queue (re)started in the same process, e.g.
    after a script reload, must not take them for jobs a dead process left behind."""
    with _active_lock:
        return frozenset(_active_jobs)


@contextmanager
def _running_here(job_id: str) -> Iterator[None]:
    with _active_lock:
        _active_jobs.add(job_id)
    try:
        yield
    finally:
        with _active_lock:
            _active_jobs.discard(job_id)


def _never() -> bool:
    return False


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        port: JobPort,
        *,
        worker_name: str,
        notify: Notify | None = None,
        clock: Callable[[], float] = time.time,
        limits: LimitsSource = JobLimits,
    ) -> None:
        self.store = store
        self.port = port
        self.worker_name = worker_name
        self.notify = notify
        self.clock = clock
        self.limits = limits
        self._lock = threading.Lock()  # the current task and the interrupts we made, across threads
        self._current_task: str | None = None
        self._interrupted: set[str] = set()
        self.cannot_run_here: dict[str, str] = {}  # queued jobs this WebUI cannot run, and why
        # running jobs whose cancel came in, through this runner or seen in a heartbeat: their next batch is not
        # started (the job read last may be older than the cancel: a batch's record names the next one's task)
        self._cancels: set[str] = set()
        self.pacer = Pacer()

    # -- running --------------------------------------------------------------------------------------------
    def run_job(self, job_id: str, should_stop: Callable[[], bool] = _never) -> Job | None:
        """Run a queued job to its end, or until it is cancelled, fails, or `should_stop()` says so between two
        batches (then it goes back to the queue, its attempt not counted). None if it was not queued (cancelled
        meanwhile, or taken by another worker). An attempt that raises goes back to the queue, or fails with the
        reason once it has used its attempts. A job this WebUI cannot run stays queued, with the reason
        (`cannot_run_here`), for another WebUI."""
        if self._leave_for_another(job_id):
            return self.store.get(job_id)
        job = self.store.claim(job_id, self.worker_name, self.clock(), task=partial(task_id_for, job_id))
        if job is None:
            return None
        with _running_here(job_id), self._heartbeat(job_id) if self.store.shared else nullcontext():
            self._tell(job, EVENT_STARTED)
            try:
                return self._run_batches(job, should_stop)
            except Exception as exc:
                return self._after_error(job_id, exc)
            finally:
                with self._lock:
                    self._cancels.discard(job_id)

    def _leave_for_another(self, job_id: str) -> bool:
        """Whether this WebUI cannot run the job (then it says why in the job, for whoever looks)."""
        self.cannot_run_here.pop(job_id, None)
        check = getattr(self.port, "cannot_run", None)
        if check is None:
            return False
        job = self.store.get(job_id)
        if job.status is not JobStatus.QUEUED:
            return False
        reason = check(job.plan)
        if reason is None:
            return False
        self.cannot_run_here[job_id] = reason
        self.store.set_waiting(job_id, f"{self.worker_name} cannot run it: {reason}")
        logger.info("job %s is left for another WebUI: %s", job_id, reason)
        return True

    def _heartbeat(self, job_id: str) -> Heartbeat:
        """On a shared database only: on a local one no other WebUI takes jobs over, and a cancel comes through
        this very process, which interrupts the run itself."""

        def beat() -> Job | None:
            return self.store.heartbeat(job_id, self.worker_name, self.clock())

        def news(job: Job | None) -> None:
            if job is None:  # ended here meanwhile, or taken over by another WebUI which took this one for dead
                if not self._ended_here(job_id):
                    logger.warning("job %s is no longer this WebUI's (taken over): its batch is stopped", job_id)
                    self.interrupt_current()
            elif job.cancel_requested:  # cancelled through another WebUI
                self._cancelled_while_running(job)

        return Heartbeat(beat, news, self.limits().heartbeat_seconds)

    def _ended_here(self, job_id: str) -> bool:
        """Whether the job ended on this WebUI (its last record came just before a heartbeat), or is gone. (One
        back in the queue may have been taken over: its batch, if still running, is interrupted.)"""
        try:
            job = self.store.get(job_id)
        except JobNotFound:
            return True
        return job.finished and job.worker == self.worker_name

    def _run_batches(self, job: Job, should_stop: Callable[[], bool]) -> Job:
        """The job's remaining batches, one call to the WebUI at a time: one batch a call, or several when they
        are fast (`pacing`)."""
        batches = remaining_batches(job.plan, job.images_done)
        call_seconds = self.limits().call_seconds
        while batches:
            if should_stop():
                return self._give_back(job)
            n = self.pacer.batches_in_next_call(job.plan, batches, call_seconds)
            (start, first_stop), stop = batches[0], batches[n - 1][1]
            batches = batches[n:]
            task_id = task_id_for(job.id, start)
            if job.task_id != task_id:  # unless the claim or the last batch's record named it already
                job = self.store.set_task(job.id, task_id, worker=self.worker_name)
            if job.cancel_requested or self._cancel_came(job.id):
                return self._end(job, JobStatus.CANCELLED)
            part = job.plan.part(start, stop, batch_size=first_stop - start)
            began = time.monotonic()
            reply = self._run_batch(part, task_id)
            if reply is None:
                return self._end_interrupted(job.id, should_stop)
            self.pacer.measured(job.plan, n, time.monotonic() - began)
            next_task = task_id_for(job.id, stop) if batches else None
            job = self._save_batch(job, start, part, reply, next_task)
            self._tell(job, EVENT_PROGRESS)
            if job.finished:  # its last images: the record ended it
                self._tell(job, END_EVENT_OF[job.status])
                return job
        return self._end(job, JobStatus.SUCCEEDED)

    def _run_batch(self, part: GenerationPlan, task_id: str) -> WebUIReply | None:
        """The WebUI's reply for one call (a batch or several); None if its run was interrupted (its images are
        partial: the whole call's are discarded)."""
        with self._lock:
            self._current_task = task_id
        reply: WebUIReply | None = None
        error: Exception | None = None
        try:
            reply = self.port.run(part, task_id)
        except RunInterrupted:
            pass
        except Exception as exc:
            error = exc
        finally:
            with self._lock:
                self._current_task = None
                interrupted_by_us = task_id in self._interrupted
                self._interrupted.discard(task_id)
        if interrupted_by_us or (reply is None and error is None):
            return None
        if error is not None:
            raise error
        return reply

    def _save_batch(self, job: Job, start: int, part: GenerationPlan, reply: WebUIReply, next_task: str | None) -> Job:
        """Record each image of a batch at once, with its prompt and seed from the plan and its infotext in it,
        and the next batch's task (None: the job's last batch, and its end). Images past the batch's (e.g. an
        extension's extra outputs) are not the job's."""
        images, infotexts = reply.made()
        if len(images) < part.images:
            raise JobRunError(f"the WebUI returned {len(images)} images for a batch of {part.images}")
        batch = []
        for i in range(part.images):
            given = infotexts[i] if i < len(infotexts) else ""
            png = png_with_infotext(decode_image(images[i]), given)
            infotext = given or png_text(png).get(INFOTEXT_KEY, "")
            batch.append(ImageToSave(png, part.prompts[i], part.negative_prompts[i], part.seeds[i], infotext))
        return self.store.record_images(
            job.id, start, batch, self.clock(), worker=self.worker_name, next_task=next_task, finish=next_task is None
        )

    # -- endings --------------------------------------------------------------------------------------------
    def _end(self, job: Job, status: JobStatus, error: str | None = None) -> Job:
        job = self.store.finish(job.id, status, error, self.clock(), worker=self.worker_name)
        self._tell(job, END_EVENT_OF[status])
        return job

    def _end_interrupted(self, job_id: str, should_stop: Callable[[], bool]) -> Job:
        """A batch was interrupted: by a cancel, by a stop of the worker (the job waits for the next start), or by
        someone in the WebUI (the job is cancelled: the WebUI's Interrupt means stop)."""
        job = self.store.get(job_id)
        if not self._mine(job):
            return job
        if job.cancel_requested:
            return self._end(job, JobStatus.CANCELLED)
        if should_stop():
            return self._give_back(job)
        return self._end(job, JobStatus.CANCELLED, INTERRUPTED_IN_WEBUI)

    def _give_back(self, job: Job) -> Job:
        logger.info("job %s goes back to the queue at image %d: the worker stops", job.id, job.images_done)
        return self._requeue(job.id, job.error, count_attempt=False)

    def _requeue(self, job_id: str, error: str | None, *, count_attempt: bool = True) -> Job:
        """Back to the queue; or cancelled, if a cancel came in meanwhile (the store decides, atomically)."""
        job = self.store.requeue(job_id, error, count_attempt=count_attempt, now=self.clock(), worker=self.worker_name)
        if job.status is JobStatus.CANCELLED:
            self._tell(job, EVENT_CANCELLED)
        return job

    def _after_error(self, job_id: str, exc: Exception) -> Job:
        """An attempt raised: the job tries again from its next image, or fails with the reason once it has used
        its attempts, or is cancelled if that was asked meanwhile."""
        reason = f"{type(exc).__name__}: {exc}"
        job = self.store.get(job_id)
        logger.error(
            "job %s, attempt %d, failed at image %d: %s", job_id, job.attempts, job.images_done, reason, exc_info=exc
        )
        if not self._mine(job):
            return job
        if job.cancel_requested:
            return self._end(job, JobStatus.CANCELLED)
        if job.attempts >= self.limits().max_attempts:
            return self._end(job, JobStatus.FAILED, reason)
        return self._requeue(job_id, reason)

    def _mine(self, job: Job) -> bool:
        """Whether the job is still running here: not ended, and not taken over by another WebUI."""
        return job.status is JobStatus.RUNNING and job.worker == self.worker_name

    # -- cancelling -----------------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once; a running one is flagged and its batch interrupted — that batch
        only, through the port, which checks it is the run going on — and it keeps the images already saved (on
        another WebUI, its heartbeat sees the cancel and interrupts it there); a finished one stays as it is (the
        job returned says which)."""
        before = self.store.get(job_id)
        job = self.store.request_cancel(job_id, self.clock())
        if job.status is JobStatus.CANCELLED and before.status is JobStatus.QUEUED:
            self._tell(job, EVENT_CANCELLED)
        elif job.status is JobStatus.RUNNING:
            self._cancelled_while_running(job)
        return job

    def _cancelled_while_running(self, job: Job) -> None:
        """Its batch is interrupted if it runs here now; else (between two batches) the next one does not start."""
        with self._lock:
            self._cancels.add(job.id)
        if job.task_id is not None:
            self._interrupt(job.task_id)

    def _cancel_came(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancels

    def interrupt_current(self) -> bool:
        """Interrupt the batch this runner is running, if any (a stopping worker); its job goes back to the queue
        when `should_stop()` says so, or is cancelled otherwise."""
        with self._lock:
            task_id = self._current_task
        return task_id is not None and self._interrupt(task_id)

    def _interrupt(self, task_id: str) -> bool:
        # Under the lock: the batch's end reads `_interrupted` under it too, so it cannot miss this interrupt.
        with self._lock:
            interrupted = self.port.interrupt(task_id)
            if interrupted and task_id == self._current_task:
                self._interrupted.add(task_id)
        return interrupted

    # -- events ---------------------------------------------------------------------------------------------
    def _tell(self, job: Job, event: str) -> None:
        """A listener's failure never breaks a job."""
        if self.notify is None:
            return
        try:
            self.notify(job, event)
        except Exception:
            logger.exception("the listener of job events failed on %s of job %s", event, job.id)
