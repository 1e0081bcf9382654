"""From a job to its events: the payload, only the events the webhook asked for, progress at a set pace, and
the fit with the jobs core's own `Job` and `Webhook`."""

from __future__ import annotations

from pathlib import Path

import pytest

from sd_prompt_templates.jobs import webhooks as wh
from tests.unit.test_jobs_webhooks_fakes import (
    NOW,
    OPEN,
    PUBLIC,
    SECRET,
    Clock,
    FakeJob,
    Hook,
    Posts,
    a_plan,
    database,
)


@pytest.fixture
def outbox(tmp_path: Path) -> wh.WebhookOutbox:
    return wh.WebhookOutbox(database(tmp_path / "jobs.sqlite3"))


# --- from a job to its events ---------------------------------------------------------------------------------------


def test_the_payload_of_a_job() -> None:
    job = FakeJob("j7", "failed", a_plan(3), images_done=2, error="out of memory", finished_at=NOW + 61.5)
    data = wh.job_payload(job)
    assert data == {
        "id": "j7",
        "status": "failed",
        "url": "/prompt-templates/v1/jobs/j7",
        "kind": "txt2img",
        "created_at": "2023-11-14T22:13:20.000Z",
        "finished_at": "2023-11-14T22:14:21.500Z",
        "template": "cats",
        "template_version": 4,
        "variables": {"color": "red"},
        "mode": "random",
        "prompts": ["a cat 0", "a cat 1", "a cat 2"],
        "negative_prompts": ["", "", ""],
        "prompts_listed": 3,
        "seeds": [100, 101, 102],
        "progress": {"images_done": 2, "images_total": 3, "fraction": 2 / 3},
        "error": "out of memory",
        "images": ["/prompt-templates/v1/jobs/j7/images/0", "/prompt-templates/v1/jobs/j7/images/1"],
    }
    big = wh.job_payload(FakeJob("j8", "succeeded", a_plan(200), images_done=200), url_prefix="/x/")
    assert len(big["prompts"]) == big["prompts_listed"] == wh.MAX_LISTED_PROMPTS and len(big["seeds"]) == 200
    assert big["images"][0] == "/x/jobs/j8/images/0" and len(wh.envelope("job.succeeded", big, NOW)) < 20_000


def test_an_enum_status_is_sent_as_its_value() -> None:
    import enum

    class Status(str, enum.Enum):
        SUCCEEDED = "succeeded"

    assert wh.job_payload(FakeJob("j", Status.SUCCEEDED, a_plan()))["status"] == "succeeded"  # type: ignore[arg-type]


def notifier_for(outbox: wh.WebhookOutbox, clock: Clock, settings: wh.WebhookSettings = OPEN) -> wh.WebhookNotifier:
    return wh.WebhookNotifier(outbox, settings=lambda: settings, clock=clock)


def test_only_the_events_asked_for_are_enqueued(outbox: wh.WebhookOutbox) -> None:
    notifier = notifier_for(outbox, Clock())
    default = FakeJob("a", "succeeded", a_plan(), webhook=Hook(f"http://{PUBLIC}/x"))
    assert notifier.notify(default, "job.succeeded") is not None
    assert notifier.notify(default, "job.progress") is None  # not among the default events
    only_failed = FakeJob("b", "succeeded", a_plan(), webhook=Hook(f"http://{PUBLIC}/x", events=("job.failed",)))
    assert notifier.notify_status(only_failed) is None
    assert notifier.notify(FakeJob("c", "succeeded", a_plan()), "job.succeeded") is None  # no webhook
    assert notifier.notify_status(FakeJob("d", "running", a_plan(), webhook=Hook(f"http://{PUBLIC}/x"))) is None
    assert notifier.notify(default, "job.started") is None  # the runner tells of it; no webhook can ask for it
    assert [d.event for d in outbox.for_job("a")] == ["job.succeeded"] and outbox.for_job("b") == []


def test_the_webhooks_own_secret_is_stored_with_the_delivery(outbox: wh.WebhookOutbox) -> None:
    own = wh.new_secret()
    notifier = notifier_for(outbox, Clock())
    job = FakeJob("a", "cancelled", a_plan(), webhook=Hook(f"http://{PUBLIC}/x", secret=own))
    delivery = notifier.notify_status(job)
    assert delivery is not None and delivery.event == "job.cancelled" and delivery.secret == own
    notifier(job, "job.cancelled")  # as the runner's listener
    assert [d.event for d in outbox.for_job("a")] == ["job.cancelled"] * 2


def test_progress_is_sent_at_most_every_n_seconds_per_job(outbox: wh.WebhookOutbox) -> None:
    clock = Clock()
    notifier = notifier_for(outbox, clock, wh.WebhookSettings(secret=SECRET, progress_every=10))
    hook = Hook(f"http://{PUBLIC}/x", events=("job.progress", "job.succeeded"))
    one, two = (FakeJob(i, "running", a_plan(), webhook=hook) for i in ("one", "two"))
    sent: list[bool] = []
    for step in (0, 4, 9.9, 10, 15, 20.5):
        clock.now = NOW + step
        sent.append(notifier.notify(one, "job.progress") is not None)
    assert sent == [True, False, False, True, False, True]
    assert notifier.notify(two, "job.progress") is not None  # each job its own pace
    assert notifier.notify(one, "job.succeeded") is not None
    assert [d.event for d in outbox.for_job("one")] == ["job.progress"] * 3 + ["job.succeeded"]


def test_enqueueing_wakes_the_sender(outbox: wh.WebhookOutbox) -> None:
    woken: list[bool] = []

    class Spy(wh.WebhookSender):
        def wake(self) -> None:
            woken.append(True)

    spy = Spy(outbox, settings=lambda: OPEN, post=Posts())
    notifier = wh.WebhookNotifier(outbox, settings=lambda: OPEN, sender=spy)
    notifier.notify(FakeJob("a", "succeeded", a_plan(), webhook=Hook(f"http://{PUBLIC}/x")), "job.succeeded")
    assert woken == [True]


def test_it_fits_the_job_model(outbox: wh.WebhookOutbox) -> None:
    """The jobs core's `Job` and `Webhook` are what the notifier reads, and both sides name the same events."""
    from sd_prompt_templates.jobs import model

    assert set(wh.EVENTS) == set(model.WEBHOOK_EVENTS) and set(wh.DEFAULT_EVENTS) == set(model.END_EVENTS)
    assert {status.value: event for status, event in model.END_EVENT_OF.items()} == wh.FINAL_EVENTS
    hook = model.Webhook(f"http://{PUBLIC}/x", events=("job.succeeded", "job.progress"))
    job = model.Job(
        id="f" * 32,
        seq=1,
        status=model.JobStatus.SUCCEEDED,
        plan=a_plan(2),
        created_at=NOW,
        updated_at=NOW,
        version=1,
        finished_at=NOW + 1,
        images_done=2,
        webhook=hook,
    )
    assert wh.check_webhook(hook, OPEN) is None
    data = wh.job_payload(job)
    assert data["status"] == "succeeded" and data["images"][-1] == f"/prompt-templates/v1/jobs/{job.id}/images/1"
    notifier = wh.WebhookNotifier(outbox, settings=lambda: OPEN)
    assert notifier.notify_status(job) is not None and notifier.notify(job, "job.progress") is not None
    assert notifier.notify(job, "job.failed") is None  # not asked for
