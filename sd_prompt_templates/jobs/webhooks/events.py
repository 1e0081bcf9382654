"""The events a job's webhook can ask for, and what a webhook gives: one vocabulary for the notifier, the submit
check and the job model (`jobs.model` takes its event names from here), so that it is spelled in one place."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final, Protocol

JOB_SUCCEEDED: Final = "job.succeeded"
JOB_FAILED: Final = "job.failed"
JOB_CANCELLED: Final = "job.cancelled"
JOB_PROGRESS: Final = "job.progress"
EVENTS: Final = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED, JOB_PROGRESS)
DEFAULT_EVENTS: Final = (JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED)  # when a webhook names none
FINAL_EVENTS: Final = {"succeeded": JOB_SUCCEEDED, "failed": JOB_FAILED, "cancelled": JOB_CANCELLED}
"""The event a job's final status sends."""


class WebhookSpec(Protocol):
    """What a job's webhook gives (`jobs.model.Webhook`, or the request's model)."""

    @property
    def url(self) -> str: ...

    @property
    def secret(self) -> str | None: ...

    @property
    def events(self) -> Collection[str] | None: ...


def wanted_events(webhook: WebhookSpec) -> tuple[str, ...]:
    """The events a webhook asked for; the final ones when it named none."""
    return tuple(webhook.events) if webhook.events else DEFAULT_EVENTS
