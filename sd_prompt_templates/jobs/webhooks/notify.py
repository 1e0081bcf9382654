"""The notifier: the job runner's listener, which turns a job's changes into outbox rows — only the events its
webhook asked for, progress at a set pace — and wakes the sender. It runs in the job's thread, so it only writes a
row: the sending is the sender's thread's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sd_prompt_templates.jobs.webhooks.events import EVENTS, FINAL_EVENTS, JOB_PROGRESS, wanted_events
from sd_prompt_templates.jobs.webhooks.outbox import Delivery, WebhookOutbox
from sd_prompt_templates.jobs.webhooks.payload import DEFAULT_URL_PREFIX, JobView, job_payload, status_text
from sd_prompt_templates.jobs.webhooks.sender import WebhookSender
from sd_prompt_templates.jobs.webhooks.settings import WebhookSettings


@dataclass
class WebhookNotifier:
    """Turns a job's changes into deliveries: `notify(job, event)` stores the event if the job's webhook asked
    for it, and wakes the sender. `job.progress` is sent at most every `progress_every` seconds per job."""

    outbox: WebhookOutbox
    settings: Callable[[], WebhookSettings]
    sender: WebhookSender | None = None
    clock: Callable[[], float] = time.time
    url_prefix: str = DEFAULT_URL_PREFIX
    _last_progress: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def notify(self, job: JobView, event: str) -> Delivery | None:
        """Enqueue `event` for `job`; None when its webhook did not ask for it (or it has none), when no webhook
        can ask for it (the runner tells of `job.started` too), or when a progress event comes sooner than
        `progress_every` after the last one."""
        webhook = job.webhook
        if webhook is None or event not in EVENTS or event not in wanted_events(webhook):
            return None
        now = self.clock()
        if event == JOB_PROGRESS and not self._progress_due(job.id, now):
            return None
        if event != JOB_PROGRESS:
            with self._lock:
                self._last_progress.pop(job.id, None)
        payload = job_payload(job, url_prefix=self.url_prefix)
        delivery = self.outbox.enqueue(job.id, event, webhook.url, webhook.secret or None, payload, now)
        if self.sender is not None:
            self.sender.wake()
        return delivery

    def __call__(self, job: JobView, event: str) -> None:
        """`notify` as the job runner's listener (`runner.Notify`), which wants nothing back."""
        self.notify(job, event)

    def notify_status(self, job: JobView) -> Delivery | None:
        """The event of the job's final status (succeeded, failed, cancelled); None for any other status."""
        event = FINAL_EVENTS.get(status_text(job.status))
        return self.notify(job, event) if event is not None else None

    def _progress_due(self, job_id: str, now: float) -> bool:
        every = self.settings().progress_every
        with self._lock:
            last = self._last_progress.get(job_id)
            if last is not None and now - last < every:
                return False
            self._last_progress[job_id] = now
            return True
