"""Several WebUIs on one PostgreSQL database, for real: three worker processes (tests/shared/worker.py, a fake
generator that sleeps per image) share the jobs, the images and huey's queue; the test process submits, cancels and
reads through stores of its own, and kills workers (SIGKILL) or stalls them (SIGSTOP). The library's optimistic
concurrency is checked the same way, from three editor processes (tests/shared/editor.py), on SQLite and PostgreSQL.

Waits are guards only: the tests poll the database for the state they expect, and a guard is never reached when all
is well.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from sd_prompt_templates.db import STALLED_WRITE_SECONDS
from sd_prompt_templates.jobs import JobStatus, JobStore, task_id_for
from sd_prompt_templates.jobs.model import FINISHED, Job
from sd_prompt_templates.jobs.queue import JobQueue
from sd_prompt_templates.jobs.tables import JOB_IMAGE_DATA, JOB_IMAGES, JOBS
from sd_prompt_templates.library.store import TemplateStore
from sd_prompt_templates.plan import GenerationPlan
from tests.shared.editor import counter_of
from tests.shared.processes import Child, Workers, wait_until
from tests.shared.worker import READY, TAKEOVER_SECONDS
from tests.unit.test_jobs_fakes import assert_images_exact, make_plan

TAKEOVER_MARGIN = 8.0  # a loaded 2-core machine: the silence is noticed at the next look (every heartbeat period)
THREE = ("w1", "w2", "w3")


# -- helpers --------------------------------------------------------------------------------------------------------


def finished(store: JobStore, job_id: str) -> Job | None:
    job = store.get(job_id)
    return job if job.finished else None


def count_finished(store: JobStore) -> int:
    done = [status.value for status in FINISHED]
    with store.database.read() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(JOBS).where(JOBS.c.status.in_(done))) or 0)


def image_rows(store: JobStore, job_id: str) -> list[tuple[int, str, int]]:
    """The job's image rows (idx, prompt, seed) and, checked alongside, that each has its bytes in the database."""
    query = sa.select(JOB_IMAGES.c.idx, JOB_IMAGES.c.prompt, JOB_IMAGES.c.seed).where(JOB_IMAGES.c.job_id == job_id)
    data = sa.select(sa.func.count()).select_from(JOB_IMAGE_DATA).where(JOB_IMAGE_DATA.c.job_id == job_id)
    with store.database.read() as conn:
        rows = [(int(r.idx), str(r.prompt), int(r.seed)) for r in conn.execute(query.order_by(JOB_IMAGES.c.idx))]
        assert conn.scalar(data) == len(rows), "every image row has its PNG in job_image_data"
    return rows


def planned_rows(plan: GenerationPlan) -> list[tuple[int, str, int]]:
    return [(i, plan.prompts[i], plan.seeds[i]) for i in range(plan.images)]


def with_checkpoint(plan: GenerationPlan, checkpoint: str) -> GenerationPlan:
    return replace(plan, payload={**plan.payload, "override_settings": {"sd_model_checkpoint": checkpoint}})


# -- the tests ------------------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_three_workers_run_300_jobs_each_image_made_once(
    workers: Workers, store: JobStore, submitter: JobQueue, pg_url: str, tmp_path: Path
) -> None:
    # a takeover is not what this test is about: a worker starved of CPU for 2 s must not be taken for dead here
    # and fast batches go to the generator several at a time, as in a WebUI (`pacing`): still each image once
    workers.start(THREE, seconds_per_image=0.01, takeover_seconds=30, call_seconds=1.0)
    plans: dict[str, GenerationPlan] = {}
    for i in range(300):
        images, batch_size = ((3, 1), (4, 2), (5, 1), (4, 1))[i % 4]
        plan = make_plan(images, batch_size, seed=1_000_000 + 10 * i, tag=f"job{i}")
        job, created = submitter.submit(plan)
        assert created
        plans[job.id] = plan

    wait_until("300 jobs to finish", lambda: count_finished(store) == len(plans), timeout=300, every=0.5)

    fresh = JobStore(pg_url, tmp_path / "fresh" / "jobs")  # a WebUI that made none of them and reads them now
    try:
        runners: Counter[str] = Counter()
        for job_id, plan in plans.items():
            job = fresh.get(job_id)
            assert (job.status, job.error) == (JobStatus.SUCCEEDED, None), job
            assert job.images_done == plan.images and job.plan == plan
            assert image_rows(fresh, job_id) == planned_rows(plan)
            assert_images_exact(fresh, job_id, plan)  # the PNGs, from the database, into this process's folder
            assert job.worker is not None
            runners[job.worker] += 1
    finally:
        fresh.close()
    assert set(runners) == set(THREE), f"every worker took part: {runners}"

    made = workers.images_made()
    expected = {(job_id, i, plan.seeds[i]) for job_id, plan in plans.items() for i in range(plan.images)}
    assert set(made) == expected, "the workers made exactly the planned images, none lost"
    assert [key for key, times in made.items() if times != 1] == [], "no image made twice"
    assert workers.errors() == []


