"""/jobs: durable asynchronous generation. A job is a stored plan: submit one and get its id at once, then follow
it (status, progress, queue position, Server-Sent Events), cancel it, fetch its images, or run it again. The submit
route's request model extends the WebUI's, so it is built when the API is mounted (`build`); the others are fixed
(`router`). What a job looks like to callers, and its zip and event streams, are in `job_views.py`. No `from
__future__ import annotations` here: FastAPI must see the request models made at mount time as real classes."""

from contextlib import suppress
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from sd_prompt_templates.api.deps import ServiceDep
from sd_prompt_templates.api.guard import GuardedRoute
from sd_prompt_templates.api.routes.errors import answers, errors
from sd_prompt_templates.api.routes.job_views import (
    JobList,
    JobOut,
    event_stream,
    image_name,
    job_out,
    job_url,
    zip_stream,
)
from sd_prompt_templates.db import SchemaTooNew
from sd_prompt_templates.jobs import (
    IdempotencyConflict,
    Job,
    JobNotFound,
    JobRequestError,
    JobStatus,
    Webhook,
    hash_request,
)
from sd_prompt_templates.jobs.webhooks import check_webhook
from sd_prompt_templates.models import NULLABLE, PYDANTIC_V2, dump, fields_set, model_fields
from sd_prompt_templates.plan import Kind
from sd_prompt_templates.problems import Problem
from sd_prompt_templates.service import PromptService

if TYPE_CHECKING:  # huey comes with the jobs' queue only: without it the rest of the API must load
    from sd_prompt_templates.jobs.system import JobSystem

MAX_IDEMPOTENCY_KEY = 255
router = APIRouter(route_class=GuardedRoute)


class WebhookIn(BaseModel):
    url: str = Field(..., description="http or https URL to POST to (Standard Webhooks: signed, retried).")
    secret: str | None = Field(  # type: ignore[misc]
        None, description="Signing secret, whsec_ + base64 (default: the one in Settings).", **NULLABLE
    )
    events: list[str] = Field(
        ["job.succeeded", "job.failed", "job.cancelled"],
        description="Any of job.succeeded, job.failed, job.cancelled, job.progress.",
    )


def request_model(txt2img: type[BaseModel], img2img: type[BaseModel] | None) -> type[BaseModel]:
    """The body of POST /jobs: every field of /txt2img (and of /img2img, when the WebUI has it), plus `kind` and
    `webhook`. Which fields reach the WebUI follows `kind`."""
    bases = (txt2img,) if img2img is None else (txt2img, img2img)
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {"kind": Literal["txt2img", "img2img"], "webhook": WebhookIn | None},
        "kind": Field("txt2img", description="txt2img (default) or img2img: which request this is."),
        "webhook": Field(None, description="Where to call back when the job ends (Standard Webhooks)."),
    }
    if PYDANTIC_V2:
        namespace["model_config"] = {**txt2img.model_config, "json_schema_extra": {"example": _EXAMPLE}}
    return type("PromptTemplatesJobRequest", bases, namespace)


_EXAMPLE = {
    "template": "portrait",
    "variables": {"subject": "an old fisherman"},
    "count": 4,
    "steps": 20,
    "webhook": {"url": "https://hooks.example.com/sd", "events": ["job.succeeded", "job.failed"]},
}


def build(job_request: type[BaseModel], kind_fields: dict[Kind, set[str]]) -> APIRouter:
    submit = APIRouter(route_class=GuardedRoute)

    @submit.post(
        "/jobs",
        response_model=JobOut,
        status_code=202,
        responses={200: {"model": JobOut, "description": "The job this Idempotency-Key made already."}}
        | errors(403, 404, 409, 422, 503, lists=(404, 422)),
    )
    def submit_job(
        body: job_request,  # type: ignore[valid-type]
        response: Response,
        idempotency_key: str | None = Header(None, description="The same key with the same body: the same job."),
        service: PromptService = ServiceDep,
    ) -> Any:
        """Queue a generation: the body of /txt2img (or of /img2img with "kind": "img2img") plus an optional
        webhook. It is planned now — a bad template or request is a 422 here, never a failed job later — and
        answered at once with 202 and the job (its URL in Location); the images are made by this WebUI's worker,
        one job at a time, and kept after it restarts."""
        data, given = dump(body), fields_set(body)
        kind: Kind = data.get("kind") or "txt2img"
        key = _checked_key(idempotency_key)
        if kind not in kind_fields:
            raise HTTPException(
                status_code=422, detail=[{"loc": ["body", "kind"], "msg": f"this WebUI has no {kind} API"}]
            )
        with answers():
            webhook = _webhook(data.get("webhook"), service)
            wanted = kind_fields[kind]
            request = {k: v for k, v in data.items() if k in wanted}
            plan = service.plan(request, given & wanted, kind)
            jobs = jobs_of(service)
            try:
                job, created = jobs.queue.submit(
                    plan, webhook=webhook, idempotency_key=key, request_hash=hash_request(_raw(data, given))
                )
            except IdempotencyConflict as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from None
        response.status_code = 202 if created else 200
        response.headers["Location"] = job_url(job.id)
        return job_out(job, job.position)

    submit.include_router(router)
    return submit


