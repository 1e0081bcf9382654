"""The queue: huey's SqliteHuey (JSON messages only) and one worker thread that runs jobs one at a time, in order,
resumes them exactly after a restart, and stops and starts cleanly."""

from __future__ import annotations

import datetime
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from huey.registry import Message

from sd_prompt_templates.jobs import (
    IdempotencyConflict,
    JobLimits,
    JobStatus,
    hash_request,
)
from sd_prompt_templates.jobs.queue import THREAD_NAME, JobQueue, JsonSerializer
from sd_prompt_templates.jobs.settings import DAY, JobPaths
from sd_prompt_templates.plan import GenerationPlan
from tests.unit.test_jobs_fakes import WAIT, Events, FakePort, assert_images_exact, make_plan, open_jobs

Opener = Callable[..., tuple]


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opener]:
    """Opens store, runner and queue on tmp_path (as many times as a test restarts); stops every queue at the end."""
    queues: list[JobQueue] = []

    def open_(port: FakePort, events: Events | None = None, limits: JobLimits | None = None) -> tuple:
        store, runner, queue = open_jobs(tmp_path, port, events, limits)
        queues.append(queue)
        return store, runner, queue

    yield open_
    for queue in queues:
        queue.close()


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def first_prompt_is(tag: str, plan: GenerationPlan) -> bool:
    return plan.prompts[0].startswith(f"{tag} ")


def test_five_jobs_run_in_order_to_the_end_with_the_right_images(opened):
    events = Events()
    port = FakePort()
    store, _, queue = opened(port, events)
    queue.start()
    plans = [make_plan(4, 2, seed=100 * i, tag=f"job{i}") for i in range(5)]
    jobs = [queue.submit(plan)[0] for plan in plans]
    events.wait_for(jobs[-1].id, "job.succeeded")
    for job, plan in zip(jobs, plans, strict=True):
        assert store.get(job.id).status is JobStatus.SUCCEEDED
        assert_images_exact(store, job.id, plan)
    order = [call.prompts[0].split()[0] for call in port.calls]  # a job's batches go in one call or in several
    assert [tag for n, tag in enumerate(order) if n == 0 or order[n - 1] != tag] == [f"job{i}" for i in range(5)]
    assert [e for e in events.seen if e[1] in ("job.started", "job.succeeded")] == [
        (job.id, event) for job in jobs for event in ("job.started", "job.succeeded")
    ]


def test_cancel_one_queued_and_one_running_while_another_finishes_untouched(opened):
    events = Events()
    port = FakePort()
    port.fail = lambda number, plan: setattr(port, "hold", first_prompt_is("a", plan) and number == 1)
    store, _, queue = opened(port, events)
    a, _ = queue.submit(make_plan(6, 2, tag="a"))
    b, _ = queue.submit(make_plan(4, 2, tag="b"))
    c_plan = make_plan(4, 2, tag="c")
    c, _ = queue.submit(c_plan)
    queue.start()
    port.wait_entered()  # a's second batch is running
    assert queue.store.position(b) == 0 and queue.store.position(c) == 1
    assert queue.cancel(b.id).status is JobStatus.CANCELLED
    assert queue.cancel(a.id).cancel_requested
    events.wait_for(c.id, "job.succeeded")
    final_a = store.get(a.id)
    assert final_a.status is JobStatus.CANCELLED and final_a.images_done == 2
    assert [i.index for i in store.images(a.id)] == [0, 1]
    assert store.get(b.id).status is JobStatus.CANCELLED and store.images(b.id) == []
    assert not any(call.prompts[0].startswith("b ") for call in port.calls)
    assert_images_exact(store, c.id, c_plan)
    assert port.interrupts == [f"task(prompt-templates-job-{a.id}-2)"]


def test_a_stop_mid_job_and_a_new_queue_on_the_same_files_resume_exactly(opened):
    plan = make_plan(6, 2)
    port = FakePort()
    port.fail = lambda number, _: setattr(port, "hold", number == 1)
    store, _, queue = opened(port)
    job, _ = queue.submit(plan)
    queue.start()
    port.wait_entered()  # its second batch runs
    assert queue.stop(WAIT)
    back = store.get(job.id)
    assert back.status is JobStatus.QUEUED and back.images_done == 2 and back.attempts == 0
    assert not worker_threads()

    events = Events()
    port2 = FakePort()
    store2, _, queue2 = opened(port2, events)  # the WebUI started again
    queue2.start()
    events.wait_for(job.id, "job.succeeded")
    assert [c.seeds for c in port2.calls] == [plan.seeds[2:4], plan.seeds[4:6]]
    assert_images_exact(store2, job.id, plan)
    assert store2.get(job.id).attempts == 0