@pytest.mark.postgres
def test_a_killed_workers_job_is_taken_over_and_finished_elsewhere(
    workers: Workers, store: JobStore, submitter: JobQueue
) -> None:
    workers.start(THREE, seconds_per_image=0.3)
    plan = make_plan(10, 2, seed=5000, tag="killed")
    job, _ = submitter.submit(plan)

    def mid_batch() -> Job | None:  # a batch under way, after at least one was saved
        now = store.get(job.id)
        started = now.status is JobStatus.RUNNING and now.images_done >= 2
        return now if started and now.task_id == task_id_for(job.id, now.images_done) else None

    victim = wait_until("the job to be running its second batch", mid_batch, timeout=30).worker
    assert victim in THREE
    workers.kill(victim)  # SIGKILL, reaped: what it committed is all it will ever commit
    killed_at = time.monotonic()
    at_kill = store.get(job.id)
    assert at_kill.status is JobStatus.RUNNING and at_kill.worker == victim

    def elsewhere() -> Job | None:
        now = store.get(job.id)
        return now if now.worker not in (None, victim) else None

    taken = wait_until("another worker to take the job over", elsewhere, timeout=TAKEOVER_SECONDS + 30)
    took = time.monotonic() - killed_at
    assert took <= TAKEOVER_SECONDS + TAKEOVER_MARGIN, f"taken over after {took:.1f} s"
    assert taken.worker in set(THREE) - {victim}

    done = wait_until("the job to finish", lambda: finished(store, job.id), timeout=60)
    assert (done.status, done.error, done.images_done) == (JobStatus.SUCCEEDED, None, 10), done
    assert done.worker == taken.worker
    assert image_rows(store, job.id) == planned_rows(plan), "each image recorded once, all 10"
    assert_images_exact(store, job.id, plan)

    made = workers.images_made()
    per_index = Counter(idx for (job_id, idx, _seed) in made.elements() if job_id == job.id)
    assert set(per_index) == set(range(10))
    killed_batch = set(range(at_kill.images_done, at_kill.images_done + plan.batch_size))
    remade = {idx for idx, times in per_index.items() if times > 1}
    assert remade <= killed_batch, f"only the killed batch {sorted(killed_batch)} may be made again: {per_index}"
    assert max(per_index.values()) <= 2
    assert workers.errors() == []


@pytest.mark.postgres
@pytest.mark.parametrize("inside_a_write", [False, True], ids=["between-writes", "inside-a-write"])
def test_a_stalled_worker_whose_job_was_taken_over_lets_it_go_when_it_wakes(
    workers: Workers, store: JobStore, submitter: JobQueue, inside_a_write: bool
) -> None:
    # inside a write, it holds the write lock every WebUI needs: the server ends its transaction after
    # STALLED_WRITE_SECONDS, and only then can the others record anything, or take its job over
    workers.start(THREE, seconds_per_image=0.3)
    plan = make_plan(10, 2, seed=6000, tag="stalled")
    job, _ = submitter.submit(plan)
    running = wait_until(
        "the job's second batch",
        lambda: (now := store.get(job.id)).task_id == task_id_for(job.id, 2) and now,
        timeout=30,
        every=0.02,
    )
    stalled = running.worker
    assert stalled in THREE and running.images_done == 2
    if inside_a_write:
        workers.pause_inside_a_write(stalled)
    else:
        workers.pause(stalled)  # mid-batch, its heartbeat stopped with it
    try:
        taken = wait_until(
            "another worker to take the job over",
            lambda: (now := store.get(job.id)).worker not in (None, stalled) and now,
            timeout=STALLED_WRITE_SECONDS + TAKEOVER_SECONDS + 30,
        )
    except AssertionError as exc:
        now = store.get(job.id)
        job_state = f"{now.status.value} on {now.worker}, {now.images_done} images, heartbeat at {now.heartbeat_at}"
        raise AssertionError(f"{exc}; the job: {job_state}, now {time.time()}\n{workers.report()}") from None
    finally:
        workers.resume(stalled)  # it wakes up thinking it still runs the job
    done = wait_until("the job to finish", lambda: finished(store, job.id), timeout=60)
    assert (done.status, done.error, done.images_done, done.worker) == (JobStatus.SUCCEEDED, None, 10, taken.worker)
    assert image_rows(store, job.id) == planned_rows(plan)
    assert_images_exact(store, job.id, plan)
    # the new worker made the images from the stalled one's last record on (images 2 to 9, or 4 to 9 if it stalled
    # in the record of images 2 and 3 as it committed) and recorded them (the store takes only the next image, from
    # the job's worker): the stalled one recorded nothing after it woke, though it may have finished its batch
    new_worker_made = [int(line.split()[1]) for line in workers.log(taken.worker) if line.startswith(job.id)]
    recorded = new_worker_made[0] if new_worker_made else -1
    assert recorded in (2, 4) and new_worker_made == list(range(recorded, 10))
    stalled_made = [int(line.split()[1]) for line in workers.log(stalled) if line.startswith(job.id)]
    assert stalled_made[:recorded] == list(range(recorded)) and set(stalled_made[recorded:]) <= {recorded, recorded + 1}
    assert workers.children[stalled].process.poll() is None, "the stalled worker lives on"


