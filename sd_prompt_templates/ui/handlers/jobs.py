"""The tab's jobs: Queue a run for later (the plan Generate would make, stored as a job), and the Jobs section's
list, Open, Cancel and Re-run, over the service's `JobSystem`, as the REST routes use it. When the jobs' files
cannot be opened, each of them says so instead of failing."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from sd_prompt_templates.jobs import Job, JobError, JobImage, JobStatus, JobStore
from sd_prompt_templates.problems import PlanError
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.ui import element_ids
from sd_prompt_templates.ui.handlers.generation import RunInputs, plan_problems_html, plan_run
from sd_prompt_templates.ui.handlers.messages import message, problems_html

if TYPE_CHECKING:  # huey comes with the jobs' queue only: without it the tab must load
    from sd_prompt_templates.jobs.system import JobSystem


class JobsUnavailable(Exception):
    """The jobs' files cannot be opened or read: the section says so, the rest of the tab works on."""


SHOWN = 20  # jobs in the list, newest first
SHORT_ID = 8
EXCERPT = 60  # characters of a prompt shown in the list
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
COLUMNS = ("Job", "Template or prompt", "Status", "Progress", "Images", "ETA", "Error")
FAILURES = (JobsUnavailable, JobError, sa.exc.SQLAlchemyError, OSError)  # shown as a message, never as a traceback


@dataclass(frozen=True)
class JobsView:
    """The Jobs section's list: the table, the jobs to pick from (label, id), newest first, and whether any job is
    queued or running, so that the list is worth showing again soon."""

    table: str
    choices: list[tuple[str, str]] = field(default_factory=list)
    active: bool = False


@dataclass(frozen=True)
class OpenedJob:
    """A job's images as the gallery shows them: (file, its prompt), with their infotexts, and a message. No
    images (None) when there is no job to show."""

    images: list[tuple[str, str]] | None
    infotexts: list[str]
    message: str


def short_id(job_id: str) -> str:
    return job_id[:SHORT_ID]


def open_jobs(service: PromptService) -> JobSystem:
    try:
        return service.jobs()
    except Exception as exc:  # the files are unreadable, locked, on a full disk...: any reason, said once
        raise JobsUnavailable(unavailable_text(exc)) from exc


def unavailable_text(exc: BaseException) -> str:
    return f"Jobs are not available here: {type(exc).__name__}: {exc}"


# -- Queue, Cancel, Re-run, Open -------------------------------------------------------------------------------------


def queue_run(service: PromptService, inputs: RunInputs) -> str:
    """Store the run Generate would make as a job; the message says where it is in the queue, or why not."""
    try:
        plan = plan_run(service, inputs)
        jobs = open_jobs(service)
        job, _ = jobs.queue.submit(plan)  # a refusal (e.g. the queue is full) is a PlanError with its reason
        where = queue_place(jobs, job)
    except PlanError as exc:
        return plan_problems_html(exc, inputs.preview)
    except FAILURES as exc:
        return failure(exc)
    return message(f"Queued job {short_id(job.id)} ({job.images_total} images, {where}).{idle_note(jobs)}")


def cancel_job(service: PromptService, job_id: str | None) -> str:
    def cancel(jobs: JobSystem, picked: str) -> str:
        job = jobs.queue.cancel(picked)
        if job.status is JobStatus.RUNNING:
            return f"Cancelling job {short_id(job.id)}: it stops now and keeps its {job.images_done} images."
        if job.status is JobStatus.CANCELLED:
            return f"Cancelled job {short_id(job.id)}."
        return f"Job {short_id(job.id)} already {job.status.value}: nothing to cancel."

    return on_job(service, job_id, cancel)


def rerun_job(service: PromptService, job_id: str | None) -> str:
    def rerun(jobs: JobSystem, picked: str) -> str:
        job = jobs.queue.rerun(picked)
        where = queue_place(jobs, job)
        again = f"Queued job {short_id(picked)} again as {short_id(job.id)} ({job.images_total} images, {where})."
        return again + idle_note(jobs)

    return on_job(service, job_id, rerun)


def on_job(service: PromptService, job_id: str | None, action: Callable[[JobSystem, str], str]) -> str:
    """`action` on the picked job, its answer or what stopped it as a message."""
    if not job_id:
        return message("Pick a job first.", "error")
    try:
        return message(action(open_jobs(service), job_id))
    except PlanError as exc:  # a refused submit: JobRequestError says why
        return problems_html(exc.problems)
    except FAILURES as exc:
        return failure(exc)


