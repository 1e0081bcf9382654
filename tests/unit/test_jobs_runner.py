"""The runner: a job's batches through the port, each image saved as its batch returns; resume at the exact next
image after an error or a crash; cancel and interrupt of this job's run only; failure after the attempts allowed."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from sd_prompt_templates.jobs import JobLimits, JobRunner, JobStatus, JobStore, RunInterrupted, task_id_for
from sd_prompt_templates.jobs.runner import INTERRUPTED_IN_WEBUI, jobs_running_here, remaining_batches
from sd_prompt_templates.jobs.settings import JobPaths
from sd_prompt_templates.jobs.store import ImageToSave
from sd_prompt_templates.plan import GenerationPlan
from tests.unit.test_jobs_fakes import WAIT, Events, FakePort, assert_images_exact, make_plan, tiny_png


class Crash(BaseException):
    """Stands for the process dying: nothing of the runner's handles it."""


def open_runner(
    root: Path, port: FakePort, events: Events | None = None, max_attempts: int = 3, call_seconds: float = 0.0
) -> tuple[JobStore, JobRunner]:
    """A runner that sends a batch a call, unless `call_seconds` says otherwise (the fake port is instant: any
    budget groups every batch after the first call)."""
    paths = JobPaths(root)
    store = JobStore(paths.database, paths.files)
    limits = JobLimits(max_attempts=max_attempts, call_seconds=call_seconds)
    return store, JobRunner(store, port, worker_name="w1", notify=events, limits=lambda: limits)


def seeds_asked(port: FakePort) -> list[int]:
    return [seed for call in port.calls for seed in call.seeds]


def test_the_grid_the_webui_returns_first_is_not_saved_as_an_image(tmp_path):
    store, runner = open_runner(tmp_path, FakePort(with_grid=True))
    plan = make_plan(4, 2)
    job, _ = store.submit(plan)
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert_images_exact(store, job.id, plan)


def test_remaining_batches_start_at_the_next_image():
    plan = make_plan(6, 2)
    assert remaining_batches(plan, 0) == [(0, 2), (2, 4), (4, 6)]
    assert remaining_batches(plan, 3) == [(3, 4), (4, 6)]
    assert remaining_batches(plan, 4) == [(4, 6)]
    assert remaining_batches(plan, 6) == []


def test_a_job_runs_batch_by_batch_and_saves_every_image_with_its_infotext(tmp_path):
    events = Events()
    port = FakePort()
    store, runner = open_runner(tmp_path, port, events)
    plan = make_plan(6, 2)
    job, _ = store.submit(plan)
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.images_done == 6
    assert [c.task_id for c in port.calls] == [task_id_for(job.id, s) for s in (0, 2, 4)]
    assert port.calls[1].task_id == f"task(prompt-templates-job-{job.id}-2)"
    assert [c.prompts for c in port.calls] == [plan.prompts[0:2], plan.prompts[2:4], plan.prompts[4:6]]
    assert [c.negative_prompts for c in port.calls][2] == plan.negative_prompts[4:6]
    assert seeds_asked(port) == plan.seeds
    assert_images_exact(store, job.id, plan)
    assert events.of(job.id) == ["job.started", "job.progress", "job.progress", "job.progress", "job.succeeded"]
    assert done.attempts == 0 and done.error is None and done.worker == "w1"
    assert runner.run_job(job.id) is None  # not queued any more: nothing happens
    assert len(port.calls) == 3


def test_fast_batches_go_to_the_webui_together_once_their_time_is_known(tmp_path):
    events = Events()
    port = FakePort()
    store, runner = open_runner(tmp_path, port, events, call_seconds=1.0)
    plan = make_plan(6, 2)
    job, _ = store.submit(plan)
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    # the first call is one batch (how long one takes is not known yet), the rest one call of two batches of two
    assert [(c.task_id, c.batches) for c in port.calls] == [
        (task_id_for(job.id, 0), (2, 1)),
        (task_id_for(job.id, 2), (2, 2)),
    ]
    assert seeds_asked(port) == plan.seeds and [p for c in port.calls for p in c.prompts] == plan.prompts
    assert_images_exact(store, job.id, plan)
    assert events.of(job.id) == ["job.started", "job.progress", "job.progress", "job.succeeded"]
    again, _ = store.submit(make_plan(6, 2, seed=7))  # the same shape: known now, one call
    runner.run_job(again.id)
    assert port.calls[-1].batches == (2, 3) and len(port.calls) == 3
    other, _ = store.submit(replace(make_plan(6, 2), payload={**plan.payload, "width": 512}))  # not known
    runner.run_job(other.id)
    assert [c.batches for c in port.calls[3:]] == [(2, 1), (2, 2)]


