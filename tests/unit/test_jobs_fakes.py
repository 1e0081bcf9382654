"""The fakes the jobs' tests share: small plans, tiny PNGs, and a generation port that records what it was asked,
can be held mid-batch, interrupted, or made to fail. (Its own few tests check the fake itself.)"""

from __future__ import annotations

import base64
import json
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sd_prompt_templates.jobs import Job, JobRunner, JobStore, RunInterrupted
from sd_prompt_templates.jobs.images import PNG_SIGNATURE, png_text
from sd_prompt_templates.jobs.queue import JobQueue
from sd_prompt_templates.jobs.settings import JobLimits, JobPaths
from sd_prompt_templates.plan import GenerationPlan, WebUIReply

WAIT = 10.0  # seconds a test waits for the worker before it fails: never reached when all is well


def make_plan(images: int = 6, batch_size: int = 2, seed: int = 1000, tag: str = "p") -> GenerationPlan:
    return GenerationPlan(
        kind="txt2img",
        payload={"steps": 20, "width": 64, "height": 64, "sampler_name": "Euler a"},
        prompt_source="a {cat|dog} in ${place}",
        negative_source="blurry",
        prompts=[f"{tag} prompt {i}" for i in range(images)],
        negative_prompts=[f"{tag} negative {i}" for i in range(images)],
        seeds=[seed + i for i in range(images)],
        batch_size=batch_size,
        n_iter=images // batch_size,
        template="portrait",
        template_version=3,
        variables={"place": "the park"},
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def tiny_png(texts: dict[str, str] | None = None) -> bytes:
    """A valid 1x1 grey PNG with the given tEXt chunks before its data."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    text = b"".join(
        _chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1")) for k, v in (texts or {}).items()
    )
    return PNG_SIGNATURE + ihdr + text + _chunk(b"IDAT", zlib.compress(b"\x00\x80")) + _chunk(b"IEND", b"")


def image_tag(prompt: str, seed: int) -> str:
    """What the fake port writes into each image, so a test can tell which image a file is."""
    return f"{prompt}|{seed}"


def infotext_of(prompt: str, seed: int) -> str:
    return f"{prompt}\nSteps: 20, Seed: {seed}"


@dataclass
class Call:
    task_id: str
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    batches: tuple[int, int] = (1, 1)  # the call's batch size and n_iter


@dataclass
class FakePort:
    """A WebUI that makes one image per prompt instantly, unless told otherwise:
    - `fail(call_number, plan)` may raise (call numbers count from 0);
    - `hold` makes each run wait until `release()` or an interrupt of its task;
    - `with_parameters` puts the infotext in the PNG itself, as the WebUI does."""

    fail: Callable[[int, GenerationPlan], None] | None = None
    hold: bool = False
    with_parameters: bool = False
    with_grid: bool = False  # the grid first, as the WebUI answers a request that saves with "Return grid" on
    calls: list[Call] = field(default_factory=list)
    interrupts: list[str] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _interrupted: threading.Event = field(default_factory=threading.Event)
    _current: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, plan: GenerationPlan, task_id: str) -> WebUIReply:
        with self._lock:
            number = len(self.calls)
            batches = (plan.batch_size, plan.n_iter)
            self.calls.append(Call(task_id, list(plan.prompts), list(plan.negative_prompts), list(plan.seeds), batches))
            self._current = task_id
            self._interrupted.clear()
        try:
            if self.fail is not None:
                self.fail(number, plan)
            if self.hold:
                self.entered.set()
                while not (self._released.is_set() or self._interrupted.is_set()):
                    self._released.wait(0.01)
            if self._interrupted.is_set():
                raise RunInterrupted(task_id)
            return self._reply(plan)
        finally:
            with self._lock:
                self._current = None

    def interrupt(self, task_id: str) -> bool:
        with self._lock:
            if task_id != self._current:
                return False
            self.interrupts.append(task_id)
            self._interrupted.set()
            return True

    def release(self) -> None:
        self.hold = False
        self._released.set()

    def wait_entered(self) -> None:
        assert self.entered.wait(WAIT), "the port was never called"
        self.entered.clear()

    def _reply(self, plan: GenerationPlan) -> WebUIReply:
        images, infotexts = [], []
        for prompt, seed in zip(plan.prompts, plan.seeds, strict=True):
            texts = {"fake": image_tag(prompt, seed)}
            if self.with_parameters:
                texts["parameters"] = infotext_of(prompt, seed)
            images.append(base64.b64encode(tiny_png(texts)).decode("ascii"))
            infotexts.append(infotext_of(prompt, seed))
        extra = base64.b64encode(tiny_png({"fake": "an extension's extra output"})).decode("ascii")
        info: dict[str, object] = {"infotexts": infotexts, "all_seeds": plan.seeds, "all_prompts": plan.prompts}
        if self.with_grid:
            grid = base64.b64encode(tiny_png({"fake": "the grid"})).decode("ascii")
            images.insert(0, grid)
            info.update(infotexts=["the grid's infotext", *infotexts], index_of_first_image=1)
        return WebUIReply(images=[*images, extra], info=json.dumps(info))


class Events:
    """A `notify` that records (job id, event) and lets a test wait for one."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, job: Job, event: str) -> None:
        with self._cond:
            self.seen.append((job.id, event))
            self._cond.notify_all()

    def of(self, job_id: str) -> list[str]:
        with self._cond:
            return [event for jid, event in self.seen if jid == job_id]

    def wait_for(self, job_id: str, event: str, timeout: float = WAIT) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: (job_id, event) in self.seen, timeout), (job_id, event, self.seen)


