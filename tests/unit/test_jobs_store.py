"""The job store: one transaction per change, every check inside it; images recorded in order, files before rows;
cancel, requeue after a crash, delete and retention; queries on indexes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from sd_prompt_templates.jobs import (
    IdempotencyConflict,
    JobLimits,
    JobNotFound,
    JobRequestError,
    JobStateError,
    JobStatus,
    JobStore,
    Webhook,
    hash_request,
)
from sd_prompt_templates.jobs.images import png_text
from sd_prompt_templates.jobs.settings import DAY, JobPaths
from sd_prompt_templates.jobs.store import ImageToSave
from sd_prompt_templates.jobs.tables import JOBS, WEBHOOK_DELIVERIES
from tests.unit.test_jobs_fakes import make_plan, tiny_png


@pytest.fixture
def sqlite_store(tmp_path: Path) -> JobStore:
    """Where a test reads SQLite's own catalogue."""
    paths = JobPaths(tmp_path)
    return JobStore(paths.database, paths.files)


@pytest.fixture
def store(tmp_path: Path, database_target) -> JobStore:
    """The jobs on each database they can live in: a SQLite file, a PostgreSQL database (the `postgres` runs)."""
    return JobStore(database_target, JobPaths(tmp_path).files)


def running_job(store: JobStore, images: int = 4, batch_size: int = 2) -> str:
    job, _ = store.submit(make_plan(images, batch_size))
    assert store.claim(job.id, "w1", 10.0) is not None
    return job.id


def record(store: JobStore, job_id: str, index: int, now: float = 20.0) -> None:
    store.record_image(
        job_id, index, tiny_png({"i": str(index)}), f"p{index}", f"n{index}", index, f"info {index}", now
    )


def test_a_submitted_job_is_queued_with_its_plan_and_webhook(store):
    plan = make_plan(6, 2)
    hook = Webhook("https://example.test/hook")
    job, created = store.submit(plan, webhook=hook, now=5.0)
    assert created and job.status is JobStatus.QUEUED and job.plan == plan and job.webhook == hook
    assert len(job.id) == 32 and job.seq == 1 and job.version == 1
    assert (job.created_at, job.updated_at, job.started_at, job.finished_at) == (5.0, 5.0, None, None)
    assert (job.images_done, job.images_total, job.attempts, job.error) == (0, 6, 0, None)
    assert store.get(job.id) == job
    with pytest.raises(JobNotFound):
        store.get("f" * 32)
    with store.database.write() as conn:  # accepted under older, looser rules: still readable
        old = '{"url": "https://x/", "secret": "old", "events": ["job.failed"]}'
        conn.execute(JOBS.update().where(JOBS.c.id == job.id).values(webhook_json=old))
    assert store.get(job.id).webhook == Webhook.restored(
        {"url": "https://x/", "secret": "old", "events": ["job.failed"]}
    )
    assert store.get(job.id).webhook.secret == "old"  # type: ignore[union-attr]


def test_idempotency_same_request_same_job_other_request_conflict(store):
    plan = make_plan()
    first, created = store.submit(plan, idempotency_key="k1", request_hash=hash_request({"a": 1}))
    again, created_again = store.submit(plan, idempotency_key="k1", request_hash=hash_request({"a": 1}))
    assert created and not created_again and again == first
    with pytest.raises(IdempotencyConflict) as caught:
        store.submit(plan, idempotency_key="k1", request_hash=hash_request({"a": 2}))
    assert caught.value.job_id == first.id
    # without a request hash the plan stands for the request
    one, _ = store.submit(plan, idempotency_key="k2")
    assert store.submit(plan, idempotency_key="k2") == (one, False)
    with pytest.raises(IdempotencyConflict):
        store.submit(make_plan(seed=5), idempotency_key="k2")