def test_a_failed_call_of_several_batches_resumes_at_its_first_image(tmp_path):
    def fail(number: int, plan: GenerationPlan) -> None:
        if number == 1:
            raise RuntimeError("CUDA out of memory")

    port = FakePort(fail=fail)
    store, runner = open_runner(tmp_path, port, call_seconds=1.0)
    plan = make_plan(6, 2)
    job, _ = store.submit(plan)
    back = runner.run_job(job.id)
    assert back is not None and back.status is JobStatus.QUEUED and back.images_done == 2
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert [c.seeds for c in port.calls] == [plan.seeds[0:2], plan.seeds[2:6], plan.seeds[2:6]]
    assert_images_exact(store, job.id, plan)


def test_a_batch_cut_by_a_resume_goes_alone_then_whole_batches_together(tmp_path):
    port = FakePort()
    store, runner = open_runner(tmp_path, port, call_seconds=1.0)
    runner.run_job(store.submit(make_plan(6, 3, seed=1))[0].id)  # its shape's time is known now
    plan = make_plan(9, 3)
    job, _ = store.submit(plan)
    store.claim(job.id, "w1")
    first = ImageToSave(tiny_png(), plan.prompts[0], plan.negative_prompts[0], plan.seeds[0], "")
    store.record_images(job.id, 0, [first], worker="w1")  # then the WebUI died
    store.requeue_interrupted()
    calls_before = len(port.calls)
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert [(c.seeds, c.batches) for c in port.calls[calls_before:]] == [
        (plan.seeds[1:3], (2, 1)),
        (plan.seeds[3:9], (3, 2)),
    ]


def test_a_job_of_one_call_takes_two_writes_its_claim_and_its_record(tmp_path):
    port = FakePort()
    store, runner = open_runner(tmp_path, port, call_seconds=1.0)
    runner.run_job(store.submit(make_plan(4, 2, seed=1))[0].id)  # its shape's time is known now
    job, _ = store.submit(make_plan(4, 2))
    writes = store.database.writes
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.task_id == task_id_for(job.id, 0)
    assert store.database.writes - writes == 2  # the claim names the task, the record ends the job


def test_a_cancel_before_the_first_batch_starts_none(tmp_path):
    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    job, _ = store.submit(make_plan(4, 2))
    runner.notify = lambda j, event: runner.cancel(j.id) if event == "job.started" else None
    final = runner.run_job(job.id)
    assert final is not None and final.status is JobStatus.CANCELLED and final.images_done == 0
    assert port.calls == []


def test_the_webuis_own_infotext_in_the_png_is_kept(tmp_path):
    port = FakePort(with_parameters=True)
    store, runner = open_runner(tmp_path, port)
    plan = make_plan(2, 2)
    job, _ = store.submit(plan)
    runner.run_job(job.id)
    assert_images_exact(store, job.id, plan)


def test_an_error_mid_job_resumes_at_the_next_image_with_the_same_prompts_and_seeds(tmp_path):
    def fail(number: int, plan: GenerationPlan) -> None:
        if number == 1:
            raise RuntimeError("CUDA out of memory")

    events = Events()
    port = FakePort(fail=fail)
    store, runner = open_runner(tmp_path, port, events)
    plan = make_plan(6, 2)
    job, _ = store.submit(plan)
    back = runner.run_job(job.id)
    assert back is not None and back.status is JobStatus.QUEUED
    assert back.images_done == 2 and back.attempts == 0 and back.error == "RuntimeError: CUDA out of memory"
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.attempts == 0 and done.error is None
    assert [c.seeds for c in port.calls] == [plan.seeds[0:2], plan.seeds[2:4], plan.seeds[2:4], plan.seeds[4:6]]
    assert_images_exact(store, job.id, plan)
    assert "job.failed" not in events.of(job.id)