def test_a_job_left_running_by_a_dead_process_resumes_after_restart(opened):
    class Crash(BaseException):
        pass

    def crash_on_second_batch(number: int, _: GenerationPlan) -> None:
        if number == 1:
            raise Crash

    plan = make_plan(6, 2)
    store, runner, _ = opened(FakePort(fail=crash_on_second_batch))
    job, _ = store.submit(plan)  # stored, never given a huey message
    with pytest.raises(Crash):
        runner.run_job(job.id)
    assert store.get(job.id).status is JobStatus.RUNNING

    events = Events()
    port2 = FakePort()
    store2, _, queue2 = opened(port2, events)
    queue2.start()
    events.wait_for(job.id, "job.succeeded")
    assert [c.seeds for c in port2.calls] == [plan.seeds[2:4], plan.seeds[4:6]]
    assert_images_exact(store2, job.id, plan)
    assert store2.get(job.id).attempts == 0  # the resumed run made images: none in a row without one


def test_a_job_whose_port_always_raises_fails_after_max_attempts_then_the_next_runs(opened):
    def fail_bad(number: int, plan: GenerationPlan) -> None:
        if first_prompt_is("bad", plan):
            raise RuntimeError("the model file is missing")

    events = Events()
    port = FakePort(fail=fail_bad)
    store, _, queue = opened(port, events, JobLimits(max_attempts=3, poll_seconds=0.05))
    bad, _ = queue.submit(make_plan(2, 2, tag="bad"))
    good_plan = make_plan(2, 2, tag="good")
    good, _ = queue.submit(good_plan)
    queue.start()
    events.wait_for(good.id, "job.succeeded")
    failed = store.get(bad.id)
    assert failed.status is JobStatus.FAILED and failed.attempts == 3
    assert failed.error == "RuntimeError: the model file is missing"
    assert [c.prompts[0].split()[0] for c in port.calls] == ["bad", "bad", "bad", "good"]  # retried before the next
    assert_images_exact(store, good.id, good_plan)


def test_idempotency_through_the_queue_makes_one_job_and_one_message(opened):
    store, _, queue = opened(FakePort())
    plan = make_plan()
    first, created = queue.submit(plan, idempotency_key="abc", request_hash=hash_request({"n": 1}))
    again, created_again = queue.submit(plan, idempotency_key="abc", request_hash=hash_request({"n": 1}))
    assert created and not created_again and again.id == first.id
    with pytest.raises(IdempotencyConflict):
        queue.submit(plan, idempotency_key="abc", request_hash=hash_request({"n": 2}))
    assert queue.huey.pending_count() == 1
    assert len(store.list()[0]) == 1


def test_huey_stores_only_json(opened, tmp_path):
    _, _, queue = opened(FakePort())
    jobs = [queue.submit(make_plan(2, 2))[0] for _ in range(2)]
    with sqlite3.connect(JobPaths(tmp_path).queue) as conn:
        blobs = [bytes(row[0]) for row in conn.execute("SELECT data FROM task ORDER BY id")]
        assert [row[0] for row in conn.execute("SELECT count(*) FROM kv")] == [0]  # no results kept
    conn.close()
    messages = [json.loads(blob.decode("utf-8")) for blob in blobs]
    assert [m["__huey_message__"]["args"] for m in messages] == [{"__tuple__": [job.id]} for job in jobs]
    assert [m["__huey_message__"]["name"] for m in messages] == ["sd_prompt_templates.jobs.queue.run_job"] * 2
    assert [task.args for task in queue.huey.pending()] == [(job.id,) for job in jobs]
    assert queue.huey.storage.conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL: see QueueStorage


def test_the_json_serializer_round_trips_huey_messages_and_refuses_anything_else():
    serializer = JsonSerializer()
    callback = Message("id-2", "x.callback", None, 0, 0, None, ("a",), {}, None, None, None, None, None, None, None)
    message = Message(
        "id-1",
        "x.task",
        datetime.datetime(2025, 1, 2, 3, 4, 5, 678),
        2,
        1.5,
        -7,
        ("job", 3, [1, 2], None),
        {"k": {"n": (1, 2)}},
        callback,
        None,
        datetime.timedelta(seconds=90),
        datetime.datetime(2025, 1, 2, tzinfo=datetime.timezone.utc),
        None,
        ("cid", 2, 0, callback),
        None,
    )
    data = serializer.serialize(message)
    assert isinstance(data, bytes) and data.startswith(b"{")
    assert serializer.deserialize(data) == message
    assert serializer.deserialize(serializer.serialize(Message("only-id"))) == Message("only-id")
    with pytest.raises(TypeError, match="never pickled"):
        serializer.serialize(Message("x", "y", args=(object(),)))
    with pytest.raises(TypeError, match="text keys"):
        serializer.serialize({1: "a"})