def test_two_submits_racing_with_one_key_make_one_job(tmp_path):
    paths = JobPaths(tmp_path)
    stores = [JobStore(paths.database, paths.files) for _ in range(4)]
    results: list[tuple[str, bool]] = []
    barrier = threading.Barrier(len(stores))

    def submit(s: JobStore) -> None:
        barrier.wait()
        job, created = s.submit(make_plan(), idempotency_key="same", request_hash="h")
        results.append((job.id, created))

    threads = [threading.Thread(target=submit, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]


def test_caps_refuse_with_the_reason(store):
    limits = JobLimits(max_queued_jobs=2, max_images_per_job=4)
    with pytest.raises(JobRequestError) as caught:
        store.submit(make_plan(6, 2), limits=limits)
    assert [p.field for p in caught.value.problems] == ["count"]
    assert "6 images" in str(caught.value) and "4" in str(caught.value)
    store.submit(make_plan(4, 2), limits=limits)
    store.submit(make_plan(4, 2), limits=limits)
    with pytest.raises(JobRequestError, match="the queue is full: 2 jobs are waiting"):
        store.submit(make_plan(4, 2), limits=limits)
    # a running job does not count as waiting
    store.claim(store.queued_ids()[0], "w", 1.0)
    store.submit(make_plan(4, 2), limits=limits)


def test_list_is_newest_first_paged_by_an_opaque_cursor(store):
    ids = [store.submit(make_plan(2, 2), now=float(i))[0].id for i in range(7)]
    store.request_cancel(ids[1])
    page, cursor = store.list(limit=3)
    assert [j.id for j in page] == ids[6:3:-1] and cursor is not None
    page2, cursor2 = store.list(limit=3, cursor=cursor)
    page3, cursor3 = store.list(limit=3, cursor=cursor2)
    assert [j.id for j in page2 + page3] == ids[3::-1] and cursor3 is None
    queued, _ = store.list(status=JobStatus.QUEUED, limit=50)
    assert [j.id for j in queued] == [i for i in reversed(ids) if i != ids[1]]
    cancelled, _ = store.list(status=JobStatus("cancelled"))
    assert [j.id for j in cancelled] == [ids[1]]
    for bad in ("x", "-1", "1" * 40):
        with pytest.raises(JobRequestError, match="cursor"):
            store.list(cursor=bad)
    with pytest.raises(JobRequestError, match="limit"):
        store.list(limit=0)


def test_position_counts_the_queued_jobs_ahead(store):
    a, b, c = (store.submit(make_plan(2, 2))[0] for _ in range(3))
    assert [store.position(j) for j in (a, b, c)] == [0, 1, 2] == [j.position for j in (a, b, c)]  # as submitted
    store.claim(a.id, "w", 1.0)
    assert [store.position(j) for j in (a, b, c)] == [None, 0, 1]
    assert store.get(c.id) == c and store.get(c.id).position is None  # only a submit reads it; not in the value
    store.request_cancel(b.id)
    assert store.position(c) == 0
    assert store.queued_ids() == [c.id]
    d, _ = store.submit(make_plan(2, 2), idempotency_key="k")
    again, created = store.submit(make_plan(2, 2), idempotency_key="k")  # the job the key made, where it is now
    assert not created and again == d and (d.position, again.position) == (1, 1)
    store.claim(c.id, "w", 2.0)
    assert store.submit(make_plan(2, 2), idempotency_key="k")[0].position == 0
    store.claim(d.id, "w", 3.0)
    assert store.submit(make_plan(2, 2), idempotency_key="k")[0].position is None


def test_claim_is_atomic_and_counts_attempts(tmp_path):
    paths = JobPaths(tmp_path)
    store = JobStore(paths.database, paths.files)
    job, _ = store.submit(make_plan())
    won: list[object] = []
    barrier = threading.Barrier(4)

    def claim(name: str) -> None:
        barrier.wait()
        won.append(JobStore(paths.database, paths.files).claim(job.id, name, 7.0))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [j for j in won if j is not None]
    assert len(claimed) == 1
    running = store.get(job.id)
    assert running.status is JobStatus.RUNNING and running.attempts == 1 and running.started_at == 7.0
    assert running.version == job.version + 1
    cancelled, _ = store.submit(make_plan())
    store.request_cancel(cancelled.id)
    assert store.claim(cancelled.id, "w", 8.0) is None
    assert store.claim("0" * 32, "w", 8.0) is None


def test_images_are_recorded_in_order_once_each_file_before_row(store):
    job_id = running_job(store)
    record(store, job_id, 0, now=21.0)
    with pytest.raises(JobStateError, match="the next is 1, not 0"):
        record(store, job_id, 0)
    with pytest.raises(JobStateError, match="the next is 1, not 2"):
        record(store, job_id, 2)
    record(store, job_id, 1, now=22.0)
    job = store.get(job_id)
    assert job.images_done == 2 and job.last_image_at == 22.0
    images = store.images(job_id)
    assert [(i.index, i.prompt, i.negative_prompt, i.seed, i.infotext) for i in images] == [
        (0, "p0", "n0", 0, "info 0"),
        (1, "p1", "n1", 1, "info 1"),
    ]
    path = store.image_path(job_id, 1)
    assert path == store.files_dir / job_id / "00001.png" and images[1].path == f"{job_id}/00001.png"
    assert png_text(path.read_bytes()) == {"i": "1"}
    assert job.images_bytes == sum(i.size for i in images) == store.total_image_bytes()
    assert not list(path.parent.glob("*.tmp"))
    with pytest.raises(JobNotFound):
        store.image_path(job_id, 2)
    with pytest.raises(JobNotFound):
        store.images("0" * 32)


def test_a_refused_image_never_overwrites_a_recorded_one(store):
    job_id = running_job(store)
    record(store, job_id, 0)
    before = store.image_path(job_id, 0).read_bytes()
    with pytest.raises(JobStateError):
        store.record_image(job_id, 0, b"other bytes", "x", "y", 1, "z")
    assert store.image_path(job_id, 0).read_bytes() == before


def test_only_a_running_job_takes_images_and_succeeds_only_with_all_of_them(store):
    queued, _ = store.submit(make_plan(2, 2))
    with pytest.raises(JobStateError, match="takes no image"):
        record(store, queued.id, 0)
    with pytest.raises(JobStateError, match="cannot become succeeded"):
        store.finish(queued.id, JobStatus.SUCCEEDED)
    job_id = running_job(store, images=2)
    record(store, job_id, 0)
    with pytest.raises(JobStateError, match="1 of its 2 images"):
        store.finish(job_id, JobStatus.SUCCEEDED)
    record(store, job_id, 1)
    done = store.finish(job_id, JobStatus.SUCCEEDED, now=30.0)
    assert done.status is JobStatus.SUCCEEDED and done.finished_at == 30.0 and done.progress == 1.0
    with pytest.raises(JobStateError, match="succeeded: it cannot become failed"):
        store.finish(job_id, JobStatus.FAILED, "late")
    with pytest.raises(JobStateError, match="not an end"):
        store.finish(job_id, JobStatus.QUEUED)
    with pytest.raises(JobStateError):
        store.set_task(job_id, "task(x)")


def test_cancel_queued_at_once_running_flagged_finished_unchanged(store):
    queued, _ = store.submit(make_plan())
    cancelled = store.request_cancel(queued.id, now=3.0)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at == 3.0
    job_id = running_job(store)
    flagged = store.request_cancel(job_id)
    assert flagged.status is JobStatus.RUNNING and flagged.cancel_requested
    assert store.request_cancel(job_id).version == flagged.version  # asked twice: no change
    store.finish(job_id, JobStatus.CANCELLED)
    finished = store.get(job_id)
    assert store.request_cancel(job_id) == finished


def test_requeue_gives_the_job_back_and_a_clean_stop_does_not_count(store):
    job_id = running_job(store)
    store.set_task(job_id, "task(a)")
    back = store.requeue(job_id, "RuntimeError: boom")
    assert back.status is JobStatus.QUEUED and back.error == "RuntimeError: boom" and back.task_id is None
    assert back.attempts == 1
    store.claim(job_id, "w", 1.0)
    assert store.requeue(job_id, None, count_attempt=False).attempts == 1
    store.claim(job_id, "w", 2.0)
    store.request_cancel(job_id)
    cancelled = store.requeue(job_id, "late error", now=3.0)  # the cancel asked for meanwhile wins
    assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at == 3.0


def test_jobs_left_running_by_a_dead_process_are_requeued_or_failed(tmp_path):
    paths = JobPaths(tmp_path)
    store = JobStore(paths.database, paths.files)
    limits = JobLimits(max_attempts=2)
    fresh = running_job(store)
    tired = running_job(store)
    store.requeue(tired, "x")
    store.claim(tired, "w1", 1.0)  # its second start
    wanted_cancel = running_job(store)
    store.request_cancel(wanted_cancel)
    elsewhere, _ = store.submit(make_plan())
    store.claim(elsewhere.id, "other-webui", 1.0)
    here = running_job(store)
    # a new process opens the same files
    reopened = JobStore(paths.database, paths.files)
    changed = reopened.requeue_interrupted("w1", limits=limits, exclude={here}, now=50.0)
    assert [j.id for j in changed] == [fresh, tired, wanted_cancel]
    assert reopened.get(fresh).status is JobStatus.QUEUED
    assert "the WebUI stopped while running this job" in (reopened.get(fresh).error or "")
    failed = reopened.get(tired)
    assert failed.status is JobStatus.FAILED and failed.finished_at == 50.0
    assert "2 times out of 2 allowed" in (failed.error or "")
    assert reopened.get(wanted_cancel).status is JobStatus.CANCELLED
    assert reopened.get(elsewhere.id).status is JobStatus.RUNNING  # another worker's
    assert reopened.get(here).status is JobStatus.RUNNING  # running in this very process
    assert [j.id for j in reopened.requeue_interrupted(limits=limits)] == [elsewhere.id, here]


def test_delete_only_a_finished_job_rows_then_files_and_its_key_is_free_again(store):
    job_id = running_job(store, images=2)
    record(store, job_id, 0)
    with pytest.raises(JobStateError, match="cancel it before deleting it"):
        store.delete(job_id)
    store.finish(job_id, JobStatus.FAILED, "x")
    folder = store.files_dir / job_id
    assert folder.is_dir()
    store.delete(job_id)
    assert not folder.exists()
    with pytest.raises(JobNotFound):
        store.get(job_id)
    job, _ = store.submit(make_plan(), idempotency_key="key")
    store.request_cancel(job.id)
    store.delete(job.id)
    assert store.submit(make_plan(seed=9), idempotency_key="key")[1]


def finished_job(store: JobStore, finished_at: float, images: int = 2) -> str:
    job_id = running_job(store, images=images, batch_size=images)
    for i in range(images):
        record(store, job_id, i)
    store.finish(job_id, JobStatus.SUCCEEDED, now=finished_at)
    return job_id


def test_prune_by_age_then_oldest_first_by_bytes_keeping_pending_deliveries(store):
    now = 100 * DAY
    old = finished_job(store, now - 31 * DAY)
    mid = finished_job(store, now - 10 * DAY)
    new = finished_job(store, now - 1 * DAY)
    waiting, _ = store.submit(make_plan())
    with store.database.write() as conn:
        for status in ("pending", "sent"):
            delivery = dict(id=f"d-{status}", job_id=old, event="job.succeeded", url="https://example.test/")
            conn.execute(
                WEBHOOK_DELIVERIES.insert().values(
                    **delivery, body="{}", next_attempt_at=0, status=status, created_at=0
                )
            )
    assert store.prune(now, JobLimits(retention_days=30)) == [old]
    assert not (store.files_dir / old).exists()
    with store.database.read() as conn:
        assert list(conn.scalars(sa.select(WEBHOOK_DELIVERIES.c.id))) == ["d-pending"]
    per_job = store.get(new).images_bytes
    assert store.prune(now, JobLimits(retention_bytes=per_job)) == [mid]
    assert store.prune(now, JobLimits(retention_bytes=0)) == [new]
    assert store.get(waiting.id).status is JobStatus.QUEUED
    assert store.total_image_bytes() == 0


def test_orphan_image_folders_are_removed(store):
    job_id = finished_job(store, 1.0)
    orphan = store.files_dir / ("e" * 32)
    orphan.mkdir()
    (orphan / "00000.png").write_bytes(b"x")
    assert store.remove_orphan_files() == ["e" * 32]
    assert not orphan.exists() and (store.files_dir / job_id).exists()


def test_the_schema_has_the_webhook_deliveries_table_the_sender_expects(sqlite_store):
    store = sqlite_store
    with store.database.read() as conn:
        columns = [
            (r["name"], r["type"], r["notnull"], r["dflt_value"], r["pk"])
            for r in conn.exec_driver_sql("PRAGMA table_info(webhook_deliveries)").mappings()
        ]
        indexes = {
            r["name"]: [c["name"] for c in conn.exec_driver_sql(f"PRAGMA index_info({r['name']})").mappings()]
            for r in conn.exec_driver_sql("PRAGMA index_list(webhook_deliveries)").mappings()
        }
    assert columns == [
        ("id", "TEXT", 1, None, 1),
        ("job_id", "TEXT", 1, None, 0),
        ("event", "TEXT", 1, None, 0),
        ("url", "TEXT", 1, None, 0),
        ("secret", "TEXT", 0, None, 0),
        ("body", "TEXT", 1, None, 0),
        ("attempts", "INTEGER", 1, "0", 0),
        ("next_attempt_at", "FLOAT", 1, None, 0),
        ("status", "TEXT", 1, "'pending'", 0),
        ("last_error", "TEXT", 0, None, 0),
        ("created_at", "FLOAT", 1, None, 0),
        ("sent_at", "FLOAT", 0, None, 0),
        ("seq", "BIGINT", 0, None, 0),
    ]
    assert ["status", "next_attempt_at"] in indexes.values()
    assert store.database.schema_version() == 2
    assert store.database.path.name == "jobs.sqlite3"


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        ("SELECT * FROM jobs WHERE id = ?", ("x",), "sqlite_autoindex_jobs_1"),
        ("SELECT * FROM jobs WHERE idempotency_key = ?", ("k",), "sqlite_autoindex_jobs_2"),
        ("SELECT count(*) FROM jobs WHERE status = ?", ("queued",), "jobs_status_seq"),
        ("SELECT count(*) FROM jobs WHERE status = ? AND seq < ?", ("queued", 5), "jobs_status_seq"),
        ("SELECT id, seq FROM jobs WHERE status = ? ORDER BY seq", ("queued",), "jobs_status_seq"),
        (
            "SELECT * FROM jobs WHERE seq < ? AND status = ? ORDER BY seq DESC LIMIT ?",
            (9, "queued", 51),
            "jobs_status_seq",
        ),
        ("SELECT * FROM jobs WHERE seq < ? ORDER BY seq DESC LIMIT ?", (9, 51), "INTEGER PRIMARY KEY"),
        ("SELECT * FROM job_images WHERE job_id = ? ORDER BY idx", ("x",), "sqlite_autoindex_job_images_1"),
        (
            "SELECT id, finished_at, images_bytes FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at",
            (),
            "jobs_finished_at",
        ),
        (
            "SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?",
            (1.0,),
            "webhook_deliveries_due",
        ),
    ],
)
def test_the_queries_use_indexes(sqlite_store, sql, params, index):
    store = sqlite_store
    with store.database.read() as conn:
        plan = " | ".join(row["detail"] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).mappings())
    assert index in plan, plan
    assert "SCAN jobs" not in plan.replace("SCAN jobs USING", "") and "TEMP B-TREE" not in plan, plan