def test_a_crash_inside_a_batch_resumes_inside_it_in_a_new_process_nothing_twice_nothing_lost(tmp_path):
    plan = make_plan(6, 3)  # batches (0, 3) and (3, 6)
    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    job, _ = store.submit(plan)
    original, files_dir = store.record_images, store.files_dir

    def dies_at_image_4(job_id: str, start: int, images: list, now: float | None = None, **kwargs):
        if start == 3:  # the second batch: image 3 recorded, the file of image 4 written, then the process died
            original(job_id, 3, images[:1], now, **kwargs)
            (files_dir / job_id / "00004.png").write_bytes(b"half an image")
            raise Crash
        return original(job_id, start, images, now, **kwargs)

    store.record_images = dies_at_image_4  # type: ignore[method-assign]
    with pytest.raises(Crash):
        runner.run_job(job.id)
    assert store.get(job.id).status is JobStatus.RUNNING and store.get(job.id).images_done == 4
    del runner, store  # the process is gone

    port2 = FakePort()
    store2, runner2 = open_runner(tmp_path, port2)
    [requeued] = store2.requeue_interrupted()
    assert requeued.status is JobStatus.QUEUED and requeued.images_done == 4
    done = runner2.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.attempts == 0
    assert [c.seeds for c in port2.calls] == [plan.seeds[4:6]]
    assert [c.prompts for c in port2.calls] == [plan.prompts[4:6]]
    assert [c.task_id for c in port2.calls] == [task_id_for(job.id, 4)]
    assert_images_exact(store2, job.id, plan)


def test_a_job_failing_every_time_fails_after_max_attempts_with_its_reason(tmp_path):
    def fail(number: int, plan: GenerationPlan) -> None:
        raise ValueError(f"bad sampler (call {number})")

    events = Events()
    port = FakePort(fail=fail)
    store, runner = open_runner(tmp_path, port, events, max_attempts=3)
    job, _ = store.submit(make_plan(4, 2))
    statuses = [runner.run_job(job.id) for _ in range(4)]
    assert [s.status if s else None for s in statuses] == [JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.FAILED, None]
    failed = store.get(job.id)
    assert failed.error == "ValueError: bad sampler (call 2)" and failed.attempts == 3
    assert failed.finished_at is not None
    assert events.of(job.id).count("job.failed") == 1 and len(port.calls) == 3


def test_fewer_images_than_asked_is_an_error_of_the_attempt(tmp_path):
    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    job, _ = store.submit(make_plan(2, 2))
    real = port._reply
    port._reply = lambda plan: type(real(plan))(images=real(plan).images[:1], info="{}")  # type: ignore[method-assign]
    back = runner.run_job(job.id)
    assert back is not None and back.status is JobStatus.QUEUED
    assert back.error == "JobRunError: the WebUI returned 1 images for a batch of 2" and back.images_done == 0


def test_cancel_a_running_job_interrupts_its_batch_only_and_keeps_the_images_made(tmp_path):
    events = Events()
    port = FakePort()
    store, runner = open_runner(tmp_path, port, events)
    plan = make_plan(6, 2)
    job, _ = store.submit(plan)
    other, _ = store.submit(make_plan(2, 2, tag="other"))

    def hold_second_batch(number: int, _: GenerationPlan) -> None:
        port.hold = number == 1

    port.fail = hold_second_batch
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(runner.run_job(job.id)))
    thread.start()
    port.wait_entered()
    assert not port.interrupt(task_id_for(other.id, 0))  # another job's task is not the one running
    assert job.id in jobs_running_here()
    cancelled = runner.cancel(job.id)
    assert cancelled.status is JobStatus.RUNNING and cancelled.cancel_requested
    thread.join(WAIT)
    final = store.get(job.id)
    assert final.status is JobStatus.CANCELLED and final.images_done == 2 and final.error is None
    assert port.interrupts == [task_id_for(job.id, 2)]
    assert [i.index for i in store.images(job.id)] == [0, 1]  # the interrupted batch is discarded
    assert events.of(job.id)[-1] == "job.cancelled"
    assert job.id not in jobs_running_here()
    assert store.get(other.id).status is JobStatus.QUEUED


def test_a_cancel_between_batches_stops_before_the_next(tmp_path):
    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    job, _ = store.submit(make_plan(6, 2))

    def cancel_after_first_batch(j, event):
        if event == "job.progress":
            runner.cancel(j.id)  # no run going on: nothing to interrupt

    runner.notify = cancel_after_first_batch
    final = runner.run_job(job.id)
    assert final is not None and final.status is JobStatus.CANCELLED and final.images_done == 2
    assert len(port.calls) == 1 and port.interrupts == []


def test_a_cancel_that_misses_the_run_keeps_its_complete_batch(tmp_path):
    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    plan = make_plan(4, 2)
    job, _ = store.submit(plan)

    def cancel_as_the_batch_starts(number: int, _: GenerationPlan) -> None:
        if number == 0:
            store.request_cancel(job.id)  # as if the interrupt came before the WebUI started the run

    port.fail = cancel_as_the_batch_starts
    final = runner.run_job(job.id)
    assert final is not None and final.status is JobStatus.CANCELLED and final.images_done == 2
    assert [i.index for i in store.images(job.id)] == [0, 1]


