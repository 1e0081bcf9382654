"""What a job is: a stored generation plan plus its state, the state machine it moves through, the images it saved,
the webhook its caller asked for, and the refusals the jobs code raises. Plain values; nothing here does I/O."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sd_prompt_templates.jobs.webhooks import events as webhook_events
from sd_prompt_templates.jobs.webhooks.addresses import url_problem
from sd_prompt_templates.jobs.webhooks.signing import SECRET_BYTES, SECRET_PREFIX, secret_problem
from sd_prompt_templates.plan import GenerationPlan, Kind
from sd_prompt_templates.problems import PlanError, Problem


class JobStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# The only moves a job makes. running → queued is a job given back: its process died (found at the next start), its
# attempt failed and it has attempts left, or its worker was stopped between two batches.
TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset({JobStatus.QUEUED, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

# The events a job tells of. The webhook events are named once, in jobs/webhooks/events.py; `job.started` is the
# runner's own: no webhook can ask for it.
EVENT_STARTED = "job.started"
EVENT_PROGRESS: str = webhook_events.JOB_PROGRESS
EVENT_SUCCEEDED: str = webhook_events.JOB_SUCCEEDED
EVENT_FAILED: str = webhook_events.JOB_FAILED
EVENT_CANCELLED: str = webhook_events.JOB_CANCELLED
END_EVENTS: tuple[str, ...] = webhook_events.DEFAULT_EVENTS
WEBHOOK_EVENTS: tuple[str, ...] = webhook_events.EVENTS
END_EVENT_OF: Mapping[JobStatus, str] = {JobStatus(s): event for s, event in webhook_events.FINAL_EVENTS.items()}


# -- refusals ---------------------------------------------------------------------------------------------------------


class JobError(Exception):
    """Base of the jobs' refusals."""


class JobNotFound(JobError, LookupError):
    def __init__(self, job_id: str, index: int | None = None) -> None:
        self.job_id, self.index = job_id, index
        what = f"no job '{job_id}'" if index is None else f"job '{job_id}' has no image {index}"
        super().__init__(what)


class JobStateError(JobError):
    """A change the job's state does not allow: an illegal transition, an image out of order, deleting a running
    job. The jobs code never breaks its own rules, so outside a race this is a bug."""


class IdempotencyConflict(JobError):
    """The idempotency key was used before with another request: the caller must not reuse it (HTTP 409)."""

    def __init__(self, key: str, job_id: str) -> None:
        self.key, self.job_id = key, job_id
        super().__init__(f"the Idempotency-Key '{key}' was used for another request (job {job_id})")


class JobRequestError(PlanError, JobError):
    """The job cannot be accepted: its webhook is invalid, it asks too many images, or the queue is full.
    A `PlanError`, so the API answers it as it answers a bad plan: 422 with each field at fault."""


def check_transition(job_id: str, current: JobStatus, new: JobStatus) -> None:
    if new not in TRANSITIONS[current]:
        raise JobStateError(f"job {job_id} is {current.value}: it cannot become {new.value}")


# -- webhook ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """Where to call back when a job ends (or progresses, if asked); checked when made, so a job is never accepted
    with a webhook that could not be sent. Which hosts are allowed is the sender's Settings' business."""

    url: str
    secret: str | None = None  # "whsec_..." (Standard Webhooks); None: the one in Settings signs it
    events: tuple[str, ...] = END_EVENTS

    def __post_init__(self) -> None:
        problems = webhook_problems(self.url, self.secret, self.events)
        if problems:
            raise JobRequestError(problems)
        object.__setattr__(self, "events", tuple(dict.fromkeys(self.events)))  # each once, in the order given

    @classmethod
    def restored(cls, data: Mapping[str, Any]) -> Webhook:
        """A stored webhook, as it was accepted: not checked again, so a rule made stricter later never makes an
        accepted job unreadable (the sender still refuses what it cannot send)."""
        webhook = object.__new__(cls)
        for name, value in (("url", data["url"]), ("secret", data.get("secret")), ("events", tuple(data["events"]))):
            object.__setattr__(webhook, name, value)
        return webhook

    def wants(self, event: str) -> bool:
        return event in self.events

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret, "events": list(self.events)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "webhook") -> Webhook:
        """A webhook from a request's JSON object; every problem is reported with its field path under `where`."""
        if not isinstance(data, Mapping):
            raise JobRequestError([Problem(where, "must be an object with a url")])
        unknown = sorted(set(data) - {"url", "secret", "events"})
        problems = [Problem(f"{where}.{name}", "is not a webhook field") for name in unknown]
        url, secret, events = data.get("url"), data.get("secret"), data.get("events")
        if not isinstance(url, str):
            problems.append(Problem(f"{where}.url", "must be a URL"))
        if secret is not None and not isinstance(secret, str):
            problems.append(Problem(f"{where}.secret", "must be text"))
        if events is None:
            events = list(END_EVENTS)
        elif not isinstance(events, (list, tuple)) or not all(isinstance(e, str) for e in events):
            problems.append(Problem(f"{where}.events", "must be a list of event names"))
        if not problems:
            problems = webhook_problems(str(url), secret, tuple(events), where)
        if problems:
            raise JobRequestError(problems)
        return cls(url=str(url), secret=secret, events=tuple(events))


