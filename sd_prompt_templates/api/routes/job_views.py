"""What a job looks like to API callers (`JobOut`, built by `job_out`), and the two streams of a job: its images as
a zip written while it is sent, and its changes as Server-Sent Events."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from sd_prompt_templates.jobs import Job, JobNotFound, JobStatus, JobStore
from sd_prompt_templates.models import NULLABLE

PREFIX = "/prompt-templates/v1"
# A stream wakes at once on a change this process commits, within a second on one another WebUI commits to a shared
# database (JobStore.wait_for_change); it looks anyway this often, for another process on a local file.
EVENTS_POLL_SECONDS = 5.0
EVENTS_KEEPALIVE_SECONDS = 15.0  # a comment line keeps proxies from closing a quiet stream


class Progress(BaseModel):
    images_done: int
    images_total: int
    fraction: float
    eta_seconds: float | None = Field(None, **NULLABLE)  # type: ignore[misc]


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    kind: Literal["txt2img", "img2img"]
    position: int | None = Field(None, description="While queued: jobs ahead of it (0: next).", **NULLABLE)  # type: ignore[misc]
    progress: Progress
    error: str | None = Field(None, description="Why it failed (or why its last attempt did).", **NULLABLE)  # type: ignore[misc]
    created_at: str
    started_at: str | None = Field(None, **NULLABLE)  # type: ignore[misc]
    finished_at: str | None = Field(None, **NULLABLE)  # type: ignore[misc]
    worker: str | None = Field(None, description="The WebUI that runs or ran it.", **NULLABLE)  # type: ignore[misc]
    waiting: str | None = Field(  # type: ignore[misc]
        None, description="While queued: why no WebUI runs it yet (one that cannot says why).", **NULLABLE
    )
    attempts: int = Field(..., description="Times it started in a row without making an image (see max attempts).")
    template: str | None = Field(None, **NULLABLE)  # type: ignore[misc]
    template_version: int | None = Field(None, **NULLABLE)  # type: ignore[misc]
    variables: dict[str, str]
    mode: str
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    images: list[str] = Field(..., description="The URL of each image made so far.")
    url: str = Field(..., description="This job's URL.")


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.", **NULLABLE)  # type: ignore[misc]


def job_url(job_id: str) -> str:
    return f"{PREFIX}/jobs/{job_id}"


def job_out(job: Job, position: int | None) -> dict[str, Any]:
    summary = job.summary()
    return {
        "id": job.id,
        "status": job.status.value,
        "kind": summary.kind,
        "position": position if job.status is JobStatus.QUEUED else None,
        "progress": {
            "images_done": job.images_done,
            "images_total": job.images_total,
            "fraction": round(job.progress, 6),
            "eta_seconds": job.eta(time.time()),
        },
        "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at) if job.finished else None,
        "worker": job.worker,
        "waiting": job.waiting_reason if job.status is JobStatus.QUEUED else None,
        "attempts": job.attempts,
        "template": summary.template,
        "template_version": summary.template_version,
        "variables": summary.variables,
        "mode": summary.mode,
        "prompts": summary.prompts,
        "negative_prompts": summary.negative_prompts,
        "seeds": summary.seeds,
        "images": [f"{job_url(job.id)}/images/{i}" for i in range(job.images_done)],
        "url": job_url(job.id),
    }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def image_name(job: Job, index: int) -> str:
    return f"{job.id}-{index:05d}-{job.plan.seeds[index]}.png"


def zip_stream(store: JobStore, job: Job) -> Iterator[bytes]:
    """The zip written as it is sent: PNGs stored as they are (already compressed), then prompts.json."""
    buffer = _Chunks()
    images = store.images(job.id)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for image in images:
            archive.write(store.image_path(job.id, image.index), image_name(job, image.index))
            yield buffer.take()
        listing = [
            {"file": image_name(job, i.index), "prompt": i.prompt, "negative_prompt": i.negative_prompt, "seed": i.seed}
            for i in images
        ]
        archive.writestr("prompts.json", json.dumps(listing, ensure_ascii=False, indent=1))
    yield buffer.take()


class _Chunks(io.RawIOBase):
    """A write-only, unseekable file that hands its bytes over as they come: zipfile then streams."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def event_stream(store: JobStore, job: Job) -> Iterator[str]:
    """The job now, then each change until it ends, as soon as it is made (by this process; another's is seen
    within EVENTS_POLL_SECONDS); a comment line now and then keeps the connection open."""
    yield _event("status", job, store)
    last_quiet = time.monotonic()
    while not job.finished:
        try:
            current: Job = store.wait_for_change(job.id, job.version, EVENTS_POLL_SECONDS)
        except JobNotFound:  # deleted meanwhile
            yield "event: deleted\ndata: {}\n\n"
            return
        if current.version != job.version:
            kind = "status" if current.status is not job.status else "progress"
            job = current
            last_quiet = time.monotonic()
            yield _event(kind, job, store)
        elif time.monotonic() - last_quiet > EVENTS_KEEPALIVE_SECONDS:
            last_quiet = time.monotonic()
            yield ": keep-alive\n\n"


def _event(kind: str, job: Job, store: JobStore) -> str:
    position = store.position(job) if job.status is JobStatus.QUEUED else None
    data = json.dumps(job_out(job, position), ensure_ascii=False, separators=(",", ":"))
    return f"event: {kind}\nid: {job.version}\ndata: {data}\n\n"