def test_stop_and_start_twice_and_start_after_stop_works(opened):
    events = Events()
    store, _, queue = opened(FakePort(), events)
    assert queue.stop() is True  # never started
    queue.start()
    queue.start()
    assert len(worker_threads()) == 1 and queue.running
    assert queue.stop(WAIT) and queue.stop(WAIT)
    assert not worker_threads() and not queue.running
    job, _ = queue.submit(make_plan(2, 2))  # accepted while stopped: it waits
    assert store.get(job.id).status is JobStatus.QUEUED
    queue.start()  # a script reload
    events.wait_for(job.id, "job.succeeded")
    assert queue.stop(WAIT)
    queue.start()
    assert len(worker_threads()) == 1
    assert queue.stop(WAIT)


def test_a_submit_wakes_the_worker_and_a_job_queued_by_another_process_is_found(opened):
    events = Events()
    slow_poll = JobLimits(poll_seconds=60.0)  # only a wake-up can start these jobs within the test's wait
    store, _, queue = opened(FakePort(), events, slow_poll)
    queue.start()
    job, _ = queue.submit(make_plan(2, 2))
    events.wait_for(job.id, "job.succeeded")
    queue.stop(WAIT)

    store, _, queue = opened(FakePort(), events, JobLimits(poll_seconds=0.05))
    queue.start()
    _, _, other_process = opened(FakePort())  # another WebUI process on the same files, its worker not started
    elsewhere, _ = other_process.submit(make_plan(2, 2))
    lost, _ = store.submit(make_plan(2, 2))  # stored, its message never written
    events.wait_for(elsewhere.id, "job.succeeded")
    events.wait_for(lost.id, "job.succeeded")


def test_jobs_run_in_their_order_whatever_the_order_of_their_messages(opened):
    port = FakePort()
    events = Events()
    store, _, queue = opened(port, events)
    jobs = [store.submit(make_plan(2, 2, tag=f"j{i}"))[0] for i in range(3)]
    for job in reversed(jobs):
        queue._enqueue(job.id, job.seq)
    queue.start()
    events.wait_for(jobs[0].id, "job.succeeded")
    events.wait_for(jobs[1].id, "job.succeeded")
    events.wait_for(jobs[2].id, "job.succeeded")
    assert [c.prompts[0].split()[0] for c in port.calls] == ["j0", "j1", "j2"]


def test_rerun_makes_a_new_job_from_the_same_stored_plan(opened):
    events = Events()
    port = FakePort()
    store, _, queue = opened(port, events)
    plan = make_plan(4, 2)
    job, _ = queue.submit(plan, webhook=None)
    queue.start()
    events.wait_for(job.id, "job.succeeded")
    again = queue.rerun(job.id)
    assert again.id != job.id and again.plan == store.get(job.id).plan
    events.wait_for(again.id, "job.succeeded")
    assert_images_exact(store, again.id, plan)
    assert seeds_of(port) == plan.seeds * 2


def seeds_of(port: FakePort) -> list[int]:
    return [s for call in port.calls for s in call.seeds]


def test_finished_jobs_are_pruned_at_start_and_after_each_job(opened):
    events = Events()
    store, runner, _ = opened(FakePort(), events)
    old, _ = store.submit(make_plan(2, 2))
    runner.run_job(old.id)
    with store.database.write() as conn:  # as if it had finished ten days ago
        conn.exec_driver_sql("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time() - 10 * DAY, old.id))
    limits = JobLimits(retention_days=1, poll_seconds=0.05)
    queue = JobQueue(store, runner, JobPaths(store.path.parent).queue, limits=lambda: limits)
    try:
        new, _ = queue.submit(make_plan(2, 2))
        queue.start()
        events.wait_for(new.id, "job.succeeded")
        assert queue.stop(WAIT)
        assert [j.id for j in store.list()[0]] == [new.id]  # it finished just now: kept
        assert not (store.files_dir / old.id).exists()
    finally:
        queue.close()


def test_without_huey_the_service_works_and_says_why_jobs_are_off(tmp_path, monkeypatch):
    import importlib
    import sys

    from sd_prompt_templates.service import JobsUnavailable, PromptService
    from sd_prompt_templates.settings import Settings

    monkeypatch.setitem(sys.modules, "huey", None)  # `import huey` fails, as without the package
    monkeypatch.delitem(sys.modules, "sd_prompt_templates.jobs.queue", raising=False)
    monkeypatch.delitem(sys.modules, "sd_prompt_templates.jobs.system", raising=False)
    for name in [m for m in sys.modules if m.startswith(("sd_prompt_templates.api", "sd_prompt_templates.ui"))]:
        monkeypatch.delitem(sys.modules, name)
    importlib.import_module("sd_prompt_templates.api.main")  # the REST API loads: the WebUI loads the extension
    importlib.import_module("sd_prompt_templates.ui.layout")  # and the tab
    service = PromptService(lambda: Settings(library_path=tmp_path / "templates.sqlite3"))
    assert service.plan({"prompt": "a {b|c}", "mode": "combinatorial"}, {"prompt", "mode"}).prompts == ["a b", "a c"]
    with pytest.raises(JobsUnavailable, match="jobs need the huey package"):
        service.jobs()