def open_jobs(
    root: Path, port: FakePort, events: Events | None = None, limits: JobLimits | None = None
) -> tuple[JobStore, JobRunner, JobQueue]:
    """A store, runner and queue on the files under `root`, as a WebUI process opens them."""
    paths = JobPaths(root)
    chosen = limits or JobLimits(poll_seconds=0.05)
    store = JobStore(paths.database, paths.files)
    runner = JobRunner(store, port, worker_name="test-webui", notify=events, limits=lambda: chosen)
    queue = JobQueue(store, runner, paths.queue, limits=lambda: chosen)
    return store, runner, queue


def assert_images_exact(store: JobStore, job_id: str, plan: GenerationPlan) -> None:
    """Every image of the plan saved once, in order, with its own prompt, seed and infotext in the file."""
    images = store.images(job_id)
    assert [i.index for i in images] == list(range(plan.images))
    for image in images:
        data = store.image_path(job_id, image.index).read_bytes()
        texts = png_text(data)
        assert texts["fake"] == image_tag(plan.prompts[image.index], plan.seeds[image.index])
        assert texts["parameters"] == image.infotext == infotext_of(image.prompt, image.seed)
        assert (image.prompt, image.negative_prompt, image.seed) == (
            plan.prompts[image.index],
            plan.negative_prompts[image.index],
            plan.seeds[image.index],
        )
        assert image.size == len(data)


# -- the fake itself ------------------------------------------------------------------------------------------------


def test_tiny_png_is_a_png_that_pillow_reads():
    from PIL import Image

    data = tiny_png({"fake": "x"})
    import io

    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1, 1)
        assert image.info["fake"] == "x"


def test_the_fake_port_interrupts_only_its_current_run():
    port = FakePort(hold=True)
    plan = make_plan(2, 2)
    result: list[object] = []

    def run() -> None:
        try:
            result.append(port.run(plan, "task(a)"))
        except RunInterrupted as exc:
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    port.wait_entered()
    assert not port.interrupt("task(b)")
    assert port.interrupt("task(a)")
    thread.join(WAIT)
    assert isinstance(result[0], RunInterrupted)
    assert not port.interrupt("task(a)")
