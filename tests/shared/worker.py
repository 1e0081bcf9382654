"""One WebUI's jobs, as a process of its own on a shared database, with a fake generator:

    python -m tests.shared.worker --database-url URL --root DIR --name NAME [--seconds-per-image S]
                                  [--cannot-run-checkpoint X ...] [--heartbeat-seconds 0.2] [--takeover-seconds 2]
                                  [--poll-seconds 0.1] [--elsewhere-seconds S] [--call-seconds 0]

It opens a `JobSystem` on the database (an empty --database-url: the local SQLite files under DIR, as one WebUI
alone), starts it, prints READY, and runs until SIGTERM (or SIGINT), then stops it cleanly and prints STOPPED. Run
it from the repository's root (`cwd`), with the test's Python.

The fake generator (`SlowPort`) sleeps S seconds per image, interruptibly, and answers tiny PNGs tagged with
"prompt|seed" (tests/unit/test_jobs_fakes.py's `image_tag`, with `infotext_of` as their infotexts, so
`assert_images_exact` checks them). Each image it makes is appended, flushed, to DIR/NAME.log as "job_id idx seed"
(an image of a batch interrupted later is in it too: it was made, then discarded); each interrupt it takes is
appended to DIR/NAME.events as "interrupted TASK_ID at IDX". It cannot run a plan whose
payload["override_settings"]["sd_model_checkpoint"] is one of the --cannot-run-checkpoint names.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sd_prompt_templates.jobs import queue as queue_module
from sd_prompt_templates.jobs.runner import RunInterrupted
from sd_prompt_templates.jobs.settings import JobLimits, JobPaths
from sd_prompt_templates.jobs.system import JobSystem
from sd_prompt_templates.jobs.webhooks import WebhookSettings
from sd_prompt_templates.plan import GenerationPlan, WebUIReply
from tests.unit.test_jobs_fakes import image_tag, infotext_of, tiny_png

READY = "READY"
STOPPED = "STOPPED"
# the workers' timings unless told otherwise: short, so that a test sees a takeover in seconds
HEARTBEAT_SECONDS = 0.2
TAKEOVER_SECONDS = 2.0
POLL_SECONDS = 0.1
TASK = re.compile(r"task\(prompt-templates-job-(?P<job>[0-9a-f]{32})-(?P<start>\d+)\)")


def checkpoint_of(plan: GenerationPlan) -> str | None:
    """The checkpoint a plan asks for (as the WebUI's request does: override_settings.sd_model_checkpoint)."""
    overrides = plan.payload.get("override_settings") or {}
    value = overrides.get("sd_model_checkpoint") if isinstance(overrides, dict) else None
    return str(value) if value is not None else None


def task_of(task_id: str) -> tuple[str, int]:
    """The job and first image index of a batch's task id (`runner.task_id_for`)."""
    found = TASK.fullmatch(task_id)
    if found is None:
        raise ValueError(f"not a job's task id: {task_id!r}")
    return found["job"], int(found["start"])


class SlowPort:
    """A WebUI that takes `seconds_per_image` per image, can be interrupted mid-batch (its current task only), and
    says which plans it cannot run (`lacking` checkpoints). See the module's docstring for its logs."""

    def __init__(self, seconds_per_image: float, log_path: Path, events_path: Path, lacking: Sequence[str] = ()):
        self.seconds_per_image = seconds_per_image
        self.lacking = frozenset(lacking)
        self._log = log_path.open("a", encoding="utf-8")
        self._events = events_path.open("a", encoding="utf-8")
        self._lock = threading.Lock()  # the current task, the interrupt flag and the events file
        self._current: str | None = None
        self._interrupted = threading.Event()

    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        job_id, start = task_of(task_id)
        with self._lock:
            self._current = task_id
            self._interrupted.clear()
        try:
            images: list[str] = []
            infotexts: list[str] = []
            for i, (prompt, seed) in enumerate(zip(plan.prompts, plan.seeds, strict=True)):
                if self._interrupted.wait(self.seconds_per_image) or self._interrupted.is_set():
                    self._event(f"interrupted {task_id} at {start + i}")
                    raise RunInterrupted(task_id)
                images.append(base64.b64encode(tiny_png({"fake": image_tag(prompt, seed)})).decode("ascii"))
                infotexts.append(infotext_of(prompt, seed))
                self._log.write(f"{job_id} {start + i} {seed}\n")
                self._log.flush()
            info = {"infotexts": infotexts, "all_prompts": list(plan.prompts), "all_seeds": list(plan.seeds)}
            return WebUIReply(images=images, info=json.dumps(info))
        finally:
            with self._lock:
                self._current = None

    def interrupt(self, task_id: str) -> bool:
        with self._lock:
            if task_id != self._current:
                return False
            self._interrupted.set()
        return True

    def cannot_run(self, plan: GenerationPlan) -> str | None:
        checkpoint = checkpoint_of(plan)
        return f"it has no checkpoint {checkpoint}" if checkpoint in self.lacking else None

    def close(self) -> None:
        self._log.close()
        self._events.close()

    def _event(self, line: str) -> None:
        with self._lock:
            self._events.write(line + "\n")
            self._events.flush()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="the shared database; empty: SQLite files under --root")
    parser.add_argument("--root", type=Path, required=True, help="this worker's folder (its images, its logs)")
    parser.add_argument("--name", required=True, help="the worker's (WebUI's) name")
    parser.add_argument("--seconds-per-image", type=float, default=0.0)
    parser.add_argument("--cannot-run-checkpoint", action="append", default=[], metavar="NAME")
    parser.add_argument("--heartbeat-seconds", type=float, default=HEARTBEAT_SECONDS)
    parser.add_argument("--takeover-seconds", type=float, default=TAKEOVER_SECONDS)
    parser.add_argument("--poll-seconds", type=float, default=POLL_SECONDS)
    parser.add_argument(
        "--call-seconds",
        type=float,
        default=0.0,
        help="JobLimits.call_seconds (default 0: a batch a call, which the batch-by-batch tests count on)",
    )
    parser.add_argument(
        "--elsewhere-seconds",
        type=float,
        default=None,
        help="how soon a job this worker cannot run is offered again (default: the queue's own)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format=f"%(levelname)s {opts.name} %(asctime)s %(name)s: %(message)s"
    )
    if opts.elsewhere_seconds is not None:
        queue_module.ELSEWHERE_SECONDS = opts.elsewhere_seconds  # this process's queue only
    limits = JobLimits(
        max_queued_jobs=100_000,
        heartbeat_seconds=opts.heartbeat_seconds,
        takeover_seconds=opts.takeover_seconds,
        poll_seconds=opts.poll_seconds,
        call_seconds=opts.call_seconds,
    )
    root: Path = opts.root
    root.mkdir(parents=True, exist_ok=True)
    port = SlowPort(
        opts.seconds_per_image, root / f"{opts.name}.log", root / f"{opts.name}.events", opts.cannot_run_checkpoint
    )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    system = JobSystem.open(
        JobPaths(root, opts.database_url), port, worker_name=opts.name, limits=lambda: limits, webhooks=WebhookSettings
    )
    try:
        system.start()
        print(READY, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        system.close()
        port.close()
    print(STOPPED, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