def test_a_newer_schema_is_refused(tmp_path):
    paths = JobPaths(tmp_path)
    JobStore(paths.database, paths.files)
    with sqlite3.connect(paths.database) as conn:
        conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'jobs'")
    conn.close()
    from sd_prompt_templates.db import SchemaTooNew

    with pytest.raises(SchemaTooNew):
        JobStore(paths.database, paths.files)


def test_only_starts_in_a_row_that_make_no_image_count_toward_max_attempts(tmp_path):
    """A long job whose WebUI is restarted (or killed) now and then goes on as long as each start makes an image;
    a job that kills the WebUI before its first new image stops after max_attempts starts."""
    paths = JobPaths(tmp_path)
    limits = JobLimits(max_attempts=2)
    store = JobStore(paths.database, paths.files)
    job_id = running_job(store, images=6, batch_size=1)
    for index in range(5):  # five deaths, each after one new image
        record(store, job_id, index)
        store = JobStore(paths.database, paths.files)  # the next process
        (requeued,) = store.requeue_interrupted(limits=limits)
        assert requeued.status is JobStatus.QUEUED, requeued.error
        assert store.claim(job_id, "w1") is not None
    (requeued,) = JobStore(paths.database, paths.files).requeue_interrupted(limits=limits)
    assert requeued.status is JobStatus.QUEUED  # its first start without a new image
    assert store.claim(job_id, "w1") is not None
    (failed,) = JobStore(paths.database, paths.files).requeue_interrupted(limits=limits)
    assert failed.status is JobStatus.FAILED and failed.images_done == 5
    assert "2 times out of 2 allowed" in (failed.error or "")