def open_job(service: PromptService, job_id: str | None) -> OpenedJob:
    """The picked job's images made so far, each captioned with its prompt, and their infotexts."""
    if not job_id:
        return OpenedJob(None, [], message("Pick a job first.", "error"))
    try:
        store = open_jobs(service).store
        job, images = store.get(job_id), store.images(job_id)
    except FAILURES as exc:
        return OpenedJob(None, [], failure(exc))
    files = [(_image_file(store, image), image) for image in images]
    shown = [(path, image) for path, image in files if path is not None]
    text = f"Job {short_id(job.id)} ({job.status.value}): {len(shown)} of {job.images_total} images."
    if len(shown) < len(files):
        text += f" {len(files) - len(shown)} image files are missing."
    return OpenedJob(
        [(str(path), image.prompt) for path, image in shown],
        [image.infotext for _, image in shown],
        message(text),
    )


def _image_file(store: JobStore, image: JobImage) -> Path | None:
    """The image's file on this WebUI (fetched from a shared database the first time); None if it is gone."""
    try:
        path = store.image_path(image.job_id, image.index)
    except JobError:
        return None
    return path if path.is_file() else None


def queue_place(jobs: JobSystem, job: Job) -> str:
    ahead = jobs.store.position(job)
    return "running now" if ahead is None else f"position {ahead + 1}"


def idle_note(jobs: JobSystem) -> str:
    return "" if jobs.running else " The jobs' worker is not running: jobs wait until the WebUI starts it."


def failure(exc: BaseException) -> str:
    if isinstance(exc, (JobsUnavailable, JobError)):
        return message(str(exc), "error")
    return message(unavailable_text(exc), "error")


# -- the list --------------------------------------------------------------------------------------------------------


def jobs_view(service: PromptService, now: float | None = None) -> JobsView:
    """The newest jobs as a table: one query on the jobs' primary key, and one more on the queue's index only
    while some are queued (for their places)."""
    try:
        jobs = open_jobs(service)
        listed, _ = jobs.store.list(limit=SHOWN)
        queued = [job_id for job_id, _ in jobs.store.queued_order()] if queued_in(listed) else []
    except FAILURES as exc:
        return JobsView(failure(exc))
    places = {job_id: i for i, job_id in enumerate(queued)}
    table = jobs_table(listed, places, time.time() if now is None else now)
    return JobsView(
        table=table + idle_note_html(jobs, listed),
        choices=[(short_id(job.id), job.id) for job in listed],
        active=any(job.status in ACTIVE for job in listed),
    )


def queued_in(jobs: Sequence[Job]) -> bool:
    return any(job.status is JobStatus.QUEUED for job in jobs)


def idle_note_html(jobs: JobSystem, listed: Sequence[Job]) -> str:
    note = idle_note(jobs).strip()
    return message(note) if note and queued_in(listed) else ""


def jobs_table(jobs: Sequence[Job], places: dict[str, int], now: float) -> str:
    if not jobs:
        return message("No jobs yet: Queue runs them one after another, and they show here.")
    head = "".join(f"<th>{name}</th>" for name in COLUMNS)
    rows = "".join(job_row(job, places.get(job.id), now) for job in jobs)
    return f"<table class='{element_ids.JOBS_CLASS}'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def job_row(job: Job, place: int | None, now: float) -> str:
    status = status_text(job, place)
    cells = [
        f"<code>{short_id(job.id)}</code>",
        what_html(job),
        f"<span class='{element_ids.JOB_STATUS_CLASS}'>{html.escape(status)}</span>",
        progress_html(job.progress),
        f"{job.images_done}/{job.images_total}",
        eta_text(job.eta(now)) if job.status is JobStatus.RUNNING else "",
        error_html(job.error),
    ]
    tds = "".join(f"<td>{cell}</td>" for cell in cells)
    return f"<tr data-job='{job.id}' data-status='{job.status.value}'>{tds}</tr>"


def status_text(job: Job, place: int | None) -> str:
    if job.status is JobStatus.QUEUED and place is not None:
        return f"queued ({place + 1})"
    if job.status is JobStatus.RUNNING and job.cancel_requested:
        return "cancelling"
    return job.status.value


def what_html(job: Job) -> str:
    """The library template the job came from, or else its prompt template (the tab's runs are the editor's)."""
    plan = job.plan
    if plan.template:
        return html.escape(f"{plan.template} v{plan.template_version}")
    text = plan.prompt_source or (plan.prompts[0] if plan.prompts else "")
    return f"<span title='{html.escape(text)}'>{html.escape(excerpt(text))}</span>"


def excerpt(text: str, size: int = EXCERPT) -> str:
    line = " ".join(text.split())
    return line if len(line) <= size else line[: size - 1] + "…"


def progress_html(fraction: float) -> str:
    percent = round(max(0.0, min(fraction, 1.0)) * 100)
    return (
        f"<div class='{element_ids.PROGRESS_CLASS}' role='progressbar' aria-valuemin='0' aria-valuemax='100' "
        f"aria-valuenow='{percent}'><span style='width: {percent}%'></span><b>{percent}%</b></div>"
    )


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def error_html(error: str | None) -> str:
    if not error:
        return ""
    return f"<span title='{html.escape(error)}'>{html.escape(excerpt(error))}</span>"