@pytest.mark.postgres
def test_a_cancel_from_another_process_interrupts_the_running_batch(
    workers: Workers, store: JobStore, submitter: JobQueue
) -> None:
    workers.start(THREE, seconds_per_image=1.0)
    plan = make_plan(10, 2, seed=7000, tag="cancelled")
    job, _ = submitter.submit(plan)
    second_batch = task_id_for(job.id, 2)

    def second_batch_started() -> Job | None:
        now = store.get(job.id)
        return now if now.task_id == second_batch else None

    # the batch of images 2-3 has just begun (2 s long): the cancel lands in it, not between two batches
    running = wait_until("the job's second batch to start", second_batch_started, timeout=30, every=0.02)
    runner = running.worker
    assert runner in THREE and running.images_done == 2
    asked = store.request_cancel(job.id)  # flagged only: this process runs nothing
    assert asked.status is JobStatus.RUNNING and asked.cancel_requested

    done = wait_until("the job to end", lambda: finished(store, job.id), timeout=30)
    assert (done.status, done.error, done.worker) == (JobStatus.CANCELLED, None, runner), done
    assert done.images_done == 2, "the interrupted batch is discarded, the images before it kept"
    assert image_rows(store, job.id) == planned_rows(plan)[:2]
    assert_images_exact(store, job.id, plan.part(0, 2))
    interrupts = [line for line in workers.events(runner) if line.startswith(f"interrupted {second_batch} ")]
    assert interrupts, f"{runner}'s heartbeat saw the cancel and interrupted its run: {workers.events(runner)}"
    assert workers.errors() == []


@pytest.mark.postgres
def test_a_job_no_worker_can_run_waits_then_runs_on_one_that_can(
    workers: Workers, store: JobStore, submitter: JobQueue
) -> None:
    lacking = "big-model.safetensors"
    workers.start(("w1", "w2"), cannot_run_checkpoint=[lacking], elsewhere_seconds=0.3)
    plan = with_checkpoint(make_plan(4, 2, seed=9000, tag="big"), lacking)
    job, _ = submitter.submit(plan)
    ordinary, _ = submitter.submit(make_plan(2, 2, seed=9100, tag="ordinary"))

    reasons: set[str] = set()

    def both_said_why() -> bool:
        now = store.get(job.id)
        assert now.status is JobStatus.QUEUED and now.images_done == 0, now
        if now.waiting_reason:
            reasons.add(now.waiting_reason)
        return {f"{name} cannot run it: it has no checkpoint {lacking}" for name in ("w1", "w2")} <= reasons

    wait_until("w1 and w2 to leave the job, saying why", both_said_why, timeout=60)
    assert reasons <= {f"{name} cannot run it: it has no checkpoint {lacking}" for name in ("w1", "w2")}
    other = wait_until("the ordinary job to finish", lambda: finished(store, ordinary.id), timeout=30)
    assert other.status is JobStatus.SUCCEEDED and other.worker in ("w1", "w2"), "they still run what they can"
    assert store.get(job.id).status is JobStatus.QUEUED

    workers.start(["w3"], elsewhere_seconds=0.3)  # has every checkpoint
    done = wait_until("w3 to run the job", lambda: finished(store, job.id), timeout=60)
    assert (done.status, done.worker, done.waiting_reason) == (JobStatus.SUCCEEDED, "w3", None), done
    assert_images_exact(store, job.id, plan)
    makers = {name for name in THREE if any(line.startswith(job.id) for line in workers.log(name))}
    assert makers == {"w3"}
    assert workers.errors() == []


EDITS_PER_PROCESS = 40


def test_a_template_edited_from_three_processes_loses_no_update(database_target: str | Path, tmp_path: Path) -> None:
    target = str(database_target)
    library = TemplateStore(target)
    library.create({"name": "shared", "prompt": "a {red|blue} cat", "description": "counter=0"})
    editors: list[Child] = []
    try:
        for who in ("e1", "e2", "e3"):
            args = ["-m", "tests.shared.editor", "--target", target, "--template", "shared"]
            args += ["--updates", str(EDITS_PER_PROCESS), "--who", who]
            editors.append(Child.spawn(who, args, tmp_path / f"{who}.out", stdin=True))
        for editor in editors:
            editor.wait_for_line(READY)
        for editor in editors:  # all at once
            editor.send("go\n")
        results = []
        for editor in editors:
            assert editor.wait(120) == 0, editor.text()
            results.append(json.loads(editor.text().splitlines()[-1]))
    finally:
        for editor in editors:
            editor.kill()

    total = 3 * EDITS_PER_PROCESS
    final = library.get("shared")
    assert counter_of(final.description) == total, final.description
    assert final.version == 1 + total
    written = [value for result in results for value in result["written"]]
    assert sorted(written) == list(range(1, total + 1)), "each value written once: no update read a stale counter"
    # the processes really did race (else this proves little); on a 2-core machine they always do
    assert sum(result["retries"] for result in results) > 0, results
    library.database.dispose()