def test_images_whose_files_a_power_cut_lost_are_made_again(tmp_path):
    paths = JobPaths(tmp_path)
    store = JobStore(paths.database, paths.files)
    job_id = running_job(store, images=4, batch_size=1)
    for index in range(3):
        record(store, job_id, index)
    (paths.files / job_id / "00001.png").write_bytes(b"")  # recorded, but its data never reached the disk
    (requeued,) = JobStore(paths.database, paths.files).requeue_interrupted()
    assert requeued.status is JobStatus.QUEUED and requeued.images_done == 1
    assert [image.index for image in store.images(job_id)] == [0]
    assert requeued.images_bytes == store.images(job_id)[0].size


def test_waiting_for_a_change_wakes_at_the_commit_and_gives_up_at_the_timeout(store):
    import threading

    job, _ = store.submit(make_plan())
    assert store.wait_for_change(job.id, job.version, 0.05).version == job.version  # nothing happened: as it is
    threading.Timer(0.05, store.claim, args=(job.id, "w1")).start()
    changed = store.wait_for_change(job.id, job.version, 30.0)  # woken by the claim, long before the timeout
    assert changed.status is JobStatus.RUNNING and changed.version > job.version


def test_a_claim_names_its_first_batchs_task_and_a_record_the_next_one_or_ends_the_job(store):
    job, _ = store.submit(make_plan(4, 2))
    claimed = store.claim(job.id, "w1", 10.0, task=lambda start: f"task-{start}")
    assert claimed is not None and claimed.task_id == "task-0" == store.get(job.id).task_id
    png = tiny_png({"i": "0"})
    two = [ImageToSave(png, f"p{i}", f"n{i}", i, "") for i in range(2)]
    after = store.record_images(job.id, 0, two, 20.0, worker="w1", next_task="task-2", finish=False)
    assert (after.status, after.task_id, after.images_done) == (JobStatus.RUNNING, "task-2", 2)
    store.requeue(job.id, "a failed batch", worker="w1")  # then resumed: the claim names the task of image 2 on
    again = store.claim(job.id, "w1", 30.0, task=lambda start: f"task-{start}")
    assert again is not None and again.task_id == "task-2" and again.error == "a failed batch"
    done = store.record_images(job.id, 2, two, 40.0, worker="w1", finish=True)
    assert (done.status, done.finished_at, done.error, done.images_done) == (JobStatus.SUCCEEDED, 40.0, None, 4)


def test_a_record_that_is_not_the_last_does_not_end_the_job(store):
    job_id = running_job(store, images=4)
    image = ImageToSave(tiny_png({"i": "0"}), "p", "n", 0, "")
    assert store.record_images(job_id, 0, [image], 20.0, finish=True).status is JobStatus.RUNNING
