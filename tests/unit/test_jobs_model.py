"""A job's values: the state machine's moves, the webhook's checks (with field paths for a 422), progress and ETA."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from sd_prompt_templates.jobs import (
    END_EVENTS,
    FINISHED,
    Job,
    JobRequestError,
    JobStateError,
    JobStatus,
    Webhook,
    hash_request,
)
from sd_prompt_templates.jobs.model import TRANSITIONS, check_transition
from sd_prompt_templates.problems import PlanError
from tests.unit.test_jobs_fakes import make_plan

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def job(**changes: object) -> Job:
    base = Job(
        id="a" * 32,
        seq=1,
        status=JobStatus.RUNNING,
        plan=make_plan(8, 2),
        created_at=100.0,
        updated_at=100.0,
        version=1,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_state_machine_allows_exactly_the_documented_moves():
    allowed = {(a, b) for a in JobStatus for b in JobStatus if b in TRANSITIONS[a]}
    assert allowed == {
        (JobStatus.QUEUED, JobStatus.RUNNING),
        (JobStatus.QUEUED, JobStatus.CANCELLED),
        (JobStatus.RUNNING, JobStatus.QUEUED),
        (JobStatus.RUNNING, JobStatus.SUCCEEDED),
        (JobStatus.RUNNING, JobStatus.FAILED),
        (JobStatus.RUNNING, JobStatus.CANCELLED),
    }
    assert {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED} == FINISHED
    with pytest.raises(JobStateError, match="succeeded: it cannot become running"):
        check_transition("x", JobStatus.SUCCEEDED, JobStatus.RUNNING)
    assert JobStatus("queued") is JobStatus.QUEUED and JobStatus.QUEUED == "queued"


def test_a_webhook_defaults_to_the_end_events_and_keeps_each_event_once():
    assert Webhook("https://example.test/hook").events == END_EVENTS
    hook = Webhook("http://127.0.0.1:9000/x", SECRET, ("job.progress", "job.failed", "job.progress"))
    assert hook.events == ("job.progress", "job.failed")
    assert hook.wants("job.failed") and not hook.wants("job.succeeded")
    assert Webhook.from_dict(hook.to_dict()) == hook
    unpadded = "whsec_" + base64.b64encode(bytes(range(25))).decode().rstrip("=")
    assert Webhook("https://example.test/", unpadded).secret == unpadded  # as the sender takes it


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"url": "ftp://example.test/x"}, ["webhook.url"]),
        ({"url": "file:///etc/passwd"}, ["webhook.url"]),
        ({"url": "https:///nohost"}, ["webhook.url"]),
        ({"url": "https://example.test:99999/"}, ["webhook.url"]),
        ({"url": "https://exa mple.test/"}, ["webhook.url"]),
        ({"url": "https://example.test/" + "x" * 3000}, ["webhook.url"]),
        ({"url": 5}, ["webhook.url"]),
        ({}, ["webhook.url"]),
        (
            {"url": "https://example.test/", "events": ["job.done", "job.failed", "nope"]},
            ["webhook.events.0", "webhook.events.2"],
        ),
        ({"url": "https://example.test/", "events": []}, ["webhook.events"]),
        ({"url": "https://example.test/", "events": "job.failed"}, ["webhook.events"]),
        ({"url": "https://example.test/", "secret": "plain"}, ["webhook.secret"]),
        ({"url": "https://example.test/", "secret": "whsec_not base64!"}, ["webhook.secret"]),
        ({"url": "https://example.test/", "secret": 3}, ["webhook.secret"]),
        ({"url": "https://example.test/", "secret": "whsec_c2hvcnQ="}, ["webhook.secret"]),  # 5 bytes: too short
        ({"url": "https://example.test/", "colour": "red"}, ["webhook.colour"]),
    ],
)
def test_a_bad_webhook_is_refused_with_each_field_at_fault(data, fields):
    with pytest.raises(JobRequestError) as caught:
        Webhook.from_dict(data)
    assert [p.field for p in caught.value.problems] == fields
    assert isinstance(caught.value, PlanError)  # the API answers it as it answers a bad plan: 422
    assert caught.value.problems[0].as_dict()["loc"] == ["body", *fields[0].split(".")]


def test_a_webhook_made_directly_is_checked_too():
    with pytest.raises(JobRequestError, match="http or https"):
        Webhook("gopher://example.test/")
    with pytest.raises(JobRequestError):
        Webhook.from_dict("https://example.test/")  # type: ignore[arg-type]


def test_progress_and_eta_come_from_the_time_per_image_of_this_attempt():
    running = job(run_started_at=1000.0, run_images_start=2, images_done=2)
    assert running.images_total == 8
    assert running.progress == 0.25
    assert running.eta(1010.0) is None  # no image made by this attempt yet
    two_more = dataclasses.replace(running, images_done=4, last_image_at=1020.0)  # 10 s per image
    assert two_more.eta(1020.0) == 40.0
    assert two_more.eta(1025.0) == 35.0  # counts down between batches
    assert two_more.eta(2000.0) == 0.0
    assert job(status=JobStatus.QUEUED).eta(0) is None
    assert job(status=JobStatus.SUCCEEDED, images_done=8).eta(0) == 0.0
    assert job(status=JobStatus.SUCCEEDED, images_done=8).progress == 1.0
    assert job().eta_seconds is None


def test_the_summary_says_what_the_plan_makes():
    summary = job().summary()
    plan = make_plan(8, 2)
    assert (summary.template, summary.template_version, summary.variables, summary.mode) == (
        "portrait",
        3,
        {"place": "the park"},
        "random",
    )
    assert summary.prompts == plan.prompts and summary.seeds == plan.seeds and summary.kind == "txt2img"


def test_a_request_hash_ignores_key_order_but_not_values():
    assert hash_request({"a": 1, "b": [1, 2]}) == hash_request({"b": [1, 2], "a": 1})
    assert hash_request({"a": 1}) != hash_request({"a": 2})