def webhook_problems(url: str, secret: str | None, events: Sequence[str], where: str = "webhook") -> list[Problem]:
    """A job's webhook against the sender's own rules for a URL's form (`webhooks.addresses.split_url`) and for a
    secret (`webhooks.signing.secret_key`); whether its host may be called is decided at submit (`check_webhook`)."""
    url_reason = url_problem(url)
    problems = [] if url_reason is None else [Problem(f"{where}.url", url_reason)]
    if secret is not None and secret_problem(secret) is not None:
        problems.append(
            Problem(
                f"{where}.secret",
                f"must be '{SECRET_PREFIX}' followed by the base64 of {SECRET_BYTES[0]} to {SECRET_BYTES[1]} random "
                "bytes (Standard Webhooks)",
            )
        )
    if not events:
        problems.append(Problem(f"{where}.events", "must name at least one event"))
    for i, event in enumerate(events):
        if event not in WEBHOOK_EVENTS:
            problems.append(Problem(f"{where}.events.{i}", f"must be one of {', '.join(WEBHOOK_EVENTS)}"))
    return problems


# -- job --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSummary:
    """What the plan of a job says about it, for the API and the tab (the WebUI payload stays out)."""

    kind: Kind
    template: str | None
    template_version: int | None
    variables: dict[str, str]
    mode: str
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]


@dataclass(frozen=True)
class Job:
    id: str  # uuid4 hex
    seq: int  # insertion order: the queue runs jobs in it
    status: JobStatus
    plan: GenerationPlan
    created_at: float  # epoch seconds
    updated_at: float
    version: int  # bumped on every change, so a watcher can tell that something changed
    started_at: float | None = None  # first start
    finished_at: float | None = None
    images_done: int = 0  # images saved: always the plan's first `images_done`
    error: str | None = None  # why it failed (or why its last attempt failed, when it is queued again)
    attempts: int = 0  # starts in a row that made no new image (a clean stop between batches gives its start back)
    cancel_requested: bool = False
    webhook: Webhook | None = None
    idempotency_key: str | None = None
    worker: str | None = None  # which WebUI runs it, or ran it last
    task_id: str | None = None  # the WebUI progress task of its current (or last) batch
    run_started_at: float | None = None  # when its current (or last) attempt started...
    run_images_start: int = 0  # ... with how many images already done: the ETA's baseline
    last_image_at: float | None = None
    images_bytes: int = 0  # the size of its saved images
    heartbeat_at: float | None = None  # while running: its worker's last sign of life (several WebUIs, one database)
    waiting_reason: str | None = None  # while queued: why no WebUI runs it yet (one that cannot says why)
    # while queued, how many queued jobs run before it, as of when it was read; only a submit reads it (for free,
    # in its own transaction): see `JobStore.position`. Not part of the job's value.
    position: int | None = field(default=None, compare=False)

    @property
    def images_total(self) -> int:
        return self.plan.images

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        """The fraction of the images done, 0 to 1."""
        return self.images_done / self.images_total if self.images_total else 1.0

    @property
    def eta_seconds(self) -> float | None:
        return self.eta(time.time())

    def eta(self, now: float) -> float | None:
        """Seconds left, from the time per image of this attempt so far (a restart's downtime is not counted);
        None before its first image, 0 once succeeded."""
        if self.status is JobStatus.SUCCEEDED:
            return 0.0
        if self.status is not JobStatus.RUNNING or self.run_started_at is None or self.last_image_at is None:
            return None
        made = self.images_done - self.run_images_start
        if made <= 0:
            return None
        per_image = max(self.last_image_at - self.run_started_at, 0.0) / made
        left = self.images_total - self.images_done
        return max(per_image * left - max(now - self.last_image_at, 0.0), 0.0)

    def summary(self) -> JobSummary:
        plan = self.plan
        return JobSummary(
            kind=plan.kind,
            template=plan.template,
            template_version=plan.template_version,
            variables=dict(plan.variables),
            mode=plan.mode,
            prompts=list(plan.prompts),
            negative_prompts=list(plan.negative_prompts),
            seeds=list(plan.seeds),
        )


@dataclass(frozen=True)
class JobImage:
    job_id: str
    index: int
    path: str  # relative to the jobs' files folder, '/'-separated
    prompt: str
    negative_prompt: str
    seed: int
    infotext: str
    created_at: float
    size: int = field(default=0)  # bytes


def hash_request(data: Any) -> str:
    """A request's fingerprint for idempotency: the same JSON value (whatever its keys' order) gives the same one."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