def test_cancel_a_queued_job_at_once_and_a_finished_one_stays(tmp_path):
    events = Events()
    port = FakePort()
    store, runner = open_runner(tmp_path, port, events)
    job, _ = store.submit(make_plan(2, 2))
    assert runner.cancel(job.id).status is JobStatus.CANCELLED
    assert events.of(job.id) == ["job.cancelled"]
    assert runner.run_job(job.id) is None and port.calls == []
    done, _ = store.submit(make_plan(2, 2))
    runner.run_job(done.id)
    assert runner.cancel(done.id).status is JobStatus.SUCCEEDED
    assert events.of(job.id) == ["job.cancelled"]


def test_an_interrupt_from_the_webui_itself_cancels_the_job_with_the_reason(tmp_path):
    def interrupted(number: int, plan: GenerationPlan) -> None:
        if number == 1:
            raise RunInterrupted("someone pressed Interrupt")

    port = FakePort(fail=interrupted)
    store, runner = open_runner(tmp_path, port)
    job, _ = store.submit(make_plan(4, 2))
    final = runner.run_job(job.id)
    assert final is not None and final.status is JobStatus.CANCELLED and final.error == INTERRUPTED_IN_WEBUI
    assert final.images_done == 2


def test_a_stop_between_batches_gives_the_job_back_without_counting_the_attempt(tmp_path):
    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    plan = make_plan(6, 2)
    job, _ = store.submit(plan)
    calls = iter(range(100))
    back = runner.run_job(job.id, should_stop=lambda: next(calls) >= 1)
    assert back is not None and back.status is JobStatus.QUEUED and back.images_done == 2 and back.attempts == 0
    done = runner.run_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.attempts == 0
    assert seeds_asked(port) == plan.seeds


def test_a_stop_that_interrupts_the_batch_discards_it_and_gives_the_job_back(tmp_path):
    port = FakePort(hold=True)
    store, runner = open_runner(tmp_path, port)
    plan = make_plan(4, 2)
    job, _ = store.submit(plan)
    stopping = threading.Event()
    thread = threading.Thread(target=lambda: runner.run_job(job.id, should_stop=stopping.is_set))
    thread.start()
    port.wait_entered()
    stopping.set()
    assert runner.interrupt_current()
    thread.join(WAIT)
    back = store.get(job.id)
    assert back.status is JobStatus.QUEUED and back.images_done == 0 and back.attempts == 0
    assert not runner.interrupt_current()  # nothing running now
    port.release()
    runner.run_job(job.id)
    assert_images_exact(store, job.id, plan)


def test_a_listener_that_raises_never_breaks_a_job(tmp_path, caplog):
    def broken(job, event):
        raise OSError("webhook store is down")

    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    runner.notify = broken
    plan = make_plan(4, 2)
    job, _ = store.submit(plan)
    final = runner.run_job(job.id)
    assert final is not None and final.status is JobStatus.SUCCEEDED
    assert "the listener of job events failed" in caplog.text
    assert_images_exact(store, job.id, plan)


def test_the_eta_comes_from_the_stores_timestamps(tmp_path):
    port = FakePort()
    paths = JobPaths(tmp_path)
    store = JobStore(paths.database, paths.files)
    ticks = iter(float(t) for t in range(1000, 2000, 5))
    seen: list[float | None] = []
    limits = JobLimits(call_seconds=0)
    runner = JobRunner(store, port, worker_name="w", clock=lambda: next(ticks), limits=lambda: limits)
    runner.notify = (
        lambda job, event: seen.append(job.eta(job.last_image_at or 0.0)) if event == "job.progress" else None
    )
    job, _ = store.submit(make_plan(6, 2))
    runner.run_job(job.id)
    # claim at 1000; batch b (2 images) is recorded at 1005 + 5 b: 2.5 s an image
    assert seen == [10.0, 5.0, 0.0]


def test_a_heartbeat_after_the_jobs_last_record_is_no_takeover(tmp_path, caplog):
    port = FakePort()
    store, runner = open_runner(tmp_path, port)
    job, _ = store.submit(make_plan(2, 2))
    runner.run_job(job.id)  # succeeded here; a heartbeat in flight then finds it no longer running
    runner._current_task = "task(someone-elses-batch)"  # never interrupted by that late heartbeat
    runner._heartbeat(job.id)._news(None)
    assert port.interrupts == [] and "taken over" not in caplog.text
    other, _ = store.submit(make_plan(2, 2))
    store.claim(other.id, "w2")  # taken over: this WebUI's batch of it is stopped
    runner._heartbeat(other.id)._news(None)
    assert "taken over" in caplog.text
