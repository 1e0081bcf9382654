"""A running job's sign of life: while its worker runs it, a thread writes its heartbeat to the store every few
seconds and hands back what it finds, so that a cancel asked for on another WebUI interrupts the run here, and a
job taken over by another WebUI (this one was thought dead) is let go. Another WebUI takes over a job whose
heartbeat is older than `JobLimits.takeover_seconds` (`JobQueue.take_over_silent_jobs`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from sd_prompt_templates.jobs.model import Job

logger = logging.getLogger(__name__)


class Heartbeat:
    """`beat()` every `every` seconds until the block ends; `news(job)` gets what each beat returns (None: the job
    is no longer this worker's). A failed beat (the database away for a moment) is logged and tried again."""

    def __init__(self, beat: Callable[[], Job | None], news: Callable[[Job | None], None], every: float) -> None:
        self._beat = beat
        self._news = news
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prompt-templates-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                job = self._beat()
            except Exception:
                logger.exception("a running job's heartbeat could not be written; trying again")
                continue
            try:
                self._news(job)
            except Exception:
                logger.exception("acting on a running job's heartbeat failed")
