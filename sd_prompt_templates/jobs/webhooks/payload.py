"""The `data` of a job's event: what a receiver learns of the job, read through small protocols (`JobView`,
`PlanView`) rather than `jobs.model`, so that the webhooks need nothing of the jobs core and the core can use them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from sd_prompt_templates.jobs.webhooks.events import WebhookSpec
from sd_prompt_templates.jobs.webhooks.signing import iso_timestamp

DEFAULT_URL_PREFIX: Final = "/prompt-templates/v1"

MAX_LISTED_PROMPTS: Final = 20
"""Prompts listed in a payload at most: the spec advises bodies under ~20 kB; the job's route has them all."""


class PlanView(Protocol):
    """What the payload reads of a job's plan (`plan.GenerationPlan`)."""

    @property
    def kind(self) -> str: ...

    @property
    def template(self) -> str | None: ...

    @property
    def template_version(self) -> int | None: ...

    @property
    def variables(self) -> Mapping[str, str]: ...

    @property
    def mode(self) -> str: ...

    @property
    def prompts(self) -> Sequence[str]: ...

    @property
    def negative_prompts(self) -> Sequence[str]: ...

    @property
    def seeds(self) -> Sequence[int]: ...


class JobView(Protocol):
    """What the payload reads of a job (`jobs.model.Job`)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> Any: ...  # a str, or a str-valued enum (JobStatus)

    @property
    def plan(self) -> PlanView: ...

    @property
    def images_done(self) -> int: ...

    @property
    def created_at(self) -> float: ...

    @property
    def finished_at(self) -> float | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def webhook(self) -> WebhookSpec | None: ...


def status_text(status: Any) -> str:
    """A status as text: a str-valued enum's value, or the str itself."""
    return str(getattr(status, "value", status))


def job_payload(job: JobView, *, url_prefix: str = DEFAULT_URL_PREFIX) -> dict[str, Any]:
    """The `data` of a job's event: its id and status, the plan's summary and the URLs of its finished images,
    relative to the API's root (`url_prefix`), as `GET {url_prefix}/jobs/{id}` would name them."""
    plan = job.plan
    total = len(plan.prompts)
    done = job.images_done
    base = f"{url_prefix.rstrip('/')}/jobs/{job.id}"
    return {
        "id": job.id,
        "status": status_text(job.status),
        "url": base,
        "kind": plan.kind,
        "created_at": iso_timestamp(job.created_at),
        "finished_at": None if job.finished_at is None else iso_timestamp(job.finished_at),
        "template": plan.template,
        "template_version": plan.template_version,
        "variables": dict(plan.variables),
        "mode": status_text(plan.mode),
        "prompts": list(plan.prompts[:MAX_LISTED_PROMPTS]),
        "negative_prompts": list(plan.negative_prompts[:MAX_LISTED_PROMPTS]),
        "prompts_listed": min(total, MAX_LISTED_PROMPTS),
        "seeds": list(plan.seeds),
        "progress": {"images_done": done, "images_total": total, "fraction": done / total if total else 1.0},
        "error": job.error,
        "images": [f"{base}/images/{n}" for n in range(done)],
    }
