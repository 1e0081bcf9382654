"""The tab's jobs (ui/handlers/jobs.py), without gradio: Queue runs as jobs, watch them in the list, open their
images with their prompts, cancel, re-run; against a real service and its jobs worker, with a fake WebUI."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sd_prompt_templates.jobs import JobLimits
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.settings import Settings
from sd_prompt_templates.ui.handlers import jobs as j
from sd_prompt_templates.ui.handlers.generation import PreviewInputs, RunInputs, preview
from tests.api.conftest import FakeGenerator

WAIT = 30.0  # seconds: a bound on waiting for the worker, never a measure


def make_service(tmp_path: Path, wildcard_dir: Path, **settings: Any) -> PromptService:
    config = Settings(library_path=tmp_path / "t.sqlite3", wildcard_dirs=(wildcard_dir,), **settings)
    service = PromptService(lambda: config)
    service.generator = FakeGenerator(service)
    return service


@pytest.fixture
def service(tmp_path: Path, wildcard_dir: Path) -> Iterator[PromptService]:
    service = make_service(tmp_path, wildcard_dir)
    yield service
    service.close_jobs()


def run_of(prompt: str, count: int = 2, seed: int = 10) -> RunInputs:
    editor = PreviewInputs(prompt=prompt, mode="combinatorial", count=count, seed=seed)
    return RunInputs(editor, sampler="Euler a", steps=4, cfg=7, width=64, height=64)


def text(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def queued_id(answer: str) -> str:
    match = re.search(r"Queued job (\w+)", answer)
    assert match, answer
    return match.group(1)


def full_id(service: PromptService, short: str) -> str:
    (job_id,) = (value for label, value in j.jobs_view(service).choices if label == short)
    return job_id


def wait_until(done: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the jobs did not finish in time"
        time.sleep(0.02)


def rows(table: str) -> list[tuple[str, str]]:
    """(job id, status) of each row, top to bottom."""
    return re.findall(r"<tr data-job='(\w+)' data-status='(\w+)'>", table)


def test_three_queued_runs_finish_and_the_list_shows_them_done(service):
    answers = [j.queue_run(service, run_of(f"a {{red|blue}} cat number {n}")) for n in range(3)]
    assert [queued_id(a) for a in answers] and all("2 images" in text(a) for a in answers)
    assert [text(a).split("position ")[1][0] for a in answers] == ["1", "2", "3"]
    assert "worker is not running" in text(answers[0])  # nothing started it yet: it says so

    waiting = j.jobs_view(service)
    assert waiting.active and [status for _, status in rows(waiting.table)] == ["queued"] * 3
    assert "queued (3)" in waiting.table and "queued (1)" in waiting.table  # newest first, each with its place
    assert [label for label, _ in waiting.choices] == [queued_id(a) for a in reversed(answers)]

    service.jobs().start()
    wait_until(lambda: not j.jobs_view(service).active)

    done = j.jobs_view(service)
    assert [status for _, status in rows(done.table)] == ["succeeded"] * 3
    assert done.table.count("aria-valuenow='100'") == 3 and done.table.count("width: 100%") == 3
    assert done.table.count("<td>2/2</td>") == 3
    assert "a {red|blue} cat number 2" in text(done.table)  # what each job made: its prompt template
    assert "worker is not running" not in text(done.table)


def test_open_gives_the_images_with_their_prompts_and_infotexts(service):
    job_id = full_id(service, queued_id(j.queue_run(service, run_of("a {red|blue} owl", seed=7))))
    service.jobs().start()
    wait_until(lambda: service.jobs().store.get(job_id).finished)

    opened = j.open_job(service, job_id)
    assert opened.images is not None
    assert [caption for _, caption in opened.images] == ["a red owl", "a blue owl"]
    assert all(Path(path).is_file() for path, _ in opened.images)
    assert opened.infotexts == ["a red owl\nSeed: 7", "a blue owl\nSeed: 8"]
    assert "(succeeded): 2 of 2 images" in text(opened.message)
    assert j.open_job(service, None).images is None
    assert "no job" in text(j.open_job(service, "0" * 32).message)


def test_queue_makes_what_generate_would_after_a_preview(service):
    """One body for both: a random seed right after Preview gives the previewed prompts and seeds."""
    editor = PreviewInputs(prompt="a {red|green|blue|black} cat", count=3, seed=-1)
    _, shown, memo = preview(service, editor)
    answer = j.queue_run(service, RunInputs(editor, width=64, height=64, memo=memo))
    job = service.jobs().store.get(full_id(service, queued_id(answer)))
    assert [[s, p] for s, p in zip(job.plan.seeds, job.plan.prompts, strict=True)] == [[r[0], r[1]] for r in shown]
    assert job.plan.payload["save_images"] is True and job.plan.payload["width"] == 64


def test_cancel_a_queued_job_then_rerun_it(service):
    first = full_id(service, queued_id(j.queue_run(service, run_of("a {red|blue} fox"))))
    second = full_id(service, queued_id(j.queue_run(service, run_of("a {red|blue} hen"))))
    assert "Cancelled job" in text(j.cancel_job(service, second))
    assert "Pick a job first" in text(j.cancel_job(service, ""))

    service.jobs().start()
    wait_until(lambda: not j.jobs_view(service).active)
    assert rows(j.jobs_view(service).table) == [(second, "cancelled"), (first, "succeeded")]
    assert "already succeeded: nothing to cancel" in text(j.cancel_job(service, first))

    answer = text(j.rerun_job(service, second))
    assert f"Queued job {second[:8]} again as " in answer
    wait_until(lambda: not j.jobs_view(service).active)
    (again, status), *_ = rows(j.jobs_view(service).table)
    store = service.jobs().store
    assert status == "succeeded" and again not in (first, second)
    assert store.get(again).plan.prompts == store.get(second).plan.prompts == ["a red hen", "a blue hen"]
    assert [i.prompt for i in store.images(again)] == ["a red hen", "a blue hen"]


def test_queue_shows_template_errors_and_refusals_as_messages(tmp_path, wildcard_dir):
    service = make_service(tmp_path, wildcard_dir, jobs=JobLimits(max_queued_jobs=1))
    try:
        broken = j.queue_run(service, run_of("first\na {red|blue"))
        assert "data-field='prompt' data-line='2' data-column='3'" in broken and "a {red|blue\n  ^" in text(broken)
        assert queued_id(j.queue_run(service, run_of("a {red|blue} cat")))
        refused = j.queue_run(service, run_of("a {red|blue} dog"))
        assert "prompt-templates-error" in refused and "Queued" not in refused
        assert "the queue is full: 1 jobs are waiting, at most 1 may" in text(refused)
        assert len(rows(j.jobs_view(service).table)) == 1
        first = j.jobs_view(service).choices[0][1]
        assert "prompt-templates-error" in j.rerun_job(service, first)  # the full queue refuses a re-run too
    finally:
        service.close_jobs()


def test_without_a_jobs_system_the_section_says_so(tmp_path, wildcard_dir):
    (tmp_path / "jobs.sqlite3").mkdir()  # where the jobs' file would be: it cannot be opened
    service = make_service(tmp_path, wildcard_dir)
    try:
        view = j.jobs_view(service)
        assert "Jobs are not available here" in text(view.table) and "prompt-templates-error" in view.table
        assert view.choices == [] and not view.active
        assert "Jobs are not available here" in text(j.queue_run(service, run_of("a {red|blue} cat")))
        assert "Jobs are not available here" in text(j.cancel_job(service, "0" * 32))
        opened = j.open_job(service, "0" * 32)
        assert opened.images is None and "Jobs are not available here" in text(opened.message)
    finally:
        service.close_jobs()


def test_an_empty_list_and_the_table_parts():
    assert "No jobs yet" in text(j.jobs_table([], {}, 0.0))
    assert [j.eta_text(s) for s in (None, 4.4, 125, 3725)] == ["", "4 s", "2 min 5 s", "1 h 2 min"]
    assert "width: 50%" in j.progress_html(0.5) and "width: 100%" in j.progress_html(1.7)
    assert j.excerpt("a  long\nprompt " * 20, 12) == "a long prom…"  # 12 characters with the ellipsis
