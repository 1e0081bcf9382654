"""The jobs of one process, put together: the store, the queue and its worker, the runner, and the webhook outbox
and sender. `PromptService.jobs()` makes one, beside the template library; the WebUI glue starts it when the app
starts and stops it on shutdown or script reload."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sd_prompt_templates.jobs.queue import JobQueue
from sd_prompt_templates.jobs.runner import JobPort, JobRunner
from sd_prompt_templates.jobs.settings import JobLimits, JobPaths
from sd_prompt_templates.jobs.store import JobStore
from sd_prompt_templates.jobs.webhooks import WebhookNotifier, WebhookOutbox, WebhookSender, WebhookSettings


@dataclass
class JobSystem:
    paths: JobPaths
    store: JobStore
    runner: JobRunner
    queue: JobQueue
    outbox: WebhookOutbox
    sender: WebhookSender
    webhook_settings: Callable[[], WebhookSettings]
    _lock: threading.Lock

    @classmethod
    def open(
        cls,
        paths: JobPaths,
        port: JobPort,
        *,
        worker_name: str,
        limits: Callable[[], JobLimits],
        webhooks: Callable[[], WebhookSettings],
    ) -> JobSystem:
        store = JobStore(paths.database, paths.files)
        outbox = WebhookOutbox(store.database)
        sender = WebhookSender(outbox, settings=webhooks)
        notifier = WebhookNotifier(outbox, webhooks, sender)
        runner = JobRunner(store, port, worker_name=worker_name, notify=notifier, limits=limits)
        queue = JobQueue(store, runner, paths.queue, limits=limits)
        return cls(paths, store, runner, queue, outbox, sender, webhooks, threading.Lock())

    @property
    def running(self) -> bool:
        return self.queue.running

    def start(self) -> None:
        """The worker and the webhook sender, once (again after `stop`)."""
        with self._lock:
            self.queue.start()
            self.sender.start()

    def stop(self, timeout: float = 10.0) -> None:
        """The running job goes back to the queue and resumes at its next image at the next start; pending
        webhook deliveries stay in the outbox."""
        with self._lock:
            self.queue.stop(timeout)
            self.sender.stop(timeout)

    def close(self) -> None:
        self.stop()
        self.queue.close()
        self.store.close()