@router.get("/jobs", response_model=JobList, responses=errors(422, 503))
def list_jobs(
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = Query(None),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, description="next_cursor of the previous page."),
    service: PromptService = ServiceDep,
) -> Any:
    """Jobs, newest first, a page at a time."""
    store = jobs_of(service).store
    with answers():
        jobs, next_cursor = store.list(JobStatus(status) if status else None, limit, cursor)
    positions = dict(store.queued_order()) if any(j.status is JobStatus.QUEUED for j in jobs) else {}
    order = {job_id: i for i, job_id in enumerate(positions)}
    return {"jobs": [job_out(j, order.get(j.id)) for j in jobs], "next_cursor": next_cursor}


@router.get("/jobs/{job_id}", response_model=JobOut, responses=errors(404, 422, 503))
def get_job(job_id: str, service: PromptService = ServiceDep) -> Any:
    """A job: status, progress (images done, fraction, ETA), queue position, error, prompts and seeds, and the
    URL of each image made so far."""
    store = jobs_of(service).store
    job = _job(store, job_id)
    return job_out(job, store.position(job))


deleted = {204: {"description": "A finished job, deleted with its images."}}


@router.delete("/jobs/{job_id}", response_model=JobOut, responses=deleted | errors(403, 404, 422, 503))
def delete_job(job_id: str, service: PromptService = ServiceDep) -> Any:
    """A queued job is cancelled; a running one is interrupted (its run only, never another caller's) and keeps
    the images already made: both answer with the job. A finished job is deleted with its images: 204."""
    jobs = jobs_of(service)
    job = _job(jobs.store, job_id)
    if job.finished:
        with answers(), suppress(JobNotFound):  # deleted meanwhile: gone all the same
            jobs.store.delete(job_id)
        return Response(status_code=204)
    return job_out(jobs.queue.cancel(job_id), None)


@router.post("/jobs/{job_id}/rerun", response_model=JobOut, status_code=202, responses=errors(403, 404, 422, 503))
def rerun_job(job_id: str, response: Response, service: PromptService = ServiceDep) -> Any:
    """A new job from this one's stored plan: the same prompts and seeds, even if the template changed since."""
    jobs = jobs_of(service)
    _job(jobs.store, job_id)
    with answers():
        job = jobs.queue.rerun(job_id)
    response.headers["Location"] = job_url(job.id)
    return job_out(job, job.position)


@router.get(
    "/jobs/{job_id}/images/{index}",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}, "description": "The PNG, its infotext inside."}}
    | errors(404, 422, 503),
)
def get_job_image(job_id: str, index: int, service: PromptService = ServiceDep) -> Any:
    """Image `index` (from 0) as saved, with its infotext in the PNG ("parameters"), as bytes."""
    store = jobs_of(service).store
    job = _job(store, job_id)
    if not 0 <= index < job.images_done:
        raise HTTPException(status_code=404, detail=f"job {job_id} has {job.images_done} images so far")
    path = store.image_path(job_id, index)
    if not path.is_file():  # removed from the disk by hand
        raise HTTPException(status_code=404, detail=f"image {index} of job {job_id} is no longer on the disk")
    return FileResponse(path, media_type="image/png", filename=image_name(job, index))


@router.get(
    "/jobs/{job_id}/images",
    responses={200: {"content": {"application/zip": {}}, "description": "Every image so far."}} | errors(404, 422, 503),
)
def get_job_images(job_id: str, service: PromptService = ServiceDep) -> Any:
    """Every image made so far, as one zip (PNG files with their infotexts, and prompts.json)."""
    store = jobs_of(service).store
    job = _job(store, job_id)
    return StreamingResponse(
        zip_stream(store, job),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}.zip"'},
    )


@router.get(
    "/jobs/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events."}}
    | errors(404, 422, 503),
)
def job_events(job_id: str, service: PromptService = ServiceDep) -> Any:
    """Server-Sent Events: the job (as GET /jobs/{id}) each time it changes — `event: progress` while it
    runs, `event: status` when its status changes — until it ends. No polling needed."""
    store = jobs_of(service).store
    job = _job(store, job_id)
    return StreamingResponse(
        event_stream(store, job),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def jobs_of(service: PromptService) -> "JobSystem":
    """This process's jobs; 503 with the reason when their files cannot be opened (a full or read-only disk, a
    database written by a newer version), rather than a bare 500."""
    try:
        return service.jobs()
    except (OSError, sa.exc.SQLAlchemyError, SchemaTooNew) as exc:
        raise HTTPException(status_code=503, detail=f"jobs are not available here: {exc}") from None


def _raw(data: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """What the caller sent (the fields it set), for the idempotency fingerprint."""
    return {k: v for k, v in data.items() if k in given}


def _checked_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY:
        raise HTTPException(
            status_code=422,
            detail=[{"loc": ["header", "Idempotency-Key"], "msg": f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"}],
        )
    return key


def _webhook(data: dict[str, Any] | None, service: PromptService) -> Webhook | None:
    if data is None:
        return None
    webhook = Webhook.from_dict(data)
    reason = check_webhook(webhook, service.settings().webhooks)
    if reason:
        raise JobRequestError([Problem("webhook", reason)])
    return webhook


def _job(store: Any, job_id: str) -> Job:
    try:
        job: Job = store.get(job_id)
    except JobNotFound:
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from None
    return job


def kind_fields(txt2img: type[BaseModel], img2img: type[BaseModel] | None) -> dict[Kind, set[str]]:
    """The fields each kind's request takes (the WebUI's and ours): the rest of a job's body is not sent."""
    fields: dict[Kind, set[str]] = {"txt2img": set(model_fields(txt2img))}
    if img2img is not None:
        fields["img2img"] = set(model_fields(img2img))
    return fields
